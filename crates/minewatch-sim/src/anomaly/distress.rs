//! `distress`: a worker's tag reports distress for 2 minutes. The subject is the tag. Every tag
//! carries the `distress` field (false in clean data): this planner declares it.

use super::plan::{Ctx, Planned, Planner, one_tag, stay};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// How long the tag reports distress.
const DISTRESS_MS: i64 = 2 * MIN_MS;

/// The planner of [`Kind::Distress`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::Distress;
    const ORDER: usize = 14;
    const SUBJECT: SubjectType = SubjectType::Tag;
    const TAG_FLAG: Option<&'static str> = Some("distress");
    const DURATION_MS: i64 = DISTRESS_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let until = at + DISTRESS_MS;
        let (i, down) = one_tag(ctx, named, Self::KIND, at, until)?;
        Ok(Planned {
            subject: ctx.crew.id(i).to_string(),
            effects: vec![
                Effect::Flag {
                    tag: i,
                    field: "distress",
                    start: at,
                    end: until,
                },
                stay(i, down, until),
            ],
            until,
        })
    }
}
