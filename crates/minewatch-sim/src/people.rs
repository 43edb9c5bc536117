//! Personnel location (contract §1 `personnel`): a fixed crew per shift, going down at shift start
//! and coming up after it ends.
//!
//! Crews are sized from area quotas so that two crews overlapping at a handover still fit each
//! quota, and so that the total stays well under `max_underground` (or within `suspended_crew` for
//! a suspended mine). Nobody is ever placed in a sealed, restricted or undeclared area, nor at a
//! face or heading without a camera ("no video, no work"). Each shift's leader goes down 10 minutes
//! before the crew and comes up 25 minutes after the shift, so whenever anyone is underground a
//! leader is too. The schedule is a pure function of time, seed and the mine's mode timeline:
//! restarting the simulator mid-shift shows the same people in the same places.
//!
//! There is a production crew set and a maintenance (suspended) crew set; the mode timeline
//! ([`Modes`]) says which works. At a switch the outgoing workers come up as at a shift end, their
//! leader last; the incoming leader goes down at the switch and the incoming workers once the
//! outgoing ones are up, so crews never overlap beyond a normal handover and a leader is always down.
//!
//! Anomalies act on top: a tag's trip extended (`Extend`), leaders up for a while (`LeadersUp`), a
//! tag moved to another area (`Move`), extra people going down (`Crowd`), a boolean tag field set
//! (`Flag`); and the planners of the anomaly kinds change this tick's tags through [`Tags`]. Which boolean fields every tag carries (false
//! in clean data) the planners say (`anomaly::tag_flags`).

use crate::clock::{DAY_MS, MIN_MS, ShiftPlan, push_ts};
use crate::effect::Effect;
use crate::json::push_str_field;
use crate::modes::{Mode, Modes};
use crate::rng::{hash, hash_str, unit};
use minewatch_core::MineDef;
use minewatch_core::registry::AreaKind;
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
    /// Home area (index).
    area: u32,
    /// Which crew set: [`Mode::Producing`] or [`Mode::Suspended`].
    mode: Mode,
    /// The shift of the day this person works.
    slot: i64,
    seed: u64,
    /// The last `down_at` printed, so a trip's timestamp is formatted once.
    down_text: (i64, String),
}

/// Where a tag is at one tick.
#[derive(Debug, Clone)]
struct Seen {
    underground: bool,
    area: Arc<str>,
    down: i64,
    /// The tag flags set, bit `k` for the crew's `flags[k]`.
    flags: u32,
}

/// The pieces of one trip, after mode switches and anomalies (at most a few).
#[derive(Debug, Clone, Copy, Default)]
struct Pieces {
    v: [(i64, i64); 4],
    n: usize,
}

impl Pieces {
    /// Appends `[from, to)` if not empty, merging with the last piece when they touch.
    fn push(&mut self, from: i64, to: i64) {
        if from >= to {
            return;
        }
        if self.n > 0 && from <= self.v[self.n - 1].1 {
            let last = &mut self.v[self.n - 1];
            last.1 = last.1.max(to);
        } else if self.n < self.v.len() {
            self.v[self.n] = (from, to);
            self.n += 1;
        }
    }

    fn as_slice(&self) -> &[(i64, i64)] {
        &self.v[..self.n]
    }
}

/// The crews of a mine and their schedule.
#[derive(Debug, Clone)]
pub(crate) struct Crew {
    tags: Vec<Tag>,
    plan: ShiftPlan,
    offset_secs: i32,
    /// A tag that came up is still reported (underground=false) for this long.
    report_out_ms: i64,
    /// Workable areas without a quota, where extra people (`Crowd`) go first.
    open_areas: Vec<u32>,
    /// Workable areas with a quota, filled up to it when there is no open area.
    quota_areas: Vec<u32>,
    /// This tick's tags (reused buffer).
    now: Vec<Option<Seen>>,
    /// Extra tags of a `Crowd` written so far, and when that crowd ends.
    crowd_peak: u32,
    crowd_end: i64,
    /// The boolean fields every tag carries, in order.
    flags: Vec<&'static str>,
}

/// Whether people may work in area `a` of `def` at all.
pub(crate) fn workable(def: &MineDef, a: usize) -> bool {
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

/// People per area for one shift of crew set `mode`: `production` crews, or maintenance crews.
fn allocation(def: &MineDef, production: bool, mode: Mode) -> Vec<u32> {
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
    let cap = match mode {
        Mode::Producing => def.max_underground * 2 / 5,
        Mode::Suspended => def.suspended_crew / 2,
        Mode::Closed => 0,
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
    /// The crews of `def` under `plan` (built with production shifts), printed at `offset_secs`;
    /// out tags are reported for `report_out_ms` after they come up, each with the boolean fields
    /// `flags` (at most 32).
    pub(crate) fn new(
        def: &MineDef,
        plan: ShiftPlan,
        offset_secs: i32,
        report_out_ms: i64,
        seed: u64,
        flags: Vec<&'static str>,
    ) -> Crew {
        let mut tags = Vec::new();
        for mode in [Mode::Producing, Mode::Suspended] {
            for slot in 0..plan.per_day {
                let crew = allocation(
                    def,
                    mode == Mode::Producing && plan.is_production(slot),
                    mode,
                );
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
                            area: a as u32,
                            mode,
                            slot,
                            id,
                            down_text: (i64::MIN, String::new()),
                        });
                    }
                }
            }
        }
        let workable_areas = (0..def.areas.len()).filter(|&a| workable(def, a));
        let (open, quota): (Vec<usize>, Vec<usize>) =
            workable_areas.partition(|&a| def.areas[a].quota.is_none());
        Crew {
            now: Vec::with_capacity(tags.len()),
            tags,
            plan,
            offset_secs,
            report_out_ms,
            open_areas: open.into_iter().map(|a| a as u32).collect(),
            quota_areas: quota.into_iter().map(|a| a as u32).collect(),
            crowd_peak: 0,
            crowd_end: i64::MIN,
            flags,
        }
    }

    /// How many tags there are (both crew sets).
    pub(crate) fn len(&self) -> usize {
        self.tags.len()
    }

    /// The id of tag `i`.
    pub(crate) fn id(&self, i: usize) -> &str {
        &self.tags[i].id
    }

    /// The tag with id `id`.
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.tags.iter().position(|t| t.id == id)
    }

    /// Whether tag `i` is a shift leader's.
    pub(crate) fn is_leader(&self, i: usize) -> bool {
        self.tags[i].leader
    }

    /// The home area of tag `i`.
    pub(crate) fn home(&self, i: usize) -> u32 {
        self.tags[i].area
    }

    /// Workable areas without a quota.
    pub(crate) fn open_areas(&self) -> &[u32] {
        &self.open_areas
    }

    /// The nominal trip of `tag` for the shift of local day `day`: (down, up).
    fn trip(&self, tag: &Tag, day: i64) -> (i64, i64) {
        let start = self.plan.start(day, tag.slot);
        let end = start + self.plan.shift_ms;
        if tag.leader {
            (start - LEADER_EARLY_MS, end + LEADER_LATE_MS)
        } else {
            (
                start + stagger(tag, day, 1, STAGGER_IN_MS),
                end + stagger(tag, day, 2, STAGGER_OUT_MS),
            )
        }
    }

    /// How long after a switch `tag` goes down (switch into its mode) or comes up (out of it).
    fn delays(tag: &Tag, day: i64) -> (i64, i64) {
        if tag.leader {
            (0, LEADER_LATE_MS)
        } else {
            (
                STAGGER_OUT_MS + stagger(tag, day, 3, STAGGER_IN_MS),
                stagger(tag, day, 4, STAGGER_OUT_MS),
            )
        }
    }

    /// The trip of tag `i` for the shift of `day`, cut by mode switches and changed by anomalies.
    fn pieces(&self, i: usize, day: i64, modes: &Modes, effects: &[Effect]) -> Pieces {
        let tag = &self.tags[i];
        let mut p = Pieces::default();
        if modes.is_static() && modes.base() != tag.mode {
            return p;
        }
        if !modes.is_static() {
            // A crew set whose mode is not in force within a day of this shift works no piece of it.
            let from = self.plan.start(day, tag.slot) - DAY_MS;
            let to = from + 3 * DAY_MS;
            if !modes
                .periods(tag.mode)
                .iter()
                .any(|&(a, b)| a < to && b > from)
            {
                return p;
            }
        }
        let (down, up) = self.trip(tag, day);
        if modes.is_static() {
            p.push(down, up);
        } else {
            let (din, dout) = Crew::delays(tag, day);
            for &(a, b) in modes.periods(tag.mode) {
                let lo = if a == i64::MIN { a } else { a + din };
                let hi = if b == i64::MAX { b } else { b + dout };
                p.push(down.max(lo), up.min(hi));
            }
        }
        if p.n == 0 {
            return p;
        }
        for e in effects {
            match *e {
                Effect::Extend {
                    tag: k,
                    down: d,
                    until,
                } if k == i => {
                    for piece in &mut p.v[..p.n] {
                        if piece.0 == d {
                            piece.1 = piece.1.max(until);
                        }
                    }
                }
                Effect::LeadersUp { start, end } if tag.leader => {
                    let old = p;
                    p = Pieces::default();
                    for &(d, u) in old.as_slice() {
                        p.push(d, u.min(start));
                        p.push(d.max(end), u);
                    }
                }
                _ => {}
            }
        }
        p
    }

    /// Tag `i` at `t` before moves: `(underground, down_at)`, or `None` when not reported (neither
    /// down nor recently come up).
    pub(crate) fn state(
        &self,
        i: usize,
        t: i64,
        modes: &Modes,
        effects: &[Effect],
    ) -> Option<(bool, i64)> {
        let today = self.plan.at(t).day;
        let mut down_now = None;
        let mut out: Option<(i64, i64)> = None;
        // Without an extension, a trip lies within its shift and the handovers around it.
        let extended = effects
            .iter()
            .any(|e| matches!(e, Effect::Extend { tag, .. } if *tag == i));
        let slot = self.tags[i].slot;
        let late = LEADER_LATE_MS.max(STAGGER_OUT_MS) + self.report_out_ms;
        for day in [today - 1, today, today + 1] {
            let start = self.plan.start(day, slot);
            if !extended && (t < start - LEADER_EARLY_MS || t >= start + self.plan.shift_ms + late)
            {
                continue;
            }
            for &(d, u) in self.pieces(i, day, modes, effects).as_slice() {
                if d <= t && t < u {
                    down_now = Some(d);
                } else if u <= t && t < u + self.report_out_ms && out.is_none_or(|o| u > o.0) {
                    out = Some((u, d));
                }
            }
        }
        match (down_now, out) {
            (Some(d), _) => Some((true, d)),
            (None, Some((_, d))) => Some((false, d)),
            (None, None) => None,
        }
    }

    /// People underground at `t` by home area (moves, gatherings and crowds not counted), and how
    /// many of them are leaders.
    pub(crate) fn census(
        &self,
        t: i64,
        modes: &Modes,
        effects: &[Effect],
        areas: usize,
    ) -> (Vec<u32>, u32) {
        let mut per_area = vec![0u32; areas];
        let mut leaders = 0;
        for i in 0..self.tags.len() {
            if let Some((true, _)) = self.state(i, t, modes, effects) {
                per_area[self.tags[i].area as usize] += 1;
                leaders += u32::from(self.tags[i].leader);
            }
        }
        (per_area, leaders)
    }

    /// Works out this tick's tags: everyone underground at `t`, and those who came up in the last
    /// `report_out_ms`, with the moves and flags of `effects`. The planners may change them
    /// through [`Crew::tags`] before [`Crew::push_tags`] writes them.
    pub(crate) fn observe(&mut self, def: &MineDef, t: i64, modes: &Modes, effects: &[Effect]) {
        let mut now = std::mem::take(&mut self.now);
        now.clear();
        for i in 0..self.tags.len() {
            now.push(
                self.state(i, t, modes, effects)
                    .map(|(underground, down)| Seen {
                        underground,
                        area: def.areas[self.tags[i].area as usize].id.clone(),
                        down,
                        flags: 0,
                    }),
            );
        }
        if !effects.is_empty() {
            self.displace(t, effects, &mut now);
        }
        self.now = now;
    }

    /// This tick's tags as [`Crew::observe`] left them, for the planners to change.
    pub(crate) fn tags<'a>(&'a mut self, def: &'a MineDef) -> Tags<'a> {
        Tags { crew: self, def }
    }

    /// Appends this tick's tag elements (no brackets) and the extra people of `effects`. Returns
    /// how many were written.
    pub(crate) fn push_tags(
        &mut self,
        def: &MineDef,
        t: i64,
        effects: &[Effect],
        out: &mut String,
    ) -> usize {
        let now = std::mem::take(&mut self.now);
        let mut n = 0;
        for (i, seen) in now.iter().enumerate() {
            let Some(s) = seen else { continue };
            let offset = self.offset_secs;
            let tag = &mut self.tags[i];
            if tag.down_text.0 != s.down {
                tag.down_text.1.clear();
                push_ts(&mut tag.down_text.1, s.down, offset);
                tag.down_text.0 = s.down;
            }
            if n > 0 {
                out.push(',');
            }
            n += 1;
            write_tag(
                out,
                &tag.id,
                &tag.person,
                tag.leader,
                s.underground.then_some(&*s.area),
                &tag.down_text.1,
                &self.flags,
                s.flags,
            );
        }
        n += self.push_crowd(def, t, effects, &now, n, out);
        self.now = now;
        n
    }

    /// Applies moves and tag flags to this tick's tags.
    fn displace(&self, t: i64, effects: &[Effect], now: &mut [Option<Seen>]) {
        for e in effects {
            match e {
                Effect::Move { tag, area, .. } if e.active(t) => {
                    if let Some(s) = &mut now[*tag]
                        && s.underground
                    {
                        s.area = area.clone();
                    }
                }
                Effect::Flag { tag, field, .. } if e.active(t) => {
                    let bit = self.flags.iter().position(|f| f == field);
                    if let (Some(s), Some(bit)) = (&mut now[*tag], bit)
                        && s.underground
                    {
                        s.flags |= 1 << bit;
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes the extra people of an active `Crowd` (and reports them out once it ends).
    fn push_crowd(
        &mut self,
        def: &MineDef,
        t: i64,
        effects: &[Effect],
        now: &[Option<Seen>],
        written: usize,
        out: &mut String,
    ) -> usize {
        let mut extra = 0u32;
        let mut start = None;
        for e in effects {
            if let Effect::Crowd {
                total,
                start: s,
                end,
            } = *e
                && s <= t
                && t < end
            {
                let under = now.iter().flatten().filter(|s| s.underground).count() as u32;
                extra = extra.max(total.saturating_sub(under));
                start = Some(s);
                self.crowd_end = self.crowd_end.max(end);
            }
        }
        if start.is_none() && t >= self.crowd_end.saturating_add(self.report_out_ms) {
            self.crowd_peak = 0;
        }
        self.crowd_peak = self.crowd_peak.max(extra);
        if self.crowd_peak == 0 {
            return 0;
        }
        // Where the extra people are: open areas in turn, else the room left under quotas.
        let mut room: Vec<(u32, u32)> = Vec::new();
        if self.open_areas.is_empty() {
            let mut count = vec![0u32; def.areas.len()];
            for s in now.iter().flatten().filter(|s| s.underground) {
                if let Some(a) = def.area(&s.area) {
                    count[a as usize] += 1;
                }
            }
            for &a in &self.quota_areas {
                let q = def.areas[a as usize].quota.unwrap_or(0);
                room.push((a, q.saturating_sub(count[a as usize])));
            }
        }
        let down = start.unwrap_or(self.crowd_end);
        let mut down_text = String::new();
        push_ts(&mut down_text, down, self.offset_secs);
        let mut n = 0;
        for k in 0..self.crowd_peak {
            let area = if k >= extra {
                None
            } else if !self.open_areas.is_empty() {
                Some(self.open_areas[k as usize % self.open_areas.len()])
            } else {
                let slot = room.iter_mut().find(|r| r.1 > 0);
                Some(match slot {
                    Some(r) => {
                        r.1 -= 1;
                        r.0
                    }
                    None => self.quota_areas.first().copied().unwrap_or(0),
                })
            };
            if written + n > 0 {
                out.push(',');
            }
            n += 1;
            let number = k + 1;
            write_tag(
                out,
                &format!("TX{number:04}"),
                &format!("PX{number:04}"),
                false,
                area.map(|a| &*def.areas[a as usize].id),
                &down_text,
                &self.flags,
                0,
            );
        }
        n
    }
}

/// This tick's tags as a planner may change them (`Planner::shape_tags`).
pub(crate) struct Tags<'a> {
    crew: &'a mut Crew,
    def: &'a MineDef,
}

impl Tags<'_> {
    /// The mine.
    pub(crate) fn def(&self) -> &MineDef {
        self.def
    }

    /// How many tags there are (reported or not).
    pub(crate) fn len(&self) -> usize {
        self.crew.now.len()
    }

    /// The area tag `i` is in, when it is reported underground.
    pub(crate) fn area_of(&self, i: usize) -> Option<&Arc<str>> {
        self.crew.now[i]
            .as_ref()
            .filter(|s| s.underground)
            .map(|s| &s.area)
    }

    /// Whether tag `i` is a shift leader's.
    pub(crate) fn is_leader(&self, i: usize) -> bool {
        self.crew.tags[i].leader
    }

    /// Puts tag `i`, when reported underground, in `area`.
    pub(crate) fn move_to(&mut self, i: usize, area: &Arc<str>) {
        if let Some(s) = &mut self.crew.now[i]
            && s.underground
        {
            s.area = area.clone();
        }
    }
}

/// A worker's stagger `k` for the shift of `day`: 0 to `span`, in whole seconds.
fn stagger(tag: &Tag, day: i64, k: u64, span: i64) -> i64 {
    (unit(hash(tag.seed, &[day as u64, k])) * (span / 1000) as f64) as i64 * 1000
}

/// Writes one tag element; `area` is `Some` exactly when the tag is underground; each of `flags`
/// is true when its bit is in `set`.
#[allow(clippy::too_many_arguments)]
fn write_tag(
    out: &mut String,
    id: &str,
    person: &str,
    leader: bool,
    area: Option<&str>,
    down_at: &str,
    flags: &[&str],
    set: u32,
) {
    out.push('{');
    push_str_field(out, "tag", id);
    out.push(',');
    push_str_field(out, "person", person);
    out.push_str(if leader {
        ",\"leader\":true,"
    } else {
        ",\"leader\":false,"
    });
    match area {
        Some(a) => {
            push_str_field(out, "area", a);
            out.push_str(",\"underground\":true,");
        }
        None => out.push_str("\"underground\":false,"),
    }
    push_str_field(out, "down_at", down_at);
    for (k, flag) in flags.iter().enumerate() {
        out.push_str(",\"");
        out.push_str(flag);
        out.push_str(if set & (1 << k) != 0 {
            "\":true"
        } else {
            "\":false"
        });
    }
    out.push('}');
}
