//! `copied_feed` — a mine's safety data is, exactly, what another mine sent at the same time or a
//! little earlier: one mine's data uploaded under another's code while its own system is hidden.
//! The subject is the mine that copies (the one whose data came later); the other mine is in the
//! evidence. Critical. Resolves after `copied_clear` windows of its own data without a match.
//! While active, a window whose count of matching points differs from the one last published
//! updates the alert (its value, the points, the other mine).
//!
//! Each window of `copied_window` on the mine clock samples its varying chunks ([`Sketch`] of the
//! [`SKETCH`] smallest fingerprints, chosen by content, so two mines sending the same chunks sample
//! the same ones, whatever their point ids) and hands them, once, to the [`FeedIndex`] shared by
//! every shard. The index says which of them another mine sent first (within `copied_history`),
//! now or when that other mine hands in its own window later. A window in which
//! `copied_min_points` points or more, and at least `copied_share` of its sampled points, repeat
//! one other mine raises. Two mines whose chunks end at the same moment copy each other: both are raised,
//! since the data cannot tell which is the original.

use super::feed_index::{Copied, FeedIndex, Handed};
use super::fingerprint::{Sampled, Sketch};
use super::{KindRule, MineState, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::sync::Arc;

crate::params! {
    /// The window judged (and handed to the shared index) at a time, on the mine clock.
    copied_window: Duration = mins(10), "duration";
    /// How much earlier another mine's data may have been sent and still be matched.
    copied_history: Duration = hours(1), "duration";
    /// Points whose data repeats another mine's within one window that raise.
    copied_min_points: Count = 3, "count";
    /// The least share of the points a window's sample came from that must repeat that mine's
    /// (points credited from the window before count too).
    copied_share: Number = 0.5, "share";
    /// Consecutive windows without a match that resolve.
    copied_clear: Count = 2, "count";
}

/// Chunks per window sampled and handed to the index.
pub const SKETCH: usize = 8;
/// Points listed in the evidence.
const LISTED: usize = 20;

/// What this kind keeps for the mine.
#[derive(Debug, Clone, Default)]
pub struct Copies {
    /// End of the window being gathered on the mine clock (0: none yet).
    window_end: Millis,
    /// Its sample of chunks.
    sketch: Sketch<SKETCH>,
    /// The mine the active alert says this one copies; windows in a row without a match since.
    source: Option<Arc<str>>,
    clean: u32,
    /// The count of matching points the active alert last published.
    published: u32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::CopiedFeed;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "A mine's safety data is exactly what another mine sent at the same time or a little earlier: one mine's data under another's code";
    type Params = Params;
    crate::slots!(mine = Copies);

    #[inline]
    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        // Most readings neither end a chunk nor close the window.
        if m.chunk_ended.is_none() && at < m.kinds.copied_feed.window_end {
            return;
        }
        let len = p.copied_window.max(60_000);
        // The window closes with the first reading at or after its end.
    let now = at;
        let st = &mut m.kinds.copied_feed;
        if st.window_end == 0 {
            st.window_end = (now.div_euclid(len) + 1) * len;
        } else if now >= st.window_end {
            let end = st.window_end;
            close(m, p, end, out);
            m.kinds.copied_feed.window_end = (now.div_euclid(len) + 1) * len;
        }
        if let Some(fp) = m.chunk_ended {
            m.kinds
                .copied_feed
                .sketch
                .offer(Sampled { fp, point: i, at });
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let source = a.evidence.get("copies").and_then(Value::as_str).unwrap_or("");
        m.kinds.copied_feed.source = Some(Arc::from(source));
        m.kinds.copied_feed.published = a.value.unwrap_or(0.0) as u32;
        true
    }
}

/// Hands the window ending at `end` to the index and judges what it answers.
fn close(m: &mut MineState, p: &Params, end: Millis, out: &mut Vec<Change>) {
    let st = &mut m.kinds.copied_feed;
    let handed: Vec<Handed> = st
        .sketch
        .items()
        .iter()
        .map(|s| Handed {
            fp: s.fp,
            point: s.point,
            at: s.at,
        })
        .collect();
    st.sketch.clear();
    let index: Arc<FeedIndex> = m.feed_index.clone();
    let found = index.hand_in(&m.def.id, &handed, end, p.copied_history);
    // The other mine this one repeats most, with the distinct points that repeat it.
    let mut best: Option<(Arc<str>, Vec<&Copied>)> = None;
    for c in &found {
        if best.as_ref().is_some_and(|b| b.0 == c.source) {
            continue;
        }
        let mut of: Vec<&Copied> = Vec::new();
        for d in found.iter().filter(|d| d.source == c.source) {
            if !of.iter().any(|x| x.point == d.point) {
                of.push(d);
            }
        }
        if best.as_ref().is_none_or(|b| of.len() > b.1.len()) {
            best = Some((c.source.clone(), of));
        }
    }
    let n = best.as_ref().map_or(0, |b| b.1.len());
    // The share is of the points the window's sample came from.
    let mut sampled: Vec<Idx> = handed.iter().map(|h| h.point).collect();
    sampled.sort_unstable();
    sampled.dedup();
    let sampled = sampled.len();
    let copies =
        n as u32 >= p.copied_min_points.max(1) && n as f64 >= p.copied_share * sampled as f64;
    let st = &mut m.kinds.copied_feed;
    match (&st.source, copies) {
        (None, true) => {
            let (source, of) = best.unwrap_or_else(|| unreachable!("copies needs a match"));
            st.source = Some(source.clone());
            st.clean = 0;
            st.published = of.len() as u32;
            emit(m, p, ChangeOp::Raise, end, Some((&source, &of)), sampled, out);
        }
        (Some(_), _) if n == 0 => {
            st.clean += 1;
            if st.clean >= p.copied_clear.max(1) {
                emit(m, p, ChangeOp::Resolve, end, None, sampled, out);
                m.kinds.copied_feed.source = None;
            }
        }
        (Some(_), _) => {
            st.clean = 0;
            // Still copying: the alert follows the count of points matching (and their mine).
            if let Some((source, of)) = best.filter(|b| b.1.len() as u32 != st.published) {
                st.published = of.len() as u32;
                st.source = Some(source.clone());
                emit(m, p, ChangeOp::Update, end, Some((&source, &of)), sampled, out);
            }
        }
        (None, false) => {}
    }
}

fn emit(
    m: &MineState,
    p: &Params,
    op: ChangeOp,
    end: Millis,
    matched: Option<(&Arc<str>, &[&Copied])>,
    sampled: usize,
    out: &mut Vec<Change>,
) {
    let st = &m.kinds.copied_feed;
    let len = p.copied_window.max(60_000);
    let source = matched
        .map(|x| x.0.clone())
        .or_else(|| st.source.clone())
        .unwrap_or_else(|| Arc::from(""));
    let of = matched.map_or(&[][..], |x| x.1);
    let points: Vec<&str> = of
        .iter()
        .filter_map(|c| m.def.points.get(c.point as usize).map(|p| &*p.id))
        .take(LISTED)
        .collect();
    let lag = of.iter().map(|c| c.at - c.source_at).min().unwrap_or(0);
    let place = m.place(None);
    let message = if op == ChangeOp::Resolve {
        format!(
            "Safety data of {place} no longer matches mine {source} ({} windows of {} min without a match)",
            st.clean,
            len / 60_000
        )
    } else {
        format!(
            "Safety data of {place} is mine {source}'s: {} points ({}) in the {} min to {} repeat exactly what mine {source} sent {} s earlier — one mine's data uploaded under another's code?",
            of.len(),
            points.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            len / 60_000,
            ts(end),
            lag / 1000
        )
    };
    let evidence = json!({
        "copies": &*source,
        "points": points,
        "matching": of.len(),
        "sampled": sampled,
        "lag_s": lag / 1000,
        "window_start": ts(end - len),
        "window_end": ts(end),
        "clean_windows": st.clean,
        "min_points": p.copied_min_points,
        "share": p.copied_share,
        "window_s": len / 1000,
        "history_s": p.copied_history / 1000,
    });
    let s = m.mine_subject(Kind::CopiedFeed);
    out.push(m.change(
        op,
        s,
        Severity::Critical,
        message,
        Some(of.len() as f64),
        Some(f64::from(p.copied_min_points)),
        end,
        evidence,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::feed_index::FeedIndex;
    use super::super::fingerprint::mix;
    use super::super::testkit::*;
    use crate::kinds::{MineState, RulesConfig as Params};
    use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
    use minewatch_core::registry::MineDef;
    use std::path::Path;
    use std::sync::Arc;

    /// Raises and resolves, without the updates an active alert publishes as its count moves.
    fn transitions(c: &[Change]) -> Vec<(&'static str, String)> {
        let mut o = ops(c, Kind::CopiedFeed);
        o.retain(|(op, _)| *op != "update");
        o
    }

    /// A noisy, never-repeating value of series `p` at step `k`.
    fn noisy(p: u64, k: i64) -> f64 {
        0.30 + (mix(p << 40 ^ k as u64) % 50) as f64 / 1000.0
    }

    /// Two test mines, M1 and M2 (the same registry under another id), sharing one index, as two
    /// shards' engines do.
    fn pair() -> (MineState, MineState) {
        let idx = FeedIndex::shared();
        let m1 = MineState::with_index(mine().def.clone(), idx.clone());
        let text = MINE.replacen("id = \"M1\"", "id = \"M2\"", 1);
        let def = MineDef::parse(Path::new("m2.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        (m1, MineState::with_index(Arc::new(def), idx))
    }

    /// The readings of a mine at `s` seconds carrying step `k` of series `base`..`base + 3`;
    /// `copy` of the four points take the copied series (base 100) at step `kc` instead.
    fn batch(s: i64, base: u64, k: i64, copy: usize, kc: i64) -> minewatch_core::payload::Batch<'static> {
        let v = |j: u64| {
            if (j as usize) < copy {
                noisy(100 + j, kc)
            } else {
                noisy(base + j, k)
            }
        };
        safety(
            at(s),
            &[
                ("P0", v(0) - 0.25, 0),
                ("P1", v(1), 0),
                ("P2", v(2) + 0.05, 0),
                ("O1", 20.0 + v(3), 0),
            ],
        )
    }

    /// Runs both mines over `[from, to)` s: M2 sends series 100 live; M1 its own series (0), with
    /// `copy` points on M2's, `lag` s behind. M1 is fed first at each step when `m1_first`.
    fn run(
        (m1, m2): &mut (MineState, MineState),
        p: &Params,
        from: i64,
        to: i64,
        copy: usize,
        lag: i64,
        m1_first: bool,
    ) -> Vec<Change> {
        let mut all = Vec::new();
        for s in (from..to).step_by(10) {
            let k = s / 10;
            let b1 = batch(s, 0, k, copy, (s - lag) / 10);
            let b2 = batch(s, 100, k, 0, k);
            if m1_first {
                all.extend(feed_with(m1, p, &b1));
                all.extend(feed_with(m2, p, &b2));
            } else {
                all.extend(feed_with(m2, p, &b2));
                all.extend(feed_with(m1, p, &b1));
            }
        }
        all.retain(|c| c.kind == Kind::CopiedFeed);
        all
    }

    #[test]
    fn a_copy_across_two_shards_engines_sharing_one_index_is_raised_on_the_copier() {
        let (m1, m2) = pair();
        let idx = FeedIndex::shared();
        let p = Params::default();
        let mut shard1 = crate::Engine::with_feed_index(p, [m1.def.clone()], idx.clone());
        let mut shard2 = crate::Engine::with_feed_index(p, [m2.def.clone()], idx);
        let mut out = Vec::new();
        for s in (0..3 * 3600).step_by(10) {
            let k = s / 10;
            let copy = if s >= 3600 { 4 } else { 0 };
            for (e, id, b) in [
                (&mut shard2, "M2", batch(s, 100, k, 0, k)),
                (&mut shard1, "M1", batch(s, 0, k, copy, k - 1)),
            ] {
                e.on_batch(id, minewatch_core::payload::System::Safety, &b, at(s), &mut out);
            }
        }
        out.retain(|c| c.kind == Kind::CopiedFeed && c.op == minewatch_core::ChangeOp::Raise);
        assert_eq!(ops(&out, Kind::CopiedFeed), vec![("raise", "M1".into())]);
        // An engine of its own (no shared index) sees nothing of the other shard's mine.
        let (m1, m2) = pair();
        let mut shard1 = crate::Engine::new(p, [m1.def.clone()]);
        let mut shard2 = crate::Engine::new(p, [m2.def.clone()]);
        let mut out = Vec::new();
        for s in (0..3 * 3600).step_by(10) {
            let k = s / 10;
            let b2 = batch(s, 100, k, 0, k);
            shard2.on_batch("M2", minewatch_core::payload::System::Safety, &b2, at(s), &mut out);
            let b1 = batch(s, 0, k, 4, k - 1);
            shard1.on_batch("M1", minewatch_core::payload::System::Safety, &b1, at(s), &mut out);
        }
        assert!(ops(&out, Kind::CopiedFeed).is_empty());
    }

    #[test]
    fn two_mines_with_their_own_data_never_match() {
        let mut ms = pair();
        let c = run(&mut ms, &Params::default(), 0, 6 * 3600, 0, 0, true);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn a_mine_copying_another_ten_seconds_late_is_raised_whichever_hands_in_first() {
        for m1_first in [true, false] {
            let mut ms = pair();
            let p = Params::default();
            assert!(run(&mut ms, &p, 0, 3600, 0, 0, m1_first).is_empty());
            // From 1 h, all four of M1's points send M2's values of 10 s before. The first
            // window holds the chunks that straddle the switch; the second matches in full, and
            // M2 handing in its own second window credits M1, judged when M1's third closes.
            let c = run(&mut ms, &p, 3600, 5410, 4, 10, m1_first);
            assert_eq!(ops(&c, Kind::CopiedFeed), vec![("raise", "M1".into())], "{m1_first}");
            assert_eq!(c[0].severity, Severity::Critical);
            assert_eq!(c[0].evidence["copies"], "M2");
            assert_eq!(c[0].evidence["lag_s"], 10);
            // M1's own data again from 1:30: two windows of its own resolve, M2 never raised.
            // The window of the switch back still matches fewer points: an update with that
            // count (the alert follows it), then the resolve.
            let c = run(&mut ms, &p, 5410, 9000, 0, 0, m1_first);
            assert_eq!(transitions(&c), vec![("resolve", "M1".into())]);
            for u in c.iter().filter(|c| c.op == ChangeOp::Update) {
                assert_eq!(u.value, u.evidence["matching"].as_f64(), "{:?}", u.evidence);
                assert!(u.value < Some(4.0), "fewer points than raised: {:?}", u.value);
            }
        }
    }

    #[test]
    fn copying_two_points_of_four_is_under_the_minimum_and_three_are_over_it() {
        let mut ms = pair();
        let p = Params::default();
        run(&mut ms, &p, 0, 3600, 0, 0, true);
        assert!(run(&mut ms, &p, 3600, 9000, 2, 10, true).is_empty());
        let mut ms = pair();
        run(&mut ms, &p, 0, 3600, 0, 0, true);
        let c = run(&mut ms, &p, 3600, 9000, 3, 10, true);
        assert_eq!(ops(&c, Kind::CopiedFeed), vec![("raise", "M1".into())]);
        // Three points of the four sampled: under a share of 0.9, over one of 0.5 (above).
        let mut ms = pair();
        let mut p = Params::default();
        p.copied_feed.copied_share = 0.9;
        run(&mut ms, &p, 0, 3600, 0, 0, true);
        assert!(run(&mut ms, &p, 3600, 9000, 3, 10, true).is_empty());
    }

    #[test]
    fn a_copy_older_than_the_history_is_not_matched_and_a_live_copy_raises_both() {
        let p = Params::default();
        // 70 minutes late, with a 1 h history.
        let mut ms = pair();
        assert!(run(&mut ms, &p, 0, 4 * 3600, 4, 4200, true).is_empty());
        // 50 minutes late.
        let mut ms = pair();
        let c = run(&mut ms, &p, 0, 4 * 3600, 4, 3000, true);
        assert_eq!(transitions(&c), vec![("raise", "M1".into())]);
        // The same moment: both.
        let mut ms = pair();
        let mut c = run(&mut ms, &p, 0, 3600, 4, 0, true);
        c.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(
            ops(&c, Kind::CopiedFeed),
            vec![("raise", "M1".into()), ("raise", "M2".into())]
        );
    }

    #[test]
    fn one_window_without_a_match_keeps_the_alert_and_a_restored_one_resolves() {
        let mut ms = pair();
        let p = Params::default();
        run(&mut ms, &p, 0, 3600, 0, 0, true);
        let mut c = run(&mut ms, &p, 3600, 5400, 4, 10, true);
        c.extend(run(&mut ms, &p, 5400, 6000, 0, 0, true));
        c.extend(run(&mut ms, &p, 6000, 7200, 4, 10, true));
        assert_eq!(ops(&c, Kind::CopiedFeed), vec![("raise", "M1".into())]);

        let mut m = mine();
        let mut out = Vec::new();
        let mut a = stored(Kind::CopiedFeed, "M1", None);
        a.evidence = serde_json::json!({"copies": "M2"});
        m.restore(&[a], &mut out);
        assert!(out.is_empty());
        let mut c = Vec::new();
        for s in (0..1810).step_by(10) {
            c.extend(feed(&mut m, &batch(s, 0, s / 10, 0, 0)));
        }
        assert_eq!(ops(&c, Kind::CopiedFeed), vec![("resolve", "M1".into())]);
        let r = c.iter().find(|c| c.kind == Kind::CopiedFeed);
        assert!(r.is_some_and(|r| r.message.contains("M2")), "{r:?}");
    }
}
