//! `neighbour_mismatch`: a methane point drops to ~0.03 % while its neighbour on the airflow reads
//! ~0.9–1.0 % more, below its own alarm, for 8 minutes (5 needed); then both return. The subject
//! is the lower point (picked: preferably a pair with plenty of room below the alarm, such as a
//! gas-drainage roadway's).

use super::pick::Of;
use super::plan::{Ctx, Planned, Planner, rotate};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, MineDef, SubjectType};

/// Ramp, hold and fall of a split (5 minutes needed).
const SPLIT_PHASES: (i64, i64, i64) = (MIN_MS, 8 * MIN_MS, MIN_MS);
/// The lower point of a split reads about this.
const SPLIT_LOW: f64 = 0.03;
/// Share of its own AR(1) noise a split point keeps around its target, so it still varies.
const SPLIT_NOISE: f64 = 0.2;

/// The planner of [`Kind::NeighbourMismatch`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::NeighbourMismatch;
    const ORDER: usize = 7;
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = SPLIT_PHASES.0 + SPLIT_PHASES.1 + SPLIT_PHASES.2;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        plan_split(ctx, named, at)
    }

    /// Both points are driven towards their targets (eased like a level), each keeping a little
    /// of its own noise.
    fn shape_safety(effect: &Effect, readings: &mut Readings<'_>, t: i64) {
        if let Effect::Split {
            low,
            high,
            low_to,
            high_to,
            ..
        } = *effect
        {
            let w = effect.weight(t);
            if w > 0.0 {
                for (p, to) in [(low, low_to), (high, high_to)] {
                    let target = to + SPLIT_NOISE * readings.noise(p);
                    let v = readings.value(p);
                    readings.set_value(p, (v + (target - v) * w).max(0.0));
                }
            }
        }
    }
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

/// The split of `named` (the lower point) and a neighbour, or of the pair picked.
fn plan_split(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
    let def = ctx.def;
    let (low, high, (low_to, high_to)) = match named {
        Some(p) => {
            let low = Of::Point.named(def, p)?;
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

