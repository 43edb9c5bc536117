//! The rules of alarm management (`[alarms]`): which severities latch until acknowledged, when a
//! raise re-activates an alert, what is chattering, what is a flood, how long a shelf may last.
//! What they produce is in [`crate::alarm`].

use crate::alarm::AlarmState;
use crate::alert::{Alert, AlertState, Severity};
use crate::time::{Millis, de_duration};
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::Duration;

/// The `[alarms]` section as written in the config file (durations as `"5m"` or seconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsSection {
    /// Severities whose alerts stay listed after clearing until acknowledged.
    pub latch: Vec<Severity>,
    #[serde(deserialize_with = "de_duration")]
    pub rearm_window: Duration,
    pub chatter_count: u32,
    #[serde(deserialize_with = "de_duration")]
    pub chatter_window: Duration,
    pub flood_count: u32,
    #[serde(deserialize_with = "de_duration")]
    pub flood_window: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub shelve_max: Duration,
    pub latched_max: usize,
}

impl Default for AlarmsSection {
    fn default() -> Self {
        let d = AlarmConfig::default();
        let dur = |ms: Millis| Duration::from_millis(ms as u64);
        AlarmsSection {
            latch: Severity::ALL
                .into_iter()
                .filter(|&s| d.latches(s))
                .collect(),
            rearm_window: dur(d.rearm_window),
            chatter_count: d.chatter_count,
            chatter_window: dur(d.chatter_window),
            flood_count: d.flood_count,
            flood_window: dur(d.flood_window),
            shelve_max: dur(d.shelve_max),
            latched_max: d.latched_max,
        }
    }
}

impl AlarmsSection {
    /// The settings the alert writer uses; an error names the key at fault (`alarms.…`).
    pub fn to_config(&self) -> Result<AlarmConfig, String> {
        let ms = |key: &str, d: Duration, max: Duration| {
            if d.is_zero() || d > max {
                Err(format!(
                    "alarms.{key} must be more than 0 and at most {} days",
                    max.as_secs() / 86_400
                ))
            } else {
                Ok(d.as_millis() as Millis)
            }
        };
        let week = Duration::from_secs(7 * 86_400);
        let mut latch = [false; 4];
        for s in &self.latch {
            latch[*s as usize] = true;
        }
        if self.chatter_count < 2 {
            return Err("alarms.chatter_count must be at least 2 activations".into());
        }
        if self.flood_count == 0 {
            return Err("alarms.flood_count must be at least 1".into());
        }
        if self.latched_max == 0 || self.latched_max > 10_000_000 {
            return Err("alarms.latched_max must be 1 to 10,000,000".into());
        }
        Ok(AlarmConfig {
            latch,
            rearm_window: ms("rearm_window", self.rearm_window, week)?,
            chatter_count: self.chatter_count,
            chatter_window: ms("chatter_window", self.chatter_window, week)?,
            flood_count: self.flood_count,
            flood_window: ms(
                "flood_window",
                self.flood_window,
                Duration::from_secs(86_400),
            )?,
            shelve_max: ms("shelve_max", self.shelve_max, week)?,
            latched_max: self.latched_max,
        })
    }
}

/// The `[alarms]` settings as the alert writer uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    /// Severities whose alerts stay listed, cleared, until acknowledged (by index of
    /// [`Severity::ALL`]).
    pub latch: [bool; 4],
    /// A raise within this long (event time) of the same key's resolve re-activates that alert.
    pub rearm_window: Millis,
    /// Activations within `chatter_window` that make an alert chattering.
    pub chatter_count: u32,
    pub chatter_window: Millis,
    /// More than this many new alerts of one mine within `flood_window` is a flood.
    pub flood_count: u32,
    pub flood_window: Millis,
    /// The longest an alert can be shelved.
    pub shelve_max: Millis,
    /// Most cleared-unacknowledged alerts kept waiting; beyond it the oldest is closed.
    pub latched_max: usize,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            latch: [false, false, true, true],
            rearm_window: 5 * 60_000,
            chatter_count: 3,
            chatter_window: 10 * 60_000,
            flood_count: 10,
            flood_window: 10 * 60_000,
            shelve_max: 8 * 3_600_000,
            latched_max: 100_000,
        }
    }
}

impl AlarmConfig {
    /// Whether alerts of `s` wait for an ack after clearing.
    pub fn latches(&self, s: Severity) -> bool {
        self.latch[s as usize]
    }

    /// The state an alert is in, from its lifecycle and ack.
    pub fn state_of(&self, a: &Alert) -> AlarmState {
        match (a.state, a.ack.is_some()) {
            (AlertState::Active, false) => AlarmState::ActiveUnacked,
            (AlertState::Active, true) => AlarmState::ActiveAcked,
            (AlertState::Resolved, false) if self.latches(a.severity) => AlarmState::ClearedUnacked,
            (AlertState::Resolved, _) => AlarmState::Closed,
        }
    }

    /// Whether `starts` (event times of activations, oldest first, the newest included) hold
    /// `chatter_count` within `chatter_window` ending at the newest.
    pub fn chattering(&self, starts: impl DoubleEndedIterator<Item = Millis>) -> bool {
        let n = self.chatter_count.max(1) as usize;
        let mut it = starts.rev();
        let Some(newest) = it.next() else {
            return false;
        };
        1 + it
            .take_while(|&t| newest - t <= self.chatter_window)
            .count()
            >= n
    }
}

/// The new alerts of one mine over the last `flood_window` (wall clock), to tell a flood.
#[derive(Debug, Clone, Default)]
pub struct FloodWindow {
    /// Wall times of the raises inside the window, oldest first (bounded: see [`Self::push`]).
    raised: VecDeque<Millis>,
    /// Since when the mine is in flood (0: it is not).
    pub since: Millis,
    /// The most raises seen inside one window during the current flood.
    pub peak: usize,
}

/// Most raise times one mine's window keeps: past this the count saturates, the flood holds.
const FLOOD_KEPT: usize = 100_000;

impl FloodWindow {
    /// Records a raise at `wall`; answers whether the mine's flood state changed.
    pub fn push(&mut self, wall: Millis, cfg: &AlarmConfig) -> bool {
        if self.raised.len() < FLOOD_KEPT {
            self.raised.push_back(wall);
        }
        self.settle(wall, cfg)
    }

    /// Forgets raises older than the window at `wall`; answers whether the flood state changed.
    pub fn settle(&mut self, wall: Millis, cfg: &AlarmConfig) -> bool {
        while self
            .raised
            .front()
            .is_some_and(|&t| wall - t >= cfg.flood_window)
        {
            self.raised.pop_front();
        }
        let flooding = self.raised.len() > cfg.flood_count as usize;
        let was = self.since != 0;
        if flooding {
            if !was {
                self.since = self.raised.front().copied().unwrap_or(wall).max(1);
                self.peak = 0;
            }
            self.peak = self.peak.max(self.raised.len());
        } else if was {
            self.since = 0;
        }
        flooding != was
    }

    /// Raises inside the window.
    pub fn count(&self) -> usize {
        self.raised.len()
    }

    /// Whether the mine is in flood.
    pub fn flooding(&self) -> bool {
        self.since != 0
    }

    /// Whether nothing is left to remember.
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.since == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_flood_is_more_than_flood_count_raises_within_the_window() {
        let cfg = AlarmConfig::default();
        let mut w = FloodWindow::default();
        // Ten raises in ten minutes is EEMUA's reference, not a flood; the eleventh is.
        for i in 0..10 {
            assert!(!w.push(i * 1000, &cfg));
        }
        assert!(!w.flooding());
        assert!(w.push(59_000, &cfg), "the eleventh raise starts the flood");
        assert_eq!(w.since, 1, "the flood runs from the window's first raise");
        assert_eq!(w.peak, 11);
        // Just before the first raise leaves the window, still a flood; just after, not.
        assert!(!w.settle(cfg.flood_window - 1, &cfg));
        assert!(w.flooding());
        assert!(w.settle(cfg.flood_window + 9_000, &cfg), "ten left: over");
        assert!(!w.flooding());
    }

    #[test]
    fn chattering_needs_chatter_count_activations_inside_the_window() {
        let cfg = AlarmConfig::default();
        let w = cfg.chatter_window;
        assert!(!cfg.chattering([0, 1000].into_iter()));
        assert!(
            cfg.chattering([0, 1000, w].into_iter()),
            "three within the window"
        );
        assert!(
            !cfg.chattering([0, 1000, w + 1].into_iter()),
            "the first just outside"
        );
        assert!(!cfg.chattering(std::iter::empty()));
    }

    #[test]
    fn the_state_follows_lifecycle_ack_and_latching() {
        let cfg = AlarmConfig::default();
        let mut a = crate::alert::tests::sample_alert();
        a.severity = Severity::Critical;
        assert_eq!(cfg.state_of(&a), AlarmState::ActiveUnacked);
        a.state = AlertState::Resolved;
        assert_eq!(cfg.state_of(&a), AlarmState::ClearedUnacked);
        a.severity = Severity::Warning;
        assert_eq!(
            cfg.state_of(&a),
            AlarmState::Closed,
            "warnings do not latch"
        );
        a.severity = Severity::Major;
        a.ack = Some(crate::alert::Ack {
            by: "op".into(),
            at: Utc::now(),
            note: String::new(),
        });
        assert_eq!(cfg.state_of(&a), AlarmState::Closed);
        a.state = AlertState::Active;
        assert_eq!(cfg.state_of(&a), AlarmState::ActiveAcked);
    }

    #[test]
    fn the_section_defaults_to_the_config_defaults_and_refuses_nonsense() {
        let s = AlarmsSection::default();
        assert_eq!(s.to_config(), Ok(AlarmConfig::default()));
        let bad = AlarmsSection {
            rearm_window: Duration::ZERO,
            ..AlarmsSection::default()
        };
        assert!(
            bad.to_config()
                .is_err_and(|e| e.starts_with("alarms.rearm_window"))
        );
        let bad = AlarmsSection {
            chatter_count: 1,
            ..AlarmsSection::default()
        };
        assert!(
            bad.to_config()
                .is_err_and(|e| e.starts_with("alarms.chatter_count"))
        );
    }
}
