//! Notifications during an alarm flood (EEMUA 191): while a mine has more than `flood_count` new
//! alerts within `flood_window`, its events are not sent one by one but held and sent as one
//! grouped notification every `flood_group_every` (and when the flood ends). No I/O and no clock:
//! the caller passes the times.
//!
//! Flood windows count `raised` events by the time the event was recorded, so a sink catching up
//! on a backlog groups what was a flood when it happened, not what arrives fast now.

use chrono::{DateTime, TimeDelta, Utc};
use minewatch_core::alarm_policy::{AlarmConfig, FloodWindow};
use minewatch_core::{Alert, Event, EventType};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// Most alerts listed by name in one grouped notification; the counts cover the rest.
pub const LISTED: usize = 50;

/// The events of one flooding mine held for one grouped notification.
#[derive(Debug, Clone)]
pub struct Group {
    pub mine: String,
    /// The first and last seq held.
    pub first_seq: u64,
    pub last_seq: u64,
    /// When the group was opened (the first held event's time).
    pub opened: DateTime<Utc>,
    /// Events held, by type.
    pub by_type: BTreeMap<&'static str, u64>,
    /// Alerts held, by kind and severity (`kind/severity`).
    pub by_kind: BTreeMap<String, u64>,
    /// The first [`LISTED`] events: (type, alert).
    pub listed: Vec<(EventType, Alert)>,
    /// The alert of the last event held.
    pub last: Alert,
    pub last_at: DateTime<Utc>,
}

impl Group {
    fn new(e: &Event) -> Group {
        Group {
            mine: e.alert.mine.clone(),
            first_seq: e.seq,
            last_seq: e.seq,
            opened: e.at,
            by_type: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            listed: Vec::new(),
            last: e.alert.clone(),
            last_at: e.at,
        }
    }

    fn add(&mut self, e: &Event) {
        *self.by_type.entry(e.kind.as_str()).or_default() += 1;
        *self
            .by_kind
            .entry(format!("{}/{}", e.alert.kind, e.alert.severity.as_str()))
            .or_default() += 1;
        if self.listed.len() < LISTED {
            self.listed.push((e.kind, e.alert.clone()));
        }
        self.last_seq = e.seq;
        self.last = e.alert.clone();
        self.last_at = e.at;
    }

    /// Events held.
    pub fn count(&self) -> u64 {
        self.by_type.values().sum()
    }

    /// The `flood` object of the webhook body.
    pub fn summary(&self) -> Value {
        let listed: Vec<Value> = self
            .listed
            .iter()
            .map(|(t, a)| {
                json!({"type": t.as_str(), "id": a.id, "kind": a.kind, "subject": a.subject,
                       "severity": a.severity, "message": a.message})
            })
            .collect();
        fn map<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> Map<String, Value> {
            m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
        }
        json!({
            "mine": self.mine,
            "events": self.count(),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "from": self.opened,
            "to": self.last_at,
            "by_type": map(&self.by_type),
            "by_kind": map(&self.by_kind),
            "listed": listed,
        })
    }
}

/// Flood windows and the groups held, for one sink.
#[derive(Debug)]
pub struct FloodGroups {
    cfg: AlarmConfig,
    every: TimeDelta,
    windows: HashMap<String, FloodWindow>,
    groups: HashMap<String, Group>,
}

impl FloodGroups {
    /// Groups a flooding mine's events, sending them every `every`.
    pub fn new(cfg: AlarmConfig, every: std::time::Duration) -> Self {
        FloodGroups {
            cfg,
            every: TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX),
            windows: HashMap::new(),
            groups: HashMap::new(),
        }
    }

    /// Takes `e` into its mine's group when the mine is in a flood (counting this event);
    /// answers whether it was taken (and must not be sent on its own).
    pub fn take(&mut self, e: &Event) -> bool {
        let mine = &e.alert.mine;
        let at = e.at.timestamp_millis();
        let flooding = match self.windows.get_mut(mine) {
            Some(w) => {
                if e.kind == EventType::Raised {
                    w.push(at, &self.cfg);
                } else {
                    w.settle(at, &self.cfg);
                }
                w.flooding()
            }
            None if e.kind == EventType::Raised => {
                let mut w = FloodWindow::default();
                w.push(at, &self.cfg);
                let f = w.flooding();
                self.windows.insert(mine.clone(), w);
                f
            }
            None => false,
        };
        // A group open for the mine takes every event until it is sent, so order is kept.
        if !flooding && !self.groups.contains_key(mine) {
            return false;
        }
        self.groups
            .entry(mine.clone())
            .or_insert_with(|| Group::new(e))
            .add(e);
        true
    }

    /// The groups to send at `now`: open for `every`, or of a mine no longer in a flood.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Group> {
        let nowms = now.timestamp_millis();
        let mut out = Vec::new();
        let cfg = &self.cfg;
        let windows = &mut self.windows;
        self.groups.retain(|mine, g| {
            let over = windows.get_mut(mine).is_none_or(|w| {
                w.settle(nowms.max(g.last_at.timestamp_millis()), cfg);
                !w.flooding()
            });
            if over || now - g.opened >= self.every {
                out.push(g.clone());
                false
            } else {
                true
            }
        });
        self.windows.retain(|_, w| !w.is_empty());
        out.sort_by_key(|g| g.first_seq);
        out
    }

    /// The first seq still held: the durable cursor must stay before it, so a restart groups
    /// these events again rather than losing them.
    pub fn held_from(&self) -> Option<u64> {
        self.groups.values().map(|g| g.first_seq).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_core::{AlertState, Kind, Severity};

    fn event(seq: u64, kind: EventType, mine: &str, secs: i64) -> Event {
        let at = DateTime::from_timestamp(1_795_420_800 + secs, 0).unwrap_or_default();
        Event {
            kind,
            seq,
            at,
            alert: Alert {
                id: format!("a{seq}"),
                key: format!("{mine}/sensor_fault/P{seq}"),
                mine: mine.into(),
                kind: Kind::SensorFault,
                severity: Severity::Warning,
                state: AlertState::Active,
                subject: format!("P{seq}"),
                area: None,
                message: String::new(),
                value: None,
                limit: None,
                started_at: at,
                updated_at: at,
                resolved_at: None,
                ack: None,
                evidence: Value::Null,
                alarm: Default::default(),
            },
        }
    }

    #[test]
    fn a_flooding_mines_events_are_held_and_sent_as_one_group() {
        let mut g = FloodGroups::new(AlarmConfig::default(), std::time::Duration::from_secs(60));
        // Ten raises are EEMUA's reference: each is sent; the eleventh opens the group.
        for i in 1..=10 {
            assert!(!g.take(&event(i, EventType::Raised, "M1", i as i64)));
        }
        assert!(
            !g.take(&event(100, EventType::Raised, "M2", 1)),
            "another mine"
        );
        for i in 11..=300 {
            assert!(g.take(&event(i, EventType::Raised, "M1", 11)), "{i}");
        }
        assert_eq!(g.held_from(), Some(11));
        let t = |secs: i64| DateTime::from_timestamp(1_795_420_800 + secs, 0).unwrap_or_default();
        assert!(g.due(t(70)).is_empty(), "59 s after opening: still held");
        let sent = g.due(t(71));
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].first_seq, sent[0].last_seq), (11, 300));
        assert_eq!(sent[0].count(), 290);
        assert_eq!(sent[0].listed.len(), LISTED);
        assert_eq!(sent[0].summary()["by_kind"]["sensor_fault/warning"], 290);
        assert_eq!(g.held_from(), None);
    }

    #[test]
    fn a_group_is_sent_when_the_flood_ends_and_later_events_go_alone() {
        let mut g = FloodGroups::new(AlarmConfig::default(), std::time::Duration::from_secs(3600));
        for i in 1..=11 {
            g.take(&event(i, EventType::Raised, "M1", 0));
        }
        let t = |secs: i64| DateTime::from_timestamp(1_795_420_800 + secs, 0).unwrap_or_default();
        assert!(g.due(t(599)).is_empty(), "the window still holds eleven");
        let sent = g.due(t(600));
        assert_eq!(sent.len(), 1, "the flood is over: what was held is sent");
        assert!(!g.take(&event(12, EventType::Resolved, "M1", 700)));
    }
}
