//! `concealed_work`: three workers go into an undeclared (or sealed) area for 40 minutes (30
//! needed) while its meter draws a light load just above its `idle_kw` (about 1.05 × idle:
//! lighting, a pump): two independent signs of work. The load stays inside 4 deviations of the
//! meter's idle baseline, so it is no departure from the usual level. Without a meter the second
//! sign is an explosives issue. The subject is the area (undeclared or sealed, or an id the
//! registry does not define; picked: an undeclared area with a meter first). What else that
//! raises (entries into a sealed area, its quota, its meter, the issue, an undefined id) is found
//! by the other kinds' planners.

use super::pick::{Of, pick};
use super::plan::{Ctx, Planned, Planner, pick_tags, stay};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::registry::AreaKind;
use minewatch_core::{Kind, SubjectType};
use std::sync::Arc;

/// How long the area is worked (30 minutes needed).
const CONCEALED_MS: i64 = 40 * MIN_MS;
/// People in the area.
const PEOPLE: usize = 3;

/// The planner of [`Kind::ConcealedWork`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::ConcealedWork;
    const ORDER: usize = 23;
    const SUBJECT: SubjectType = SubjectType::Area;
    const DURATION_MS: i64 = CONCEALED_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
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
            Some(id) => match Of::Area.find(def, id) {
                Some(a) if rank(a).is_some() => (Some(a), def.areas[a].id.clone()),
                Some(_) => {
                    return Err(format!(
                        "{} needs an undeclared or sealed area (or one the registry does not define); {id} of mine {} is declared and open",
                        Self::KIND.as_str(),
                        def.id
                    ));
                }
                None => (None, Arc::from(id)),
            },
            None => match pick(def, Of::Area, ctx.nth_kind, rank) {
                Some(a) => (Some(a), def.areas[a].id.clone()),
                None => {
                    let id = (9901..)
                        .map(|n| format!("A{n}"))
                        .find(|id| def.area(id).is_none())
                        .unwrap_or_else(|| "A9901".into());
                    (None, Arc::from(id))
                }
            },
        };
        let until = at + CONCEALED_MS;
        let mut effects = Vec::new();
        for (i, down) in pick_tags(ctx, at, until, PEOPLE)? {
            effects.push(Effect::Move {
                tag: i,
                area: id.clone(),
                start: at,
                end: until,
            });
            effects.push(stay(i, down, until));
        }
        if let Some(a) = a {
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
                }
                None => effects.push(Effect::Issue {
                    area: id.clone(),
                    kg: 24.0,
                    at,
                }),
            }
        }
        Ok(Planned {
            subject: id.to_string(),
            effects,
            until,
        })
    }
}
