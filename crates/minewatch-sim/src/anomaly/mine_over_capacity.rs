//! `mine_over_capacity`: extra people go down for 5 minutes so `max_underground` + 5 are
//! underground, into areas without a quota (the example registry has one), never pushing an area
//! over its quota. The subject is the mine.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::people::workable;
use minewatch_core::{Kind, SubjectType};

/// How long the mine holds too many people.
const CROWD_MS: i64 = 5 * MIN_MS;

/// The planner of [`Kind::MineOverCapacity`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::MineOverCapacity;
    const ORDER: usize = 10;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const DURATION_MS: i64 = CROWD_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        check_mine(def, named, Self::KIND)?;
        let until = at + CROWD_MS;
        let total = def.max_underground + 5;
        if ctx.crew.open_areas().is_empty() {
            let (per_area, _) = ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
            let room: u32 = (0..def.areas.len())
                .filter(|&a| workable(def, a))
                .map(|a| def.areas[a].quota.unwrap_or(0).saturating_sub(per_area[a]))
                .sum();
            let down: u32 = per_area.iter().sum();
            if down + room < total {
                return Err(format!(
                    "{}: mine {} has no workable area without a quota, and its quotas leave room for only {} more people, not the {} needed above max_underground {}",
                    Self::KIND.as_str(),
                    def.id,
                    room,
                    total - down,
                    def.max_underground
                ));
            }
        }
        Ok(Planned::one(
            def.id.to_string(),
            Effect::Crowd {
                total,
                start: at,
                end: until,
            },
            until,
        ))
    }
}
