//! `replayed_data`: the mine's safety feed is recorded for 20 minutes (the live values still go
//! out), then for 30 minutes every point reports the recording again, tick by tick, from its start
//! again at its end, instead of its live values: a "show" system replaying recordings while the
//! real one is hidden. The subject is the mine.

use super::plan::{Ctx, Planned, Planner, check_mine};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::values::Readings;
use minewatch_core::{Kind, SubjectType};

/// How long the recording lasts (two 10-minute windows of the rule).
const RECORD_MS: i64 = 20 * MIN_MS;
/// How long it is played back.
const PLAY_MS: i64 = 30 * MIN_MS;

/// The planner of [`Kind::ReplayedData`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::ReplayedData;
    const ORDER: usize = 28;
    const SUBJECT: SubjectType = SubjectType::Mine;
    const AUTOMATIC: bool = false;
    const DURATION_MS: i64 = RECORD_MS + PLAY_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        check_mine(def, named, Self::KIND)?;
        let analog = (0..def.points.len())
            .filter(|&i| ctx.points.range(i).is_some())
            .count();
        if analog < 3 {
            return Err(format!(
                "{} needs a mine with at least 3 analog points; mine {} has {analog}",
                Self::KIND.as_str(),
                def.id
            ));
        }
        let until = at + RECORD_MS + PLAY_MS;
        Ok(Planned::one(
            def.id.to_string(),
            Effect::Replay {
                start: at,
                lag: RECORD_MS,
                end: until,
            },
            until,
        ))
    }

    /// Records while recording, plays back while replaying, forgets the tape after.
    fn after_safety(effects: &[Effect], readings: &mut Readings<'_>, t: i64) {
        let mut busy = false;
        for e in effects {
            if let Effect::Replay { start, lag, end } = *e {
                if start <= t && t < start + lag {
                    readings.record();
                    busy = true;
                } else if start + lag <= t && t < end {
                    readings.play();
                    busy = true;
                }
            }
        }
        if !busy {
            readings.erase();
        }
    }
}
