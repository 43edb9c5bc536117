//! The live picture that the API and the WebSocket gateway read while shards and the alert writer
//! write it: latest values per mine, and the active alerts. Shards own their mines' entries (one
//! write per batch, never per reading); the alert writer alone writes `alerts` and `seq`.
//!
//! Besides the latest values, each methane (`ch4`) point keeps its last hour in a [`MinuteRing`]
//! (60 one-minute buckets of the highest value, in event time), which the dashboard draws as a
//! sparkline. Only ch4 points have one, to keep the live view small at a million points.

use crate::alert::Alert;
use crate::registry::{MineDef, MineStatus, PointKind};
use crate::time::{Millis, format_rfc3339};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The latest reading of a point. `ts == 0` means it has not reported since start. Packed: 20
/// bytes, not 24, for each of a million points.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, packed)]
pub struct PointLive {
    pub value: f64,
    pub status: u32,
    pub ts: Millis,
}

/// How many one-minute buckets a [`MinuteRing`] keeps: one hour.
pub const HISTORY_MINUTES: usize = 60;

/// One minute of event time, in milliseconds.
const MINUTE_MS: Millis = 60_000;

/// The last hour of one ch4 point: the highest value seen in each of the last
/// [`HISTORY_MINUTES`] minutes of event time, in hundredths of a percent (the 0.01 % resolution
/// of a methane sensor; a sparkline needs no more), saturating at 655.34. 128 bytes.
///
/// Bucket `minute % 60` holds that minute; only the newest minute (`head`) is kept, and every
/// bucket of a minute skipped when `head` moves forward is cleared, so a bucket is always either
/// a minute of the last hour before `head` or empty. Readings more than an hour older than `head`
/// are ignored; late readings inside the hour still count.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteRing {
    /// The point's index in the mine definition: rings are kept sorted by it.
    point: u32,
    /// Minutes since the epoch of the newest bucket ([`i32`] lasts until the year 6053);
    /// `i32::MIN` before the first reading.
    head: i32,
    /// The highest value per minute in hundredths; [`EMPTY`] for a minute without a reading.
    max: [u16; HISTORY_MINUTES],
}

/// A minute without a reading in a [`MinuteRing`].
const EMPTY: u16 = u16::MAX;

/// A value in a ring's hundredths: rounded, and clamped to what a bucket holds.
fn hundredths(value: f64) -> u16 {
    (value * 100.0).round().clamp(0.0, f64::from(EMPTY - 1)) as u16
}

impl MinuteRing {
    /// An empty ring for point index `point`.
    pub fn new(point: u32) -> Self {
        MinuteRing {
            point,
            head: i32::MIN,
            max: [EMPTY; HISTORY_MINUTES],
        }
    }

    /// The point index this ring belongs to.
    pub fn point(&self) -> u32 {
        self.point
    }

    fn minute(ts: Millis) -> Option<i32> {
        i32::try_from(ts.div_euclid(MINUTE_MS)).ok()
    }

    fn bucket(minute: i32) -> usize {
        minute.rem_euclid(HISTORY_MINUTES as i32) as usize
    }

    /// Counts a reading of `value` at event time `ts`.
    pub fn record(&mut self, ts: Millis, value: f64) {
        let Some(minute) = Self::minute(ts) else {
            return;
        };
        if !value.is_finite() {
            return;
        }
        const SPAN: i64 = HISTORY_MINUTES as i64;
        if self.head == i32::MIN || i64::from(minute) - i64::from(self.head) >= SPAN {
            self.max = [EMPTY; HISTORY_MINUTES];
            self.head = minute;
        } else if minute > self.head {
            for m in self.head + 1..=minute {
                self.max[Self::bucket(m)] = EMPTY;
            }
            self.head = minute;
        } else if i64::from(self.head) - i64::from(minute) >= SPAN {
            return;
        }
        let b = &mut self.max[Self::bucket(minute)];
        let v = hundredths(value);
        if *b == EMPTY || v > *b {
            *b = v;
        }
    }

    /// The hour ending with the minute of `end` (event time), oldest minute first: the highest
    /// value of each minute, `None` for a minute without a reading.
    pub fn window(&self, end: Millis) -> [Option<f32>; HISTORY_MINUTES] {
        let mut out = [None; HISTORY_MINUTES];
        let (Some(end), true) = (Self::minute(end), self.head != i32::MIN) else {
            return out;
        };
        let span = HISTORY_MINUTES as i64;
        for (k, slot) in out.iter_mut().enumerate() {
            let m = i64::from(end) - (span - 1) + k as i64;
            let head = i64::from(self.head);
            if m <= head && head - m < span {
                let v = self.max[m.rem_euclid(span) as usize];
                if v != EMPTY {
                    *slot = Some(f32::from(v) / 100.0);
                }
            }
        }
        out
    }

    /// The hour ending with the minute of `end`, as the mine detail shows it:
    /// `{"step_s":60,"start":"…","values":[…]}`, `start` being the first minute, `null` a gap.
    pub fn to_json(&self, end: Millis) -> Value {
        let start = (end.div_euclid(MINUTE_MS) - (HISTORY_MINUTES as i64 - 1)) * MINUTE_MS;
        let values: Vec<Value> = self
            .window(end)
            .iter()
            .map(|v| match v {
                // f32 → f64 widens 0.42 into 0.41999998…; four decimals are plenty for a sparkline.
                Some(v) => json!((f64::from(*v) * 1e4).round() / 1e4),
                None => Value::Null,
            })
            .collect();
        json!({"step_s": MINUTE_MS / 1000, "start": format_rfc3339(start), "values": values})
    }
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
    /// By point index of `def`. Write through [`MineLive::set_point`], which keeps `history`.
    pub points: Vec<PointLive>,
    /// The last hour of each ch4 point, sorted by point index; other points have none.
    pub history: Vec<MinuteRing>,
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
            history: {
                let mut rings: Vec<MinuteRing> = def
                    .points
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.kind == PointKind::Ch4)
                    .filter_map(|(i, _)| u32::try_from(i).ok())
                    .map(MinuteRing::new)
                    .collect();
                // A filter's collect grows by doubling; at a million points the slack is tens
                // of megabytes.
                rings.shrink_to_fit();
                rings
            },
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

    /// Sets point `i`'s latest reading; a new reading of a ch4 point also goes into its ring.
    /// Called once per point per batch, so a point read twice in one batch counts its last value.
    pub fn set_point(&mut self, i: usize, p: PointLive) {
        let Some(slot) = self.points.get_mut(i) else {
            return;
        };
        let fresh = p.ts != 0 && p.ts != slot.ts;
        *slot = p;
        if fresh
            && let Ok(i) = u32::try_from(i)
            && let Ok(r) = self.history.binary_search_by_key(&i, MinuteRing::point)
        {
            self.history[r].record(p.ts, p.value);
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
            "utc_offset": self.def.utc_offset,
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
        let mut rings = self.history.iter().peekable();
        let points: Vec<Value> = d
            .points
            .iter()
            .zip(&self.points)
            .enumerate()
            .map(|(i, (p, &l))| {
                let PointLive { value, status, ts } = l;
                let mut v = json!({
                    "id": &*p.id, "area": area_id(p.area), "kind": p.kind, "location": p.location,
                    "limits": p.limits,
                    "value": if ts == 0 { Value::Null } else { json!(value) },
                    "unit": p.kind.unit().trim(),
                    "status": status, "status_words": crate::point_status::status_words(status),
                    "ts": Self::ts(ts),
                });
                // Rings are sorted by point index, so one pass pairs them with their points.
                if let Some(ring) = rings.next_if(|r| r.point as usize == i)
                    && let Some(end) = self.clock.or((ts != 0).then_some(ts))
                {
                    v["history"] = ring.to_json(end);
                }
                v
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
            "id": &*d.id, "name": d.name, "utc_offset": d.utc_offset, "registered": d.registered,
            "status": self.status.as_str(),
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

/// A mine in an alarm flood: more than `flood_count` new alerts within `flood_window`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flood {
    /// When the window that first held too many began.
    pub since: DateTime<Utc>,
    /// New alerts inside the window now.
    pub count: usize,
    /// The most inside one window during this flood.
    pub peak: usize,
}

/// The shared live view.
#[derive(Debug, Default)]
pub struct LiveView {
    /// Mines by id.
    pub mines: DashMap<Arc<str>, MineLive>,
    /// Active alerts by key.
    pub alerts: DashMap<String, Arc<Alert>>,
    /// Cleared alerts waiting for an acknowledgement (ISA-18.2 cleared-unacknowledged), by id.
    pub cleared: DashMap<String, Arc<Alert>>,
    /// Mines in an alarm flood, by id.
    pub floods: DashMap<String, Flood>,
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
        sort_for_operators(&mut v);
        v
    }

    /// Cleared alerts waiting for an acknowledgement matching `keep`, in the same order.
    pub fn cleared_alerts(&self, keep: impl Fn(&Alert) -> bool) -> Vec<Arc<Alert>> {
        let mut v: Vec<Arc<Alert>> = self
            .cleared
            .iter()
            .filter(|a| keep(a.value()))
            .map(|a| a.value().clone())
            .collect();
        sort_for_operators(&mut v);
        v
    }
}

/// Most severe first, then newest, then id descending.
fn sort_for_operators(v: &mut [Arc<Alert>]) {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.started_at.cmp(&a.started_at))
            .then(b.id.cmp(&a.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// 08:00:00 UTC on a day, as event time; minute 0 of the tests.
    const T0: Millis = 1_795_420_800_000;

    fn at(min: i64, sec: i64) -> Millis {
        T0 + min * MINUTE_MS + sec * 1000
    }

    /// The window ending at `end`'s minute, only its last `n` minutes.
    fn tail(r: &MinuteRing, end: Millis, n: usize) -> Vec<Option<f32>> {
        r.window(end)[HISTORY_MINUTES - n..].to_vec()
    }

    #[test]
    fn a_ring_is_small_enough_for_a_million_points() {
        assert_eq!(std::mem::size_of::<MinuteRing>(), 128);
    }

    #[test]
    fn a_bucket_keeps_the_highest_reading_of_its_minute() {
        let mut r = MinuteRing::new(0);
        r.record(at(0, 5), 0.4);
        r.record(at(0, 30), 0.9);
        r.record(at(0, 59), 0.5);
        r.record(at(1, 0), 0.3);
        assert_eq!(tail(&r, at(1, 0), 3), vec![None, Some(0.9), Some(0.3)]);
    }

    #[test]
    fn minutes_without_readings_are_gaps_and_skipped_buckets_are_cleared() {
        let mut r = MinuteRing::new(0);
        for m in 0..60 {
            r.record(at(m, 0), 1.0);
        }
        // Ten silent minutes, then a reading: the buckets of minutes 60..69 held minutes 0..9.
        r.record(at(70, 0), 2.0);
        let w = r.window(at(70, 0));
        assert_eq!(w[HISTORY_MINUTES - 1], Some(2.0));
        assert!(
            w[HISTORY_MINUTES - 11..HISTORY_MINUTES - 1]
                .iter()
                .all(Option::is_none)
        );
        assert!(w[..HISTORY_MINUTES - 11].iter().all(|v| *v == Some(1.0)));
    }

    #[test]
    fn the_window_follows_the_mine_clock_past_the_last_reading() {
        let mut r = MinuteRing::new(0);
        r.record(at(0, 0), 0.5);
        assert_eq!(tail(&r, at(0, 10), 1), vec![Some(0.5)]);
        // The mine clock moved on five minutes; the point said nothing since.
        assert_eq!(
            tail(&r, at(5, 0), 6),
            vec![Some(0.5), None, None, None, None, None]
        );
        // An hour later the reading has left the window.
        assert!(r.window(at(60, 0)).iter().all(Option::is_none));
        assert_eq!(r.window(at(59, 0))[0], Some(0.5));
    }

    #[test]
    fn a_jump_of_more_than_an_hour_starts_the_ring_over() {
        let mut r = MinuteRing::new(0);
        r.record(at(0, 0), 0.5);
        r.record(at(30, 0), 0.6);
        r.record(at(200, 0), 0.7);
        let w = r.window(at(200, 0));
        assert_eq!(w.iter().flatten().count(), 1);
        assert_eq!(w[HISTORY_MINUTES - 1], Some(0.7));
    }

    #[test]
    fn late_readings_count_inside_the_hour_and_are_ignored_beyond_it() {
        let mut r = MinuteRing::new(0);
        r.record(at(100, 0), 0.5);
        r.record(at(98, 0), 0.8);
        r.record(at(100 - 60, 0), 9.9);
        r.record(at(100, 1), f64::NAN);
        let w = r.window(at(100, 0));
        assert_eq!(
            w[HISTORY_MINUTES - 3..].to_vec(),
            vec![Some(0.8), None, Some(0.5)]
        );
        assert_eq!(w.iter().flatten().count(), 2);
    }

    #[test]
    fn a_ring_crosses_the_epoch_and_the_bucket_boundary_alike() {
        let mut r = MinuteRing::new(0);
        r.record(-1, 0.1);
        r.record(0, 0.2);
        assert_eq!(tail(&r, 0, 2), vec![Some(0.1), Some(0.2)]);
    }

    #[test]
    fn values_are_kept_to_the_sensor_resolution_and_clamped() {
        let mut r = MinuteRing::new(0);
        r.record(at(0, 0), 0.424);
        r.record(at(1, 0), -0.3);
        r.record(at(2, 0), 1e9);
        r.record(at(3, 0), 0.005);
        assert_eq!(
            tail(&r, at(3, 0), 4),
            vec![Some(0.42), Some(0.0), Some(655.34), Some(0.01)]
        );
    }

    const MINE: &str = r#"
id = "M1"
name = "Test"
status = "producing"
max_underground = 10

[[area]]
id = "A1"
name = "face"
kind = "coal_face"

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
feeds = ["F1"]

[[point]]
id = "F1"
area = "A1"
kind = "feed"

[[point]]
id = "P2"
area = "A1"
kind = "ch4"
location = "coal_face"
"#;

    #[test]
    fn only_ch4_points_keep_a_history_and_the_detail_shows_it_on_the_mine_clock() {
        let def = MineDef::parse(Path::new("m1.toml"), MINE).expect("mine parses");
        let mut live = MineLive::new(Arc::new(def), MineStatus::Producing);
        assert_eq!(
            live.history
                .iter()
                .map(MinuteRing::point)
                .collect::<Vec<_>>(),
            vec![0, 2]
        );
        for (m, v) in [(0, 0.4), (1, 0.6), (3, 0.5)] {
            live.set_point(
                0,
                PointLive {
                    value: v,
                    status: 0,
                    ts: at(m, 0),
                },
            );
            live.set_point(
                1,
                PointLive {
                    value: 1.0,
                    status: 0,
                    ts: at(m, 0),
                },
            );
        }
        // The same reading exported again (another system's batch) is not counted twice, and a
        // higher value in the same ts does not sneak in.
        live.set_point(
            0,
            PointLive {
                value: 0.9,
                status: 0,
                ts: at(3, 0),
            },
        );
        live.clock = Some(at(4, 0));
        let d = live.detail(Vec::new());
        let points = d["points"].as_array().expect("points");
        let h = &points[0]["history"];
        assert_eq!(h["step_s"], 60);
        assert_eq!(h["start"], format_rfc3339(at(4 - 59, 0)));
        let values = h["values"].as_array().expect("values");
        assert_eq!(values.len(), HISTORY_MINUTES);
        assert_eq!(
            values[HISTORY_MINUTES - 5..].to_vec(),
            vec![json!(0.4), json!(0.6), Value::Null, json!(0.5), Value::Null]
        );
        assert!(
            points[1].get("history").is_none(),
            "a feed point has no history"
        );
        assert_eq!(points[0]["unit"], "%");
        assert_eq!(points[0]["status_words"], json!(["normal"]));
        assert_eq!(d["utc_offset"], "+08:00");
        assert_eq!(live.summary(0)["utc_offset"], "+08:00");
        let p2 = points[2]["history"]["values"]
            .as_array()
            .expect("P2 values");
        assert!(p2.iter().all(Value::is_null), "P2 never reported");
    }
}
