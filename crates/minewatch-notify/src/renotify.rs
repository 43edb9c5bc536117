//! Renotify: a critical alert that nobody acknowledges is notified again every `renotify_after`
//! while it stays active. A state machine without I/O or clocks: the caller passes the time, so
//! tests drive it through hours in microseconds.

use chrono::{DateTime, TimeDelta, Utc};
use minewatch_core::{Alert, AlertState, Severity};
use std::collections::HashMap;
use std::time::Duration;

/// One renotification to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The alert as of its latest event.
    pub alert: Alert,
    /// The seq of that event.
    pub seq: u64,
    /// 1 for the first renotification of the alert, 2 for the second…
    pub count: u32,
}

/// An alert being watched.
#[derive(Debug, Clone)]
struct Watched {
    alert: Alert,
    seq: u64,
    next_at: DateTime<Utc>,
    count: u32,
}

/// The unacknowledged critical alerts of one sink and when each is next due.
#[derive(Debug, Clone)]
pub struct Renotifier {
    /// 0 = off.
    every: TimeDelta,
    /// By alert id.
    watched: HashMap<String, Watched>,
}

impl Renotifier {
    /// Renotifies every `every`; `Duration::ZERO` turns it off.
    pub fn new(every: Duration) -> Self {
        Renotifier {
            every: TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX),
            watched: HashMap::new(),
        }
    }

    /// Follows the event `seq` that left `alert` as it is, seen at `now`. An active, critical,
    /// unacknowledged alert is watched (the first renotification `every` after it was first
    /// seen so; later updates do not postpone it); any other is forgotten.
    pub fn observe(&mut self, seq: u64, alert: &Alert, now: DateTime<Utc>) {
        if self.every.is_zero() {
            return;
        }
        let wanted = alert.state == AlertState::Active
            && alert.severity == Severity::Critical
            && alert.ack.is_none();
        if !wanted {
            self.watched.remove(&alert.id);
            return;
        }
        let next_at = now + self.every;
        self.watched
            .entry(alert.id.clone())
            .and_modify(|w| {
                w.alert = alert.clone();
                w.seq = seq;
            })
            .or_insert_with(|| Watched {
                alert: alert.clone(),
                seq,
                next_at,
                count: 0,
            });
    }

    /// The alerts due at `now`, each then due again `every` later (missed periods are not sent
    /// twice).
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let mut due: Vec<Due> = self
            .watched
            .values_mut()
            .filter(|w| w.next_at <= now)
            .map(|w| {
                w.count += 1;
                w.next_at = now + self.every;
                Due {
                    alert: w.alert.clone(),
                    seq: w.seq,
                    count: w.count,
                }
            })
            .collect();
        due.sort_by_key(|d| d.seq);
        due
    }

    /// How many alerts are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use minewatch_core::Kind;
    use minewatch_core::alert::{Ack, alert_key};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + secs, 0)
            .single()
            .expect("valid")
    }

    fn critical(id: &str) -> Alert {
        Alert {
            id: id.to_owned(),
            key: alert_key("M1", Kind::Distress, id),
            mine: "M1".to_owned(),
            kind: Kind::Distress,
            severity: Severity::Critical,
            state: AlertState::Active,
            subject: id.to_owned(),
            area: None,
            message: "distress".to_owned(),
            value: None,
            limit: None,
            started_at: t(0),
            updated_at: t(0),
            resolved_at: None,
            ack: None,
            evidence: serde_json::json!({}),
            alarm: Default::default(),
        }
    }

    #[test]
    fn an_unacknowledged_critical_alert_is_renotified_every_period_until_acknowledged() {
        let mut r = Renotifier::new(Duration::from_secs(600));
        let a = critical("T1");
        r.observe(1, &a, t(0));
        assert!(r.due(t(599)).is_empty());
        let due = r.due(t(600));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].seq, due[0].count), (1, 1));
        assert!(r.due(t(900)).is_empty());
        // An update refreshes the alert but does not postpone the next renotification.
        let updated = Alert {
            message: "still distress".into(),
            ..a.clone()
        };
        r.observe(5, &updated, t(1000));
        let due = r.due(t(1200));
        assert_eq!((due[0].seq, due[0].count), (5, 2));
        assert_eq!(due[0].alert.message, "still distress");
        // Hours late (the sink was stuck): one renotification, not a burst.
        assert_eq!(r.due(t(9000)).len(), 1);
        let acked = Alert {
            ack: Some(Ack {
                by: "op".into(),
                at: t(9001),
                note: String::new(),
            }),
            ..a
        };
        r.observe(9, &acked, t(9001));
        assert!(r.is_empty());
        assert!(r.due(t(99_999)).is_empty());
    }

    #[test]
    fn resolved_non_critical_alerts_and_a_zero_period_are_not_renotified() {
        let mut r = Renotifier::new(Duration::from_secs(60));
        let a = critical("T1");
        r.observe(1, &a, t(0));
        r.observe(
            2,
            &Alert {
                severity: Severity::Major,
                ..a.clone()
            },
            t(1),
        );
        assert!(r.due(t(1000)).is_empty(), "no longer critical");
        r.observe(3, &a, t(2));
        r.observe(
            4,
            &Alert {
                state: AlertState::Resolved,
                ..a.clone()
            },
            t(3),
        );
        assert!(r.due(t(1000)).is_empty(), "resolved");
        let mut off = Renotifier::new(Duration::ZERO);
        off.observe(1, &a, t(0));
        assert!(off.due(t(1_000_000)).is_empty());
    }
}
