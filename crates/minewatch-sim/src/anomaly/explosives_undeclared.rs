//! `explosives_undeclared`: one explosives issue (one message) to a restricted, sealed or
//! undeclared area, or to an area id the registry does not define. The subject is the area
//! (picked: a restricted area first). Any other injection that issues explosives to such an area
//! raises this kind on it too.

use super::pick::{Of, pick};
use super::plan::{Ctx, Planned, Planner, forbidden_for_explosives};
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};
use std::sync::Arc;

/// The planner of [`Kind::ExplosivesUndeclared`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::ExplosivesUndeclared;
    const ORDER: usize = 21;
    const SUBJECT: SubjectType = SubjectType::Area;
    /// An instant: 0.
    const DURATION_MS: i64 = 0;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let name = Self::KIND.as_str();
        let rank = |a: usize| forbidden_for_explosives(def, a);
        let id: Arc<str> = match named {
            Some(id) => match Of::Area.find(def, id) {
                Some(a) if rank(a).is_some() => def.areas[a].id.clone(),
                Some(_) => {
                    return Err(format!(
                        "{name} needs a sealed, restricted or undeclared area; {id} of mine {} is declared and open",
                        def.id
                    ));
                }
                None => Arc::from(id),
            },
            None => {
                let a = pick(def, Of::Area, ctx.nth_kind, rank).ok_or_else(|| {
                    format!(
                        "{name}: mine {} has no sealed, restricted or undeclared area",
                        def.id
                    )
                })?;
                def.areas[a].id.clone()
            }
        };
        Ok(Planned {
            subject: id.to_string(),
            effects: vec![Effect::Issue {
                area: id,
                kg: 12.0,
                at,
            }],
            until: at,
        })
    }

    /// A restricted, sealed, undeclared or undefined area another injection issues explosives to.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Issue { area, .. }
                    if Of::Area
                        .find(def, area)
                        .is_none_or(|a| forbidden_for_explosives(def, a).is_some()) =>
                {
                    Some(area.to_string())
                }
                _ => None,
            })
            .collect()
    }
}
