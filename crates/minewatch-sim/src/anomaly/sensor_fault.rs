//! `sensor_fault`: a point reports status 128 (sensor fault) for ~3 minutes (longer than the 60 s
//! `fault_after` default). The subject is the point (picked: a methane point first).

use super::pick::{Of, named_or_picked, pick, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, SubjectType};

/// How long the point reports status 128.
const FAULT_MS: i64 = 180_000;

/// The planner of [`Kind::SensorFault`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::SensorFault;
    const ORDER: usize = 3;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = FAULT_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let i = match named {
            Some(_) => named_or_picked(def, Of::Point, named, Self::KIND, "a point", 0, |i| {
                point_if(def, i, true)
            })?,
            None => pick(def, Of::Point, ctx.nth, |i| {
                point_if(def, i, def.points[i].kind == PointKind::Ch4)
            })
            .or_else(|| pick(def, Of::Point, ctx.nth, |i| point_if(def, i, true)))
            .ok_or_else(|| format!("mine {} has no points", def.id))?,
        };
        let until = at + FAULT_MS;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Fault {
                point: i,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The point reports status 128.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Fault { point, .. } = *effect
            && effect.active(t)
        {
            readings.add_status(point, 128);
        }
    }
}
