//! Anomalies the simulator can inject: an [`Anomaly`] is an alert kind of contract §3 and,
//! optionally, the subject it should be raised on.
//!
//! Every kind of contract §3 can be injected. Each injection shows its condition clearly and long
//! enough for the rules' default parameters, then returns to normal so the alert resolves (except
//! the kinds that stay until acknowledged), and avoids raising anything else: subjects are picked
//! (or checked, when named) so that the injection raises its own kind only, wherever the registry
//! allows. What an injection cannot avoid raising besides its own kind is listed in
//! [`crate::sim::Injection::also`].
//!
//! Each kind's planner lives in its own module `anomaly::<kind>` (one file per kind, named after
//! it): how its subject is checked or picked, the `Effect`s (`crate::effect`) it becomes on a
//! timeline, how long it lasts, when other kinds' effects raise it too, and the hooks through which
//! it shapes what only its kind does to the data (safety readings, tags, batches, production).
//! This module only dispatches to them, statically, from the one list of kinds
//! `minewatch_core::for_each_kind!`; what the planners share is in `plan` and `pick`, which import
//! no planner. Adding a kind is its line in that list and its planner file here.

mod pick;
mod plan;
#[cfg(test)]
mod tests;

pub(crate) use plan::{Ctx, Other};
use plan::{Planned, Planner};

use crate::effect::Effect;
use crate::people::Tags;
use crate::rng::Rng;
use crate::values::Readings;
use minewatch_core::payload::System;
use minewatch_core::{Kind, SubjectType};
use std::fmt;
use std::str::FromStr;

/// An anomaly the simulator can inject: the alert kind it raises, and the subject it raises it on
/// (a point, area, tag, camera, meter or the mine, as that kind's alerts are about), picked
/// deterministically when `None`. Written and parsed as `kind` or `kind:SUBJECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The alert kind it should raise, which is also its name.
    pub kind: Kind,
    /// The subject, when named.
    pub subject: Option<String>,
}

impl From<Kind> for Anomaly {
    fn from(kind: Kind) -> Anomaly {
        Anomaly::new(kind)
    }
}

/// Declares one module per kind and dispatches to each module's `ThisKind` planner.
macro_rules! planners {
    ($($snake:ident $camel:ident),* $(,)?) => {
        $(pub(crate) mod $snake;)*

        impl Anomaly {
            /// Every anomaly name: the alert kinds of contract §3, in the order the automatic
            /// schedule takes them (each planner's `ORDER`).
            pub const NAMES: [&'static str; Kind::ALL.len()] = {
                let mut names = [""; Kind::ALL.len()];
                $(names[<$snake::ThisKind as Planner>::ORDER] = stringify!($snake);)*
                names
            };
        }

        /// Each planner says which kind it is, and has a place of its own in the order.
        const _: () = {
            $(assert!(matches!(<$snake::ThisKind as Planner>::KIND, Kind::$camel));)*
            let mut i = 0;
            while i < Anomaly::NAMES.len() {
                assert!(!Anomaly::NAMES[i].is_empty(), "two planners share an ORDER");
                i += 1;
            }
        };

        /// The place of `kind` in [`Anomaly::NAMES`].
        fn order(kind: Kind) -> usize {
            match kind { $(Kind::$camel => <$snake::ThisKind as Planner>::ORDER),* }
        }

        fn subject_type(kind: Kind) -> SubjectType {
            match kind { $(Kind::$camel => <$snake::ThisKind as Planner>::SUBJECT),* }
        }

        fn automatic(kind: Kind) -> bool {
            match kind { $(Kind::$camel => <$snake::ThisKind as Planner>::AUTOMATIC),* }
        }

        fn duration_ms(kind: Kind) -> i64 {
            match kind { $(Kind::$camel => <$snake::ThisKind as Planner>::DURATION_MS),* }
        }

        fn note(kind: Kind) -> Option<&'static str> {
            match kind { $(Kind::$camel => <$snake::ThisKind as Planner>::NOTE),* }
        }

        fn plan_of(kind: Kind, ctx: &Ctx<'_>, subject: Option<&str>, at: i64) -> Result<Planned, String> {
            match kind {
                $(Kind::$camel => <$snake::ThisKind as Planner>::plan(ctx, subject, at)),*
            }
        }

        /// The boolean fields every personnel tag carries, one per kind that sets one.
        pub(crate) fn tag_flags() -> Vec<&'static str> {
            [$(<$snake::ThisKind as Planner>::TAG_FLAG),*].into_iter().flatten().collect()
        }

        /// Applies the planners' changes to this tick's safety readings: each effect in order,
        /// then what each planner does after them.
        pub(crate) fn shape_safety(effects: &[Effect], readings: &mut Readings<'_>, t: i64) {
            for effect in effects {
                $(<$snake::ThisKind as Planner>::shape_safety(effect, readings, t);)*
            }
            $(<$snake::ThisKind as Planner>::after_safety(effects, readings, t);)*
        }

        /// Applies the planners' changes to this tick's tags.
        pub(crate) fn shape_tags(effects: &[Effect], tags: &mut Tags<'_>, t: i64) {
            $(<$snake::ThisKind as Planner>::shape_tags(effects, tags, t);)*
        }

        /// Whether any planner's `effects` keep the batch of `system` from being sent at `t`.
        pub(crate) fn silences(effects: &[Effect], system: System, t: i64) -> bool {
            false $(|| <$snake::ThisKind as Planner>::silences(effects, system, t))*
        }

        /// How far the planners' `effects` set the mine's clock off for `system` at `t`, in ms.
        pub(crate) fn clock_offset(effects: &[Effect], system: System, t: i64) -> i64 {
            0 $(+ <$snake::ThisKind as Planner>::clock_offset(effects, system, t))*
        }

        /// What the planners' `effects` do to a finished batch of `system` at `t`.
        pub(crate) fn mangle(effects: &[Effect], system: System, t: i64, payload: &mut Vec<u8>) {
            $(<$snake::ThisKind as Planner>::mangle(effects, system, t, payload);)*
        }

        /// Appends the planners' extra safety readings at `t` after `written` others; returns
        /// how many were written.
        pub(crate) fn push_readings(
            effects: &[Effect],
            t: i64,
            rng: &mut Rng,
            out: &mut String,
            written: usize,
        ) -> usize {
            let mut n = written;
            $(n += <$snake::ThisKind as Planner>::push_readings(effects, t, rng, out, n);)*
            n - written
        }

        /// Whether production loads may run at `t`, and the production intensity, after the
        /// planners' effects, `now` being the mine's own.
        pub(crate) fn production(effects: &[Effect], t: i64, now: (bool, f64)) -> (bool, f64) {
            let mut now = now;
            $(now = <$snake::ThisKind as Planner>::production(effects, t, now);)*
            now
        }

        /// What `effects`, planned for an injection of `kind`, raise besides `kind` itself.
        pub(crate) fn companions(ctx: &Ctx<'_>, kind: Kind, effects: &[Effect]) -> Vec<(&'static str, String)> {
            let mut out = Vec::new();
            $(
                if kind != Kind::$camel {
                    for subject in <$snake::ThisKind as Planner>::companions(ctx, effects) {
                        out.push((stringify!($snake), subject));
                    }
                }
            )*
            out
        }
    };
}

minewatch_core::for_each_kind!(planners);

/// An anomaly turned into effects, with what else it raises.
#[derive(Debug)]
pub(crate) struct Scheduled {
    /// The subject of the alert it raises.
    pub(crate) subject: String,
    pub(crate) effects: Vec<Effect>,
    /// When the anomalous data ends.
    pub(crate) until: i64,
    /// Other alerts (kind, subject) it necessarily raises.
    pub(crate) also: Vec<(&'static str, String)>,
}

impl Anomaly {
    /// An anomaly of `kind` on a subject picked when injected.
    pub fn new(kind: Kind) -> Anomaly {
        Anomaly {
            kind,
            subject: None,
        }
    }

    /// An anomaly of `kind` on `subject`.
    pub fn on(kind: Kind, subject: impl Into<String>) -> Anomaly {
        Anomaly {
            kind,
            subject: Some(subject.into()),
        }
    }

    /// Parses `name` or `name:SUBJECT`, e.g. `KIND`, `KIND:P0101`, `KIND:C09`, `KIND:T1005`; names
    /// are the alert kinds of contract §3 ([`Anomaly::NAMES`]) and the subject is what that alert
    /// is about (a point, area, tag, camera, meter or the mine).
    pub fn parse(spec: &str) -> Result<Anomaly, String> {
        let spec = spec.trim();
        let (name, subject) = match spec.split_once(':') {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (spec, None),
        };
        let subject = match subject {
            None => None,
            Some(p) if minewatch_core::id::is_valid(p) => Some(p.to_string()),
            Some(p) => {
                return Err(format!(
                    "anomaly {spec:?}: subject {p:?} is not 1-64 characters of A-Z a-z 0-9 _ - ."
                ));
            }
        };
        let kind = Kind::parse(name).ok_or_else(|| {
            format!(
                "unknown anomaly {name:?}: expected one of {} (optionally followed by :SUBJECT)",
                Self::NAMES.join(", ")
            )
        })?;
        Ok(Anomaly { kind, subject })
    }

    /// The alert kind this anomaly should raise, which is also its name.
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The subject point, when one was named and the subject is a point.
    pub fn point(&self) -> Option<&str> {
        (subject_type(self.kind) == SubjectType::Point)
            .then_some(self.subject.as_deref())
            .flatten()
    }

    /// The subject, when one was named.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// How long the anomalous data lasts from its start, in milliseconds (the alert resolves after
    /// its own delay on top). Where the end depends on the subject (a tag kept on past its shift)
    /// this is the nominal figure for an 8-hour shift; the exact end is in
    /// [`crate::sim::Injection::until`]. An instant (one message) is 0.
    pub fn duration_ms(&self) -> i64 {
        duration_ms(self.kind)
    }

    /// What someone injecting this anomaly by hand should know, if anything (its planner's
    /// `NOTE`).
    pub fn note(&self) -> Option<&'static str> {
        note(self.kind)
    }

    /// Position in [`Anomaly::NAMES`].
    pub(crate) fn index(&self) -> usize {
        order(self.kind)
    }

    /// The kinds the automatic schedule injects, in turn: every kind a producing mine can show
    /// within minutes (not those that need days of learning or a suspension order first).
    pub fn automatic_kinds() -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .copied()
            .filter(|n| Kind::parse(n).is_some_and(automatic))
            .collect()
    }

    /// The anomaly the `k`-th automatic schedule slot injects (subject picked).
    pub(crate) fn automatic(k: u64) -> Anomaly {
        let names = Self::automatic_kinds();
        let name = names[(k % names.len() as u64) as usize];
        Anomaly::new(Kind::parse(name).unwrap_or(Kind::ALL[0]))
    }

    /// Checks or picks the subject on the mine of `ctx` and turns the anomaly into effects
    /// starting at `at`, with the other alerts they raise.
    pub(crate) fn plan(&self, ctx: &Ctx<'_>, at: i64) -> Result<Scheduled, String> {
        let Planned {
            subject,
            effects,
            until,
        } = plan_of(self.kind, ctx, self.subject.as_deref(), at)?;
        let also = companions(ctx, self.kind, &effects);
        Ok(Scheduled {
            subject,
            effects,
            until,
            also,
        })
    }
}

impl fmt::Display for Anomaly {
    /// The spec [`Anomaly::parse`] reads back: `name` or `name:SUBJECT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subject() {
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
