//! `clock_fault`: the mine's central-station clock is set back an hour for 10 minutes (every
//! system's `ts`), then put right. The rules follow the jump (the mine's time stays continuous),
//! so nothing else is raised; the alert resolves 10 minutes after the clock is right. The subject
//! is the mine.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::payload::System;
use minewatch_core::{Kind, SubjectType};

/// How long the clock is wrong.
const SKEW_MS: i64 = 10 * MIN_MS;
/// By how much.
const BY_MS: i64 = -60 * MIN_MS;

/// The planner of [`Kind::ClockFault`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::ClockFault;
    const ORDER: usize = 24;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = SKEW_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        check_mine(ctx.def, named, Self::KIND)?;
        let until = at + SKEW_MS;
        let skew = Effect::Skew {
            by: BY_MS,
            start: at,
            end: until,
        };
        Ok(Planned::one(ctx.def.id.to_string(), skew, until))
    }

    /// A skewed clock stamps every system's batches.
    fn clock_offset(effects: &[Effect], _system: System, t: i64) -> i64 {
        effects
            .iter()
            .filter(|e| e.active(t))
            .map(|e| match e {
                Effect::Skew { by, .. } => *by,
                _ => 0,
            })
            .sum()
    }
}
