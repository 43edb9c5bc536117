//! `power_off_failure` (馈电异常) — a methane point at power-off level while one of its `feeds`
//! still reads 1 (energized) after `feed_grace`. Critical. Resolves when every feed reads 0 or the
//! point falls below its restore limit.

use super::{KindRule, MineState, fmt_value, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::registry::Idx;
use minewatch_core::time::Millis;
use serde_json::json;

crate::params! {
    /// How long a feed may stay energized after its point reached power-off. The regulation asks
    /// for power-off within 2 s; ten gives polling cycles room without hiding a failure.
    feed_grace: Duration = secs(10), "duration";
}

/// What this kind keeps per point (a methane point with feeds).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
pub struct Slot {
    /// Since when the point is at power-off with a feed energized (0: it is not).
    pub since: Millis,
    /// Whether the alert is raised.
    pub active: bool,
    /// The value last published for the active alert: it is updated when the point moves a
    /// tenth of its power-off level from it, so the alert's value follows the point.
    pub published: f32,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::PowerOffFailure;
    const SUBJECT: SubjectType = SubjectType::Point;
    const SEVERITY: Severity = Severity::Critical;
    const DESCRIPTION: &'static str =
        "Power not cut: a methane point at power-off level while a feed it controls stays energized";
    type Params = Params;
    crate::slots!(point = Slot);

    fn on_reading(m: &mut MineState, p: &Params, i: Idx, at: Millis, out: &mut Vec<Change>) {
        if !m.def.points[i as usize].feeds.is_empty() {
            evaluate(m, p, i, at, out);
        }
        // By index: no clone of the definition on the per-reading path.
        for k in 0..m.def.feed_dependents[i as usize].len() {
            let d = m.def.feed_dependents[i as usize][k];
            evaluate(m, p, d, at, out);
        }
    }

    fn sweep(m: &mut MineState, p: &Params, clock: Millis, _: Millis, out: &mut Vec<Change>) {
        for i in 0..m.points.len() as Idx {
            sweep(m, p, i, clock, out);
        }
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let Some(i) = m.def.point(&a.subject) else {
            return false;
        };
        let st = &mut m.points[i as usize];
        st.kinds.power_off_failure.active = true;
        st.kinds.power_off_failure.published = a.value.unwrap_or(0.0) as f32;
        st.at_power_off = true;
        true
    }
}

fn energized(m: &MineState, d: Idx) -> bool {
    m.def.points[d as usize].feeds.iter().any(|&f| {
        let s = &m.points[f as usize];
        s.last_seen != 0 && s.value >= 0.5
    })
}

/// Evaluates methane point `d` (which has feeds) after it or one of its feeds reported at `at`.
fn evaluate(m: &mut MineState, p: &Params, d: Idx, at: Millis, out: &mut Vec<Change>) {
    let holds = m.points[d as usize].at_power_off && energized(m, d);
    let st = &mut m.points[d as usize];
    if holds {
        if st.kinds.power_off_failure.since == 0 {
            st.kinds.power_off_failure.since = at;
        }
        let since = st.kinds.power_off_failure.since;
        if !st.kinds.power_off_failure.active {
            if at - since >= p.feed_grace {
                raise(m, p, d, ChangeOp::Raise, at, out);
            } else {
                m.due(since + p.feed_grace);
            }
        } else {
            let tenth = m.def.points[d as usize].limits.power_off.unwrap_or(0.0).abs() / 10.0;
            let published = f64::from(st.kinds.power_off_failure.published);
            if tenth > 0.0 && (st.value - published).abs() >= tenth {
                raise(m, p, d, ChangeOp::Update, at, out);
            }
        }
    } else {
        st.kinds.power_off_failure.since = 0;
        let feeds_unknown = m.def.points[d as usize]
            .feeds
            .iter()
            .all(|&f| m.points[f as usize].last_seen == 0);
        let st = &mut m.points[d as usize];
        if st.kinds.power_off_failure.active && st.at_power_off && feeds_unknown {
            // Restored after a restart: wait for the feeds to report before judging.
            return;
        }
        if st.kinds.power_off_failure.active {
            st.kinds.power_off_failure.active = false;
            let msg = {
                let point = &m.def.points[d as usize];
                let s = m.point_subject(Kind::PowerOffFailure, d);
                let why = if m.points[d as usize].at_power_off {
                    "its feeds are now de-energized"
                } else {
                    "methane fell below restore"
                };
                (
                    format!(
                        "Power-off at {} ({}) resolved: {why}",
                        point.id,
                        m.place(s.area_name)
                    ),
                    s,
                )
            };
            let ev = evidence(m, d, at);
            let v = m.points[d as usize].value;
            let limit = m.def.points[d as usize].limits.power_off;
            out.push(m.change(
                ChangeOp::Resolve,
                msg.1,
                Severity::Critical,
                msg.0,
                Some(v),
                limit,
                at,
                ev,
            ));
        }
    }
}

/// Raises when a pending condition has matured on the mine clock.
fn sweep(m: &mut MineState, p: &Params, d: Idx, clock: Millis, out: &mut Vec<Change>) {
    let st = m.points[d as usize];
    if st.kinds.power_off_failure.since == 0 || st.kinds.power_off_failure.active {
        return;
    }
    let due = st.kinds.power_off_failure.since + p.feed_grace;
    if clock >= due {
        if st.at_power_off && energized(m, d) {
            raise(m, p, d, ChangeOp::Raise, due, out);
        } else {
            m.points[d as usize].kinds.power_off_failure.since = 0;
        }
    } else {
        m.due(due);
    }
}

fn evidence(m: &MineState, d: Idx, at: Millis) -> serde_json::Value {
    let point = &m.def.points[d as usize];
    let feeds: Vec<_> = point
        .feeds
        .iter()
        .map(|&f| {
            let s = &m.points[f as usize];
            json!({"point": &*m.def.points[f as usize].id, "value": if s.last_seen == 0 { None } else { Some(s.value) },
                   "ts": if s.last_seen == 0 { None } else { Some(ts(s.last_seen)) }})
        })
        .collect();
    let st = &m.points[d as usize];
    json!({
        "value": st.value, "power_off": point.limits.power_off, "restore": point.limits.restore,
        "since": if st.kinds.power_off_failure.since == 0 { None } else { Some(ts(st.kinds.power_off_failure.since)) },
        "feeds": feeds, "ts": ts(at),
    })
}

/// Raises the alert, or (`op` = update) publishes the point's value again while it is active.
fn raise(m: &mut MineState, p: &Params, d: Idx, op: ChangeOp, at: Millis, out: &mut Vec<Change>) {
    let st = &mut m.points[d as usize];
    st.kinds.power_off_failure.active = true;
    st.kinds.power_off_failure.published = st.value as f32;
    let point = &m.def.points[d as usize];
    let st = m.points[d as usize];
    let live: Vec<&str> = point
        .feeds
        .iter()
        .filter(|&&f| m.points[f as usize].last_seen != 0 && m.points[f as usize].value >= 0.5)
        .map(|&f| &*m.def.points[f as usize].id)
        .collect();
    let s = m.point_subject(Kind::PowerOffFailure, d);
    let message = format!(
        "Power not cut: {} {} at {} ({}) is at power-off level {} but feed {} still energized after {} s",
        point.kind.label(),
        fmt_value(st.value, point.kind.unit()),
        point.id,
        m.place(s.area_name),
        fmt_value(
            point.limits.power_off.unwrap_or(f64::NAN),
            point.kind.unit()
        ),
        live.join(", "),
        p.feed_grace / 1000
    );
    let ev = evidence(m, d, at);
    out.push(m.change(
        op,
        s,
        Severity::Critical,
        message,
        Some(st.value),
        point.limits.power_off,
        at,
        ev,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use minewatch_core::alert::{Kind, Severity};

    #[test]
    fn an_active_alerts_value_follows_the_point_by_a_tenth_of_power_off() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.6, 0), ("F1", 1.0, 0)]));
        let c = feed(&mut m, &safety(at(20), &[("P1", 1.65, 0), ("F1", 1.0, 0)]));
        assert_eq!(ops(&c, Kind::PowerOffFailure), vec![("raise", "P1".into())]);
        // P1's power-off level is 1.5: a move under 0.15 is quiet, one of 0.15 or more updates.
        let c = feed(&mut m, &safety(at(30), &[("P1", 1.79, 0), ("F1", 1.0, 0)]));
        assert!(ops(&c, Kind::PowerOffFailure).is_empty());
        let c = feed(&mut m, &safety(at(40), &[("P1", 1.81, 0), ("F1", 1.0, 0)]));
        let pof: Vec<_> = c.iter().filter(|c| c.kind == Kind::PowerOffFailure).collect();
        assert_eq!(ops(&c, Kind::PowerOffFailure), vec![("update", "P1".into())]);
        assert_eq!(pof[0].value, Some(1.81));
        assert_eq!(pof[0].severity, Severity::Critical);
    }

    #[test]
    fn power_off_failure_is_raised_when_feed_stays_energized_past_grace() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        let c = feed(
            &mut m,
            &safety(at(10), &[("P1", 1.6, 0), ("F1", 1.0, 0), ("F2", 0.0, 0)]),
        );
        assert!(
            ops(&c, Kind::PowerOffFailure).is_empty(),
            "not before the grace period"
        );
        let c = feed(&mut m, &safety(at(15), &[("F1", 1.0, 0)]));
        assert!(ops(&c, Kind::PowerOffFailure).is_empty());
        let c = feed(&mut m, &safety(at(20), &[("F1", 1.0, 0)]));
        let pof: Vec<_> = c
            .iter()
            .filter(|c| c.kind == Kind::PowerOffFailure)
            .collect();
        assert_eq!(pof.len(), 1);
        assert_eq!(pof[0].subject.as_ref(), "P1");
        assert_eq!(pof[0].severity, Severity::Critical);
        assert!(pof[0].message.contains("F1"), "{}", pof[0].message);
        assert_eq!(pof[0].evidence["feeds"][0]["value"], 1.0);
    }

    #[test]
    fn the_grace_period_fires_on_the_mine_clock_even_if_the_point_sends_nothing_more() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.6, 0)]));
        // Only another point reports; the mine clock passes the grace period.
        let c = feed(&mut m, &safety(at(25), &[("P0", 0.05, 0)]));
        assert_eq!(ops(&c, Kind::PowerOffFailure), vec![("raise", "P1".into())]);
        assert_eq!(
            c.iter()
                .find(|c| c.kind == Kind::PowerOffFailure)
                .map(|c| c.at),
            Some(at(20))
        );
    }

    #[test]
    fn feeds_dropping_within_grace_raise_nothing_and_a_late_drop_resolves() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.6, 0)]));
        let c = feed(&mut m, &safety(at(12), &[("F1", 0.0, 0), ("F2", 0.0, 0)]));
        assert!(ops(&c, Kind::PowerOffFailure).is_empty());
        assert!(
            ops(
                &feed(&mut m, &safety(at(40), &[("P0", 0.05, 0)])),
                Kind::PowerOffFailure
            )
            .is_empty()
        );
        // Re-energized while still at power-off level: raised after grace, resolved when cut.
        feed(&mut m, &safety(at(50), &[("F2", 1.0, 0)]));
        let c = feed(&mut m, &safety(at(60), &[("F2", 1.0, 0)]));
        assert_eq!(ops(&c, Kind::PowerOffFailure), vec![("raise", "P1".into())]);
        let c = feed(&mut m, &safety(at(70), &[("F2", 0.0, 0)]));
        assert_eq!(
            ops(&c, Kind::PowerOffFailure),
            vec![("resolve", "P1".into())]
        );
    }

    #[test]
    fn it_resolves_when_methane_falls_below_restore() {
        let mut m = mine();
        feed(&mut m, &normal(at(0)));
        feed(&mut m, &safety(at(10), &[("P1", 1.6, 0)]));
        feed(&mut m, &safety(at(20), &[("F1", 1.0, 0)]));
        // Between restore and power-off the point is still at power-off level (hysteresis): not
        // resolved, only its value followed.
        assert_eq!(
            ops(
                &feed(&mut m, &safety(at(30), &[("P1", 1.2, 0)])),
                Kind::PowerOffFailure
            ),
            vec![("update", "P1".into())]
        );
        let c = feed(&mut m, &safety(at(40), &[("P1", 0.8, 0)]));
        assert_eq!(
            ops(&c, Kind::PowerOffFailure),
            vec![("resolve", "P1".into())]
        );
    }

    #[test]
    fn a_restored_failure_waits_for_the_feeds_instead_of_resolving_at_the_first_reading() {
        let mut m = mine();
        let mut out = Vec::new();
        m.restore(&[stored(Kind::PowerOffFailure, "P1", Some("A1"))], &mut out);
        assert!(out.is_empty());
        let c = feed(&mut m, &safety(at(0), &[("P1", 1.7, 0)]));
        assert!(ops(&c, Kind::PowerOffFailure).is_empty(), "{c:?}");
        assert!(
            !ops(
                &feed(&mut m, &safety(at(5), &[("F1", 1.0, 0)])),
                Kind::PowerOffFailure
            )
            .iter()
            .any(|(op, _)| *op == "resolve"),
            "still failing"
        );
        let c = feed(&mut m, &safety(at(10), &[("F1", 0.0, 0), ("F2", 0.0, 0)]));
        assert_eq!(
            ops(&c, Kind::PowerOffFailure),
            vec![("resolve", "P1".into())]
        );
    }
}
