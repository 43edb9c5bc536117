//! The registry's vocabulary (statuses, area, point and location kinds, limits, cameras, meters)
//! and the compiled [`MineDef`]: everything addressed by index, with the reverse indices the
//! rules engine uses on its hot path.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A mine's declared operating status. A regulator's order (stored) outranks the registry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MineStatus {
    /// Producing normally.
    Producing,
    /// Under a suspension order: only `suspended_crew` may be underground, no production.
    Suspended,
    /// Under construction.
    Construction,
    /// Closed: nothing is expected to report.
    Closed,
}

impl MineStatus {
    /// The status as written in TOML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MineStatus::Producing => "producing",
            MineStatus::Suspended => "suspended",
            MineStatus::Construction => "construction",
            MineStatus::Closed => "closed",
        }
    }

    /// Parses `producing`, `suspended`, `construction` or `closed`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "producing" => MineStatus::Producing,
            "suspended" => MineStatus::Suspended,
            "construction" => MineStatus::Construction,
            "closed" => MineStatus::Closed,
            _ => return None,
        })
    }
}

/// What an area is; sealed and restricted areas must not see people, power or explosives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    CoalFace,
    Heading,
    ReturnAirway,
    IntakeAirway,
    MainReturn,
    DrainageRoadway,
    Sealed,
    Restricted,
    Wellhead,
    Surface,
    Other,
}

/// What a safety point measures or switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    Ch4,
    Co,
    O2,
    Co2,
    Temperature,
    AirSpeed,
    Smoke,
    Dust,
    Pressure,
    Feed,
    Fan,
    Door,
}

impl PointKind {
    /// Switch points read 0 or 1; the rest are analog.
    pub fn is_switch(self) -> bool {
        matches!(
            self,
            PointKind::Feed | PointKind::Fan | PointKind::Door | PointKind::Smoke
        )
    }

    /// A short label for messages.
    pub fn label(self) -> &'static str {
        match self {
            PointKind::Ch4 => "CH4",
            PointKind::Co => "CO",
            PointKind::O2 => "O2",
            PointKind::Co2 => "CO2",
            PointKind::Temperature => "Temperature",
            PointKind::AirSpeed => "Air speed",
            PointKind::Smoke => "Smoke",
            PointKind::Dust => "Dust",
            PointKind::Pressure => "Pressure",
            PointKind::Feed => "Feed",
            PointKind::Fan => "Fan",
            PointKind::Door => "Door",
        }
    }

    /// The unit values are read in.
    pub fn unit(self) -> &'static str {
        match self {
            PointKind::Ch4 | PointKind::O2 | PointKind::Co2 => "%",
            PointKind::Co => " ppm",
            PointKind::Temperature => " °C",
            PointKind::AirSpeed => " m/s",
            PointKind::Dust => " mg/m³",
            PointKind::Pressure => " Pa",
            _ => "",
        }
    }
}

/// Methane sensor location classes (domain.md's threshold table), which set the default limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Coal face, T1.
    CoalFace,
    /// Upper corner of a coal face, T0.
    UpperCorner,
    /// Coal-face return airway, T2.
    CoalFaceReturn,
    /// Heading face, T1.
    Heading,
    /// Shearer-mounted.
    Shearer,
    /// Heading return, T2.
    HeadingReturn,
    /// Intake of a high-gas/outburst face, or of series ventilation.
    Intake,
    /// Dedicated gas-drainage roadway.
    DrainageRoadway,
    /// Trolley-locomotive loading point.
    LoadingPoint,
    /// Main or wing return airway.
    MainReturn,
}

impl Location {
    /// `(alarm, power_off, restore)` by the Coal Mine Safety Regulations.
    pub fn ch4_defaults(self) -> (f64, Option<f64>, f64) {
        match self {
            Location::CoalFace | Location::UpperCorner | Location::Heading | Location::Shearer => {
                (1.0, Some(1.5), 1.0)
            }
            Location::CoalFaceReturn | Location::HeadingReturn => (1.0, Some(1.0), 1.0),
            Location::Intake | Location::LoadingPoint => (0.5, Some(0.5), 0.5),
            Location::DrainageRoadway => (2.5, Some(2.5), 2.5),
            Location::MainReturn => (0.75, None, 0.75),
        }
    }
}

/// Alarm limits of one analog point, after class defaults and per-point overrides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Limits {
    /// Raise at or above this value.
    pub alarm: Option<f64>,
    /// Power-off level (methane) or the level at which the alert turns critical.
    pub power_off: Option<f64>,
    /// Resolve below this value (hysteresis; at most `alarm`).
    pub restore: Option<f64>,
    /// Raise below this value (O2, air speed).
    pub alarm_low: Option<f64>,
    /// Resolve at or above this value (at least `alarm_low`).
    pub restore_low: Option<f64>,
}

/// What a camera watches; a camera turned from a seal is the gravest tamper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Watches {
    Face,
    Heading,
    Seal,
    Shaft,
    Other,
}

/// The load a meter feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    Hoist,
    Ventilation,
    Drainage,
    Transport,
    Face,
    Other,
}

/// Index of a point, area, camera or meter within its mine.
pub type Idx = u32;

/// An area of a mine.
#[derive(Debug, Clone, Serialize)]
pub struct Area {
    pub id: Arc<str>,
    pub name: String,
    pub kind: AreaKind,
    pub quota: Option<u32>,
    pub declared: bool,
}

/// A safety point.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub id: Arc<str>,
    /// Index into [`MineDef::areas`].
    pub area: Idx,
    pub kind: PointKind,
    pub location: Option<Location>,
    pub limits: Limits,
    /// Feed points (indices) that must read 0 while this point is at power-off level.
    pub feeds: Vec<Idx>,
    /// The point upwind on the same airflow.
    pub upwind: Option<Idx>,
}

/// A camera.
#[derive(Debug, Clone, Serialize)]
pub struct Camera {
    pub id: Arc<str>,
    pub area: Idx,
    pub watches: Watches,
}

/// An electricity meter.
#[derive(Debug, Clone, Serialize)]
pub struct Meter {
    pub id: Arc<str>,
    pub area: Idx,
    pub load: Load,
    pub idle_kw: f64,
}

/// A mine's offset from UTC (`utc_offset = "+08:00"` in its file): the zone the dashboard shows
/// the mine's times in. Whole minutes from -12:00 to +14:00; Chinese mines' `+08:00` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    /// Minutes east of UTC.
    minutes: i32,
}

impl Default for UtcOffset {
    /// China Standard Time, `+08:00`.
    fn default() -> Self {
        UtcOffset { minutes: 8 * 60 }
    }
}

impl UtcOffset {
    /// Parses `±HH:MM` (`+08:00`, `-03:30`, `+00:00`); `None` for anything else or out of range.
    pub fn parse(s: &str) -> Option<UtcOffset> {
        let b = s.as_bytes();
        let sign = match b.first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digit = |i: usize| {
            b.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| i32::from(c - b'0'))
        };
        if b.len() != 6 || b[3] != b':' {
            return None;
        }
        let (hours, mins) = (digit(1)? * 10 + digit(2)?, digit(4)? * 10 + digit(5)?);
        let minutes = sign * (hours * 60 + mins);
        (mins < 60 && (-12 * 60..=14 * 60).contains(&minutes)).then_some(UtcOffset { minutes })
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i32 {
        self.minutes
    }
}

impl std::fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.abs();
        write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One mine, compiled: everything addressed by index, with the reverse indices rules need.
#[derive(Debug, Clone, Serialize)]
pub struct MineDef {
    pub id: Arc<str>,
    pub name: String,
    /// Status from the registry file (a stored regulator's order may outrank it).
    pub status: MineStatus,
    pub max_underground: u32,
    pub suspended_crew: u32,
    pub shift_hours: f64,
    /// The zone its times are shown in.
    pub utc_offset: UtcOffset,
    pub areas: Vec<Area>,
    pub points: Vec<Point>,
    pub cameras: Vec<Camera>,
    pub meters: Vec<Meter>,
    /// The file this mine came from (None for a mine seen on MQTT but not registered).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Whether the registry defines this mine at all.
    pub registered: bool,
    #[serde(skip)]
    pub(super) point_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    pub(super) area_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    pub(super) camera_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    pub(super) meter_index: HashMap<Arc<str>, Idx>,
    /// For each point: the methane points that list it among their `feeds`.
    #[serde(skip)]
    pub feed_dependents: Vec<Vec<Idx>>,
    /// For each point: the points that name it as their `upwind`.
    #[serde(skip)]
    pub downwind: Vec<Vec<Idx>>,
}

impl MineDef {
    /// The definition used for a mine that reports but is not in the registry: nothing defined.
    pub fn unregistered(id: &str) -> Self {
        MineDef {
            id: Arc::from(id),
            name: String::new(),
            status: MineStatus::Producing,
            max_underground: 0,
            suspended_crew: 0,
            shift_hours: 8.0,
            utc_offset: UtcOffset::default(),
            areas: Vec::new(),
            points: Vec::new(),
            cameras: Vec::new(),
            meters: Vec::new(),
            source: None,
            registered: false,
            point_index: HashMap::new(),
            area_index: HashMap::new(),
            camera_index: HashMap::new(),
            meter_index: HashMap::new(),
            feed_dependents: Vec::new(),
            downwind: Vec::new(),
        }
    }

    /// Index of a point by id.
    #[inline]
    pub fn point(&self, id: &str) -> Option<Idx> {
        self.point_index.get(id).copied()
    }
    /// Index of an area by id.
    #[inline]
    pub fn area(&self, id: &str) -> Option<Idx> {
        self.area_index.get(id).copied()
    }
    /// Index of a camera by id.
    #[inline]
    pub fn camera(&self, id: &str) -> Option<Idx> {
        self.camera_index.get(id).copied()
    }
    /// Index of a meter by id.
    #[inline]
    pub fn meter(&self, id: &str) -> Option<Idx> {
        self.meter_index.get(id).copied()
    }

    /// The area of a point.
    pub fn point_area(&self, p: Idx) -> &Area {
        &self.areas[self.points[p as usize].area as usize]
    }
}
