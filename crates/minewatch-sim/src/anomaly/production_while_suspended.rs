//! `production_while_suspended`: a mine the simulator holds suspended
//! ([`crate::Sim::set_suspended`] or its registry status) runs its hoists, and its faces when the
//! shift plan cuts coal, for 40 minutes (30 needed) with only its maintenance crew down:
//! production visible in power data. The subject is the mine. Not in the automatic schedule: it
//! needs a suspension order first.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::{MIN_MS, smoothstep};
use crate::effect::Effect;
use crate::modes::Mode;
use minewatch_core::registry::Load;
use minewatch_core::{Kind, SubjectType};

/// How long the suspended mine produces (30 minutes needed).
const PRODUCTION_MS: i64 = 40 * MIN_MS;

/// The planner of [`Kind::ProductionWhileSuspended`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::ProductionWhileSuspended;
    const ORDER: usize = 22;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = PRODUCTION_MS;
    const NOTE: Option<&'static str> = Some("the mine must be suspended: set status = \"suspended\" in its registry file (the demo's simulator and server both read it)");

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let name = Self::KIND.as_str();
        check_mine(def, named, Self::KIND)?;
        if ctx.modes.at(at) != Mode::Suspended {
            return Err(format!(
                "{name} needs mine {} suspended in the simulator (registry status or Sim::set_suspended); it is not at that time",
                def.id
            ));
        }
        if !def
            .meters
            .iter()
            .any(|m| matches!(m.load, Load::Hoist | Load::Face))
        {
            return Err(format!(
                "{name} shows production in hoist and face power; mine {} has no such meter",
                def.id
            ));
        }
        let until = at + PRODUCTION_MS;
        Ok(Planned::one(
            def.id.to_string(),
            Effect::Produce {
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// Production loads run while the effect lasts, and cutting ramps in over 30 minutes and out
    /// after it ends.
    fn production(effects: &[Effect], t: i64, now: (bool, f64)) -> (bool, f64) {
        let (mut producing, mut level) = now;
        const RAMP: f64 = 30.0 * 60_000.0;
        for e in effects {
            if let Effect::Produce { start, end } = *e {
                if start <= t && t < end {
                    producing = true;
                    level = level.max(smoothstep((t - start) as f64 / RAMP));
                } else if t >= end {
                    let reached = smoothstep((end - start) as f64 / RAMP);
                    level = level.max(reached * (1.0 - smoothstep((t - end) as f64 / RAMP)));
                }
            }
        }
        (producing, level)
    }
}
