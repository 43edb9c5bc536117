//! The registry file as written: the serde structure of one mine's TOML file, strict
//! (`deny_unknown_fields`), with the place of every id and reference kept for error messages.
//! Both readers fill it: the fast path ([`super::fast`]) and the `toml` crate; [`super::compile`]
//! turns it into a [`MineDef`](super::MineDef).

use super::model::{AreaKind, Load, Location, MineStatus, PointKind, Watches};
use serde::Deserialize;
use std::borrow::Cow;
use toml::Spanned;

/// A string of the file with its place: borrowed from the text by the fast path, owned when the
/// `toml` crate read it (it may have had escapes to undo).
pub(super) type Text<'a> = Spanned<Cow<'a, str>>;

pub(super) fn default_shift_hours() -> f64 {
    8.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MineFile<'a> {
    pub(super) id: Text<'a>,
    pub(super) name: String,
    pub(super) status: MineStatus,
    pub(super) max_underground: u32,
    #[serde(default)]
    pub(super) suspended_crew: u32,
    #[serde(default = "default_shift_hours")]
    pub(super) shift_hours: f64,
    /// `±HH:MM`; checked when compiled, so the error names its line.
    #[serde(default)]
    pub(super) utc_offset: Option<Text<'a>>,
    #[serde(default)]
    pub(super) area: Vec<AreaFile<'a>>,
    #[serde(default)]
    pub(super) point: Vec<PointFile<'a>>,
    #[serde(default)]
    pub(super) camera: Vec<CameraFile<'a>>,
    #[serde(default)]
    pub(super) meter: Vec<MeterFile<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AreaFile<'a> {
    pub(super) id: Text<'a>,
    pub(super) name: String,
    pub(super) kind: AreaKind,
    #[serde(default)]
    pub(super) quota: Option<u32>,
    #[serde(default = "yes")]
    pub(super) declared: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PointFile<'a> {
    pub(super) id: Text<'a>,
    pub(super) area: Text<'a>,
    pub(super) kind: PointKind,
    #[serde(default)]
    pub(super) location: Option<Spanned<Location>>,
    #[serde(default)]
    pub(super) alarm: Option<f64>,
    #[serde(default)]
    pub(super) power_off: Option<f64>,
    #[serde(default)]
    pub(super) restore: Option<f64>,
    #[serde(default)]
    pub(super) alarm_low: Option<f64>,
    #[serde(default)]
    pub(super) restore_low: Option<f64>,
    #[serde(default)]
    pub(super) feeds: Vec<Text<'a>>,
    #[serde(default)]
    pub(super) upwind: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CameraFile<'a> {
    pub(super) id: Text<'a>,
    pub(super) area: Text<'a>,
    pub(super) watches: Watches,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MeterFile<'a> {
    pub(super) id: Text<'a>,
    pub(super) area: Text<'a>,
    pub(super) load: Load,
    #[serde(default)]
    pub(super) idle_kw: f64,
}
