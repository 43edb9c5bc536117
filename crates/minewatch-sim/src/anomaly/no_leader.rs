//! `no_leader`: every leader comes up for 40 minutes (30 needed) while the crew stays down (more
//! than 10), then the leaders go down again. The subject is the mine.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// How long no leader is down (30 minutes needed).
const LEADERLESS_MS: i64 = 40 * MIN_MS;

/// The planner of [`Kind::NoLeader`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::NoLeader;
    const ORDER: usize = 13;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const DURATION_MS: i64 = LEADERLESS_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        check_mine(def, named, Self::KIND)?;
        let until = at + LEADERLESS_MS;
        let effect = Effect::LeadersUp {
            start: at,
            end: until,
        };
        let mut effects = ctx.effects.to_vec();
        effects.push(effect.clone());
        let mut t = at;
        while t < until {
            let (per_area, _) = ctx.crew.census(t, ctx.modes, &effects, def.areas.len());
            let down: u32 = per_area.iter().sum();
            if down <= 10 {
                return Err(format!(
                    "{} needs more than 10 people underground throughout; mine {} has {down} at one point",
                    Self::KIND.as_str(),
                    def.id
                ));
            }
            t += MIN_MS;
        }
        Ok(Planned::one(def.id.to_string(), effect, until))
    }
}
