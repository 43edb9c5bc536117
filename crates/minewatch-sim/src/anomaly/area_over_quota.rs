//! `area_over_quota`: people gathered from other areas into an area until it holds its quota + 2
//! (at most 120 %, a warning, when the quota allows) for 5 minutes; then they go back. The subject
//! is the area (one people may work in, with a quota; faces and headings first). Any other
//! injection that moves more people into an area than its quota raises this kind on it too.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, is_face, moved_into};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::people::{Tags, workable};
use minewatch_core::{Kind, SubjectType};

/// How long the area holds too many people.
const CROWD_MS: i64 = 5 * MIN_MS;

/// The planner of [`Kind::AreaOverQuota`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::AreaOverQuota;
    const ORDER: usize = 9;
    const SUBJECT: SubjectType = SubjectType::Area;
    const DURATION_MS: i64 = CROWD_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let ok = |a: usize| workable(def, a) && def.areas[a].quota.is_some_and(|q| q > 0);
        let a = named_or_picked(
            def,
            Of::Area,
            named,
            Self::KIND,
            "an area people work in, with a quota",
            ctx.nth_kind,
            |a| ok(a).then_some(!is_face(def, a)),
        )?;
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
                "{}: only {down} people are underground in mine {} at that time; {target} are needed in {}",
                Self::KIND.as_str(),
                def.id,
                def.areas[a].id
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

    /// Workers from other areas (not leaders, nor tags another anomaly is about) fill the area up
    /// to the count while the effect lasts.
    fn shape_tags(effects: &[Effect], tags: &mut Tags<'_>, t: i64) {
        let busy = |i: usize| effects.iter().any(|e| e.tag() == Some(i));
        for e in effects {
            let Effect::Gather { area, count, .. } = *e else {
                continue;
            };
            if !e.active(t) {
                continue;
            }
            let target = tags.def().areas[area as usize].id.clone();
            let mut have = (0..tags.len())
                .filter(|&i| tags.area_of(i) == Some(&target))
                .count() as u32;
            for i in 0..tags.len() {
                if have >= count {
                    break;
                }
                let elsewhere = tags.area_of(i).is_some_and(|a| *a != target);
                if elsewhere && !tags.is_leader(i) && !busy(i) {
                    tags.move_to(i, &target);
                    have += 1;
                }
            }
        }
    }

    /// An area with a quota that another injection moves more people into than it allows.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        let mut out: Vec<String> = Vec::new();
        for e in effects {
            let Effect::Move { area: id, .. } = e else {
                continue;
            };
            let Some(a) = def.area(id) else { continue };
            let moved = moved_into(effects, id).count() as u32;
            let over = def.areas[a as usize].quota.is_some_and(|q| moved > q);
            if over && !out.iter().any(|o| **o == **id) {
                out.push(id.to_string());
            }
        }
        out
    }
}
