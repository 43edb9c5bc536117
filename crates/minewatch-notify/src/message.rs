//! What is sent: the webhook body, and Alertmanager's v2 alert objects.

use chrono::{DateTime, Utc};
use minewatch_core::{Alert, EventType};
use serde_json::{Map, Value, json};

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An event of the log.
    Event(EventType),
    /// The `n`th renotification of an unacknowledged critical alert.
    Renotify(u32),
    /// A flooding mine's events held and sent as one ([`crate::flood`]).
    Flood,
}

/// One notification: an event of the log, or a renotification.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Why it is sent.
    pub reason: Reason,
    /// The event's seq (for a renotification, the seq of the alert's latest event).
    pub seq: u64,
    /// When the event was recorded (for a renotification, when it was due).
    pub at: DateTime<Utc>,
    /// The alert as it stood after the event.
    pub alert: Alert,
    /// Whether a silence covered the alert (only `resolved` events of silenced alerts are sent).
    pub silenced: bool,
    /// For [`Reason::Flood`]: the group's summary (`alert` is then its last alert).
    pub flood: Option<Value>,
}

impl Notification {
    /// `raised`, `updated`, `resolved`, `acked` or `renotify`.
    pub fn type_str(&self) -> &'static str {
        match self.reason {
            Reason::Event(t) => t.as_str(),
            Reason::Renotify(_) => "renotify",
            Reason::Flood => "flood",
        }
    }

    /// The key a receiver deduplicates on: the seq for an event, `{seq}.renotify.{n}` for a
    /// renotification. Deliveries are at least once: the same id may arrive twice.
    pub fn id(&self) -> String {
        match self.reason {
            Reason::Event(_) => self.seq.to_string(),
            Reason::Renotify(n) => format!("{}.renotify.{n}", self.seq),
            Reason::Flood => format!("{}.flood", self.seq),
        }
    }

    /// The webhook body: `{"id","type","seq","at","silenced","renotify"?,"alert":{…}}`.
    pub fn webhook_body(&self) -> Vec<u8> {
        let mut body = json!({
            "id": self.id(),
            "type": self.type_str(),
            "seq": self.seq,
            "at": self.at,
            "silenced": self.silenced,
            "alert": self.alert,
        });
        if let (Reason::Renotify(n), Some(o)) = (self.reason, body.as_object_mut()) {
            o.insert("renotify".into(), json!(n));
        }
        if let (Some(f), Some(o)) = (&self.flood, body.as_object_mut()) {
            o.insert("flood".into(), f.clone());
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The most characters of an annotation (Alertmanager keeps them in memory and templates).
const MAX_ANNOTATION: usize = 1024;

/// `s` cut to [`MAX_ANNOTATION`] characters, with `…` when cut.
fn clip(s: String) -> String {
    match s.char_indices().nth(MAX_ANNOTATION) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

/// The labels Alertmanager identifies the alert by: `alertname` (the kind), `mine`, `subject`,
/// `area` (when known), `severity` and `key` (the dedup key `mine/kind/subject`).
pub fn am_labels(a: &Alert) -> Map<String, Value> {
    let mut l = Map::new();
    l.insert("alertname".into(), json!(a.kind.as_str()));
    l.insert("mine".into(), json!(a.mine));
    l.insert("subject".into(), json!(a.subject));
    if let Some(area) = &a.area {
        l.insert("area".into(), json!(area));
    }
    l.insert("severity".into(), json!(a.severity.as_str()));
    l.insert("key".into(), json!(a.key));
    l
}

/// One Alertmanager v2 alert: labels, annotations (`summary` = the message, `evidence` as compact
/// JSON, `alert_id`, `value`/`limit`, `acked_by`), `startsAt`, `endsAt` when given (resolved),
/// and `generatorURL` pointing at the alert in minewatch's API.
pub fn am_alert(
    a: &Alert,
    labels: Map<String, Value>,
    ends_at: Option<DateTime<Utc>>,
    public_url: &str,
) -> Value {
    let mut ann = Map::new();
    ann.insert("summary".into(), json!(clip(a.message.clone())));
    ann.insert("alert_id".into(), json!(a.id));
    if !a.evidence.is_null() && a.evidence != json!({}) {
        ann.insert("evidence".into(), json!(clip(a.evidence.to_string())));
    }
    if let Some(v) = a.value {
        ann.insert("value".into(), json!(v.to_string()));
    }
    if let Some(v) = a.limit {
        ann.insert("limit".into(), json!(v.to_string()));
    }
    if let Some(ack) = &a.ack {
        ann.insert("acked_by".into(), json!(ack.by));
    }
    let mut o = json!({
        "labels": labels,
        "annotations": ann,
        "startsAt": a.started_at,
        "generatorURL": format!("{}/api/alerts/{}", public_url.trim_end_matches('/'), a.id),
    });
    if let (Some(end), Some(m)) = (ends_at, o.as_object_mut()) {
        m.insert("endsAt".into(), json!(end));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use minewatch_core::alert::alert_key;
    use minewatch_core::{AlertState, Kind, Severity};

    fn alert() -> Alert {
        let t = Utc.timestamp_opt(1_795_000_000, 0).single().expect("valid");
        Alert {
            id: "01JD".into(),
            key: alert_key("140100001", Kind::OverLimit, "P0101"),
            mine: "140100001".into(),
            kind: Kind::OverLimit,
            severity: Severity::Critical,
            state: AlertState::Active,
            subject: "P0101".into(),
            area: Some("A1201".into()),
            message: "CH4 1.62% at P0101".into(),
            value: Some(1.62),
            limit: Some(1.5),
            started_at: t,
            updated_at: t,
            resolved_at: None,
            ack: None,
            evidence: json!({"readings": [1.5, 1.62]}),
            alarm: Default::default(),
        }
    }

    #[test]
    fn the_webhook_body_carries_type_seq_id_silenced_and_the_alert() {
        let n = Notification {
            reason: Reason::Renotify(2),
            seq: 42,
            at: alert().started_at,
            alert: alert(),
            silenced: false,
            flood: None,
        };
        let v: Value = serde_json::from_slice(&n.webhook_body()).expect("json");
        assert_eq!(v["type"], "renotify");
        assert_eq!(v["id"], "42.renotify.2");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["renotify"], 2);
        assert_eq!(v["silenced"], false);
        assert_eq!(v["alert"]["key"], "140100001/over_limit/P0101");
        let raised = Notification {
            reason: Reason::Event(EventType::Raised),
            ..n
        };
        let v: Value = serde_json::from_slice(&raised.webhook_body()).expect("json");
        assert_eq!(
            (v["type"].as_str(), v["id"].as_str()),
            (Some("raised"), Some("42"))
        );
        assert!(v.get("renotify").is_none());
    }

    #[test]
    fn alertmanager_alerts_carry_the_labels_annotations_and_times() {
        let a = alert();
        let end = a.started_at + chrono::TimeDelta::seconds(60);
        let v = am_alert(&a, am_labels(&a), Some(end), "http://mw:8080/");
        assert_eq!(v["labels"]["alertname"], "over_limit");
        assert_eq!(v["labels"]["mine"], "140100001");
        assert_eq!(v["labels"]["area"], "A1201");
        assert_eq!(v["labels"]["severity"], "critical");
        assert_eq!(v["labels"]["key"], "140100001/over_limit/P0101");
        assert_eq!(v["annotations"]["summary"], "CH4 1.62% at P0101");
        assert_eq!(v["annotations"]["evidence"], r#"{"readings":[1.5,1.62]}"#);
        assert_eq!(v["generatorURL"], "http://mw:8080/api/alerts/01JD");
        assert_eq!(v["endsAt"], json!(end));
        assert!(
            am_alert(&a, am_labels(&a), None, "http://x")
                .get("endsAt")
                .is_none()
        );
        assert!(clip("é".repeat(2000)).chars().count() == MAX_ANNOTATION + 1);
    }
}
