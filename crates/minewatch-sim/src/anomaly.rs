//! Anomalies the simulator can inject: their names (the alert kinds of contract §3 they should
//! raise), how a subject is checked or picked, and the `Effect` each becomes on a timeline.

use minewatch_core::MineDef;
use minewatch_core::registry::{Location, PointKind};
use std::fmt;
use std::str::FromStr;

/// Anomalies the simulator can inject. More kinds will be added; each is named after the alert kind
/// (contract §3) it is meant to raise and parses from that name.
#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    /// A methane point rises past its power-off level over ~2 minutes, stays there ~3 minutes while
    /// its feed points keep reading 1 (power not cut), then falls back below restore.
    PowerOffFailure {
        /// The methane point; picked when `None` (one with feeds).
        point: Option<String>,
    },
    /// Methane rises past the alarm (not power-off) for ~3 minutes, feeds behave; then back.
    OverLimit {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// A point stops reporting for ~4 minutes (longer than the 120 s `point_silent` default), then
    /// resumes.
    PointSilent {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// A point reports status 128 (sensor fault) for ~3 minutes (longer than the 60 s
    /// `fault_after` default).
    SensorFault {
        /// The point; picked when `None`.
        point: Option<String>,
    },
    /// Readings from a point id the registry does not define (e.g. "X9001") for ~2 minutes.
    UnregisteredDevice {
        /// The undefined point id; `X9001` (or the next free one) when `None`.
        point: Option<String>,
    },
}

/// Ramp, hold and fall of a power-off failure.
const POWER_OFF_PHASES: (i64, i64, i64) = (120_000, 180_000, 60_000);
/// Ramp, hold and fall of an over-limit excursion.
const OVER_LIMIT_PHASES: (i64, i64, i64) = (90_000, 180_000, 60_000);
/// How long a silent point stays silent.
const SILENT_MS: i64 = 240_000;
/// How long a faulty sensor reports status 128.
const FAULT_MS: i64 = 180_000;
/// How long an unregistered device reports.
const GHOST_MS: i64 = 120_000;

impl Anomaly {
    /// Every anomaly name, in the order of the enum.
    pub const NAMES: [&'static str; 5] = [
        "power_off_failure",
        "over_limit",
        "point_silent",
        "sensor_fault",
        "unregistered_device",
    ];

    /// Parses `name` or `name:POINT`, e.g. `power_off_failure`, `over_limit:P0101`,
    /// `point_silent:P0105`; names are the alert kinds of contract §3.
    pub fn parse(spec: &str) -> Result<Anomaly, String> {
        let spec = spec.trim();
        let (name, point) = match spec.split_once(':') {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (spec, None),
        };
        let point = match point {
            None => None,
            Some(p) if minewatch_core::id::is_valid(p) => Some(p.to_string()),
            Some(p) => {
                return Err(format!(
                    "anomaly {spec:?}: point {p:?} is not 1-64 characters of A-Z a-z 0-9 _ - ."
                ));
            }
        };
        Ok(match name {
            "power_off_failure" => Anomaly::PowerOffFailure { point },
            "over_limit" => Anomaly::OverLimit { point },
            "point_silent" => Anomaly::PointSilent { point },
            "sensor_fault" => Anomaly::SensorFault { point },
            "unregistered_device" => Anomaly::UnregisteredDevice { point },
            _ => {
                return Err(format!(
                    "unknown anomaly {name:?}: expected one of {} (optionally followed by :POINT)",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }

    /// The alert kind this anomaly should raise, which is also its name.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The subject point, when one was named.
    pub fn point(&self) -> Option<&str> {
        match self {
            Anomaly::PowerOffFailure { point }
            | Anomaly::OverLimit { point }
            | Anomaly::PointSilent { point }
            | Anomaly::SensorFault { point }
            | Anomaly::UnregisteredDevice { point } => point.as_deref(),
        }
    }

    /// How long the anomaly lasts from its start, in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        match self {
            Anomaly::PowerOffFailure { .. } => {
                POWER_OFF_PHASES.0 + POWER_OFF_PHASES.1 + POWER_OFF_PHASES.2
            }
            Anomaly::OverLimit { .. } => {
                OVER_LIMIT_PHASES.0 + OVER_LIMIT_PHASES.1 + OVER_LIMIT_PHASES.2
            }
            Anomaly::PointSilent { .. } => SILENT_MS,
            Anomaly::SensorFault { .. } => FAULT_MS,
            Anomaly::UnregisteredDevice { .. } => GHOST_MS,
        }
    }

    /// Position in [`Anomaly::NAMES`].
    pub(crate) fn index(&self) -> usize {
        match self {
            Anomaly::PowerOffFailure { .. } => 0,
            Anomaly::OverLimit { .. } => 1,
            Anomaly::PointSilent { .. } => 2,
            Anomaly::SensorFault { .. } => 3,
            Anomaly::UnregisteredDevice { .. } => 4,
        }
    }

    /// The anomaly the `k`-th automatic schedule slot injects (subject picked).
    pub(crate) fn automatic(k: u64) -> Anomaly {
        match k % 4 {
            0 => Anomaly::PowerOffFailure { point: None },
            1 => Anomaly::PointSilent { point: None },
            2 => Anomaly::SensorFault { point: None },
            _ => Anomaly::OverLimit { point: None },
        }
    }

    /// Checks or picks the subject on `def` and turns the anomaly into an effect starting at `at`.
    /// `nth` counts earlier anomalies of this kind on this mine, so picks rotate.
    pub(crate) fn plan(
        &self,
        def: &MineDef,
        at: i64,
        nth: usize,
    ) -> Result<(String, Effect), String> {
        let mine = &def.id;
        let named = |p: &str| -> Result<usize, String> {
            def.point(p)
                .map(|i| i as usize)
                .ok_or_else(|| format!("mine {mine} has no point {p:?}"))
        };
        match self {
            Anomaly::PowerOffFailure { point } => {
                let ok = |i: usize| {
                    let p = &def.points[i];
                    !p.kind.is_switch() && p.limits.power_off.is_some() && !p.feeds.is_empty()
                };
                let i = match point {
                    Some(p) => {
                        let i = named(p)?;
                        if !ok(i) {
                            return Err(format!(
                                "power_off_failure needs a point with a power-off level and feeds; {p} of mine {mine} has not"
                            ));
                        }
                        i
                    }
                    None => pick(def, nth, |i| ok(i) && def.points[i].kind == PointKind::Ch4)
                        .or_else(|| pick(def, nth, ok))
                        .ok_or_else(|| {
                            format!("mine {mine} has no point with a power-off level and feeds")
                        })?,
                };
                let po = def.points[i].limits.power_off.unwrap_or(1.5);
                let target = po + (0.1 * po.abs()).max(0.1);
                let (ramp, hold, fall) = POWER_OFF_PHASES;
                Ok((
                    def.points[i].id.to_string(),
                    Effect::Level {
                        point: i,
                        target,
                        start: at,
                        ramp,
                        hold,
                        fall,
                        hold_feeds: true,
                    },
                ))
            }
            Anomaly::OverLimit { point } => {
                let any = |i: usize| {
                    let p = &def.points[i];
                    !p.kind.is_switch()
                        && (p.limits.alarm.is_some() || p.limits.alarm_low.is_some())
                };
                let clear_of_power_off = |i: usize| {
                    let l = &def.points[i].limits;
                    match (l.alarm, l.power_off) {
                        (Some(a), Some(po)) => po >= a + 0.1,
                        (Some(_), None) => true,
                        _ => false,
                    }
                };
                let i = match point {
                    Some(p) => {
                        let i = named(p)?;
                        if !any(i) {
                            return Err(format!(
                                "over_limit needs an analog point with an alarm limit; {p} of mine {mine} has none"
                            ));
                        }
                        i
                    }
                    None => pick(def, nth, |i| {
                        any(i) && clear_of_power_off(i) && def.points[i].kind == PointKind::Ch4
                    })
                    .or_else(|| pick(def, nth, |i| any(i) && clear_of_power_off(i)))
                    .or_else(|| pick(def, nth, any))
                    .ok_or_else(|| {
                        format!("mine {mine} has no analog point with an alarm limit")
                    })?,
                };
                let l = &def.points[i].limits;
                let target = match (l.alarm, l.power_off, l.alarm_low) {
                    (Some(a), Some(po), _) if po >= a + 0.1 => a + 0.4 * (po - a),
                    (Some(a), _, _) => a + (0.12 * a.abs()).max(0.05),
                    (None, _, Some(low)) => low - (0.02 * low.abs()).max(0.1),
                    (None, _, None) => 0.0,
                };
                let (ramp, hold, fall) = OVER_LIMIT_PHASES;
                Ok((
                    def.points[i].id.to_string(),
                    Effect::Level {
                        point: i,
                        target,
                        start: at,
                        ramp,
                        hold,
                        fall,
                        hold_feeds: false,
                    },
                ))
            }
            Anomaly::PointSilent { point } | Anomaly::SensorFault { point } => {
                let i = match point {
                    Some(p) => named(p)?,
                    None => pick(def, nth, |i| def.points[i].kind == PointKind::Ch4)
                        .or_else(|| pick(def, nth, |_| true))
                        .ok_or_else(|| format!("mine {mine} has no points"))?,
                };
                let id = def.points[i].id.to_string();
                Ok(if matches!(self, Anomaly::PointSilent { .. }) {
                    (
                        id,
                        Effect::Silent {
                            point: i,
                            start: at,
                            end: at + SILENT_MS,
                        },
                    )
                } else {
                    (
                        id,
                        Effect::Fault {
                            point: i,
                            start: at,
                            end: at + FAULT_MS,
                        },
                    )
                })
            }
            Anomaly::UnregisteredDevice { point } => {
                let id = match point {
                    Some(p) if def.point(p).is_some() => {
                        return Err(format!(
                            "unregistered_device needs an id mine {mine} does not define; {p} is defined"
                        ));
                    }
                    Some(p) => p.clone(),
                    None => (9001..)
                        .map(|n| format!("X{n}"))
                        .find(|id| def.point(id).is_none())
                        .unwrap_or_else(|| "X9001".into()),
                };
                Ok((
                    id.clone(),
                    Effect::Ghost {
                        id,
                        start: at,
                        end: at + GHOST_MS,
                    },
                ))
            }
        }
    }
}

/// The `nth` (wrapping) point satisfying `ok`, preferring the T1/T0 locations a regulator watches
/// first (coal face, heading, upper corner), then the others, each in registry order.
fn pick(def: &MineDef, nth: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    let rank = |i: usize| match def.points[i].location {
        Some(Location::CoalFace | Location::Heading | Location::UpperCorner) => 0,
        _ => 1,
    };
    let mut c: Vec<usize> = (0..def.points.len()).filter(|&i| ok(i)).collect();
    c.sort_by_key(|&i| (rank(i), i));
    (!c.is_empty()).then(|| c[nth % c.len()])
}

impl fmt::Display for Anomaly {
    /// The spec [`Anomaly::parse`] reads back: `name` or `name:POINT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.point() {
            Some(p) => write!(f, "{}:{p}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl FromStr for Anomaly {
    type Err = String;

    fn from_str(s: &str) -> Result<Anomaly, String> {
        Anomaly::parse(s)
    }
}

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
            } => (*start, start + ramp + hold + fall),
            Effect::Silent { start, end, .. }
            | Effect::Fault { start, end, .. }
            | Effect::Ghost { start, end, .. } => (*start, *end),
        }
    }

    /// Whether the effect acts at `t`.
    pub(crate) fn active(&self, t: i64) -> bool {
        let (s, e) = self.span();
        s <= t && t < e
    }

    /// How far a `Level` effect has pulled its point towards the target at `t`, 0 to 1: quadratic
    /// in (slow start, so neighbours disagree only briefly), flat, quadratic out (fast drop).
    pub(crate) fn weight(&self, t: i64) -> f64 {
        let Effect::Level {
            start,
            ramp,
            hold,
            fall,
            ..
        } = *self
        else {
            return 0.0;
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
    fn anomalies_parse_from_their_alert_kind_names_with_an_optional_point() {
        assert_eq!(
            Anomaly::parse("power_off_failure"),
            Ok(Anomaly::PowerOffFailure { point: None })
        );
        assert_eq!(
            Anomaly::parse("over_limit:P0101"),
            Ok(Anomaly::OverLimit {
                point: Some("P0101".into())
            })
        );
        assert_eq!(
            Anomaly::parse(" point_silent:P0105 "),
            Ok(Anomaly::PointSilent {
                point: Some("P0105".into())
            })
        );
        assert_eq!(
            Anomaly::parse("sensor_fault").map(|a| a.name()),
            Ok("sensor_fault")
        );
        assert_eq!(
            Anomaly::parse("unregistered_device:X9001").map(|a| a.to_string()),
            Ok("unregistered_device:X9001".into())
        );
        assert!(
            Anomaly::parse("meteor_strike")
                .expect_err("unknown")
                .contains("power_off_failure")
        );
        assert!(Anomaly::parse("over_limit:P 01").is_err());
        for name in Anomaly::NAMES {
            let a: Anomaly = name.parse().expect("each name parses");
            assert_eq!(a.name(), name);
            assert_eq!(a.to_string(), name);
        }
    }

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
