//! From the file as written ([`super::schema`]) to a [`MineDef`]: ids checked, references resolved
//! to indices, limits resolved from class defaults and overrides, reverse indices built; the first
//! problem is an error naming its file and line.

use super::fast;
use super::model::{
    Area, AreaKind, Camera, Idx, Limits, Location, Meter, MineDef, Point, PointKind, UtcOffset,
};
use super::schema::{MineFile, PointFile, Text};
use crate::config::ConfigError;
use crate::id;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

impl MineDef {
    /// Parses and validates one mine file.
    pub fn load(path: &Path) -> Result<MineDef, ConfigError> {
        let source = crate::config::read_text(path)?;
        Self::parse(path, &source)
    }

    /// Parses and validates a mine from TOML text; `path` is used in errors. Files in the
    /// registry's usual shape are read by a fast path ([`super::fast`]); anything else, and every
    /// syntax or schema error, goes through the `toml` crate.
    pub fn parse(path: &Path, source: &str) -> Result<MineDef, ConfigError> {
        let file = match fast::parse(source) {
            Some(f) => f,
            None => Self::parse_toml(path, source)?,
        };
        compile(path, source, file)
    }

    /// The general path: the `toml` crate into the file's structure.
    pub(super) fn parse_toml<'a>(
        path: &Path,
        source: &'a str,
    ) -> Result<MineFile<'a>, ConfigError> {
        toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))
    }
}

/// Validates a parsed file and compiles it into its [`MineDef`]; every error names its line.
pub(super) fn compile(path: &Path, src: &str, f: MineFile<'_>) -> Result<MineDef, ConfigError> {
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

    let utc_offset = match &f.utc_offset {
        None => UtcOffset::default(),
        Some(s) => UtcOffset::parse(s.get_ref()).ok_or_else(|| {
            err(
                s.span(),
                format!(
                    "utc_offset {:?} is not an offset like \"+08:00\" (±HH:MM, -12:00 to +14:00)",
                    s.get_ref()
                ),
            )
        })?,
    };

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
        utc_offset,
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
