//! `calibration_abuse`: a methane point reports status 4 (calibration) for 40 minutes (30
//! allowed), its value clean. The subject is the point.

use super::pick::{Of, named_or_picked, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, SubjectType};

/// How long a calibration lasts (30 minutes allowed).
const CALIBRATION_MS: i64 = 40 * MIN_MS;

/// The planner of [`Kind::CalibrationAbuse`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::CalibrationAbuse;
    const ORDER: usize = 8;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = CALIBRATION_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let i = named_or_picked(
            def,
            Of::Point,
            named,
            Self::KIND,
            "a methane point",
            ctx.nth_kind,
            |i| point_if(def, i, def.points[i].kind == PointKind::Ch4),
        )?;
        let until = at + CALIBRATION_MS;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Calibrate {
                point: i,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The point reports status 4.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Calibrate { point, .. } = *effect
            && effect.active(t)
        {
            readings.add_status(point, 4);
        }
    }
}
