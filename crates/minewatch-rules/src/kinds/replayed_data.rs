//! `replayed_data` — a mine's safety data repeats, exactly, what it sent in an earlier window: a
//! second "show" system replaying recordings while the real one is hidden. The subject is the
//! mine; the points whose data repeats are in the evidence. Critical when a methane point is among
//! them, major otherwise. Resolves after `replayed_clear` windows without any repeat. While
//! active, a window whose count of repeating points differs from the one last published updates
//! the alert (its value, the points, the severity).
//!
//! Each point's readings are cut into content-defined chunks and fingerprinted
//! ([`super::fingerprint`]); chunks that barely vary are ignored, so a constant sensor never
//! counts (that is the business of the kind for flat sensors). A chunk that ends is looked up in the mine's history;
//! when its fingerprint was seen in an earlier window, its point repeats. At the end of each
//! `replayed_window` of the mine clock the window is judged: `replayed_min_points` points or more
//! repeating raise. The window's [`Sketch`] (its [`SKETCH`] smallest fingerprints, a sample chosen
//! by content) then joins the history, which keeps `replayed_history` of windows. So the memory is
//! bounded per mine (8 bytes per history entry: 4 per 10-minute window, 576 for 24 h, about
//! 4.6 KB, 15 bytes a point for a mine of 300), not per reading; the price is that a replay must cover a good share of the mine's
//! varying points to be sampled (see docs/alerts.md).

use super::fingerprint::{Sampled, Sketch};
use super::{KindRule, MineState, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::{Idx, PointKind};
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// The window judged at a time, on the mine clock.
    replayed_window: Duration = mins(10), "duration";
    /// How far back a repeat is looked for: the history of windows kept per mine.
    replayed_history: Duration = hours(24), "duration";
    /// Points whose data repeats within one window that raise.
    replayed_min_points: Count = 3, "count";
    /// Consecutive windows without any repeat that resolve.
    replayed_clear: Count = 2, "count";
}

/// Chunks per window kept in the history.
pub const SKETCH: usize = 4;
/// Repeating points remembered per window (for the count and the evidence).
const MAX_POINTS: usize = 64;
/// Points named in a message.
const NAMED: usize = 5;
/// Points listed in the evidence.
const LISTED: usize = 20;

/// What this kind keeps for the mine.
#[derive(Debug, Clone, Default)]
pub struct Replays {
    /// End of the window being gathered on the mine clock (0: none yet).
    window_end: Millis,
    /// Its sample of chunks, for the history when it closes.
    sketch: Sketch<SKETCH>,
    /// Points whose chunk repeated an earlier one in this window (at most `MAX_POINTS`).
    repeated: Vec<Idx>,
    /// Start of the earliest window a chunk of this window repeated (0: none).
    repeats_of: Millis,
    /// The history: each entry the upper 32 bits of a fingerprint, then the minute (since the
    /// epoch) its window began; sorted, so a lookup is a binary search.
    history: Vec<u64>,
    /// The alert is active; windows in a row without a repeat since.
    active: bool,
    clean: u32,
    /// The severity it was raised with was critical (a methane point repeated).
    critical: bool,
    /// The count of repeating points the active alert last published.
    published: u32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::ReplayedData;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "A mine's safety data repeats exactly what it sent earlier: a replayed feed hiding the real system (critical with methane points)";
    type Params = Params;
    crate::slots!(mine = Replays);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        on_reading(m, p, i, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        m.kinds.replayed_data.active = true;
        m.kinds.replayed_data.published = a.value.unwrap_or(0.0) as u32;
        true
    }
}

fn minute(at: Millis) -> u64 {
    (at.div_euclid(60_000)).clamp(0, i64::from(u32::MAX)) as u64
}

/// Judges the window that ends at `at`'s window start and opens `at`'s, then takes point `i`'s
/// chunk, if its reading ended one.
#[inline]
fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
    // Most readings neither end a chunk nor close the window.
    if m.chunk_ended.is_none() && at < m.kinds.replayed_data.window_end {
        return;
    }
    let len = p.replayed_window.max(60_000);
    // The window closes with the first reading at or after its end.
    let now = at;
    let st = &mut m.kinds.replayed_data;
    if st.window_end == 0 {
        st.window_end = (now.div_euclid(len) + 1) * len;
    } else if now >= st.window_end {
        let end = st.window_end;
        close(m, p, end, out);
        m.kinds.replayed_data.window_end = (now.div_euclid(len) + 1) * len;
    }
    let Some(fp) = m.chunk_ended else { return };
    let st = &mut m.kinds.replayed_data;
    let start = minute(st.window_end - len);
    let key = fp >> 32 << 32;
    let k = st.history.partition_point(|&e| e < key);
    if let Some(&e) = st.history.get(k)
        && e >> 32 == fp >> 32
        && e & 0xFFFF_FFFF < start
    {
        if !st.repeated.contains(&i) && st.repeated.len() < MAX_POINTS {
            st.repeated.push(i);
        }
        let of = (e & 0xFFFF_FFFF) as Millis * 60_000;
        if st.repeats_of == 0 || of < st.repeats_of {
            st.repeats_of = of;
        }
    }
    st.sketch.offer(Sampled { fp, point: i, at });
}

/// Judges the window ending at `end`, then hands its sketch to the history.
fn close(m: &mut MineState, p: &Params, end: Millis, out: &mut Vec<Change>) {
    let len = p.replayed_window.max(60_000);
    let st = &mut m.kinds.replayed_data;
    let repeating = st.repeated.len() as u32;
    let op = if !st.active && repeating >= p.replayed_min_points.max(1) {
        st.active = true;
        st.clean = 0;
        st.published = repeating;
        Some(ChangeOp::Raise)
    } else if st.active && repeating > 0 && repeating != st.published {
        // Still replaying: the alert follows the count of points repeating.
        st.clean = 0;
        st.published = repeating;
        Some(ChangeOp::Update)
    } else if st.active && repeating == 0 {
        st.clean += 1;
        (st.clean >= p.replayed_clear.max(1)).then(|| {
            st.active = false;
            ChangeOp::Resolve
        })
    } else {
        if repeating > 0 {
            st.clean = 0;
        }
        None
    };
    if let Some(op) = op {
        emit(m, p, op, end, out);
        m.kinds.replayed_data.critical = out.last().is_some_and(|c| c.severity == Severity::Critical);
    }
    let st = &mut m.kinds.replayed_data;
    // The next window looks back over the windows that began within the history before it.
    let cutoff = minute(end - p.replayed_history);
    st.history.retain(|&e| e & 0xFFFF_FFFF >= cutoff);
    let start = minute(end - len);
    // Grown exactly, not doubled: thousands of mines keep a full history each.
    st.history.reserve_exact(st.sketch.items().len());
    for s in st.sketch.items() {
        let key = s.fp >> 32 << 32;
        let k = st.history.partition_point(|&e| e < key);
        if st.history.get(k).is_none_or(|&e| e >> 32 != s.fp >> 32) {
            st.history.insert(k, key | start);
        }
    }
    st.sketch.clear();
    st.repeated.clear();
    st.repeats_of = 0;
}

fn emit(m: &MineState, p: &Params, op: ChangeOp, end: Millis, out: &mut Vec<Change>) {
    let st = &m.kinds.replayed_data;
    let len = p.replayed_window.max(60_000);
    let ids: Vec<&str> = st
        .repeated
        .iter()
        .filter_map(|&i| m.def.points.get(i as usize).map(|pt| &*pt.id))
        .collect();
    let methane = st.repeated.iter().any(|&i| {
        m.def
            .points
            .get(i as usize)
            .is_some_and(|pt| pt.kind == PointKind::Ch4)
    });
    let critical = if op == ChangeOp::Resolve {
        st.critical
    } else {
        methane
    };
    let severity = if critical {
        Severity::Critical
    } else {
        Severity::Major
    };
    let place = m.place(None);
    let message = if op == ChangeOp::Resolve {
        format!(
            "Safety data of {place} no longer repeats earlier data ({} windows of {} min without a repeat)",
            st.clean,
            len / 60_000
        )
    } else {
        let more = if ids.len() > NAMED { ", …" } else { "" };
        format!(
            "Safety data of {place} repeats earlier data exactly: {} points ({}{more}) in the {} min to {} repeat readings first sent in the window from {} — a replayed feed?",
            ids.len(),
            ids[..ids.len().min(NAMED)].join(", "),
            len / 60_000,
            ts(end),
            ts(st.repeats_of)
        )
    };
    let evidence = json!({
        "points": ids.iter().take(LISTED).collect::<Vec<_>>(),
        "repeating": ids.len(),
        "window_start": ts(end - len),
        "window_end": ts(end),
        "repeats_of": (st.repeats_of > 0).then(|| ts(st.repeats_of)),
        "clean_windows": st.clean,
        "min_points": p.replayed_min_points,
        "window_s": len / 1000,
        "history_s": p.replayed_history / 1000,
    });
    let s = m.mine_subject(Kind::ReplayedData);
    out.push(m.change(
        op,
        s,
        severity,
        message,
        Some(ids.len() as f64),
        Some(f64::from(p.replayed_min_points)),
        end,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::fingerprint::mix;
    use super::super::testkit::*;
    use crate::kinds::{MineState, RulesConfig as Params};
    use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
    use minewatch_core::registry::MineDef;
    use std::path::Path;
    use std::sync::Arc;

    /// Raises and resolves, without the updates an active alert publishes as its count moves.
    fn transitions(c: &[Change]) -> Vec<(&'static str, String)> {
        let mut o = ops(c, Kind::ReplayedData);
        o.retain(|(op, _)| *op != "update");
        o
    }

    /// The points fed: the test mine's four analog points and eight more CO points.
    const POINTS: [&str; 12] = [
        "P0", "P1", "P2", "O1", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8",
    ];

    /// The test mine with eight more CO points: a window samples 4 chunks of some 24.
    fn big() -> MineState {
        let mut text = MINE.to_string();
        for q in &POINTS[4..] {
            text.push_str(&format!("\n[[point]]\nid = \"{q}\"\narea = \"A2\"\nkind = \"co\"\n"));
        }
        let def = MineDef::parse(Path::new("big.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        MineState::new(Arc::new(def))
    }

    /// A noisy, never-repeating value of point `p` at step `k`.
    fn noisy(p: usize, k: i64) -> f64 {
        let base = [0.05, 0.3, 0.35, 20.3, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0][p];
        base + (mix((p as u64) << 40 ^ k as u64) % 50) as f64 / 1000.0
    }

    /// Feeds `[from, to)` seconds every 10 s: the first `old` points of `points` send what they
    /// sent `lag` seconds before, the others their live values. Returns the changes of the kind.
    fn run(m: &mut MineState, p: &Params, span: (i64, i64), points: usize, old: usize, lag: i64) -> Vec<Change> {
        let mut all = Vec::new();
        for s in (span.0..span.1).step_by(10) {
            let readings: Vec<(&'static str, f64, u32)> = (0..points)
                .map(|j| {
                    let k = if j < old { (s - lag) / 10 } else { s / 10 };
                    (POINTS[j], noisy(j, k), 0)
                })
                .collect();
            let c = feed_with(m, p, &safety(at(s), &readings));
            all.extend(c.into_iter().filter(|c| c.kind == Kind::ReplayedData));
        }
        all
    }

    #[test]
    fn a_clean_varying_feed_never_repeats() {
        let mut m = big();
        let c = run(&mut m, &Params::default(), (0, 12 * 3600), 12, 0, 0);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn replaying_an_hour_earlier_raises_critical_and_two_clean_windows_resolve() {
        let mut m = big();
        let p = Params::default();
        assert!(run(&mut m, &p, (0, 7200), 12, 0, 0).is_empty());
        // From 2 h, the feed replays what it sent from 1 h (an hour earlier, exactly).
        let c = run(&mut m, &p, (7200, 9000), 12, 12, 3600);
        assert_eq!(ops(&c, Kind::ReplayedData), vec![("raise", "M1".into())]);
        assert_eq!(c[0].severity, Severity::Critical, "P1 and P2 are methane");
        assert!(c[0].evidence["repeating"].as_u64().unwrap_or(0) >= 3);
        assert!(c[0].message.contains("replayed feed"), "{}", c[0].message);
        // Live again at 2:30: the windows 2:30-2:40 and 2:40-2:50 are clean, resolved when the
        // first reading at 2:50 closes the second.
        let c = run(&mut m, &p, (9000, 10_200), 12, 0, 0);
        assert!(c.is_empty(), "{c:?}");
        let c = run(&mut m, &p, (10_200, 10_210), 12, 0, 0);
        assert_eq!(ops(&c, Kind::ReplayedData), vec![("resolve", "M1".into())]);
    }

    #[test]
    fn two_repeating_points_do_not_raise_three_do() {
        // A mine of four points (a sample of 4 chunks of about 8): two of them replay the hour
        // before (what they sent then: the helper replays the live series).
        let p = Params::default();
        let mut m = big();
        run(&mut m, &p, (0, 7200), 4, 0, 0);
        assert!(run(&mut m, &p, (7200, 10_800), 4, 2, 3600).is_empty());
        // Three of them.
        let mut m = big();
        run(&mut m, &p, (0, 7200), 4, 0, 0);
        let c = run(&mut m, &p, (7200, 10_800), 4, 3, 3600);
        assert_eq!(ops(&c, Kind::ReplayedData), vec![("raise", "M1".into())]);
        assert!(c[0].evidence["repeating"] == 3, "{}", c[0].evidence);
    }

    #[test]
    fn a_repeat_older_than_the_history_is_not_seen_and_one_within_it_is() {
        let mut p = Params::default();
        p.replayed_data.replayed_history = 3_600_000;
        // 90 min back with a 1 h history: the repeated windows have left it.
        let mut m = big();
        run(&mut m, &p, (0, 6000), 12, 0, 0);
        assert!(run(&mut m, &p, (6000, 9000), 12, 12, 5400).is_empty());
        // 50 min back: within it.
        let mut m = big();
        run(&mut m, &p, (0, 6000), 12, 0, 0);
        let c = run(&mut m, &p, (6000, 9000), 12, 12, 3000);
        assert_eq!(transitions(&c), vec![("raise", "M1".into())]);
    }

    #[test]
    fn constant_sensors_never_repeat_and_a_window_with_a_repeat_keeps_the_alert() {
        // Constant values on every point for hours: a flat sensor is not a replayed one.
        let mut m = big();
        for s in (0..6 * 3600).step_by(10) {
            let readings: Vec<(&'static str, f64, u32)> =
                POINTS.iter().map(|&q| (q, 0.4, 0)).collect();
            let c = feed(&mut m, &safety(at(s), &readings));
            assert!(ops(&c, Kind::ReplayedData).is_empty(), "at {s}");
        }
        // A replay that stops for one window (under the two clean windows) does not flap.
        let mut m = big();
        let p = Params::default();
        run(&mut m, &p, (0, 7200), 12, 0, 0);
        let mut c = run(&mut m, &p, (7200, 9000), 12, 12, 3600);
        c.extend(run(&mut m, &p, (9000, 9600), 12, 0, 0));
        c.extend(run(&mut m, &p, (9600, 11_400), 12, 12, 3600));
        assert_eq!(transitions(&c), vec![("raise", "M1".into())]);
        // Between, the alert follows the count of points repeating: each update carries a count
        // other than the one published before it.
        let mut last = c[0].value;
        for u in c.iter().filter(|c| c.op == ChangeOp::Update) {
            assert_eq!(u.value, u.evidence["repeating"].as_f64(), "{:?}", u.evidence);
            assert_ne!(u.value, last);
            last = u.value;
        }
    }

    #[test]
    fn a_restored_alert_resolves_after_clean_windows() {
        let mut m = big();
        let mut out = Vec::new();
        m.restore(&[stored(Kind::ReplayedData, "M1", None)], &mut out);
        assert!(out.is_empty());
        let c = run(&mut m, &Params::default(), (0, 1810), 12, 0, 0);
        assert_eq!(ops(&c, Kind::ReplayedData), vec![("resolve", "M1".into())]);
    }
}
