//! `power_off_failure`: a methane point rises past its power-off level over ~2 minutes, stays
//! there ~3 minutes while its feed points keep reading 1 (power not cut), then falls back below
//! restore. The subject is the point (picked: a methane point with feeds, else any point with a
//! power-off level and feeds). At power-off level the point is over its alarm too, which raises
//! the over-limit alert as well (critical).

use super::pick::{Of, named_or_picked, pick, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::effect::Effect;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, SubjectType};

/// Ramp, hold and fall.
const PHASES: (i64, i64, i64) = (120_000, 180_000, 60_000);

/// The planner of [`Kind::PowerOffFailure`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::PowerOffFailure;
    const ORDER: usize = 0;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = PHASES.0 + PHASES.1 + PHASES.2;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let ok = |i: usize| {
            let p = &def.points[i];
            !p.kind.is_switch() && p.limits.power_off.is_some() && !p.feeds.is_empty()
        };
        let what = "a point with a power-off level and feeds";
        let i = match named {
            Some(_) => named_or_picked(def, Of::Point, named, Self::KIND, what, 0, |i| {
                point_if(def, i, ok(i))
            })?,
            None => pick(def, Of::Point, ctx.nth, |i| {
                point_if(def, i, ok(i) && def.points[i].kind == PointKind::Ch4)
            })
            .or_else(|| pick(def, Of::Point, ctx.nth, |i| point_if(def, i, ok(i))))
            .ok_or_else(|| format!("mine {} has no {what}", def.id))?,
        };
        let po = def.points[i].limits.power_off.unwrap_or(1.5);
        let target = po + (0.1 * po.abs()).max(0.1);
        let (ramp, hold, fall) = PHASES;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Level {
                point: i,
                target,
                start: at,
                ramp,
                hold,
                fall,
                hold_feeds: true,
            },
            at + Self::DURATION_MS,
        ))
    }
}
