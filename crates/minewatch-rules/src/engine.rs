//! [`Engine`]: the mines of one shard; [`MineState`]: one mine's rule state.
//!
//! The state is plain data owned by one shard task: no locks, no I/O, no clock reads. Callers pass
//! event time in the batches and wall time in [`Engine::tick`].

use crate::config::Params;
use crate::kinds::{
    over_limit, point_silent, power_off_failure, sensor_fault, system_silent, unregistered_device,
};
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity};
use minewatch_core::live::{CameraLive, MeterLive, MineLive, PointLive};
use minewatch_core::payload::{Batch, Items, System};
use minewatch_core::registry::{Idx, MineDef, MineStatus};
use minewatch_core::time::Millis;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// No deadline pending.
pub const NEVER: Millis = Millis::MAX;

/// Rule state of one safety point. Kept small: a million of these must fit in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointState {
    /// Latest value and status, and the event time they were read (0: never since start).
    pub value: f64,
    pub status: u32,
    pub last_seen: Millis,
    /// Severity of the active `over_limit` alert, if any.
    pub over: Option<Severity>,
    /// Whether the active `over_limit` is on the low side (O2, air speed).
    pub over_low: bool,
    /// The value last published for the active `over_limit` (for updates on a new extreme).
    pub over_published: f64,
    /// At power-off level: entered at `power_off`, left below `restore`.
    pub at_power_off: bool,
    /// Since when the power-off-failure condition holds (0: it does not).
    pub pof_since: Millis,
    pub pof_active: bool,
    /// Since when a fault status holds (0: it does not).
    pub fault_since: Millis,
    pub fault_active: bool,
    pub silent_active: bool,
}

/// A personnel tag as last seen.
#[derive(Debug, Clone)]
pub struct TagState {
    pub person: Option<Box<str>>,
    pub leader: bool,
    /// Area index, when the area is registered.
    pub area: Option<Idx>,
    pub underground: bool,
    pub down_at: Option<Millis>,
    pub distress: bool,
    pub ts: Millis,
}

/// A device (or area) the registry does not define.
#[derive(Debug, Clone, Copy)]
pub struct Unregistered {
    /// `point`, `camera`, `meter`, `area` or `mine`.
    pub device: &'static str,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub active: bool,
}

/// Most unregistered devices tracked per mine; beyond this they are counted, not tracked.
pub const MAX_UNREGISTERED: usize = 10_000;

/// Wall-clock state of the three systems `system_silent` watches.
#[derive(Debug, Clone, Default)]
pub struct SystemsState {
    /// Wall-clock arrival of the last message, per system (index of `System::ALL`).
    pub last_arrival: [Option<Millis>; 5],
    /// Wall clock when watching began (first tick), so a system that never reported is judged from then.
    pub watching_since: Option<Millis>,
    /// Systems in the active `system_silent` alert, and its severity.
    pub silent: Vec<System>,
    pub severity: Option<Severity>,
}

/// One mine's rule state.
#[derive(Debug)]
pub struct MineState {
    pub def: Arc<MineDef>,
    /// Effective status (a stored regulator's order outranks the registry file).
    pub status: MineStatus,
    /// The mine's clock: the latest `ts` seen from it.
    pub clock: Option<Millis>,
    /// The mine clock when this definition began to be watched: silence of points that never
    /// reported is measured from here.
    pub epoch: Option<Millis>,
    pub points: Vec<PointState>,
    /// Earliest pending deadline on the mine clock; a sweep runs when the clock reaches it.
    pub next_due: Millis,
    pub tags: HashMap<Box<str>, TagState>,
    pub people: Vec<u32>,
    pub underground: u32,
    pub leaders_underground: u32,
    pub cameras: Vec<CameraLive>,
    pub meters: Vec<MeterLive>,
    pub unregistered: HashMap<Box<str>, Unregistered>,
    /// Unregistered devices seen beyond [`MAX_UNREGISTERED`].
    pub unregistered_overflow: u64,
    pub systems: SystemsState,
}

/// What a change is about: the pieces every kind fills in the same way.
pub(crate) struct Subject<'a> {
    pub kind: Kind,
    pub subject: Arc<str>,
    pub area: Option<Arc<str>>,
    pub area_name: Option<&'a str>,
}

impl MineState {
    /// A fresh state for a mine definition.
    pub fn new(def: Arc<MineDef>) -> Self {
        MineState {
            status: def.status,
            points: vec![PointState::default(); def.points.len()],
            people: vec![0; def.areas.len()],
            cameras: vec![CameraLive::default(); def.cameras.len()],
            meters: vec![MeterLive::default(); def.meters.len()],
            def,
            clock: None,
            epoch: None,
            next_due: NEVER,
            tags: HashMap::new(),
            underground: 0,
            leaders_underground: 0,
            unregistered: HashMap::new(),
            unregistered_overflow: 0,
            systems: SystemsState::default(),
        }
    }

    /// Lowers the sweep deadline.
    #[inline]
    pub(crate) fn due(&mut self, at: Millis) {
        if at < self.next_due {
            self.next_due = at;
        }
    }

    /// The subject description of point `p` for `kind`.
    pub(crate) fn point_subject(&self, kind: Kind, p: Idx) -> Subject<'_> {
        let point = &self.def.points[p as usize];
        let area = &self.def.areas[point.area as usize];
        Subject {
            kind,
            subject: point.id.clone(),
            area: Some(area.id.clone()),
            area_name: Some(&area.name),
        }
    }

    /// A change for `subject`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn change(
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

    /// `"<area name>, <mine name>"` for messages.
    pub(crate) fn place(&self, area_name: Option<&str>) -> String {
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

    fn advance_clock(&mut self, ts: Millis) {
        if self.clock.is_none_or(|c| ts > c) {
            self.clock = Some(ts);
        }
        if self.epoch.is_none() {
            self.epoch = Some(ts);
            // Every defined point now has a silence deadline.
            self.due(ts);
        }
    }

    /// Applies one decoded batch of `system` that arrived at wall time `wall`.
    pub fn on_batch(
        &mut self,
        p: &Params,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        self.systems.last_arrival[system.index()] = Some(wall);
        if self.systems.silent.contains(&system) {
            system_silent::evaluate(self, p, wall, out);
        }
        if !self.def.registered {
            unregistered_device::mine(self, batch.ts, out);
        }
        // The batch's own time moves the clock first, so elements judged against it see it.
        self.advance_clock(batch.ts);
        match &batch.items {
            Items::Safety(readings) => {
                for r in readings {
                    self.advance_clock(r.ts);
                    match self.def.point(r.point) {
                        Some(i) => self.on_reading(p, i, r.value, r.status, r.ts, out),
                        None => unregistered_device::seen(
                            self,
                            p,
                            r.point,
                            "point",
                            r.ts,
                            Some(r.value),
                            out,
                        ),
                    }
                }
            }
            Items::Personnel(tags) => {
                for t in tags {
                    self.advance_clock(t.ts);
                    let area = match t.area {
                        Some(a) => match self.def.area(a) {
                            Some(i) => Some(i),
                            None => {
                                unregistered_device::seen(self, p, a, "area", t.ts, None, out);
                                None
                            }
                        },
                        None => None,
                    };
                    self.on_tag(
                        t.tag,
                        t.person,
                        t.leader,
                        area,
                        t.underground,
                        t.down_at,
                        t.distress,
                        t.ts,
                    );
                }
                self.recount_people();
            }
            Items::Video(cams) => {
                for c in cams {
                    self.advance_clock(c.ts);
                    match self.def.camera(c.camera) {
                        Some(i) => {
                            let live = &mut self.cameras[i as usize];
                            if c.ts >= live.ts {
                                live.state = serde_json::to_value(c.state)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default();
                                live.events = c.events.iter().map(|e| e.to_string()).collect();
                                live.ts = c.ts;
                            }
                        }
                        None => {
                            unregistered_device::seen(self, p, c.camera, "camera", c.ts, None, out)
                        }
                    }
                }
            }
            Items::Power(meters) => {
                for m in meters {
                    self.advance_clock(m.ts);
                    match self.def.meter(m.meter) {
                        Some(i) => {
                            let live = &mut self.meters[i as usize];
                            if m.ts >= live.ts {
                                *live = MeterLive { kw: m.kw, ts: m.ts };
                            }
                        }
                        None => unregistered_device::seen(
                            self,
                            p,
                            m.meter,
                            "meter",
                            m.ts,
                            Some(m.kw),
                            out,
                        ),
                    }
                }
            }
            Items::Explosives(issues) => {
                for i in issues {
                    self.advance_clock(i.ts);
                    if self.def.area(i.area).is_none() {
                        unregistered_device::seen(self, p, i.area, "area", i.ts, Some(i.kg), out);
                    }
                }
            }
        }
        self.sweep_if_due(p, out);
    }

    /// One safety reading of a registered point.
    fn on_reading(
        &mut self,
        p: &Params,
        i: Idx,
        value: f64,
        status: u32,
        ts: Millis,
        out: &mut Vec<Change>,
    ) {
        let st = &mut self.points[i as usize];
        if ts < st.last_seen {
            // Older than what we have (a redelivery or out-of-order element): the state is newer.
            return;
        }
        st.value = value;
        st.status = status;
        st.last_seen = ts;
        if st.silent_active {
            point_silent::resolve(self, i, ts, out);
        }
        sensor_fault::on_reading(self, p, i, ts, out);
        over_limit::on_reading(self, i, ts, out);
        if !self.def.points[i as usize].feeds.is_empty() {
            power_off_failure::evaluate(self, p, i, ts, out);
        }
        let dependents = self.def.feed_dependents[i as usize].len();
        for k in 0..dependents {
            let d = self.def.feed_dependents[i as usize][k];
            power_off_failure::evaluate(self, p, d, ts, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_tag(
        &mut self,
        tag: &str,
        person: Option<&str>,
        leader: bool,
        area: Option<Idx>,
        underground: bool,
        down_at: Option<Millis>,
        distress: bool,
        ts: Millis,
    ) {
        if let Some(t) = self.tags.get_mut(tag) {
            if ts < t.ts {
                return;
            }
            t.person = person.map(Box::from);
            t.leader = leader;
            t.area = area;
            t.underground = underground;
            t.down_at = down_at;
            t.distress = distress;
            t.ts = ts;
        } else {
            self.tags.insert(
                Box::from(tag),
                TagState {
                    person: person.map(Box::from),
                    leader,
                    area,
                    underground,
                    down_at,
                    distress,
                    ts,
                },
            );
        }
    }

    fn recount_people(&mut self) {
        self.people.iter_mut().for_each(|n| *n = 0);
        self.underground = 0;
        self.leaders_underground = 0;
        for t in self.tags.values() {
            if !t.underground {
                continue;
            }
            self.underground += 1;
            if t.leader {
                self.leaders_underground += 1;
            }
            if let Some(a) = t.area {
                self.people[a as usize] += 1;
            }
        }
    }

    /// Runs the sweep when the clock has reached the earliest deadline.
    fn sweep_if_due(&mut self, p: &Params, out: &mut Vec<Change>) {
        let Some(clock) = self.clock else { return };
        if clock < self.next_due {
            return;
        }
        self.next_due = NEVER;
        let epoch = self.epoch.unwrap_or(clock);
        for i in 0..self.points.len() as Idx {
            sensor_fault::sweep(self, p, i, clock, out);
            power_off_failure::sweep(self, p, i, clock, out);
            point_silent::sweep(self, p, i, clock, epoch, out);
        }
    }

    /// A wall-clock tick: the only wall-clock rule, `system_silent`.
    pub fn on_tick(&mut self, p: &Params, wall: Millis, out: &mut Vec<Change>) {
        if self.systems.watching_since.is_none() {
            self.systems.watching_since = Some(wall);
        }
        system_silent::evaluate(self, p, wall, out);
    }

    /// An operator acknowledged an alert of this mine. Kinds that stay until acknowledged resolve.
    pub fn on_ack(
        &mut self,
        alert: &Alert,
        by: &str,
        note: &str,
        at: Millis,
        out: &mut Vec<Change>,
    ) {
        let s = Subject {
            kind: alert.kind,
            subject: Arc::from(alert.subject.as_str()),
            area: alert.area.as_deref().map(Arc::from),
            area_name: None,
        };
        out.push(self.change(
            ChangeOp::Ack {
                id: alert.id.clone(),
                by: by.to_string(),
                note: note.to_string(),
            },
            s,
            alert.severity,
            alert.message.clone(),
            alert.value,
            alert.limit,
            at,
            alert.evidence.clone(),
        ));
        if alert.kind == Kind::UnregisteredDevice
            && alert.state == minewatch_core::AlertState::Active
        {
            unregistered_device::acked(self, alert, at, out);
        }
    }

    /// Restores what the store says is active, so a restart neither raises twice nor forgets.
    /// Alerts whose subject no longer exists are resolved.
    pub fn restore(&mut self, alerts: &[Alert], out: &mut Vec<Change>) {
        for a in alerts {
            let point = self.def.point(&a.subject);
            let at = a.updated_at.timestamp_millis();
            match (a.kind, point) {
                (Kind::OverLimit, Some(i)) => {
                    let st = &mut self.points[i as usize];
                    st.over = Some(a.severity);
                    st.over_low = a.evidence.get("side").and_then(Value::as_str) == Some("low");
                    st.over_published = a.value.unwrap_or(f64::NAN);
                    st.at_power_off = a.severity == Severity::Critical;
                }
                (Kind::PowerOffFailure, Some(i)) => {
                    let st = &mut self.points[i as usize];
                    st.pof_active = true;
                    st.at_power_off = true;
                }
                (Kind::SensorFault, Some(i)) => {
                    let st = &mut self.points[i as usize];
                    st.fault_active = true;
                    st.fault_since = a.started_at.timestamp_millis();
                }
                (Kind::PointSilent, Some(i)) => self.points[i as usize].silent_active = true,
                (Kind::SystemSilent, _) => {
                    self.systems.silent = a
                        .evidence
                        .get("silent")
                        .and_then(Value::as_array)
                        .map(|v| {
                            v.iter()
                                .filter_map(|s| s.as_str().and_then(System::parse))
                                .collect()
                        })
                        .unwrap_or_default();
                    self.systems.severity = Some(a.severity);
                }
                (Kind::UnregisteredDevice, _) => {
                    let device = a
                        .evidence
                        .get("device")
                        .and_then(Value::as_str)
                        .unwrap_or("point");
                    let device = unregistered_device::device_name(device);
                    let first = a.started_at.timestamp_millis();
                    self.unregistered.insert(
                        Box::from(a.subject.as_str()),
                        Unregistered {
                            device,
                            first_seen: first,
                            last_seen: at,
                            active: true,
                        },
                    );
                }
                (
                    Kind::OverLimit | Kind::PowerOffFailure | Kind::SensorFault | Kind::PointSilent,
                    None,
                ) => {
                    let s = Subject {
                        kind: a.kind,
                        subject: Arc::from(a.subject.as_str()),
                        area: a.area.as_deref().map(Arc::from),
                        area_name: None,
                    };
                    let msg = format!(
                        "{} at {} resolved: the point is no longer in the registry",
                        a.kind, a.subject
                    );
                    out.push(self.change(
                        ChangeOp::Resolve,
                        s,
                        a.severity,
                        msg,
                        a.value,
                        a.limit,
                        self.clock.unwrap_or(at),
                        a.evidence.clone(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// Replaces the definition (registry reload), keeping the state of points that remain and
    /// resolving alerts of points that were removed.
    pub fn rebind(&mut self, def: Arc<MineDef>, out: &mut Vec<Change>) {
        let old = std::mem::replace(self, MineState::new(def));
        self.clock = old.clock;
        self.epoch = old.clock;
        self.status = old.status;
        self.tags = old.tags;
        self.systems = old.systems;
        self.unregistered_overflow = old.unregistered_overflow;
        let at = old.clock.unwrap_or(0);
        for (oi, ost) in old.points.iter().enumerate() {
            let id = &old.def.points[oi].id;
            match self.def.point(id) {
                Some(ni) => self.points[ni as usize] = *ost,
                None => {
                    let subject = |kind| Subject {
                        kind,
                        subject: id.clone(),
                        area: None,
                        area_name: None,
                    };
                    let msg = |kind: Kind| {
                        format!("{kind} at {id} resolved: the point was removed from the registry")
                    };
                    for (active, kind) in [
                        (ost.over.is_some(), Kind::OverLimit),
                        (ost.pof_active, Kind::PowerOffFailure),
                        (ost.fault_active, Kind::SensorFault),
                        (ost.silent_active, Kind::PointSilent),
                    ] {
                        if active {
                            out.push(self.change(
                                ChangeOp::Resolve,
                                subject(kind),
                                Severity::Warning,
                                msg(kind),
                                None,
                                None,
                                at,
                                Value::Null,
                            ));
                        }
                    }
                }
            }
        }
        for (id, u) in old.unregistered {
            let now_defined = match u.device {
                "point" => self.def.point(&id).is_some(),
                "camera" => self.def.camera(&id).is_some(),
                "meter" => self.def.meter(&id).is_some(),
                "area" => self.def.area(&id).is_some(),
                _ => self.def.registered,
            };
            if !now_defined {
                self.unregistered.insert(id, u);
            } else if u.active {
                unregistered_device::now_registered(self, &id, u, at, out);
            }
        }
        remap_tag_areas(&old.def, &self.def, &mut self.tags);
        self.recount_people();
        self.next_due = self.clock.unwrap_or(NEVER);
    }

    /// Copies what `system` changed into the live picture.
    pub fn export(&self, system: System, live: &mut MineLive) {
        if !Arc::ptr_eq(&live.def, &self.def) {
            *live = MineLive::new(self.def.clone(), self.status);
            live.points = self
                .points
                .iter()
                .map(|s| PointLive {
                    value: s.value,
                    status: s.status,
                    ts: s.last_seen,
                })
                .collect();
            live.cameras.clone_from(&self.cameras);
            live.meters.clone_from(&self.meters);
            live.people.clone_from(&self.people);
        }
        live.status = self.status;
        live.clock = self.clock;
        live.systems_seen = self.systems.last_arrival;
        match system {
            System::Safety => {
                for (l, s) in live.points.iter_mut().zip(&self.points) {
                    *l = PointLive {
                        value: s.value,
                        status: s.status,
                        ts: s.last_seen,
                    };
                }
            }
            System::Personnel => {
                live.people.clone_from(&self.people);
                live.underground = self.underground;
                live.leaders_underground = self.leaders_underground;
            }
            System::Video => live.cameras.clone_from(&self.cameras),
            System::Power => live.meters.clone_from(&self.meters),
            System::Explosives => {}
        }
        if live.unregistered.len() != self.unregistered.len() {
            live.unregistered = self
                .unregistered
                .iter()
                .map(|(k, u)| (k.to_string(), u.device))
                .collect();
        }
    }
}

/// Re-resolves tag areas against a new definition (area indices may have moved).
fn remap_tag_areas(old: &MineDef, new: &MineDef, tags: &mut HashMap<Box<str>, TagState>) {
    for t in tags.values_mut() {
        t.area = t
            .area
            .and_then(|a| old.areas.get(a as usize))
            .and_then(|a| new.area(&a.id));
    }
}

/// The mines of one shard, and the rule parameters.
#[derive(Debug)]
pub struct Engine {
    pub params: Params,
    pub mines: HashMap<Arc<str>, MineState>,
}

impl Engine {
    /// An engine for `mines` (the registry definitions this shard owns).
    pub fn new(params: Params, mines: impl IntoIterator<Item = Arc<MineDef>>) -> Self {
        Engine {
            params,
            mines: mines
                .into_iter()
                .map(|d| (d.id.clone(), MineState::new(d)))
                .collect(),
        }
    }

    /// The state of `mine`, created as unregistered if the registry does not define it.
    pub fn mine(&mut self, mine: &str) -> &mut MineState {
        if !self.mines.contains_key(mine) {
            let def = Arc::new(MineDef::unregistered(mine));
            self.mines.insert(def.id.clone(), MineState::new(def));
        }
        self.mines
            .get_mut(mine)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// Applies a decoded batch from `mine`.
    pub fn on_batch(
        &mut self,
        mine: &str,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        let params = self.params;
        self.mine(mine).on_batch(&params, system, batch, wall, out);
    }

    /// A wall-clock tick for every mine.
    pub fn tick(&mut self, wall: Millis, out: &mut Vec<Change>) {
        let params = self.params;
        for m in self.mines.values_mut() {
            m.on_tick(&params, wall, out);
        }
    }

    /// A new or changed definition (`None` definition: the mine left the registry).
    pub fn set_definition(&mut self, id: &str, def: Option<Arc<MineDef>>, out: &mut Vec<Change>) {
        let def = def.unwrap_or_else(|| Arc::new(MineDef::unregistered(id)));
        match self.mines.get_mut(id) {
            Some(m) => m.rebind(def, out),
            None => {
                self.mines.insert(def.id.clone(), MineState::new(def));
            }
        }
    }
}
