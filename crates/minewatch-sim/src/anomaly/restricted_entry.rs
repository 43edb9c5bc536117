//! `restricted_entry`: a worker enters a sealed or restricted area (preferably one without a
//! quota, restricted before sealed) for 3 minutes, then goes back to work. The subject is the
//! tag; the named subject may be the tag or the area to enter. Any other injection that moves a
//! tag into a sealed or restricted area raises this kind on that tag too.

use super::pick::{Of, pick};
use super::plan::{Ctx, Planned, Planner, is_closed, one_tag, stay};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::registry::AreaKind;
use minewatch_core::{Kind, SubjectType};

/// How long the tag stays in the area.
const ENTRY_MS: i64 = 3 * MIN_MS;

/// The planner of [`Kind::RestrictedEntry`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::RestrictedEntry;
    const ORDER: usize = 11;
    const SUBJECT: SubjectType = SubjectType::Tag;
    const DURATION_MS: i64 = ENTRY_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let name = Self::KIND.as_str();
        let (named_tag, named_area) = match named {
            Some(s) => match Of::Area.find(def, s) {
                Some(a) => (None, Some(a)),
                None => (Some(s), None),
            },
            None => (None, None),
        };
        let a = match named_area {
            Some(a) if is_closed(def, a) => a,
            Some(a) => {
                return Err(format!(
                    "{name} needs a sealed or restricted area; {} of mine {} is neither",
                    def.areas[a].id, def.id
                ));
            }
            // Without a quota (one person is not "over" it), restricted before sealed.
            None => pick(def, Of::Area, 0, |a| {
                is_closed(def, a).then(|| {
                    (
                        def.areas[a].quota.is_some_and(|q| q < 1),
                        def.areas[a].kind != AreaKind::Restricted,
                    )
                })
            })
            .ok_or_else(|| format!("{name}: mine {} has no sealed or restricted area", def.id))?,
        };
        let until = at + ENTRY_MS;
        let (i, down) = one_tag(ctx, named_tag, Self::KIND, at, until)?;
        Ok(Planned {
            subject: ctx.crew.id(i).to_string(),
            effects: vec![
                Effect::Move {
                    tag: i,
                    area: def.areas[a].id.clone(),
                    start: at,
                    end: until,
                },
                stay(i, down, until),
            ],
            until,
        })
    }

    /// A tag another injection moves into a sealed or restricted area.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Move { tag, area, .. }
                    if Of::Area.find(def, area).is_some_and(|a| is_closed(def, a)) =>
                {
                    Some(ctx.crew.id(*tag).to_string())
                }
                _ => None,
            })
            .collect()
    }
}
