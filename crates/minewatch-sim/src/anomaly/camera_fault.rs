//! `camera_fault`: a camera reports `offline` for 3 minutes (60 s allowed). Its area keeps another
//! working camera, or is not a face or heading, so people there are never left without video. The
//! subject is the camera. Any other injection that takes a camera offline or loses its signal
//! raises this kind on that camera too.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, video_survives};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// How long the camera is offline (60 s allowed).
const OFFLINE_MS: i64 = 3 * MIN_MS;

/// The planner of [`Kind::CameraFault`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::CameraFault;
    const ORDER: usize = 15;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const DURATION_MS: i64 = OFFLINE_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let until = at + OFFLINE_MS;
        let c = named_or_picked(
            def,
            Of::Camera,
            named,
            Self::KIND,
            "a camera whose area keeps another camera, or is not a face or heading",
            ctx.nth_kind,
            |c| video_survives(def, ctx.effects, c, at, until).then_some(0),
        )?;
        Ok(Planned::one(
            def.cameras[c].id.to_string(),
            Effect::Camera {
                camera: c,
                state: "offline",
                event: None,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// A camera another injection takes offline or loses the signal of.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Camera { camera, state, .. }
                    if matches!(*state, "offline" | "signal_loss") =>
                {
                    Some(ctx.def.cameras[*camera].id.to_string())
                }
                _ => None,
            })
            .collect()
    }
}
