//! `overtime`: a worker (not a leader) stays underground until `shift_hours` + 3 h after going
//! down (the limit is `shift_hours` + 2 h), then comes up; the areas stay under quota. The subject
//! is the tag (picked: the worker down longest).

use super::plan::{Ctx, Planned, Planner, busy, one_tag};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// The tag comes up this long after `shift_hours` (the margin is 2 h).
const EXTRA_MS: i64 = 3 * 3_600_000;

/// The planner of [`Kind::Overtime`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::Overtime;
    const ORDER: usize = 12;
    const SUBJECT: SubjectType = SubjectType::Tag;
    /// Nominal, for an 8-hour shift counted from the start; the exact end depends on the tag.
    const DURATION_MS: i64 = 8 * 3_600_000 + EXTRA_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        plan_overtime(ctx, named, at)
    }
}

/// The named worker, or the one down longest that can stay on within quota.
fn plan_overtime(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let crew = ctx.crew;
    let shift_ms = (def.shift_hours * 3_600_000.0) as i64;
    let mut c: Vec<(i64, usize)> = match named {
        Some(id) => {
            let (i, down) = one_tag(ctx, Some(id), ThisKind::KIND, at, at)?;
            vec![(down, i)]
        }
        None => (0..crew.len())
            .filter(|&i| !crew.is_leader(i) && !busy(ctx, i))
            .filter_map(|i| match crew.state(i, at, ctx.modes, ctx.effects) {
                Some((true, down)) => Some((down, i)),
                _ => None,
            })
            .collect(),
    };
    // The worker down longest first, so the alert comes soonest.
    c.sort_unstable();
    if !c.is_empty() {
        let k = ctx.nth_kind % c.len();
        c.rotate_left(k);
    }
    for (down, i) in c {
        let until = down + shift_ms + EXTRA_MS;
        let extend = Effect::Extend {
            tag: i,
            down,
            until,
        };
        // Its area must stay within quota while the next crews come and go.
        let home = crew.home(i) as usize;
        let fits = match def.areas[home].quota {
            None => true,
            Some(q) => {
                let mut effects = ctx.effects.to_vec();
                effects.push(extend.clone());
                (0..)
                    .map(|k| at + k * 5 * MIN_MS)
                    .take_while(|&t| t <= until)
                    .all(|t| crew.census(t, ctx.modes, &effects, def.areas.len()).0[home] <= q)
            }
        };
        if fits {
            return Ok(Planned::one(crew.id(i).to_string(), extend, until));
        }
    }
    Err(format!(
        "{}: no worker of mine {} underground at that time can stay on without putting an area over quota",
        ThisKind::KIND.as_str(),
        def.id
    ))
}
