//! Safety-point readings (contract §1 `safety`): a model per point, stepped once per tick.
//!
//! An analog point's clean value is a level set by its kind and methane location, raised by coal
//! cutting ([`crate::clock::ShiftPlan::cutting`]) and a day-to-day factor, plus smooth noise: an
//! AR(1) random walk (a ~10 min memory), a slow wave and a little measurement noise. A point with an
//! `upwind` neighbour reads its neighbour's clean value plus a small gap with its own noise, so gas
//! accumulates along the airflow and the two never drift apart. Everything passes through a soft
//! bound that keeps it strictly inside limits derived from the point's resolved `limits` (below
//! 70 % of `alarm`, above `alarm_low` with a margin) while staying strictly monotone, so variation
//! is squeezed near a bound but never flattened.
//!
//! Anomalies ([`crate::effect::Effect`]) are applied on top of the clean values in three steps:
//! [`Points::step`] drives points to a level (`Level`), a point driven up passing part of its
//! excess to its downwind points (capped below their alarm); then the planners of the anomaly
//! kinds change what else their effects change, through [`Readings`] (see `anomaly`); then
//! [`Points::finish`] derives statuses from the values, and methane at power-off level latches its
//! feed points to 0 unless a `Level` effect holds them on.

use crate::clock::Step;
use crate::effect::Effect;
use crate::json::{push_fixed, push_str_field};
use crate::rng::{Rng, hash, unit};
use minewatch_core::MineDef;
use minewatch_core::registry::{AreaKind, Limits, Location, PointKind};

/// Share of an upwind point's anomalous excess that reaches a downwind point.
const EXCESS_SHARE: f64 = 0.35;
/// A downwind point driven by an anomaly upwind stays below this fraction of its own alarm.
const DOWNWIND_CAP: f64 = 0.9;

/// How one analog point behaves in clean data.
#[derive(Debug, Clone, Copy)]
struct Profile {
    /// Level with no coal cutting.
    idle: f64,
    /// Level while cutting at full intensity.
    cut: f64,
    /// The value never goes below this (soft bound).
    lo: f64,
    /// The value never goes above this (soft bound).
    hi: f64,
    /// Stationary standard deviation of the AR(1) noise.
    sd: f64,
    /// Memory of the AR(1) noise.
    tau_ms: f64,
    /// Amplitude of the slow wave.
    wave: f64,
    /// Measurement noise.
    white: f64,
    /// Decimals printed.
    decimals: u32,
}

/// A downwind point reads its upwind neighbour plus this gap.
#[derive(Debug, Clone, Copy)]
struct Gap {
    /// The upwind point.
    up: usize,
    idle: f64,
    cut: f64,
    lo: f64,
    hi: f64,
    sd: f64,
    wave: f64,
}

/// The state of one point.
#[derive(Debug, Clone)]
struct PointSim {
    /// The fixed reading of a switch point; `None` for analog points.
    switch: Option<u8>,
    prof: Profile,
    /// Present when the point reads relative to its upwind neighbour.
    gap: Option<Gap>,
    wave_period_ms: i64,
    wave_phase_ms: i64,
    /// Seeds the day-to-day factor of the cutting level.
    day_seed: u64,
    /// AR(1) state: of the level, or of the gap for a downwind point.
    ar: f64,
    limits: Limits,
    /// Latched power-off: set at `power_off`, cleared below `restore`.
    tripped: bool,
}

/// All points of a mine and the readings of the current tick.
#[derive(Debug, Clone)]
pub(crate) struct Points {
    sims: Vec<PointSim>,
    /// Every upwind point before its downwind points (an upwind cycle is cut arbitrarily).
    order: Vec<usize>,
    /// Clean values of this tick.
    normal: Vec<f64>,
    /// Values after anomalies.
    pub(crate) value: Vec<f64>,
    /// Status bits (1 alarm, 2 power-off, 128 sensor fault).
    pub(crate) status: Vec<u32>,
    /// Whether the point reports this tick (a silent point does not).
    pub(crate) present: Vec<bool>,
    /// Feed points held energised by an active `Level` effect with `hold_feeds`.
    held: Vec<bool>,
    /// A value a planner keeps for the point from tick to tick ([`Readings::kept`]).
    kept: Vec<Option<f64>>,
    /// Clean values recorded tick by tick (every point's, one tick after another) for a planner
    /// to play back ([`Readings::record`]), and the next tick to play.
    tape: Vec<f64>,
    tape_at: usize,
    /// Another mine's values of its previous tick, handed in for a planner to copy
    /// ([`Readings::incoming`]); empty unless an anomaly copies one.
    pub(crate) incoming: Vec<f64>,
    /// Whether the noise has been drawn from its stationary spread yet.
    started: bool,
}

/// Keeps `v` inside `[lo, hi]`: the identity in the middle, `tanh` knees of 20 % of the span at
/// each end. Strictly increasing, so a varying input never becomes a flat output.
pub(crate) fn soft_bound(v: f64, lo: f64, hi: f64) -> f64 {
    let k = 0.2 * (hi - lo);
    if k <= 0.0 || !k.is_finite() {
        return v.clamp(lo.min(hi), hi.max(lo));
    }
    if v > hi - k {
        hi - k + k * ((v - (hi - k)) / k).tanh()
    } else if v < lo + k {
        lo + k - k * ((lo + k - v) / k).tanh()
    } else {
        v
    }
}

/// The clean-data profile of an analog point.
fn profile(kind: PointKind, loc: Option<Location>, area: AreaKind, limits: &Limits) -> Profile {
    let face = matches!(area, AreaKind::CoalFace | AreaKind::Heading);
    let ret = matches!(area, AreaKind::ReturnAirway | AreaKind::MainReturn);
    let sealed = matches!(area, AreaKind::Sealed | AreaKind::Restricted);
    // (idle, cut, lo, hi, sd, tau in minutes, decimals)
    let (idle, cut, lo, hi, sd, tau, decimals) = match kind {
        PointKind::Ch4 => {
            let (i, c, l, h, s) = match loc {
                Some(Location::Intake | Location::LoadingPoint) => (0.05, 0.09, 0.02, 0.16, 0.012),
                Some(Location::CoalFace | Location::Shearer) => (0.33, 0.50, 0.20, 0.62, 0.03),
                Some(Location::UpperCorner) => (0.45, 0.62, 0.30, 0.70, 0.03),
                Some(Location::CoalFaceReturn) => (0.36, 0.54, 0.20, 0.66, 0.025),
                Some(Location::Heading) => (0.24, 0.40, 0.15, 0.52, 0.025),
                Some(Location::HeadingReturn) => (0.27, 0.44, 0.15, 0.56, 0.025),
                Some(Location::DrainageRoadway) => (0.95, 1.25, 0.75, 1.55, 0.05),
                Some(Location::MainReturn) => (0.22, 0.33, 0.15, 0.42, 0.015),
                None => {
                    let a = limits.alarm.unwrap_or(1.0).abs().max(0.05);
                    (0.2 * a, 0.35 * a, 0.1 * a, 0.5 * a, 0.03 * a)
                }
            };
            (i, c, l, h, s, 12.0, 2)
        }
        PointKind::Co if sealed => (4.5, 4.5, 2.0, 8.0, 0.6, 20.0, 1),
        PointKind::Co if face || ret => (1.5, 3.5, 0.0, 8.0, 0.4, 10.0, 1),
        PointKind::Co => (0.8, 1.2, 0.0, 8.0, 0.3, 10.0, 1),
        PointKind::O2 => (20.75, 20.7, 20.5, 20.9, 0.04, 20.0, 2),
        PointKind::Co2 if sealed => (0.22, 0.22, 0.1, 0.3, 0.02, 20.0, 2),
        PointKind::Co2 => (0.10, 0.16, 0.05, 0.3, 0.02, 15.0, 2),
        PointKind::Temperature if face => (22.0, 23.0, 18.0, 24.0, 0.3, 30.0, 1),
        PointKind::Temperature if ret => (22.5, 23.2, 18.0, 24.0, 0.3, 30.0, 1),
        PointKind::Temperature if sealed => (21.0, 21.0, 18.0, 24.0, 0.2, 40.0, 1),
        PointKind::Temperature => (19.5, 19.8, 18.0, 24.0, 0.3, 30.0, 1),
        PointKind::AirSpeed if face => (1.7, 1.8, 1.0, 2.5, 0.1, 5.0, 2),
        PointKind::AirSpeed => (3.5, 3.6, 2.0, 6.0, 0.2, 5.0, 2),
        PointKind::Dust if face => (1.5, 5.0, 1.0, 8.0, 0.5, 5.0, 1),
        PointKind::Dust => (1.2, 2.0, 1.0, 8.0, 0.3, 5.0, 1),
        PointKind::Pressure => (2200.0, 2230.0, 1800.0, 2600.0, 40.0, 20.0, 0),
        PointKind::Smoke | PointKind::Feed | PointKind::Fan | PointKind::Door => {
            (0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0)
        }
    };
    let (mut lo, mut hi) = (lo, hi);
    if let Some(a) = limits.alarm {
        // Temperature's nominal range sits close to its alarm by nature (24 vs 26 °C).
        let cap = if kind == PointKind::Temperature {
            a - 2.0
        } else {
            a * 0.7
        };
        if cap < hi {
            hi = cap;
            lo = lo.min(hi - 0.5 * hi.abs());
        }
    }
    if let Some(al) = limits.alarm_low {
        let clear = limits.restore_low.unwrap_or(al).max(al);
        lo = lo.max(clear + 0.01 * al.abs() + 0.05);
    }
    if lo >= hi {
        // Contradictory limits: stay below the alarm, the graver side.
        lo = hi - (0.2 * hi.abs()).max(0.01);
    }
    let span = hi - lo;
    let inner = |x: f64| x.clamp(lo + 0.25 * span, hi - 0.25 * span);
    let sd = sd.min(0.15 * span);
    Profile {
        idle: inner(idle),
        cut: inner(cut),
        lo,
        hi,
        sd,
        tau_ms: tau * 60_000.0,
        wave: 0.3 * sd + if kind == PointKind::Ch4 { 0.008 } else { 0.0 },
        white: 0.15 * sd,
        decimals,
    }
}

/// The gap of a downwind point over its upwind neighbour.
fn gap(kind: PointKind, up: usize, own: &Profile, upwind: &Profile) -> Gap {
    if kind == PointKind::Ch4 {
        let idle = (own.idle - upwind.idle).clamp(0.02, 0.3);
        let cut = (own.cut - upwind.cut).clamp(0.02, 0.3);
        Gap {
            up,
            idle,
            cut,
            lo: 0.005,
            hi: 0.36,
            sd: 0.1 * idle.max(cut) + 0.005,
            wave: 0.006,
        }
    } else {
        let idle = own.idle - upwind.idle;
        let cut = own.cut - upwind.cut;
        let margin = 0.1 * (own.hi - own.lo);
        Gap {
            up,
            idle,
            cut,
            lo: idle.min(cut) - margin,
            hi: idle.max(cut) + margin,
            sd: 0.4 * own.sd,
            wave: 0.3 * 0.4 * own.sd,
        }
    }
}

/// Every upwind point before its downwind points; a cycle is cut where it is found.
fn upwind_order(def: &MineDef) -> Vec<usize> {
    let n = def.points.len();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        let mut path = Vec::new();
        let mut p = start;
        while mark[p] == 0 {
            mark[p] = 1;
            path.push(p);
            match def.points[p].upwind {
                Some(u) if mark[u as usize] == 0 => p = u as usize,
                _ => break,
            }
        }
        for &q in path.iter().rev() {
            mark[q] = 2;
            order.push(q);
        }
    }
    order
}

impl Points {
    /// Models for every point of `def`; `seed` fixes their noise and waves.
    pub(crate) fn new(def: &MineDef, seed: u64) -> Points {
        let n = def.points.len();
        let profiles: Vec<Option<Profile>> = def
            .points
            .iter()
            .map(|p| {
                (!p.kind.is_switch()).then(|| {
                    profile(
                        p.kind,
                        p.location,
                        def.areas[p.area as usize].kind,
                        &p.limits,
                    )
                })
            })
            .collect();
        let order = upwind_order(def);
        let mut position = vec![0usize; n];
        for (i, &p) in order.iter().enumerate() {
            position[p] = i;
        }
        let sims = def
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let h = hash(seed, &[i as u64, crate::rng::hash_str(&p.id)]);
                let switch = match p.kind {
                    PointKind::Feed | PointKind::Fan => Some(1),
                    PointKind::Door | PointKind::Smoke => Some(0),
                    _ => None,
                };
                let prof = profiles[i].unwrap_or(Profile {
                    idle: 0.0,
                    cut: 0.0,
                    lo: 0.0,
                    hi: 0.0,
                    sd: 0.0,
                    tau_ms: 1.0,
                    wave: 0.0,
                    white: 0.0,
                    decimals: 0,
                });
                // A gap only when the upwind point really is computed first (cycles are cut).
                let gap = match (p.upwind, profiles[i].as_ref()) {
                    (Some(u), Some(own)) if position[u as usize] < position[i] => profiles
                        [u as usize]
                        .as_ref()
                        .map(|up| gap(p.kind, u as usize, own, up)),
                    _ => None,
                };
                // Wave periods of 9 to 17 minutes: several full waves in any 30-minute window.
                let wave_period_ms = 540_000 + (unit(hash(h, &[1])) * 480_000.0) as i64;
                PointSim {
                    switch,
                    prof,
                    gap,
                    wave_period_ms,
                    wave_phase_ms: (unit(hash(h, &[2])) * wave_period_ms as f64) as i64,
                    day_seed: hash(h, &[3]),
                    ar: 0.0,
                    limits: p.limits,
                    tripped: false,
                }
            })
            .collect();
        Points {
            sims,
            order,
            normal: vec![0.0; n],
            value: vec![0.0; n],
            status: vec![0; n],
            present: vec![true; n],
            held: vec![false; n],
            kept: vec![None; n],
            tape: Vec::new(),
            tape_at: 0,
            incoming: Vec::new(),
            started: false,
        }
    }

    /// Computes this tick's clean readings, then applies the active `Level` effects; the
    /// planners change the rest through [`Points::readings`] before [`Points::finish`].
    pub(crate) fn step(&mut self, def: &MineDef, step: Step, effects: &[Effect], rng: &mut Rng) {
        let Step {
            t,
            dt_ms,
            day,
            cutting,
        } = step;
        let first = !self.started;
        self.started = true;
        for &i in &self.order {
            let s = &mut self.sims[i];
            if let Some(v) = s.switch {
                self.normal[i] = f64::from(v);
                continue;
            }
            let (sd, wave) = match &s.gap {
                Some(g) => (g.sd, g.wave),
                None => (s.prof.sd, s.prof.wave),
            };
            if first {
                s.ar = sd * rng.normal();
            } else {
                let phi = (-(dt_ms.max(0) as f64) / s.prof.tau_ms).exp();
                s.ar = phi * s.ar + sd * (1.0 - phi * phi).sqrt() * rng.normal();
            }
            let phase = (t + s.wave_phase_ms).rem_euclid(s.wave_period_ms) as f64;
            let w = wave * (std::f64::consts::TAU * phase / s.wave_period_ms as f64).sin();
            let noise = s.ar + w + s.prof.white * rng.normal();
            let p = &s.prof;
            self.normal[i] = match &s.gap {
                Some(g) => {
                    let gap = soft_bound(g.idle + (g.cut - g.idle) * cutting + noise, g.lo, g.hi);
                    soft_bound(self.normal[g.up] + gap, p.lo, p.hi)
                }
                None => {
                    let day_factor = 0.85 + 0.3 * unit(hash(s.day_seed, &[day as u64]));
                    soft_bound(
                        p.idle + (p.cut - p.idle) * cutting * day_factor + noise,
                        p.lo,
                        p.hi,
                    )
                }
            };
        }
        self.apply(def, t, effects);
    }

    /// Applies the driven levels to the clean values.
    fn apply(&mut self, def: &MineDef, t: i64, effects: &[Effect]) {
        self.value.copy_from_slice(&self.normal);
        self.status.fill(0);
        self.present.fill(true);
        self.held.fill(false);
        let any_level = effects
            .iter()
            .any(|e| matches!(e, Effect::Level { .. }) && e.active(t));
        if any_level {
            for k in 0..self.order.len() {
                let i = self.order[k];
                if let Some(g) = &self.sims[i].gap {
                    let inherited = EXCESS_SHARE * (self.value[g.up] - self.normal[g.up]);
                    if inherited > 0.0 {
                        let cap = self.sims[i]
                            .limits
                            .alarm
                            .map_or(f64::INFINITY, |a| DOWNWIND_CAP * a);
                        let v = self.value[i] + inherited;
                        self.value[i] = if v > cap { self.value[i].max(cap) } else { v };
                    }
                }
                for e in effects {
                    if let Effect::Level {
                        point,
                        target,
                        hold_feeds,
                        ..
                    } = e
                        && *point == i
                        && e.active(t)
                    {
                        let w = e.weight(t);
                        self.value[i] += (target - self.value[i]) * w;
                        if *hold_feeds {
                            for &f in &def.points[i].feeds {
                                self.held[f as usize] = true;
                            }
                        }
                    }
                }
            }
        }
    }

    /// What the planners may change of this tick's readings, between [`Points::step`] and
    /// [`Points::finish`].
    pub(crate) fn readings(&mut self) -> Readings<'_> {
        Readings { points: self }
    }

    /// Derives statuses from this tick's values, and the feed readings.
    pub(crate) fn finish(&mut self, def: &MineDef) {
        for (i, s) in self.sims.iter_mut().enumerate() {
            if s.switch.is_some() {
                continue;
            }
            let v = self.value[i];
            let l = &s.limits;
            if l.alarm.is_some_and(|a| v >= a) || l.alarm_low.is_some_and(|a| v < a) {
                self.status[i] |= 1;
            }
            if let Some(po) = l.power_off {
                if v >= po {
                    self.status[i] |= 2;
                }
                let clear = l.restore.or(l.alarm).unwrap_or(po);
                s.tripped = if s.tripped { v >= clear } else { v >= po };
            }
        }
        for (f, dependents) in def.feed_dependents.iter().enumerate() {
            if dependents.is_empty() || self.held[f] {
                continue;
            }
            if dependents.iter().any(|&p| self.sims[p as usize].tripped) {
                self.value[f] = 0.0;
            }
        }
    }

    /// The clean range of analog point `i` (`None` for a switch point): its readings stay inside.
    pub(crate) fn range(&self, i: usize) -> Option<(f64, f64)> {
        let s = &self.sims[i];
        s.switch.is_none().then_some((s.prof.lo, s.prof.hi))
    }

    /// Whether any feed point of area `area` reads 0 (its circuits are de-energised).
    pub(crate) fn area_cut(&self, def: &MineDef, area: u32) -> bool {
        def.points
            .iter()
            .enumerate()
            .any(|(i, p)| p.kind == PointKind::Feed && p.area == area && self.value[i] < 0.5)
    }

    /// Appends the readings of this tick as JSON array elements (no brackets), comma-separated.
    pub(crate) fn push_readings(&self, def: &MineDef, out: &mut String) -> usize {
        let mut n = 0;
        for (i, p) in def.points.iter().enumerate() {
            if !self.present[i] {
                continue;
            }
            if n > 0 {
                out.push(',');
            }
            n += 1;
            out.push('{');
            push_str_field(out, "point", &p.id);
            out.push_str(",\"value\":");
            let s = &self.sims[i];
            if s.switch.is_some() {
                out.push(if self.value[i] >= 0.5 { '1' } else { '0' });
            } else {
                push_fixed(out, self.value[i], s.prof.decimals);
            }
            if self.status[i] != 0 {
                out.push_str(",\"status\":");
                crate::json::push_uint(out, u64::from(self.status[i]), 1);
            }
            out.push('}');
        }
        n
    }
}

/// This tick's readings as a planner may change them (`Planner::shape_safety`): values, presence,
/// status bits, and a value kept from tick to tick.
pub(crate) struct Readings<'a> {
    points: &'a mut Points,
}

impl Readings<'_> {
    /// The value of point `p` so far.
    pub(crate) fn value(&self, p: usize) -> f64 {
        self.points.value[p]
    }

    /// Sets the value of point `p`.
    pub(crate) fn set_value(&mut self, p: usize, v: f64) {
        self.points.value[p] = v;
    }

    /// Point `p` does not report this tick.
    pub(crate) fn silence(&mut self, p: usize) {
        self.points.present[p] = false;
    }

    /// Sets status bits of point `p` (4 calibration, 128 sensor fault...).
    pub(crate) fn add_status(&mut self, p: usize, bits: u32) {
        self.points.status[p] |= bits;
    }

    /// The current AR(1) noise of point `p` (of its gap, for a downwind point).
    pub(crate) fn noise(&self, p: usize) -> f64 {
        self.points.sims[p].ar
    }

    /// The decimals point `p` is printed with.
    pub(crate) fn decimals(&self, p: usize) -> u32 {
        self.points.sims[p].prof.decimals
    }

    /// The value kept for point `p` from tick to tick (none at first).
    pub(crate) fn kept(&mut self, p: usize) -> &mut Option<f64> {
        &mut self.points.kept[p]
    }

    /// How many points there are.
    pub(crate) fn len(&self) -> usize {
        self.points.value.len()
    }

    /// Appends this tick's clean values of every point to the tape.
    pub(crate) fn record(&mut self) {
        let p = &mut *self.points;
        p.tape.extend_from_slice(&p.normal);
    }

    /// Sets every point's value to the next tick recorded on the tape, from its start again after
    /// its end; `false` (nothing changed) when nothing was recorded.
    pub(crate) fn play(&mut self) -> bool {
        let p = &mut *self.points;
        let n = p.value.len();
        if n == 0 || p.tape.len() < n {
            return false;
        }
        let ticks = p.tape.len() / n;
        let k = p.tape_at % ticks;
        p.value.copy_from_slice(&p.tape[k * n..(k + 1) * n]);
        p.tape_at = k + 1;
        true
    }

    /// Value `k` of the other mine's values handed in for this tick, if any.
    pub(crate) fn incoming(&self, k: usize) -> Option<f64> {
        self.points.incoming.get(k).copied()
    }

    /// Forgets the tape.
    pub(crate) fn erase(&mut self) {
        let p = &mut *self.points;
        if !p.tape.is_empty() {
            p.tape = Vec::new();
            p.tape_at = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_bound_stays_inside_and_keeps_order() {
        for k in -400..400 {
            let v = soft_bound(f64::from(k) / 100.0, 0.2, 0.62);
            assert!((0.2..=0.62).contains(&v), "{v}");
        }
        // Within a few knees of the bounds it is strictly increasing: variation survives.
        let mut last = f64::NEG_INFINITY;
        for k in 0..=90 {
            let v = soft_bound(f64::from(k) / 100.0, 0.2, 0.62);
            assert!(v > 0.2 && v < 0.62 && v > last, "{v} at {k}");
            last = v;
        }
        assert_eq!(soft_bound(0.4, 0.2, 0.62), 0.4);
    }

    #[test]
    fn profiles_stay_below_seventy_percent_of_a_stricter_alarm_and_above_alarm_low() {
        let strict = Limits {
            alarm: Some(0.8),
            power_off: Some(1.5),
            restore: Some(0.8),
            ..Limits::default()
        };
        let p = profile(
            PointKind::Ch4,
            Some(Location::CoalFace),
            AreaKind::CoalFace,
            &strict,
        );
        assert!(
            p.hi <= 0.56 + 1e-12 && p.lo < p.idle && p.cut < p.hi,
            "{p:?}"
        );
        let o2 = Limits {
            alarm_low: Some(20.0),
            restore_low: Some(20.2),
            ..Limits::default()
        };
        let p = profile(PointKind::O2, None, AreaKind::IntakeAirway, &o2);
        assert!(p.lo >= 20.45 && p.hi <= 20.9, "{p:?}");
        let temp = Limits {
            alarm: Some(26.0),
            power_off: Some(30.0),
            ..Limits::default()
        };
        let p = profile(PointKind::Temperature, None, AreaKind::CoalFace, &temp);
        assert!(p.hi <= 24.0 && p.lo >= 18.0, "{p:?}");
    }
}
