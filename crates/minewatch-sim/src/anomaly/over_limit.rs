//! `over_limit`: a point rises past its alarm (not its power-off level) for ~3 minutes, feeds
//! behave; then back. The subject is the point (picked: a methane point whose power-off level is
//! clear of its alarm first). Any other injection that drives a point to its alarm or power-off
//! level raises this kind on that point too.

use super::pick::{Of, named_or_picked, pick, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::effect::Effect;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, SubjectType};

/// Ramp, hold and fall.
const PHASES: (i64, i64, i64) = (90_000, 180_000, 60_000);

/// The planner of [`Kind::OverLimit`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::OverLimit;
    const ORDER: usize = 1;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = PHASES.0 + PHASES.1 + PHASES.2;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let any = |i: usize| {
            let p = &def.points[i];
            !p.kind.is_switch() && (p.limits.alarm.is_some() || p.limits.alarm_low.is_some())
        };
        let clear_of_power_off = |i: usize| {
            let l = &def.points[i].limits;
            match (l.alarm, l.power_off) {
                (Some(a), Some(po)) => po >= a + 0.1,
                (Some(_), None) => true,
                _ => false,
            }
        };
        let what = "an analog point with an alarm limit";
        let nth = ctx.nth;
        let i = match named {
            Some(_) => named_or_picked(def, Of::Point, named, Self::KIND, what, 0, |i| {
                point_if(def, i, any(i))
            })?,
            None => pick(def, Of::Point, nth, |i| {
                point_if(
                    def,
                    i,
                    any(i) && clear_of_power_off(i) && def.points[i].kind == PointKind::Ch4,
                )
            })
            .or_else(|| {
                pick(def, Of::Point, nth, |i| {
                    point_if(def, i, any(i) && clear_of_power_off(i))
                })
            })
            .or_else(|| pick(def, Of::Point, nth, |i| point_if(def, i, any(i))))
            .ok_or_else(|| format!("mine {} has no {what}", def.id))?,
        };
        let l = &def.points[i].limits;
        let target = match (l.alarm, l.power_off, l.alarm_low) {
            (Some(a), Some(po), _) if po >= a + 0.1 => a + 0.4 * (po - a),
            (Some(a), _, _) => a + (0.12 * a.abs()).max(0.05),
            (None, _, Some(low)) => low - (0.02 * low.abs()).max(0.1),
            (None, _, None) => 0.0,
        };
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
                hold_feeds: false,
            },
            at + Self::DURATION_MS,
        ))
    }

    /// A point another injection drives to its alarm or power-off level.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        effects
            .iter()
            .filter_map(|e| match *e {
                Effect::Level { point, target, .. } => {
                    let l = &def.points[point].limits;
                    let over = l.alarm.is_some_and(|a| target >= a)
                        || l.power_off.is_some_and(|po| target >= po);
                    over.then(|| def.points[point].id.to_string())
                }
                _ => None,
            })
            .collect()
    }
}
