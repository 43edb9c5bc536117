//! `untagged_work`: a worked coal face or heading draws production power (its face meter at least
//! 300 kW above what it would draw) for 15 minutes (10 needed) while every tag reported in the
//! area is reported elsewhere underground instead (in an area without a quota, or one with room):
//! the crew works without its cards. The subject is the area (picked: a declared face or heading
//! with a face meter). The mine must be producing. Not in the automatic schedule.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, is_face};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::modes::Mode;
use crate::people::{Tags, workable};
use minewatch_core::registry::Load;
use minewatch_core::{Kind, SubjectType};

/// How long the face works untagged (10 minutes needed).
const UNTAGGED_MS: i64 = 15 * MIN_MS;
/// What the face meter draws on top of its own reading.
const PRODUCTION_KW: f64 = 300.0;

/// The planner of [`Kind::UntaggedWork`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::UntaggedWork;
    const ORDER: usize = 27;
    const SUBJECT: SubjectType = SubjectType::Area;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = UNTAGGED_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        if ctx.modes.at(at) != Mode::Producing {
            return Err(format!(
                "{} needs mine {} producing at that time (a suspended mine's production is judged for the mine as a whole)",
                Self::KIND.as_str(),
                def.id
            ));
        }
        let meter = |a: usize| {
            def.meters
                .iter()
                .position(|m| m.area as usize == a && m.load == Load::Face)
        };
        let a = named_or_picked(
            def,
            Of::Area,
            named,
            Self::KIND,
            "a declared coal face or heading with a face meter",
            ctx.nth_kind,
            |a| (is_face(def, a) && def.areas[a].declared && meter(a).is_some()).then_some(0u8),
        )?;
        let m = meter(a).unwrap_or_default();
        // Where the cards are instead: an open area without a quota, else the non-face area with
        // the most room for a whole face crew.
        let (per_area, _) = ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
        let crew = def.areas[a].quota.unwrap_or(per_area[a]).max(per_area[a]);
        let open = ctx
            .crew
            .open_areas()
            .iter()
            .map(|&o| o as usize)
            .find(|&o| !is_face(def, o));
        let to = open
            .or_else(|| {
                (0..def.areas.len())
                    .filter(|&o| o != a && workable(def, o) && !is_face(def, o))
                    .filter_map(|o| {
                        let q = def.areas[o].quota?;
                        q.checked_sub(per_area[o] + crew).map(|room| (room, o))
                    })
                    .max()
                    .map(|(_, o)| o)
            })
            .ok_or_else(|| {
                format!(
                    "{}: mine {} has no area where the cards of {} could be instead without crowding it",
                    Self::KIND.as_str(),
                    def.id,
                    def.areas[a].id
                )
            })?;
        let until = at + UNTAGGED_MS;
        Ok(Planned {
            subject: def.areas[a].id.to_string(),
            effects: vec![
                Effect::Load {
                    meter: m,
                    scale: 1.0,
                    add: PRODUCTION_KW.max(4.0 * def.meters[m].idle_kw),
                    start: at,
                    end: until,
                },
                Effect::Vacate {
                    area: a as u32,
                    to: def.areas[to].id.clone(),
                    start: at,
                    end: until,
                },
            ],
            until,
        })
    }

    /// Every tag reported in the area is reported in the other area instead while it lasts.
    fn shape_tags(effects: &[Effect], tags: &mut Tags<'_>, t: i64) {
        for e in effects {
            let Effect::Vacate { area, to, .. } = e else {
                continue;
            };
            if !e.active(t) {
                continue;
            }
            let id = tags.def().areas[*area as usize].id.clone();
            for i in 0..tags.len() {
                if tags.area_of(i) == Some(&id) {
                    tags.move_to(i, to);
                }
            }
        }
    }
}
