//! `point_silent`: a point stops reporting for ~4 minutes (longer than the 120 s default), then
//! resumes. The subject is the point (picked: a methane point first). A mine's whole safety
//! system falling silent would raise this kind on every point.

use super::pick::{Of, named_or_picked, pick, point_if};
use super::plan::{Ctx, Planned, Planner};
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::payload::System;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, SubjectType};

/// How long the point stays silent.
const SILENT_MS: i64 = 240_000;

/// The planner of [`Kind::PointSilent`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::PointSilent;
    const ORDER: usize = 2;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = SILENT_MS;

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
        let until = at + SILENT_MS;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Silent {
                point: i,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The point does not report.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Silent { point, .. } = *effect
            && effect.active(t)
        {
            readings.silence(point);
        }
    }

    /// Every point, when the safety system is muted or its batches are garbled (rejected whole,
    /// so no reading is applied).
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let muted = effects.iter().any(|e| {
            matches!(
                e,
                Effect::Mute {
                    system: System::Safety,
                    ..
                } | Effect::Garble {
                    system: System::Safety,
                    ..
                }
            )
        });
        if !muted {
            return Vec::new();
        }
        ctx.def.points.iter().map(|p| p.id.to_string()).collect()
    }
}
