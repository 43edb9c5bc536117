//! Personnel location (contract §1 `personnel`): a fixed crew per shift, going down at shift start
//! and coming up after it ends.
//!
//! Crews are sized from area quotas so that two crews overlapping at a handover still fit each
//! quota, and so that the total stays well under `max_underground` (or within `suspended_crew` for
//! a suspended mine). Nobody is ever placed in a sealed, restricted or undeclared area, nor at a
//! face or heading without a camera ("no video, no work"). Each shift's leader goes down 10 minutes
//! before the crew and comes up 25 minutes after the shift, so whenever anyone is underground a
//! leader is too. The schedule is a pure function of time and seed: restarting the simulator
//! mid-shift shows the same people in the same places.

use crate::clock::{MIN_MS, ShiftPlan, push_ts};
use crate::json::push_str_field;
use crate::rng::{hash, hash_str, unit};
use minewatch_core::MineDef;
use minewatch_core::registry::{AreaKind, MineStatus};
use std::sync::Arc;

/// A leader goes down this long before the shift starts.
const LEADER_EARLY_MS: i64 = 10 * MIN_MS;
/// A leader comes up this long after the shift ends, after the last worker.
const LEADER_LATE_MS: i64 = 25 * MIN_MS;
/// Workers go down within this long after the shift starts.
const STAGGER_IN_MS: i64 = 15 * MIN_MS;
/// Workers come up within this long after the shift ends.
const STAGGER_OUT_MS: i64 = 20 * MIN_MS;

/// One miner's tag.
#[derive(Debug, Clone)]
struct Tag {
    id: String,
    person: String,
    leader: bool,
    area: Arc<str>,
    /// The shift of the day this person works.
    slot: i64,
    seed: u64,
    /// The last `down_at` printed, so a trip's timestamp is formatted once.
    down_text: (i64, String),
}

/// The crews of a mine and their schedule.
#[derive(Debug, Clone)]
pub(crate) struct Crew {
    tags: Vec<Tag>,
    plan: ShiftPlan,
    offset_secs: i32,
    /// A tag that came up is still reported (underground=false) for this long.
    report_out_ms: i64,
}

/// Whether people may work in area `a` of `def` at all.
fn workable(def: &MineDef, a: usize) -> bool {
    let area = &def.areas[a];
    let has_camera = || def.cameras.iter().any(|c| c.area as usize == a);
    area.declared
        && match area.kind {
            AreaKind::Sealed | AreaKind::Restricted | AreaKind::Wellhead | AreaKind::Surface => {
                false
            }
            AreaKind::CoalFace | AreaKind::Heading => has_camera(),
            _ => true,
        }
}

/// Whether area `a` of `def` is a face or heading that is really worked (for power and explosives).
pub(crate) fn worked_face(def: &MineDef, a: usize) -> bool {
    matches!(def.areas[a].kind, AreaKind::CoalFace | AreaKind::Heading) && workable(def, a)
}

/// People per area for one shift: `production` crews, or maintenance crews.
fn allocation(def: &MineDef, production: bool) -> Vec<u32> {
    let mut crew: Vec<u32> = (0..def.areas.len())
        .map(|a| {
            if !workable(def, a) {
                return 0;
            }
            let area = &def.areas[a];
            let face = matches!(area.kind, AreaKind::CoalFace | AreaKind::Heading);
            let c = match area.quota {
                // Two crews overlap at a handover: each gets under half the quota.
                Some(q) => ((f64::from(q) * if face { 0.45 } else { 0.3 }) as u32).min(q / 2),
                None => 2,
            };
            if face && !production {
                (c * 3).div_ceil(5)
            } else {
                c
            }
        })
        .collect();
    let cap = match def.status {
        MineStatus::Producing | MineStatus::Construction => def.max_underground * 2 / 5,
        MineStatus::Suspended => def.suspended_crew / 2,
        MineStatus::Closed => 0,
    };
    // Trim the largest crews first until the shift fits the cap.
    while crew.iter().sum::<u32>() > cap {
        let Some(big) = (0..crew.len()).max_by_key(|&a| (crew[a], std::cmp::Reverse(a))) else {
            break;
        };
        crew[big] -= 1;
    }
    crew
}

impl Crew {
    /// The crews of `def` under `plan`, printed at `offset_secs`; out tags are reported for
    /// `report_out_ms` after they come up.
    pub(crate) fn new(
        def: &MineDef,
        plan: ShiftPlan,
        offset_secs: i32,
        report_out_ms: i64,
        seed: u64,
    ) -> Crew {
        let mut tags = Vec::new();
        for slot in 0..plan.per_day {
            let crew = allocation(def, plan.is_production(slot));
            // The leader belongs to the biggest face crew, or the biggest crew at all.
            let leader_area = (0..crew.len())
                .filter(|&a| crew[a] > 0)
                .max_by_key(|&a| (worked_face(def, a), crew[a], std::cmp::Reverse(a)));
            for (a, &n) in crew.iter().enumerate() {
                for k in 0..n {
                    let number = 1001 + tags.len();
                    let id = format!("T{number}");
                    tags.push(Tag {
                        seed: hash(seed, &[hash_str(&id)]),
                        person: format!("P{number}"),
                        leader: Some(a) == leader_area && k == 0,
                        area: def.areas[a].id.clone(),
                        slot,
                        id,
                        down_text: (i64::MIN, String::new()),
                    });
                }
            }
        }
        Crew {
            tags,
            plan,
            offset_secs,
            report_out_ms,
        }
    }

    /// The trip of `tag` for the shift of local day `day`: (down, up).
    fn trip(&self, tag: &Tag, day: i64) -> (i64, i64) {
        let start = self.plan.start(day, tag.slot);
        let end = start + self.plan.shift_ms;
        if tag.leader {
            (start - LEADER_EARLY_MS, end + LEADER_LATE_MS)
        } else {
            let d = day as u64;
            let stagger = |k: u64, span: i64| {
                (unit(hash(tag.seed, &[d, k])) * (span / 1000) as f64) as i64 * 1000
            };
            (
                start + stagger(1, STAGGER_IN_MS),
                end + stagger(2, STAGGER_OUT_MS),
            )
        }
    }

    /// Appends this tick's tag elements (no brackets): everyone underground at `t`, and those who
    /// came up in the last `report_out_ms`. Returns how many were written.
    pub(crate) fn push_tags(&mut self, t: i64, out: &mut String) -> usize {
        let today = self.plan.at(t).day;
        let mut n = 0;
        for i in 0..self.tags.len() {
            let mut state = None;
            for day in [today - 1, today, today + 1] {
                let (down, up) = self.trip(&self.tags[i], day);
                if down <= t && t < up {
                    state = Some((true, down));
                } else if up <= t && t < up + self.report_out_ms {
                    state = Some((false, down));
                }
            }
            let Some((underground, down)) = state else {
                continue;
            };
            let offset = self.offset_secs;
            let tag = &mut self.tags[i];
            if tag.down_text.0 != down {
                tag.down_text.1.clear();
                push_ts(&mut tag.down_text.1, down, offset);
                tag.down_text.0 = down;
            }
            if n > 0 {
                out.push(',');
            }
            n += 1;
            out.push('{');
            push_str_field(out, "tag", &tag.id);
            out.push(',');
            push_str_field(out, "person", &tag.person);
            out.push_str(if tag.leader {
                ",\"leader\":true,"
            } else {
                ",\"leader\":false,"
            });
            if underground {
                push_str_field(out, "area", &tag.area);
                out.push_str(",\"underground\":true,");
            } else {
                out.push_str("\"underground\":false,");
            }
            push_str_field(out, "down_at", &tag.down_text.1);
            out.push_str(",\"distress\":false}");
        }
        n
    }
}
