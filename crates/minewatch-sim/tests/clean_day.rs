//! A day of clean simulated data from the example registry must decode without a rejection and
//! give the rules engine nothing to raise: values inside limits, no flat methane, neighbours close,
//! crews within quotas with a leader down, cameras ok, sealed areas idle, explosives only where
//! declared.

mod common;

use common::{decode_clean, example_mines, ms};
use minewatch_core::MineDef;
use minewatch_core::payload::{Items, System};
use minewatch_core::registry::{AreaKind, PointKind};
use minewatch_sim::{Sim, SimConfig};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

const TICK: i64 = 10_000;
const DAY_TICKS: usize = 8640;
/// 30 minutes of 10 s ticks.
const FLAT_WINDOW: usize = 180;

/// What a day of one mine's data looked like.
#[derive(Default)]
struct MineLog {
    /// Per point: the value of every tick.
    series: Vec<Vec<f64>>,
    /// Tag -> (underground, area, leader, down_at), as last reported.
    tags: HashMap<String, (bool, Option<u32>, bool, Option<i64>)>,
    max_underground: u32,
    ticks_with_people: usize,
    explosives_batches: usize,
    issues: usize,
}

/// The smallest max-min over any window of `w` consecutive values.
fn min_window_range(v: &[f64], w: usize) -> f64 {
    let (mut lo, mut hi): (VecDeque<usize>, VecDeque<usize>) = (VecDeque::new(), VecDeque::new());
    let mut best = f64::INFINITY;
    for i in 0..v.len() {
        while lo.back().is_some_and(|&j| v[j] >= v[i]) {
            lo.pop_back();
        }
        lo.push_back(i);
        while hi.back().is_some_and(|&j| v[j] <= v[i]) {
            hi.pop_back();
        }
        hi.push_back(i);
        while lo.front().is_some_and(|&j| j + w <= i) {
            lo.pop_front();
        }
        while hi.front().is_some_and(|&j| j + w <= i) {
            hi.pop_front();
        }
        if i + 1 >= w
            && let (Some(&a), Some(&b)) = (lo.front(), hi.front())
        {
            best = best.min(v[b] - v[a]);
        }
    }
    best
}

/// Checks one safety batch against the registry limits and records the values.
fn check_safety(
    def: &MineDef,
    log: &mut MineLog,
    readings: &[minewatch_core::payload::Reading<'_>],
) {
    assert_eq!(
        readings.len(),
        def.points.len(),
        "every point reports every tick"
    );
    let mut tick = vec![f64::NAN; def.points.len()];
    for r in readings {
        let i = def
            .point(&r.point)
            .unwrap_or_else(|| panic!("{} is not registered", &r.point)) as usize;
        let p = &def.points[i];
        assert_eq!(r.status, 0, "{} status in clean data", &r.point);
        let v = r.value;
        match p.kind {
            PointKind::Feed | PointKind::Fan => assert_eq!(v, 1.0, "{}", &r.point),
            PointKind::Door | PointKind::Smoke => assert_eq!(v, 0.0, "{}", &r.point),
            kind => {
                if let Some(a) = p.limits.alarm {
                    let cap = if kind == PointKind::Temperature {
                        a - 2.0
                    } else {
                        0.7 * a
                    };
                    // Printed values are rounded: allow half a unit of the last decimal.
                    assert!(
                        v <= cap + 0.005,
                        "{} = {v} not below 70% of alarm {a}",
                        r.point
                    );
                }
                if let Some(low) = p.limits.alarm_low {
                    assert!(
                        v > p.limits.restore_low.unwrap_or(low),
                        "{} = {v} not above {low}",
                        r.point
                    );
                }
                let (lo, hi) = match kind {
                    PointKind::Co => (0.0, 8.0),
                    PointKind::O2 => (20.5, 20.9),
                    PointKind::Co2 => (0.05, 0.3),
                    PointKind::Temperature => (18.0, 24.0),
                    PointKind::AirSpeed
                        if matches!(
                            def.point_area(i as u32).kind,
                            AreaKind::CoalFace | AreaKind::Heading
                        ) =>
                    {
                        (1.0, 2.5)
                    }
                    PointKind::AirSpeed => (2.0, 6.0),
                    PointKind::Dust => (1.0, 8.0),
                    PointKind::Pressure => (1800.0, 2600.0),
                    _ => (0.0, 2.0),
                };
                assert!(
                    v >= lo && v <= hi,
                    "{} = {v} outside the realistic {lo}..{hi}",
                    r.point
                );
            }
        }
        tick[i] = v;
    }
    for (i, p) in def.points.iter().enumerate() {
        if let (Some(u), PointKind::Ch4) = (p.upwind, p.kind) {
            let gap = tick[i] - tick[u as usize];
            assert!(
                gap > -0.02 && gap < 0.4,
                "{} is {gap} above its upwind",
                p.id
            );
        }
        log.series[i].push(tick[i]);
    }
}

/// Applies one personnel batch and checks the people rules.
fn check_people(
    def: &MineDef,
    log: &mut MineLog,
    t: i64,
    tags: &[minewatch_core::payload::TagObs<'_>],
) {
    for o in tags {
        assert!(!o.distress);
        let area = o.area.as_deref().map(|a| {
            def.area(a)
                .unwrap_or_else(|| panic!("{a} is not registered"))
        });
        assert!(
            area.is_some() || !o.underground,
            "{} underground without an area",
            o.tag
        );
        let state = (o.underground, area, o.leader, o.down_at);
        match log.tags.get_mut(&*o.tag) {
            Some(s) => *s = state,
            None => {
                log.tags.insert(o.tag.to_string(), state);
            }
        }
    }
    let mut per_area = vec![0u32; def.areas.len()];
    let (mut total, mut leaders) = (0u32, 0u32);
    let limit = ((def.shift_hours + 2.0) * 3_600_000.0) as i64;
    for (tag, (underground, area, leader, down_at)) in &log.tags {
        if !underground {
            continue;
        }
        total += 1;
        leaders += u32::from(*leader);
        if let Some(a) = area {
            per_area[*a as usize] += 1;
        }
        let down = down_at.unwrap_or_else(|| panic!("{tag} has no down_at"));
        assert!(down <= t, "{tag} went down in the future");
        assert!(
            t - down < limit,
            "{tag} underground for {} min: overtime",
            (t - down) / 60_000
        );
    }
    for (a, &n) in def.areas.iter().zip(&per_area) {
        if n == 0 {
            continue;
        }
        assert!(
            !matches!(
                a.kind,
                AreaKind::Sealed | AreaKind::Restricted | AreaKind::Wellhead | AreaKind::Surface
            ),
            "{n} people underground in {} ({:?})",
            a.id,
            a.kind
        );
        assert!(a.declared, "people in undeclared {}", a.id);
        if let Some(q) = a.quota {
            assert!(n <= q, "{n} people in {}, quota {q}", a.id);
        }
    }
    assert!(
        total <= def.max_underground,
        "{total} underground, max {}",
        def.max_underground
    );
    if total > 0 {
        assert!(leaders > 0, "{total} underground with no leader at {t}");
        log.ticks_with_people += 1;
    }
    log.max_underground = log.max_underground.max(total);
}

#[test]
fn a_clean_day_decodes_without_rejection_and_gives_no_rule_anything_to_raise() {
    let mines = example_mines();
    let defs: HashMap<String, Arc<MineDef>> = mines
        .iter()
        .map(|m| (m.id.to_string(), m.clone()))
        .collect();
    let mut logs: HashMap<String, MineLog> = mines
        .iter()
        .map(|m| {
            let log = MineLog {
                series: vec![Vec::with_capacity(DAY_TICKS); m.points.len()],
                ..MineLog::default()
            };
            (m.id.to_string(), log)
        })
        .collect();
    let mut sim = Sim::new(
        mines.clone(),
        SimConfig {
            seed: 2026,
            ..SimConfig::default()
        },
    );
    // Start mid-shift, so the first tick already has a crew down and cutting under way.
    let start = ms("2026-11-23T05:07:00+08:00");
    let began = Instant::now();
    let mut sim_time = std::time::Duration::ZERO;
    for k in 0..DAY_TICKS {
        let t = start + k as i64 * TICK;
        let before = Instant::now();
        let messages = sim.tick(t);
        sim_time += before.elapsed();
        let mut seen = [0usize; 5];
        for m in &messages {
            let (mine, system, batch) = decode_clean(m);
            assert_eq!(batch.ts, t, "{}", m.topic);
            seen[system.index()] += 1;
            let def = &defs[&mine];
            let log = logs
                .get_mut(&mine)
                .unwrap_or_else(|| panic!("unknown mine {mine}"));
            match &batch.items {
                Items::Safety(r) => check_safety(def, log, r),
                Items::Personnel(tags) => check_people(def, log, t, tags),
                Items::Video(cams) => {
                    assert_eq!(cams.len(), def.cameras.len());
                    for c in cams {
                        assert!(def.camera(&c.camera).is_some());
                        assert_eq!(c.state, minewatch_core::payload::CameraState::Ok);
                        assert!(c.events.is_empty());
                    }
                }
                Items::Power(meters) => {
                    assert_eq!(meters.len(), def.meters.len());
                    for o in meters {
                        let m = &def.meters[def
                            .meter(&o.meter)
                            .unwrap_or_else(|| panic!("{}", &o.meter))
                            as usize];
                        let area = &def.areas[m.area as usize];
                        if matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted)
                            || !area.declared
                        {
                            assert!(
                                o.kw <= m.idle_kw,
                                "{} draws {} kW in sealed {}",
                                o.meter,
                                o.kw,
                                area.id
                            );
                        }
                        assert!(o.kw >= 0.0 && o.kw <= 950.0, "{} = {} kW", o.meter, o.kw);
                    }
                }
                Items::Explosives(issues) => {
                    assert!(!issues.is_empty());
                    log.explosives_batches += 1;
                    for i in issues {
                        let a = &def.areas
                            [def.area(&i.area).unwrap_or_else(|| panic!("{}", &i.area)) as usize];
                        assert!(
                            a.declared && matches!(a.kind, AreaKind::CoalFace | AreaKind::Heading),
                            "{}",
                            a.id
                        );
                        assert!(i.kg > 0.0 && i.detonators > 0);
                        log.issues += 1;
                    }
                }
            }
        }
        assert_eq!(
            &seen[..4],
            &[mines.len(); 4],
            "four batches per mine every tick"
        );
    }
    eprintln!(
        "{} ticks of {} mines: {:?} in tick(), {:?} with decoding and checks",
        DAY_TICKS,
        mines.len(),
        sim_time,
        began.elapsed()
    );

    for def in &mines {
        let log = &logs[&*def.id];
        // Two production shifts start within the day: one issue batch each.
        assert_eq!(log.explosives_batches, 2, "{}", def.id);
        assert!(log.issues >= 2);
        assert!(
            log.ticks_with_people > DAY_TICKS * 9 / 10,
            "{}: people down most of the day",
            def.id
        );
        assert!(
            log.max_underground <= def.max_underground / 2,
            "{}: {}",
            def.id,
            log.max_underground
        );
        for (i, p) in def.points.iter().enumerate() {
            let s = &log.series[i];
            assert_eq!(s.len(), DAY_TICKS);
            if p.kind != PointKind::Ch4 {
                continue;
            }
            let flat = min_window_range(s, FLAT_WINDOW);
            assert!(
                flat >= 0.005,
                "{} varies only {flat} over some 30 min",
                p.id
            );
            let step = s
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f64::max);
            assert!(step < 0.1, "{} jumps {step} between ticks", p.id);
        }
    }

    // Methane at a face follows production: higher while cutting (09:00-13:00) than in the
    // maintenance shift (17:00-23:00).
    let def = &mines[0];
    let face = def.point("P0101").expect("example face point") as usize;
    let mean = |from: &str, to: &str| {
        let (a, b) = (
            ((ms(from) - start) / TICK) as usize,
            ((ms(to) - start) / TICK) as usize,
        );
        let s = &logs[&*def.id].series[face][a..b];
        s.iter().sum::<f64>() / s.len() as f64
    };
    let cutting = mean("2026-11-23T09:00:00+08:00", "2026-11-23T13:00:00+08:00");
    let maintenance = mean("2026-11-23T17:00:00+08:00", "2026-11-23T23:00:00+08:00");
    assert!(
        cutting > maintenance + 0.03,
        "cutting {cutting} vs maintenance {maintenance}"
    );
}

#[test]
fn other_seeds_keep_methane_inside_limits_varying_and_close_to_its_neighbours() {
    let mines = example_mines();
    let start = ms("2026-11-24T00:00:00+08:00");
    for seed in [1, 99, 123_456_789] {
        let mut sim = Sim::new(
            mines.clone(),
            SimConfig {
                seed,
                ..SimConfig::default()
            },
        );
        let mut logs: Vec<MineLog> = mines
            .iter()
            .map(|m| MineLog {
                series: vec![Vec::new(); m.points.len()],
                ..MineLog::default()
            })
            .collect();
        for k in 0..DAY_TICKS / 2 {
            for m in sim.tick(start + k as i64 * TICK) {
                if !m.topic.ends_with("/safety") {
                    continue;
                }
                let (mine, system, batch) = decode_clean(&m);
                assert_eq!(system, System::Safety);
                let i = mines
                    .iter()
                    .position(|d| *d.id == *mine)
                    .expect("simulated mine");
                if let Items::Safety(r) = &batch.items {
                    check_safety(&mines[i], &mut logs[i], r);
                }
            }
        }
        for (def, log) in mines.iter().zip(&logs) {
            for (i, p) in def.points.iter().enumerate() {
                if p.kind == PointKind::Ch4 {
                    let flat = min_window_range(&log.series[i], FLAT_WINDOW);
                    assert!(flat >= 0.005, "seed {seed}: {} varies only {flat}", p.id);
                }
            }
        }
    }
}

#[test]
fn the_same_seed_gives_identical_output_and_another_seed_does_not() {
    let mines = example_mines();
    let start = ms("2026-11-23T07:50:00+08:00");
    let run = |seed: u64| {
        let mut sim = Sim::new(
            mines.clone(),
            SimConfig {
                seed,
                anomalies: true,
                ..SimConfig::default()
            },
        );
        (0..400)
            .flat_map(|k| sim.tick(start + k * TICK))
            .collect::<Vec<_>>()
    };
    let a = run(5);
    assert_eq!(a, run(5));
    assert_ne!(a, run(6));
}

#[test]
fn the_flat_window_check_finds_a_flat_stretch() {
    let mut v: Vec<f64> = (0..400).map(|i| f64::from(i % 7) * 0.01).collect();
    assert!(min_window_range(&v, FLAT_WINDOW) >= 0.05);
    for x in &mut v[100..290] {
        *x = 0.42;
    }
    assert_eq!(min_window_range(&v, FLAT_WINDOW), 0.0);
}

#[test]
fn a_suspended_mine_keeps_only_its_maintenance_crew_and_shows_no_production() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/registry/140100001.toml"
    );
    let text = std::fs::read_to_string(path).expect("example mine file");
    let text = text.replacen("status = \"producing\"", "status = \"suspended\"", 1);
    let def = Arc::new(MineDef::parse(std::path::Path::new(path), &text).expect("still valid"));
    assert_eq!(def.status, minewatch_core::registry::MineStatus::Suspended);
    let mut sim = Sim::new(vec![def.clone()], SimConfig::default());
    let mut log = MineLog {
        series: vec![Vec::new(); def.points.len()],
        ..MineLog::default()
    };
    let start = ms("2026-11-23T00:00:00+08:00");
    for k in 0..DAY_TICKS as i64 / 2 {
        let t = start + k * TICK;
        for m in sim.tick(t) {
            let (_, _, batch) = decode_clean(&m);
            match &batch.items {
                Items::Safety(r) => check_safety(&def, &mut log, r),
                Items::Personnel(tags) => check_people(&def, &mut log, t, tags),
                Items::Power(meters) => {
                    for o in meters {
                        let m = &def.meters[def.meter(&o.meter).expect("meter") as usize];
                        if matches!(
                            m.load,
                            minewatch_core::registry::Load::Hoist
                                | minewatch_core::registry::Load::Face
                        ) {
                            assert!(
                                o.kw <= m.idle_kw,
                                "{} draws {} kW while suspended",
                                o.meter,
                                o.kw
                            );
                        }
                    }
                }
                Items::Explosives(_) => panic!("explosives issued while suspended"),
                Items::Video(_) => {}
            }
        }
    }
    assert!(log.max_underground > 0, "a maintenance crew goes down");
    assert!(
        log.max_underground <= def.suspended_crew,
        "{} > {}",
        log.max_underground,
        def.suspended_crew
    );
}

#[test]
fn payloads_have_exactly_the_contract_fields() {
    use serde_json::Value;
    let mines = example_mines();
    let mut sim = Sim::new(mines, SimConfig::default());
    // 08:05 local: explosives are issued, both shifts' crews are down.
    let start = ms("2026-11-23T08:04:50+08:00");
    let mut systems = std::collections::HashSet::new();
    for k in 0..2 {
        for m in sim.tick(start + k * TICK) {
            let v: Value = serde_json::from_slice(&m.payload).expect("valid JSON");
            let obj = v.as_object().expect("an object");
            let system = m.topic.rsplit('/').next().unwrap_or_default().to_string();
            let (array, required, optional): (&str, &[&str], &[&str]) = match system.as_str() {
                "safety" => ("readings", &["point", "value"], &["status"]),
                "personnel" => (
                    "tags",
                    &[
                        "tag",
                        "person",
                        "leader",
                        "underground",
                        "down_at",
                        "distress",
                    ],
                    &["area"],
                ),
                "video" => ("cameras", &["camera", "state"], &["events"]),
                "power" => ("meters", &["meter", "kw"], &[]),
                "explosives" => ("issues", &["area", "kg", "detonators"], &[]),
                other => panic!("unexpected system {other}"),
            };
            let keys: std::collections::BTreeSet<&str> = obj.keys().map(String::as_str).collect();
            assert_eq!(keys, ["ts", array].into(), "{}", m.topic);
            let elements = obj[array].as_array().expect("an array");
            for e in elements {
                let e = e.as_object().expect("elements are objects");
                for r in required {
                    assert!(e.contains_key(*r), "{system}: {r} missing in {e:?}");
                }
                for key in e.keys() {
                    assert!(
                        required.contains(&key.as_str()) || optional.contains(&key.as_str()),
                        "{system}: {key}"
                    );
                }
                if system == "personnel" && e["underground"] == Value::Bool(true) {
                    assert!(e.contains_key("area"));
                }
            }
            systems.insert(system);
        }
    }
    assert_eq!(systems.len(), 5, "{systems:?}");
}
