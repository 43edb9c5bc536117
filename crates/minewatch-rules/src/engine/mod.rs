//! [`Engine`]: the mines of one shard, and how one mine's state ([`MineState`], defined with the
//! kinds in [`crate::kinds::state`]) takes its inputs.
//!
//! A batch of any system first updates what it reports (points, tags, cameras, meters, issues),
//! then calls the kinds' hooks ([`crate::kinds::hooks`]) in list order; the cross-system kinds
//! read the state of several systems of the same mine, all inside this shard. No I/O, no clock
//! reads: callers pass event time in the batches and wall time in [`Engine::tick`]. No locks per
//! reading: the one lock is the [`FeedIndex`] the shards share, taken once per mine per window.
//!
//! Every change the kinds emit passes [`MineState::track`], which keeps the mine's set of active
//! alerts: what a registry reload judges, whatever the kind.
//!
//! - `rebind`: a registry reload, keeping the state of what remains and resolving, for every
//!   kind through one mechanism, the active alerts whose subject left or changed type.
//! - `restore`: active alerts back from the store after a restart.
//! - `snapshot`: what no alert carries, kept across restarts; the live picture.

mod rebind;
mod restore;
mod snapshot;

use crate::RulesConfig;
use crate::kinds::feed_index::FeedIndex;
use crate::kinds::{
    ExtraArea, MineState, NEVER, STATUS_CALIBRATION, STATUS_FAULT, Unapplied, hooks,
};
use minewatch_core::alert::{Alert, AlertState, Change, ChangeOp};
use minewatch_core::payload::{self, Batch, Items, Reason, Salvaged, System, TagObs};
use minewatch_core::registry::{Idx, MineDef, MineStatus};
use minewatch_core::time::Millis;
use std::collections::HashMap;
use std::sync::Arc;

/// The rule parameters as the engine uses them: the `[rules]` section.
pub type Params = RulesConfig;

impl MineState {
    /// Keeps the set of active alerts in step with `changes` (just emitted by this mine).
    pub fn track(&mut self, changes: &[Change]) {
        for c in changes {
            match c.op {
                ChangeOp::Raise | ChangeOp::Update => {
                    self.active.insert((c.kind, c.subject.clone()));
                }
                ChangeOp::Resolve => {
                    self.active.remove(&(c.kind, c.subject.clone()));
                }
                ChangeOp::Ack { .. } | ChangeOp::Shelve { .. } | ChangeOp::Unshelve { .. } => {}
            }
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
        let start = out.len();
        hooks::on_arrival(self, p, system, batch, wall, out);
        // A clock that jumped is followed, not obeyed: its times are moved back in line.
        match self.time_shift[system.index()] {
            0 => self.apply_batch(p, system, batch, wall, out),
            by => self.apply_batch(p, system, &batch.shifted(by), wall, out),
        }
        self.track(&out[start..]);
    }

    /// A message of `system` from this mine was rejected whole (`reason`) at wall time `wall`:
    /// the kinds count it, and a safety message's readings that can still be read from `payload`
    /// are judged against their limits at the mine's time.
    pub fn on_rejected(
        &mut self,
        p: &Params,
        system: System,
        reason: Reason,
        payload: &[u8],
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        let start = out.len();
        hooks::on_rejected(self, p, system, reason, wall, out);
        if system == System::Safety {
            let at = self.clock.unwrap_or(wall);
            let salvaged = payload::salvage(payload, payload::DEFAULT_MAX_ELEMENTS);
            self.judge_salvaged(p, &salvaged, at, out);
        }
        self.track(&out[start..]);
    }

    fn apply_batch(
        &mut self,
        p: &Params,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        self.last_arrival[system.index()] = Some(wall);
        hooks::on_message(self, p, system, batch.ts, wall, out);
        // The batch's own time moves the clock first, so elements judged against it see it.
        self.advance_clock(batch.ts);
        match &batch.items {
            Items::Safety(readings) => {
                for r in readings {
                    self.advance_clock(r.ts);
                    match self.def.point(&r.point) {
                        Some(i) => self.on_reading(p, i, r.value, r.status, r.ts, out),
                        None => {
                            hooks::on_unknown(self, p, "point", &r.point, r.ts, Some(r.value), out)
                        }
                    }
                }
                self.judge_salvaged(p, &batch.salvaged, batch.ts, out);
            }
            Items::Personnel(tags) => {
                for t in tags {
                    self.advance_clock(t.ts);
                    self.on_tag(p, t, out);
                }
                self.recount_people();
                let at = self.clock.unwrap_or(batch.ts);
                for t in tags {
                    hooks::on_tag(self, p, t, out);
                }
                hooks::after_personnel(self, p, at, out);
                hooks::cross_system(self, p, at, out);
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
                            hooks::on_camera(self, p, i, &c.events, c.ts, out);
                        }
                        None => hooks::on_unknown(self, p, "camera", &c.camera, c.ts, None, out),
                    }
                }
                let at = self.clock.unwrap_or(batch.ts);
                hooks::after_video(self, p, at, out);
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
                            hooks::on_meter(self, p, i, mt.ts, out);
                        }
                        None => {
                            hooks::on_unknown(self, p, "meter", &mt.meter, mt.ts, Some(mt.kw), out)
                        }
                    }
                }
                let at = self.clock.unwrap_or(batch.ts);
                hooks::cross_system(self, p, at, out);
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
                            hooks::on_unknown(self, p, "area", &i.area, i.ts, Some(i.kg), out);
                            let x = self.extra_area(&i.area);
                            x.explosives_at = x.explosives_at.max(i.ts);
                        }
                    }
                    hooks::on_issue(self, p, i, out);
                }
                let at = self.clock.unwrap_or(batch.ts);
                hooks::cross_system(self, p, at, out);
            }
        }
        self.sweep_if_due(p, out);
    }

    /// Readings salvaged from what could not be decoded whole: judged against the limits of
    /// their points, at `at`.
    fn judge_salvaged(
        &mut self,
        p: &Params,
        salvaged: &[Salvaged<'_>],
        at: Millis,
        out: &mut Vec<Change>,
    ) {
        for s in salvaged {
            if let Some(i) = self.def.point(&s.point) {
                hooks::on_unapplied(self, p, i, s.value, 0, at, Unapplied::Salvaged, out);
            }
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
        let def = &self.def;
        let point = &def.points[i as usize];
        let st = &mut self.points[i as usize];
        if ts <= st.last_seen {
            // A redelivery changes nothing. A late reading (older than what we have, not applied
            // before) leaves the newer state as it is, but is still judged at its own time.
            if !st.applied(ts) {
                st.remember_late(ts);
                hooks::on_unapplied(self, p, i, value, status, ts, Unapplied::Late, out);
            }
            return;
        }
        // A new reading extends the point's fingerprinted chunk; what is not a reading of the
        // air starts a new chunk.
        self.chunk_ended = if status & (STATUS_CALIBRATION | STATUS_FAULT) != 0 {
            st.chunks.reset();
            None
        } else {
            st.chunks.push(value)
        };
        st.value = value;
        st.status = status;
        st.advance(ts);
        if !point.kind.is_switch()
            && status & STATUS_CALIBRATION == 0
            && let Some(po) = point.limits.power_off
        {
            if value >= po {
                st.at_power_off = true;
            } else if value < point.limits.restore.unwrap_or(po) {
                st.at_power_off = false;
            }
        }
        let was_alarm = st.alarm_high;
        hooks::on_reading(self, p, i, ts, out);
        // A point reaching (or leaving) alarm changes the judgement of its neighbours.
        if was_alarm != self.points[i as usize].alarm_high {
            let def = self.def.clone();
            let point = &def.points[i as usize];
            for n in point
                .upwind
                .into_iter()
                .chain(def.downwind[i as usize].iter().copied())
            {
                hooks::on_neighbour_alarm(self, p, n, ts, out);
            }
        }
    }

    /// Applies a tag observation unless it is older than what the tag holds.
    fn on_tag(&mut self, p: &Params, t: &TagObs<'_>, out: &mut Vec<Change>) {
        let (area, extra) = match t.area.as_deref() {
            Some(a) => match self.def.area(a) {
                Some(i) => (Some(i), None),
                None => {
                    hooks::on_unknown(self, p, "area", a, t.ts, None, out);
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
        st.ts = t.ts;
    }

    /// Counts the people underground, per area and in all.
    pub(crate) fn recount_people(&mut self) {
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
        hooks::sweep(self, p, clock, epoch, out);
        hooks::cross_system(self, p, clock, out);
    }

    /// A wall-clock tick: for the rules that must judge by wall time (a silent system sends no
    /// event time to measure by).
    pub fn on_tick(&mut self, p: &Params, wall: Millis, out: &mut Vec<Change>) {
        let start = out.len();
        hooks::on_tick(self, p, wall, out);
        self.track(&out[start..]);
    }

    /// An operator acknowledged an alert of this mine: the ack, then what its kind does on ack
    /// (kinds that stay until acknowledged resolve).
    pub fn on_ack(
        &mut self,
        alert: &Alert,
        by: &str,
        note: &str,
        at: Millis,
        out: &mut Vec<Change>,
    ) {
        let start = out.len();
        out.push(Change {
            op: ChangeOp::Ack {
                id: alert.id.clone(),
                by: by.to_string(),
                note: note.to_string(),
            },
            mine: self.def.id.clone(),
            kind: alert.kind,
            subject: Arc::from(alert.subject.as_str()),
            area: alert.area.as_deref().map(Arc::from),
            severity: alert.severity,
            message: alert.message.clone(),
            value: alert.value,
            limit: alert.limit,
            at,
            evidence: alert.evidence.clone(),
        });
        if alert.state == AlertState::Active {
            hooks::on_ack(self, alert, at, out);
        }
        self.track(&out[start..]);
    }

    /// A regulator's status order (`None`: back to the registry file's status); the kinds that
    /// depend on the status re-judge at once.
    pub fn set_status(&mut self, p: &Params, order: Option<MineStatus>, out: &mut Vec<Change>) {
        self.status_order = order;
        self.status = order.unwrap_or(self.def.status);
        if let Some(at) = self.clock {
            let start = out.len();
            hooks::on_status(self, p, at, out);
            self.track(&out[start..]);
        }
    }
}

/// The state of `mine` in `mines`, created as unregistered (handing its windows to `index`) if
/// the registry does not define it.
fn mine_in<'a>(
    mines: &'a mut HashMap<Arc<str>, MineState>,
    index: &Arc<FeedIndex>,
    mine: &str,
) -> &'a mut MineState {
    if !mines.contains_key(mine) {
        let def = Arc::new(MineDef::unregistered(mine));
        mines.insert(def.id.clone(), MineState::with_index(def, index.clone()));
    }
    mines
        .get_mut(mine)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

/// The mines of one shard, and the rule parameters.
#[derive(Debug)]
pub struct Engine {
    pub params: Params,
    pub mines: HashMap<Arc<str>, MineState>,
    /// Where its mines hand in their windows' chunk fingerprints: shared with the other shards'
    /// engines when given ([`Engine::with_feed_index`]), so a feed copied across shards is seen.
    pub feed_index: Arc<FeedIndex>,
}

impl MineState {
    /// A fresh state for a mine definition that hands its windows to `index`.
    pub fn with_index(def: Arc<MineDef>, index: Arc<FeedIndex>) -> Self {
        let mut m = MineState::new(def);
        m.feed_index = index;
        m
    }
}

impl Engine {
    /// An engine for `mines` (the registry definitions this shard owns), whose mines share an
    /// index of their own.
    pub fn new(params: Params, mines: impl IntoIterator<Item = Arc<MineDef>>) -> Self {
        Engine::with_feed_index(params, mines, FeedIndex::shared())
    }

    /// An engine for `mines` that hands their windows to `index`, shared with other engines.
    pub fn with_feed_index(
        params: Params,
        mines: impl IntoIterator<Item = Arc<MineDef>>,
        index: Arc<FeedIndex>,
    ) -> Self {
        Engine {
            params,
            mines: mines
                .into_iter()
                .map(|d| (d.id.clone(), MineState::with_index(d, index.clone())))
                .collect(),
            feed_index: index,
        }
    }

    /// The state of `mine`, created as unregistered if the registry does not define it.
    pub fn mine(&mut self, mine: &str) -> &mut MineState {
        mine_in(&mut self.mines, &self.feed_index, mine)
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
        mine_in(&mut self.mines, &self.feed_index, mine).on_batch(
            &self.params,
            system,
            batch,
            wall,
            out,
        );
    }

    /// A message of `system` from `mine` was rejected whole (see [`MineState::on_rejected`]).
    pub fn on_rejected(
        &mut self,
        mine: &str,
        system: System,
        reason: Reason,
        payload: &[u8],
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
        mine_in(&mut self.mines, &self.feed_index, mine).on_rejected(
            &self.params,
            system,
            reason,
            payload,
            wall,
            out,
        );
    }

    /// A wall-clock tick for every mine.
    pub fn tick(&mut self, wall: Millis, out: &mut Vec<Change>) {
        for m in self.mines.values_mut() {
            m.on_tick(&self.params, wall, out);
        }
    }

    /// A regulator's status order for `mine` (`None`: back to the registry file's status); the
    /// cross-system rules re-judge at once.
    pub fn set_status(&mut self, mine: &str, order: Option<MineStatus>, out: &mut Vec<Change>) {
        mine_in(&mut self.mines, &self.feed_index, mine).set_status(&self.params, order, out);
    }

    /// A new or changed definition (`None` definition: the mine left the registry).
    pub fn set_definition(&mut self, id: &str, def: Option<Arc<MineDef>>, out: &mut Vec<Change>) {
        let def = def.unwrap_or_else(|| Arc::new(MineDef::unregistered(id)));
        match self.mines.get_mut(id) {
            Some(m) => m.rebind(def, out),
            None => {
                let m = MineState::with_index(def.clone(), self.feed_index.clone());
                self.mines.insert(def.id.clone(), m);
            }
        }
    }
}

#[cfg(test)]
mod tests;
