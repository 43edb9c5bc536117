//! The state every kind shares: [`MineState`] (one mine) and the state of its points, areas,
//! cameras, meters and tags. What each is, last reported, lives in the plain fields here; what a
//! kind keeps about it lives in that kind's slot under `kinds` (generated from the kind list, see
//! [`super::PointSlots`] and its siblings), owned and documented by the kind's module.
//!
//! The state is plain data owned by one shard task: no I/O, no clock reads, no locks but the
//! shared feed index's, taken once per mine per window.

use super::feed_index::FeedIndex;
use super::fingerprint::Chunker;
use super::{AreaSlots, CameraSlots, MeterSlots, MineSlots, PointSlots, TagSlots};
use minewatch_core::alert::{Change, ChangeOp, Kind, Severity};
use minewatch_core::payload::CameraState;
use minewatch_core::registry::{Idx, MineDef, MineStatus};
use minewatch_core::time::Millis;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// No deadline pending.
pub const NEVER: Millis = Millis::MAX;

/// One safety point. Kept small and `Copy`: a million of these must fit in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointState {
    /// Latest value and status, and the event time they were read (0: never since start).
    pub value: f64,
    pub status: u32,
    /// Earlier readings applied, as ms before `last_seen` (0: empty), so a redelivery is known
    /// exactly: the same `ts` as one applied is a redelivery, an older `ts` that is not is a late
    /// reading, still judged (see [`super::Unapplied`]).
    pub recent: [u32; 3],
    pub last_seen: Millis,
    /// At power-off level: entered at the point's `power_off` limit, left below `restore` (not
    /// judged while calibrating). Kept here because cutting power is every kind's business.
    pub at_power_off: bool,
    /// The point's over-limit alert is active on the high side (a neighbour "at alarm"). Written
    /// by the kind that raises it, read by kinds that judge a point against its neighbours.
    pub alarm_high: bool,
    /// The chunk of readings being fingerprinted ([`super::fingerprint`]): stepped by the engine
    /// once per new reading, read by every kind that looks for data repeated from elsewhere.
    pub chunks: Chunker,
    /// What each kind keeps about this point.
    pub kinds: PointSlots,
}

impl PointState {
    /// Whether a reading at `ts` is one applied already (the latest, or one of `recent`).
    #[inline]
    pub fn applied(&self, ts: Millis) -> bool {
        let back = self.last_seen - ts;
        back == 0
            || (back > 0 && back <= u32::MAX as Millis && self.recent.contains(&(back as u32)))
    }

    /// Remembers a reading at `ts`, older than `last_seen`, as applied (forgetting the oldest).
    pub fn remember_late(&mut self, ts: Millis) {
        let back = self.last_seen - ts;
        if back <= 0 || back > u32::MAX as Millis {
            return;
        }
        self.remember(back as u32);
    }

    /// Moves `last_seen` on to a newer `ts`, the reading it held becoming one of `recent`.
    #[inline]
    pub fn advance(&mut self, ts: Millis) {
        let step = ts - self.last_seen;
        if self.last_seen != 0 && step > 0 {
            for r in &mut self.recent {
                *r = if *r == 0 {
                    0
                } else {
                    u32::try_from(*r as Millis + step).unwrap_or(0)
                };
            }
            if let Ok(step) = u32::try_from(step) {
                self.remember(step);
            }
        }
        self.last_seen = ts;
    }

    /// Keeps `back` among the three nearest offsets.
    fn remember(&mut self, back: u32) {
        let r = &mut self.recent;
        if r.contains(&back) {
            return;
        }
        // An empty slot, else the furthest back.
        let slot = (0..r.len())
            .max_by_key(|&k| if r[k] == 0 { u32::MAX } else { r[k] })
            .unwrap_or(0);
        if r[slot] == 0 || r[slot] > back {
            r[slot] = back;
        }
    }
}

/// A personnel tag as last seen.
#[derive(Debug, Clone, Default)]
pub struct TagState {
    pub person: Option<Box<str>>,
    pub leader: bool,
    /// Area index, when the area is registered.
    pub area: Option<Idx>,
    /// The area id, when the registry does not define it.
    pub area_extra: Option<Box<str>>,
    pub underground: bool,
    pub down_at: Option<Millis>,
    /// Event time of the observation this state is from.
    pub ts: Millis,
    /// What each kind keeps about this tag.
    pub kinds: TagSlots,
}

/// One area of the registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct AreaState {
    /// Last explosives issue to this area (0: none).
    pub explosives_at: Millis,
    /// What each kind keeps about this area.
    pub kinds: AreaSlots,
}

/// An area the registry does not define, seen in personnel or explosives data.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtraArea {
    /// People underground in it now.
    pub people: u32,
    /// Last explosives issue to it (0: none).
    pub explosives_at: Millis,
    pub kinds: AreaSlots,
}

/// One camera.
#[derive(Debug, Clone, Default)]
pub struct CamState {
    pub state: Option<CameraState>,
    pub events: Vec<Box<str>>,
    pub ts: Millis,
    pub kinds: CameraSlots,
}

/// One electricity meter.
#[derive(Debug, Clone, Default)]
pub struct MeterState {
    pub kw: f64,
    pub ts: Millis,
    pub kinds: MeterSlots,
}

/// One mine's rule state.
#[derive(Debug)]
pub struct MineState {
    pub def: Arc<MineDef>,
    /// Effective status: the regulator's order if there is one, else the registry file's.
    pub status: MineStatus,
    /// A regulator's stored order, which outranks the registry file.
    pub status_order: Option<MineStatus>,
    /// The mine's clock: the latest `ts` seen from it.
    pub clock: Option<Millis>,
    /// The mine clock when this definition began to be watched: silence of points that never
    /// reported is measured from here.
    pub epoch: Option<Millis>,
    /// Earliest pending deadline on the mine clock; a sweep runs when the clock reaches it.
    pub next_due: Millis,
    /// By point index.
    pub points: Vec<PointState>,
    /// By tag id.
    pub tags: HashMap<Box<str>, TagState>,
    /// People underground per area index, in all, and leaders among them.
    pub people: Vec<u32>,
    pub underground: u32,
    pub leaders_underground: u32,
    /// By area index.
    pub area_state: Vec<AreaState>,
    /// Areas seen in data that the registry does not define, by id.
    pub extra_areas: HashMap<Box<str>, ExtraArea>,
    /// By camera index.
    pub cams: Vec<CamState>,
    /// By meter index.
    pub meter_state: Vec<MeterState>,
    /// Cameras and meters of each area (by area index).
    pub area_cameras: Vec<Vec<Idx>>,
    pub area_meters: Vec<Vec<Idx>>,
    /// Last explosives issue anywhere in the mine (0: none).
    pub explosives_at: Millis,
    /// Wall-clock arrival of the last message, per system (index of `System::ALL`).
    pub last_arrival: [Option<Millis>; 5],
    /// Per system, what is added to its `ts` to keep the mine's time continuous after its clock
    /// jumped (0: nothing). Set by the kind that watches the mine's clocks, applied by the engine
    /// to every time of a batch before anything else reads it.
    pub time_shift: [Millis; 5],
    /// Every alert of this mine that is active, as (kind, subject): kept from the changes the
    /// kinds emit, so a registry reload can judge each of them whatever its kind.
    pub active: HashSet<(Kind, Arc<str>)>,
    /// The fingerprint of the chunk that the reading being judged completed, if it completed one
    /// that varied ([`super::fingerprint`]); set by the engine before the kinds' `on_reading`.
    pub chunk_ended: Option<u64>,
    /// Where this mine hands in its windows' chunk fingerprints, shared with the other mines of
    /// its engine and, when the engine was given one, with every shard's.
    pub feed_index: Arc<FeedIndex>,
    /// What each kind keeps about the mine as a whole.
    pub kinds: MineSlots,
}

/// What a change is about: the pieces every kind fills in the same way.
pub struct Subject<'a> {
    pub kind: Kind,
    pub subject: Arc<str>,
    pub area: Option<Arc<str>>,
    pub area_name: Option<&'a str>,
}

fn by_area(def: &MineDef, areas_of: impl Iterator<Item = Idx>) -> Vec<Vec<Idx>> {
    let mut v = vec![Vec::new(); def.areas.len()];
    for (i, a) in areas_of.enumerate() {
        v[a as usize].push(i as Idx);
    }
    v
}

impl MineState {
    /// A fresh state for a mine definition.
    pub fn new(def: Arc<MineDef>) -> Self {
        MineState {
            status: def.status,
            status_order: None,
            points: vec![PointState::default(); def.points.len()],
            people: vec![0; def.areas.len()],
            area_state: vec![AreaState::default(); def.areas.len()],
            extra_areas: HashMap::new(),
            cams: vec![CamState::default(); def.cameras.len()],
            meter_state: vec![MeterState::default(); def.meters.len()],
            area_cameras: by_area(&def, def.cameras.iter().map(|c| c.area)),
            area_meters: by_area(&def, def.meters.iter().map(|m| m.area)),
            def,
            clock: None,
            epoch: None,
            next_due: NEVER,
            tags: HashMap::new(),
            underground: 0,
            leaders_underground: 0,
            explosives_at: 0,
            last_arrival: [None; 5],
            time_shift: [0; 5],
            active: HashSet::new(),
            chunk_ended: None,
            feed_index: FeedIndex::shared(),
            kinds: MineSlots::default(),
        }
    }

    /// Lowers the sweep deadline.
    #[inline]
    pub fn due(&mut self, at: Millis) {
        if at < self.next_due {
            self.next_due = at;
        }
    }

    /// The subject description of point `p` for `kind`.
    pub fn point_subject(&self, kind: Kind, p: Idx) -> Subject<'_> {
        let point = &self.def.points[p as usize];
        self.in_area(kind, point.id.clone(), Some(point.area))
    }

    /// The subject description of area `a`.
    pub fn area_subject(&self, kind: Kind, a: Idx) -> Subject<'_> {
        self.in_area(kind, self.def.areas[a as usize].id.clone(), Some(a))
    }

    /// The subject description of camera `c`.
    pub fn camera_subject(&self, kind: Kind, c: Idx) -> Subject<'_> {
        let cam = &self.def.cameras[c as usize];
        self.in_area(kind, cam.id.clone(), Some(cam.area))
    }

    /// The subject description of meter `i`.
    pub fn meter_subject(&self, kind: Kind, i: Idx) -> Subject<'_> {
        let meter = &self.def.meters[i as usize];
        self.in_area(kind, meter.id.clone(), Some(meter.area))
    }

    /// The subject description of the mine itself.
    pub fn mine_subject(&self, kind: Kind) -> Subject<'_> {
        self.in_area(kind, self.def.id.clone(), None)
    }

    /// The subject description of tag `tag` in area `area`.
    pub fn tag_subject(&self, kind: Kind, tag: &str, area: Option<Idx>) -> Subject<'_> {
        self.in_area(kind, Arc::from(tag), area)
    }

    /// `subject`, in registered area `area` if any.
    pub fn in_area(&self, kind: Kind, subject: Arc<str>, area: Option<Idx>) -> Subject<'_> {
        let area = area.map(|a| &self.def.areas[a as usize]);
        Subject {
            kind,
            subject,
            area: area.map(|a| a.id.clone()),
            area_name: area.map(|a| a.name.as_str()),
        }
    }

    /// "tag T1 (person P1, leader)" for messages.
    pub fn tag_label(&self, tag: &str) -> String {
        match self.tags.get(tag) {
            Some(t) => {
                let person = t.person.as_deref().map(|p| format!("person {p}"));
                let leader = t.leader.then(|| "leader".to_string());
                let extra: Vec<String> = person.into_iter().chain(leader).collect();
                if extra.is_empty() {
                    format!("tag {tag}")
                } else {
                    format!("tag {tag} ({})", extra.join(", "))
                }
            }
            None => format!("tag {tag}"),
        }
    }

    /// Up to `limit` tags underground in area `a`, sorted, for evidence.
    pub fn tags_in(&self, a: Idx, limit: usize) -> Vec<String> {
        let mut v: Vec<String> = self
            .tags
            .iter()
            .filter(|(_, t)| t.underground && t.area == Some(a))
            .map(|(k, _)| k.to_string())
            .collect();
        v.sort();
        v.truncate(limit);
        v
    }

    /// The state of an area the registry does not define.
    pub fn extra_area(&mut self, id: &str) -> &mut ExtraArea {
        if !self.extra_areas.contains_key(id) {
            self.extra_areas.insert(Box::from(id), ExtraArea::default());
        }
        self.extra_areas
            .get_mut(id)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// A change for `subject`.
    #[allow(clippy::too_many_arguments)]
    pub fn change(
        &self,
        op: ChangeOp,
        s: Subject<'_>,
        severity: Severity,
        message: String,
        value: Option<f64>,
        limit: Option<f64>,
        at: Millis,
        evidence: Value,
    ) -> Change {
        Change {
            op,
            mine: self.def.id.clone(),
            kind: s.kind,
            subject: s.subject,
            area: s.area,
            severity,
            message,
            value,
            limit,
            at,
            evidence,
        }
    }

    /// A resolve of an alert this state no longer holds (its subject left the registry), with
    /// the reason in its message.
    pub fn resolve_orphan(&self, kind: Kind, subject: &str, why: &str, at: Millis) -> Change {
        let s = Subject {
            kind,
            subject: Arc::from(subject),
            area: None,
            area_name: None,
        };
        let msg = format!("{kind} at {subject} resolved: {subject} {why}");
        self.change(
            ChangeOp::Resolve,
            s,
            Severity::Warning,
            msg,
            None,
            None,
            at,
            Value::Null,
        )
    }

    /// `"<area name>, <mine name>"` for messages.
    pub fn place(&self, area_name: Option<&str>) -> String {
        let mine = if self.def.name.is_empty() {
            format!("mine {}", self.def.id)
        } else {
            self.def.name.clone()
        };
        match area_name {
            Some(a) => format!("{a}, {mine}"),
            None => mine,
        }
    }
}
