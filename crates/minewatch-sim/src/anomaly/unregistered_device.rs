//! `unregistered_device`: readings from a point id the registry does not define (`X9001`, or the
//! next free one, when not named) for ~2 minutes. Any other injection that sends people or
//! explosives to an area id the registry does not define raises this kind on that id too.

use super::plan::{Ctx, Planned, Planner};
use crate::effect::Effect;
use crate::json::{push_fixed, push_str_field};
use crate::rng::Rng;
use minewatch_core::{Kind, SubjectType};

/// How long the device reports.
const GHOST_MS: i64 = 120_000;

/// The planner of [`Kind::UnregisteredDevice`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::UnregisteredDevice;
    const ORDER: usize = 4;
    /// A point id the registry does not define.
    const SUBJECT: SubjectType = SubjectType::Point;
    const DURATION_MS: i64 = GHOST_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let id = match named {
            Some(p) if def.point(p).is_some() => {
                return Err(format!(
                    "{} needs an id mine {} does not define; {p} is defined",
                    Self::KIND.as_str(),
                    def.id
                ));
            }
            Some(p) => p.to_string(),
            None => (9001..)
                .map(|n| format!("X{n}"))
                .find(|id| def.point(id).is_none())
                .unwrap_or_else(|| "X9001".into()),
        };
        let until = at + GHOST_MS;
        Ok(Planned::one(
            id.clone(),
            Effect::Ghost {
                id,
                start: at,
                end: until,
            },
            until,
        ))
    }

    /// The undefined device reads about 0.3 while it reports.
    fn push_readings(
        effects: &[Effect],
        t: i64,
        rng: &mut Rng,
        out: &mut String,
        written: usize,
    ) -> usize {
        let mut n = 0;
        for e in effects {
            if let Effect::Ghost { id, .. } = e
                && e.active(t)
            {
                if written + n > 0 {
                    out.push(',');
                }
                n += 1;
                out.push('{');
                push_str_field(out, "point", id);
                out.push_str(",\"value\":");
                push_fixed(out, 0.3 + 0.03 * rng.normal().clamp(-3.0, 3.0), 2);
                out.push('}');
            }
        }
        n
    }

    /// An area id the registry does not define that people or explosives are sent to.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in effects {
            if let Effect::Move { area, .. } | Effect::Issue { area, .. } = e
                && ctx.def.area(area).is_none()
                && !out.iter().any(|o| **o == **area)
            {
                out.push(area.to_string());
            }
        }
        out
    }
}
