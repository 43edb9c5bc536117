//! Electricity (contract §1 `power`) and explosives (`explosives`), both following production.
//!
//! Each meter's kW comes from its load class and the cutting intensity: the hoist winds skips in
//! 300–800 kW cycles while coal is cut and men and materials otherwise; ventilation and drainage
//! run steadily; transport and face loads follow cutting, face loads falling to about their idle
//! level between cuts and whenever their area's feed points read 0. A meter in a sealed,
//! restricted or undeclared area, and the production loads of a suspended or closed mine, stay at
//! or below `idle_kw`. Explosives are issued once per production shift, shortly after it starts,
//! to every worked face and heading, while the mine produces.
//!
//! Anomalies: a meter's kW scaled and raised (`Load`), an explosives issue to an area (`Issue`).

use crate::clock::{MIN_MS, ShiftPlan, Step};
use crate::effect::Effect;
use crate::json::{push_fixed, push_str_field};
use crate::modes::{Mode, Modes};
use crate::people::worked_face;
use crate::rng::{Rng, hash, hash_str, unit};
use crate::values::soft_bound;
use minewatch_core::MineDef;
use minewatch_core::registry::{AreaKind, Load};
use std::fmt::Write;

/// Explosives are issued this long after a production shift starts.
const ISSUE_AFTER_MS: i64 = 5 * MIN_MS;

/// One meter's state.
#[derive(Debug, Clone)]
struct MeterSim {
    load: Load,
    idle: f64,
    area: u32,
    /// Must stay at or below idle: a sealed, restricted or undeclared area.
    quiet: bool,
    /// A face load in an area that is really worked.
    worked: bool,
    /// AR(1) noise state, as a fraction of the load's spread.
    ar: f64,
    /// Hoist winding cycle.
    cycle_ms: i64,
    phase_ms: i64,
}

/// The meters of a mine.
#[derive(Debug, Clone)]
pub(crate) struct Meters {
    sims: Vec<MeterSim>,
    started: bool,
}

impl Meters {
    /// Models for every meter of `def`.
    pub(crate) fn new(def: &MineDef, seed: u64) -> Meters {
        let sims = def
            .meters
            .iter()
            .map(|m| {
                let area = &def.areas[m.area as usize];
                let h = hash(seed, &[hash_str(&m.id)]);
                let cycle_ms = 90_000 + (unit(hash(h, &[1])) * 50_000.0) as i64;
                MeterSim {
                    load: m.load,
                    idle: m.idle_kw,
                    area: m.area,
                    quiet: !area.declared
                        || matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted),
                    worked: worked_face(def, m.area as usize),
                    ar: 0.0,
                    cycle_ms,
                    phase_ms: (unit(hash(h, &[2])) * cycle_ms as f64) as i64,
                }
            })
            .collect();
        Meters {
            sims,
            started: false,
        }
    }

    /// Appends this tick's meter elements (no brackets); `cut(area)` says whether an area's feeds
    /// read 0, `producing` whether the mine may run production loads now; `effects` change loads.
    /// Returns how many were written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_meters(
        &mut self,
        def: &MineDef,
        step: Step,
        rng: &mut Rng,
        cut: impl Fn(u32) -> bool,
        producing: bool,
        effects: &[Effect],
        out: &mut String,
    ) -> usize {
        let Step {
            t, dt_ms, cutting, ..
        } = step;
        let first = !self.started;
        self.started = true;
        // Noise with a ~5 minute memory.
        let phi = (-(dt_ms.max(0) as f64) / 300_000.0).exp();
        for (i, m) in self.sims.iter_mut().enumerate() {
            m.ar = if first {
                rng.normal()
            } else {
                phi * m.ar + (1.0 - phi * phi).sqrt() * rng.normal()
            };
            let z = m.ar;
            let idle = m.idle;
            let below_idle = idle * (0.7 + 0.1 * z.clamp(-2.5, 2.5));
            let production = matches!(m.load, Load::Hoist | Load::Face | Load::Transport);
            let mut kw = if m.quiet || (production && !producing) {
                below_idle
            } else {
                match m.load {
                    Load::Hoist => {
                        let phase =
                            (t + m.phase_ms).rem_euclid(m.cycle_ms) as f64 / m.cycle_ms as f64;
                        // Loaded skip accelerating, running, decelerating; then loading at the bottom.
                        let wind = (std::f64::consts::PI * phase).sin().powi(2);
                        let skips = 300.0 + 500.0 * wind;
                        let cage = 80.0 + 15.0 * z;
                        soft_bound(
                            cage + (skips - cage) * cutting + 20.0 * z * cutting,
                            idle + 1.0,
                            820.0,
                        )
                    }
                    Load::Ventilation => soft_bound(600.0 + 25.0 * z, 500.0, 700.0),
                    Load::Drainage => soft_bound(200.0 + 15.0 * z, 150.0, 250.0),
                    Load::Transport => {
                        soft_bound(60.0 + 260.0 * cutting + 20.0 * z, idle + 1.0, 450.0)
                    }
                    Load::Face if m.worked && !cut(m.area) => {
                        let running = soft_bound(650.0 + 90.0 * z, 400.0, 900.0);
                        below_idle + (running - below_idle) * cutting
                    }
                    Load::Face => below_idle,
                    Load::Other => soft_bound(
                        40.0 + 6.0 * z,
                        15.0_f64.max(idle + 1.0),
                        80.0_f64.max(idle + 20.0),
                    ),
                }
            };
            for e in effects {
                if let Effect::Load {
                    meter, scale, add, ..
                } = *e
                    && meter == i
                    && e.active(t)
                {
                    kw = kw * scale + add;
                }
            }
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            push_str_field(out, "meter", &def.meters[i].id);
            out.push_str(",\"kw\":");
            push_fixed(out, kw.max(0.0), 1);
            out.push('}');
        }
        self.sims.len()
    }
}

/// Appends the explosives issued in `(prev, t]` (no brackets): at each production shift start
/// while the mine produces, to every worked face and heading; and the issues of `effects`.
/// Returns how many were written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_issues(
    def: &MineDef,
    plan: &ShiftPlan,
    modes: &Modes,
    prev: i64,
    t: i64,
    seed: u64,
    effects: &[Effect],
    out: &mut String,
) -> usize {
    let mut n = 0;
    let mut push = |out: &mut String, area: &str, kg: f64| {
        if n > 0 {
            out.push(',');
        }
        n += 1;
        out.push('{');
        push_str_field(out, "area", area);
        out.push_str(",\"kg\":");
        push_fixed(out, kg, 1);
        let _ = write!(out, ",\"detonators\":{}}}", (kg * 2.5).round() as u32);
    };
    let at = plan.at(t);
    // Issue instants within a day of `t` cover any gap between two ticks we care about.
    for back in 0..=plan.per_day {
        let k = at.day * plan.per_day + at.index - back;
        let (day, index) = (k.div_euclid(plan.per_day), k.rem_euclid(plan.per_day));
        let issue = plan.start(day, index) + ISSUE_AFTER_MS;
        if issue <= prev
            || issue > t
            || !plan.is_production(index)
            || modes.at(issue) != Mode::Producing
        {
            continue;
        }
        for (a, area) in def.areas.iter().enumerate() {
            if !worked_face(def, a) {
                continue;
            }
            let u = unit(hash(seed, &[hash_str(&area.id), k as u64]));
            let (base, spread) = if area.kind == AreaKind::Heading {
                (20.0, 24.0)
            } else {
                (12.0, 18.0)
            };
            let kg = base + (u * spread * 2.0).floor() / 2.0;
            push(out, &area.id, kg);
        }
    }
    for e in effects {
        if let Effect::Issue { area, kg, at } = e
            && prev < *at
            && *at <= t
        {
            push(out, area, *kg);
        }
    }
    n
}
