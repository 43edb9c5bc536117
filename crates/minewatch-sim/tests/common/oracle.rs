//! A small model of the rules of contract §3 with their default parameters, on event time, to check
//! that an injection raises its kind on its subject and nothing else. Not the engine: one mine,
//! judged once per tick after its batches, following the contract's table (and, for
//! `power_anomaly`, the engine's documented floor on the deviation: 5 % of the mean and 1 kW).
//! `system_silent` is judged on event time here (the engine uses wall clock; a replay in event
//! time at cadence is the same thing).

use minewatch_core::MineDef;
use minewatch_core::payload::{Batch, CameraState, Items, System};
use minewatch_core::registry::{AreaKind, Load, PointKind};
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// FNV-1a: the maps here are keyed by short ids, hashed every tick; SipHash is slow unoptimised.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xCBF2_9CE4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.0 = h;
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const FAULT_BITS: u32 = 8 | 16 | 32 | 128;
const CALIBRATION: u32 = 4;

/// A condition that must hold for a while before it raises, and be gone for a while to resolve.
#[derive(Debug, Default, Clone, Copy)]
struct Timed {
    since: Option<i64>,
    clear_since: Option<i64>,
    active: bool,
}

#[derive(Debug, PartialEq)]
enum Step {
    Hold,
    Raise,
    Resolve,
}

impl Timed {
    fn step(&mut self, holds: bool, t: i64, need: i64, clear: i64) -> Step {
        if holds {
            self.clear_since = None;
            let s = *self.since.get_or_insert(t);
            if !self.active && t - s >= need {
                self.active = true;
                return Step::Raise;
            }
        } else {
            self.since = None;
            if self.active {
                let c = *self.clear_since.get_or_insert(t);
                if t - c >= clear {
                    self.active = false;
                    self.clear_since = None;
                    return Step::Resolve;
                }
            }
        }
        Step::Hold
    }
}

#[derive(Debug, Clone)]
struct TagSt {
    underground: bool,
    area: Option<String>,
    leader: bool,
    down: Option<i64>,
    distress: bool,
}

/// A face methane point's window against its downwind neighbour (`sensor_unresponsive`): its
/// start, paired readings, sums and ranges of both, failing windows in a row, raised.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: Option<i64>,
    n: u32,
    sum: (f64, f64),
    own: (f64, f64),
    nb: (f64, f64),
    failing: u32,
    active: bool,
}

/// The downwind methane point a face methane point is judged against: its return first.
fn face_neighbour(def: &MineDef, i: usize) -> Option<usize> {
    use minewatch_core::registry::Location as L;
    let p = &def.points[i];
    let face = match p.location {
        Some(l) => matches!(l, L::CoalFace | L::UpperCorner | L::Heading | L::Shearer),
        None => matches!(
            def.areas[p.area as usize].kind,
            AreaKind::CoalFace | AreaKind::Heading
        ),
    };
    if p.kind != PointKind::Ch4 || !face {
        return None;
    }
    let down: Vec<usize> = def.downwind[i]
        .iter()
        .map(|&d| d as usize)
        .filter(|&d| def.points[d].kind == PointKind::Ch4)
        .collect();
    down.iter()
        .copied()
        .find(|&d| {
            matches!(
                def.points[d].location,
                Some(L::CoalFaceReturn | L::HeadingReturn)
            )
        })
        .or_else(|| down.first().copied())
}

/// Per hour of day (UTC): count, mean, M2.
type Baseline = [(u32, f64, f64); 24];

/// The rules' view of one mine.
pub struct Oracle {
    def: Arc<MineDef>,
    /// The mine's status as the rules see it (a regulator's order, set by the test).
    pub suspended: bool,
    epoch: Option<i64>,
    last: [Option<i64>; 5],
    value: Vec<f64>,
    status: Vec<u32>,
    seen: Vec<i64>,
    at_power_off: Vec<bool>,
    band: Vec<Option<(f64, f64, i64)>>,
    cal_since: Vec<Option<i64>>,
    cal_starts: Vec<Vec<i64>>,
    tags: BTreeMap<String, TagSt>,
    cams: Vec<Option<CameraState>>,
    event_at: Vec<Option<i64>>,
    kw: Vec<Option<f64>>,
    baseline: Vec<Baseline>,
    first_power: Option<i64>,
    power_out: Vec<Timed>,
    busy: Vec<Timed>,
    issued: HashMap<String, i64>,
    last_issue: Option<i64>,
    extra_areas: BTreeMap<String, ()>,
    /// The lower point of each neighbour pair when its mismatch was raised.
    pair_lower: HashMap<String, String>,
    /// Face methane points' windows against their downwind neighbour, by point.
    windows: Vec<Window>,
    /// Per kind (a short list, searched), per subject.
    timers: Vec<(&'static str, HashMap<String, Timed>)>,
    stays: HashMap<(&'static str, String), bool>,
    /// `replayed_data`, on whole 10-minute windows (the simulator replays recordings a whole
    /// number of windows later when injected on a window boundary): the current window, each
    /// point's values in it (in hundredths), the contents seen in earlier windows, and the alert
    /// with its clean windows since.
    replay_window: Option<i64>,
    replay_seq: Vec<Vec<i32>>,
    replay_seen: HashMap<u64, ()>,
    replay_active: bool,
    replay_clean: u32,
    /// Every raise: (time, kind, subject).
    pub raised: Vec<(i64, &'static str, String)>,
    /// Every resolve: (time, kind, subject).
    pub resolved: Vec<(i64, &'static str, String)>,
}

impl Oracle {
    /// The rules for `def`, nothing seen yet.
    pub fn new(def: Arc<MineDef>) -> Oracle {
        let (np, nc, nm) = (def.points.len(), def.cameras.len(), def.meters.len());
        Oracle {
            suspended: false,
            epoch: None,
            last: [None; 5],
            value: vec![0.0; np],
            status: vec![0; np],
            seen: vec![0; np],
            at_power_off: vec![false; np],
            band: vec![None; np],
            cal_since: vec![None; np],
            cal_starts: vec![Vec::new(); np],
            tags: BTreeMap::new(),
            cams: vec![None; nc],
            event_at: vec![None; nc],
            kw: vec![None; nm],
            baseline: vec![[(0, 0.0, 0.0); 24]; nm],
            first_power: None,
            power_out: vec![Timed::default(); nm],
            busy: vec![Timed::default(); nm],
            issued: HashMap::default(),
            last_issue: None,
            extra_areas: BTreeMap::new(),
            pair_lower: HashMap::default(),
            windows: vec![Window::default(); np],
            replay_window: None,
            replay_seq: vec![Vec::new(); np],
            replay_seen: HashMap::default(),
            replay_active: false,
            replay_clean: 0,
            timers: Vec::new(),
            stays: HashMap::default(),
            raised: Vec::new(),
            resolved: Vec::new(),
            def,
        }
    }

    /// Raised (kind, subject) pairs, in order, without times.
    pub fn raised_keys(&self) -> Vec<(&'static str, String)> {
        self.raised.iter().map(|r| (r.1, r.2.clone())).collect()
    }

    /// Whether (kind, subject) is active now.
    pub fn active(&self, kind: &'static str, subject: &str) -> bool {
        self.is_active(kind, subject)
            || (kind == "replayed_data" && self.replay_active)
            || self
                .stays
                .get(&(kind, subject.to_string()))
                .copied()
                .unwrap_or(false)
    }

    fn stay(&mut self, t: i64, kind: &'static str, subject: &str) {
        let key = (kind, subject.to_string());
        if !self.stays.get(&key).copied().unwrap_or(false) {
            self.stays.insert(key, true);
            self.raised.push((t, kind, subject.to_string()));
        }
    }

    fn timed(
        &mut self,
        t: i64,
        kind: &'static str,
        subject: &str,
        holds: bool,
        need: i64,
        clear: i64,
    ) {
        let k = match self.timers.iter().position(|x| x.0 == kind) {
            Some(k) => k,
            None if holds => {
                self.timers.push((kind, HashMap::default()));
                self.timers.len() - 1
            }
            None => return,
        };
        let map = &mut self.timers[k].1;
        if !holds && map.is_empty() {
            return;
        }
        let timer = match map.get_mut(subject) {
            Some(timer) => timer,
            None if holds => map.entry(subject.to_string()).or_default(),
            None => return,
        };
        let step = timer.step(holds, t, need, clear);
        if !holds && !timer.active && timer.since.is_none() {
            map.remove(subject);
        }
        match step {
            Step::Raise => self.raised.push((t, kind, subject.to_string())),
            Step::Resolve => self.resolved.push((t, kind, subject.to_string())),
            Step::Hold => {}
        }
    }

    /// Closes the 10-minute window before `t`'s: three points or more whose values in it (varying
    /// at least 4 times) were sent before raise; two windows in a row without any resolve.
    fn judge_replay(&mut self, t: i64) {
        let w = t.div_euclid(10 * MIN);
        if self.replay_window == Some(w) {
            return;
        }
        self.replay_window = Some(w);
        let mut repeats = 0;
        for seq in &mut self.replay_seq {
            let changes = seq.windows(2).filter(|x| x[0] != x[1]).count();
            if changes >= 4 {
                let mut h = Fnv::default();
                for v in seq.iter() {
                    h.write(&v.to_le_bytes());
                }
                if self.replay_seen.insert(h.finish(), ()).is_some() {
                    repeats += 1;
                }
            }
            seq.clear();
        }
        let mine = self.def.id.to_string();
        if !self.replay_active && repeats >= 3 {
            self.replay_active = true;
            self.replay_clean = 0;
            self.raised.push((t, "replayed_data", mine));
        } else if self.replay_active && repeats == 0 {
            self.replay_clean += 1;
            if self.replay_clean >= 2 {
                self.replay_active = false;
                self.resolved.push((t, "replayed_data", mine));
            }
        } else if repeats > 0 {
            self.replay_clean = 0;
        }
    }

    fn is_active(&self, kind: &'static str, subject: &str) -> bool {
        self.timers
            .iter()
            .find(|x| x.0 == kind)
            .and_then(|x| x.1.get(subject))
            .is_some_and(|t| t.active)
    }

    /// Takes in one decoded batch of this mine at time `t`.
    pub fn apply(&mut self, t: i64, system: System, batch: &Batch<'_>) {
        // Watching begins with the first safety batch (power alone may be fed before, to learn).
        if system == System::Safety {
            self.epoch.get_or_insert(t);
        }
        self.last[system.index()] = Some(t);
        let def = self.def.clone();
        match &batch.items {
            Items::Safety(readings) => {
                self.judge_replay(t);
                for r in readings {
                    let Some(i) = def.point(&r.point) else {
                        self.stay(t, "unregistered_device", &r.point);
                        continue;
                    };
                    let i = i as usize;
                    let p = &def.points[i];
                    let v = r.value;
                    self.value[i] = v;
                    if r.status & (CALIBRATION | FAULT_BITS) == 0 {
                        self.replay_seq[i].push((v * 100.0).round() as i32);
                    }
                    self.status[i] = r.status;
                    self.seen[i] = t;
                    if let Some(po) = p.limits.power_off {
                        let restore = p.limits.restore.or(p.limits.alarm).unwrap_or(po);
                        self.at_power_off[i] = if self.at_power_off[i] {
                            v >= restore
                        } else {
                            v >= po
                        };
                    }
                    // Flatline band, like the engine: a reading outside starts a new band.
                    if r.status & (CALIBRATION | FAULT_BITS) != 0 {
                        self.band[i] = None;
                    } else {
                        self.band[i] = match self.band[i] {
                            Some((lo, hi, s)) if hi.max(v) - lo.min(v) < 0.005 => {
                                Some((lo.min(v), hi.max(v), s))
                            }
                            _ => Some((v, v, t)),
                        };
                    }
                    self.judge_window(t, i);
                    if r.status & CALIBRATION != 0 {
                        if self.cal_since[i].is_none() {
                            self.cal_since[i] = Some(t);
                            self.cal_starts[i].push(t);
                        }
                    } else {
                        self.cal_since[i] = None;
                    }
                }
            }
            Items::Personnel(tags) => {
                for o in tags {
                    if let Some(a) = o.area.as_deref()
                        && def.area(a).is_none()
                    {
                        self.stay(t, "unregistered_device", a);
                        self.extra_areas.insert(a.to_string(), ());
                    }
                    self.tags.insert(
                        o.tag.to_string(),
                        TagSt {
                            underground: o.underground,
                            area: o.area.as_deref().map(String::from),
                            leader: o.leader,
                            down: o.down_at,
                            distress: o.distress,
                        },
                    );
                }
            }
            Items::Video(cams) => {
                for c in cams {
                    let Some(i) = def.camera(&c.camera) else {
                        self.stay(t, "unregistered_device", &c.camera);
                        continue;
                    };
                    self.cams[i as usize] = Some(c.state);
                    if !c.events.is_empty() {
                        self.event_at[i as usize] = Some(t);
                    }
                }
            }
            Items::Power(meters) => {
                self.first_power.get_or_insert(t);
                for o in meters {
                    let Some(i) = def.meter(&o.meter) else {
                        self.stay(t, "unregistered_device", &o.meter);
                        continue;
                    };
                    self.kw[i as usize] = Some(o.kw);
                    self.judge_power(t, i as usize, o.kw);
                }
            }
            Items::Explosives(issues) => {
                for o in issues {
                    self.issued.insert(o.area.to_string(), t);
                    self.last_issue = Some(t);
                    match def.area(&o.area) {
                        Some(a) => {
                            let area = &def.areas[a as usize];
                            if matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted)
                                || !area.declared
                            {
                                self.stay(t, "explosives_undeclared", &o.area);
                            }
                        }
                        None => {
                            self.stay(t, "unregistered_device", &o.area);
                            self.extra_areas.insert(o.area.to_string(), ());
                            self.stay(t, "explosives_undeclared", &o.area);
                        }
                    }
                }
            }
        }
    }

    /// `sensor_unresponsive` as the engine documents it, on point `i`'s reading at `t`: windows of
    /// 10 minutes, failing when the neighbour ranges over 0.2 while the point ranges under a
    /// quarter of that, or when the point's mean is 0.2 below the neighbour's and under half of
    /// it; three failing windows raise, one following window resolves.
    fn judge_window(&mut self, t: i64, i: usize) {
        let Some(nb) = face_neighbour(&self.def, i) else {
            return;
        };
        let bad = CALIBRATION | FAULT_BITS;
        let w = &mut self.windows[i];
        if self.status[i] & bad != 0 {
            w.start = None;
            if !w.active {
                w.failing = 0;
            }
            return;
        }
        if let Some(start) = w.start
            && t - start >= 10 * MIN
        {
            let done = *w;
            *w = Window {
                failing: w.failing,
                active: w.active,
                ..Window::default()
            };
            let (range, nb_range) = (done.own.1 - done.own.0, done.nb.1 - done.nb.0);
            let verdict = if t - start >= 20 * MIN || done.n < 3 || range < 0.005 - 1e-9 {
                None
            } else {
                let (mean, nb_mean) = (done.sum.0 / done.n as f64, done.sum.1 / done.n as f64);
                let still = nb_range >= 0.2 - 1e-9 && range < 0.25 * nb_range;
                let lower = nb_mean - mean >= 0.2 - 1e-9 && mean < nb_mean / 2.0;
                Some(still || lower)
            };
            let id = self.def.points[i].id.to_string();
            match verdict {
                None if !w.active => w.failing = 0,
                None => {}
                Some(true) => {
                    w.failing += 1;
                    if !w.active && w.failing >= 3 {
                        w.active = true;
                        self.raised.push((t, "sensor_unresponsive", id));
                    }
                }
                Some(false) => {
                    w.failing = 0;
                    if w.active {
                        w.active = false;
                        self.resolved.push((t, "sensor_unresponsive", id));
                    }
                }
            }
        }
        let w = &mut self.windows[i];
        w.start.get_or_insert(t);
        let usable =
            self.seen[nb] != 0 && self.status[nb] & bad == 0 && t - self.seen[nb] <= 120 * SEC;
        if usable {
            let (v, u) = (self.value[i], self.value[nb]);
            if w.n == 0 {
                (w.own, w.nb) = ((v, v), (u, u));
            } else {
                w.own = (w.own.0.min(v), w.own.1.max(v));
                w.nb = (w.nb.0.min(u), w.nb.1.max(u));
            }
            w.sum = (w.sum.0 + v, w.sum.1 + u);
            w.n += 1;
        }
    }

    /// `power_anomaly` as the engine documents it: hourly (UTC) Welford baselines learned while
    /// inside the band, judged after 3 days, band 4 × max(std, 5 % of mean, 1 kW), for 30 min.
    fn judge_power(&mut self, t: i64, i: usize, kw: f64) {
        let h = (t.rem_euclid(24 * HOUR) / HOUR) as usize;
        let (n, mean, m2) = self.baseline[i][h];
        let std = if n < 2 {
            0.0
        } else {
            (m2 / f64::from(n - 1)).sqrt()
        };
        let learned = self.first_power.is_some_and(|f| t - f >= 3 * 24 * HOUR) && n >= 60;
        let band = 4.0 * std.max(mean.abs() * 0.05).max(1.0);
        let outside = learned && (kw - mean).abs() > band;
        if !outside && !self.power_out[i].active {
            let n = n + 1;
            let d = kw - mean;
            let mean = mean + d / f64::from(n);
            self.baseline[i][h] = (n, mean, m2 + d * (kw - mean));
        }
        let id = self.def.meters[i].id.to_string();
        let step = self.power_out[i].step(outside, t, 30 * MIN, 0);
        match step {
            Step::Raise => self.raised.push((t, "power_anomaly", id)),
            Step::Resolve => self.resolved.push((t, "power_anomaly", id)),
            Step::Hold => {}
        }
    }

    /// Judges every rule at `t`, after the tick's batches.
    pub fn evaluate(&mut self, t: i64) {
        let def = self.def.clone();
        let epoch = self.epoch.unwrap_or(t);
        // ---- safety points
        for (i, p) in def.points.iter().enumerate() {
            let id = &*p.id;
            let (v, st, seen) = (self.value[i], self.status[i], self.seen[i]);
            self.timed(
                t,
                "point_silent",
                id,
                t - if seen == 0 { epoch } else { seen } > 120 * SEC,
                0,
                0,
            );
            if seen == 0 {
                continue;
            }
            if !p.kind.is_switch() {
                let l = &p.limits;
                let over = if self.is_active("over_limit", id) {
                    l.restore.is_some_and(|r| v >= r) || l.restore_low.is_some_and(|r| v < r)
                } else {
                    l.alarm.is_some_and(|a| v >= a) || l.alarm_low.is_some_and(|a| v < a)
                };
                self.timed(t, "over_limit", id, over, 0, 0);
            }
            if !p.feeds.is_empty() {
                let energised = p.feeds.iter().any(|&f| self.value[f as usize] >= 0.5);
                self.timed(
                    t,
                    "power_off_failure",
                    id,
                    self.at_power_off[i] && energised,
                    10 * SEC,
                    0,
                );
            }
            self.timed(t, "sensor_fault", id, st & FAULT_BITS != 0, 60 * SEC, 0);
            if p.kind == PointKind::Ch4
                && matches!(
                    def.areas[p.area as usize].kind,
                    AreaKind::CoalFace | AreaKind::Heading | AreaKind::ReturnAirway
                )
            {
                let flat = self.band[i].is_some_and(|(_, _, s)| t - s >= 30 * MIN);
                self.timed(t, "flatline", id, flat, 0, 0);
            }
            // Calibration: too long, too often, or while a neighbour is at alarm.
            self.cal_starts[i].retain(|&s| t - s < 24 * HOUR);
            let neighbour_alarm = p
                .upwind
                .into_iter()
                .chain(def.downwind[i].iter().copied())
                .any(|n| {
                    let n = n as usize;
                    def.points[n]
                        .limits
                        .alarm
                        .is_some_and(|a| self.seen[n] != 0 && self.value[n] >= a)
                });
            let calibrating = self.cal_since[i].is_some();
            let abuse = self.cal_since[i].is_some_and(|s| t - s > 30 * MIN)
                || self.cal_starts[i].len() > 3
                || (calibrating && neighbour_alarm);
            self.timed(t, "calibration_abuse", id, abuse, 0, 0);
            // Neighbours, judged on the downwind point; the subject is the lower one.
            if let (Some(u), PointKind::Ch4) = (p.upwind, p.kind) {
                let u = u as usize;
                if self.seen[u] != 0 && (st | self.status[u]) & (CALIBRATION | FAULT_BITS) == 0 {
                    let gap = (v - self.value[u]).abs();
                    let lower = if v <= self.value[u] {
                        id.to_string()
                    } else {
                        def.points[u].id.to_string()
                    };
                    let key = format!("{id}~{}", def.points[u].id);
                    let active = self.is_active("mismatch_pair", &key);
                    let holds = if active { gap >= 0.4 } else { gap >= 0.8 };
                    let before = self.raised.len();
                    let resolved_before = self.resolved.len();
                    self.timed(t, "mismatch_pair", &key, holds, 5 * MIN, MIN);
                    // Rename the pair's raise/resolve to the kind on its lower point.
                    if self.raised.len() > before {
                        self.raised.pop();
                        self.raised.push((t, "neighbour_mismatch", lower.clone()));
                        self.pair_lower.insert(key.clone(), lower);
                    }
                    if self.resolved.len() > resolved_before {
                        self.resolved.pop();
                        let s = self.pair_lower.get(&key).cloned().unwrap_or_default();
                        self.resolved.push((t, "neighbour_mismatch", s));
                    }
                }
            }
        }
        // ---- systems (event time here)
        for s in [System::Safety, System::Personnel, System::Video] {
            let last = self.last[s.index()].unwrap_or(epoch);
            let key = format!("{}:{}", def.id, s.as_str());
            let before = self.raised.len();
            let resolved_before = self.resolved.len();
            self.timed(t, "system_silent_", &key, t - last > 120 * SEC, 0, 0);
            if self.raised.len() > before {
                self.raised.pop();
                self.raised.push((t, "system_silent", def.id.to_string()));
            }
            if self.resolved.len() > resolved_before {
                self.resolved.pop();
                self.resolved.push((t, "system_silent", def.id.to_string()));
            }
        }
        // ---- people
        let mut per_area = vec![0u32; def.areas.len()];
        let mut extra: BTreeMap<String, u32> = BTreeMap::new();
        let (mut down, mut leaders) = (0u32, 0u32);
        let limit = (def.shift_hours * HOUR as f64) as i64 + 2 * HOUR;
        let tags = std::mem::take(&mut self.tags);
        for (tag, s) in &tags {
            let mut restricted = false;
            if s.underground {
                down += 1;
                leaders += u32::from(s.leader);
                if let Some(a) = &s.area {
                    match def.area(a) {
                        Some(i) => {
                            per_area[i as usize] += 1;
                            restricted = matches!(
                                def.areas[i as usize].kind,
                                AreaKind::Sealed | AreaKind::Restricted
                            );
                        }
                        None => *extra.entry(a.clone()).or_default() += 1,
                    }
                }
            }
            self.timed(t, "restricted_entry", tag, restricted, 0, 0);
            let over = s.underground && s.down.is_some_and(|d| t - d > limit);
            self.timed(t, "overtime", tag, over, 0, 0);
            self.timed(t, "distress", tag, s.distress, 0, 0);
        }
        self.tags = tags;
        for (a, area) in def.areas.iter().enumerate() {
            if let Some(q) = area.quota {
                self.timed(t, "area_over_quota", &area.id, per_area[a] > q, 0, 0);
            }
        }
        let mine = def.id.to_string();
        self.timed(
            t,
            "mine_over_capacity",
            &mine,
            down > def.max_underground,
            0,
            0,
        );
        self.timed(
            t,
            "no_leader",
            &mine,
            down > 10 && leaders == 0,
            30 * MIN,
            0,
        );
        // ---- video
        let faulty = |s: Option<CameraState>| {
            matches!(
                s,
                Some(
                    CameraState::Offline
                        | CameraState::SignalLoss
                        | CameraState::Frozen
                        | CameraState::Degraded
                )
            )
        };
        for (c, cam) in def.cameras.iter().enumerate() {
            let s = self.cams[c];
            self.timed(t, "camera_fault", &cam.id, faulty(s), 60 * SEC, 0);
            let tamper = matches!(s, Some(CameraState::Occluded | CameraState::SceneChange));
            self.timed(t, "camera_tamper", &cam.id, tamper, 0, 0);
            let event = self.event_at[c].is_some_and(|e| t - e < 5 * MIN);
            self.timed(t, "ai_event", &cam.id, event, 0, 0);
        }
        for (a, area) in def.areas.iter().enumerate() {
            if !matches!(area.kind, AreaKind::CoalFace | AreaKind::Heading) {
                continue;
            }
            let ok =
                def.cameras.iter().enumerate().any(|(c, cam)| {
                    cam.area as usize == a && self.cams[c] == Some(CameraState::Ok)
                });
            self.timed(
                t,
                "no_video_work",
                &area.id,
                per_area[a] > 0 && !ok,
                5 * MIN,
                0,
            );
        }
        // ---- untagged work: a declared face's meter at production load, nobody tagged there
        let fresh = |s: System| self.last[s.index()].is_some_and(|l| t - l <= 120 * SEC);
        let judged = fresh(System::Personnel) && fresh(System::Power) && !self.suspended;
        for (a, area) in def.areas.iter().enumerate() {
            if !matches!(area.kind, AreaKind::CoalFace | AreaKind::Heading) || !area.declared {
                continue;
            }
            let loaded = def.meters.iter().enumerate().any(|(m, meter)| {
                meter.area as usize == a
                    && meter.load == Load::Face
                    && self.kw[m]
                        .is_some_and(|kw| kw >= (2.0 * meter.idle_kw).max(meter.idle_kw + 1.0))
            });
            if judged || self.suspended {
                let holds = judged && loaded && per_area[a] == 0;
                self.timed(t, "untagged_work", &area.id, holds, 10 * MIN, 0);
            } else if !self.is_active("untagged_work", &area.id) {
                // Nothing to judge by: the condition starts over.
                self.timed(t, "untagged_work", &area.id, false, 10 * MIN, 0);
            }
        }
        // ---- power
        let mut busy_production = false;
        for (m, meter) in def.meters.iter().enumerate() {
            let Some(kw) = self.kw[m] else { continue };
            let above = kw > meter.idle_kw;
            let area = &def.areas[meter.area as usize];
            if matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted) {
                self.timed(
                    t,
                    "power_in_sealed_area",
                    &meter.id,
                    above,
                    10 * MIN,
                    10 * MIN,
                );
            }
            let _ = self.busy[m].step(above, t, 30 * MIN, 0);
            if matches!(meter.load, Load::Face | Load::Hoist) && self.busy[m].active {
                busy_production = true;
            }
        }
        // ---- mine status
        let signs = busy_production
            || down > def.suspended_crew
            || self.last_issue.is_some_and(|e| t - e < HOUR);
        if self.suspended {
            self.timed(t, "production_while_suspended", &mine, signs, 0, HOUR);
        } else if self.is_active("production_while_suspended", &mine) {
            self.timed(t, "production_while_suspended", &mine, false, 0, 0);
        }
        // ---- concealed work
        for (a, area) in def.areas.iter().enumerate() {
            if area.kind != AreaKind::Sealed && area.declared {
                continue;
            }
            let mut n = u32::from(per_area[a] > 0);
            n += u32::from(def.meters.iter().enumerate().any(|(m, meter)| {
                meter.area as usize == a && self.kw[m].is_some_and(|kw| kw > meter.idle_kw)
            }));
            n += u32::from(self.issued.get(&*area.id).is_some_and(|e| t - e < HOUR));
            self.concealed(t, &area.id, n);
        }
        let extras: Vec<String> = self.extra_areas.keys().cloned().collect();
        for id in extras {
            let mut n = 1;
            n += u32::from(extra.get(&id).is_some_and(|&p| p > 0));
            n += u32::from(self.issued.get(&id).is_some_and(|e| t - e < HOUR));
            self.concealed(t, &id, n);
        }
    }

    fn concealed(&mut self, t: i64, area: &str, signs: u32) {
        let active = self.is_active("concealed_work", area);
        let holds = if active { signs > 0 } else { signs >= 2 };
        self.timed(t, "concealed_work", area, holds, 30 * MIN, HOUR);
    }
}
