//! Decode plus rule evaluation of realistic safety batches, on one thread (issue point 10).
//!
//! Setup, not timed: a registry of 100 mines with 300 points each, written as registry TOML
//! (contract §2) by [`minewatch_sim::scale`] and compiled with [`MineDef::parse`] — 15 point
//! groups per mine, each a longwall panel or a development heading with its methane chain (intake
//! → face → upper corner → return, with `upwind` links and `feeds`), CO, O2, temperature, air
//! speed, dust, CO2, smoke, pressure and three feed-status points. Then [`Sim`] produces hours of telemetry for them at a 30 s cadence
//! (the longest KJ polling cycle) with an automatic anomaly every minute (power-off failure, point
//! silent, sensor fault, over limit, in turn) and a few unregistered points; only the `safety`
//! messages are kept, in arrival order, and one in 997 gets an extra element with a bad id, so the
//! rejection path runs too. A safety message carries 300 readings (one fewer while an anomaly
//! silences a point, one more while an unregistered point reports).
//!
//! Timed, each over the whole data set, as one shard would see it (one [`Engine`] with all 100
//! mines, its output vector cleared after every message):
//! - `combined`: [`payload::decode`] + [`Engine::on_batch`] per message — the figure of record;
//! - `decode`: decode alone;
//! - `rules`: `on_batch` alone, each message decoded (untimed) just before its batch is timed;
//! - `shard`: `combined` plus [`MineState::export`] into the mine's live picture, as a shard does
//!   after every message (without the shared-map write).
//!
//! Every mode runs once to warm up, then `--runs` times (5; 3 with `--quick`), each on a fresh
//! engine built untimed; it prints median, min and max readings per second.
//!
//! ```text
//! cargo bench -p minewatch-benches --bench decode_rules                  # 3 h of data
//! cargo bench -p minewatch-benches --bench decode_rules -- --quick       # 20 min of data
//! cargo bench -p minewatch-benches --bench decode_rules -- --only combined --runs 9
//! ```
//!
//! Run directly (e.g. under a profiler), the binary needs `--bench` or `--quick`; without either it
//! is the 5-minute smoke run that `cargo test --all-targets` does.

use minewatch_core::alert::Change;
use minewatch_core::live::MineLive;
use minewatch_core::payload::{self, DecodeCtx, System};
use minewatch_core::registry::MineDef;
use minewatch_core::time::{Millis, parse_rfc3339};
use minewatch_rules::Engine;
use minewatch_rules::MineState;
use minewatch_rules::Params;
use minewatch_sim::{Anomaly, Sim, SimConfig};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Mines in the shard.
const MINES: usize = 100;
/// Point groups per mine, 20 points each: 300 points.
const GROUPS: usize = 15;
/// Sim cadence: the longest KJ polling cycle.
const INTERVAL_MS: i64 = 30_000;
/// First tick (local 05:00: the end of the night shift's cutting and a shift change fall inside).
const START: &str = "2026-11-23T05:00:00+08:00";
/// One message in this many gets an extra element with a bad id.
const BAD_EVERY: usize = 997;

/// Command-line options. `cargo bench` passes `--bench`; without it (`cargo test --all-targets`
/// runs bench targets as smoke tests, in debug) only 5 minutes of data and one run per mode are used.
struct Opts {
    /// Minutes of data: 180, or 20 with `--quick`.
    minutes: u32,
    runs: usize,
    only: Option<String>,
}

impl Opts {
    fn parse() -> Opts {
        let (mut quick, mut bench, mut runs, mut only) = (false, false, 0, None);
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--bench" => bench = true,
                "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
                "--only" => only = args.next(),
                other => eprintln!("decode_rules: ignoring argument {other:?}"),
            }
        }
        let (minutes, default_runs) = match (quick, bench) {
            (true, _) => (20, 3),
            (false, true) => (180, 5),
            (false, false) => (5, 1),
        };
        Opts {
            minutes,
            runs: if runs == 0 { default_runs } else { runs },
            only,
        }
    }

    fn wants(&self, mode: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|m| m.split(',').any(|m| m == mode))
    }
}

/// One safety message as it arrived.
struct Msg {
    /// Index into [`Data::mines`].
    mine: usize,
    mine_id: Arc<str>,
    /// Wall-clock arrival (for `system_silent`).
    wall: Millis,
    payload: Vec<u8>,
}

/// The data set, built once.
struct Data {
    mines: Vec<Arc<MineDef>>,
    msgs: Vec<Msg>,
    ctx: DecodeCtx,
    /// Readings accepted in one pass.
    readings: u64,
    /// Bytes of JSON in one pass.
    bytes: u64,
}

// ---- The data set ------------------------------------------------------------------------------

fn build(minutes: u32) -> Data {
    let t_build = Instant::now();
    let mines: Vec<Arc<MineDef>> = (0..MINES)
        .map(|n| {
            let src = minewatch_sim::scale::mine_toml(n, GROUPS);
            let def = MineDef::parse(Path::new(&format!("bench-{n}.toml")), &src)
                .unwrap_or_else(|e| panic!("bench registry does not compile: {e}"));
            assert_eq!(def.points.len(), GROUPS * 20);
            Arc::new(def)
        })
        .collect();
    let hours = f64::from(minutes) / 60.0;
    let start = parse_rfc3339(START).expect("START is RFC 3339");
    let ticks = (hours * 3_600_000.0 / INTERVAL_MS as f64).round() as i64;
    let end = start + (ticks - 1) * INTERVAL_MS;
    let mut sim = Sim::new(
        mines.clone(),
        SimConfig {
            interval_ms: INTERVAL_MS,
            seed: 20261123,
            anomalies: true,
            anomaly_every_ms: 60_000,
            ..SimConfig::default()
        },
    );
    // A few points the registry does not define, reporting for two minutes each.
    for (k, n) in [7, 37, 77].into_iter().enumerate() {
        let at = start + (k as i64 + 1) * (end - start) / 4;
        sim.inject(
            &mines[n].id,
            Anomaly::new(minewatch_core::Kind::UnregisteredDevice),
            at,
        )
        .expect("unregistered_device anomaly");
    }
    let index: std::collections::HashMap<&str, usize> =
        mines.iter().enumerate().map(|(i, m)| (&*m.id, i)).collect();
    let mut msgs = Vec::with_capacity(ticks as usize * MINES);
    for k in 0..ticks {
        let t = start + k * INTERVAL_MS;
        for m in sim.tick(t) {
            let Some((mine, System::Safety)) = payload::parse_topic("mines", &m.topic) else {
                continue;
            };
            let i = index[mine];
            let mut payload = m.payload;
            if msgs.len() % BAD_EVERY == BAD_EVERY - 1 {
                let text = String::from_utf8(payload).expect("sim writes UTF-8");
                payload = text
                    .replacen(
                        "\"readings\":[",
                        "\"readings\":[{\"point\":\"P 01/x\",\"value\":0.3},",
                        1,
                    )
                    .into_bytes();
            }
            msgs.push(Msg {
                mine: i,
                mine_id: mines[i].id.clone(),
                // Arrival a little after the observation.
                wall: t + 150,
                payload,
            });
        }
    }
    let ctx = DecodeCtx {
        now: end + 1_000,
        max_skew: 300_000,
        max_elements: minewatch_core::payload::DEFAULT_MAX_ELEMENTS,
    };
    let (mut readings, mut rejected, mut bytes) = (0, 0, 0);
    for m in &msgs {
        let b = payload::decode(System::Safety, &m.payload, ctx).expect("sim batches decode");
        readings += b.items.len() as u64;
        rejected += b.rejected_count();
        bytes += m.payload.len() as u64;
    }
    println!(
        "data: {MINES} mines x {} points, {hours:.2} h at {} s -> {} safety messages, {readings} \
         readings accepted, {rejected} elements rejected, {:.1} MB of JSON (built in {:.1} s)",
        GROUPS * 20,
        INTERVAL_MS / 1000,
        msgs.len(),
        bytes as f64 / 1e6,
        t_build.elapsed().as_secs_f64()
    );
    println!("anomalies injected: {}", sim.injected().len());
    Data {
        mines,
        msgs,
        ctx,
        readings,
        bytes,
    }
}

// ---- The timed passes ----------------------------------------------------------------------------

/// What one pass did, for checking that every mode saw the same work.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Pass {
    elapsed: Duration,
    readings: u64,
    changes: u64,
}

fn engine(d: &Data) -> Engine {
    Engine::new(Params::default(), d.mines.iter().cloned())
}

#[inline(never)]
fn pass_combined(d: &Data) -> Pass {
    let mut engine = engine(d);
    let mut out: Vec<Change> = Vec::new();
    let (mut readings, mut changes) = (0, 0);
    let t0 = Instant::now();
    for m in &d.msgs {
        if let Ok(b) = payload::decode(System::Safety, &m.payload, d.ctx) {
            readings += b.items.len() as u64;
            engine.on_batch(&m.mine_id, System::Safety, &b, m.wall, &mut out);
            changes += out.len() as u64;
            out.clear();
        }
    }
    Pass {
        elapsed: t0.elapsed(),
        readings,
        changes,
    }
}

#[inline(never)]
fn pass_decode(d: &Data) -> Pass {
    let mut readings = 0;
    let t0 = Instant::now();
    for m in &d.msgs {
        if let Ok(b) = payload::decode(System::Safety, &m.payload, d.ctx) {
            readings += b.items.len() as u64;
            black_box(&b);
        }
    }
    Pass {
        elapsed: t0.elapsed(),
        readings,
        changes: 0,
    }
}

#[inline(never)]
fn pass_rules(d: &Data) -> Pass {
    let mut engine = engine(d);
    let mut out: Vec<Change> = Vec::new();
    let (mut readings, mut changes) = (0, 0);
    let mut elapsed = Duration::ZERO;
    for m in &d.msgs {
        if let Ok(b) = payload::decode(System::Safety, &m.payload, d.ctx) {
            readings += b.items.len() as u64;
            let t0 = Instant::now();
            engine.on_batch(&m.mine_id, System::Safety, &b, m.wall, &mut out);
            changes += out.len() as u64;
            out.clear();
            elapsed += t0.elapsed();
        }
    }
    Pass {
        elapsed,
        readings,
        changes,
    }
}

#[inline(never)]
fn pass_shard(d: &Data) -> Pass {
    let mut engine = engine(d);
    let mut lives: Vec<MineLive> = d
        .mines
        .iter()
        .map(|m| MineLive::new(m.clone(), m.status))
        .collect();
    let mut out: Vec<Change> = Vec::new();
    let (mut readings, mut changes) = (0, 0);
    let t0 = Instant::now();
    for m in &d.msgs {
        if let Ok(b) = payload::decode(System::Safety, &m.payload, d.ctx) {
            readings += b.items.len() as u64;
            engine.on_batch(&m.mine_id, System::Safety, &b, m.wall, &mut out);
            changes += out.len() as u64;
            out.clear();
            let state: &MineState = &engine.mines[&m.mine_id];
            state.export(System::Safety, &mut lives[m.mine]);
        }
    }
    let elapsed = t0.elapsed();
    black_box(&lives);
    Pass {
        elapsed,
        readings,
        changes,
    }
}

fn rate(p: &Pass) -> f64 {
    p.readings as f64 / p.elapsed.as_secs_f64()
}

fn run(d: &Data, opts: &Opts, name: &str, what: &str, f: fn(&Data) -> Pass) {
    if !opts.wants(name) {
        return;
    }
    let warm = f(d);
    assert_eq!(warm.readings, d.readings, "{name}: every reading counted");
    let mut passes: Vec<Pass> = (0..opts.runs).map(|_| f(d)).collect();
    for p in &passes {
        assert_eq!(
            (p.readings, p.changes),
            (warm.readings, warm.changes),
            "{name}: every pass does the same work"
        );
    }
    passes.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let med = passes[passes.len() / 2];
    let (lo, hi) = (passes[0], passes[passes.len() - 1]);
    let changes = if warm.changes > 0 {
        format!(", {} alert changes per pass", warm.changes)
    } else {
        String::new()
    };
    println!(
        "{name:<9} {:>7.3} M readings/s median (min {:.3}, max {:.3}; {} runs) = {:>6.1} ns/reading, \
         {:>6.1} MB/s of JSON — {what}{changes}",
        rate(&med) / 1e6,
        rate(&lo) / 1e6,
        rate(&hi) / 1e6,
        passes.len(),
        med.elapsed.as_secs_f64() * 1e9 / med.readings as f64,
        d.bytes as f64 / med.elapsed.as_secs_f64() / 1e6,
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let opts = Opts::parse();
    println!(
        "decode_rules: single thread, {} min of data, {} timed runs per mode after one warm-up; \
         load average {}",
        opts.minutes,
        opts.runs,
        loadavg()
    );
    let d = build(opts.minutes);
    run(
        &d,
        &opts,
        "combined",
        "decode + Engine::on_batch",
        pass_combined,
    );
    run(&d, &opts, "decode", "payload::decode only", pass_decode);
    run(
        &d,
        &opts,
        "rules",
        "Engine::on_batch only (decoded untimed)",
        pass_rules,
    );
    run(
        &d,
        &opts,
        "shard",
        "decode + on_batch + MineState::export to the live picture",
        pass_shard,
    );
    println!("load average after: {}", loadavg());
}
