//! What is worth keeping across a restart that no alert carries (each kind's part, e.g. learned
//! baselines and recent calibration starts), and the live picture the API and gateway read.

use crate::kinds::{MineState, camera_state_name, hooks};
use minewatch_core::live::{CameraLive, MeterLive, MineLive, PointLive};
use minewatch_core::payload::System;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

impl MineState {
    /// Each kind's part of the snapshot, under its key. Not the clock: after a restart, silence
    /// is measured from the first data again, not from before the outage.
    pub fn snapshot(&self) -> Value {
        let mut v = serde_json::Map::new();
        v.insert("version".into(), Value::from(1));
        hooks::snapshot(self, &mut v);
        Value::Object(v)
    }

    /// Takes back what [`MineState::snapshot`] kept (its JSON text): each part goes to the kind
    /// that keeps it, which drops entries for ids no longer defined and entries of the wrong
    /// shape. Read as raw parts: a national restart reads tens of megabytes of these.
    pub fn restore_snapshot(&mut self, json: &str) -> Result<(), serde_json::Error> {
        let parts: HashMap<&str, &serde_json::value::RawValue> = serde_json::from_str(json)?;
        let Some(version) = parts.get("version") else {
            return Err(serde::de::Error::missing_field("version"));
        };
        if serde_json::from_str::<u32>(version.get())? != 1 {
            return Ok(());
        }
        for (key, raw) in parts {
            if key != "version" {
                hooks::restore_snapshot(self, key, raw.get());
            }
        }
        Ok(())
    }

    /// Copies what `system` changed into the live picture.
    pub fn export(&self, system: System, live: &mut MineLive) {
        if !Arc::ptr_eq(&live.def, &self.def) {
            *live = MineLive::new(self.def.clone(), self.status);
            for s in System::ALL {
                self.export_system(s, live);
            }
        }
        live.status = self.status;
        live.clock = self.clock;
        live.systems_seen = self.last_arrival;
        self.export_system(system, live);
        hooks::export(self, live);
    }

    fn export_system(&self, system: System, live: &mut MineLive) {
        match system {
            System::Safety => {
                // Through `set_point`, which also fills the ch4 points' last hour.
                for (i, s) in self.points.iter().enumerate() {
                    live.set_point(
                        i,
                        PointLive {
                            value: s.value,
                            status: s.status,
                            ts: s.last_seen,
                        },
                    );
                }
            }
            System::Personnel => {
                live.people.clone_from(&self.people);
                live.underground = self.underground;
                live.leaders_underground = self.leaders_underground;
            }
            System::Video => {
                for (l, c) in live.cameras.iter_mut().zip(&self.cams) {
                    *l = CameraLive {
                        state: c
                            .state
                            .map(camera_state_name)
                            .unwrap_or_default()
                            .to_string(),
                        events: c.events.iter().map(|e| e.to_string()).collect(),
                        ts: c.ts,
                    };
                }
            }
            System::Power => {
                for (l, m) in live.meters.iter_mut().zip(&self.meter_state) {
                    *l = MeterLive { kw: m.kw, ts: m.ts };
                }
            }
            System::Explosives => {}
        }
    }
}
