//! The mine registry (contract §2): one TOML file per mine, parsed strictly (unknown keys are
//! errors), validated (duplicate ids, dangling references, impossible limits) with every error naming
//! its file and line, then compiled into a [`MineDef`] whose points, areas, cameras and meters are
//! addressed by index so the rules engine never hashes a string twice for one reading.

use crate::config::ConfigError;
use crate::id;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

mod fast;

/// A mine's declared operating status. A regulator's order (stored) outranks the registry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

// ---- The file as written -------------------------------------------------------------------

/// A string of the file with its place: borrowed from the text by the fast path, owned when the
/// `toml` crate read it (it may have had escapes to undo).
type Text<'a> = Spanned<Cow<'a, str>>;

fn default_shift_hours() -> f64 {
    8.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MineFile<'a> {
    id: Text<'a>,
    name: String,
    status: MineStatus,
    max_underground: u32,
    #[serde(default)]
    suspended_crew: u32,
    #[serde(default = "default_shift_hours")]
    shift_hours: f64,
    #[serde(default)]
    area: Vec<AreaFile<'a>>,
    #[serde(default)]
    point: Vec<PointFile<'a>>,
    #[serde(default)]
    camera: Vec<CameraFile<'a>>,
    #[serde(default)]
    meter: Vec<MeterFile<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaFile<'a> {
    id: Text<'a>,
    name: String,
    kind: AreaKind,
    #[serde(default)]
    quota: Option<u32>,
    #[serde(default = "yes")]
    declared: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointFile<'a> {
    id: Text<'a>,
    area: Text<'a>,
    kind: PointKind,
    #[serde(default)]
    location: Option<Spanned<Location>>,
    #[serde(default)]
    alarm: Option<f64>,
    #[serde(default)]
    power_off: Option<f64>,
    #[serde(default)]
    restore: Option<f64>,
    #[serde(default)]
    alarm_low: Option<f64>,
    #[serde(default)]
    restore_low: Option<f64>,
    #[serde(default)]
    feeds: Vec<Text<'a>>,
    #[serde(default)]
    upwind: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraFile<'a> {
    id: Text<'a>,
    area: Text<'a>,
    watches: Watches,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterFile<'a> {
    id: Text<'a>,
    area: Text<'a>,
    load: Load,
    #[serde(default)]
    idle_kw: f64,
}

// ---- The compiled definition -----------------------------------------------------------------

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
    point_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    area_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    camera_index: HashMap<Arc<str>, Idx>,
    #[serde(skip)]
    meter_index: HashMap<Arc<str>, Idx>,
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

    /// Parses and validates one mine file.
    pub fn load(path: &Path) -> Result<MineDef, ConfigError> {
        let source = crate::config::read_text(path)?;
        Self::parse(path, &source)
    }

    /// Parses and validates a mine from TOML text; `path` is used in errors. Files in the
    /// registry's usual shape are read by a fast path ([`fast`]); anything else, and every
    /// syntax or schema error, goes through the `toml` crate.
    pub fn parse(path: &Path, source: &str) -> Result<MineDef, ConfigError> {
        let file = match fast::parse(source) {
            Some(f) => f,
            None => Self::parse_toml(path, source)?,
        };
        compile(path, source, file)
    }

    /// The general path: the `toml` crate into the file's structure.
    fn parse_toml<'a>(path: &Path, source: &'a str) -> Result<MineFile<'a>, ConfigError> {
        toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))
    }
}

fn compile(path: &Path, src: &str, f: MineFile<'_>) -> Result<MineDef, ConfigError> {
    let err = |span: std::ops::Range<usize>, msg: String| {
        ConfigError::at(path, src, Some(span.start), msg)
    };
    let check_id = |s: &Text<'_>, what: &str| -> Result<Arc<str>, ConfigError> {
        if id::is_valid(s.get_ref()) {
            Ok(Arc::from(s.get_ref().as_ref()))
        } else {
            Err(err(
                s.span(),
                format!(
                    "{what} id {:?} is not 1-64 characters of A-Z a-z 0-9 _ - .",
                    s.get_ref()
                ),
            ))
        }
    };
    let mine_id = check_id(&f.id, "mine")?;
    if !(f.shift_hours > 0.0 && f.shift_hours <= 24.0) {
        return Err(ConfigError::at_key(
            path,
            src,
            "shift_hours",
            format!("shift_hours {} must be within (0, 24]", f.shift_hours),
        ));
    }

    let mut area_index = HashMap::new();
    let mut areas = Vec::with_capacity(f.area.len());
    for a in &f.area {
        let id = check_id(&a.id, "area")?;
        if area_index.insert(id.clone(), areas.len() as Idx).is_some() {
            return Err(err(a.id.span(), format!("duplicate area id {id:?}")));
        }
        areas.push(Area {
            id,
            name: a.name.clone(),
            kind: a.kind,
            quota: a.quota,
            declared: a.declared,
        });
    }
    // The owner ("point", its id) is only formatted for an error: a million points load here.
    let area_ref = |s: &Text<'_>, what: &str, id: &str| -> Result<Idx, ConfigError> {
        area_index
            .get(s.get_ref().as_ref())
            .copied()
            .ok_or_else(|| {
                err(
                    s.span(),
                    format!(
                        "{what} {id} names area {:?}, which is not defined in this file",
                        s.get_ref()
                    ),
                )
            })
    };

    let mut point_index = HashMap::with_capacity(f.point.len());
    let mut point_ids = Vec::with_capacity(f.point.len());
    for p in &f.point {
        let id = check_id(&p.id, "point")?;
        point_ids.push(id.clone());
        if point_index.insert(id, point_index.len() as Idx).is_some() {
            return Err(err(
                p.id.span(),
                format!("duplicate point id {:?}", p.id.get_ref()),
            ));
        }
    }
    let mut points = Vec::with_capacity(f.point.len());
    for (p, id) in f.point.iter().zip(point_ids) {
        let area = area_ref(&p.area, "point", &id)?;
        let location = p.location.as_ref().map(|l| *l.get_ref());
        if p.kind == PointKind::Ch4 && location.is_none() && p.alarm.is_none() {
            return Err(err(
                p.id.span(),
                format!(
                    "ch4 point {id} needs a `location` (its methane location class) or an explicit `alarm`"
                ),
            ));
        }
        if let (Some(l), true) = (&p.location, p.kind != PointKind::Ch4) {
            return Err(err(
                l.span(),
                format!("`location` is a methane location class; point {id} is not ch4"),
            ));
        }
        let limits = resolve_limits(p, location, areas[area as usize].kind)
            .map_err(|m| err(p.id.span(), format!("point {id}: {m}")))?;
        let mut feeds = Vec::with_capacity(p.feeds.len());
        for fd in &p.feeds {
            let Some(&i) = point_index.get(fd.get_ref().as_ref()) else {
                return Err(err(
                    fd.span(),
                    format!(
                        "point {id} lists feed {:?}, which is not a defined point",
                        fd.get_ref()
                    ),
                ));
            };
            if f.point[i as usize].kind != PointKind::Feed {
                return Err(err(
                    fd.span(),
                    format!(
                        "point {id} lists {:?} among its feeds, but that point is not of kind feed",
                        fd.get_ref()
                    ),
                ));
            }
            feeds.push(i);
        }
        let upwind = match &p.upwind {
            None => None,
            Some(u) => {
                let Some(&i) = point_index.get(u.get_ref().as_ref()) else {
                    return Err(err(
                        u.span(),
                        format!(
                            "point {id} names upwind {:?}, which is not a defined point",
                            u.get_ref()
                        ),
                    ));
                };
                if u.get_ref().as_ref() == &*id {
                    return Err(err(
                        u.span(),
                        format!("point {id} names itself as its upwind"),
                    ));
                }
                if f.point[i as usize].kind != p.kind {
                    return Err(err(
                        u.span(),
                        format!(
                            "point {id} and its upwind {:?} measure different things",
                            u.get_ref()
                        ),
                    ));
                }
                Some(i)
            }
        };
        points.push(Point {
            id,
            area,
            kind: p.kind,
            location,
            limits,
            feeds,
            upwind,
        });
    }

    let mut camera_index = HashMap::new();
    let mut cameras = Vec::with_capacity(f.camera.len());
    for c in &f.camera {
        let id = check_id(&c.id, "camera")?;
        if camera_index
            .insert(id.clone(), cameras.len() as Idx)
            .is_some()
        {
            return Err(err(c.id.span(), format!("duplicate camera id {id:?}")));
        }
        let area = area_ref(&c.area, "camera", &id)?;
        cameras.push(Camera {
            id,
            area,
            watches: c.watches,
        });
    }

    let mut meter_index = HashMap::new();
    let mut meters = Vec::with_capacity(f.meter.len());
    for m in &f.meter {
        let id = check_id(&m.id, "meter")?;
        if meter_index
            .insert(id.clone(), meters.len() as Idx)
            .is_some()
        {
            return Err(err(m.id.span(), format!("duplicate meter id {id:?}")));
        }
        if !(m.idle_kw.is_finite() && m.idle_kw >= 0.0) {
            return Err(err(
                m.id.span(),
                format!("meter {id}: idle_kw must be a number >= 0"),
            ));
        }
        let area = area_ref(&m.area, "meter", &id)?;
        meters.push(Meter {
            id,
            area,
            load: m.load,
            idle_kw: m.idle_kw,
        });
    }

    let mut feed_dependents = vec![Vec::new(); points.len()];
    let mut downwind = vec![Vec::new(); points.len()];
    for (i, p) in points.iter().enumerate() {
        for &fd in &p.feeds {
            feed_dependents[fd as usize].push(i as Idx);
        }
        if let Some(u) = p.upwind {
            downwind[u as usize].push(i as Idx);
        }
    }

    Ok(MineDef {
        id: mine_id,
        name: f.name,
        status: f.status,
        max_underground: f.max_underground,
        suspended_crew: f.suspended_crew,
        shift_hours: f.shift_hours,
        areas,
        points,
        cameras,
        meters,
        source: Some(path.to_path_buf()),
        registered: true,
        point_index,
        area_index,
        camera_index,
        meter_index,
        feed_dependents,
        downwind,
    })
}

/// Class defaults by kind (and methane location), then the point's own overrides; then sanity.
fn resolve_limits(
    p: &PointFile<'_>,
    location: Option<Location>,
    area: AreaKind,
) -> Result<Limits, String> {
    let mut l = Limits::default();
    match p.kind {
        PointKind::Ch4 => {
            if let Some(loc) = location {
                let (alarm, power_off, restore) = loc.ch4_defaults();
                l.alarm = Some(alarm);
                l.power_off = power_off;
                l.restore = Some(restore);
            }
        }
        PointKind::Co => {
            l.alarm = Some(24.0);
        }
        PointKind::O2 => {
            l.alarm_low = Some(20.0);
        }
        PointKind::Co2 => {
            l.alarm = Some(0.5);
        }
        PointKind::Temperature => {
            // Above 26 °C at a face work is shortened; above 30 °C it stops (critical).
            l.alarm = Some(26.0);
            l.power_off = Some(30.0);
        }
        PointKind::AirSpeed => match area {
            AreaKind::CoalFace | AreaKind::Heading => {
                l.alarm = Some(4.0);
                l.alarm_low = Some(0.25);
            }
            _ => l.alarm = Some(8.0),
        },
        _ => {}
    }
    if p.alarm.is_some() {
        l.alarm = p.alarm;
        // An overridden alarm with no explicit restore restores at the alarm itself.
        if p.restore.is_none() {
            l.restore = None;
        }
    }
    if p.power_off.is_some() {
        l.power_off = p.power_off;
    }
    if p.restore.is_some() {
        l.restore = p.restore;
    }
    if p.alarm_low.is_some() {
        l.alarm_low = p.alarm_low;
        if p.restore_low.is_none() {
            l.restore_low = None;
        }
    }
    if p.restore_low.is_some() {
        l.restore_low = p.restore_low;
    }
    if l.restore.is_none() {
        l.restore = l.alarm;
    }
    if l.restore_low.is_none() {
        l.restore_low = l.alarm_low;
    }
    for (name, v) in [
        ("alarm", l.alarm),
        ("power_off", l.power_off),
        ("restore", l.restore),
        ("alarm_low", l.alarm_low),
        ("restore_low", l.restore_low),
    ] {
        if let Some(v) = v
            && !v.is_finite()
        {
            return Err(format!("{name} must be a finite number"));
        }
    }
    if let (Some(a), Some(r)) = (l.alarm, l.restore)
        && r > a
    {
        return Err(format!(
            "restore {r} is above alarm {a}; it must be at or below it"
        ));
    }
    if let (Some(a), Some(po)) = (l.alarm, l.power_off)
        && po < a
    {
        return Err(format!("power_off {po} is below alarm {a}"));
    }
    if let (Some(a), Some(r)) = (l.alarm_low, l.restore_low)
        && r < a
    {
        return Err(format!(
            "restore_low {r} is below alarm_low {a}; it must be at or above it"
        ));
    }
    if p.power_off.is_some() && l.alarm.is_none() {
        return Err("power_off is set but there is no alarm limit".into());
    }
    Ok(l)
}

// ---- The registry directory --------------------------------------------------------------------

/// All mines of the registry directory.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Mines by id.
    pub mines: HashMap<Arc<str>, Arc<MineDef>>,
    /// Which mine each file defined at its last good load, so a file that turns bad keeps its mine.
    pub files: HashMap<PathBuf, Arc<str>>,
}

/// The outcome of (re)loading a registry directory.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Files that failed; their previous definitions (if any) were kept.
    pub errors: Vec<ConfigError>,
    /// Mines whose definition changed, was added, or was removed (with the file).
    pub changed: Vec<Arc<str>>,
}

impl Registry {
    /// Loads every `*.toml` file in `dir`, in name order. Stops at nothing: each bad file is
    /// reported and the rest are loaded.
    pub fn load_dir(dir: &Path) -> (Registry, LoadReport) {
        let mut r = Registry::default();
        let report = r.reload(dir);
        (r, report)
    }

    /// Loads `dir` strictly: the first problem is an error.
    pub fn load_strict(dir: &Path) -> Result<Registry, ConfigError> {
        let (r, mut report) = Self::load_dir(dir);
        if report.errors.is_empty() {
            Ok(r)
        } else {
            Err(report.errors.remove(0))
        }
    }

    /// Reloads from `dir`: good files replace their mines, a bad file keeps its mine's old
    /// definition, and a file that disappeared takes its mine away.
    pub fn reload(&mut self, dir: &Path) -> LoadReport {
        let mut report = LoadReport::default();
        let mut paths = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect::<Vec<_>>(),
            Err(e) => {
                report.errors.push(ConfigError::file(
                    dir,
                    format!("cannot read registry directory: {e}"),
                ));
                return report;
            }
        };
        paths.sort();
        let mut mines: HashMap<Arc<str>, Arc<MineDef>> = HashMap::new();
        let mut files: HashMap<PathBuf, Arc<str>> = HashMap::new();
        for (path, loaded) in load_all(paths) {
            let def = match loaded {
                Ok(def) => def,
                Err(e) => {
                    if let Some(old_id) = self.files.get(&path)
                        && let Some(old) = self.mines.get(old_id)
                        && !mines.contains_key(old_id)
                    {
                        mines.insert(old_id.clone(), old.clone());
                        files.insert(path.clone(), old_id.clone());
                    }
                    report.errors.push(e);
                    continue;
                }
            };
            if let Some(other) = mines.get(&def.id) {
                let first = other
                    .source
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let src = std::fs::read_to_string(&path).unwrap_or_default();
                // The top-level `id = …` line.
                let line = src
                    .lines()
                    .position(|l| {
                        l.trim_start().starts_with("id")
                            && l.split('=').next().is_some_and(|k| k.trim() == "id")
                    })
                    .map(|i| i + 1);
                report.errors.push(ConfigError {
                    path: path.clone(),
                    line,
                    message: format!("mine {:?} is already defined in {first}", def.id),
                });
                continue;
            }
            files.insert(path, def.id.clone());
            mines.insert(def.id.clone(), Arc::new(def));
        }
        for (id, def) in &mines {
            let same = self.mines.get(id).is_some_and(|old| same_def(old, def));
            if !same {
                report.changed.push(id.clone());
            }
        }
        for id in self.mines.keys() {
            if !mines.contains_key(id) {
                report.changed.push(id.clone());
            }
        }
        report.changed.sort();
        self.mines = mines;
        self.files = files;
        report
    }

    /// Total points over all mines.
    pub fn point_count(&self) -> usize {
        self.mines.values().map(|m| m.points.len()).sum()
    }
}

fn same_def(a: &MineDef, b: &MineDef) -> bool {
    // Definitions are compared by their serialized form: cheap at reload, exact.
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

/// Loads every file, in parallel across the machine's cores (a national registry is thousands of
/// files, and parsing them is most of a restart), and gives the results back in `paths`' order.
fn load_all(paths: Vec<PathBuf>) -> Vec<(PathBuf, Result<MineDef, ConfigError>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(paths.len().div_ceil(8))
        .max(1);
    if threads == 1 {
        return paths
            .into_iter()
            .map(|p| {
                let r = MineDef::load(&p);
                (p, r)
            })
            .collect();
    }
    let chunk = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| (p.clone(), MineDef::load(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(paths.len());
        for (w, part) in workers.into_iter().zip(paths.chunks(chunk)) {
            match w.join() {
                Ok(done) => out.extend(done),
                // A parser panic is a bug; report each file of the chunk rather than lose it.
                Err(_) => out.extend(part.iter().map(|p| {
                    (
                        p.clone(),
                        Err(ConfigError::file(
                            p,
                            "internal error while loading this file",
                        )),
                    )
                })),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = r#"
id = "M1"
name = "Test"
status = "producing"
max_underground = 100

[[area]]
id = "A1"
name = "face"
kind = "coal_face"
quota = 10

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
feeds = ["F1"]
upwind = "P0"

[[point]]
id = "P0"
area = "A1"
kind = "ch4"
location = "intake"

[[point]]
id = "F1"
area = "A1"
kind = "feed"
"#;

    fn parse(src: &str) -> Result<MineDef, ConfigError> {
        MineDef::parse(Path::new("m.toml"), src)
    }

    #[test]
    fn a_good_mine_compiles_with_class_defaults_and_reverse_indices() {
        let m = parse(GOOD).expect("valid");
        let p1 = m.point("P1").expect("P1");
        let l = m.points[p1 as usize].limits;
        assert_eq!(
            (l.alarm, l.power_off, l.restore),
            (Some(1.0), Some(1.5), Some(1.0))
        );
        let f1 = m.point("F1").expect("F1");
        assert_eq!(m.feed_dependents[f1 as usize], vec![p1]);
        let p0 = m.point("P0").expect("P0");
        assert_eq!(m.downwind[p0 as usize], vec![p1]);
        assert_eq!(m.points[p0 as usize].limits.alarm, Some(0.5));
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let src = GOOD.replace("quota = 10", "quota = 10\ncolour = \"red\"");
        let e = parse(&src).expect_err("unknown key");
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn a_dangling_feed_names_its_line() {
        let src = GOOD.replace("feeds = [\"F1\"]", "feeds = [\"F9\"]");
        let e = parse(&src).expect_err("dangling feed");
        assert_eq!(e.line, Some(18), "{e}");
        assert!(e.message.contains("F9"), "{e}");
    }

    #[test]
    fn duplicate_ids_and_missing_areas_are_refused() {
        let dup = GOOD.replace("id = \"P0\"", "id = \"P1\"");
        assert!(
            parse(&dup)
                .expect_err("dup")
                .message
                .contains("duplicate point id")
        );
        let bad_area = GOOD.replace(
            "area = \"A1\"\nkind = \"feed\"",
            "area = \"A7\"\nkind = \"feed\"",
        );
        let e = parse(&bad_area).expect_err("area");
        assert!(e.message.contains("A7"), "{e}");
    }

    #[test]
    fn a_feed_that_is_not_a_feed_point_is_refused() {
        let src = GOOD.replace("feeds = [\"F1\"]", "feeds = [\"P0\"]");
        assert!(
            parse(&src)
                .expect_err("kind")
                .message
                .contains("not of kind feed")
        );
    }

    #[test]
    fn overrides_replace_class_defaults_and_impossible_limits_are_refused() {
        let src = GOOD.replace(
            "location = \"coal_face\"",
            "location = \"coal_face\"\nalarm = 0.8",
        );
        let m = parse(&src).expect("valid");
        let l = m.points[m.point("P1").expect("P1") as usize].limits;
        assert_eq!(
            (l.alarm, l.power_off, l.restore),
            (Some(0.8), Some(1.5), Some(0.8))
        );
        let bad = GOOD.replace(
            "location = \"coal_face\"",
            "location = \"coal_face\"\nrestore = 1.2",
        );
        assert!(
            parse(&bad)
                .expect_err("restore")
                .message
                .contains("restore")
        );
    }

    #[test]
    fn a_reload_keeps_the_old_definition_of_a_file_that_turned_bad() {
        let dir = tempfile_dir("reload");
        let file = dir.join("m1.toml");
        std::fs::write(&file, GOOD).expect("write");
        let (mut reg, report) = Registry::load_dir(&dir);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.changed.len(), 1);
        std::fs::write(
            &file,
            GOOD.replace("max_underground = 100", "max_underground = \"lots\""),
        )
        .expect("write");
        let report = reg.reload(&dir);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].line, Some(5), "{}", report.errors[0]);
        assert!(report.changed.is_empty());
        assert_eq!(reg.mines.get("M1").map(|m| m.max_underground), Some(100));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The fast path reads `src` (it does not give up) into the same definition as the `toml`
    /// crate does.
    fn same_through_both_paths(src: &str) {
        let path = Path::new("m.toml");
        let fast = fast::parse(src).unwrap_or_else(|| panic!("the fast path gave up on:\n{src}"));
        let general = MineDef::parse_toml(path, src).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (
            compile(path, src, fast).unwrap_or_else(|e| panic!("{e}")),
            compile(path, src, general).unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(same_def(&a, &b), "{a:?}\n!=\n{b:?}");
    }

    #[test]
    fn the_fast_path_reads_what_toml_reads_the_same_way() {
        same_through_both_paths(GOOD);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry");
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            same_through_both_paths(&std::fs::read_to_string(&path).unwrap_or_default());
        }
        // Comments, CRLF, blanks, literal strings, integers for floats, explicit defaults.
        let variant = GOOD
            .replace(
                "kind = \"coal_face\"",
                "kind = 'coal_face'   # a literal string",
            )
            .replace(
                "location = \"intake\"",
                "location=\"intake\"\nalarm = 1\npower_off = 1.5e0",
            )
            .replace(
                "quota = 10",
                "quota = 10\ndeclared = false\n\t# indented comment",
            )
            .replace("feeds = [\"F1\"]", "feeds = [ 'F1' , ]")
            .replace(
                "max_underground = 100",
                "max_underground = 100\nshift_hours = 12",
            )
            .replace('\n', "\r\n");
        same_through_both_paths(&variant);
    }

    #[test]
    fn what_the_fast_path_leaves_is_still_read_and_errors_keep_their_line() {
        // An escape and a multi-line array: the toml crate reads them.
        let odd = GOOD
            .replace("name = \"Test\"", "name = \"Te\\u0073t\"")
            .replace("feeds = [\"F1\"]", "feeds = [\n  \"F1\",\n]");
        assert!(fast::parse(&odd).is_none());
        let m = parse(&odd).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name, "Test");
        assert_eq!(m.points[0].feeds, vec![2]);
        // A semantic error found after the fast path still names its line.
        let dangling = GOOD.replace("upwind = \"P0\"", "upwind = \"P9\"");
        assert!(fast::parse(&dangling).is_some());
        let e = parse(&dangling).expect_err("dangling upwind");
        assert_eq!(e.line, Some(line_containing(&dangling, "upwind")), "{e}");
    }

    #[test]
    fn a_registry_file_that_is_not_utf8_is_refused_with_file_offset_and_line() {
        let dir = tempfile_dir("latin1");
        let file = dir.join("m1.toml");
        // The name "Töst" saved in Latin-1 (ö is the one byte 0xf6), on line 3.
        let text = GOOD.replacen("name = \"Test\"", "name = \"T\u{f6}st\"", 1);
        let bytes = text.replace('\u{f6}', "\u{1}").into_bytes();
        let at = bytes.iter().position(|&b| b == 1).expect("the marker");
        let mut bytes = bytes;
        bytes[at] = 0xf6;
        std::fs::write(&file, &bytes).expect("write");
        let e = Registry::load_strict(&dir).expect_err("Latin-1 text");
        assert_eq!(e.path, file);
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains(&format!("offset {at} ")), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mw-reg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    /// Both paths over `src`: when the fast path reads it, the `toml` crate reads it too, into
    /// the same definition or the same error.
    fn both_paths_agree(src: &str) -> Result<(), TestCaseError> {
        let path = Path::new("m.toml");
        let Some(fast) = fast::parse(src) else {
            return Ok(());
        };
        let general = MineDef::parse_toml(path, src).map_err(|e| {
            TestCaseError::fail(format!("the fast path read what toml refuses: {e}\n{src}"))
        })?;
        match (compile(path, src, fast), compile(path, src, general)) {
            (Ok(a), Ok(b)) => prop_assert!(same_def(&a, &b), "{a:?}\n!=\n{b:?}"),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "fast {a:?}\ngeneral {b:?}\n{src}"),
        }
        Ok(())
    }

    /// One edit of a file's text.
    #[derive(Debug, Clone)]
    enum Edit {
        /// Remove up to `n` bytes at a position.
        Delete(usize, usize),
        /// Insert text at a position.
        Insert(usize, String),
        /// Write a line again after itself.
        Repeat(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let text = prop_oneof![
            "[ -~]{0,8}",
            "\\PC{0,3}",
            Just("\n".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("[[point]]\n".to_owned()),
            Just("# c".to_owned()),
            Just(" = ".to_owned()),
            Just("\r\n".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just("1e999".to_owned()),
            Just("-1".to_owned()),
        ];
        prop_oneof![
            (any::<usize>(), 1usize..12).prop_map(|(at, n)| Edit::Delete(at, n)),
            (any::<usize>(), text).prop_map(|(at, t)| Edit::Insert(at, t)),
            any::<usize>().prop_map(Edit::Repeat),
        ]
    }

    /// The char boundary at or before `at % (len + 1)`.
    fn boundary(s: &str, at: usize) -> usize {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    fn apply(mut s: String, edits: &[Edit]) -> String {
        for e in edits {
            match e {
                Edit::Delete(at, n) => {
                    let from = boundary(&s, *at);
                    let to = boundary(&s, from + n).max(from);
                    s.replace_range(from..to, "");
                }
                Edit::Insert(at, text) => {
                    let at = boundary(&s, *at);
                    s.insert_str(at, text);
                }
                Edit::Repeat(at) => {
                    let lines: Vec<&str> = s.split_inclusive('\n').collect();
                    let i = at % lines.len().max(1);
                    let mut out = String::with_capacity(s.len() * 2);
                    for (j, l) in lines.iter().enumerate() {
                        out.push_str(l);
                        if j == i {
                            out.push_str(l);
                        }
                    }
                    s = out;
                }
            }
        }
        s
    }

    /// A parse that did not panic; an error must name the file and a line.
    fn no_panic_and_placed(result: Result<MineDef, ConfigError>) -> Result<(), TestCaseError> {
        if let Err(e) = result {
            prop_assert!(e.path == Path::new("m.toml") && e.line.is_some(), "{e}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_give_a_mine_or_an_error_with_its_line(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let path = Path::new("m.toml");
            match crate::config::decode_text(path, bytes.clone()) {
                Ok(text) => {
                    no_panic_and_placed(parse(&text))?;
                    both_paths_agree(&text)?;
                }
                Err(e) => {
                    let bad = std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to());
                    prop_assert!(bad.is_some_and(|at| e.message.contains(&format!("offset {at} "))), "{e}");
                    prop_assert!(e.line.is_some(), "{e}");
                }
            }
        }

        #[test]
        fn a_valid_file_with_bytes_replaced_names_the_first_invalid_one(
            at in any::<usize>(),
            byte in 0x80u8..=0xff,
        ) {
            let mut bytes = GOOD.as_bytes().to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            let e = crate::config::decode_text(Path::new("m.toml"), bytes)
                .expect_err("a lone byte above 0x7f in ASCII text is not UTF-8");
            let line = GOOD[..at].matches('\n').count() + 1;
            prop_assert_eq!(e.line, Some(line), "{}", e);
            prop_assert!(e.message.contains(&format!("offset {at} ")), "{}", e);
        }

        #[test]
        fn an_edited_file_parses_or_names_its_line_and_both_paths_agree(
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let src = apply(GOOD.to_owned(), &edits);
            no_panic_and_placed(parse(&src))?;
            both_paths_agree(&src)?;
        }

        #[test]
        fn any_number_in_any_numeric_key_parses_or_names_its_line(
            key in proptest::sample::select(vec![
                "max_underground", "suspended_crew", "shift_hours", "quota", "alarm",
                "power_off", "restore", "alarm_low", "restore_low", "idle_kw",
            ]),
            value in prop_oneof![
                (-5i64..200).prop_map(|n| n.to_string()),
                (-1.0f64..30.0).prop_map(|x| format!("{x:?}")),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|x| format!("{x:?}").replace("NaN", "nan")),
                Just("1e400".to_owned()),
                Just("-0.0".to_owned()),
            ],
        ) {
            let line = format!("\n{key} = {value}\n");
            // Each key into a table that takes it (a repeated key is an error too).
            let src = match key {
                "max_underground" | "suspended_crew" | "shift_hours" => GOOD.replacen("\n[[area]]", &format!("{line}\n[[area]]"), 1),
                "quota" => GOOD.replacen("quota = 10\n", &line[1..], 1),
                "idle_kw" => format!("{GOOD}\n[[meter]]\nid = \"M1\"\narea = \"A1\"\nload = \"face\"{line}"),
                _ => GOOD.replacen("location = \"intake\"\n", &format!("location = \"intake\"{line}"), 1),
            };
            no_panic_and_placed(parse(&src))?;
            both_paths_agree(&src)?;
        }
    }

    fn line_containing(src: &str, needle: &str) -> usize {
        src.lines()
            .position(|l| l.contains(needle))
            .map_or(0, |i| i + 1)
    }
}

#[cfg(test)]
mod example_registry {
    use super::*;

    #[test]
    fn the_shipped_example_registry_loads_strictly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry");
        let reg = Registry::load_strict(&dir).unwrap_or_else(|e| panic!("{e}"));
        let m = reg.mines.get("140100001").expect("example mine");
        assert!(m.points.len() >= 100, "{}", m.points.len());
        assert!(m.points.iter().any(|p| !p.feeds.is_empty()));
        assert!(m.points.iter().any(|p| p.upwind.is_some()));
        assert!(m.areas.iter().any(|a| a.kind == AreaKind::Sealed));
    }
}
