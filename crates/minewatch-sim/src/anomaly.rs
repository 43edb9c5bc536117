//! Anomalies the simulator can inject: their names (the alert kinds of contract §3 they should
//! raise), how a subject is checked or picked, and the `Effect`s each becomes on a timeline.
//!
//! Every kind of contract §3 can be injected. Each injection shows its condition clearly and long
//! enough for the rules' default parameters, then returns to normal so the alert resolves (except
//! the kinds that stay until acknowledged), and avoids raising anything else: subjects are picked
//! (or checked, when named) so that, for instance, a camera fault leaves a working camera in its
//! area, a restricted entry goes to an area without a quota, an overtime tag is not a leader and
//! keeps its area under quota. What an injection cannot avoid raising besides its own kind is
//! listed in [`crate::sim::Injection::also`].

use crate::clock::MIN_MS;
use crate::modes::{Mode, Modes};
use crate::people::{Crew, workable};
use crate::values::Points;
use minewatch_core::MineDef;
use minewatch_core::payload::System;
use minewatch_core::registry::{AreaKind, Load, Location, PointKind, Watches};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Anomalies the simulator can inject, one per alert kind of contract §3, each named after it and
/// parsed from that name, optionally followed by `:SUBJECT` (picked deterministically when absent).
#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    /// A methane point rises past its power-off level over ~2 minutes, stays there ~3 minutes while
    /// its feed points keep reading 1 (power not cut), then falls back below restore.
    PowerOffFailure {
        /// The methane point; picked when `None` (one with feeds).
        point: Option<String>,
    },
    /// Methane rises past the alarm (not power-off) for ~3 minutes, feeds behave; then back.
    OverLimit {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// A point stops reporting for ~4 minutes (longer than the 120 s `point_silent` default), then
    /// resumes.
    PointSilent {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// A point reports status 128 (sensor fault) for ~3 minutes (longer than the 60 s
    /// `fault_after` default).
    SensorFault {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// Readings from a point id the registry does not define (e.g. "X9001") for ~2 minutes.
    UnregisteredDevice {
        /// The undefined point id; `X9001` (or the next free one) when `None`.
        point: Option<String>,
    },
    /// The mine's video system (or personnel system) sends nothing for 4 minutes. The rule runs on
    /// wall clock: `publish` simply sends nothing; [`crate::Sim::tick`] leaves the batch out.
    /// Never the safety system, which would also silence every point.
    SystemSilent {
        /// `video` (default), `personnel`, or the mine id (= video).
        system: Option<String>,
    },
    /// A methane point of a coal face, heading or return airway repeats one value for 40 minutes
    /// (the window is 30), then varies again.
    Flatline {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// A methane point drops to ~0.03 % while its neighbour on the airflow reads ~0.9–1.0 % more,
    /// below its own alarm, for 8 minutes (5 needed); then both return. The subject is the lower.
    NeighbourMismatch {
        /// The lower point; picked when `None` (preferably a pair with plenty of room below the
        /// alarm, such as a gas-drainage roadway's).
        point: Option<String>,
    },
    /// A methane point reports status 4 (calibration) for 40 minutes (30 allowed), value clean.
    CalibrationAbuse {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// People gathered from other areas into an area until it holds its quota + 2 (at most 120 %,
    /// a warning, when the quota allows) for 5 minutes; then they go back.
    AreaOverQuota {
        /// The area (one people may work in, with a quota); picked when `None`.
        area: Option<String>,
    },
    /// Extra people go down for 5 minutes so `max_underground` + 5 are underground, into areas
    /// without a quota (the example registry has one), never pushing an area over its quota.
    MineOverCapacity {
        /// The mine id, if named.
        mine: Option<String>,
    },
    /// A worker enters a sealed or restricted area without a quota (so no `area_over_quota`) for 3
    /// minutes, then goes back to work.
    RestrictedEntry {
        /// The tag, or the sealed/restricted area to enter; picked when `None`.
        tag: Option<String>,
    },
    /// A worker (not a leader) stays underground until `shift_hours` + 3 h after going down (the
    /// limit is `shift_hours` + 2 h), then comes up; the areas stay under quota.
    Overtime {
        /// The tag; picked when `None` (the worker down longest).
        tag: Option<String>,
    },
    /// Every leader comes up for 40 minutes (30 needed) while the crew stays down (more than 10),
    /// then the leaders go down again.
    NoLeader {
        /// The mine id, if named.
        mine: Option<String>,
    },
    /// A worker's tag reports distress for 2 minutes.
    Distress {
        /// The tag; picked when `None`.
        tag: Option<String>,
    },
    /// A camera reports `offline` for 3 minutes (60 s allowed). Its area keeps another working
    /// camera, or is not a face or heading, so `no_video_work` does not follow.
    CameraFault {
        /// The camera; picked when `None`.
        camera: Option<String>,
    },
    /// A camera reports `occluded` for 2 minutes; a camera watching a seal is preferred (critical).
    CameraTamper {
        /// The camera; picked when `None`.
        camera: Option<String>,
    },
    /// Two workers go into a face or heading with no working camera for 8 minutes (5 needed): an
    /// area without cameras when the registry has one (nothing else raised), else one whose cameras
    /// all report `signal_loss` (which also raises `camera_fault` on each).
    NoVideoWork {
        /// The coal face or heading; picked when `None`.
        area: Option<String>,
    },
    /// A camera reports the AI event `no_helmet` for 2 minutes (state ok).
    AiEvent {
        /// The camera; picked when `None`.
        camera: Option<String>,
    },
    /// The meter of a sealed or restricted area draws ~40 kW above its idle reading for 15
    /// minutes (10 needed; under the 30 of `power_anomaly`), then idles again.
    PowerInSealedArea {
        /// The meter; picked when `None`.
        meter: Option<String>,
    },
    /// A steady meter (drainage ×2.5, ventilation ×0.45, other ×2.5 of its usual kW) departs from
    /// its usual level for 45 minutes (30 needed, after 3 days of learning), then returns.
    PowerAnomaly {
        /// The meter; picked when `None` (drainage first).
        meter: Option<String>,
    },
    /// One explosives issue to a restricted, sealed or undeclared area (one message).
    ExplosivesUndeclared {
        /// The area; picked when `None` (a restricted area first).
        area: Option<String>,
    },
    /// A mine the simulator holds suspended ([`crate::Sim::set_suspended`] or its registry
    /// status) runs its hoists, and its faces when the shift plan cuts coal, for 40 minutes (30
    /// needed) with only its maintenance crew down: production visible in power data.
    ProductionWhileSuspended {
        /// The mine id, if named.
        mine: Option<String>,
    },
    /// Three workers go into an undeclared (or sealed) area for 40 minutes (30 needed) while its
    /// meter draws a light load just above its `idle_kw` (about 1.05 × idle: lighting, a pump):
    /// two independent signs of work. The load stays inside 4 deviations of the meter's idle
    /// baseline, so `power_anomaly` does not follow. Without a meter the second sign is an
    /// explosives issue (which also raises `explosives_undeclared`).
    ConcealedWork {
        /// The area (undeclared or sealed, or an id the registry does not define); picked when
        /// `None` (an undeclared area with a meter first).
        area: Option<String>,
    },
}

/// Ramp, hold and fall of a power-off failure.
const POWER_OFF_PHASES: (i64, i64, i64) = (120_000, 180_000, 60_000);
/// Ramp, hold and fall of an over-limit excursion.
const OVER_LIMIT_PHASES: (i64, i64, i64) = (90_000, 180_000, 60_000);
/// How long a silent point stays silent.
const SILENT_MS: i64 = 240_000;
/// How long a faulty sensor reports status 128.
const FAULT_MS: i64 = 180_000;
/// How long an unregistered device reports.
const GHOST_MS: i64 = 120_000;
/// How long a system stays silent (120 s allowed; under the 5 minutes of `no_video_work`).
const MUTE_MS: i64 = 4 * MIN_MS;
/// How long a point stays flat (the window is 30 minutes).
const FLAT_MS: i64 = 40 * MIN_MS;
/// Ramp, hold and fall of a neighbour split (5 minutes needed).
const SPLIT_PHASES: (i64, i64, i64) = (MIN_MS, 8 * MIN_MS, MIN_MS);
/// The lower point of a split reads about this.
const SPLIT_LOW: f64 = 0.03;
/// How long a calibration lasts (30 minutes allowed).
const CALIBRATION_MS: i64 = 40 * MIN_MS;
/// How long an area holds too many people, or the mine too many.
const CROWD_MS: i64 = 5 * MIN_MS;
/// How long a tag stays in a restricted area.
const ENTRY_MS: i64 = 3 * MIN_MS;
/// An overtime tag comes up this long after `shift_hours` (the margin is 2 h).
const OVERTIME_EXTRA_MS: i64 = 3 * 3_600_000;
/// How long no leader is down (30 minutes needed).
const NO_LEADER_MS: i64 = 40 * MIN_MS;
/// How long a tag reports distress.
const DISTRESS_MS: i64 = 2 * MIN_MS;
/// How long a camera is offline (60 s allowed).
const CAMERA_FAULT_MS: i64 = 3 * MIN_MS;
/// How long a camera is occluded.
const TAMPER_MS: i64 = 2 * MIN_MS;
/// How long people work without video (5 minutes needed).
const NO_VIDEO_MS: i64 = 8 * MIN_MS;
/// How long a camera reports an AI event.
const AI_EVENT_MS: i64 = 2 * MIN_MS;
/// How long a sealed area's meter draws power (10 minutes needed, 30 would be a power anomaly).
const SEALED_POWER_MS: i64 = 15 * MIN_MS;
/// What it draws above its clean (idle) reading.
const SEALED_KW: f64 = 40.0;
/// How long a meter departs from its usual level (30 minutes needed).
const POWER_ANOMALY_MS: i64 = 45 * MIN_MS;
/// How long a suspended mine produces (30 minutes needed).
const PRODUCTION_MS: i64 = 40 * MIN_MS;
/// How long a concealed area is worked (30 minutes needed).
const CONCEALED_MS: i64 = 40 * MIN_MS;
/// People in a concealed area.
const CONCEALED_PEOPLE: usize = 3;
/// People working without video.
const NO_VIDEO_PEOPLE: usize = 2;
/// A tag taken for an anomaly stays down at least this long after it ends, back at its work.
const STAY_AFTER_MS: i64 = 2 * MIN_MS;

impl Anomaly {
    /// Every anomaly name, in the order of the enum: the alert kinds of contract §3.
    pub const NAMES: [&'static str; 24] = [
        "power_off_failure",
        "over_limit",
        "point_silent",
        "sensor_fault",
        "unregistered_device",
        "system_silent",
        "flatline",
        "neighbour_mismatch",
        "calibration_abuse",
        "area_over_quota",
        "mine_over_capacity",
        "restricted_entry",
        "overtime",
        "no_leader",
        "distress",
        "camera_fault",
        "camera_tamper",
        "no_video_work",
        "ai_event",
        "power_in_sealed_area",
        "power_anomaly",
        "explosives_undeclared",
        "production_while_suspended",
        "concealed_work",
    ];

    /// Parses `name` or `name:SUBJECT`, e.g. `power_off_failure`, `over_limit:P0101`,
    /// `camera_tamper:C09`, `restricted_entry:T1005`; names are the alert kinds of contract §3 and
    /// the subject is what that alert is about (a point, area, tag, camera, meter or the mine).
    pub fn parse(spec: &str) -> Result<Anomaly, String> {
        let spec = spec.trim();
        let (name, subject) = match spec.split_once(':') {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (spec, None),
        };
        let s = match subject {
            None => None,
            Some(p) if minewatch_core::id::is_valid(p) => Some(p.to_string()),
            Some(p) => {
                return Err(format!(
                    "anomaly {spec:?}: subject {p:?} is not 1-64 characters of A-Z a-z 0-9 _ - ."
                ));
            }
        };
        Ok(match name {
            "power_off_failure" => Anomaly::PowerOffFailure { point: s },
            "over_limit" => Anomaly::OverLimit { point: s },
            "point_silent" => Anomaly::PointSilent { point: s },
            "sensor_fault" => Anomaly::SensorFault { point: s },
            "unregistered_device" => Anomaly::UnregisteredDevice { point: s },
            "system_silent" => Anomaly::SystemSilent { system: s },
            "flatline" => Anomaly::Flatline { point: s },
            "neighbour_mismatch" => Anomaly::NeighbourMismatch { point: s },
            "calibration_abuse" => Anomaly::CalibrationAbuse { point: s },
            "area_over_quota" => Anomaly::AreaOverQuota { area: s },
            "mine_over_capacity" => Anomaly::MineOverCapacity { mine: s },
            "restricted_entry" => Anomaly::RestrictedEntry { tag: s },
            "overtime" => Anomaly::Overtime { tag: s },
            "no_leader" => Anomaly::NoLeader { mine: s },
            "distress" => Anomaly::Distress { tag: s },
            "camera_fault" => Anomaly::CameraFault { camera: s },
            "camera_tamper" => Anomaly::CameraTamper { camera: s },
            "no_video_work" => Anomaly::NoVideoWork { area: s },
            "ai_event" => Anomaly::AiEvent { camera: s },
            "power_in_sealed_area" => Anomaly::PowerInSealedArea { meter: s },
            "power_anomaly" => Anomaly::PowerAnomaly { meter: s },
            "explosives_undeclared" => Anomaly::ExplosivesUndeclared { area: s },
            "production_while_suspended" => Anomaly::ProductionWhileSuspended { mine: s },
            "concealed_work" => Anomaly::ConcealedWork { area: s },
            _ => {
                return Err(format!(
                    "unknown anomaly {name:?}: expected one of {} (optionally followed by :SUBJECT)",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }

    /// The alert kind this anomaly should raise, which is also its name.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The subject point, when one was named and the subject is a point.
    pub fn point(&self) -> Option<&str> {
        match self {
            Anomaly::PowerOffFailure { point }
            | Anomaly::OverLimit { point }
            | Anomaly::PointSilent { point }
            | Anomaly::SensorFault { point }
            | Anomaly::UnregisteredDevice { point }
            | Anomaly::Flatline { point }
            | Anomaly::NeighbourMismatch { point }
            | Anomaly::CalibrationAbuse { point } => point.as_deref(),
            _ => None,
        }
    }

    /// The subject, when one was named.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Anomaly::PowerOffFailure { point }
            | Anomaly::OverLimit { point }
            | Anomaly::PointSilent { point }
            | Anomaly::SensorFault { point }
            | Anomaly::UnregisteredDevice { point }
            | Anomaly::Flatline { point }
            | Anomaly::NeighbourMismatch { point }
            | Anomaly::CalibrationAbuse { point } => point.as_deref(),
            Anomaly::SystemSilent { system: s }
            | Anomaly::MineOverCapacity { mine: s }
            | Anomaly::NoLeader { mine: s }
            | Anomaly::ProductionWhileSuspended { mine: s } => s.as_deref(),
            Anomaly::AreaOverQuota { area }
            | Anomaly::NoVideoWork { area }
            | Anomaly::ExplosivesUndeclared { area }
            | Anomaly::ConcealedWork { area } => area.as_deref(),
            Anomaly::RestrictedEntry { tag }
            | Anomaly::Overtime { tag }
            | Anomaly::Distress { tag } => tag.as_deref(),
            Anomaly::CameraFault { camera }
            | Anomaly::CameraTamper { camera }
            | Anomaly::AiEvent { camera } => camera.as_deref(),
            Anomaly::PowerInSealedArea { meter } | Anomaly::PowerAnomaly { meter } => {
                meter.as_deref()
            }
        }
    }

    /// How long the anomalous data lasts from its start, in milliseconds (the alert resolves after
    /// its own delay on top). For `overtime` this is the nominal 11 h of an 8-hour shift counted from
    /// the start; the exact end depends on the tag and is in [`crate::sim::Injection::until`]. An
    /// explosives issue is an instant: 0.
    pub fn duration_ms(&self) -> i64 {
        match self {
            Anomaly::PowerOffFailure { .. } => {
                POWER_OFF_PHASES.0 + POWER_OFF_PHASES.1 + POWER_OFF_PHASES.2
            }
            Anomaly::OverLimit { .. } => {
                OVER_LIMIT_PHASES.0 + OVER_LIMIT_PHASES.1 + OVER_LIMIT_PHASES.2
            }
            Anomaly::PointSilent { .. } => SILENT_MS,
            Anomaly::SensorFault { .. } => FAULT_MS,
            Anomaly::UnregisteredDevice { .. } => GHOST_MS,
            Anomaly::SystemSilent { .. } => MUTE_MS,
            Anomaly::Flatline { .. } => FLAT_MS,
            Anomaly::NeighbourMismatch { .. } => SPLIT_PHASES.0 + SPLIT_PHASES.1 + SPLIT_PHASES.2,
            Anomaly::CalibrationAbuse { .. } => CALIBRATION_MS,
            Anomaly::AreaOverQuota { .. } | Anomaly::MineOverCapacity { .. } => CROWD_MS,
            Anomaly::RestrictedEntry { .. } => ENTRY_MS,
            Anomaly::Overtime { .. } => 8 * 3_600_000 + OVERTIME_EXTRA_MS,
            Anomaly::NoLeader { .. } => NO_LEADER_MS,
            Anomaly::Distress { .. } => DISTRESS_MS,
            Anomaly::CameraFault { .. } => CAMERA_FAULT_MS,
            Anomaly::CameraTamper { .. } => TAMPER_MS,
            Anomaly::NoVideoWork { .. } => NO_VIDEO_MS,
            Anomaly::AiEvent { .. } => AI_EVENT_MS,
            Anomaly::PowerInSealedArea { .. } => SEALED_POWER_MS,
            Anomaly::PowerAnomaly { .. } => POWER_ANOMALY_MS,
            Anomaly::ExplosivesUndeclared { .. } => 0,
            Anomaly::ProductionWhileSuspended { .. } => PRODUCTION_MS,
            Anomaly::ConcealedWork { .. } => CONCEALED_MS,
        }
    }

    /// Position in [`Anomaly::NAMES`].
    pub(crate) fn index(&self) -> usize {
        match self {
            Anomaly::PowerOffFailure { .. } => 0,
            Anomaly::OverLimit { .. } => 1,
            Anomaly::PointSilent { .. } => 2,
            Anomaly::SensorFault { .. } => 3,
            Anomaly::UnregisteredDevice { .. } => 4,
            Anomaly::SystemSilent { .. } => 5,
            Anomaly::Flatline { .. } => 6,
            Anomaly::NeighbourMismatch { .. } => 7,
            Anomaly::CalibrationAbuse { .. } => 8,
            Anomaly::AreaOverQuota { .. } => 9,
            Anomaly::MineOverCapacity { .. } => 10,
            Anomaly::RestrictedEntry { .. } => 11,
            Anomaly::Overtime { .. } => 12,
            Anomaly::NoLeader { .. } => 13,
            Anomaly::Distress { .. } => 14,
            Anomaly::CameraFault { .. } => 15,
            Anomaly::CameraTamper { .. } => 16,
            Anomaly::NoVideoWork { .. } => 17,
            Anomaly::AiEvent { .. } => 18,
            Anomaly::PowerInSealedArea { .. } => 19,
            Anomaly::PowerAnomaly { .. } => 20,
            Anomaly::ExplosivesUndeclared { .. } => 21,
            Anomaly::ProductionWhileSuspended { .. } => 22,
            Anomaly::ConcealedWork { .. } => 23,
        }
    }

    /// The kinds the automatic schedule injects, in turn: every kind a producing mine can show
    /// within minutes — all but `power_anomaly` (it needs three days of learning) and
    /// `production_while_suspended` (it needs a suspension order).
    pub fn automatic_kinds() -> Vec<&'static str> {
        const SKIP: [&str; 2] = ["power_anomaly", "production_while_suspended"];
        Self::NAMES
            .iter()
            .copied()
            .filter(|n| !SKIP.contains(n))
            .collect()
    }

    /// The anomaly the `k`-th automatic schedule slot injects (subject picked).
    pub(crate) fn automatic(k: u64) -> Anomaly {
        let names = Self::automatic_kinds();
        let name = names[(k % names.len() as u64) as usize];
        Anomaly::parse(name).unwrap_or(Anomaly::PowerOffFailure { point: None })
    }
}

/// What [`Anomaly::plan`] sees of a mine.
pub(crate) struct Ctx<'a> {
    pub(crate) def: &'a MineDef,
    pub(crate) crew: &'a Crew,
    pub(crate) points: &'a Points,
    pub(crate) modes: &'a Modes,
    /// Effects already scheduled on the mine.
    pub(crate) effects: &'a [Effect],
    /// Anomalies injected on this mine before (rotates the picks of the first five kinds).
    pub(crate) nth: usize,
    /// Anomalies of this kind injected on this mine before (rotates the picks of the others, so the
    /// first of each kind gets the preferred subject).
    pub(crate) nth_kind: usize,
}

/// An anomaly turned into effects.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The subject of the alert it raises.
    pub(crate) subject: String,
    pub(crate) effects: Vec<Effect>,
    /// When the anomalous data ends.
    pub(crate) until: i64,
    /// Other alerts (kind, subject) it necessarily raises.
    pub(crate) also: Vec<(&'static str, String)>,
}

impl Planned {
    fn one(subject: String, effect: Effect, until: i64) -> Planned {
        Planned {
            subject,
            effects: vec![effect],
            until,
            also: Vec::new(),
        }
    }
}

impl Anomaly {
    /// Checks or picks the subject on the mine of `ctx` and turns the anomaly into effects
    /// starting at `at`.
    pub(crate) fn plan(&self, ctx: &Ctx<'_>, at: i64) -> Result<Planned, String> {
        let until = at + self.duration_ms();
        match self {
            Anomaly::PowerOffFailure { .. }
            | Anomaly::OverLimit { .. }
            | Anomaly::PointSilent { .. }
            | Anomaly::SensorFault { .. }
            | Anomaly::UnregisteredDevice { .. } => {
                let (subject, effect) = self.plan_point(ctx.def, at, ctx.nth)?;
                let mut planned = Planned::one(subject, effect, until);
                if matches!(self, Anomaly::PowerOffFailure { .. }) {
                    // At power-off level the point is over its alarm too (critical).
                    planned.also.push(("over_limit", planned.subject.clone()));
                }
                Ok(planned)
            }
            Anomaly::SystemSilent { system } => plan_system_silent(ctx, system.as_deref(), at),
            Anomaly::Flatline { point } => {
                let def = ctx.def;
                let ok = |i: usize| {
                    def.points[i].kind == PointKind::Ch4
                        && matches!(
                            def.point_area(i as u32).kind,
                            AreaKind::CoalFace | AreaKind::Heading | AreaKind::ReturnAirway
                        )
                };
                let i = named_or_picked(
                    ctx,
                    point.as_deref(),
                    "flatline",
                    ok,
                    "a methane point of a coal face, heading or return airway",
                )?;
                Ok(Planned::one(
                    def.points[i].id.to_string(),
                    Effect::Freeze {
                        point: i,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::NeighbourMismatch { point } => plan_split(ctx, point.as_deref(), at),
            Anomaly::CalibrationAbuse { point } => {
                let def = ctx.def;
                let i = named_or_picked(
                    ctx,
                    point.as_deref(),
                    "calibration_abuse",
                    |i| def.points[i].kind == PointKind::Ch4,
                    "a methane point",
                )?;
                Ok(Planned::one(
                    def.points[i].id.to_string(),
                    Effect::Calibrate {
                        point: i,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::AreaOverQuota { area } => plan_over_quota(ctx, area.as_deref(), at),
            Anomaly::MineOverCapacity { mine } => {
                check_mine(ctx.def, mine.as_deref(), "mine_over_capacity")?;
                let def = ctx.def;
                let total = def.max_underground + 5;
                if ctx.crew.open_areas().is_empty() {
                    let (per_area, _) =
                        ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
                    let room: u32 = (0..def.areas.len())
                        .filter(|&a| workable(def, a))
                        .map(|a| def.areas[a].quota.unwrap_or(0).saturating_sub(per_area[a]))
                        .sum();
                    let down: u32 = per_area.iter().sum();
                    if down + room < total {
                        return Err(format!(
                            "mine_over_capacity: mine {} has no workable area without a quota, and its quotas leave room for only {} more people, not the {} needed above max_underground {}",
                            def.id,
                            room,
                            total - down,
                            def.max_underground
                        ));
                    }
                }
                Ok(Planned::one(
                    def.id.to_string(),
                    Effect::Crowd {
                        total,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::RestrictedEntry { tag } => plan_entry(ctx, tag.as_deref(), at),
            Anomaly::Overtime { tag } => plan_overtime(ctx, tag.as_deref(), at),
            Anomaly::NoLeader { mine } => plan_no_leader(ctx, mine.as_deref(), at),
            Anomaly::Distress { tag } => {
                let (i, down) = one_tag(ctx, tag.as_deref(), "distress", at, until)?;
                Ok(Planned {
                    subject: ctx.crew.id(i).to_string(),
                    effects: vec![
                        Effect::Distress {
                            tag: i,
                            start: at,
                            end: until,
                        },
                        stay(i, down, until),
                    ],
                    until,
                    also: Vec::new(),
                })
            }
            Anomaly::CameraFault { camera } | Anomaly::CameraTamper { camera } => {
                let def = ctx.def;
                let fault = matches!(self, Anomaly::CameraFault { .. });
                let c = pick_camera(
                    ctx,
                    camera.as_deref(),
                    self.name(),
                    |c| video_survives(def, ctx.effects, c, at, until),
                    |c| {
                        if fault {
                            0
                        } else {
                            usize::from(def.cameras[c].watches != Watches::Seal)
                        }
                    },
                    "a camera whose area keeps another camera, or is not a face or heading",
                )?;
                Ok(Planned::one(
                    def.cameras[c].id.to_string(),
                    Effect::Camera {
                        camera: c,
                        state: if fault { "offline" } else { "occluded" },
                        event: None,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::AiEvent { camera } => {
                let def = ctx.def;
                let c = pick_camera(
                    ctx,
                    camera.as_deref(),
                    "ai_event",
                    |_| true,
                    |c| {
                        usize::from(!matches!(
                            def.cameras[c].watches,
                            Watches::Face | Watches::Heading
                        ))
                    },
                    "a camera",
                )?;
                Ok(Planned::one(
                    def.cameras[c].id.to_string(),
                    Effect::Camera {
                        camera: c,
                        state: "ok",
                        event: Some("no_helmet"),
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::NoVideoWork { area } => plan_no_video(ctx, area.as_deref(), at),
            Anomaly::PowerInSealedArea { meter } => {
                let def = ctx.def;
                let m = pick_meter(
                    ctx,
                    meter.as_deref(),
                    "power_in_sealed_area",
                    |m| {
                        let area = &def.areas[def.meters[m].area as usize];
                        matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted).then_some(0)
                    },
                    "a meter of a sealed or restricted area",
                )?;
                Ok(Planned::one(
                    def.meters[m].id.to_string(),
                    Effect::Load {
                        meter: m,
                        scale: 1.0,
                        add: SEALED_KW,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::PowerAnomaly { meter } => {
                let def = ctx.def;
                let m = pick_meter(
                    ctx,
                    meter.as_deref(),
                    "power_anomaly",
                    |m| {
                        let meter = &def.meters[m];
                        let area = &def.areas[meter.area as usize];
                        if !area.declared
                            || matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted)
                        {
                            return None;
                        }
                        match meter.load {
                            Load::Drainage => Some(0),
                            Load::Ventilation => Some(1),
                            Load::Other => Some(2),
                            _ => None,
                        }
                    },
                    "a steady meter (ventilation, drainage or other) of a declared working area",
                )?;
                let scale = if def.meters[m].load == Load::Ventilation {
                    0.45
                } else {
                    2.5
                };
                Ok(Planned::one(
                    def.meters[m].id.to_string(),
                    Effect::Load {
                        meter: m,
                        scale,
                        add: 0.0,
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::ExplosivesUndeclared { area } => plan_explosives(ctx, area.as_deref(), at),
            Anomaly::ProductionWhileSuspended { mine } => {
                let def = ctx.def;
                check_mine(def, mine.as_deref(), "production_while_suspended")?;
                if ctx.modes.at(at) != Mode::Suspended {
                    return Err(format!(
                        "production_while_suspended needs mine {} suspended in the simulator (registry status or Sim::set_suspended); it is not at that time",
                        def.id
                    ));
                }
                if !def
                    .meters
                    .iter()
                    .any(|m| matches!(m.load, Load::Hoist | Load::Face))
                {
                    return Err(format!(
                        "production_while_suspended shows production in hoist and face power; mine {} has no such meter",
                        def.id
                    ));
                }
                Ok(Planned::one(
                    def.id.to_string(),
                    Effect::Produce {
                        start: at,
                        end: until,
                    },
                    until,
                ))
            }
            Anomaly::ConcealedWork { area } => plan_concealed(ctx, area.as_deref(), at),
        }
    }

    /// The first five kinds: a point checked or picked, one effect.
    fn plan_point(&self, def: &MineDef, at: i64, nth: usize) -> Result<(String, Effect), String> {
        let mine = &def.id;
        let named = |p: &str| -> Result<usize, String> {
            def.point(p)
                .map(|i| i as usize)
                .ok_or_else(|| format!("mine {mine} has no point {p:?}"))
        };
        match self {
            Anomaly::PowerOffFailure { point } => {
                let ok = |i: usize| {
                    let p = &def.points[i];
                    !p.kind.is_switch() && p.limits.power_off.is_some() && !p.feeds.is_empty()
                };
                let i = match point {
                    Some(p) => {
                        let i = named(p)?;
                        if !ok(i) {
                            return Err(format!(
                                "power_off_failure needs a point with a power-off level and feeds; {p} of mine {mine} has not"
                            ));
                        }
                        i
                    }
                    None => pick(def, nth, |i| ok(i) && def.points[i].kind == PointKind::Ch4)
                        .or_else(|| pick(def, nth, ok))
                        .ok_or_else(|| {
                            format!("mine {mine} has no point with a power-off level and feeds")
                        })?,
                };
                let po = def.points[i].limits.power_off.unwrap_or(1.5);
                let target = po + (0.1 * po.abs()).max(0.1);
                let (ramp, hold, fall) = POWER_OFF_PHASES;
                Ok((
                    def.points[i].id.to_string(),
                    Effect::Level {
                        point: i,
                        target,
                        start: at,
                        ramp,
                        hold,
                        fall,
                        hold_feeds: true,
                    },
                ))
            }
            Anomaly::OverLimit { point } => {
                let any = |i: usize| {
                    let p = &def.points[i];
                    !p.kind.is_switch()
                        && (p.limits.alarm.is_some() || p.limits.alarm_low.is_some())
                };
                let clear_of_power_off = |i: usize| {
                    let l = &def.points[i].limits;
                    match (l.alarm, l.power_off) {
                        (Some(a), Some(po)) => po >= a + 0.1,
                        (Some(_), None) => true,
                        _ => false,
                    }
                };
                let i = match point {
                    Some(p) => {
                        let i = named(p)?;
                        if !any(i) {
                            return Err(format!(
                                "over_limit needs an analog point with an alarm limit; {p} of mine {mine} has none"
                            ));
                        }
                        i
                    }
                    None => pick(def, nth, |i| {
                        any(i) && clear_of_power_off(i) && def.points[i].kind == PointKind::Ch4
                    })
                    .or_else(|| pick(def, nth, |i| any(i) && clear_of_power_off(i)))
                    .or_else(|| pick(def, nth, any))
                    .ok_or_else(|| {
                        format!("mine {mine} has no analog point with an alarm limit")
                    })?,
                };
                let l = &def.points[i].limits;
                let target = match (l.alarm, l.power_off, l.alarm_low) {
                    (Some(a), Some(po), _) if po >= a + 0.1 => a + 0.4 * (po - a),
                    (Some(a), _, _) => a + (0.12 * a.abs()).max(0.05),
                    (None, _, Some(low)) => low - (0.02 * low.abs()).max(0.1),
                    (None, _, None) => 0.0,
                };
                let (ramp, hold, fall) = OVER_LIMIT_PHASES;
                Ok((
                    def.points[i].id.to_string(),
                    Effect::Level {
                        point: i,
                        target,
                        start: at,
                        ramp,
                        hold,
                        fall,
                        hold_feeds: false,
                    },
                ))
            }
            Anomaly::PointSilent { point } | Anomaly::SensorFault { point } => {
                let i = match point {
                    Some(p) => named(p)?,
                    None => pick(def, nth, |i| def.points[i].kind == PointKind::Ch4)
                        .or_else(|| pick(def, nth, |_| true))
                        .ok_or_else(|| format!("mine {mine} has no points"))?,
                };
                let id = def.points[i].id.to_string();
                Ok(if matches!(self, Anomaly::PointSilent { .. }) {
                    (
                        id,
                        Effect::Silent {
                            point: i,
                            start: at,
                            end: at + SILENT_MS,
                        },
                    )
                } else {
                    (
                        id,
                        Effect::Fault {
                            point: i,
                            start: at,
                            end: at + FAULT_MS,
                        },
                    )
                })
            }
            Anomaly::UnregisteredDevice { point } => {
                let id = match point {
                    Some(p) if def.point(p).is_some() => {
                        return Err(format!(
                            "unregistered_device needs an id mine {mine} does not define; {p} is defined"
                        ));
                    }
                    Some(p) => p.clone(),
                    None => (9001..)
                        .map(|n| format!("X{n}"))
                        .find(|id| def.point(id).is_none())
                        .unwrap_or_else(|| "X9001".into()),
                };
                Ok((
                    id.clone(),
                    Effect::Ghost {
                        id,
                        start: at,
                        end: at + GHOST_MS,
                    },
                ))
            }
            _ => Err(format!("{} is not a point anomaly", self.name())),
        }
    }
}

/// The point named `named`, checked with `ok`, or the `nth_kind` point satisfying `ok`.
fn named_or_picked(
    ctx: &Ctx<'_>,
    named: Option<&str>,
    kind: &str,
    ok: impl Fn(usize) -> bool,
    what: &str,
) -> Result<usize, String> {
    let def = ctx.def;
    match named {
        Some(p) => {
            let i = def
                .point(p)
                .ok_or_else(|| format!("mine {} has no point {p:?}", def.id))?
                as usize;
            if ok(i) {
                Ok(i)
            } else {
                Err(format!(
                    "{kind} needs {what}; {p} of mine {} is not one",
                    def.id
                ))
            }
        }
        None => pick(def, ctx.nth_kind, &ok)
            .ok_or_else(|| format!("{kind}: mine {} has no {what}", def.id)),
    }
}

/// A named mine subject must be the mine itself.
fn check_mine(def: &MineDef, named: Option<&str>, kind: &str) -> Result<(), String> {
    match named {
        Some(m) if m != &*def.id => Err(format!(
            "{kind} is about the mine; {m:?} is not mine {}",
            def.id
        )),
        _ => Ok(()),
    }
}

/// The `nth` of `candidates` (wrapping), or `None` when there are none.
fn rotate<T: Copy>(candidates: &[T], nth: usize) -> Option<T> {
    (!candidates.is_empty()).then(|| candidates[nth % candidates.len()])
}

fn plan_system_silent(ctx: &Ctx<'_>, system: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let system = match system {
        None | Some("video") => System::Video,
        Some(s) if s == &*def.id => System::Video,
        Some("personnel") => System::Personnel,
        Some("safety") => {
            return Err(
                "system_silent on the safety system would also make every point silent (point_silent); use video or personnel"
                    .into(),
            );
        }
        Some(s) => {
            return Err(format!(
                "system_silent takes video, personnel or the mine id {}; not {s:?}",
                def.id
            ));
        }
    };
    let until = at + MUTE_MS;
    Ok(Planned::one(
        def.id.to_string(),
        Effect::Mute {
            system,
            start: at,
            end: until,
        },
        until,
    ))
}

/// The points on the same airflow as `p`: its upwind and its downwind points.
fn neighbours(def: &MineDef, p: usize) -> impl Iterator<Item = usize> + '_ {
    def.points[p]
        .upwind
        .into_iter()
        .chain(def.downwind[p].iter().copied())
        .map(|i| i as usize)
}

/// Targets (low, high) that put `high` at least ~0.9 above `low` while below its own alarm and
/// power-off, without opening a 0.75 gap between either and any other neighbour.
fn split_targets(ctx: &Ctx<'_>, low: usize, high: usize) -> Option<(f64, f64)> {
    let def = ctx.def;
    if def.points[low].kind != PointKind::Ch4 || def.points[high].kind != PointKind::Ch4 {
        return None;
    }
    let l = &def.points[high].limits;
    let ceiling = match (l.alarm, l.power_off) {
        (Some(a), Some(po)) => a.min(po),
        (Some(a), None) => a,
        _ => return None,
    };
    let gap = (0.93 * ceiling - SPLIT_LOW).min(1.0);
    if gap < 0.88 {
        return None;
    }
    let high_to = SPLIT_LOW + gap;
    let apart = |v: f64, n: usize| -> bool {
        match ctx.points.range(n) {
            Some((lo, hi)) => (v + 0.05 - lo).max(hi - (v - 0.05)) >= 0.75,
            None => true,
        }
    };
    if neighbours(def, high).any(|n| n != low && apart(high_to, n))
        || neighbours(def, low).any(|n| n != high && apart(SPLIT_LOW, n))
    {
        return None;
    }
    Some((SPLIT_LOW, high_to))
}

fn plan_split(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let (low, high, (low_to, high_to)) = match named {
        Some(p) => {
            let low = def
                .point(p)
                .ok_or_else(|| format!("mine {} has no point {p:?}", def.id))?
                as usize;
            neighbours(def, low)
                .find_map(|n| split_targets(ctx, low, n).map(|t| (low, n, t)))
                .ok_or_else(|| {
                    format!(
                        "neighbour_mismatch: no methane neighbour of {p} can read 0.8 above it while staying below its own alarm without another neighbour pair drifting apart"
                    )
                })?
        }
        None => {
            let mut pairs = Vec::new();
            for (p, point) in def.points.iter().enumerate() {
                let Some(u) = point.upwind else { continue };
                let u = u as usize;
                // Like the known case: the upwind sensor reads nothing while gas shows downwind.
                for (order, low, high) in [(0, u, p), (1, p, u)] {
                    if let Some(t) = split_targets(ctx, low, high) {
                        pairs.push((order, low, high, t));
                    }
                }
            }
            // Most room below the higher point's alarm first.
            pairs.sort_by(|a, b| {
                b.3.1
                    .total_cmp(&a.3.1)
                    .then(a.0.cmp(&b.0))
                    .then(a.1.cmp(&b.1))
            });
            let (_, low, high, t) = rotate(&pairs, ctx.nth_kind).ok_or_else(|| {
                format!(
                    "neighbour_mismatch: mine {} has no methane pair on one airflow with room for a 0.8 gap below the alarm",
                    def.id
                )
            })?;
            (low, high, t)
        }
    };
    let (ramp, hold, fall) = SPLIT_PHASES;
    Ok(Planned::one(
        def.points[low].id.to_string(),
        Effect::Split {
            low,
            high,
            low_to,
            high_to,
            start: at,
            ramp,
            hold,
            fall,
        },
        at + ramp + hold + fall,
    ))
}

fn plan_over_quota(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let ok = |a: usize| workable(def, a) && def.areas[a].quota.is_some_and(|q| q > 0);
    let a = match named {
        Some(id) => {
            let a = def
                .area(id)
                .ok_or_else(|| format!("mine {} has no area {id:?}", def.id))?
                as usize;
            if !ok(a) {
                return Err(format!(
                    "area_over_quota needs an area people work in, with a quota; {id} of mine {} is not one",
                    def.id
                ));
            }
            a
        }
        None => {
            let mut c: Vec<usize> = (0..def.areas.len()).filter(|&a| ok(a)).collect();
            c.sort_by_key(|&a| {
                (
                    !matches!(def.areas[a].kind, AreaKind::CoalFace | AreaKind::Heading),
                    a,
                )
            });
            rotate(&c, ctx.nth_kind).ok_or_else(|| {
                format!(
                    "area_over_quota: mine {} has no workable area with a quota",
                    def.id
                )
            })?
        }
    };
    let q = def.areas[a].quota.unwrap_or(0);
    // Over the quota, and no more than 20 % over when the quota allows (a warning).
    let target = if q * 6 / 5 > q {
        (q + 2).min(q * 6 / 5)
    } else {
        q + 1
    };
    let (per_area, leaders) = ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
    let down: u32 = per_area.iter().sum();
    if down.saturating_sub(leaders) < target {
        return Err(format!(
            "area_over_quota: only {down} people are underground in mine {} at that time; {target} are needed in {}",
            def.id, def.areas[a].id
        ));
    }
    let until = at + CROWD_MS;
    Ok(Planned::one(
        def.areas[a].id.to_string(),
        Effect::Gather {
            area: a as u32,
            count: target,
            start: at,
            end: until,
        },
        until,
    ))
}

/// Tags an effect already uses.
fn busy(ctx: &Ctx<'_>, i: usize) -> bool {
    ctx.effects.iter().any(|e| e.tag() == Some(i))
}

/// `n` workers (not leaders, not used by another anomaly) underground at `from`, rotated by
/// `nth_kind`, preferring those still on the same trip at `to`: (tag, down).
fn pick_tags(ctx: &Ctx<'_>, from: i64, to: i64, n: usize) -> Result<Vec<(usize, i64)>, String> {
    let crew = ctx.crew;
    let mut c: Vec<(bool, usize, i64)> = (0..crew.len())
        .filter(|&i| !crew.is_leader(i) && !busy(ctx, i))
        .filter_map(|i| match crew.state(i, from, ctx.modes, ctx.effects) {
            Some((true, down)) => {
                let same = matches!(crew.state(i, to, ctx.modes, ctx.effects), Some((true, d)) if d == down);
                Some((!same, i, down))
            }
            _ => None,
        })
        .collect();
    if c.len() < n || n == 0 {
        return Err(format!(
            "mine {} has only {} workers underground at that time; {n} are needed",
            ctx.def.id,
            c.len()
        ));
    }
    let k = ctx.nth_kind * n % c.len();
    c.rotate_left(k);
    c.sort_by_key(|x| x.0);
    Ok(c[..n].iter().map(|x| (x.1, x.2)).collect())
}

/// The named tag (underground at `from`), or one picked: (tag, down).
fn one_tag(
    ctx: &Ctx<'_>,
    named: Option<&str>,
    kind: &str,
    from: i64,
    to: i64,
) -> Result<(usize, i64), String> {
    match named {
        Some(id) => {
            let i = ctx
                .crew
                .index_of(id)
                .ok_or_else(|| format!("mine {} has no tag {id:?}", ctx.def.id))?;
            match ctx.crew.state(i, from, ctx.modes, ctx.effects) {
                Some((true, down)) => Ok((i, down)),
                _ => Err(format!("{kind}: tag {id} is not underground at that time")),
            }
        }
        None => pick_tags(ctx, from, to, 1).map(|v| v[0]),
    }
}

/// Keeps a tag taken for an anomaly down until a little after it ends.
fn stay(tag: usize, down: i64, until: i64) -> Effect {
    Effect::Extend {
        tag,
        down,
        until: until + STAY_AFTER_MS,
    }
}

fn plan_entry(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let closed = |a: usize| matches!(def.areas[a].kind, AreaKind::Sealed | AreaKind::Restricted);
    let (named_tag, named_area) = match named {
        Some(s) => match def.area(s) {
            Some(a) => (None, Some(a as usize)),
            None => (Some(s), None),
        },
        None => (None, None),
    };
    let a = match named_area {
        Some(a) if closed(a) => a,
        Some(a) => {
            return Err(format!(
                "restricted_entry needs a sealed or restricted area; {} of mine {} is neither",
                def.areas[a].id, def.id
            ));
        }
        None => {
            let mut c: Vec<usize> = (0..def.areas.len()).filter(|&a| closed(a)).collect();
            // Without a quota (one person is not "over" it), restricted before sealed.
            c.sort_by_key(|&a| {
                (
                    def.areas[a].quota.is_some_and(|q| q < 1),
                    def.areas[a].kind != AreaKind::Restricted,
                    a,
                )
            });
            *c.first().ok_or_else(|| {
                format!(
                    "restricted_entry: mine {} has no sealed or restricted area",
                    def.id
                )
            })?
        }
    };
    let until = at + ENTRY_MS;
    let (i, down) = one_tag(ctx, named_tag, "restricted_entry", at, until)?;
    let area = &def.areas[a];
    let mut also = Vec::new();
    if area.quota.is_some_and(|q| q < 1) {
        also.push(("area_over_quota", area.id.to_string()));
    }
    Ok(Planned {
        subject: ctx.crew.id(i).to_string(),
        effects: vec![
            Effect::Move {
                tag: i,
                area: area.id.clone(),
                start: at,
                end: until,
            },
            stay(i, down, until),
        ],
        until,
        also,
    })
}

fn plan_overtime(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let crew = ctx.crew;
    let shift_ms = (def.shift_hours * 3_600_000.0) as i64;
    let mut c: Vec<(i64, usize)> = match named {
        Some(id) => {
            let (i, down) = one_tag(ctx, Some(id), "overtime", at, at)?;
            vec![(down, i)]
        }
        None => (0..crew.len())
            .filter(|&i| !crew.is_leader(i) && !busy(ctx, i))
            .filter_map(|i| match crew.state(i, at, ctx.modes, ctx.effects) {
                Some((true, down)) => Some((down, i)),
                _ => None,
            })
            .collect(),
    };
    // The worker down longest first, so the alert comes soonest.
    c.sort_unstable();
    if !c.is_empty() {
        let k = ctx.nth_kind % c.len();
        c.rotate_left(k);
    }
    for (down, i) in c {
        let until = down + shift_ms + OVERTIME_EXTRA_MS;
        let extend = Effect::Extend {
            tag: i,
            down,
            until,
        };
        // Its area must stay within quota while the next crews come and go.
        let home = crew.home(i) as usize;
        let fits = match def.areas[home].quota {
            None => true,
            Some(q) => {
                let mut effects = ctx.effects.to_vec();
                effects.push(extend.clone());
                (0..)
                    .map(|k| at + k * 5 * MIN_MS)
                    .take_while(|&t| t <= until)
                    .all(|t| crew.census(t, ctx.modes, &effects, def.areas.len()).0[home] <= q)
            }
        };
        if fits {
            return Ok(Planned::one(crew.id(i).to_string(), extend, until));
        }
    }
    Err(format!(
        "overtime: no worker of mine {} underground at that time can stay on without putting an area over quota",
        def.id
    ))
}

fn plan_no_leader(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    check_mine(def, named, "no_leader")?;
    let until = at + NO_LEADER_MS;
    let effect = Effect::NoLeader {
        start: at,
        end: until,
    };
    let mut effects = ctx.effects.to_vec();
    effects.push(effect.clone());
    let mut t = at;
    while t < until {
        let (per_area, _) = ctx.crew.census(t, ctx.modes, &effects, def.areas.len());
        let down: u32 = per_area.iter().sum();
        if down <= 10 {
            return Err(format!(
                "no_leader needs more than 10 people underground throughout; mine {} has {down} at one point",
                def.id
            ));
        }
        t += MIN_MS;
    }
    Ok(Planned::one(def.id.to_string(), effect, until))
}

/// A camera fault or tamper leaves video in the camera's area when it is a face or heading.
/// A camera fault or tamper on camera `c` in `[from, to)` leaves video in its area when that is a
/// face or heading: another camera there, not itself made to fail meanwhile by `effects`.
fn video_survives(def: &MineDef, effects: &[Effect], c: usize, from: i64, to: i64) -> bool {
    let a = def.cameras[c].area;
    let failing = |k: usize| {
        effects.iter().any(|e| {
            let (s, end) = e.span();
            matches!(e, Effect::Camera { camera, state, .. } if *camera == k && *state != "ok")
                && s < to
                && end > from
        })
    };
    !matches!(
        def.areas[a as usize].kind,
        AreaKind::CoalFace | AreaKind::Heading
    ) || def
        .cameras
        .iter()
        .enumerate()
        .any(|(k, o)| k != c && o.area == a && !failing(k))
}

fn pick_camera(
    ctx: &Ctx<'_>,
    named: Option<&str>,
    kind: &str,
    ok: impl Fn(usize) -> bool,
    rank: impl Fn(usize) -> usize,
    what: &str,
) -> Result<usize, String> {
    let def = ctx.def;
    match named {
        Some(id) => {
            let c = def
                .camera(id)
                .ok_or_else(|| format!("mine {} has no camera {id:?}", def.id))?
                as usize;
            if ok(c) {
                Ok(c)
            } else {
                Err(format!(
                    "{kind} needs {what}; {id} of mine {} is not one",
                    def.id
                ))
            }
        }
        None => {
            let mut c: Vec<usize> = (0..def.cameras.len()).filter(|&c| ok(c)).collect();
            c.sort_by_key(|&c| (rank(c), c));
            rotate(&c, ctx.nth_kind).ok_or_else(|| format!("{kind}: mine {} has no {what}", def.id))
        }
    }
}

fn pick_meter(
    ctx: &Ctx<'_>,
    named: Option<&str>,
    kind: &str,
    rank: impl Fn(usize) -> Option<usize>,
    what: &str,
) -> Result<usize, String> {
    let def = ctx.def;
    match named {
        Some(id) => {
            let m = def
                .meter(id)
                .ok_or_else(|| format!("mine {} has no meter {id:?}", def.id))?
                as usize;
            if rank(m).is_some() {
                Ok(m)
            } else {
                Err(format!(
                    "{kind} needs {what}; {id} of mine {} is not one",
                    def.id
                ))
            }
        }
        None => {
            let mut c: Vec<(usize, usize)> = (0..def.meters.len())
                .filter_map(|m| rank(m).map(|r| (r, m)))
                .collect();
            c.sort_unstable();
            rotate(&c, ctx.nth_kind)
                .map(|x| x.1)
                .ok_or_else(|| format!("{kind}: mine {} has no {what}", def.id))
        }
    }
}

fn plan_no_video(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let face = |a: usize| matches!(def.areas[a].kind, AreaKind::CoalFace | AreaKind::Heading);
    let cameras = |a: usize| -> Vec<usize> {
        (0..def.cameras.len())
            .filter(|&c| def.cameras[c].area as usize == a)
            .collect()
    };
    let (per_area, _) = ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
    let room = |a: usize| {
        def.areas[a]
            .quota
            .is_none_or(|q| per_area[a] + NO_VIDEO_PEOPLE as u32 <= q)
    };
    let a = match named {
        Some(id) => {
            let a = def
                .area(id)
                .ok_or_else(|| format!("mine {} has no area {id:?}", def.id))?
                as usize;
            if !face(a) || !room(a) {
                return Err(format!(
                    "no_video_work needs a coal face or heading with room for {NO_VIDEO_PEOPLE} more people; {id} of mine {} is not one",
                    def.id
                ));
            }
            a
        }
        None => {
            let mut c: Vec<usize> = (0..def.areas.len())
                .filter(|&a| face(a) && room(a))
                .collect();
            // An area without cameras raises nothing else; declared areas before undeclared.
            c.sort_by_key(|&a| (!cameras(a).is_empty(), !def.areas[a].declared, a));
            rotate(&c, ctx.nth_kind).ok_or_else(|| {
                format!(
                    "no_video_work: mine {} has no coal face or heading with room for {NO_VIDEO_PEOPLE} more people",
                    def.id
                )
            })?
        }
    };
    let until = at + NO_VIDEO_MS;
    let area = &def.areas[a];
    let mut effects = Vec::new();
    let mut also = Vec::new();
    for (i, down) in pick_tags(ctx, at, until, NO_VIDEO_PEOPLE)? {
        effects.push(Effect::Move {
            tag: i,
            area: area.id.clone(),
            start: at,
            end: until,
        });
        effects.push(stay(i, down, until));
    }
    for c in cameras(a) {
        effects.push(Effect::Camera {
            camera: c,
            state: "signal_loss",
            event: None,
            start: at,
            end: until,
        });
        also.push(("camera_fault", def.cameras[c].id.to_string()));
    }
    Ok(Planned {
        subject: area.id.to_string(),
        effects,
        until,
        also,
    })
}

fn plan_explosives(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let rank = |a: usize| {
        let area = &def.areas[a];
        match area.kind {
            AreaKind::Restricted => Some(0),
            AreaKind::Sealed => Some(1),
            _ if !area.declared => Some(2),
            _ => None,
        }
    };
    let mut also = Vec::new();
    let id: Arc<str> = match named {
        Some(id) => match def.area(id) {
            Some(a) if rank(a as usize).is_some() => def.areas[a as usize].id.clone(),
            Some(_) => {
                return Err(format!(
                    "explosives_undeclared needs a sealed, restricted or undeclared area; {id} of mine {} is declared and open",
                    def.id
                ));
            }
            None => {
                also.push(("unregistered_device", id.to_string()));
                Arc::from(id)
            }
        },
        None => {
            let mut c: Vec<(usize, usize)> = (0..def.areas.len())
                .filter_map(|a| rank(a).map(|r| (r, a)))
                .collect();
            c.sort_unstable();
            let (_, a) = rotate(&c, ctx.nth_kind).ok_or_else(|| {
                format!(
                    "explosives_undeclared: mine {} has no sealed, restricted or undeclared area",
                    def.id
                )
            })?;
            def.areas[a].id.clone()
        }
    };
    Ok(Planned {
        subject: id.to_string(),
        effects: vec![Effect::Issue {
            area: id,
            kg: 12.0,
            at,
        }],
        until: at,
        also,
    })
}

fn plan_concealed(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let meter = |a: usize| def.meters.iter().position(|m| m.area as usize == a);
    let rank = |a: usize| {
        let area = &def.areas[a];
        let m = usize::from(meter(a).is_none());
        if !area.declared {
            Some(m)
        } else if area.kind == AreaKind::Sealed {
            Some(2 + m)
        } else {
            None
        }
    };
    // Registered area index, and its id.
    let (a, id): (Option<usize>, Arc<str>) = match named {
        Some(id) => match def.area(id) {
            Some(a) if rank(a as usize).is_some() => {
                (Some(a as usize), def.areas[a as usize].id.clone())
            }
            Some(_) => {
                return Err(format!(
                    "concealed_work needs an undeclared or sealed area (or one the registry does not define); {id} of mine {} is declared and open",
                    def.id
                ));
            }
            None => (None, Arc::from(id)),
        },
        None => {
            let mut c: Vec<(usize, usize)> = (0..def.areas.len())
                .filter_map(|a| rank(a).map(|r| (r, a)))
                .collect();
            c.sort_unstable();
            match rotate(&c, ctx.nth_kind) {
                Some((_, a)) => (Some(a), def.areas[a].id.clone()),
                None => {
                    let id = (9901..)
                        .map(|n| format!("A{n}"))
                        .find(|id| def.area(id).is_none())
                        .unwrap_or_else(|| "A9901".into());
                    (None, Arc::from(id))
                }
            }
        }
    };
    let until = at + CONCEALED_MS;
    let mut effects = Vec::new();
    let mut also = Vec::new();
    let tags = pick_tags(ctx, at, until, CONCEALED_PEOPLE)?;
    for &(i, down) in &tags {
        effects.push(Effect::Move {
            tag: i,
            area: id.clone(),
            start: at,
            end: until,
        });
        effects.push(stay(i, down, until));
    }
    match a {
        None => also.push(("unregistered_device", id.to_string())),
        Some(a) => {
            let area = &def.areas[a];
            let closed = matches!(area.kind, AreaKind::Sealed | AreaKind::Restricted);
            if closed {
                for &(i, _) in &tags {
                    also.push(("restricted_entry", ctx.crew.id(i).to_string()));
                }
            }
            if area.quota.is_some_and(|q| (CONCEALED_PEOPLE as u32) > q) {
                also.push(("area_over_quota", area.id.to_string()));
            }
            if matches!(area.kind, AreaKind::CoalFace | AreaKind::Heading)
                && !def.cameras.iter().any(|c| c.area as usize == a)
            {
                also.push(("no_video_work", area.id.to_string()));
            }
            match meter(a) {
                Some(m) => {
                    // Clean, the meter reads 0.7 ± 0.1 of idle; this reads 1.04 to 1.07 of idle:
                    // above idle, yet under 4 deviations (and under the rules' 1 kW floor) from
                    // that baseline.
                    let idle = def.meters[m].idle_kw;
                    effects.push(Effect::Load {
                        meter: m,
                        scale: 0.05,
                        add: if idle > 0.0 { 1.02 * idle } else { 0.5 },
                        start: at,
                        end: until,
                    });
                    if closed {
                        also.push(("power_in_sealed_area", def.meters[m].id.to_string()));
                    }
                }
                None => {
                    effects.push(Effect::Issue {
                        area: id.clone(),
                        kg: 24.0,
                        at,
                    });
                    also.push(("explosives_undeclared", id.to_string()));
                }
            }
        }
    }
    Ok(Planned {
        subject: id.to_string(),
        effects,
        until,
        also,
    })
}

/// The `nth` (wrapping) point satisfying `ok`, preferring the T1/T0 locations a regulator watches
/// first (coal face, heading, upper corner), then the others, each in registry order.
fn pick(def: &MineDef, nth: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    let rank = |i: usize| match def.points[i].location {
        Some(Location::CoalFace | Location::Heading | Location::UpperCorner) => 0,
        _ => 1,
    };
    let mut c: Vec<usize> = (0..def.points.len()).filter(|&i| ok(i)).collect();
    c.sort_by_key(|&i| (rank(i), i));
    (!c.is_empty()).then(|| c[nth % c.len()])
}

impl fmt::Display for Anomaly {
    /// The spec [`Anomaly::parse`] reads back: `name` or `name:SUBJECT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subject() {
            Some(p) => write!(f, "{}:{p}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl FromStr for Anomaly {
    type Err = String;

    fn from_str(s: &str) -> Result<Anomaly, String> {
        Anomaly::parse(s)
    }
}

/// What an anomaly does to the telemetry, on a timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Drives a point towards `target`: eased in over `ramp`, held for `hold`, eased out over
    /// `fall`; with `hold_feeds`, its feed points stay energised (a power-off failure).
    Level {
        point: usize,
        target: f64,
        start: i64,
        ramp: i64,
        hold: i64,
        fall: i64,
        hold_feeds: bool,
    },
    /// The point does not report in `[start, end)`.
    Silent { point: usize, start: i64, end: i64 },
    /// The point reports status 128 in `[start, end)`.
    Fault { point: usize, start: i64, end: i64 },
    /// A point the registry does not define reports in `[start, end)`.
    Ghost { id: String, start: i64, end: i64 },
    /// The mine sends no batch of `system` in `[start, end)`.
    Mute {
        system: System,
        start: i64,
        end: i64,
    },
    /// The point repeats the value it had at `start` in `[start, end)`.
    Freeze { point: usize, start: i64, end: i64 },
    /// The point reports status 4 (calibration) in `[start, end)`.
    Calibrate { point: usize, start: i64, end: i64 },
    /// Drives `low` to `low_to` and `high` to `high_to` (each keeping a little of its own noise),
    /// with the easing of `Level`.
    Split {
        low: usize,
        high: usize,
        low_to: f64,
        high_to: f64,
        start: i64,
        ramp: i64,
        hold: i64,
        fall: i64,
    },
    /// A camera reports `state`, and `event` if any, in `[start, end)`.
    Camera {
        camera: usize,
        state: &'static str,
        event: Option<&'static str>,
        start: i64,
        end: i64,
    },
    /// A meter reads `kw * scale + add` in `[start, end)`.
    Load {
        meter: usize,
        scale: f64,
        add: f64,
        start: i64,
        end: i64,
    },
    /// One explosives issue to `area` at `at`.
    Issue { area: Arc<str>, kg: f64, at: i64 },
    /// The mine runs its production loads (and cuts coal) in `[start, end)` whatever its mode.
    Produce { start: i64, end: i64 },
    /// Workers from other areas keep `area` at `count` people in `[start, end)`.
    Gather {
        area: u32,
        count: u32,
        start: i64,
        end: i64,
    },
    /// Extra people go down so that `total` are underground in `[start, end)`.
    Crowd { total: u32, start: i64, end: i64 },
    /// A tag is in `area` in `[start, end)` (while underground).
    Move {
        tag: usize,
        area: Arc<str>,
        start: i64,
        end: i64,
    },
    /// A tag reports distress in `[start, end)` (while underground).
    Distress { tag: usize, start: i64, end: i64 },
    /// The trip of a tag that went down at `down` lasts at least until `until`.
    Extend { tag: usize, down: i64, until: i64 },
    /// Every leader is up in `[start, end)`; leaders due down then go down at `end`.
    NoLeader { start: i64, end: i64 },
}

impl Effect {
    /// The interval the effect covers.
    pub(crate) fn span(&self) -> (i64, i64) {
        match self {
            Effect::Level {
                start,
                ramp,
                hold,
                fall,
                ..
            }
            | Effect::Split {
                start,
                ramp,
                hold,
                fall,
                ..
            } => (*start, start + ramp + hold + fall),
            Effect::Issue { at, .. } => (*at, at + 1),
            Effect::Extend { down, until, .. } => (*down, *until),
            Effect::Silent { start, end, .. }
            | Effect::Fault { start, end, .. }
            | Effect::Ghost { start, end, .. }
            | Effect::Mute { start, end, .. }
            | Effect::Freeze { start, end, .. }
            | Effect::Calibrate { start, end, .. }
            | Effect::Camera { start, end, .. }
            | Effect::Load { start, end, .. }
            | Effect::Produce { start, end }
            | Effect::Gather { start, end, .. }
            | Effect::Crowd { start, end, .. }
            | Effect::Move { start, end, .. }
            | Effect::Distress { start, end, .. }
            | Effect::NoLeader { start, end } => (*start, *end),
        }
    }

    /// Until when the effect must be kept: an hour past its span (tags reported out, ramps back),
    /// a day for `NoLeader` (the returning leaders' trips are shaped by it until they come up).
    pub(crate) fn keep_until(&self) -> i64 {
        match self {
            Effect::NoLeader { end, .. } => end + crate::clock::DAY_MS,
            _ => self.span().1 + 3_600_000,
        }
    }

    /// Whether the effect acts at `t`.
    pub(crate) fn active(&self, t: i64) -> bool {
        let (s, e) = self.span();
        s <= t && t < e
    }

    /// The tag the effect is about, if any.
    pub(crate) fn tag(&self) -> Option<usize> {
        match self {
            Effect::Move { tag, .. }
            | Effect::Distress { tag, .. }
            | Effect::Extend { tag, .. } => Some(*tag),
            _ => None,
        }
    }

    /// How far a `Level` or `Split` effect has pulled its point towards the target at `t`, 0 to 1:
    /// quadratic in (slow start, so neighbours disagree only briefly), flat, quadratic out (fast
    /// drop).
    pub(crate) fn weight(&self, t: i64) -> f64 {
        let (start, ramp, hold, fall) = match *self {
            Effect::Level {
                start,
                ramp,
                hold,
                fall,
                ..
            }
            | Effect::Split {
                start,
                ramp,
                hold,
                fall,
                ..
            } => (start, ramp, hold, fall),
            _ => return 0.0,
        };
        let o = t - start;
        if o < 0 || o >= ramp + hold + fall {
            0.0
        } else if o < ramp {
            let x = o as f64 / ramp as f64;
            x * x
        } else if o < ramp + hold {
            1.0
        } else {
            let x = (o - ramp - hold) as f64 / fall as f64;
            (1.0 - x) * (1.0 - x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomalies_parse_from_their_alert_kind_names_with_an_optional_subject() {
        assert_eq!(
            Anomaly::parse("power_off_failure"),
            Ok(Anomaly::PowerOffFailure { point: None })
        );
        assert_eq!(
            Anomaly::parse("over_limit:P0101"),
            Ok(Anomaly::OverLimit {
                point: Some("P0101".into())
            })
        );
        assert_eq!(
            Anomaly::parse(" point_silent:P0105 "),
            Ok(Anomaly::PointSilent {
                point: Some("P0105".into())
            })
        );
        assert_eq!(
            Anomaly::parse("sensor_fault").map(|a| a.name()),
            Ok("sensor_fault")
        );
        assert_eq!(
            Anomaly::parse("unregistered_device:X9001").map(|a| a.to_string()),
            Ok("unregistered_device:X9001".into())
        );
        assert_eq!(
            Anomaly::parse("camera_tamper:C09"),
            Ok(Anomaly::CameraTamper {
                camera: Some("C09".into())
            })
        );
        assert_eq!(
            Anomaly::parse("restricted_entry:T1005").map(|a| a.to_string()),
            Ok("restricted_entry:T1005".into())
        );
        assert_eq!(
            Anomaly::parse("concealed_work:A1601").map(|a| a.subject().map(String::from)),
            Ok(Some("A1601".into()))
        );
        assert!(
            Anomaly::parse("meteor_strike")
                .expect_err("unknown")
                .contains("power_off_failure")
        );
        assert!(Anomaly::parse("over_limit:P 01").is_err());
        assert_eq!(Anomaly::NAMES.len(), 24);
        for (k, name) in Anomaly::NAMES.iter().enumerate() {
            let a: Anomaly = name.parse().expect("each name parses");
            assert_eq!(a.name(), *name);
            assert_eq!(a.index(), k);
            assert_eq!(a.to_string(), *name);
            assert_eq!(a.subject(), None);
            let b: Anomaly = format!("{name}:X1").parse().expect("with a subject");
            assert_eq!(b.subject(), Some("X1"));
            assert_eq!(b.to_string(), format!("{name}:X1"));
        }
    }

    #[test]
    fn a_level_effect_eases_in_holds_and_eases_out() {
        let e = Effect::Level {
            point: 0,
            target: 1.6,
            start: 1000,
            ramp: 100,
            hold: 50,
            fall: 100,
            hold_feeds: true,
        };
        assert_eq!(e.weight(999), 0.0);
        assert_eq!(e.weight(1000), 0.0);
        assert!((e.weight(1050) - 0.25).abs() < 1e-12);
        assert_eq!(e.weight(1100), 1.0);
        assert_eq!(e.weight(1149), 1.0);
        assert!((e.weight(1200) - 0.25).abs() < 1e-12);
        assert_eq!(e.weight(1250), 0.0);
        assert!(e.active(1249) && !e.active(1250));
    }
}
