//! `camera_tamper`: a camera reports `occluded` for 2 minutes; a camera watching a seal is
//! preferred (critical). Its area keeps another working camera, or is not a face or heading. The
//! subject is the camera.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, video_survives};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::registry::Watches;
use minewatch_core::{Kind, SubjectType};

/// How long the camera is occluded.
const TAMPER_MS: i64 = 2 * MIN_MS;

/// The planner of [`Kind::CameraTamper`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::CameraTamper;
    const ORDER: usize = 16;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const DURATION_MS: i64 = TAMPER_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let until = at + TAMPER_MS;
        let c = named_or_picked(
            def,
            Of::Camera,
            named,
            Self::KIND,
            "a camera whose area keeps another camera, or is not a face or heading",
            ctx.nth_kind,
            |c| {
                video_survives(def, ctx.effects, c, at, until)
                    .then(|| def.cameras[c].watches != Watches::Seal)
            },
        )?;
        Ok(Planned::one(
            def.cameras[c].id.to_string(),
            Effect::Camera {
                camera: c,
                state: "occluded",
                event: None,
                start: at,
                end: until,
            },
            until,
        ))
    }
}
