//! `ai_event`: a camera reports the AI event `no_helmet` for 2 minutes (state ok). The subject is
//! the camera (picked: one watching a face or heading first).

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::registry::Watches;
use minewatch_core::{Kind, SubjectType};

/// How long the camera reports the event.
const EVENT_MS: i64 = 2 * MIN_MS;

/// The planner of [`Kind::AiEvent`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::AiEvent;
    const ORDER: usize = 18;
    const SUBJECT: SubjectType = SubjectType::Camera;
    const DURATION_MS: i64 = EVENT_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let c = named_or_picked(
            def,
            Of::Camera,
            named,
            Self::KIND,
            "a camera",
            ctx.nth_kind,
            |c| {
                Some(!matches!(
                    def.cameras[c].watches,
                    Watches::Face | Watches::Heading
                ))
            },
        )?;
        let until = at + EVENT_MS;
        Ok(Planned::one(
            def.cameras[c].id.to_string(),
            Effect::Camera {
                camera: c,
                state: "ok",
                event: Some("no_helmet"),
                start: at,
                end: until,
            },
            until,
        ))
    }
}
