//! `unregistered_device` — data for a point, camera, meter or area the registry does not define
//! (or from a mine it does not define at all). Warning; the data is otherwise kept as it is. It
//! stays until acknowledged; a device that was acknowledged is raised again only if it comes back
//! after being absent for `silent_after`. At most [`MAX_UNREGISTERED`] devices are tracked a mine.

use super::{KindRule, MineState, Remap, Subject, ts};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity, SubjectType};
use minewatch_core::live::MineLive;
use minewatch_core::payload::System;
use minewatch_core::time::Millis;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

crate::params! {
    /// A device acknowledged is raised again only after being absent this long (a key another
    /// kind declares too).
    silent_after: Duration = secs(120), "duration";
}

/// Most unregistered devices tracked per mine; beyond this they are counted, not tracked.
pub const MAX_UNREGISTERED: usize = 10_000;

/// A device (or area, or the mine itself) the registry does not define.
#[derive(Debug, Clone, Copy)]
pub struct Unregistered {
    /// `point`, `camera`, `meter`, `area` or `mine`.
    pub device: &'static str,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// Whether its alert is raised.
    pub active: bool,
}

/// What this kind keeps for the mine.
#[derive(Debug, Default)]
pub struct Devices {
    /// By id.
    pub seen: HashMap<Box<str>, Unregistered>,
    /// Devices seen beyond [`MAX_UNREGISTERED`].
    pub overflow: u64,
}

pub struct Rule;

impl KindRule for Rule {
    const KIND: Kind = Kind::UnregisteredDevice;
    const SUBJECT: SubjectType = SubjectType::Device;
    const SEVERITY: Severity = Severity::Warning;
    const DESCRIPTION: &'static str =
        "Data for a point, camera, meter or area the registry does not define, or from a mine it does not define";
    const RESOLVES_ON_ACK: bool = true;
    type Params = Params;
    crate::slots!(mine = Devices);

    fn on_message(m: &mut MineState, _: &Params, _: System, at: Millis, _: Millis, out: &mut Vec<Change>) {
        if !m.def.registered {
            mine(m, at, out);
        }
    }

    fn on_unknown(m: &mut MineState, p: &Params, device: &'static str, id: &str, at: Millis, value: Option<f64>, out: &mut Vec<Change>) {
        seen(m, p, id, device, at, value, out);
    }

    fn on_ack(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {
        acked(m, alert, at, out);
    }

    fn restore(m: &mut MineState, a: &Alert) -> bool {
        let device = a
            .evidence
            .get("device")
            .and_then(Value::as_str)
            .unwrap_or("point");
        m.kinds.unregistered_device.seen.insert(
            Box::from(a.subject.as_str()),
            Unregistered {
                device: device_name(device),
                first_seen: a.started_at.timestamp_millis(),
                last_seen: a.updated_at.timestamp_millis(),
                active: true,
            },
        );
        true
    }

    /// A device the reload defines is no longer unregistered: its alert resolves.
    fn rebind_mine(old: Devices, _: &Remap<'_>, m: &MineState, at: Millis, out: &mut Vec<Change>) -> Devices {
        let mut kept = Devices {
            seen: HashMap::new(),
            overflow: old.overflow,
        };
        for (id, u) in old.seen {
            let now_defined = match u.device {
                "point" => m.def.point(&id).is_some(),
                "camera" => m.def.camera(&id).is_some(),
                "meter" => m.def.meter(&id).is_some(),
                "area" => m.def.area(&id).is_some(),
                _ => m.def.registered,
            };
            if !now_defined {
                kept.seen.insert(id, u);
            } else if u.active {
                now_registered(m, &id, u, at, out);
            }
        }
        kept
    }

    fn export(m: &MineState, live: &mut MineLive) {
        let seen = &m.kinds.unregistered_device.seen;
        if live.unregistered.len() != seen.len() {
            live.unregistered = seen.iter().map(|(k, u)| (k.to_string(), u.device)).collect();
        }
    }
}

/// The static name of a device kind.
fn device_name(s: &str) -> &'static str {
    match s {
        "point" => "point",
        "camera" => "camera",
        "meter" => "meter",
        "area" => "area",
        _ => "mine",
    }
}

fn subject(id: &str) -> Subject<'static> {
    Subject {
        kind: Kind::UnregisteredDevice,
        subject: Arc::from(id),
        area: None,
        area_name: None,
    }
}

fn raise(
    m: &MineState,
    id: &str,
    device: &'static str,
    at: Millis,
    value: Option<f64>,
    out: &mut Vec<Change>,
) {
    let message = if device == "mine" {
        format!("Mine {id} is sending data but is not in the registry")
    } else {
        format!(
            "Unregistered {device} {id} is reporting from {}",
            m.place(None)
        )
    };
    let evidence = json!({"device": device, "first_seen": ts(at), "value": value});
    out.push(m.change(
        ChangeOp::Raise,
        subject(id),
        Severity::Warning,
        message,
        value,
        None,
        at,
        evidence,
    ));
}

/// Data arrived at `at` for device `id` of kind `device` that the registry does not define.
fn seen(
    m: &mut MineState,
    p: &Params,
    id: &str,
    device: &'static str,
    at: Millis,
    value: Option<f64>,
    out: &mut Vec<Change>,
) {
    let alerting = m.def.registered;
    let full = m.kinds.unregistered_device.seen.len() >= MAX_UNREGISTERED;
    match m.kinds.unregistered_device.seen.get_mut(id) {
        Some(u) => {
            let back = !u.active && at - u.last_seen >= p.silent_after;
            u.last_seen = u.last_seen.max(at);
            if back && alerting {
                u.active = true;
                u.first_seen = at;
                raise(m, id, device, at, value, out);
            }
        }
        None if full => m.kinds.unregistered_device.overflow += 1,
        None => {
            m.kinds.unregistered_device.seen.insert(
                Box::from(id),
                Unregistered {
                    device,
                    first_seen: at,
                    last_seen: at,
                    active: alerting,
                },
            );
            if alerting {
                raise(m, id, device, at, value, out);
            }
        }
    }
}

/// A mine the registry does not define sent data: one alert for the mine.
fn mine(m: &mut MineState, at: Millis, out: &mut Vec<Change>) {
    let id = m.def.id.clone();
    if m.kinds.unregistered_device.seen.contains_key(&*id) {
        if let Some(u) = m.kinds.unregistered_device.seen.get_mut(&*id) {
            u.last_seen = u.last_seen.max(at);
        }
        return;
    }
    m.kinds.unregistered_device.seen.insert(
        Box::from(&*id),
        Unregistered {
            device: "mine",
            first_seen: at,
            last_seen: at,
            active: true,
        },
    );
    raise(m, &id, "mine", at, None, out);
}

/// The operator acknowledged the alert: it resolves.
fn acked(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {
    if let Some(u) = m.kinds.unregistered_device.seen.get_mut(alert.subject.as_str()) {
        u.active = false;
    }
    let message = format!("{} (acknowledged)", alert.message);
    out.push(m.change(
        ChangeOp::Resolve,
        subject(&alert.subject),
        alert.severity,
        message,
        alert.value,
        None,
        at,
        alert.evidence.clone(),
    ));
}

/// A reload defined the device: its alert resolves.
fn now_registered(
    m: &MineState,
    id: &str,
    u: Unregistered,
    at: Millis,
    out: &mut Vec<Change>,
) {
    let message = format!("{} {id} is now defined in the registry", u.device);
    out.push(m.change(
        ChangeOp::Resolve,
        subject(id),
        Severity::Warning,
        message,
        None,
        None,
        at,
        json!({"device": u.device}),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::kinds::RulesConfig as Params;
    use crate::kinds::MineState;
    use minewatch_core::alert::{AlertState, Kind, Severity};
    use minewatch_core::registry::MineDef;
    use std::sync::Arc;

    #[test]
    fn an_unknown_point_raises_once_and_its_data_is_kept() {
        let mut m = mine();
        let c = feed(&mut m, &safety(at(0), &[("X9", 0.3, 0), ("P1", 0.4, 0)]));
        assert_eq!(
            ops(&c, Kind::UnregisteredDevice),
            vec![("raise", "X9".into())]
        );
        assert_eq!(c[0].severity, Severity::Warning);
        assert!(
            ops(
                &feed(&mut m, &safety(at(10), &[("X9", 0.3, 0)])),
                Kind::UnregisteredDevice
            )
            .is_empty()
        );
        assert!(m.kinds.unregistered_device.seen.contains_key("X9"));
        assert_eq!(
            m.points[m.def.point("P1").map_or(0, |i| i as usize)].value,
            0.4,
            "the rest of the batch is processed"
        );
    }

    #[test]
    fn an_ack_resolves_it_and_only_a_return_after_absence_raises_again() {
        let mut m = mine();
        let c = feed(&mut m, &safety(at(0), &[("X9", 0.3, 0)]));
        let alert = minewatch_core::Alert {
            id: "a1".into(),
            key: "M1/unregistered_device/X9".into(),
            mine: "M1".into(),
            kind: Kind::UnregisteredDevice,
            severity: Severity::Warning,
            state: AlertState::Active,
            subject: "X9".into(),
            area: None,
            message: c[0].message.clone(),
            value: None,
            limit: None,
            started_at: chrono::DateTime::default(),
            updated_at: chrono::DateTime::default(),
            resolved_at: None,
            ack: None,
            evidence: c[0].evidence.clone(),
            alarm: Default::default(),
        };
        let mut out = Vec::new();
        m.on_ack(&alert, "op", "known spare", at(5), &mut out);
        assert_eq!(
            ops(&out, Kind::UnregisteredDevice),
            vec![("ack", "X9".into()), ("resolve", "X9".into())]
        );
        assert!(
            ops(
                &feed(&mut m, &safety(at(10), &[("X9", 0.3, 0)])),
                Kind::UnregisteredDevice
            )
            .is_empty()
        );
        let c = feed(&mut m, &safety(at(200), &[("X9", 0.3, 0)]));
        assert_eq!(
            ops(&c, Kind::UnregisteredDevice),
            vec![("raise", "X9".into())]
        );
    }

    #[test]
    fn a_mine_not_in_the_registry_raises_one_alert_for_the_mine() {
        let mut m = MineState::new(Arc::new(MineDef::unregistered("M404")));
        let mut out = Vec::new();
        m.on_batch(
            &Params::default(),
            minewatch_core::payload::System::Safety,
            &safety(at(0), &[("P1", 0.1, 0), ("P2", 0.2, 0)]),
            at(0),
            &mut out,
        );
        assert_eq!(
            ops(&out, Kind::UnregisteredDevice),
            vec![("raise", "M404".into())]
        );
        assert_eq!(
            out.len(),
            1,
            "no point_silent or per-device alerts for an unregistered mine: {out:?}"
        );
    }
}
