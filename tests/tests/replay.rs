//! Replays simulated days of the example registry through the rules engine in event time (no
//! broker, no clock): a clean day raises nothing, and a day with one injection of every alert kind
//! raises each of them on the right subject and nothing else. `power_anomaly` first needs its three
//! days of learning, so that run covers four days.

use minewatch_core::alert::{Change, ChangeOp, Kind};
use minewatch_core::payload::{DecodeCtx, decode, parse_topic};
use minewatch_core::registry::{MineStatus, Registry};
use minewatch_rules::Engine;
use minewatch_rules::Params;
use minewatch_sim::{Anomaly, Sim, SimConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const STEP: i64 = 10_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-23T00:00:00+08:00.
const T0: i64 = 1_795_363_200_000;

fn registry() -> Registry {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/registry");
    Registry::load_strict(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// How the replay delivers the simulator's messages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delivery {
    /// Each once, as written.
    Plain,
    /// Each once, with every mine's clock set back an hour from this time on (every `ts`).
    ClockSetBack(i64),
    /// Each twice in a row (an at-least-once broker redelivering everything).
    Twice,
}

/// Runs `sim` from `from` to `to` through `engine` as a shard would (decode, rules, a wall-clock
/// tick that follows event time), returning every change. A message rejected whole goes to the
/// engine as a rejection, as a shard does.
fn replay(sim: &mut Sim, engine: &mut Engine, from: i64, to: i64, how: Delivery) -> Vec<Change> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        for msg in sim.tick(t) {
            let (mine, system) =
                parse_topic("mines", &msg.topic).unwrap_or_else(|| panic!("topic {}", msg.topic));
            let ctx = DecodeCtx {
                now: t + STEP,
                max_skew: 300_000,
                max_elements: minewatch_core::payload::DEFAULT_MAX_ELEMENTS,
            };
            let times = if how == Delivery::Twice { 2 } else { 1 };
            for _ in 0..times {
                let batch = match decode(system, &msg.payload, ctx) {
                    Ok(batch) => batch,
                    Err(r) => {
                        engine.on_rejected(mine, system, r.reason, &msg.payload, t, &mut out);
                        continue;
                    }
                };
                assert!(
                    batch.rejected.is_empty(),
                    "{}: {:?}",
                    msg.topic,
                    batch.rejected
                );
                match how {
                    Delivery::ClockSetBack(from) if t >= from => {
                        engine.on_batch(mine, system, &batch.shifted(-HOUR), t, &mut out)
                    }
                    _ => engine.on_batch(mine, system, &batch, t, &mut out),
                }
            }
        }
        engine.tick(t + STEP / 2, &mut out);
        t += STEP;
    }
    out
}

fn engine(reg: &Registry) -> Engine {
    Engine::new(Params::default(), reg.mines.values().cloned())
}

fn sim(reg: &Registry) -> Sim {
    let mut mines: Vec<_> = reg.mines.values().cloned().collect();
    mines.sort_by(|a, b| a.id.cmp(&b.id));
    Sim::new(
        mines,
        SimConfig {
            seed: 7,
            ..SimConfig::default()
        },
    )
}

fn raised(changes: &[Change]) -> Vec<(String, Kind, String)> {
    changes
        .iter()
        .filter(|c| c.op == ChangeOp::Raise)
        .map(|c| (c.mine.to_string(), c.kind, c.subject.to_string()))
        .collect()
}

#[test]
fn a_clean_simulated_day_raises_no_alert_at_all() {
    let reg = registry();
    let (mut sim, mut engine) = (sim(&reg), engine(&reg));
    let changes = replay(&mut sim, &mut engine, T0, T0 + DAY, Delivery::Plain);
    let raised = raised(&changes);
    println!(
        "clean day: {} mines, 8640 steps, {} alerts raised",
        reg.mines.len(),
        raised.len()
    );
    assert!(raised.is_empty(), "false alarms on clean data: {raised:?}");
}

#[test]
fn one_injection_of_every_kind_raises_each_on_its_subject_and_nothing_else() {
    every_kind_injected(Delivery::Plain);
}

#[test]
fn every_kind_is_found_with_the_clocks_set_back_an_hour() {
    every_kind_injected(Delivery::ClockSetBack(T0 + 6 * HOUR));
}

#[test]
fn every_kind_is_found_with_every_message_delivered_twice() {
    every_kind_injected(Delivery::Twice);
}

fn every_kind_injected(how: Delivery) {
    let reg = registry();
    let (mut sim, mut engine) = (sim(&reg), engine(&reg));
    let (m1, m2) = ("140100001", "140100002");
    // Mine 2 is under a suspension order throughout (regulator's order in the engine, a suspended
    // mine in the simulator), so its power baseline is a suspended mine's.
    // (The order dates from before the replay, so its crew change is over by T0.)
    sim.set_suspended(m2, true, T0 - 4 * HOUR).expect("suspend");
    engine.set_status(m2, Some(MineStatus::Suspended), &mut Vec::new());

    // Day 1: every kind but power_anomaly, an hour apart, on mine 1 (production on mine 2, while
    // power_anomaly is still learning). Overtime first: it needs the longest.
    let mut day1: Vec<&str> = Anomaly::NAMES
        .iter()
        .copied()
        .filter(|k| *k != "power_anomaly")
        .collect();
    day1.sort_by_key(|k| *k != "overtime");
    for (i, kind) in day1.iter().enumerate() {
        let anomaly = Anomaly::parse(kind).expect("known kind");
        // On mine 2: the kind that needs a suspended mine, and the one whose garbled batches also
        // silence every point and the system (raised again on mine 1 by their own injections).
        let mine = if *kind == "production_while_suspended" || *kind == "data_rejected" {
            m2
        } else {
            m1
        };
        sim.inject(mine, anomaly, T0 + HOUR / 2 + i as i64 * HOUR)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    // Day 4, after three days of learning: the power anomaly.
    sim.inject(
        m1,
        Anomaly::parse("power_anomaly").expect("kind"),
        T0 + 3 * DAY + 2 * HOUR,
    )
    .expect("inject");
    let changes = replay(&mut sim, &mut engine, T0, T0 + 4 * DAY, how);

    let mut expected: BTreeSet<(String, Kind, String)> = BTreeSet::new();
    let mut allowed: BTreeSet<(String, Kind, String)> = BTreeSet::new();
    for inj in sim.injections() {
        let kind = Kind::parse(inj.kind).expect("injection kinds are alert kinds");
        expected.insert((inj.mine.clone(), kind, inj.subject.clone()));
        for (k, s) in &inj.also {
            allowed.insert((inj.mine.clone(), Kind::parse(k).expect("kind"), s.clone()));
        }
    }
    // A clock set back is a clock fault of every mine, which stays while it is wrong.
    let clock_wrong: Vec<(String, Kind, String)> = match how {
        Delivery::ClockSetBack(_) => reg
            .mines
            .keys()
            .map(|m| (m.to_string(), Kind::ClockFault, m.to_string()))
            .collect(),
        _ => Vec::new(),
    };
    allowed.extend(clock_wrong.iter().cloned());
    let raised = raised(&changes);
    let got: BTreeSet<_> = raised.iter().cloned().collect();
    let missed: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = raised
        .iter()
        .filter(|r| !expected.contains(*r) && !allowed.contains(*r))
        .collect();
    let mut per_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    for (_, k, _) in &raised {
        *per_kind.entry(*k).or_default() += 1;
    }
    println!(
        "{how:?}: injected {} kinds; raised {} alerts; recall {}/{}; unexpected {}; per kind {per_kind:?}",
        expected.len(),
        raised.len(),
        expected.len() - missed.len(),
        expected.len(),
        extra.len()
    );
    assert_eq!(expected.len(), Kind::ALL.len(), "every kind injected once");
    assert!(
        missed.is_empty(),
        "kinds injected but not raised on their subject: {missed:?}"
    );
    assert!(extra.is_empty(), "alerts nobody injected: {extra:?}");
    assert_eq!(
        got.len(),
        raised.len(),
        "an alert raised twice (flapping): {raised:?}"
    );
    // And each alert that can resolve by itself did.
    let resolved: BTreeSet<_> = changes
        .iter()
        .filter(|c| c.op == ChangeOp::Resolve)
        .map(|c| (c.mine.to_string(), c.kind, c.subject.to_string()))
        .collect();
    let stays_until_acked: Vec<Kind> = minewatch_rules::kinds::catalogue()
        .into_iter()
        .filter(|k| k.resolves_on_ack)
        .map(|k| k.name)
        .collect();
    let open: Vec<_> = expected
        .iter()
        .filter(|e| {
            !stays_until_acked.contains(&e.1) && !resolved.contains(*e) && !clock_wrong.contains(e)
        })
        .collect();
    assert!(
        open.is_empty(),
        "alerts that never resolved after their injection ended: {open:?}"
    );
}
