//! How a kind declares its parameters ([`params!`](crate::params)), and how a value written under
//! `[rules]` becomes one: durations take units ("10s", "5m", "3d") or seconds and are kept in
//! milliseconds; numbers must be finite and >= 0; counts are whole numbers.
//!
//! Every key is written flat under `[rules]`, as before kinds owned their parameters. A key that
//! two kinds declare (`silent_after`, `explosives_sign_for`) sets both.

use minewatch_core::ParamInfo;
use minewatch_core::time::{Millis, de_duration, millis};
use serde::Deserialize;

/// A parameter type: how it is read from the config and shown in `/api/kinds`.
pub trait ParamType {
    /// What the engine keeps.
    type Value: Copy + PartialEq + std::fmt::Debug;
    /// Reads a value as written in the config.
    fn parse(v: toml::Value) -> Result<Self::Value, toml::de::Error>;
    /// The value as it would be written in the config.
    fn show(v: Self::Value) -> serde_json::Value;
    /// The value in milliseconds, if it is a duration.
    fn as_millis(_: Self::Value) -> Option<Millis> {
        None
    }
}

/// A duration, kept in milliseconds.
pub struct Duration;
/// A finite number >= 0.
pub struct Number;
/// A whole number.
pub struct Count;

impl ParamType for Duration {
    type Value = Millis;
    fn parse(v: toml::Value) -> Result<Millis, toml::de::Error> {
        de_duration(v).map(millis)
    }
    fn show(ms: Millis) -> serde_json::Value {
        let s = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ]
        .into_iter()
        .find(|&(unit, _)| ms != 0 && ms % unit == 0)
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, u)| format!("{}{u}", ms / unit),
        );
        serde_json::Value::String(s)
    }
    fn as_millis(ms: Millis) -> Option<Millis> {
        Some(ms)
    }
}

impl ParamType for Number {
    type Value = f64;
    fn parse(v: toml::Value) -> Result<f64, toml::de::Error> {
        let x = f64::deserialize(v)?;
        if x.is_finite() && x >= 0.0 {
            Ok(x)
        } else {
            Err(serde::de::Error::custom(format!(
                "{x} must be a number >= 0"
            )))
        }
    }
    fn show(x: f64) -> serde_json::Value {
        serde_json::json!(x)
    }
}

impl ParamType for Count {
    type Value = u32;
    fn parse(v: toml::Value) -> Result<u32, toml::de::Error> {
        u32::deserialize(v)
    }
    fn show(n: u32) -> serde_json::Value {
        serde_json::json!(n)
    }
}

/// `n` seconds in milliseconds, for defaults.
pub const fn secs(n: i64) -> Millis {
    n * 1000
}

/// `n` minutes in milliseconds, for defaults.
pub const fn mins(n: i64) -> Millis {
    n * 60_000
}

/// `n` hours in milliseconds, for defaults.
pub const fn hours(n: i64) -> Millis {
    n * 3_600_000
}

/// The parameters of one kind, as [`params!`](crate::params) declares them.
pub trait KindParams: Default + Copy + PartialEq + std::fmt::Debug {
    /// Its keys under `[rules]`.
    const KEYS: &'static [&'static str];
    /// Sets `key` (one of [`KindParams::KEYS`]) from its config value.
    fn set(&mut self, key: &str, v: toml::Value) -> Result<(), toml::de::Error>;
    /// Each parameter with its value (the default, on a default instance), unit and doc.
    fn describe(&self) -> Vec<ParamInfo>;
    /// The value of duration parameter `key`, in milliseconds.
    fn duration(&self, key: &str) -> Option<Millis>;
}

/// Declares a kind's `Params`: one line per parameter with its doc comment, its key, its type
/// ([`Duration`], [`Number`] or [`Count`]), its default and its unit.
///
/// ```ignore
/// params! {
///     /// How long a feed may stay energized after its point reached power-off.
///     feed_grace: Duration = secs(10), "duration";
/// }
/// ```
#[macro_export]
macro_rules! params {
    ($( $(#[doc = $doc:literal])+ $key:ident : $ty:ident = $default:expr, $unit:literal; )*) => {
        /// This kind's parameters, settable under `[rules]` (durations in milliseconds).
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct Params {
            $( $(#[doc = $doc])+ pub $key: <$crate::config::$ty as $crate::config::ParamType>::Value, )*
        }

        impl Default for Params {
            fn default() -> Self {
                #[allow(unused_imports)]
                use $crate::config::{hours, mins, secs};
                Params { $( $key: $default, )* }
            }
        }

        impl $crate::config::KindParams for Params {
            const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];

            #[allow(unused_variables)]
            fn set(&mut self, key: &str, v: toml::Value) -> Result<(), toml::de::Error> {
                match key {
                    $( stringify!($key) => {
                        self.$key = <$crate::config::$ty as $crate::config::ParamType>::parse(v)?;
                    } )*
                    _ => {}
                }
                Ok(())
            }

            fn duration(&self, key: &str) -> Option<minewatch_core::time::Millis> {
                match key {
                    $( stringify!($key) => <$crate::config::$ty as $crate::config::ParamType>::as_millis(self.$key), )*
                    _ => None,
                }
            }

            fn describe(&self) -> Vec<minewatch_core::ParamInfo> {
                vec![$( minewatch_core::ParamInfo {
                    key: stringify!($key),
                    default: <$crate::config::$ty as $crate::config::ParamType>::show(self.$key),
                    unit: $unit,
                    description: concat!($($doc, " "),+).trim(),
                }, )*]
            }
        }
    };
}

/// Where a config value of any shape is read before it goes to the kinds that declare its key.
pub(crate) fn value_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<toml::Value, D::Error> {
    toml::Value::deserialize(d)
}
