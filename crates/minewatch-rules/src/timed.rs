//! [`Timed`]: a condition that must hold for a while before it raises, and (for some kinds) stop
//! holding for a while before it resolves — the shape of most rules in the catalogue.

use minewatch_core::time::Millis;

/// What a step of a timed condition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changes.
    Hold,
    /// The condition has held for `after`: raise, at this event time.
    Raise(Millis),
    /// The condition has been clear for `clear_after`: resolve, at this event time.
    Resolve(Millis),
}

/// A condition on event time. `since` and `clear_since` are 0 when not running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, packed)]
pub struct Timed {
    /// Since when the condition holds (0: it does not).
    pub since: Millis,
    /// Since when an active condition has been clear (0: it is not clear, or not active).
    pub clear_since: Millis,
    /// Whether the alert is raised.
    pub active: bool,
}

impl Timed {
    /// Feeds whether the condition holds at `at`.
    pub fn step(&mut self, holds: bool, at: Millis, after: Millis, clear_after: Millis) -> Step {
        if holds {
            self.clear_since = 0;
            if self.since == 0 {
                self.since = at.max(1);
            }
            if !self.active && at - self.since >= after {
                self.active = true;
                return Step::Raise(self.since + after);
            }
        } else {
            self.since = 0;
            if self.active {
                if self.clear_since == 0 {
                    self.clear_since = at.max(1);
                }
                if at - self.clear_since >= clear_after {
                    self.active = false;
                    self.clear_since = 0;
                    return Step::Resolve(at);
                }
            }
        }
        Step::Hold
    }

    /// When this condition next needs a look, if anything is pending.
    pub fn deadline(&self, after: Millis, clear_after: Millis) -> Option<Millis> {
        match (self.active, self.since, self.clear_since) {
            (false, s, _) if s != 0 => Some(s + after),
            (true, _, c) if c != 0 => Some(c + clear_after),
            _ => None,
        }
    }

    /// Marks the alert as raised (state restored from the store).
    pub fn restore(&mut self, since: Millis) {
        self.active = true;
        self.since = since.max(1);
        self.clear_since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_raises_after_holding_and_resolves_after_clearing() {
        let mut t = Timed::default();
        assert_eq!(t.step(true, 1000, 500, 300), Step::Hold);
        assert_eq!(t.deadline(500, 300), Some(1500));
        assert_eq!(t.step(true, 1499, 500, 300), Step::Hold);
        assert_eq!(t.step(true, 1600, 500, 300), Step::Raise(1500));
        assert_eq!(t.step(true, 1700, 500, 300), Step::Hold, "raised once");
        assert_eq!(t.step(false, 2000, 500, 300), Step::Hold);
        assert_eq!(t.deadline(500, 300), Some(2300));
        assert_eq!(
            t.step(true, 2100, 500, 300),
            Step::Hold,
            "holding again cancels the clearing"
        );
        assert_eq!(t.step(false, 2200, 500, 300), Step::Hold);
        assert_eq!(t.step(false, 2500, 500, 300), Step::Resolve(2500));
        assert!(!t.active);
    }

    #[test]
    fn an_interrupted_condition_starts_over() {
        let mut t = Timed::default();
        t.step(true, 0, 500, 0);
        t.step(false, 400, 500, 0);
        assert_eq!(t.step(true, 600, 500, 0), Step::Hold);
        assert_eq!(t.step(true, 1100, 500, 0), Step::Raise(1100));
    }
}
