//! `data_rejected` — a mine whose data is mostly rejected is as blind as one that sends nothing.
//! Judged per system over the last `rejected_window` of wall clock (whole minutes, the current one
//! included): at least `rejected_min` of its messages had something rejected, and the share of its
//! data lost (a message rejected whole loses all of it, one with rejected elements the share of
//! its elements they are) is at least `rejected_ratio`, for `rejected_for`. Major; evidence: the
//! counts per system and per reason. Resolves when no system has held so for `rejected_window`.
//! While active and over the rate, updated when the worst share lost (its value) moves a tenth of
//! `rejected_ratio` (at least 0.01) from the share last published, either way.
//!
//! Wall clock, as the silent-system rule: a message rejected whole has no event time to count by.
//! A `ts` ahead of the wall clock is not counted (its data is applied; the clock rule says so).

use super::{KindRule, MineState, ts};
use crate::timed::{Step, Timed};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::{Batch, Reason, System};
use minewatch_core::time::Millis;
use serde_json::{Map, Value, json};

crate::params! {
    /// The window rejections are counted over (whole minutes of wall clock, the current one
    /// included; at most 15 min).
    rejected_window: Duration = mins(5), "duration";
    /// At least this many messages of a system with something rejected in the window...
    rejected_min: Count = 10, "messages";
    /// ...losing at least this share of the system's data...
    rejected_ratio: Number = 0.5, "share";
    /// ...for this long.
    rejected_for: Duration = mins(5), "duration";
}

/// Minutes of counts kept: the longest window allowed, plus the current minute.
const MINUTES: usize = 16;

/// What arrived from the mine in one minute of wall clock, per system (index of `System::ALL`).
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    /// Minutes since the epoch (0: unused).
    minute: i64,
    messages: [u32; 5],
    /// Messages with something rejected.
    rejected: [u32; 5],
    /// The data lost: the sum over messages of the share of each that was rejected.
    lost: [f32; 5],
    /// Rejections per reason (index of `Reason::ALL`), messages and elements.
    reasons: [u32; Reason::ALL.len()],
}

/// What this kind keeps for the mine.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    minutes: [Minute; MINUTES],
    timed: Timed,
    /// The worst share last published for the active alert (NaN: unknown, after a restore).
    published: f32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::DataRejected;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str =
        "The mine's messages or elements are rejected above a rate for a duration";
    type Params = Params;
    crate::slots!(mine = Counts);

    fn on_arrival(
        m: &mut MineState,
        p: &Params,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        let minute = this_minute(&mut m.kinds.data_rejected, wall);
        let s = system.index();
        minute.messages[s] = minute.messages[s].saturating_add(1);
        let mut rejected = 0u64;
        for r in batch.rejected.iter().filter(|r| r.reason != Reason::ClockSkew) {
            count(minute, r.reason, r.count);
            rejected += r.count;
        }
        if rejected > 0 {
            minute.rejected[s] = minute.rejected[s].saturating_add(1);
            minute.lost[s] += rejected as f32 / (rejected + batch.items.len() as u64) as f32;
            evaluate(m, p, wall, out);
        } else if m.kinds.data_rejected.timed.since != 0 || m.kinds.data_rejected.timed.active {
            evaluate(m, p, wall, out);
        }
    }

    fn on_rejected(
        m: &mut MineState,
        p: &Params,
        system: System,
        reason: Reason,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        let minute = this_minute(&mut m.kinds.data_rejected, wall);
        let s = system.index();
        minute.messages[s] = minute.messages[s].saturating_add(1);
        minute.rejected[s] = minute.rejected[s].saturating_add(1);
        minute.lost[s] += 1.0;
        count(minute, reason, 1);
        evaluate(m, p, wall, out);
    }

    fn on_tick(m: &mut MineState, p: &Params, wall: Millis, out: &mut Vec<Change>) {
        let st = &m.kinds.data_rejected;
        if st.timed.active || st.timed.since != 0 {
            evaluate(m, p, wall, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let started = a.started_at.timestamp_millis();
        m.kinds.data_rejected.timed.restore(started);
        m.kinds.data_rejected.published = a.value.map_or(f32::NAN, |v| v as f32);
        true
    }
}

fn count(minute: &mut Minute, reason: Reason, n: u64) {
    if let Some(k) = Reason::ALL.iter().position(|r| *r == reason) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        minute.reasons[k] = minute.reasons[k].saturating_add(n);
    }
}

/// The counts of the minute of `wall`, started afresh if its slot held an older minute.
fn this_minute(st: &mut Counts, wall: Millis) -> &mut Minute {
    let minute = wall.div_euclid(60_000);
    let slot = &mut st.minutes[minute.rem_euclid(MINUTES as i64) as usize];
    if slot.minute != minute {
        *slot = Minute {
            minute,
            ..Minute::default()
        };
    }
    slot
}

/// The window's counts at `wall`, summed.
fn window(st: &Counts, p: &Params, wall: Millis) -> Minute {
    let now = wall.div_euclid(60_000);
    let minutes = (p.rejected_window / 60_000).clamp(1, MINUTES as i64 - 1);
    let mut sum = Minute::default();
    for m in st.minutes.iter().filter(|m| m.minute > now - minutes && m.minute <= now) {
        for s in 0..5 {
            sum.messages[s] += m.messages[s];
            sum.rejected[s] += m.rejected[s];
            sum.lost[s] += m.lost[s];
        }
        for (total, n) in sum.reasons.iter_mut().zip(m.reasons) {
            *total += n;
        }
    }
    sum
}

/// The systems over the rate in `w`, with the share of their data lost.
fn over(w: &Minute, p: &Params) -> Vec<(System, f64)> {
    System::ALL
        .iter()
        .map(|&s| {
            let i = s.index();
            let share = f64::from(w.lost[i]) / f64::from(w.messages[i].max(1));
            (s, i, share)
        })
        .filter(|&(_, i, share)| w.rejected[i] >= p.rejected_min && share >= p.rejected_ratio)
        .map(|(s, _, share)| (s, share))
        .collect()
}

/// Re-judges the mine at wall time `wall`.
fn evaluate(m: &mut MineState, p: &Params, wall: Millis, out: &mut Vec<Change>) {
    let st = &m.kinds.data_rejected;
    let w = window(st, p, wall);
    let over = over(&w, p);
    let was = st.timed;
    let worst = over.iter().map(|o| o.1).fold(0.0, f64::max);
    let st = &mut m.kinds.data_rejected;
    let published = f64::from(st.published);
    let moved = published.is_nan() || (worst - published).abs() >= (p.rejected_ratio / 10.0).max(0.01);
    let op = match st.timed.step(!over.is_empty(), wall, p.rejected_for, p.rejected_window) {
        Step::Hold if st.timed.active && !over.is_empty() && moved => ChangeOp::Update,
        Step::Hold => return,
        Step::Raise(_) => ChangeOp::Raise,
        Step::Resolve(_) => ChangeOp::Resolve,
    };
    st.published = worst as f32;
    let reasons: Map<String, Value> = Reason::ALL
        .iter()
        .zip(w.reasons)
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| (r.as_str().to_string(), n.into()))
        .collect();
    let systems: Map<String, Value> = System::ALL
        .iter()
        .filter(|s| w.messages[s.index()] > 0)
        .map(|s| {
            let i = s.index();
            let share = f64::from(w.lost[i]) / f64::from(w.messages[i].max(1));
            let v = json!({
                "messages": w.messages[i], "rejected": w.rejected[i],
                "lost": (share * 1000.0).round() / 1000.0,
            });
            (s.as_str().to_string(), v)
        })
        .collect();
    let window_min = p.rejected_window / 60_000;
    let place = m.place(None);
    let message = match op {
        ChangeOp::Resolve => format!("Data from {place} is accepted again"),
        _ => {
            let what: Vec<String> = over
                .iter()
                .map(|(s, share)| {
                    let i = s.index();
                    format!(
                        "{}: {} of {} messages, {:.0} % of its data",
                        s.as_str(),
                        w.rejected[i],
                        w.messages[i],
                        share * 100.0
                    )
                })
                .collect();
            let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
            format!(
                "Data from {place} is rejected ({}; {}) over the last {window_min} min: the mine is as good as unwatched",
                what.join("; "),
                why.join(", ")
            )
        }
    };
    let evidence = json!({
        "window_min": window_min, "systems": systems, "reasons": reasons,
        "since": ts(was.since.max(1)), "wall_clock": ts(wall),
    });
    let s = m.mine_subject(Kind::DataRejected);
    let (value, limit) = (Some(worst), Some(p.rejected_ratio));
    out.push(m.change(op, s, Severity::Major, message, value, limit, wall, evidence));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::kinds::RulesConfig as Params;
    use minewatch_core::alert::{Change, Kind, Severity};
    use minewatch_core::payload::{Reason, System};

    fn good(m: &mut crate::MineState, wall: i64) -> Vec<Change> {
        let mut out = Vec::new();
        m.on_batch(&Params::default(), System::Safety, &normal(wall), wall, &mut out);
        out
    }

    fn bad(m: &mut crate::MineState, wall: i64) -> Vec<Change> {
        let mut out = Vec::new();
        m.on_rejected(&Params::default(), System::Safety, Reason::BadJson, b"{", wall, &mut out);
        out
    }

    #[test]
    fn mostly_rejected_for_rejected_for_raises_and_clears_after_the_window() {
        let mut m = mine();
        // Two good batches and one rejected whole every 10 s: a third of the messages lost.
        for s in (0..900).step_by(10) {
            good(&mut m, at(s));
            good(&mut m, at(s) + 5000);
            assert!(ops(&bad(&mut m, at(s)), Kind::DataRejected).is_empty());
        }
        // Now only rejected messages: from 900 s on, the condition holds once the window has
        // enough of them and they are at least half; raised rejected_for (300 s) later.
        let mut raised = None;
        for s in (900..1800).step_by(10) {
            let c = bad(&mut m, at(s));
            if let Some(c) = c.iter().find(|c| c.kind == Kind::DataRejected) {
                raised = Some((s, c.clone()));
                break;
            }
        }
        let (s, c) = raised.expect("raised");
        assert_eq!(c.severity, Severity::Major);
        assert!(c.evidence["reasons"]["bad_json"].as_u64() > Some(10));
        assert!(c.evidence["systems"]["safety"]["lost"].as_f64() >= Some(0.5));
        assert!(c.message.contains("bad_json") && c.message.contains("safety"), "{}", c.message);
        // Held from the message that tipped the share over half; raised at the first message
        // rejected_for (300 s) after it, not one message sooner.
        let since = c.evidence["since"]
            .as_str()
            .and_then(minewatch_core::time::parse_rfc3339)
            .expect("since");
        assert!(since > at(900), "held only once bad-only messages came");
        let held = at(s) - since;
        assert!((300_000..310_000).contains(&held), "raised {held} ms after it held");
        // Good data again: resolves once the window has held under the rate for rejected_window.
        let mut resolved = None;
        for k in (s + 10..s + 1200).step_by(10) {
            let c = good(&mut m, at(k));
            if ops(&c, Kind::DataRejected).iter().any(|o| o.0 == "resolve") {
                resolved = Some(k);
                break;
            }
        }
        let k = resolved.expect("resolved");
        assert!(k - s >= 300, "not before the window: {}", k - s);
    }

    #[test]
    fn an_active_alerts_share_follows_the_data_lost_by_a_tenth_of_the_ratio() {
        let p = Params::default();
        // A message each second, its 6 good readings and `rejected` rejected elements.
        let batch = |m: &mut crate::MineState, s: i64, rejected: u64| {
            let mut b = normal(at(s));
            b.rejected.push(minewatch_core::payload::RejectedElements {
                reason: Reason::BadValue,
                count: rejected,
                examples: Vec::new(),
            });
            let mut out = Vec::new();
            m.on_batch(&p, System::Safety, &b, at(s), &mut out);
            out
        };
        let mut m = mine();
        let mut all = Vec::new();
        for s in 0..=400 {
            all.extend(batch(&mut m, s, 10));
        }
        assert_eq!(ops(&all, Kind::DataRejected), vec![("raise", "M1".into())]);
        let c = all.iter().find(|c| c.kind == Kind::DataRejected).expect("raised");
        assert_eq!(c.value, Some(0.625), "10 of 16 elements lost");
        // The same share: quiet.
        assert!(ops(&batch(&mut m, 401, 10), Kind::DataRejected).is_empty());
        // Messages losing less (2 of 8): the share falls a little each second, quiet until it has
        // moved 0.05 (a tenth of the 0.5 ratio) from 0.625, then an update carrying it.
        let mut s = 402;
        let update = loop {
            let c = batch(&mut m, s, 2);
            s += 1;
            if let Some(u) = c.into_iter().find(|c| c.kind == Kind::DataRejected) {
                break u;
            }
            assert!(s < 700, "no update");
        };
        assert_eq!(update.op, minewatch_core::alert::ChangeOp::Update);
        let v = update.value.unwrap_or(0.0);
        assert!(v <= 0.575 + 1e-6 && v > 0.5, "{v}");
        // Good data from then on: resolved after the window (updates may come before).
        let resolved = (s..s + 1200).any(|k| {
            ops(&good(&mut m, at(k)), Kind::DataRejected)
                .iter()
                .any(|o| o.0 == "resolve")
        });
        assert!(resolved);
    }

    #[test]
    fn just_under_the_count_or_the_share_raises_nothing() {
        let p = Params::default();
        // A rejection every 40 s, nothing else: at most 8 in a 5-minute window, under rejected_min.
        let mut m = mine();
        for s in (0..3600).step_by(40) {
            let mut out = Vec::new();
            m.on_rejected(&p, System::Safety, Reason::BadJson, b"{", at(s), &mut out);
            m.on_tick(&p, at(s), &mut out);
            assert!(ops(&out, Kind::DataRejected).is_empty(), "{s}");
        }
        // Every message with rejected elements besides its 6 good ones, for an hour: whether
        // that raises.
        let raises = |rejected: u64| {
            let mut q = mine();
            let mut out = Vec::new();
            for s in (0..3600).step_by(10) {
                let mut b = normal(at(s));
                b.rejected.push(minewatch_core::payload::RejectedElements {
                    reason: Reason::BadValue,
                    count: rejected,
                    examples: Vec::new(),
                });
                q.on_batch(&p, System::Safety, &b, at(s), &mut out);
            }
            !ops(&out, Kind::DataRejected).is_empty()
        };
        // Losing under half of the data (5 of 11 elements): no; just over (7 of 13): yes.
        assert!(!raises(5));
        assert!(raises(7));
    }
}
