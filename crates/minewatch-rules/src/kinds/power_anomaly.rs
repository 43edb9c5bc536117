//! `power_anomaly` — a meter's kW departs from its learned baseline for that hour of day by more
//! than `power_sigma` standard deviations for `power_anomaly_for` (30 min), once
//! `power_learning` (3 days) of data has been seen. Warning. Resolves when back inside. While
//! active, updated when the kW moves a tenth of the hour's baseline mean (the alert's limit; at
//! least 1 kW) from the value last published, either way, so the alert's value follows the meter.
//!
//! The baseline is 24 running means and variances (Welford) per meter, one per hour of day (UTC:
//! the pattern is the same whatever the offset). Readings are learned only while the meter is
//! inside its band, so an anomaly does not teach itself as normal. The deviation used is at least
//! 5 % of the mean (and 1 kW), so a very steady load does not alarm on noise.

use super::{KindRule, MineState};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::collections::HashMap;

crate::params! {
    /// Deviations from the hourly baseline.
    power_sigma: Number = 4.0, "standard deviations";
    /// How long the departure must last.
    power_anomaly_for: Duration = mins(30), "duration";
    /// How much data before judging.
    power_learning: Duration = hours(72), "duration";
}

/// What this kind keeps per meter.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The departure's condition.
    pub anomaly: Timed,
    /// The learned baseline (days of learning, kept across restarts in the snapshot).
    pub baseline: Option<Box<Baseline>>,
    /// The kW last published for the active alert (NaN: unknown, updated by the next reading).
    pub published: f32,
}

/// How far the kW must move from the value last published to update: a tenth of the baseline
/// mean, at least 1 kW (as the band's floor).
fn step_kw(mean: f64) -> f64 {
    (mean.abs() / 10.0).max(1.0)
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::PowerAnomaly;
    const SUBJECT: SubjectType = SubjectType::Meter;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "A meter's load departs from its learned baseline for that hour of day";
    const SNAPSHOT: &'static str = "meters";
    type Params = Params;
    crate::slots!(meter = Slot);

    fn on_meter(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, p, i, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.meter(&a.subject) else {
            return false;
        };
        let st = &mut m.meter_state[i as usize].kinds.power_anomaly;
        st.anomaly.restore(a.started_at.timestamp_millis());
        st.published = a.value.map_or(f32::NAN, |v| v as f32);
        true
    }

    fn snapshot(m: &MineState) -> Option<Value> {
        let meters: serde_json::Map<String, Value> = m
            .meter_state
            .iter()
            .enumerate()
            .filter_map(|(i, st)| {
                let b = st.kinds.power_anomaly.baseline.as_ref()?;
                let hours: Vec<Value> = b.hours.iter().map(|h| json!([h.n, h.mean, h.m2])).collect();
                Some((
                    m.def.meters[i].id.to_string(),
                    json!({"first": b.first, "hours": hours}),
                ))
            })
            .collect();
        Some(Value::Object(meters))
    }

    fn restore_snapshot(m: &mut MineState, json: &str) {
        // Each entry is read on its own, so one of the wrong shape costs only itself.
        #[derive(serde::Deserialize)]
        struct MeterSnap {
            first: Millis,
            hours: Vec<(u32, f64, f64)>,
        }
        let Ok(all) = serde_json::from_str::<HashMap<String, &serde_json::value::RawValue>>(json)
        else {
            return;
        };
        for (id, raw) in all {
            let Some(i) = m.def.meter(&id) else {
                continue;
            };
            let Ok(s) = serde_json::from_str::<MeterSnap>(raw.get()) else {
                continue;
            };
            let Ok(hours) = <[(u32, f64, f64); 24]>::try_from(s.hours) else {
                continue;
            };
            let b = Baseline {
                first: s.first,
                hours: hours.map(|(n, mean, m2)| Bucket { n, mean, m2 }),
            };
            m.meter_state[i as usize].kinds.power_anomaly.baseline = Some(Box::new(b));
        }
    }
}

/// Fewest readings in an hour's bucket before it is trusted.
const MIN_SAMPLES: u32 = 60;

/// One hour of day's running statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub n: u32,
    pub mean: f64,
    pub m2: f64,
}

impl Bucket {
    fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }
}

/// A meter's learned baseline.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub first: Millis,
    pub hours: [Bucket; 24],
}

fn hour(at: Millis) -> usize {
    (at.rem_euclid(86_400_000) / 3_600_000) as usize
}

/// Learns from and judges meter `i`'s reading at `at`.
fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    let st = &mut m.meter_state[i as usize];
    let kw = st.kw;
    let base = st.kinds.power_anomaly.baseline.get_or_insert_with(|| {
        Box::new(Baseline {
            first: at,
            hours: [Bucket::default(); 24],
        })
    });
    let b = base.hours[hour(at)];
    let learned = at - base.first >= p.power_learning && b.n >= MIN_SAMPLES;
    let band = p.power_sigma * b.std().max(b.mean.abs() * 0.05).max(1.0);
    let outside = learned && (kw - b.mean).abs() > band;
    if !outside && !st.kinds.power_anomaly.anomaly.active {
        base.hours[hour(at)].add(kw);
    }
    let step = st.kinds.power_anomaly.anomaly.step(outside, at, p.power_anomaly_for, 0);
    if let Some(d) = st.kinds.power_anomaly.anomaly.deadline(p.power_anomaly_for, 0) {
        m.due(d);
    }
    let slot = &mut m.meter_state[i as usize].kinds.power_anomaly;
    let published = f64::from(slot.published);
    let moved = published.is_nan() || (kw - published).abs() >= step_kw(b.mean);
    let (op, t) = match step {
        Step::Hold if slot.anomaly.active && moved => (ChangeOp::Update, at),
        Step::Hold => return,
        Step::Raise(t) => (ChangeOp::Raise, t),
        Step::Resolve(t) => (ChangeOp::Resolve, t),
    };
    slot.published = kw as f32;
    let meter = &m.def.meters[i as usize];
    let s = m.meter_subject(Kind::PowerAnomaly, i);
    let h = hour(at);
    let message = if op != ChangeOp::Resolve {
        format!(
            "Meter {} ({} load, {}) draws {kw:.1} kW against a usual {:.1} ± {:.1} kW for this hour, for {} min",
            meter.id,
            serde_json::to_value(meter.load)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            m.place(s.area_name),
            b.mean,
            b.std(),
            p.power_anomaly_for / 60_000
        )
    } else {
        format!(
            "Meter {} ({}) is back inside its usual range",
            meter.id,
            m.place(s.area_name)
        )
    };
    let evidence = json!({"kw": kw, "hour_utc": h, "baseline_mean": b.mean, "baseline_std": b.std(), "samples": b.n,
        "sigma": p.power_sigma, "deviations": if b.std() > 0.0 { (kw - b.mean).abs() / b.std() } else { 0.0 }, "load": meter.load});
    out.push(m.change(
        op,
        s,
        Severity::Warning,
        message,
        Some(kw),
        Some(b.mean),
        t,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::Kind;

    fn usual(s: i64) -> f64 {
        200.0 + ((s / 10) % 7) as f64
    }

    #[test]
    fn a_load_far_from_its_hourly_baseline_for_half_an_hour_warns_after_three_days_of_learning() {
        let mut m = mine();
        let mut all = Vec::new();
        for s in (0..3 * 86_400).step_by(60) {
            all.extend(power(&mut m, at(s), &[("MF", usual(s))]));
        }
        assert!(
            ops(&all, Kind::PowerAnomaly).is_empty(),
            "nothing while learning"
        );
        let start = 3 * 86_400;
        let mut all = Vec::new();
        for s in (start..start + 1790).step_by(10) {
            all.extend(power(&mut m, at(s), &[("MF", 600.0)]));
        }
        assert!(
            ops(&all, Kind::PowerAnomaly).is_empty(),
            "not before 30 min"
        );
        let c = power(&mut m, at(start + 1800), &[("MF", 600.0)]);
        assert_eq!(ops(&c, Kind::PowerAnomaly), vec![("raise", "MF".into())]);
        let c = power(&mut m, at(start + 1810), &[("MF", usual(start))]);
        assert_eq!(ops(&c, Kind::PowerAnomaly), vec![("resolve", "MF".into())]);
    }

    #[test]
    fn an_active_alerts_kw_follows_the_meter_by_a_tenth_of_the_baseline_mean() {
        let mut m = mine();
        for s in (0..3 * 86_400).step_by(60) {
            power(&mut m, at(s), &[("MF", usual(s))]);
        }
        let start = 3 * 86_400;
        for s in (start..start + 1800).step_by(10) {
            power(&mut m, at(s), &[("MF", 600.0)]);
        }
        let c = power(&mut m, at(start + 1800), &[("MF", 600.0)]);
        assert_eq!(ops(&c, Kind::PowerAnomaly), vec![("raise", "MF".into())]);
        let mean = c[0].limit.unwrap_or(0.0);
        assert!((200.0..207.0).contains(&mean), "{mean}");
        // A tenth of the mean (about 20 kW): 19 kW up is quiet, 21 kW up updates.
        let c = power(&mut m, at(start + 1810), &[("MF", 619.0)]);
        assert!(ops(&c, Kind::PowerAnomaly).is_empty());
        let c = power(&mut m, at(start + 1820), &[("MF", 621.0)]);
        assert_eq!(ops(&c, Kind::PowerAnomaly), vec![("update", "MF".into())]);
        assert_eq!(c[0].value, Some(621.0));
        assert!(c[0].message.contains("621.0 kW"), "{}", c[0].message);
        let c = power(&mut m, at(start + 1830), &[("MF", usual(start))]);
        assert_eq!(ops(&c, Kind::PowerAnomaly), vec![("resolve", "MF".into())]);
    }

    #[test]
    fn a_snapshot_entry_of_the_wrong_shape_costs_only_itself() {
        let mut m = mine();
        for s in (0..86_400).step_by(600) {
            power(&mut m, at(s), &[("MF", usual(s)), ("MH", 50.0)]);
        }
        let mut snap = m.snapshot();
        let good = snap["meters"]["MF"].clone();
        snap["meters"]["MH"]["hours"] = serde_json::json!([[1, 2.0]]);
        snap["calibrations"] = serde_json::json!({"P1": [5, 7], "NOPE": [1], "P2": "x"});
        let mut fresh = mine();
        fresh
            .restore_snapshot(&snap.to_string())
            .expect("the snapshot as a whole is readable");
        // MF as it was (serde_json reads long floats to within an ulp), MH dropped.
        let back = fresh.snapshot()["meters"].clone();
        let metres: Vec<&String> = back
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(metres, vec!["MF"]);
        assert_eq!(back["MF"]["first"], good["first"]);
        for (a, b) in back["MF"]["hours"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(good["hours"].as_array().into_iter().flatten())
        {
            assert_eq!(a[0], b[0]);
            let (x, y) = (
                a[1].as_f64().unwrap_or(f64::NAN),
                b[1].as_f64().unwrap_or(0.0),
            );
            assert!((x - y).abs() <= 1e-9 * y.abs(), "{a} {b}");
        }
        let p1 = fresh.def.point("P1").expect("P1");
        assert_eq!(fresh.kinds.calibration_abuse.get(&p1), Some(&vec![5, 7]));
        assert_eq!(fresh.kinds.calibration_abuse.len(), 1);
        assert!(
            fresh.restore_snapshot("{\"meters\":{}}").is_err(),
            "no version"
        );
    }

    #[test]
    fn learned_baselines_survive_a_snapshot_and_restore() {
        let mut m = mine();
        for s in (0..3 * 86_400).step_by(60) {
            power(&mut m, at(s), &[("MF", usual(s))]);
        }
        let snap = m.snapshot();
        let mut fresh = mine();
        fresh
            .restore_snapshot(&snap.to_string())
            .expect("round trip");
        let start = 3 * 86_400;
        let mut all = Vec::new();
        for s in (start..=start + 1800).step_by(10) {
            all.extend(power(&mut fresh, at(s), &[("MF", 600.0)]));
        }
        assert_eq!(
            ops(&all, Kind::PowerAnomaly),
            vec![("raise", "MF".into())],
            "no relearning after a restart"
        );
    }

    #[test]
    fn a_load_that_anomalous_during_learning_is_never_flagged() {
        let mut m = mine();
        for s in (0..86_400).step_by(60) {
            assert!(
                ops(
                    &power(
                        &mut m,
                        at(s),
                        &[("MF", if s % 7200 < 3600 { 900.0 } else { 100.0 })]
                    ),
                    Kind::PowerAnomaly
                )
                .is_empty()
            );
        }
    }
}
