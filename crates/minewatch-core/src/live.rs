//! The live picture that the API and the WebSocket gateway read while shards and the alert writer
//! write it: latest values per mine, and the active alerts. Shards own their mines' entries (one
//! write per batch, never per reading); the alert writer alone writes `alerts` and `seq`.

use crate::alert::Alert;
use crate::registry::{MineDef, MineStatus};
use crate::time::{Millis, format_rfc3339};
use dashmap::DashMap;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The latest reading of a point. `ts == 0` means it has not reported since start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PointLive {
    pub value: f64,
    pub status: u32,
    pub ts: Millis,
}

/// The latest state of a camera.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraLive {
    pub state: String,
    pub events: Vec<String>,
    pub ts: Millis,
}

/// The latest reading of a meter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeterLive {
    pub kw: f64,
    pub ts: Millis,
}

/// One mine's live picture.
#[derive(Debug, Clone)]
pub struct MineLive {
    pub def: Arc<MineDef>,
    /// Effective status: a stored regulator's order outranks the registry file.
    pub status: MineStatus,
    /// The mine's event clock: the latest `ts` seen from it.
    pub clock: Option<Millis>,
    /// By point index of `def`.
    pub points: Vec<PointLive>,
    /// People per area index of `def`.
    pub people: Vec<u32>,
    pub underground: u32,
    pub leaders_underground: u32,
    /// By camera index of `def`.
    pub cameras: Vec<CameraLive>,
    /// By meter index of `def`.
    pub meters: Vec<MeterLive>,
    /// Devices (or areas) reporting that the registry does not define: id → what it is.
    pub unregistered: BTreeMap<String, &'static str>,
    /// Wall-clock arrival of the last message per system (index of `System::ALL`).
    pub systems_seen: [Option<Millis>; 5],
}

impl MineLive {
    /// An empty picture for a mine definition.
    pub fn new(def: Arc<MineDef>, status: MineStatus) -> Self {
        MineLive {
            points: vec![PointLive::default(); def.points.len()],
            people: vec![0; def.areas.len()],
            cameras: vec![CameraLive::default(); def.cameras.len()],
            meters: vec![MeterLive::default(); def.meters.len()],
            def,
            status,
            clock: None,
            underground: 0,
            leaders_underground: 0,
            unregistered: BTreeMap::new(),
            systems_seen: [None; 5],
        }
    }

    fn ts(ms: Millis) -> Value {
        if ms == 0 {
            Value::Null
        } else {
            Value::String(format_rfc3339(ms))
        }
    }

    /// The one-line summary used by `GET /api/mines`.
    pub fn summary(&self, active_alerts: usize) -> Value {
        let reporting = self.points.iter().filter(|p| p.ts != 0).count();
        json!({
            "id": &*self.def.id,
            "name": self.def.name,
            "registered": self.def.registered,
            "status": self.status.as_str(),
            "clock": self.clock.map(format_rfc3339),
            "points": self.def.points.len(),
            "points_reporting": reporting,
            "underground": self.underground,
            "cameras": self.def.cameras.len(),
            "meters": self.def.meters.len(),
            "unregistered_devices": self.unregistered.len(),
            "active_alerts": active_alerts,
        })
    }

    /// The whole live picture used by `GET /api/mines/{id}`.
    pub fn detail(&self, alerts: Vec<Arc<Alert>>) -> Value {
        let d = &self.def;
        let area_id = |i: u32| d.areas.get(i as usize).map(|a| a.id.to_string());
        let points: Vec<Value> = d
            .points
            .iter()
            .zip(&self.points)
            .map(|(p, l)| {
                json!({
                    "id": &*p.id, "area": area_id(p.area), "kind": p.kind, "location": p.location,
                    "limits": p.limits,
                    "value": if l.ts == 0 { Value::Null } else { json!(l.value) },
                    "status": l.status, "ts": Self::ts(l.ts),
                })
            })
            .collect();
        let areas: Vec<Value> = d
            .areas
            .iter()
            .zip(&self.people)
            .map(|(a, n)| json!({"id": &*a.id, "name": a.name, "kind": a.kind, "quota": a.quota, "declared": a.declared, "people": n}))
            .collect();
        let cameras: Vec<Value> = d
            .cameras
            .iter()
            .zip(&self.cameras)
            .map(|(c, l)| json!({"id": &*c.id, "area": area_id(c.area), "watches": c.watches,
                "state": if l.ts == 0 { Value::Null } else { json!(l.state) }, "events": l.events, "ts": Self::ts(l.ts)}))
            .collect();
        let meters: Vec<Value> = d
            .meters
            .iter()
            .zip(&self.meters)
            .map(|(m, l)| {
                json!({"id": &*m.id, "area": area_id(m.area), "load": m.load, "idle_kw": m.idle_kw,
                "kw": if l.ts == 0 { Value::Null } else { json!(l.kw) }, "ts": Self::ts(l.ts)})
            })
            .collect();
        let systems: serde_json::Map<String, Value> = crate::payload::System::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_string(),
                    self.systems_seen[s.index()]
                        .map(format_rfc3339)
                        .map_or(Value::Null, Value::String),
                )
            })
            .collect();
        json!({
            "id": &*d.id, "name": d.name, "registered": d.registered, "status": self.status.as_str(),
            "registry_status": d.status.as_str(),
            "max_underground": d.max_underground, "suspended_crew": d.suspended_crew, "shift_hours": d.shift_hours,
            "clock": self.clock.map(format_rfc3339),
            "underground": self.underground, "leaders_underground": self.leaders_underground,
            "areas": areas, "points": points, "cameras": cameras, "meters": meters,
            "unregistered": self.unregistered.iter().map(|(id, what)| json!({"id": id, "device": what})).collect::<Vec<_>>(),
            "systems_last_seen": systems,
            "active_alerts": alerts,
        })
    }
}

/// The shared live view.
#[derive(Debug, Default)]
pub struct LiveView {
    /// Mines by id.
    pub mines: DashMap<Arc<str>, MineLive>,
    /// Active alerts by key.
    pub alerts: DashMap<String, Arc<Alert>>,
    /// The seq of the last event stored and published.
    seq: AtomicU64,
}

impl LiveView {
    /// The seq of the last event stored and published.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Called by the alert writer after an event is stored, before it is broadcast.
    pub fn set_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Release);
    }

    /// Active alerts matching `keep`, most severe and newest first.
    pub fn active_alerts(&self, keep: impl Fn(&Alert) -> bool) -> Vec<Arc<Alert>> {
        let mut v: Vec<Arc<Alert>> = self
            .alerts
            .iter()
            .filter(|a| keep(a.value()))
            .map(|a| a.value().clone())
            .collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.started_at.cmp(&a.started_at))
                .then(b.id.cmp(&a.id))
        });
        v
    }
}
