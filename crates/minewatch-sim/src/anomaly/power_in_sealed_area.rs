//! `power_in_sealed_area`: the meter of a sealed or restricted area draws ~40 kW above its idle
//! reading for 15 minutes (10 needed; under the 30 a departure from its usual level needs), then
//! idles again. The subject is the meter. Any other injection that loads the meter of a sealed or
//! restricted area raises this kind on that meter too.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, is_closed};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// How long the meter draws power (10 minutes needed).
const SEALED_POWER_MS: i64 = 15 * MIN_MS;
/// What it draws above its clean (idle) reading.
const SEALED_KW: f64 = 40.0;

/// The planner of [`Kind::PowerInSealedArea`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::PowerInSealedArea;
    const ORDER: usize = 19;
    const SUBJECT: SubjectType = SubjectType::Meter;
    const DURATION_MS: i64 = SEALED_POWER_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let m = named_or_picked(
            def,
            Of::Meter,
            named,
            Self::KIND,
            "a meter of a sealed or restricted area",
            ctx.nth_kind,
            |m| is_closed(def, def.meters[m].area as usize).then_some(0),
        )?;
        let until = at + SEALED_POWER_MS;
        Ok(Planned::one(
            def.meters[m].id.to_string(),
            Effect::Load {
                meter: m,
                scale: 1.0,
                add: SEALED_KW,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The meter of a sealed or restricted area another injection loads.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        effects
            .iter()
            .filter_map(|e| match *e {
                Effect::Load { meter, .. } if is_closed(def, def.meters[meter].area as usize) => {
                    Some(def.meters[meter].id.to_string())
                }
                _ => None,
            })
            .collect()
    }
}
