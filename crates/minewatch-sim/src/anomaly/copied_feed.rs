//! `copied_feed`: for 50 minutes the mine's safety points report another simulated mine's values
//! (of one tick before), under their own ids: one mine's data uploaded under another's code. Each
//! analog point takes a point of the other mine of the same kind whose clean values stay inside
//! its own (so no limit is crossed), the same location first; an analog point with none holds a
//! value (a copier has nothing to send for it); switch points keep their own. The subject is the
//! mine that copies; the other is the first simulated mine with enough points to copy.

use super::plan::{Ctx, Other, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::{Effect, Source};
use crate::values::Readings;
use minewatch_core::registry::PointKind;
use minewatch_core::{Kind, MineDef, SubjectType};
use std::sync::Arc;

/// How long the copy lasts (five 10-minute windows of the rule, which raises at the end of the
/// third).
const COPY_MS: i64 = 50 * MIN_MS;
/// Points that must find one to copy.
const MIN_COPIED: usize = 3;

/// The planner of [`Kind::CopiedFeed`].
pub(crate) struct ThisKind;

/// For each point of `def` (ranges from `own`), where it takes its value from `other`.
fn map(def: &MineDef, own: &crate::values::Points, other: &Other<'_>) -> Vec<Source> {
    let mut used = vec![0usize; other.def.points.len()];
    (0..def.points.len())
        .map(|i| {
            let Some((lo, hi)) = own.range(i) else {
                return Source::Own;
            };
            let p = &def.points[i];
            // Methane has no low alarm: a lower value is as safe as its own.
            let low_ok = |l: f64| p.kind == PointKind::Ch4 || l >= lo;
            let fits = |q: usize| {
                let o = &other.def.points[q];
                o.kind == p.kind
                    && other
                        .points
                        .range(q)
                        .is_some_and(|(l, h)| h <= hi && low_ok(l))
            };
            // Same location first, then the least used, so many points copy many points.
            let best = (0..other.def.points.len())
                .filter(|&q| fits(q))
                .min_by_key(|&q| (other.def.points[q].location != p.location, used[q], q));
            match best {
                Some(q) => {
                    used[q] += 1;
                    Source::Point(q as u32)
                }
                None => Source::Hold(((lo + hi) / 2.0 * 100.0).round() / 100.0),
            }
        })
        .collect()
}

impl Planner for ThisKind {
    const KIND: Kind = Kind::CopiedFeed;
    const ORDER: usize = 29;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = COPY_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        check_mine(def, named, Self::KIND)?;
        let (from, map) = ctx
            .others
            .iter()
            .map(|o| (o.index, map(def, ctx.points, o)))
            .find(|(_, m)| {
                m.iter().filter(|s| matches!(s, Source::Point(_))).count() >= MIN_COPIED
            })
            .ok_or_else(|| {
                format!(
                    "{} needs another simulated mine with at least {MIN_COPIED} points like mine {}'s to copy",
                    Self::KIND.as_str(),
                    def.id
                )
            })?;
        let until = at + COPY_MS;
        Ok(Planned::one(
            def.id.to_string(),
            Effect::Copy {
                from,
                map: Arc::from(map),
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// Each point takes its source's value (handed in by the simulator) or its held value.
    fn after_safety(effects: &[Effect], readings: &mut Readings<'_>, t: i64) {
        for e in effects {
            if let Effect::Copy { map, .. } = e
                && e.active(t)
            {
                for (p, s) in map.iter().enumerate().take(readings.len()) {
                    match *s {
                        Source::Point(q) => {
                            if let Some(v) = readings.incoming(q as usize) {
                                readings.set_value(p, v);
                            }
                        }
                        Source::Hold(v) => readings.set_value(p, v),
                        Source::Own => {}
                    }
                }
            }
        }
    }
}
