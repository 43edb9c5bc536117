//! The simulator: one `MineSim` per mine, stepped by [`Sim::tick`] into the five batches of
//! contract §1, with anomalies scheduled by hand ([`Sim::inject`]) or automatically, and a mine's
//! suspension switched at run time ([`Sim::set_suspended`]).

use crate::anomaly::{self, Anomaly, Ctx, Other};
use crate::clock::{ShiftPlan, Step, normalize_offset, push_ts};
use crate::effect::Effect;
use crate::json::push_str_field;
use crate::modes::{Mode, Modes};
use crate::people::Crew;
use crate::power::{Meters, push_issues};
use crate::rng::{Rng, hash, hash_str};
use crate::values::Points;
use minewatch_core::MineDef;
use minewatch_core::payload::System;
use std::sync::Arc;

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `{prefix}/{mine}/{system}`.
    pub topic: String,
    /// The JSON batch (contract §1).
    pub payload: Vec<u8>,
}

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Topic prefix (contract §1), default `mines`.
    pub prefix: String,
    /// Cadence in milliseconds, default 10 000 (the KJ polling cycle is at most 30 s, newer
    /// systems 10 s or less).
    pub interval_ms: i64,
    /// Fixes every random choice: the same seed and calls give the same messages.
    pub seed: u64,
    /// Schedule anomalies now and then (power-off failure, point silent, sensor fault, over limit,
    /// in turn, mine after mine).
    pub anomalies: bool,
    /// How often an automatic anomaly starts, in milliseconds of event time (at least 1 s);
    /// default 10 minutes. The first starts a minute after the first tick (sooner if this is
    /// shorter; one period after it if anomalies were injected by hand before the first tick).
    pub anomaly_every_ms: i64,
    /// Offset east of UTC printed in every `ts` and used for local shift times; default +08:00.
    /// Rounded to whole minutes.
    pub utc_offset_secs: i32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            prefix: "mines".into(),
            interval_ms: 10_000,
            seed: 1,
            anomalies: false,
            anomaly_every_ms: 600_000,
            utc_offset_secs: 8 * 3600,
        }
    }
}

/// One injected anomaly, as scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    /// The mine.
    pub mine: String,
    /// The anomaly's name: the alert kind it raises.
    pub kind: &'static str,
    /// The subject of that alert (point, area, tag, camera, meter, or the mine id).
    pub subject: String,
    /// When the anomalous data starts (ms since the epoch, event time).
    pub at: i64,
    /// When it ends; the alert then resolves after its own delay (the kinds that resolve on
    /// acknowledgement, `Kind::resolves_on_ack`, stay until acknowledged).
    pub until: i64,
    /// Other alerts (kind, subject) the injection necessarily raises besides its own, in the
    /// order of the kinds: empty for most kinds with the example registry's default subjects
    /// (each planner picks subjects that raise nothing else where it can). Which kinds follow
    /// which is said by the planner of the kind that follows (`anomaly/<kind>.rs`): a point driven
    /// to power-off level is over its alarm too, a camera losing its signal is faulty, people sent
    /// into a sealed area enter it without leave, an area id the registry does not define is an
    /// unregistered device...
    pub also: Vec<(&'static str, String)>,
}

/// One mine's models and the anomalies scheduled on it.
#[derive(Debug)]
struct MineSim {
    def: Arc<MineDef>,
    /// Topics by [`System::index`], built once.
    topics: [String; 5],
    plan: ShiftPlan,
    /// Producing, suspended or closed, over time.
    modes: Modes,
    points: Points,
    crew: Crew,
    meters: Meters,
    /// Scheduled anomalies; finished ones are dropped after an hour.
    effects: Vec<Effect>,
    /// How many anomalies were injected here, so automatic subjects rotate.
    injected: usize,
    /// How many of each kind, so the first of a kind gets the preferred subject.
    injected_kind: [usize; Anomaly::NAMES.len()],
    /// Noise for this mine alone, so mines do not disturb each other's streams.
    rng: Rng,
    seed: u64,
    /// Event time of the previous tick.
    last_t: Option<i64>,
}

/// Realistic telemetry for the mines of a registry (see the crate docs).
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    /// Offset in whole minutes.
    offset_secs: i32,
    mines: Vec<MineSim>,
    injected: Vec<(String, &'static str, String, i64)>,
    injections: Vec<Injection>,
    /// When the next automatic anomaly starts; fixed by the first tick.
    next_auto: Option<i64>,
    /// Automatic anomalies scheduled so far.
    auto_count: u64,
}

impl Sim {
    /// A simulator for `mines`, in the order given (sort them for reproducible runs).
    pub fn new(mines: Vec<Arc<MineDef>>, cfg: SimConfig) -> Sim {
        let offset_secs = normalize_offset(cfg.utc_offset_secs);
        let interval = cfg.interval_ms.max(1);
        let mines = mines
            .into_iter()
            .map(|def| {
                let seed = hash(cfg.seed, &[hash_str(&def.id)]);
                // The plan says which shifts would produce; the mode timeline whether they do.
                let plan = ShiftPlan::new(def.shift_hours, offset_secs, true);
                let topics =
                    System::ALL.map(|s| format!("{}/{}/{}", cfg.prefix, def.id, s.as_str()));
                MineSim {
                    topics,
                    plan,
                    modes: Modes::new(Mode::of(def.status)),
                    points: Points::new(&def, hash(seed, &[1])),
                    crew: Crew::new(
                        &def,
                        plan,
                        offset_secs,
                        (3 * interval).max(60_000),
                        hash(seed, &[2]),
                        anomaly::tag_flags(),
                    ),
                    meters: Meters::new(&def, hash(seed, &[3])),
                    effects: Vec::new(),
                    injected: 0,
                    injected_kind: [0; Anomaly::NAMES.len()],
                    rng: Rng::new(hash(seed, &[4])),
                    seed,
                    last_t: None,
                    def,
                }
            })
            .collect();
        Sim {
            cfg,
            offset_secs,
            mines,
            injected: Vec::new(),
            injections: Vec::new(),
            next_auto: None,
            auto_count: 0,
        }
    }

    /// All messages of one cadence step at event time `t` (ms since epoch): for each mine, one
    /// `safety` batch (every point), one `personnel`, one `video`, one `power`, and an
    /// `explosives` batch only when explosives are issued (at production shift starts, to declared
    /// faces and headings). Deterministic for a given seed and sequence of calls. A system an
    /// anomaly silences simply has no batch while silent.
    pub fn tick(&mut self, t: i64) -> Vec<Message> {
        if self.cfg.anomalies && !self.mines.is_empty() {
            self.schedule_automatic(t);
        }
        // A mine that copies another's data gets that mine's values of the previous tick.
        for k in 0..self.mines.len() {
            let from = self.mines[k].effects.iter().find_map(|e| match e {
                Effect::Copy { from, .. } if e.active(t) => Some(*from),
                _ => None,
            });
            let incoming = match from {
                Some(from) if from < self.mines.len() && from != k => {
                    self.mines[from].points.value.clone()
                }
                _ => Vec::new(),
            };
            self.mines[k].points.incoming = incoming;
        }
        let mut out = Vec::with_capacity(self.mines.len() * 5);
        for m in &mut self.mines {
            m.tick(t, self.cfg.interval_ms.max(1), self.offset_secs, &mut out);
        }
        out
    }

    /// Schedules an anomaly on `mine` starting at event time `at`. A subject left `None` is picked
    /// deterministically (for the point kinds listed first in [`Anomaly::NAMES`], points in turn
    /// on the mine; for the others, the preferred subject for the first of its kind on a mine, then
    /// others in turn); a named subject must suit the anomaly. Anomalies about people pick among the tags the
    /// crew schedule puts underground at `at`, so inject after any [`Sim::set_suspended`] that
    /// concerns that time.
    pub fn inject(&mut self, mine: &str, anomaly: Anomaly, at: i64) -> Result<(), String> {
        let i = self.mine_index(mine)?;
        self.inject_at(i, &anomaly, at)
    }

    /// What was injected so far: (mine, anomaly name, subject, start ms), in injection order.
    pub fn injected(&self) -> &[(String, &'static str, String, i64)] {
        &self.injected
    }

    /// What was injected so far, with when each ends and what else it necessarily raises, in
    /// injection order.
    pub fn injections(&self) -> &[Injection] {
        &self.injections
    }

    /// Suspends `mine` (or lets it produce again) from event time `at` on, as a regulator's order
    /// would: hoist, face and transport loads idle at once, coal cutting stops over 30 minutes, no
    /// explosives are issued, and the crew changes to the maintenance crew (at most half of
    /// `suspended_crew`): the workers down come up as at a shift end, their leader last, while the
    /// maintenance leader goes down at `at` and the maintenance workers once the others are up.
    /// `false` returns the mine to its registry status (producing, if that says suspended). The
    /// rules engine learns the status separately (its own status order).
    pub fn set_suspended(&mut self, mine: &str, suspended: bool, at: i64) -> Result<(), String> {
        let i = self.mine_index(mine)?;
        let m = &mut self.mines[i];
        let mode = match (suspended, m.modes.base()) {
            (true, _) => Mode::Suspended,
            (false, Mode::Suspended) => Mode::Producing,
            (false, base) => base,
        };
        m.modes.set(at, mode);
        Ok(())
    }

    fn mine_index(&self, mine: &str) -> Result<usize, String> {
        self.mines
            .iter()
            .position(|m| &*m.def.id == mine)
            .ok_or_else(|| format!("no mine {mine:?} is simulated"))
    }

    fn inject_at(&mut self, i: usize, anomaly: &Anomaly, at: i64) -> Result<(), String> {
        let k = anomaly.index();
        let others: Vec<Other<'_>> = self
            .mines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(index, o)| Other {
                index,
                def: &o.def,
                points: &o.points,
            })
            .collect();
        let m = &self.mines[i];
        let planned = anomaly.plan(
            &Ctx {
                def: &m.def,
                crew: &m.crew,
                points: &m.points,
                modes: &m.modes,
                effects: &m.effects,
                nth: m.injected,
                nth_kind: m.injected_kind[k],
                companions: anomaly::companions,
                others: &others,
            },
            at,
        )?;
        drop(others);
        let m = &mut self.mines[i];
        m.effects.extend(planned.effects);
        m.injected += 1;
        m.injected_kind[k] += 1;
        self.injected.push((
            m.def.id.to_string(),
            anomaly.name(),
            planned.subject.clone(),
            at,
        ));
        self.injections.push(Injection {
            mine: m.def.id.to_string(),
            kind: anomaly.name(),
            subject: planned.subject,
            at,
            until: planned.until,
            also: planned.also,
        });
        Ok(())
    }

    /// Starts the automatic anomalies due by `t`: the first a minute in (or one period, if shorter
    /// or if anomalies were injected by hand already), then one every `anomaly_every_ms`, kinds in
    /// turn, each mine getting a full round in turn.
    fn schedule_automatic(&mut self, t: i64) {
        let every = self.cfg.anomaly_every_ms.max(1000);
        // Anomalies injected by hand before the first tick come first; the schedule waits a period.
        let first = if self.injected.is_empty() {
            every.min(60_000)
        } else {
            every
        };
        let mut next = self.next_auto.unwrap_or(t + first);
        while next <= t {
            let k = self.auto_count;
            self.auto_count += 1;
            let round = Anomaly::automatic_kinds().len() as u64;
            let mine = (k / round) as usize % self.mines.len();
            // A slot long past (the clock jumped) is skipped rather than replayed.
            if next > t - every {
                let anomaly = Anomaly::automatic(k);
                if let Err(e) = self.inject_at(mine, &anomaly, next) {
                    tracing::debug!(error = %e, "automatic anomaly skipped");
                }
            }
            next += every;
        }
        self.next_auto = Some(next);
    }
}

impl MineSim {
    fn tick(&mut self, t: i64, interval: i64, offset_secs: i32, out: &mut Vec<Message>) {
        let dt = self
            .last_t
            .map_or(interval, |l| (t - l).clamp(0, 3_600_000));
        let prev = self.last_t.unwrap_or(t - interval);
        self.last_t = Some(t);
        self.effects.retain(|e| e.keep_until() > t);
        let def = &*self.def;
        let (producing, production) = self.production(t);
        let step = Step {
            t,
            dt_ms: dt,
            day: self.plan.at(t).day,
            cutting: self.plan.cutting(t) * production,
        };
        let muted = |s: System| anomaly::silences(&self.effects, s, t);
        let (mute_people, mute_video) = (muted(System::Personnel), muted(System::Video));

        let effects = &self.effects;
        let open = |cap: usize, system: System| {
            let mut s = String::with_capacity(cap);
            s.push_str("{\"ts\":\"");
            let skew = anomaly::clock_offset(effects, system, t);
            push_ts(&mut s, t + skew, offset_secs);
            let array = system.array();
            s.push_str("\",\"");
            s.push_str(array);
            s.push_str("\":[");
            s
        };

        self.points.step(def, step, &self.effects, &mut self.rng);
        anomaly::shape_safety(&self.effects, &mut self.points.readings(), t);
        self.points.finish(def);
        let mut safety = open(64 + 40 * def.points.len(), System::Safety);
        let n = self.points.push_readings(def, &mut safety);
        anomaly::push_readings(&self.effects, t, &mut self.rng, &mut safety, n);
        out.push(self.finish(System::Safety, safety));

        if !mute_people {
            let mut people = open(4096, System::Personnel);
            self.crew.observe(def, t, &self.modes, &self.effects);
            anomaly::shape_tags(&self.effects, &mut self.crew.tags(def), t);
            self.crew.push_tags(def, t, &self.effects, &mut people);
            out.push(self.finish(System::Personnel, people));
        }

        if !mute_video {
            let mut video = open(64 + 32 * def.cameras.len(), System::Video);
            for (i, c) in def.cameras.iter().enumerate() {
                if i > 0 {
                    video.push(',');
                }
                video.push('{');
                push_str_field(&mut video, "camera", &c.id);
                let mut state = "ok";
                let mut event = None;
                for e in &self.effects {
                    if let Effect::Camera {
                        camera,
                        state: s,
                        event: ev,
                        ..
                    } = e
                        && *camera == i
                        && e.active(t)
                    {
                        state = s;
                        event = *ev;
                    }
                }
                video.push_str(",\"state\":\"");
                video.push_str(state);
                video.push('"');
                if let Some(ev) = event {
                    video.push_str(",\"events\":[\"");
                    video.push_str(ev);
                    video.push_str("\"]");
                }
                video.push('}');
            }
            out.push(self.finish(System::Video, video));
        }

        let mut power = open(64 + 32 * def.meters.len(), System::Power);
        let points = &self.points;
        self.meters.push_meters(
            def,
            step,
            &mut self.rng,
            |a| points.area_cut(def, a),
            producing,
            &self.effects,
            &mut power,
        );
        out.push(self.finish(System::Power, power));

        let mut issues = open(256, System::Explosives);
        if push_issues(
            def,
            &self.plan,
            &self.modes,
            prev,
            t,
            self.seed,
            &self.effects,
            &mut issues,
        ) > 0
        {
            out.push(self.finish(System::Explosives, issues));
        }
    }

    /// Whether production loads may run at `t`, and the production intensity (0 to 1) that scales
    /// coal cutting: the mode timeline's, as anomalies change it.
    fn production(&self, t: i64) -> (bool, f64) {
        let own = (
            self.modes.at(t) == Mode::Producing,
            self.modes.production(t),
        );
        anomaly::production(&self.effects, t, own)
    }

    /// Closes a batch opened by `tick` and addresses it.
    fn finish(&self, system: System, mut body: String) -> Message {
        body.push_str("]}");
        let mut payload = body.into_bytes();
        let t = self.last_t.unwrap_or(0);
        anomaly::mangle(&self.effects, system, t, &mut payload);
        Message {
            topic: self.topics[system.index()].clone(),
            payload,
        }
    }
}
