//! `sensor_unresponsive`: a face methane point is pinned low (about 0.01 %, a little noisy, as a
//! wrapped sensor or one moved into fresh air reads) for 45 minutes (three whole windows of 10
//! needed) while its return keeps following the shift's work; then it senses again. The subject is
//! the point (picked: a coal-face T1 with a return downwind first, whose return reads highest at
//! idle; then headings and other face points with a methane point downwind). Not in the automatic
//! schedule.
//!
//! The pinned point never repeats one value (it is not flat) and the gap to its neighbours stays well
//! under the 0.8 % a neighbour mismatch needs.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::rng::{hash, unit};
use crate::values::Readings;
use minewatch_core::registry::{AreaKind, Location, PointKind};
use minewatch_core::{Kind, MineDef, SubjectType};

/// How long the point is pinned.
const PINNED_MS: i64 = 45 * MIN_MS;
/// The level it is pinned at.
const LEVEL: f64 = 0.01;
/// Its own noise around the level: a share of its AR(1) noise and an even jitter of this half-width.
const NOISE_SHARE: f64 = 0.3;
const JITTER: f64 = 0.015;

/// The planner of [`Kind::SensorUnresponsive`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::SensorUnresponsive;
    const ORDER: usize = 26;
    const SUBJECT: SubjectType = SubjectType::Point;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = PINNED_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let i = named_or_picked(
            def,
            Of::Point,
            named,
            Self::KIND,
            "a face methane point with a methane point downwind on its airflow",
            ctx.nth_kind,
            |i| rank(def, i),
        )?;
        let until = at + PINNED_MS;
        Ok(Planned::one(
            def.points[i].id.to_string(),
            Effect::Pin {
                point: i,
                level: LEVEL,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The pinned point reads its level with a little noise of its own, never below 0.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Pin { point, level, .. } = *effect
            && effect.active(t)
        {
            let jitter = JITTER * (2.0 * unit(hash(point as u64, &[t as u64])) - 1.0);
            let v = level + NOISE_SHARE * readings.noise(point) + jitter;
            readings.set_value(point, v.max(0.0));
        }
    }
}

/// The rank of point `i` as a subject: a face methane point (T1, T0, heading, shearer) with a
/// methane point downwind; coal faces with a return downwind first (their return reads highest
/// at idle, so the gap is clearest), then headings with a return, then the rest.
fn rank(def: &MineDef, i: usize) -> Option<u8> {
    let p = &def.points[i];
    if p.kind != PointKind::Ch4 {
        return None;
    }
    let face = match p.location {
        Some(l) => matches!(
            l,
            Location::CoalFace | Location::UpperCorner | Location::Heading | Location::Shearer
        ),
        None => matches!(
            def.areas[p.area as usize].kind,
            AreaKind::CoalFace | AreaKind::Heading
        ),
    };
    let down = || {
        def.downwind[i]
            .iter()
            .map(|&d| &def.points[d as usize])
            .filter(|d| d.kind == PointKind::Ch4)
    };
    if !face || down().next().is_none() {
        return None;
    }
    let to_return = |l: Location| down().any(|d| d.location == Some(l));
    Some(match p.location {
        Some(Location::CoalFace) if to_return(Location::CoalFaceReturn) => 0,
        Some(Location::Heading) if to_return(Location::HeadingReturn) => 1,
        _ => 2,
    })
}
