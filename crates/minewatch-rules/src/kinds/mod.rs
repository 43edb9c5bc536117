//! The alert kinds. **Each kind is one module** here, owning everything about it: its parameters
//! ([`params!`](crate::params)), the state it keeps on points, areas, cameras, meters, tags and the
//! mine (its slots), its evaluation hooks, how it restores from a stored alert after a restart,
//! whether its active alerts still apply after a registry reload, what an ack does to it, its
//! default severity and subject type, and its tests. It says so by implementing [`KindRule`].
//!
//! The one list of kinds is [`minewatch_core::for_each_kind!`]; expanded here by `register!`, it
//! declares the modules and generates, with static dispatch, everything that is "for every
//! kind": the slot structs ([`PointSlots`]...), the `[rules]` configuration ([`RulesConfig`]), the
//! engine's hooks ([`hooks`]), restore, reload and ack handling, and [`catalogue`] for
//! `GET /api/kinds`.

pub mod feed_index;
pub mod fingerprint;
pub mod state;

#[cfg(test)]
pub(crate) mod testkit;

pub use state::{
    AreaState, CamState, ExtraArea, MeterState, MineState, NEVER, PointState, Subject, TagState,
};

use crate::config::KindParams;
use minewatch_core::alert::{Alert, Change, Kind, KindInfo, Severity, SubjectType};
use minewatch_core::live::MineLive;
use minewatch_core::payload::{Batch, IssueObs, Reason, System, TagObs, Text};
use minewatch_core::registry::{Idx, MineDef};
use minewatch_core::time::Millis;
use std::fmt::Debug;

/// How the registry's ids map from before a reload to after it (`None`: gone, or now something
/// of another type), for kinds whose state holds indexes.
pub struct Remap<'a> {
    pub old: &'a MineDef,
    /// New index of each old point.
    pub points: &'a [Option<Idx>],
    /// New index of each old area.
    pub areas: &'a [Option<Idx>],
}

/// Why a reading of a registered point could not be applied to its state, yet is still judged
/// against the point's limits (a dangerous value is never dropped without an alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unapplied {
    /// Older than the point's latest reading and not one applied already: late or out of order.
    Late,
    /// Read from an element or a message that could not be decoded whole.
    Salvaged,
}

impl Unapplied {
    /// As written in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Unapplied::Late => "late",
            Unapplied::Salvaged => "salvaged",
        }
    }
}

/// One alert kind. Every hook has a default that does nothing, so a kind implements only what it
/// reacts to; the engine calls each hook of every kind, in list order, through the functions of
/// [`hooks`] (static dispatch: a kind without a hook costs nothing).
///
/// Hooks take the mine, this kind's [`KindRule::Params`], what happened, its event time, and the
/// changes to append to.
#[allow(unused_variables)]
pub trait KindRule {
    const KIND: Kind;
    /// What its alerts are about.
    const SUBJECT: SubjectType;
    /// The severity it raises with unless its condition says otherwise.
    const SEVERITY: Severity;
    /// One line: what it catches.
    const DESCRIPTION: &'static str;
    /// It does not resolve by itself but when acknowledged.
    const RESOLVES_ON_ACK: bool = false;
    /// The key of its part of the mine snapshot (state no alert carries), if it keeps one.
    const SNAPSHOT: &'static str = "";

    type Params: KindParams;
    /// What it keeps per point, area (registered or not), camera, meter, tag, and for the mine.
    type Point: Copy + Default + Debug;
    type Area: Copy + Default + Debug;
    type Camera: Clone + Default + Debug;
    type Meter: Clone + Default + Debug;
    type Tag: Clone + Default + Debug;
    type Mine: Default + Debug;

    /// A message of `system` arrived at wall time `wall`, as decoded: its times as the mine wrote
    /// them, before [`MineState::time_shift`] is applied (and before anything else is judged).
    fn on_arrival(
        m: &mut MineState,
        p: &Self::Params,
        system: System,
        batch: &Batch<'_>,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// A message of `system` from this mine was rejected whole, for `reason`, at wall time `wall`.
    fn on_rejected(
        m: &mut MineState,
        p: &Self::Params,
        system: System,
        reason: Reason,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// A reading of point `i` that could not be applied to its state (see [`Unapplied`]).
    #[allow(clippy::too_many_arguments)]
    fn on_unapplied(
        m: &mut MineState,
        p: &Self::Params,
        i: Idx,
        value: f64,
        status: u32,
        at: Millis,
        why: Unapplied,
        out: &mut Vec<Change>,
    ) {
    }
    /// A message of `system` arrived at wall time `wall`, with event time `at`.
    fn on_message(
        m: &mut MineState,
        p: &Self::Params,
        system: System,
        at: Millis,
        wall: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// Point `i` has a new reading (already in its [`PointState`]).
    fn on_reading(m: &mut MineState, p: &Self::Params, i: Idx, at: Millis, out: &mut Vec<Change>) {}
    /// Point `i`'s neighbour on its airflow reached or left alarm.
    fn on_neighbour_alarm(
        m: &mut MineState,
        p: &Self::Params,
        i: Idx,
        at: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// A `device` (`point`, `camera`, `meter`, `area`) the registry does not define reported.
    fn on_unknown(
        m: &mut MineState,
        p: &Self::Params,
        device: &'static str,
        id: &str,
        at: Millis,
        value: Option<f64>,
        out: &mut Vec<Change>,
    ) {
    }
    /// A tag observation (already applied to the tags, if not older than what they hold).
    fn on_tag(m: &mut MineState, p: &Self::Params, obs: &TagObs<'_>, out: &mut Vec<Change>) {}
    /// A personnel batch has been applied and the people recounted.
    fn after_personnel(m: &mut MineState, p: &Self::Params, at: Millis, out: &mut Vec<Change>) {}
    /// Camera `c` reported (its state is in [`CamState`]) with these AI events.
    fn on_camera(
        m: &mut MineState,
        p: &Self::Params,
        c: Idx,
        events: &[Text<'_>],
        at: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// A video batch has been applied.
    fn after_video(m: &mut MineState, p: &Self::Params, at: Millis, out: &mut Vec<Change>) {}
    /// Meter `i` reported (its reading is in [`MeterState`]).
    fn on_meter(m: &mut MineState, p: &Self::Params, i: Idx, at: Millis, out: &mut Vec<Change>) {}
    /// An explosives issue.
    fn on_issue(m: &mut MineState, p: &Self::Params, issue: &IssueObs<'_>, out: &mut Vec<Change>) {}
    /// After a personnel, power or explosives batch and after a sweep: judge several systems.
    fn cross_system(m: &mut MineState, p: &Self::Params, at: Millis, out: &mut Vec<Change>) {}
    /// The mine clock reached a pending deadline ([`MineState::due`]): judge every timed condition.
    fn sweep(
        m: &mut MineState,
        p: &Self::Params,
        clock: Millis,
        epoch: Millis,
        out: &mut Vec<Change>,
    ) {
    }
    /// A wall-clock tick.
    fn on_tick(m: &mut MineState, p: &Self::Params, wall: Millis, out: &mut Vec<Change>) {}
    /// The mine's effective status changed (a regulator's order).
    fn on_status(m: &mut MineState, p: &Self::Params, at: Millis, out: &mut Vec<Change>) {}
    /// An operator acknowledged an active alert of this kind.
    fn on_ack(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {}

    /// Takes back an active alert from the store after a restart; `false` if its subject is no
    /// longer defined (the engine then resolves it).
    fn restore(m: &mut MineState, a: &Alert) -> bool;

    /// Whether an active alert about `subject` still applies after a registry reload from `old`
    /// to `m.def` (state already carried over). By default: its subject is still there, as the
    /// same type of thing.
    fn still_applies(old: &MineDef, m: &MineState, subject: &str) -> bool {
        subject_still_there(Self::SUBJECT, old, &m.def, subject)
    }
    /// Carries a point slot over a reload (fix indexes it holds).
    fn rebind_point(slot: &mut Self::Point, r: &Remap<'_>) {}
    /// Carries a tag slot over a reload.
    fn rebind_tag(slot: &mut Self::Tag, r: &Remap<'_>) {}
    /// Carries the mine slot over a reload.
    /// By default a mine-subject kind starts afresh when the mine has left the registry (its
    /// alert is resolved then), and every other kind keeps its mine slot.
    fn rebind_mine(
        slot: Self::Mine,
        r: &Remap<'_>,
        m: &MineState,
        at: Millis,
        out: &mut Vec<Change>,
    ) -> Self::Mine {
        if Self::SUBJECT == SubjectType::Mine
            && !subject_still_there(Self::SUBJECT, r.old, &m.def, "")
        {
            Self::Mine::default()
        } else {
            slot
        }
    }

    /// What it adds to the live picture the API and dashboard read.
    fn export(m: &MineState, live: &mut MineLive) {}

    /// Its part of the mine snapshot.
    fn snapshot(m: &MineState) -> Option<serde_json::Value> {
        None
    }
    /// Takes back its part of a snapshot (JSON text); what no longer fits is dropped.
    fn restore_snapshot(m: &mut MineState, json: &str) {}
}

/// Whether `subject`, of type `t`, is still the same thing after a reload from `old` to `new`.
/// Points, areas, cameras and meters must still be defined with the same kind (a point that became
/// a CO sensor, an area that was sealed, is not the one the alert was about); the mine must still
/// be registered; tags are not registry objects and devices outside it are their kind's business.
pub fn subject_still_there(t: SubjectType, old: &MineDef, new: &MineDef, subject: &str) -> bool {
    match t {
        SubjectType::Point => {
            let kind = |d: &MineDef| d.point(subject).map(|i| d.points[i as usize].kind);
            kind(new).is_some() && kind(new) == kind(old)
        }
        SubjectType::Area => {
            let kind = |d: &MineDef| d.area(subject).map(|i| d.areas[i as usize].kind);
            // An area neither defines is one seen only in data: still there.
            kind(new) == kind(old)
        }
        SubjectType::Camera => {
            let kind = |d: &MineDef| d.camera(subject).map(|i| d.cameras[i as usize].watches);
            kind(new).is_some() && kind(new) == kind(old)
        }
        SubjectType::Meter => {
            let kind = |d: &MineDef| d.meter(subject).map(|i| d.meters[i as usize].load);
            kind(new).is_some() && kind(new) == kind(old)
        }
        SubjectType::Mine => new.registered || !old.registered,
        SubjectType::Tag | SubjectType::Device => true,
    }
}

macro_rules! register {
    ($($snake:ident $camel:ident),* $(,)?) => {
        $(pub mod $snake;)*

        /// What every kind keeps about one point.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct PointSlots { $(pub $snake: <$snake::Rule as KindRule>::Point,)* }
        /// What every kind keeps about one area.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct AreaSlots { $(pub $snake: <$snake::Rule as KindRule>::Area,)* }
        /// What every kind keeps about one camera.
        #[derive(Debug, Clone, Default)]
        pub struct CameraSlots { $(pub $snake: <$snake::Rule as KindRule>::Camera,)* }
        /// What every kind keeps about one meter.
        #[derive(Debug, Clone, Default)]
        pub struct MeterSlots { $(pub $snake: <$snake::Rule as KindRule>::Meter,)* }
        /// What every kind keeps about one tag.
        #[derive(Debug, Clone, Default)]
        pub struct TagSlots { $(pub $snake: <$snake::Rule as KindRule>::Tag,)* }
        /// What every kind keeps about the mine.
        #[derive(Debug, Default)]
        pub struct MineSlots { $(pub $snake: <$snake::Rule as KindRule>::Mine,)* }

        /// The `[rules]` section: every kind's parameters, each key written flat under `[rules]`.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct RulesConfig { $(pub $snake: <$snake::Rule as KindRule>::Params,)* }

        impl RulesConfig {
            /// Every key, for errors naming what is allowed.
            pub fn keys() -> &'static [&'static str] {
                static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
                KEYS.get_or_init(|| {
                    let mut keys = Vec::new();
                    $(for k in <<$snake::Rule as KindRule>::Params as KindParams>::KEYS {
                        if !keys.contains(k) {
                            keys.push(*k);
                        }
                    })*
                    keys
                })
            }

            /// The value of duration parameter `key` (of the first kind that declares it), in
            /// milliseconds.
            pub fn duration(&self, key: &str) -> Option<Millis> {
                $(if let Some(ms) = self.$snake.duration(key) {
                    return Some(ms);
                })*
                None
            }

            /// Sets `key` in every kind that declares it; `false` if none does.
            pub fn set(&mut self, key: &str, v: toml::Value) -> Result<bool, toml::de::Error> {
                let mut known = false;
                $(if <<$snake::Rule as KindRule>::Params as KindParams>::KEYS.contains(&key) {
                    self.$snake.set(key, v.clone())?;
                    known = true;
                })*
                Ok(known)
            }
        }

        /// Every kind described for `GET /api/kinds`, in list order.
        pub fn catalogue() -> Vec<KindInfo> {
            vec![$(KindInfo {
                name: <$snake::Rule as KindRule>::KIND,
                subject: <$snake::Rule as KindRule>::SUBJECT,
                severity: <$snake::Rule as KindRule>::SEVERITY,
                description: <$snake::Rule as KindRule>::DESCRIPTION,
                resolves_on_ack: <$snake::Rule as KindRule>::RESOLVES_ON_ACK,
                params: <<$snake::Rule as KindRule>::Params as Default>::default().describe(),
            },)*]
        }

        /// The engine's hooks: each calls that hook of every kind, in list order.
        #[allow(clippy::too_many_arguments)]
        pub mod hooks {
            use super::*;

            pub fn on_arrival(m: &mut MineState, p: &RulesConfig, system: System, batch: &Batch<'_>, wall: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_arrival(m, &p.$snake, system, batch, wall, out);)*
            }
            pub fn on_rejected(m: &mut MineState, p: &RulesConfig, system: System, reason: Reason, wall: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_rejected(m, &p.$snake, system, reason, wall, out);)*
            }
            pub fn on_unapplied(m: &mut MineState, p: &RulesConfig, i: Idx, value: f64, status: u32, at: Millis, why: Unapplied, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_unapplied(m, &p.$snake, i, value, status, at, why, out);)*
            }
            pub fn on_message(m: &mut MineState, p: &RulesConfig, system: System, at: Millis, wall: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_message(m, &p.$snake, system, at, wall, out);)*
            }
            pub fn on_reading(m: &mut MineState, p: &RulesConfig, i: Idx, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_reading(m, &p.$snake, i, at, out);)*
            }
            pub fn on_neighbour_alarm(m: &mut MineState, p: &RulesConfig, i: Idx, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_neighbour_alarm(m, &p.$snake, i, at, out);)*
            }
            pub fn on_unknown(m: &mut MineState, p: &RulesConfig, device: &'static str, id: &str, at: Millis, value: Option<f64>, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_unknown(m, &p.$snake, device, id, at, value, out);)*
            }
            pub fn on_tag(m: &mut MineState, p: &RulesConfig, obs: &TagObs<'_>, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_tag(m, &p.$snake, obs, out);)*
            }
            pub fn after_personnel(m: &mut MineState, p: &RulesConfig, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::after_personnel(m, &p.$snake, at, out);)*
            }
            pub fn on_camera(m: &mut MineState, p: &RulesConfig, c: Idx, events: &[Text<'_>], at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_camera(m, &p.$snake, c, events, at, out);)*
            }
            pub fn after_video(m: &mut MineState, p: &RulesConfig, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::after_video(m, &p.$snake, at, out);)*
            }
            pub fn on_meter(m: &mut MineState, p: &RulesConfig, i: Idx, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_meter(m, &p.$snake, i, at, out);)*
            }
            pub fn on_issue(m: &mut MineState, p: &RulesConfig, issue: &IssueObs<'_>, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_issue(m, &p.$snake, issue, out);)*
            }
            pub fn cross_system(m: &mut MineState, p: &RulesConfig, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::cross_system(m, &p.$snake, at, out);)*
            }
            pub fn sweep(m: &mut MineState, p: &RulesConfig, clock: Millis, epoch: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::sweep(m, &p.$snake, clock, epoch, out);)*
            }
            pub fn on_tick(m: &mut MineState, p: &RulesConfig, wall: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_tick(m, &p.$snake, wall, out);)*
            }
            pub fn on_status(m: &mut MineState, p: &RulesConfig, at: Millis, out: &mut Vec<Change>) {
                $(<$snake::Rule as KindRule>::on_status(m, &p.$snake, at, out);)*
            }
            /// The ack hook of `alert`'s kind.
            pub fn on_ack(m: &mut MineState, alert: &Alert, at: Millis, out: &mut Vec<Change>) {
                match alert.kind {
                    $(Kind::$camel => <$snake::Rule as KindRule>::on_ack(m, alert, at, out),)*
                }
            }
            /// The restore of `a`'s kind.
            pub fn restore(m: &mut MineState, a: &Alert) -> bool {
                match a.kind {
                    $(Kind::$camel => <$snake::Rule as KindRule>::restore(m, a),)*
                }
            }
            /// Whether an active alert of `kind` still applies after a reload.
            pub fn still_applies(kind: Kind, old: &MineDef, m: &MineState, subject: &str) -> bool {
                match kind {
                    $(Kind::$camel => <$snake::Rule as KindRule>::still_applies(old, m, subject),)*
                }
            }
            pub fn rebind_point(slots: &mut PointSlots, r: &Remap<'_>) {
                $(<$snake::Rule as KindRule>::rebind_point(&mut slots.$snake, r);)*
            }
            pub fn rebind_tag(slots: &mut TagSlots, r: &Remap<'_>) {
                $(<$snake::Rule as KindRule>::rebind_tag(&mut slots.$snake, r);)*
            }
            /// Carries every kind's mine slot from `old` into `m`.
            pub fn rebind_mine(old: MineSlots, r: &Remap<'_>, m: &mut MineState, at: Millis, out: &mut Vec<Change>) {
                $(m.kinds.$snake = <$snake::Rule as KindRule>::rebind_mine(old.$snake, r, m, at, out);)*
            }
            pub fn export(m: &MineState, live: &mut MineLive) {
                $(<$snake::Rule as KindRule>::export(m, live);)*
            }
            /// Every kind's part of the snapshot, by its key.
            pub fn snapshot(m: &MineState, into: &mut serde_json::Map<String, serde_json::Value>) {
                $(if let Some(v) = <$snake::Rule as KindRule>::snapshot(m) {
                    into.insert(<$snake::Rule as KindRule>::SNAPSHOT.to_string(), v);
                })*
            }
            /// Gives the part of a snapshot stored under `key` to the kind that keeps it.
            pub fn restore_snapshot(m: &mut MineState, key: &str, json: &str) {
                $(if !<$snake::Rule as KindRule>::SNAPSHOT.is_empty() && <$snake::Rule as KindRule>::SNAPSHOT == key {
                    <$snake::Rule as KindRule>::restore_snapshot(m, json);
                })*
            }
        }

        #[cfg(test)]
        mod registration_tests {
            use super::*;

            #[test]
            fn every_module_implements_the_kind_it_is_registered_as() {
                $(assert_eq!(<$snake::Rule as KindRule>::KIND, Kind::$camel);)*
                assert_eq!(catalogue().len(), Kind::ALL.len());
            }
        }
    };
}

minewatch_core::for_each_kind!(register);

/// `[rules]` is read key by key: each key goes to every kind that declares it, so an unknown key
/// or a bad value is an error at its own line.
impl<'de> serde::Deserialize<'de> for RulesConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{DeserializeSeed, Error, MapAccess, Visitor};

        struct Key;
        impl<'de> DeserializeSeed<'de> for Key {
            type Value = String;
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
                let key = <String as serde::Deserialize>::deserialize(d)?;
                if RulesConfig::keys().contains(&key.as_str()) {
                    Ok(key)
                } else {
                    Err(D::Error::unknown_field(&key, RulesConfig::keys()))
                }
            }
        }
        struct Value<'a>(&'a mut RulesConfig, &'a str);
        impl<'de> DeserializeSeed<'de> for Value<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                let v = crate::config::value_of(d)?;
                self.0.set(self.1, v).map(|_| ()).map_err(D::Error::custom)
            }
        }
        struct Rules;
        impl<'de> Visitor<'de> for Rules {
            type Value = RulesConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of rule parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RulesConfig, A::Error> {
                let mut c = RulesConfig::default();
                while let Some(key) = map.next_key_seed(Key)? {
                    map.next_value_seed(Value(&mut c, &key))?;
                }
                Ok(c)
            }
        }
        d.deserialize_map(Rules)
    }
}

/// Declares a kind's slot types: the ones named, the unit type for the rest.
///
/// ```ignore
/// slots!(point = Slot, mine = Timed);
/// ```
#[macro_export]
macro_rules! slots {
    ($($which:ident = $ty:ty),* $(,)?) => {
        $crate::slots!(@acc [(), (), (), (), (), ()] $($which = $ty,)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] point = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$x, $a, $c, $me, $t, $mi] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] area = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$p, $x, $c, $me, $t, $mi] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] camera = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$p, $a, $x, $me, $t, $mi] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] meter = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$p, $a, $c, $x, $t, $mi] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] tag = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$p, $a, $c, $me, $x, $mi] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty] mine = $x:ty, $($rest:tt)*) => {
        $crate::slots!(@acc [$p, $a, $c, $me, $t, $x] $($rest)*);
    };
    (@acc [$p:ty, $a:ty, $c:ty, $me:ty, $t:ty, $mi:ty]) => {
        type Point = $p;
        type Area = $a;
        type Camera = $c;
        type Meter = $me;
        type Tag = $t;
        type Mine = $mi;
    };
}

use minewatch_core::payload::CameraState;
use minewatch_core::time::format_rfc3339;

/// A camera state as written in payloads.
pub fn camera_state_name(s: CameraState) -> &'static str {
    match s {
        CameraState::Ok => "ok",
        CameraState::Offline => "offline",
        CameraState::SignalLoss => "signal_loss",
        CameraState::Frozen => "frozen",
        CameraState::Occluded => "occluded",
        CameraState::SceneChange => "scene_change",
        CameraState::Degraded => "degraded",
    }
}

/// Status bit: the point is being calibrated (test gas); its value is not a reading of the air.
pub const STATUS_CALIBRATION: u32 = 4;
/// Status bits that mean the reading cannot be trusted: over-range, substation fault, not polled,
/// sensor fault.
pub const STATUS_FAULT: u32 = 8 | 16 | 32 | 128;

/// Names of the set status bits, for messages and evidence.
pub fn status_names(status: u32) -> Vec<&'static str> {
    [
        (1, "alarm"),
        (2, "power-off"),
        (4, "calibration"),
        (8, "over-range"),
        (16, "substation fault"),
        (32, "not polled"),
        (64, "paused"),
        (128, "sensor fault"),
    ]
    .into_iter()
    .filter(|(bit, _)| status & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

/// A value kept as `f32` as the `f64` of its shortest decimal form: 0.42 stays 0.42 in evidence,
/// not 0.41999998688697815.
pub fn widen(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// A value with its unit, trimmed of float noise.
pub fn fmt_value(v: f64, unit: &str) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// Event time as RFC 3339, for evidence.
pub fn ts(ms: i64) -> String {
    format_rfc3339(ms)
}
