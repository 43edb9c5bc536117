//! Whether a mine produces, is suspended or is closed, over event time: the registry status at
//! first, then the switches made at run time ([`crate::Sim::set_suspended`]). (An injection that
//! makes a suspended mine produce does not switch it: it adds a `Produce` effect.)
//!
//! A switch changes power at once (production loads idle while suspended), coal cutting over a
//! 30-minute ramp (after a switch to production, once the incoming crew is down), and crews at a handover: the outgoing crew comes up as at a shift end, its
//! leader last, while the incoming crew's leader goes down at the switch and its workers only
//! after the outgoing workers are up (see `people`).

use crate::clock::{MIN_MS, smoothstep};
use minewatch_core::registry::MineStatus;

/// How long coal cutting takes to stop after a suspension, or to resume.
const RAMP_MS: i64 = 30 * MIN_MS;
/// Cutting resumes only once the incoming crew is down: its workers go down after the outgoing
/// ones are up (within 20 minutes of the switch) and within 15 minutes of that (see `people`). A
/// face does not cut coal with nobody at it.
const RESUME_AFTER_MS: i64 = 35 * MIN_MS;

/// What a mine does at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Producing (or under construction): production crews, cutting, hoisting, explosives.
    Producing,
    /// Under a suspension order: only the maintenance crew, production loads idle.
    Suspended,
    /// Closed: nobody underground, production loads idle.
    Closed,
}

impl Mode {
    /// The mode a registry status starts in.
    pub(crate) fn of(status: MineStatus) -> Mode {
        match status {
            MineStatus::Producing | MineStatus::Construction => Mode::Producing,
            MineStatus::Suspended => Mode::Suspended,
            MineStatus::Closed => Mode::Closed,
        }
    }

    fn index(self) -> usize {
        match self {
            Mode::Producing => 0,
            Mode::Suspended => 1,
            Mode::Closed => 2,
        }
    }
}

/// The mode timeline of one mine.
#[derive(Debug, Clone)]
pub(crate) struct Modes {
    base: Mode,
    /// (from, mode), sorted by time; among equal times the later call wins.
    switches: Vec<(i64, Mode)>,
    /// Per mode: the maximal periods `[from, to)` in that mode, `i64::MIN` / `i64::MAX` unbounded.
    periods: [Vec<(i64, i64)>; 3],
}

impl Modes {
    /// A mine that stays in `base` until told otherwise.
    pub(crate) fn new(base: Mode) -> Modes {
        let mut m = Modes {
            base,
            switches: Vec::new(),
            periods: [Vec::new(), Vec::new(), Vec::new()],
        };
        m.rebuild();
        m
    }

    /// Whether the mode never changes (the common case: a fast path for crews).
    pub(crate) fn is_static(&self) -> bool {
        self.switches.is_empty()
    }

    /// The mode before any switch.
    pub(crate) fn base(&self) -> Mode {
        self.base
    }

    /// From `at` on, the mine is in `mode` (until a later switch).
    pub(crate) fn set(&mut self, at: i64, mode: Mode) {
        let k = self.switches.partition_point(|s| s.0 <= at);
        self.switches.insert(k, (at, mode));
        self.rebuild();
    }

    /// The mode at `t`.
    pub(crate) fn at(&self, t: i64) -> Mode {
        let k = self.switches.partition_point(|s| s.0 <= t);
        if k == 0 {
            self.base
        } else {
            self.switches[k - 1].1
        }
    }

    /// The periods in `mode`, in time order.
    pub(crate) fn periods(&self, mode: Mode) -> &[(i64, i64)] {
        &self.periods[mode.index()]
    }

    /// Production intensity at `t`, 0 to 1: 1 all along a producing period that has no known
    /// start, ramping up over 30 minutes once the crew is down after a switch to production, and
    /// down after a switch away.
    pub(crate) fn production(&self, t: i64) -> f64 {
        let ramp = |from: i64, to: i64| {
            if from == i64::MIN {
                1.0
            } else {
                smoothstep((to - from - RESUME_AFTER_MS) as f64 / RAMP_MS as f64)
            }
        };
        let mut level = 0.0;
        for &(a, b) in self.periods(Mode::Producing) {
            if a > t {
                break;
            }
            level = if t < b {
                ramp(a, t)
            } else {
                ramp(a, b) * (1.0 - smoothstep((t - b) as f64 / RAMP_MS as f64))
            };
        }
        level
    }

    fn rebuild(&mut self) {
        for p in &mut self.periods {
            p.clear();
        }
        let (mut mode, mut from) = (self.base, i64::MIN);
        for &(at, m) in &self.switches {
            if m != mode {
                if at > from {
                    self.periods[mode.index()].push((from, at));
                }
                mode = m;
                from = at;
            }
        }
        self.periods[mode.index()].push((from, i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_make_periods_and_production_ramps_both_ways() {
        let mut m = Modes::new(Mode::Producing);
        assert!(m.is_static());
        assert_eq!(m.periods(Mode::Producing), &[(i64::MIN, i64::MAX)]);
        assert_eq!(m.production(0), 1.0);
        m.set(1_000_000, Mode::Suspended);
        m.set(9_000_000, Mode::Producing);
        assert_eq!(m.at(999_999), Mode::Producing);
        assert_eq!(m.at(1_000_000), Mode::Suspended);
        assert_eq!(m.at(9_000_000), Mode::Producing);
        assert_eq!(
            m.periods(Mode::Producing),
            &[(i64::MIN, 1_000_000), (9_000_000, i64::MAX)]
        );
        assert_eq!(m.periods(Mode::Suspended), &[(1_000_000, 9_000_000)]);
        assert_eq!(m.production(1_000_000), 1.0);
        let half = m.production(1_000_000 + RAMP_MS / 2);
        assert!((half - 0.5).abs() < 1e-9, "{half}");
        assert_eq!(m.production(1_000_000 + RAMP_MS), 0.0);
        assert_eq!(m.production(9_000_000), 0.0);
        assert_eq!(m.production(9_000_000 + RESUME_AFTER_MS), 0.0);
        assert_eq!(m.production(9_000_000 + RESUME_AFTER_MS + RAMP_MS), 1.0);
        // A switch to the mode already in force changes nothing.
        m.set(5_000_000, Mode::Suspended);
        assert_eq!(m.periods(Mode::Suspended), &[(1_000_000, 9_000_000)]);
    }
}
