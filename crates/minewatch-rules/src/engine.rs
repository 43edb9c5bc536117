//! [`Engine`]: the mines of one shard; [`MineState`]: one mine's rule state.
//!
//! The state is plain data owned by one shard task: no locks, no I/O, no clock reads. Callers pass
//! event time in the batches and wall time in [`Engine::tick`]. A batch of any system updates the
//! state of what it reports (points, tags, cameras, meters, issues) and then the rules that read
//! it run; the cross-system rules (`no_video_work`, `production_while_suspended`,
//! `concealed_work`) read the state of several systems of the same mine, all inside this shard.

use crate::config::Params;
use crate::kinds::{self, *};
use crate::timed::Timed;
use minewatch_core::alert::{Alert, Change, ChangeOp, Kind, Severity};
use minewatch_core::live::{CameraLive, MeterLive, MineLive, PointLive};
use minewatch_core::payload::{Batch, CameraState, Items, System, TagObs};
use minewatch_core::registry::{Idx, MineDef, MineStatus};
use minewatch_core::time::Millis;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// No deadline pending.
pub const NEVER: Millis = Millis::MAX;

/// Rule state of one safety point. Kept small and `Copy`: a million of these must fit in memory.
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
    /// `flatline`: the band of values since `flat_since` (0: no band yet).
    pub flat_lo: f64,
    pub flat_hi: f64,
    pub flat_since: Millis,
    pub flat_active: bool,
    /// `neighbour_mismatch` of this point and its upwind (kept on the downwind point), and the
    /// point the active alert is about (the lower one).
    pub mismatch: Timed,
    pub mismatch_subject: Idx,
    /// `calibration_abuse`: since when in calibration (0: not), and the reasons last published.
    pub cal_since: Millis,
    pub cal_active: bool,
    pub cal_reasons: u8,
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
    pub distress: bool,
    pub ts: Millis,
    /// Alerts raised on this tag.
    pub restricted: bool,
    pub restricted_area: Option<Idx>,
    pub overtime: bool,
    pub distress_active: bool,
}

/// Rule state of one area.
#[derive(Debug, Clone, Copy, Default)]
pub struct AreaState {
    /// Severity of the active `area_over_quota`.
    pub quota: Option<Severity>,
    pub novideo: Timed,
    pub concealed: Timed,
    /// Last explosives issue to this area (0: none).
    pub explosives_at: Millis,
    pub explosives_alert: bool,
}

/// An area the registry does not define, seen in personnel or explosives data.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtraArea {
    pub people: u32,
    pub explosives_at: Millis,
    pub explosives_alert: bool,
    pub concealed: Timed,
}

/// Rule state of one camera.
#[derive(Debug, Clone, Default)]
pub struct CamState {
    pub state: Option<CameraState>,
    pub events: Vec<Box<str>>,
    pub ts: Millis,
    pub fault: Timed,
    pub tamper: bool,
    /// `ai_event`: when a label was last reported, the labels of the active alert.
    pub ai_last: Millis,
    pub ai_labels: Vec<Box<str>>,
    pub ai_active: bool,
}

/// Rule state of one meter.
#[derive(Debug, Clone, Default)]
pub struct MeterState {
    pub kw: f64,
    pub ts: Millis,
    /// `power_in_sealed_area`.
    pub sealed: Timed,
    /// Above idle for `production_for` (a production sign while suspended).
    pub busy: Timed,
    /// `power_anomaly`.
    pub anomaly: Timed,
    pub baseline: Option<Box<power_anomaly::Baseline>>,
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
    /// Effective status: the regulator's order if there is one, else the registry file's.
    pub status: MineStatus,
    /// A regulator's stored order, which outranks the registry file.
    pub status_order: Option<MineStatus>,
    /// The mine's clock: the latest `ts` seen from it.
    pub clock: Option<Millis>,
    /// The mine clock when this definition began to be watched: silence of points that never
    /// reported is measured from here.
    pub epoch: Option<Millis>,
    pub points: Vec<PointState>,
    /// Calibration starts per point (only points that calibrate), for `calibration_abuse`.
    pub cal_starts: HashMap<Idx, Vec<Millis>>,
    /// Earliest pending deadline on the mine clock; a sweep runs when the clock reaches it.
    pub next_due: Millis,
    pub tags: HashMap<Box<str>, TagState>,
    pub people: Vec<u32>,
    pub underground: u32,
    pub leaders_underground: u32,
    pub area_state: Vec<AreaState>,
    pub extra_areas: HashMap<Box<str>, ExtraArea>,
    pub cams: Vec<CamState>,
    pub meter_state: Vec<MeterState>,
    /// Cameras and meters of each area (by area index).
    pub area_cameras: Vec<Vec<Idx>>,
    pub area_meters: Vec<Vec<Idx>>,
    pub capacity_active: bool,
    pub no_leader: Timed,
    pub production: Timed,
    /// Last explosives issue anywhere in the mine (0: none).
    pub explosives_at: Millis,
    pub unregistered: HashMap<Box<str>, Unregistered>,
    /// Unregistered devices seen beyond [`MAX_UNREGISTERED`].
    pub unregistered_overflow: u64,
    pub systems: SystemsState,
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
            cal_starts: HashMap::new(),
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
            capacity_active: false,
            no_leader: Timed::default(),
            production: Timed::default(),
            explosives_at: 0,
            unregistered: HashMap::new(),
            unregistered_overflow: 0,
            systems: SystemsState::default(),
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
        let area = &self.def.areas[point.area as usize];
        Subject {
            kind,
            subject: point.id.clone(),
            area: Some(area.id.clone()),
            area_name: Some(&area.name),
        }
    }

    /// The subject description of area `a`.
    pub fn area_subject(&self, kind: Kind, a: Idx) -> Subject<'_> {
        let area = &self.def.areas[a as usize];
        Subject {
            kind,
            subject: area.id.clone(),
            area: Some(area.id.clone()),
            area_name: Some(&area.name),
        }
    }

    /// The subject description of camera `c`.
    pub fn camera_subject(&self, kind: Kind, c: Idx) -> Subject<'_> {
        let cam = &self.def.cameras[c as usize];
        let area = &self.def.areas[cam.area as usize];
        Subject {
            kind,
            subject: cam.id.clone(),
            area: Some(area.id.clone()),
            area_name: Some(&area.name),
        }
    }

    /// The subject description of meter `i`.
    pub fn meter_subject(&self, kind: Kind, i: Idx) -> Subject<'_> {
        let meter = &self.def.meters[i as usize];
        let area = &self.def.areas[meter.area as usize];
        Subject {
            kind,
            subject: meter.id.clone(),
            area: Some(area.id.clone()),
            area_name: Some(&area.name),
        }
    }

    /// The subject description of the mine itself.
    pub fn mine_subject(&self, kind: Kind) -> Subject<'_> {
        Subject {
            kind,
            subject: self.def.id.clone(),
            area: None,
            area_name: None,
        }
    }

    /// The subject description of tag `tag` in area `area`.
    pub fn tag_subject(&self, kind: Kind, tag: &str, area: Option<Idx>) -> Subject<'_> {
        let area = area.map(|a| &self.def.areas[a as usize]);
        Subject {
            kind,
            subject: Arc::from(tag),
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
                    match self.def.point(&r.point) {
                        Some(i) => self.on_reading(p, i, r.value, r.status, r.ts, out),
                        None => unregistered_device::seen(
                            self,
                            p,
                            &r.point,
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
                    self.on_tag(p, t, out);
                }
                self.recount_people();
                let at = self.clock.unwrap_or(batch.ts);
                for t in tags {
                    restricted_entry::evaluate(self, &t.tag, t.ts, out);
                    distress::evaluate(self, &t.tag, t.ts, out);
                    overtime::evaluate(self, p, &t.tag, t.ts, out);
                }
                area_over_quota::evaluate(self, at, out);
                mine_over_capacity::evaluate(self, at, out);
                no_leader::evaluate(self, p, at, out);
                self.cross_system(p, at, out);
            }
            Items::Video(cams) => {
                for c in cams {
                    self.advance_clock(c.ts);
                    match self.def.camera(&c.camera) {
                        Some(i) => {
                            let cam = &mut self.cams[i as usize];
                            if c.ts < cam.ts {
                                continue;
                            }
                            cam.state = Some(c.state);
                            cam.events = c.events.iter().map(|e| Box::from(&**e)).collect();
                            cam.ts = c.ts;
                            camera_fault::evaluate(self, p, i, c.ts, out);
                            camera_tamper::evaluate(self, i, c.ts, out);
                            ai_event::on_report(self, p, i, &c.events, c.ts, out);
                        }
                        None => {
                            unregistered_device::seen(self, p, &c.camera, "camera", c.ts, None, out)
                        }
                    }
                }
                let at = self.clock.unwrap_or(batch.ts);
                no_video_work::evaluate(self, p, at, out);
            }
            Items::Power(meters) => {
                for mt in meters {
                    self.advance_clock(mt.ts);
                    match self.def.meter(&mt.meter) {
                        Some(i) => {
                            let st = &mut self.meter_state[i as usize];
                            if mt.ts < st.ts {
                                continue;
                            }
                            st.kw = mt.kw;
                            st.ts = mt.ts;
                            self.meter_busy(p, i, mt.ts);
                            power_in_sealed_area::evaluate(self, p, i, mt.ts, out);
                            power_anomaly::on_reading(self, p, i, mt.ts, out);
                        }
                        None => unregistered_device::seen(
                            self,
                            p,
                            &mt.meter,
                            "meter",
                            mt.ts,
                            Some(mt.kw),
                            out,
                        ),
                    }
                }
                let at = self.clock.unwrap_or(batch.ts);
                self.cross_system(p, at, out);
            }
            Items::Explosives(issues) => {
                for i in issues {
                    self.advance_clock(i.ts);
                    self.explosives_at = self.explosives_at.max(i.ts);
                    match self.def.area(&i.area) {
                        Some(a) => {
                            let st = &mut self.area_state[a as usize];
                            st.explosives_at = st.explosives_at.max(i.ts);
                        }
                        None => {
                            unregistered_device::seen(
                                self,
                                p,
                                &i.area,
                                "area",
                                i.ts,
                                Some(i.kg),
                                out,
                            );
                            let x = self.extra_area(&i.area);
                            x.explosives_at = x.explosives_at.max(i.ts);
                        }
                    }
                    explosives_undeclared::on_issue(self, &i.area, i.kg, i.detonators, i.ts, out);
                }
                let at = self.clock.unwrap_or(batch.ts);
                self.cross_system(p, at, out);
            }
        }
        self.sweep_if_due(p, out);
    }

    /// The rules that judge several systems of the mine together.
    fn cross_system(&mut self, p: &Params, at: Millis, out: &mut Vec<Change>) {
        no_video_work::evaluate(self, p, at, out);
        concealed_work::evaluate(self, p, at, out);
        production_while_suspended::evaluate(self, p, at, out);
    }

    /// Whether meter `i` has been above idle for `production_for`.
    fn meter_busy(&mut self, p: &Params, i: Idx, at: Millis) {
        let idle = self.def.meters[i as usize].idle_kw;
        let st = &mut self.meter_state[i as usize];
        let holds = st.ts != 0 && st.kw > idle;
        st.busy.step(holds, at, p.production_for, 0);
        if let Some(d) = st.busy.deadline(p.production_for, 0) {
            self.due(d);
        }
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
        let was_over = st.over.is_some();
        if st.silent_active {
            point_silent::resolve(self, i, ts, out);
        }
        sensor_fault::on_reading(self, p, i, ts, out);
        calibration_abuse::on_reading(self, p, i, ts, out);
        over_limit::on_reading(self, i, ts, out);
        flatline::on_reading(self, p, i, ts, out);
        let def = self.def.clone();
        let point = &def.points[i as usize];
        if !point.feeds.is_empty() {
            power_off_failure::evaluate(self, p, i, ts, out);
        }
        for &d in &def.feed_dependents[i as usize] {
            power_off_failure::evaluate(self, p, d, ts, out);
        }
        if point.upwind.is_some() {
            neighbour_mismatch::evaluate(self, p, i, ts, out);
        }
        for &d in &def.downwind[i as usize] {
            neighbour_mismatch::evaluate(self, p, d, ts, out);
        }
        // A neighbour reaching (or leaving) alarm changes the judgement of a calibrating point.
        if was_over != self.points[i as usize].over.is_some() {
            for n in point
                .upwind
                .into_iter()
                .chain(def.downwind[i as usize].iter().copied())
            {
                if self.points[n as usize].cal_since != 0 || self.points[n as usize].cal_active {
                    calibration_abuse::evaluate(self, p, n, ts, out);
                }
            }
        }
    }

    fn on_tag(&mut self, p: &Params, t: &TagObs<'_>, out: &mut Vec<Change>) {
        let (area, extra) = match t.area.as_deref() {
            Some(a) => match self.def.area(a) {
                Some(i) => (Some(i), None),
                None => {
                    unregistered_device::seen(self, p, a, "area", t.ts, None, out);
                    (None, Some(Box::from(a)))
                }
            },
            None => (None, None),
        };
        let st = self.tags.entry(Box::from(&*t.tag)).or_default();
        if t.ts < st.ts {
            return;
        }
        st.person = t.person.as_deref().map(Box::from);
        st.leader = t.leader;
        st.area = area;
        st.area_extra = extra;
        st.underground = t.underground;
        st.down_at = t.down_at;
        st.distress = t.distress;
        st.ts = t.ts;
    }

    fn recount_people(&mut self) {
        self.people.iter_mut().for_each(|n| *n = 0);
        self.extra_areas.values_mut().for_each(|x| x.people = 0);
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
            } else if let Some(x) = &t.area_extra {
                if let Some(e) = self.extra_areas.get_mut(x) {
                    e.people += 1;
                } else {
                    self.extra_areas.insert(
                        x.clone(),
                        ExtraArea {
                            people: 1,
                            ..ExtraArea::default()
                        },
                    );
                }
            }
        }
    }

    /// Runs the sweep when the clock has reached the earliest deadline: every timed condition is
    /// judged on the mine clock, even for things that sent nothing more.
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
            let st = self.points[i as usize];
            if st.cal_since != 0 || st.cal_active {
                calibration_abuse::evaluate(self, p, i, clock, out);
            }
            if self.def.points[i as usize].upwind.is_some()
                && (st.mismatch.since != 0 || st.mismatch.active)
            {
                neighbour_mismatch::evaluate(self, p, i, clock, out);
            }
        }
        let tags: Vec<Box<str>> = self
            .tags
            .iter()
            .filter(|(_, t)| t.underground || t.overtime)
            .map(|(k, _)| k.clone())
            .collect();
        for t in tags {
            overtime::evaluate(self, p, &t, clock, out);
        }
        no_leader::evaluate(self, p, clock, out);
        for c in 0..self.cams.len() as Idx {
            camera_fault::evaluate(self, p, c, clock, out);
            ai_event::sweep(self, p, c, clock, out);
        }
        for i in 0..self.meter_state.len() as Idx {
            if self.meter_state[i as usize].ts != 0 {
                self.meter_busy(p, i, clock);
                power_in_sealed_area::evaluate(self, p, i, clock, out);
            }
        }
        self.cross_system(p, clock, out);
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
        if alert.state == minewatch_core::AlertState::Active {
            match alert.kind {
                Kind::UnregisteredDevice => unregistered_device::acked(self, alert, at, out),
                Kind::ExplosivesUndeclared => explosives_undeclared::acked(self, alert, at, out),
                _ => {}
            }
        }
    }

    /// Restores what the store says is active, so a restart neither raises twice nor forgets.
    /// Alerts whose subject no longer exists are resolved.
    pub fn restore(&mut self, alerts: &[Alert], out: &mut Vec<Change>) {
        for a in alerts {
            let started = a.started_at.timestamp_millis();
            let at = a.updated_at.timestamp_millis();
            let subject = a.subject.as_str();
            let (point, area, camera, meter) = (
                self.def.point(subject),
                self.def.area(subject),
                self.def.camera(subject),
                self.def.meter(subject),
            );
            let found = match a.kind {
                Kind::OverLimit => point.map(|i| {
                    let st = &mut self.points[i as usize];
                    st.over = Some(a.severity);
                    st.over_low = a.evidence.get("side").and_then(Value::as_str) == Some("low");
                    st.over_published = a.value.unwrap_or(f64::NAN);
                    st.at_power_off = a.severity == Severity::Critical;
                }),
                Kind::PowerOffFailure => point.map(|i| {
                    let st = &mut self.points[i as usize];
                    st.pof_active = true;
                    st.at_power_off = true;
                }),
                Kind::SensorFault => point.map(|i| {
                    let st = &mut self.points[i as usize];
                    st.fault_active = true;
                    st.fault_since = started;
                }),
                Kind::PointSilent => point.map(|i| self.points[i as usize].silent_active = true),
                Kind::Flatline => point.map(|i| self.points[i as usize].flat_active = true),
                Kind::CalibrationAbuse => point.map(|i| {
                    let st = &mut self.points[i as usize];
                    st.cal_active = true;
                    st.cal_reasons = 1;
                }),
                Kind::NeighbourMismatch => point.and_then(|s| {
                    let other = a
                        .evidence
                        .get("neighbour")
                        .and_then(Value::as_str)
                        .and_then(|n| self.def.point(n))?;
                    let d = if self.def.points[s as usize].upwind == Some(other) {
                        s
                    } else {
                        other
                    };
                    let st = &mut self.points[d as usize];
                    st.mismatch.restore(started);
                    st.mismatch_subject = s;
                    Some(())
                }),
                Kind::SystemSilent => {
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
                    Some(())
                }
                Kind::UnregisteredDevice => {
                    let device = a
                        .evidence
                        .get("device")
                        .and_then(Value::as_str)
                        .unwrap_or("point");
                    let device = unregistered_device::device_name(device);
                    self.unregistered.insert(
                        Box::from(subject),
                        Unregistered {
                            device,
                            first_seen: started,
                            last_seen: at,
                            active: true,
                        },
                    );
                    Some(())
                }
                Kind::AreaOverQuota => {
                    area.map(|i| self.area_state[i as usize].quota = Some(a.severity))
                }
                Kind::NoVideoWork => {
                    area.map(|i| self.area_state[i as usize].novideo.restore(started))
                }
                Kind::ConcealedWork => {
                    match area {
                        Some(i) => self.area_state[i as usize].concealed.restore(started),
                        None => self.extra_area(subject).concealed.restore(started),
                    }
                    Some(())
                }
                Kind::ExplosivesUndeclared => {
                    match area {
                        Some(i) => self.area_state[i as usize].explosives_alert = true,
                        None => self.extra_area(subject).explosives_alert = true,
                    }
                    Some(())
                }
                Kind::MineOverCapacity => {
                    let _: () = self.capacity_active = true;
                    Some(())
                }
                Kind::NoLeader => {
                    self.no_leader.restore(started);
                    Some(())
                }
                Kind::ProductionWhileSuspended => {
                    self.production.restore(started);
                    Some(())
                }
                Kind::RestrictedEntry | Kind::Overtime | Kind::Distress => {
                    // The tag's own state comes with its next observation; until then it holds the
                    // alert (and does not count as underground).
                    let area = a.area.as_deref().and_then(|x| self.def.area(x));
                    let t = self.tags.entry(Box::from(subject)).or_default();
                    match a.kind {
                        Kind::RestrictedEntry => {
                            t.restricted = true;
                            t.restricted_area = area;
                        }
                        Kind::Overtime => t.overtime = true,
                        _ => {
                            t.distress_active = true;
                            t.distress = true;
                        }
                    }
                    Some(())
                }
                Kind::CameraFault => camera.map(|c| self.cams[c as usize].fault.restore(started)),
                Kind::CameraTamper => camera.map(|c| self.cams[c as usize].tamper = true),
                Kind::AiEvent => camera.map(|c| {
                    let cam = &mut self.cams[c as usize];
                    cam.ai_active = true;
                    cam.ai_last = at;
                    cam.ai_labels = a
                        .evidence
                        .get("events")
                        .and_then(Value::as_array)
                        .map(|v| v.iter().filter_map(Value::as_str).map(Box::from).collect())
                        .unwrap_or_default();
                }),
                Kind::PowerInSealedArea => {
                    meter.map(|i| self.meter_state[i as usize].sealed.restore(started))
                }
                Kind::PowerAnomaly => {
                    meter.map(|i| self.meter_state[i as usize].anomaly.restore(started))
                }
            };
            if found.is_none() {
                let s = Subject {
                    kind: a.kind,
                    subject: Arc::from(subject),
                    area: a.area.as_deref().map(Arc::from),
                    area_name: None,
                };
                let msg = format!(
                    "{} at {} resolved: {} is no longer in the registry",
                    a.kind, subject, subject
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
        }
    }

    /// Replaces the definition (registry reload), keeping the state of what remains (matched by
    /// id) and resolving alerts of what was removed.
    pub fn rebind(&mut self, def: Arc<MineDef>, out: &mut Vec<Change>) {
        let old = std::mem::replace(self, MineState::new(def));
        let at = old.clock.unwrap_or(0);
        self.clock = old.clock;
        self.epoch = old.clock;
        self.status_order = old.status_order;
        self.status = old.status_order.unwrap_or(self.def.status);
        self.systems = old.systems;
        self.unregistered_overflow = old.unregistered_overflow;
        self.extra_areas = old.extra_areas;
        self.capacity_active = old.capacity_active;
        self.no_leader = old.no_leader;
        self.production = old.production;
        self.explosives_at = old.explosives_at;
        let mut gone: Vec<(Kind, Arc<str>)> = Vec::new();
        let mut point_map = HashMap::new();
        for (oi, ost) in old.points.iter().enumerate() {
            let id = &old.def.points[oi].id;
            match self.def.point(id) {
                Some(ni) => {
                    self.points[ni as usize] = *ost;
                    point_map.insert(oi as Idx, ni);
                }
                None => {
                    for (active, kind) in [
                        (ost.over.is_some(), Kind::OverLimit),
                        (ost.pof_active, Kind::PowerOffFailure),
                        (ost.fault_active, Kind::SensorFault),
                        (ost.silent_active, Kind::PointSilent),
                        (ost.flat_active, Kind::Flatline),
                        (ost.cal_active, Kind::CalibrationAbuse),
                    ] {
                        if active {
                            gone.push((kind, id.clone()));
                        }
                    }
                    if ost.mismatch.active {
                        let s = old.def.points[ost.mismatch_subject as usize].id.clone();
                        gone.push((Kind::NeighbourMismatch, s));
                    }
                }
            }
        }
        for (oi, starts) in old.cal_starts {
            if let Some(&ni) = point_map.get(&oi) {
                self.cal_starts.insert(ni, starts);
            }
        }
        // A pair whose points moved keeps its state only if the lower point still exists.
        for st in self.points.iter_mut() {
            if st.mismatch.active || st.mismatch.since != 0 {
                match point_map.get(&st.mismatch_subject) {
                    Some(&n) => st.mismatch_subject = n,
                    None => st.mismatch = Timed::default(),
                }
            }
        }
        for (oi, ost) in old.area_state.iter().enumerate() {
            let id = &old.def.areas[oi].id;
            match self.def.area(id) {
                Some(ni) => self.area_state[ni as usize] = *ost,
                None => {
                    for (active, kind) in [
                        (ost.quota.is_some(), Kind::AreaOverQuota),
                        (ost.novideo.active, Kind::NoVideoWork),
                        (ost.concealed.active, Kind::ConcealedWork),
                        (ost.explosives_alert, Kind::ExplosivesUndeclared),
                    ] {
                        if active {
                            gone.push((kind, id.clone()));
                        }
                    }
                }
            }
        }
        for (oi, ost) in old.cams.into_iter().enumerate() {
            let id = &old.def.cameras[oi].id;
            match self.def.camera(id) {
                Some(ni) => self.cams[ni as usize] = ost,
                None => {
                    for (active, kind) in [
                        (ost.fault.active, Kind::CameraFault),
                        (ost.tamper, Kind::CameraTamper),
                        (ost.ai_active, Kind::AiEvent),
                    ] {
                        if active {
                            gone.push((kind, id.clone()));
                        }
                    }
                }
            }
        }
        for (oi, ost) in old.meter_state.into_iter().enumerate() {
            let id = &old.def.meters[oi].id;
            match self.def.meter(id) {
                Some(ni) => self.meter_state[ni as usize] = ost,
                None => {
                    for (active, kind) in [
                        (ost.sealed.active, Kind::PowerInSealedArea),
                        (ost.anomaly.active, Kind::PowerAnomaly),
                    ] {
                        if active {
                            gone.push((kind, id.clone()));
                        }
                    }
                }
            }
        }
        for (kind, id) in gone {
            let s = Subject {
                kind,
                subject: id.clone(),
                area: None,
                area_name: None,
            };
            let msg = format!("{kind} at {id} resolved: {id} was removed from the registry");
            out.push(self.change(
                ChangeOp::Resolve,
                s,
                Severity::Warning,
                msg,
                None,
                None,
                at,
                Value::Null,
            ));
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
        let mut tags = old.tags;
        for t in tags.values_mut() {
            let id = t
                .area
                .and_then(|a| old.def.areas.get(a as usize))
                .map(|a| a.id.clone());
            t.area = id.as_deref().and_then(|id| self.def.area(id));
            t.restricted_area = t
                .restricted_area
                .and_then(|a| old.def.areas.get(a as usize))
                .and_then(|a| self.def.area(&a.id));
        }
        self.tags = tags;
        self.recount_people();
        self.next_due = self.clock.unwrap_or(NEVER);
    }

    /// What is worth keeping across a restart that no alert carries: the meters' learned hourly
    /// baselines (days of learning) and recent calibration starts. Not the clock: after a restart,
    /// silence is measured from the first data again, not from before the outage.
    pub fn snapshot(&self) -> Value {
        let meters: serde_json::Map<String, Value> = self
            .meter_state
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let b = m.baseline.as_ref()?;
                let hours: Vec<Value> = b
                    .hours
                    .iter()
                    .map(|h| serde_json::json!([h.n, h.mean, h.m2]))
                    .collect();
                Some((
                    self.def.meters[i].id.to_string(),
                    serde_json::json!({"first": b.first, "hours": hours}),
                ))
            })
            .collect();
        let cal: serde_json::Map<String, Value> = self
            .cal_starts
            .iter()
            .map(|(&i, starts)| {
                (
                    self.def.points[i as usize].id.to_string(),
                    serde_json::json!(starts),
                )
            })
            .collect();
        serde_json::json!({"version": 1, "meters": meters, "calibrations": cal})
    }

    /// Takes back what [`MineState::snapshot`] kept (its JSON text); entries for ids no longer
    /// defined are dropped, as is an entry of the wrong shape. Read straight into typed values:
    /// a national restart reads tens of megabytes of these.
    pub fn restore_snapshot(&mut self, json: &str) -> Result<(), serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Snapshot<'a> {
            version: u32,
            #[serde(borrow, default)]
            meters: HashMap<String, &'a serde_json::value::RawValue>,
            #[serde(borrow, default)]
            calibrations: HashMap<String, &'a serde_json::value::RawValue>,
        }
        // Each entry is read on its own, so one of the wrong shape costs only itself.
        #[derive(serde::Deserialize)]
        struct MeterSnap {
            first: Millis,
            hours: Vec<(u32, f64, f64)>,
        }
        let full: Snapshot<'_> = serde_json::from_str(json)?;
        if full.version != 1 {
            return Ok(());
        }
        for (id, raw) in full.meters {
            let Some(i) = self.def.meter(&id) else {
                continue;
            };
            let Ok(m) = serde_json::from_str::<MeterSnap>(raw.get()) else {
                continue;
            };
            let Ok(hours) = <[(u32, f64, f64); 24]>::try_from(m.hours) else {
                continue;
            };
            let b = power_anomaly::Baseline {
                first: m.first,
                hours: hours.map(|(n, mean, m2)| power_anomaly::Bucket { n, mean, m2 }),
            };
            self.meter_state[i as usize].baseline = Some(Box::new(b));
        }
        for (id, raw) in full.calibrations {
            let Some(i) = self.def.point(&id) else {
                continue;
            };
            let Ok(starts) = serde_json::from_str::<Vec<Millis>>(raw.get()) else {
                continue;
            };
            if !starts.is_empty() {
                self.cal_starts.insert(i, starts);
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
        live.systems_seen = self.systems.last_arrival;
        self.export_system(system, live);
        if live.unregistered.len() != self.unregistered.len() {
            live.unregistered = self
                .unregistered
                .iter()
                .map(|(k, u)| (k.to_string(), u.device))
                .collect();
        }
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
                            .map(kinds::camera_state_name)
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

    /// A regulator's status order for `mine` (`None`: back to the registry file's status); the
    /// cross-system rules re-judge at once.
    pub fn set_status(&mut self, mine: &str, order: Option<MineStatus>, out: &mut Vec<Change>) {
        let params = self.params;
        let m = self.mine(mine);
        m.status_order = order;
        m.status = order.unwrap_or(m.def.status);
        if let Some(at) = m.clock {
            production_while_suspended::evaluate(m, &params, at, out);
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
