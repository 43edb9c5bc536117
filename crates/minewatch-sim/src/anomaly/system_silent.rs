//! `system_silent`: the mine's video system (or personnel system) sends nothing for 4 minutes.
//! The rule runs on wall clock: `publish` simply sends nothing; [`crate::Sim::tick`] leaves the
//! batch out. The subject is the mine; it may be named as `video` (the default), `personnel`, or
//! the mine id (= video). Never the safety system, which would also silence every point.

use super::plan::{Ctx, Planned, Planner};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::payload::System;
use minewatch_core::{Kind, SubjectType};

/// How long the system stays silent (120 s allowed; under the 5 minutes people may work without
/// video).
const MUTE_MS: i64 = 4 * MIN_MS;

/// The planner of [`Kind::SystemSilent`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::SystemSilent;
    const ORDER: usize = 5;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const DURATION_MS: i64 = MUTE_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let name = Self::KIND.as_str();
        let until = at + MUTE_MS;
        let mute = |system| Effect::Mute {
            system,
            start: at,
            end: until,
        };
        let system = match named {
            None | Some("video") => System::Video,
            Some(s) if s == &*def.id => System::Video,
            Some("personnel") => System::Personnel,
            Some("safety") => {
                let also = (ctx.companions)(ctx, Self::KIND, &[mute(System::Safety)]);
                let mut kinds: Vec<&str> = also.iter().map(|a| a.0).collect();
                kinds.dedup();
                return Err(format!(
                    "{name} on the safety system would also raise {} on {} subjects; use video or personnel",
                    kinds.join(", "),
                    also.len()
                ));
            }
            Some(s) => {
                return Err(format!(
                    "{name} takes video, personnel or the mine id {}; not {s:?}",
                    def.id
                ));
            }
        };
        Ok(Planned::one(def.id.to_string(), mute(system), until))
    }

    /// A system whose batches are all garbled for longer than 2 minutes sends nothing usable.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let garbled = effects.iter().any(|e| {
            let (start, end) = e.span();
            matches!(e, Effect::Garble { system, .. } if *system != System::Power && *system != System::Explosives)
                && end - start > 2 * MIN_MS
        });
        if garbled {
            vec![ctx.def.id.to_string()]
        } else {
            Vec::new()
        }
    }

    /// A muted system sends nothing.
    fn silences(effects: &[Effect], system: System, t: i64) -> bool {
        effects
            .iter()
            .any(|e| matches!(e, Effect::Mute { system: s, .. } if *s == system && e.active(t)))
    }
}
