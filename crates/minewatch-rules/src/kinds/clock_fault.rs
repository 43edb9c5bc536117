//! `clock_fault` — the mine's timestamps cannot be trusted: a system's clock jumped back, or forward
//! by more than the wall clock moved, by more than `clock_jump`; its systems' clocks disagree by
//! more than `clock_jump` for `clock_disagree_for`; or a `ts` ran ahead of the wall clock beyond
//! `engine.max_clock_skew` (the decoder took it at the wall clock's time). One alert per mine,
//! major; the evidence says which system and by how much.
//!
//! A clock that jumped is followed, not obeyed: after a jump, this kind sets
//! [`MineState::time_shift`] for that system so its times continue where they were (the engine
//! moves every time of its batches by it), and every other rule keeps judging: a central station
//! set back an hour does not turn an hour of readings into "old" data. A forward jump only takes
//! back such a correction (a clock put right); a clock that runs ahead is clamped by the decoder.
//! Resolves when no system's times are moved, none ran ahead and they agree, for `clock_clear`.
//!
//! Measured against the wall clock at arrival, so a backlog drained fast (times moving on slower
//! than the wall clock) is not a jump; a system that comes back after an outage with its clock
//! moved by less than the outage is not seen (its times are continuous with the wall clock's).

use super::{KindRule, MineState, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::payload::{Batch, System};
use minewatch_core::time::Millis;
use serde_json::{Map, Value, json};

crate::params! {
    /// A system's `ts` moving back, or forward by more than the wall clock did, by more than this
    /// is a jump; systems whose clocks differ by more than this disagree.
    clock_jump: Duration = secs(120), "duration";
    /// How long the systems' clocks must disagree before it is raised.
    clock_disagree_for: Duration = mins(5), "duration";
    /// How long the mine's time must be consistent again before it resolves.
    clock_clear: Duration = mins(10), "duration";
}

/// What this kind keeps about the mine's clocks, per system (index of `System::ALL`).
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    /// The last batch `ts` (moved by the shift) and the wall time it arrived.
    last: [Option<(Millis, Millis)>; 5],
    /// The last batch `ts` as written, minus the wall time it arrived.
    offset: [Option<Millis>; 5],
    /// A jump back not yet followed: the first `ts` after it, and the wall time it arrived.
    pending: [Option<(Millis, Millis)>; 5],
    /// The last jump (signed, ms) and the wall time it was seen.
    jump: [Option<(Millis, Millis)>; 5],
    /// How far the last message that ran ahead of the wall clock did, and when.
    ahead: [Option<(Millis, Millis)>; 5],
    /// Since when (wall) the systems' clocks disagree (0: they agree).
    disagree_since: Millis,
    /// Wall time a lasting sign (times moved, clocks disagreeing) was last seen (0: never;
    /// `Millis::MAX`: restored, not looked at yet). Jumps and `ts` ahead carry their own times.
    last_fault: Millis,
    /// What the active alert said (its message), if one is active.
    said: Option<String>,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::ClockFault;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const SEVERITY: Severity = Severity::Major;
    const DESCRIPTION: &'static str = "The mine's timestamps jump back or forward, disagree between its systems, or run ahead of the wall clock";
    type Params = Params;
    crate::slots!(mine = Clocks);

    fn on_arrival(
        m: &mut MineState,
        p: &Params,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        let s = system.index();
        let st = &mut m.kinds.clock_fault;
        if batch.ahead > 0 {
            st.ahead[s] = Some((batch.ahead, wall));
        }
        let moved = batch.ts + m.time_shift[s];
        let mut now = moved;
        if let Some((last, at)) = st.last[s] {
            let elapsed = (wall - at).max(0);
            if moved < last - p.clock_jump {
                // Back. An old message (a redelivery, a backlog) is followed by newer ones; a
                // clock set back goes on from where it jumped, at the wall clock's pace: once it
                // has for `CONFIRM_MS`, its times continue from where they were.
                match st.pending[s] {
                    Some((first, since))
                        if moved >= first
                            && moved - first <= wall - since + p.clock_jump
                            && wall - since >= CONFIRM_MS =>
                    {
                        now = last + elapsed;
                        st.jump[s] = Some((moved - now, wall));
                        st.pending[s] = None;
                    }
                    Some((first, since))
                        if moved >= first && moved - first <= wall - since + p.clock_jump => {}
                    _ => st.pending[s] = Some((moved, wall)),
                }
            } else {
                // Not back: whatever looked like a jump back was an old message.
                st.pending[s] = None;
                if moved > last + elapsed + p.clock_jump && m.time_shift[s] > 0 {
                    // Forward while corrected: the clock was put right (or partly).
                    let jump = moved - (last + elapsed);
                    now = moved - jump.min(m.time_shift[s]);
                    st.jump[s] = Some((jump, wall));
                }
            }
        }
        m.time_shift[s] += now - moved;
        // A message a little behind (out of order, not a jump) does not move the reference back.
        if st.last[s].is_none_or(|(last, _)| now >= last) {
            st.last[s] = Some((now, wall));
        }
        st.offset[s] = Some(batch.ts - wall);
        // Disagreement among the systems heard from lately.
        let recent = |k: usize| st.last[k].is_some_and(|(_, at)| wall - at <= p.clock_disagree_for);
        let offsets = (0..5).filter(|&k| recent(k)).filter_map(|k| st.offset[k]);
        let (lo, hi) = offsets.fold((Millis::MAX, Millis::MIN), |(lo, hi), o| (lo.min(o), hi.max(o)));
        if hi > lo && hi - lo > p.clock_jump {
            if st.disagree_since == 0 {
                st.disagree_since = wall;
            }
        } else {
            st.disagree_since = 0;
        }
        evaluate(m, p, wall, now.max(m.clock.unwrap_or(now)), out);
    }

    fn on_tick(m: &mut MineState, p: &Params, wall: Millis, out: &mut Vec<Change>) {
        if m.kinds.clock_fault.said.is_some() {
            let at = m.clock.unwrap_or(wall);
            evaluate(m, p, wall, at, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let st = &mut m.kinds.clock_fault;
        st.said = Some(a.message.clone());
        // Judged afresh from the next messages: clears clock_clear after the first look.
        st.last_fault = Millis::MAX;
        true
    }
}

/// How long (wall clock) a system's times must go on from a jump back before they are taken as
/// its clock's, not as old messages.
const CONFIRM_MS: Millis = 20_000;

/// Whether the mine's time is inconsistent now: a system's times are moved, a jump or a `ts`
/// ahead of the wall clock was seen within `clock_clear`, or the systems have disagreed for
/// `clock_disagree_for`.
fn faulty(m: &MineState, p: &Params, wall: Millis) -> bool {
    let st = &m.kinds.clock_fault;
    let fresh = |seen: Option<(Millis, Millis)>| seen.is_some_and(|(_, at)| wall - at < p.clock_clear);
    disagreeing(st, p, wall)
        || (0..5).any(|s| m.time_shift[s] != 0 || fresh(st.jump[s]) || fresh(st.ahead[s]))
}

fn disagreeing(st: &Clocks, p: &Params, wall: Millis) -> bool {
    st.disagree_since != 0 && wall - st.disagree_since >= p.clock_disagree_for
}

/// The signs seen now, per system, for the evidence and the message.
fn signs(m: &MineState, p: &Params, wall: Millis) -> (Map<String, Value>, Vec<String>) {
    let st = &m.kinds.clock_fault;
    let fresh = |at: Millis| wall - at < p.clock_clear;
    let disagree = disagreeing(st, p, wall);
    let mut evidence = Map::new();
    let mut said = Vec::new();
    for system in System::ALL {
        let s = system.index();
        let name = system.as_str();
        let mut e = Map::new();
        let shift = m.time_shift[s];
        if let Some((by, at)) = st.jump[s].filter(|&(_, at)| fresh(at) || shift != 0) {
            e.insert("jump_ms".into(), by.into());
            e.insert("jump_seen".into(), ts(at).into());
            let dir = if by < 0 { "back" } else { "forward" };
            said.push(format!("{name} jumped {dir} {}", span(by)));
        }
        if shift != 0 {
            e.insert("shift_ms".into(), shift.into());
            said.push(format!("{name} times are moved {} to follow", span(shift)));
        }
        if let Some((by, at)) = st.ahead[s].filter(|&(_, at)| fresh(at)) {
            e.insert("ahead_ms".into(), by.into());
            e.insert("ahead_seen".into(), ts(at).into());
            said.push(format!("{name} ran {} ahead of the wall clock", span(by)));
        }
        if !e.is_empty() || (disagree && st.offset[s].is_some()) {
            if let Some(o) = st.offset[s] {
                e.insert("offset_ms".into(), o.into());
            }
            evidence.insert(name.into(), Value::Object(e));
        }
    }
    if disagree {
        let offsets: Vec<String> = System::ALL
            .iter()
            .filter_map(|s| {
                let o = st.offset[s.index()]?;
                let sign = if o < 0 { "-" } else { "+" };
                Some(format!("{} {sign}{}", s.as_str(), span(o)))
            })
            .collect();
        said.push(format!(
            "its systems' clocks disagree (offsets from the wall clock: {})",
            offsets.join(", ")
        ));
    }
    (evidence, said)
}

/// Re-judges the mine at wall time `wall`; changes carry mine time `at`.
fn evaluate(m: &mut MineState, p: &Params, wall: Millis, at: Millis, out: &mut Vec<Change>) {
    let faulty = faulty(m, p, wall);
    let shifted = m.time_shift.iter().any(|&s| s != 0);
    let place = m.place(None);
    let st = &mut m.kinds.clock_fault;
    if faulty && (shifted || disagreeing(st, p, wall)) {
        st.last_fault = wall;
    }
    let (op, message, evidence) = match (&st.said, faulty) {
        (None, false) => return,
        (Some(_), false) => {
            if st.last_fault > wall {
                // Restored from the store: consistent from now on, if it stays so.
                st.last_fault = wall;
            }
            if wall - st.last_fault < p.clock_clear {
                return;
            }
            let message = format!("The clocks of {place} are consistent again");
            (ChangeOp::Resolve, message, Map::new())
        }
        (before, true) => {
            let before = before.clone();
            let (evidence, said) = signs(m, p, wall);
            let message = format!("The clocks of {place} cannot be trusted: {}", said.join("; "));
            match before {
                None => (ChangeOp::Raise, message, evidence),
                Some(b) if b != message => (ChangeOp::Update, message, evidence),
                Some(_) => return,
            }
        }
    };
    let st = &mut m.kinds.clock_fault;
    st.said = (op != ChangeOp::Resolve).then(|| message.clone());
    let evidence = json!({
        "systems": evidence,
        "clock_jump_s": p.clock_jump / 1000,
        "wall_clock": ts(wall),
    });
    let s = m.mine_subject(Kind::ClockFault);
    out.push(m.change(op, s, Severity::Major, message, None, None, at, evidence));
}

/// "1 h 0 min", "2 min 5 s", "40 s" (sign dropped).
fn span(ms: Millis) -> String {
    let s = ms.unsigned_abs() / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::kinds::RulesConfig as Params;
    use minewatch_core::alert::{Change, Kind, Severity};
    use minewatch_core::payload::{Batch, System};

    /// Safety batch `b` arrives at wall time `wall`.
    fn arrive(m: &mut crate::MineState, b: &Batch<'_>, wall: i64) -> Vec<Change> {
        let mut out = Vec::new();
        m.on_batch(&Params::default(), System::Safety, b, wall, &mut out);
        out
    }

    fn arrive_as(m: &mut crate::MineState, system: System, ts: i64, wall: i64) -> Vec<Change> {
        let mut b = normal(ts);
        b.items = minewatch_core::payload::Items::Power(Vec::new());
        let mut out = Vec::new();
        m.on_batch(&Params::default(), system, &b, wall, &mut out);
        out
    }

    fn tick(m: &mut crate::MineState, wall: i64) -> Vec<Change> {
        let mut out = Vec::new();
        m.on_tick(&Params::default(), wall, &mut out);
        out
    }

    #[test]
    fn a_clock_set_back_raises_and_its_times_are_followed_until_it_is_put_right() {
        let mut m = mine();
        for s in (0..600).step_by(10) {
            assert!(ops(&arrive(&mut m, &normal(at(s)), at(s)), Kind::ClockFault).is_empty());
        }
        // Back by just under clock_jump (120 s): not a jump.
        let c = arrive(&mut m, &normal(at(600 - 119)), at(600));
        assert!(ops(&c, Kind::ClockFault).is_empty());
        assert_eq!(m.time_shift[0], 0);
        // Back an hour from wall 610 s: followed once it has gone on for 20 s (the first two
        // batches are judged as late readings, at their own times).
        for s in [610, 620] {
            let c = arrive(&mut m, &normal(at(s - 3600)), at(s));
            assert!(ops(&c, Kind::ClockFault).is_empty());
            assert_eq!(m.time_shift[0], 0);
        }
        let c = arrive(&mut m, &normal(at(630 - 3600)), at(630));
        assert_eq!(ops(&c, Kind::ClockFault), vec![("raise", "M1".into())]);
        assert_eq!(c[0].severity, Severity::Major);
        assert!(c[0].message.contains("safety jumped back"), "{}", c[0].message);
        assert_eq!(c[0].evidence["systems"]["safety"]["jump_ms"], -3_600_000);
        // An old message alone (a redelivery) is no jump: the next goes on from before.
        let mut q = mine();
        for s in (0..600).step_by(10) {
            arrive(&mut q, &normal(at(s)), at(s));
        }
        for (ts, wall) in [(100, 600), (600, 610), (110, 620), (120, 630), (620, 635)] {
            let c = arrive(&mut q, &normal(at(ts)), at(wall));
            assert!(ops(&c, Kind::ClockFault).is_empty(), "{ts}");
        }
        assert_eq!(q.time_shift[0], 0);
        // Its times are moved an hour on: the readings are fresh, the mine's time goes on.
        assert_eq!(m.time_shift[0], 3_600_000);
        assert_eq!(m.clock, Some(at(630)));
        let p1 = m.def.point("P1").map_or(0, |i| i as usize);
        assert_eq!(m.points[p1].last_seen, at(630));
        // A methane reading over a limit while the clock is wrong raises at the mine's time.
        let c = arrive(&mut m, &safety(at(640 - 3600), &[("P1", 1.6, 0)]), at(640));
        assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "P1".into())]);
        assert_eq!(c[0].at, at(640));
        // Stays while the times are moved.
        for s in (650..2000).step_by(10) {
            assert!(ops(&arrive(&mut m, &normal(at(s - 3600)), at(s)), Kind::ClockFault).is_empty());
        }
        assert!(ops(&tick(&mut m, at(2000)), Kind::ClockFault).is_empty());
        // Put right at 2000 s: the correction ends; resolves after clock_clear (600 s), not before.
        let c = arrive(&mut m, &normal(at(2000)), at(2000));
        assert_eq!(ops(&c, Kind::ClockFault), vec![("update", "M1".into())]);
        assert_eq!(m.time_shift[0], 0);
        for s in (2010..2600).step_by(10) {
            assert!(ops(&arrive(&mut m, &normal(at(s)), at(s)), Kind::ClockFault).is_empty(), "{s}");
        }
        let c = arrive(&mut m, &normal(at(2600)), at(2600));
        assert_eq!(ops(&c, Kind::ClockFault), vec![("resolve", "M1".into())]);
    }

    #[test]
    fn a_backlog_drained_fast_is_not_a_jump_and_forward_by_just_over_elapsed_is_only_a_correction() {
        let mut m = mine();
        // Two hours of readings every 10 s arrive within 72 s of wall clock.
        for k in 0..720 {
            let c = arrive(&mut m, &normal(at(k * 10)), at(k / 10));
            assert!(ops(&c, Kind::ClockFault).is_empty(), "{k}");
        }
        // A forward jump of a clock that was not corrected: nothing to take back, not raised.
        let c = arrive(&mut m, &normal(at(7200 + 3600)), at(80));
        assert!(ops(&c, Kind::ClockFault).is_empty());
        assert_eq!(m.time_shift[0], 0);
    }

    #[test]
    fn a_ts_ahead_of_the_wall_clock_raises_and_resolves_after_clock_clear() {
        let mut m = mine();
        arrive(&mut m, &normal(at(0)), at(0));
        let mut b = normal(at(10));
        b.ahead = 3_600_000;
        let c = arrive(&mut m, &b, at(10));
        assert_eq!(ops(&c, Kind::ClockFault), vec![("raise", "M1".into())]);
        assert_eq!(c[0].evidence["systems"]["safety"]["ahead_ms"], 3_600_000);
        assert!(c[0].message.contains("ahead of the wall clock"), "{}", c[0].message);
        // Nothing more ahead: resolves clock_clear (600 s) after the sign was seen, not before.
        assert!(ops(&tick(&mut m, at(609)), Kind::ClockFault).is_empty());
        assert_eq!(
            ops(&tick(&mut m, at(610)), Kind::ClockFault),
            vec![("resolve", "M1".into())]
        );
    }

    #[test]
    fn systems_that_disagree_raise_after_clock_disagree_for() {
        let mut m = mine();
        // Personnel stamps its messages 3 min behind safety (beyond clock_jump, 2 min).
        let mut raised = None;
        for s in (0..=400).step_by(10) {
            let mut c = arrive_as(&mut m, System::Safety, at(s), at(s));
            c.extend(arrive_as(&mut m, System::Personnel, at(s - 180), at(s)));
            if !ops(&c, Kind::ClockFault).is_empty() {
                raised = Some((s, c[0].message.clone()));
                break;
            }
        }
        // First seen at 0 s; raised at clock_disagree_for (300 s), not before.
        let (s, message) = raised.expect("raised");
        assert_eq!(s, 300);
        assert!(message.contains("disagree"), "{message}");
        // Just under the threshold: 119 s apart is agreement.
        let mut q = mine();
        for s in (0..=900).step_by(10) {
            let mut c = arrive_as(&mut q, System::Safety, at(s), at(s));
            c.extend(arrive_as(&mut q, System::Personnel, at(s - 119), at(s)));
            assert!(ops(&c, Kind::ClockFault).is_empty());
        }
    }
}
