//! Each injected anomaly must produce, in decoded telemetry, what it promises — and nothing that
//! would raise a second, unrelated alert (no neighbour mismatch, no downwind point at alarm).

mod common;

use common::{decode_clean, example_mines, ms};
use minewatch_core::MineDef;
use minewatch_core::payload::Items;
use minewatch_sim::{Anomaly, Sim, SimConfig};
use std::collections::HashMap;
use std::sync::Arc;

const TICK: i64 = 10_000;
const MINE: &str = "140100001";

/// Per tick of one mine: time, and point id -> (value, status).
type Timeline = Vec<(i64, HashMap<String, (f64, u32)>)>;

/// Runs `sim` from `start` for `ticks` and keeps the decoded safety readings of `mine`.
fn run(sim: &mut Sim, mine: &str, start: i64, ticks: i64) -> Timeline {
    let mut out = Vec::new();
    for k in 0..ticks {
        let t = start + k * TICK;
        for m in sim.tick(t) {
            let (id, _, batch) = decode_clean(&m);
            if id != mine {
                continue;
            }
            if let Items::Safety(r) = &batch.items {
                out.push((
                    t,
                    r.iter()
                        .map(|r| (r.point.to_string(), (r.value, r.status)))
                        .collect(),
                ));
            }
        }
    }
    out
}

/// The longest stretch of consecutive ticks where `cond` holds: (first, last) times.
fn longest(
    tl: &Timeline,
    cond: impl Fn(&HashMap<String, (f64, u32)>) -> bool,
) -> Option<(i64, i64)> {
    let mut best: Option<(i64, i64)> = None;
    let mut run: Option<(i64, i64)> = None;
    for (t, r) in tl {
        run = if cond(r) {
            Some((run.map_or(*t, |(s, _)| s), *t))
        } else {
            None
        };
        if let Some((s, e)) = run {
            if best.is_none_or(|(bs, be)| e - s > be - bs) {
                best = Some((s, e));
            }
        }
    }
    best
}

fn value(r: &HashMap<String, (f64, u32)>, p: &str) -> f64 {
    r.get(p).map_or(f64::NAN, |x| x.0)
}

fn example() -> (Vec<Arc<MineDef>>, Arc<MineDef>) {
    let mines = example_mines();
    let def = mines
        .iter()
        .find(|m| &*m.id == MINE)
        .expect("example mine")
        .clone();
    (mines, def)
}

/// No neighbour pair involving `p` differs by 0.8 or more for 5 minutes or longer, and no
/// neighbour of `p` reaches its own alarm.
fn assert_neighbours_stay_quiet(def: &MineDef, tl: &Timeline, p: &str) {
    let i = def.point(p).expect("point") as usize;
    let mut pairs = Vec::new();
    if let Some(u) = def.points[i].upwind {
        pairs.push((p.to_string(), def.points[u as usize].id.to_string()));
    }
    for &d in &def.downwind[i] {
        let down = &def.points[d as usize];
        pairs.push((down.id.to_string(), p.to_string()));
        let alarm = down.limits.alarm.unwrap_or(f64::INFINITY);
        assert!(
            tl.iter().all(|(_, r)| value(r, &down.id) < alarm),
            "downwind {} reached its alarm",
            down.id
        );
    }
    for (a, b) in pairs {
        if let Some((s, e)) = longest(tl, |r| (value(r, &a) - value(r, &b)).abs() >= 0.8) {
            assert!(
                e - s < 270_000,
                "{a} and {b} differ by >= 0.8 for {} s",
                (e - s) / 1000
            );
        }
    }
}

#[test]
fn a_power_off_failure_holds_methane_at_power_off_with_its_feeds_energised_then_clears() {
    let (mines, def) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T10:00:00+08:00");
    let at = start + 10 * 60_000;
    sim.inject(MINE, Anomaly::PowerOffFailure { point: None }, at)
        .expect("injects");
    let (_, name, subject, when) = sim.injected()[0].clone();
    assert_eq!((name, when), ("power_off_failure", at));
    let i = def.point(&subject).expect("subject is a point") as usize;
    let p = &def.points[i];
    assert!(!p.feeds.is_empty(), "the picked point has feeds");
    let power_off = p.limits.power_off.expect("power-off level");
    let restore = p.limits.restore.expect("restore");
    let feeds: Vec<String> = p
        .feeds
        .iter()
        .map(|&f| def.points[f as usize].id.to_string())
        .collect();

    let tl = run(&mut sim, MINE, start, 30 * 6);
    let (s, e) = longest(&tl, |r| {
        value(r, &subject) >= power_off && feeds.iter().all(|f| value(r, f) == 1.0)
    })
    .expect("at power-off with feeds on");
    assert!(
        e - s >= 150_000,
        "only {} s at power-off with feeds energised",
        (e - s) / 1000
    );
    assert!(
        s > at && s <= at + 130_000,
        "reached power-off {} s after the start",
        (s - at) / 1000
    );
    // Before and well after: clean, below restore.
    let end = at + Anomaly::PowerOffFailure { point: None }.duration_ms();
    for (t, r) in &tl {
        if *t < at || *t >= end {
            assert!(
                value(r, &subject) < restore,
                "{subject} = {} at {t}",
                value(r, &subject)
            );
        }
    }
    // The readings carry the alarm and power-off status bits while at power-off, never a fault.
    assert!(tl.iter().any(|(_, r)| r[&subject].1 == 3));
    assert!(tl.iter().all(|(_, r)| r.values().all(|x| x.1 & 128 == 0)));
    assert_neighbours_stay_quiet(&def, &tl, &subject);
}

#[test]
fn an_over_limit_passes_the_alarm_without_power_off_then_returns() {
    let (mines, def) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T18:00:00+08:00");
    let at = start + 5 * 60_000;
    sim.inject(
        MINE,
        Anomaly::OverLimit {
            point: Some("P0201".into()),
        },
        at,
    )
    .expect("P0201 has an alarm");
    sim.inject(MINE, Anomaly::OverLimit { point: None }, at + 20 * 60_000)
        .expect("picked");
    let subjects: Vec<String> = sim.injected().iter().map(|x| x.2.clone()).collect();
    assert_eq!(subjects[0], "P0201");
    let tl = run(&mut sim, MINE, start, 50 * 6);
    for subject in &subjects {
        let p = &def.points[def.point(subject).expect("point") as usize];
        let alarm = p.limits.alarm.expect("alarm");
        let (s, e) = longest(&tl, |r| value(r, subject) >= alarm).expect("over the alarm");
        assert!(
            e - s >= 150_000,
            "{subject} over its alarm for only {} s",
            (e - s) / 1000
        );
        let power_off = p.limits.power_off.unwrap_or(f64::INFINITY);
        assert!(
            tl.iter().all(|(_, r)| value(r, subject) < power_off),
            "{subject} reached power-off"
        );
        // Feeds behave: nothing reached power-off, so nothing was cut.
        for &f in &p.feeds {
            assert!(
                tl.iter()
                    .all(|(_, r)| value(r, &def.points[f as usize].id) == 1.0)
            );
        }
        assert!(value(&tl[tl.len() - 1].1, subject) < p.limits.restore.unwrap_or(alarm));
        assert_neighbours_stay_quiet(&def, &tl, subject);
    }
    // P0201's stricter 0.8 alarm is crossed, well below its 1.5 power-off.
    let peak = tl
        .iter()
        .map(|(_, r)| value(r, "P0201"))
        .fold(0.0, f64::max);
    assert!((0.8..1.5).contains(&peak), "peak {peak}");
}

#[test]
fn an_over_limit_at_a_point_whose_alarm_is_its_power_off_cuts_the_feeds_while_there() {
    let (mines, def) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T18:00:00+08:00");
    sim.inject(
        MINE,
        Anomaly::OverLimit {
            point: Some("P0104".into()),
        },
        start + 60_000,
    )
    .expect("injects");
    let tl = run(&mut sim, MINE, start, 12 * 6);
    let p = &def.points[def.point("P0104").expect("P0104") as usize];
    let power_off = p.limits.power_off.expect("power-off");
    let feeds: Vec<&str> = p
        .feeds
        .iter()
        .map(|&f| &*def.points[f as usize].id)
        .collect();
    let mut at_power_off = 0;
    for (t, r) in &tl {
        let high = value(r, "P0104") >= power_off;
        at_power_off += usize::from(high);
        for f in &feeds {
            assert_eq!(
                value(r, f) == 0.0,
                high,
                "{f} at {t} with P0104 = {}",
                value(r, "P0104")
            );
        }
    }
    assert!(at_power_off >= 15, "{at_power_off} ticks at power-off");
}

#[test]
fn a_silent_point_is_absent_for_longer_than_point_silent_then_reports_again() {
    let (mines, def) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T02:00:00+08:00");
    sim.inject(
        MINE,
        Anomaly::PointSilent {
            point: Some("P0105".into()),
        },
        start + 60_000,
    )
    .expect("injects");
    sim.inject(MINE, Anomaly::PointSilent { point: None }, start + 60_000)
        .expect("picked");
    let tl = run(&mut sim, MINE, start, 10 * 6);
    for subject in sim.injected().iter().map(|x| x.2.clone()) {
        let (s, e) = longest(&tl, |r| !r.contains_key(&subject)).expect("absent");
        let last_before = tl
            .iter()
            .rev()
            .find(|(t, r)| *t < s && r.contains_key(&subject))
            .map(|x| x.0);
        let first_after = tl
            .iter()
            .find(|(t, r)| *t > e && r.contains_key(&subject))
            .map(|x| x.0);
        let (Some(b), Some(a)) = (last_before, first_after) else {
            panic!("{subject} never resumed")
        };
        assert!(
            a - b > 120_000 + TICK,
            "{subject} silent for only {} s",
            (a - b) / 1000
        );
        // Every other point kept reporting.
        assert!(tl.iter().all(|(_, r)| r.len() >= def.points.len() - 2));
    }
}

#[test]
fn a_faulty_sensor_reports_status_128_for_longer_than_fault_after_then_clears() {
    let (mines, _) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T02:00:00+08:00");
    sim.inject(MINE, Anomaly::SensorFault { point: None }, start + 60_000)
        .expect("injects");
    let subject = sim.injected()[0].2.clone();
    let tl = run(&mut sim, MINE, start, 8 * 6);
    let (s, e) =
        longest(&tl, |r| r.get(&subject).is_some_and(|x| x.1 & 128 != 0)).expect("faulted");
    assert!(
        e - s > 60_000 + TICK,
        "faulted for only {} s",
        (e - s) / 1000
    );
    assert_eq!(tl[tl.len() - 1].1[&subject].1, 0, "status clean again");
    assert_eq!(tl[0].1[&subject].1, 0, "clean before");
}

#[test]
fn an_unregistered_device_reports_an_id_the_registry_does_not_define_for_two_minutes() {
    let (mines, def) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let start = ms("2026-11-23T02:00:00+08:00");
    sim.inject(
        MINE,
        Anomaly::UnregisteredDevice { point: None },
        start + 30_000,
    )
    .expect("injects");
    let id = sim.injected()[0].2.clone();
    assert_eq!(id, "X9001");
    assert!(def.point(&id).is_none());
    let tl = run(&mut sim, MINE, start, 5 * 6);
    let (s, e) = longest(&tl, |r| r.contains_key(&id)).expect("reports");
    assert!(
        (100_000..=120_000).contains(&(e - s)),
        "{} s",
        (e - s) / 1000
    );
    assert_eq!(tl.iter().filter(|(_, r)| r.contains_key(&id)).count(), 12);
}

#[test]
fn injections_that_do_not_fit_are_refused_with_a_reason() {
    let (mines, _) = example();
    let mut sim = Sim::new(mines, SimConfig::default());
    let t = ms("2026-11-23T02:00:00+08:00");
    let err = |r: Result<(), String>| r.expect_err("refused");
    assert!(err(sim.inject("999", Anomaly::OverLimit { point: None }, t)).contains("999"));
    assert!(
        err(sim.inject(
            MINE,
            Anomaly::PowerOffFailure {
                point: Some("F0150".into())
            },
            t
        ))
        .contains("F0150")
    );
    assert!(
        err(sim.inject(
            MINE,
            Anomaly::PowerOffFailure {
                point: Some("P0700".into())
            },
            t
        ))
        .contains("P0700")
    );
    assert!(
        err(sim.inject(
            MINE,
            Anomaly::PointSilent {
                point: Some("P9999".into())
            },
            t
        ))
        .contains("P9999")
    );
    assert!(
        err(sim.inject(
            MINE,
            Anomaly::UnregisteredDevice {
                point: Some("P0101".into())
            },
            t
        ))
        .contains("P0101")
    );
    assert!(
        err(sim.inject(
            MINE,
            Anomaly::OverLimit {
                point: Some("F0150".into())
            },
            t
        ))
        .contains("F0150")
    );
    assert!(sim.injected().is_empty());
}

#[test]
fn automatic_anomalies_rotate_kinds_then_mines_every_period() {
    let mines = example_mines();
    let ids: Vec<String> = mines.iter().map(|m| m.id.to_string()).collect();
    let cfg = SimConfig {
        anomalies: true,
        anomaly_every_ms: 600_000,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(mines, cfg);
    let start = ms("2026-11-23T09:00:00+08:00");
    for k in 0..(95 * 6) {
        let messages = sim.tick(start + k * TICK);
        for m in &messages {
            decode_clean(m);
        }
    }
    let got: Vec<(&str, &str, i64)> = sim
        .injected()
        .iter()
        .map(|(m, k, _, at)| (m.as_str(), *k, (at - start) / 60_000))
        .collect();
    let kinds = [
        "power_off_failure",
        "point_silent",
        "sensor_fault",
        "over_limit",
    ];
    assert_eq!(got.len(), 10, "{got:?}");
    for (n, (mine, kind, minute)) in got.iter().enumerate() {
        assert_eq!(*kind, kinds[n % 4]);
        assert_eq!(*mine, ids[(n / 4) % ids.len()]);
        assert_eq!(*minute, 1 + 10 * n as i64);
    }
    // Subjects rotate too: the first four anomalies on a mine hit different points.
    let subjects: std::collections::HashSet<&str> =
        sim.injected()[..4].iter().map(|x| x.2.as_str()).collect();
    assert_eq!(subjects.len(), 4);
}

#[test]
fn a_hand_injected_anomaly_before_the_first_tick_delays_the_automatic_schedule_by_a_period() {
    let (mines, _) = example();
    let cfg = SimConfig {
        anomalies: true,
        anomaly_every_ms: 600_000,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(mines, cfg);
    let start = ms("2026-11-23T09:00:00+08:00");
    sim.inject(
        MINE,
        Anomaly::PowerOffFailure { point: None },
        start + 20_000,
    )
    .expect("injects");
    for k in 0..(25 * 6) {
        sim.tick(start + k * TICK);
    }
    let got: Vec<(&str, i64)> = sim
        .injected()
        .iter()
        .map(|(_, k, _, at)| (*k, (at - start) / 1000))
        .collect();
    assert_eq!(
        got,
        [
            ("power_off_failure", 20),
            ("power_off_failure", 600),
            ("point_silent", 1200)
        ]
    );
    // The second power-off failure picks another point.
    assert_ne!(sim.injected()[0].2, sim.injected()[1].2);
}
