//! `power_anomaly`: a steady meter (drainage ×2.5, ventilation ×0.45, other ×2.5 of its usual kW)
//! departs from its usual level for 45 minutes (30 needed, after 3 days of learning), then
//! returns. The subject is the meter (picked: drainage first). Not in the automatic schedule: it
//! needs days of learning first.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, is_closed};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::registry::Load;
use minewatch_core::{Kind, SubjectType};

/// How long the meter departs from its usual level (30 minutes needed).
const DEPART_MS: i64 = 45 * MIN_MS;

/// The planner of [`Kind::PowerAnomaly`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::PowerAnomaly;
    const ORDER: usize = 20;
    const SUBJECT: SubjectType = SubjectType::Meter;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = DEPART_MS;
    const NOTE: Option<&'static str> = Some("minewatch judges a meter only after 3 days of its data: a new demo store has none");

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let m = named_or_picked(
            def,
            Of::Meter,
            named,
            Self::KIND,
            "a steady meter (ventilation, drainage or other) of a declared working area",
            ctx.nth_kind,
            |m| {
                let meter = &def.meters[m];
                let area = &def.areas[meter.area as usize];
                if !area.declared || is_closed(def, meter.area as usize) {
                    return None;
                }
                match meter.load {
                    Load::Drainage => Some(0),
                    Load::Ventilation => Some(1),
                    Load::Other => Some(2),
                    _ => None,
                }
            },
        )?;
        let scale = if def.meters[m].load == Load::Ventilation {
            0.45
        } else {
            2.5
        };
        let until = at + DEPART_MS;
        Ok(Planned::one(
            def.meters[m].id.to_string(),
            Effect::Load {
                meter: m,
                scale,
                add: 0.0,
                start: at,
                end: until,
            },
            until,
        ))
    }
}
