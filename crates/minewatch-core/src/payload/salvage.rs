//! Salvage: the readings that can still be read from a safety element or message that cannot be
//! decoded whole, so a dangerous value is judged even when the data around it is broken.

use super::{Str, Text};
use crate::id;
use serde::Deserialize;

/// A point and value read from a safety element (or message) that could not be decoded whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Salvaged<'a> {
    pub point: Text<'a>,
    pub value: f64,
}

#[derive(Deserialize)]
struct SalvageRaw<'a> {
    #[serde(borrow)]
    point: Str<'a>,
    value: f64,
}

/// The point and value of one safety element's text, if both can be read.
pub(super) fn salvage_element(raw: &[u8]) -> Option<Salvaged<'_>> {
    let r: SalvageRaw = serde_json::from_slice(raw).ok()?;
    (id::is_valid(&r.point.0) && r.value.is_finite()).then_some(Salvaged {
        point: r.point.0,
        value: r.value,
    })
}

/// The safety readings that can still be read from a message that cannot be decoded whole (cut
/// short, a broken `ts`, a syntax error between elements): every complete `{...}` after
/// `"readings"` whose `point` and `value` parse. Bounded by `max` readings.
pub fn salvage(payload: &[u8], max: usize) -> Vec<Salvaged<'_>> {
    let mut out = Vec::new();
    let key = b"\"readings\"";
    let Some(start) = payload.windows(key.len()).position(|w| w == key) else {
        return out;
    };
    let mut i = start + key.len();
    let (mut open, mut depth, mut in_str, mut esc) = (0, 0u32, false, false);
    while i < payload.len() && out.len() < max {
        let b = payload[i];
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        } else if b == b'{' {
            if depth == 0 {
                open = i;
            }
            depth += 1;
        } else if b == b'}' && depth > 0 {
            depth -= 1;
            if depth == 0
                && let Some(r) = salvage_element(&payload[open..=i])
            {
                out.push(r);
            }
        }
        i += 1;
    }
    out
}
