//! What an injected anomaly does to the telemetry, on a timeline: the [`Effect`]s the planners of
//! `anomaly` produce and the models (`values`, `people`, `power`, `sim`) apply. An effect is a
//! mechanism (drive a point, mute a system, move a tag...), not a kind: several kinds share most of
//! them, and which kind uses which is said in that kind's planner.

use minewatch_core::payload::System;
use std::sync::Arc;

/// What an anomaly does to the telemetry, on a timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Drives a point towards `target`: eased in over `ramp`, held for `hold`, eased out over
    /// `fall`; with `hold_feeds`, its feed points stay energised (a power-off failure).
    Level {
        point: usize,
        target: f64,
        start: i64,
        ramp: i64,
        hold: i64,
        fall: i64,
        hold_feeds: bool,
    },
    /// The point does not report in `[start, end)`.
    Silent { point: usize, start: i64, end: i64 },
    /// The point reports status 128 in `[start, end)`.
    Fault { point: usize, start: i64, end: i64 },
    /// A point the registry does not define reports in `[start, end)`.
    Ghost { id: String, start: i64, end: i64 },
    /// The mine sends no batch of `system` in `[start, end)`.
    Mute {
        system: System,
        start: i64,
        end: i64,
    },
    /// The point repeats the value it had at `start` in `[start, end)`.
    Freeze { point: usize, start: i64, end: i64 },
    /// The point reports status 4 (calibration) in `[start, end)`.
    Calibrate { point: usize, start: i64, end: i64 },
    /// Drives `low` to `low_to` and `high` to `high_to` (each keeping a little of its own noise),
    /// with the easing of `Level`.
    Split {
        low: usize,
        high: usize,
        low_to: f64,
        high_to: f64,
        start: i64,
        ramp: i64,
        hold: i64,
        fall: i64,
    },
    /// A camera reports `state`, and `event` if any, in `[start, end)`.
    Camera {
        camera: usize,
        state: &'static str,
        event: Option<&'static str>,
        start: i64,
        end: i64,
    },
    /// A meter reads `kw * scale + add` in `[start, end)`.
    Load {
        meter: usize,
        scale: f64,
        add: f64,
        start: i64,
        end: i64,
    },
    /// One explosives issue to `area` at `at`.
    Issue { area: Arc<str>, kg: f64, at: i64 },
    /// The mine runs its production loads (and cuts coal) in `[start, end)` whatever its mode.
    Produce { start: i64, end: i64 },
    /// Workers from other areas keep `area` at `count` people in `[start, end)`.
    Gather {
        area: u32,
        count: u32,
        start: i64,
        end: i64,
    },
    /// Extra people go down so that `total` are underground in `[start, end)`.
    Crowd { total: u32, start: i64, end: i64 },
    /// A tag is in `area` in `[start, end)` (while underground).
    Move {
        tag: usize,
        area: Arc<str>,
        start: i64,
        end: i64,
    },
    /// A tag reports its boolean field `field` (one of the planners' tag flags) as true in
    /// `[start, end)` (while underground).
    Flag {
        tag: usize,
        field: &'static str,
        start: i64,
        end: i64,
    },
    /// The trip of a tag that went down at `down` lasts at least until `until`.
    Extend { tag: usize, down: i64, until: i64 },
    /// Every leader is up in `[start, end)`; leaders due down then go down at `end`.
    LeadersUp { start: i64, end: i64 },
    /// The mine's clock is `by` ms off (every system's `ts`) in `[start, end)`.
    Skew { by: i64, start: i64, end: i64 },
    /// The mine's batches of `system` are cut short (not JSON) in `[start, end)`.
    Garble {
        system: System,
        start: i64,
        end: i64,
    },
    /// The point reads about `level` with a little noise of its own in `[start, end)`, whatever
    /// the air does: it reports but does not sense (wrapped, or moved into fresh air).
    Pin {
        point: usize,
        level: f64,
        start: i64,
        end: i64,
    },
    /// Every tag reported underground in area `area` is reported in area `to` instead in
    /// `[start, end)`: the area's cards are elsewhere while it is worked.
    Vacate {
        area: u32,
        to: Arc<str>,
        start: i64,
        end: i64,
    },
    /// The clean values of every point in `[start, start + lag)` are recorded, tick by tick, and
    /// played back, over and over, in `[start + lag, end)` instead of the live ones.
    Replay { start: i64, lag: i64, end: i64 },
    /// In `[start, end)` each point reports what `map` gives it (by point index): the value a
    /// point of simulated mine `from` sent one tick earlier, a held value, or its own.
    Copy {
        from: usize,
        map: Arc<[Source]>,
        start: i64,
        end: i64,
    },
}

/// Where a point's value comes from under [`Effect::Copy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    /// That point of the other mine.
    Point(u32),
    /// This value, all along.
    Hold(f64),
    /// Its own value.
    Own,
}

impl Effect {
    /// The interval the effect covers.
    pub(crate) fn span(&self) -> (i64, i64) {
        match self {
            Effect::Level {
                start,
                ramp,
                hold,
                fall,
                ..
            }
            | Effect::Split {
                start,
                ramp,
                hold,
                fall,
                ..
            } => (*start, start + ramp + hold + fall),
            Effect::Issue { at, .. } => (*at, at + 1),
            Effect::Extend { down, until, .. } => (*down, *until),
            Effect::Silent { start, end, .. }
            | Effect::Fault { start, end, .. }
            | Effect::Ghost { start, end, .. }
            | Effect::Mute { start, end, .. }
            | Effect::Freeze { start, end, .. }
            | Effect::Calibrate { start, end, .. }
            | Effect::Camera { start, end, .. }
            | Effect::Load { start, end, .. }
            | Effect::Produce { start, end }
            | Effect::Gather { start, end, .. }
            | Effect::Crowd { start, end, .. }
            | Effect::Move { start, end, .. }
            | Effect::Flag { start, end, .. }
            | Effect::Skew { start, end, .. }
            | Effect::Garble { start, end, .. }
            | Effect::Pin { start, end, .. }
            | Effect::Vacate { start, end, .. }
            | Effect::Replay { start, end, .. }
            | Effect::Copy { start, end, .. }
            | Effect::LeadersUp { start, end } => (*start, *end),
        }
    }

    /// Until when the effect must be kept: an hour past its span (tags reported out, ramps back),
    /// a day for `LeadersUp` (the returning leaders' trips are shaped by it until they come up).
    pub(crate) fn keep_until(&self) -> i64 {
        match self {
            Effect::LeadersUp { end, .. } => end + crate::clock::DAY_MS,
            _ => self.span().1 + 3_600_000,
        }
    }

    /// Whether the effect acts at `t`.
    pub(crate) fn active(&self, t: i64) -> bool {
        let (s, e) = self.span();
        s <= t && t < e
    }

    /// The tag the effect is about, if any.
    pub(crate) fn tag(&self) -> Option<usize> {
        match self {
            Effect::Move { tag, .. } | Effect::Flag { tag, .. } | Effect::Extend { tag, .. } => {
                Some(*tag)
            }
            _ => None,
        }
    }

    /// How far a `Level` or `Split` effect has pulled its point towards the target at `t`, 0 to 1:
    /// quadratic in (slow start, so neighbours disagree only briefly), flat, quadratic out (fast
    /// drop).
    pub(crate) fn weight(&self, t: i64) -> f64 {
        let (start, ramp, hold, fall) = match *self {
            Effect::Level {
                start,
                ramp,
                hold,
                fall,
                ..
            }
            | Effect::Split {
                start,
                ramp,
                hold,
                fall,
                ..
            } => (start, ramp, hold, fall),
            _ => return 0.0,
        };
        let o = t - start;
        if o < 0 || o >= ramp + hold + fall {
            0.0
        } else if o < ramp {
            let x = o as f64 / ramp as f64;
            x * x
        } else if o < ramp + hold {
            1.0
        } else {
            let x = (o - ramp - hold) as f64 / fall as f64;
            (1.0 - x) * (1.0 - x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_effect_eases_in_holds_and_eases_out() {
        let e = Effect::Level {
            point: 0,
            target: 1.6,
            start: 1000,
            ramp: 100,
            hold: 50,
            fall: 100,
            hold_feeds: true,
        };
        assert_eq!(e.weight(999), 0.0);
        assert_eq!(e.weight(1000), 0.0);
        assert!((e.weight(1050) - 0.25).abs() < 1e-12);
        assert_eq!(e.weight(1100), 1.0);
        assert_eq!(e.weight(1149), 1.0);
        assert!((e.weight(1200) - 0.25).abs() < 1e-12);
        assert_eq!(e.weight(1250), 0.0);
        assert!(e.active(1249) && !e.active(1250));
    }
}
