//! False alarms, measured: ten scale mines, each its own simulator with its own seed (so their
//! shift changes, production swings and maintenance shifts fall differently), seven simulated days
//! each with the automatic anomalies off, through the rules engine in event time as a shard would
//! take them. Clean data must raise nothing at all, of any kind: the figure docs/alerts.md reports
//! per kind ("False alarms, measured") is the one this test prints.

use minewatch_core::alert::{ChangeOp, Kind};
use minewatch_core::payload::{DecodeCtx, decode, parse_topic};
use minewatch_core::registry::MineDef;
use minewatch_rules::{Engine, Params};
use minewatch_sim::{Sim, SimConfig, scale};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const DAY: i64 = 86_400_000;
/// 2026-11-23T00:00:00+08:00.
const T0: i64 = 1_795_363_200_000;
const MINES: usize = 10;
/// Three point groups a mine: two longwall panels and a development heading.
const POINTS: usize = 60;
/// Every 30 s (the slowest KJ polling cycle), to keep seven days quick in a debug build.
const STEP: i64 = 30_000;

#[test]
fn ten_mines_for_seven_clean_days_raise_no_alert_of_any_kind() {
    let files = scale::registry(MINES, POINTS).unwrap_or_else(|e| panic!("{e}"));
    let defs: Vec<Arc<MineDef>> = files
        .iter()
        .map(|(name, text)| {
            let def = MineDef::parse(Path::new(name), text).unwrap_or_else(|e| panic!("{e}"));
            Arc::new(def)
        })
        .collect();
    let mut engine = Engine::new(Params::default(), defs.iter().cloned());
    let mut sims: Vec<Sim> = defs
        .iter()
        .enumerate()
        .map(|(n, def)| {
            let cfg = SimConfig {
                seed: 1000 + n as u64,
                interval_ms: STEP,
                anomalies: false,
                ..SimConfig::default()
            };
            Sim::new(vec![def.clone()], cfg)
        })
        .collect();

    let mut raised: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    let (mut messages, mut out) = (0u64, Vec::new());
    let mut t = T0;
    while t < T0 + 7 * DAY {
        for sim in &mut sims {
            for msg in sim.tick(t) {
                let (mine, system) = parse_topic("mines", &msg.topic).expect("topic");
                let ctx = DecodeCtx {
                    now: t + STEP,
                    max_skew: 300_000,
                    max_elements: minewatch_core::payload::DEFAULT_MAX_ELEMENTS,
                };
                let batch = decode(system, &msg.payload, ctx).expect("clean data decodes");
                assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
                engine.on_batch(mine, system, &batch, t, &mut out);
                messages += 1;
            }
        }
        engine.tick(t + STEP / 2, &mut out);
        for c in out.drain(..).filter(|c| c.op == ChangeOp::Raise) {
            raised
                .entry(c.kind)
                .or_default()
                .push(format!("{} {} at {}", c.mine, c.subject, c.at));
        }
        t += STEP;
    }
    let per_kind: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", k.as_str(), raised.get(k).map_or(0, Vec::len)))
        .collect();
    println!(
        "clean week: {MINES} mines x {POINTS} points x 7 days, {messages} messages; alerts per kind: {}",
        per_kind.join(", ")
    );
    assert!(messages > 500_000, "{messages} messages");
    assert!(raised.is_empty(), "false alarms on clean data: {raised:?}");
}
