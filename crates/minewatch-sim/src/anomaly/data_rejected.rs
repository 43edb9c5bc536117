//! `data_rejected`: the mine's safety batches arrive cut short (not JSON) for 12 minutes, as from
//! a gateway that truncates its messages: every one is rejected whole, and the complete readings
//! in it are still judged. The safety system still "sends", so it is not silent; its points stop
//! being applied, so those that go quiet for their `silent_after` are listed as companions
//! (silent points, and the silent safety system). The subject is the mine.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::payload::System;
use minewatch_core::{Kind, SubjectType};

/// How long the batches are cut short: the window and the duration the rule needs, and more.
const GARBLE_MS: i64 = 12 * MIN_MS;

/// The planner of [`Kind::DataRejected`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::DataRejected;
    const ORDER: usize = 25;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = GARBLE_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        check_mine(ctx.def, named, Self::KIND)?;
        let until = at + GARBLE_MS;
        let garble = Effect::Garble {
            system: System::Safety,
            start: at,
            end: until,
        };
        Ok(Planned::one(ctx.def.id.to_string(), garble, until))
    }

    /// A garbled batch loses its second half.
    fn mangle(effects: &[Effect], system: System, t: i64, payload: &mut Vec<u8>) {
        if effects
            .iter()
            .any(|e| matches!(e, Effect::Garble { system: s, .. } if *s == system && e.active(t)))
        {
            payload.truncate(payload.len() / 2);
        }
    }
}
