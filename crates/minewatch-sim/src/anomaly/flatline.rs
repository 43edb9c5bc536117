//! `flatline`: a methane point of a coal face, heading or return airway repeats one value for 40
//! minutes (the window is 30), then varies again. The subject is the point.

use super::pick::{Of, named_or_picked, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::registry::{AreaKind, PointKind};
use minewatch_core::{Kind, SubjectType};

/// How long the point stays flat (the window is 30 minutes).
const FLAT_MS: i64 = 40 * MIN_MS;

/// The planner of [`Kind::Flatline`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::Flatline;
    const ORDER: usize = 6;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = FLAT_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let ok = |i: usize| {
            def.points[i].kind == PointKind::Ch4
                && matches!(
                    def.point_area(i as u32).kind,
                    AreaKind::CoalFace | AreaKind::Heading | AreaKind::ReturnAirway
                )
        };
        let i = named_or_picked(
            def,
            Of::Point,
            named,
            Self::KIND,
            "a methane point of a coal face, heading or return airway",
            ctx.nth_kind,
            |i| point_if(def, i, ok(i)),
        )?;
        let until = at + FLAT_MS;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Freeze {
                point: i,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The point repeats the value it had (as printed) when it froze.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Freeze { point: p, .. } = *effect
            && effect.active(t)
        {
            let scale = 10f64.powi(readings.decimals(p) as i32);
            let now = (readings.value(p) * scale).round() / scale;
            let v = *readings.kept(p).get_or_insert(now);
            readings.set_value(p, v);
        }
    }

    /// A point no longer frozen forgets its value.
    fn after_safety(effects: &[Effect], readings: &mut Readings<'_>, t: i64) {
        for p in 0..readings.len() {
            if readings.kept(p).is_some()
                && !effects.iter().any(
                    |e| matches!(e, Effect::Freeze { point, .. } if *point == p && e.active(t)),
                )
            {
                *readings.kept(p) = None;
            }
        }
    }
}
