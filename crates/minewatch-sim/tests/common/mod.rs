//! Shared helpers: the example registry and decoding generated messages.
#![allow(dead_code)]

use minewatch_core::payload::{Batch, DecodeCtx, System, decode, parse_topic};
use minewatch_core::time::parse_rfc3339;
use minewatch_core::{MineDef, Registry};
use minewatch_sim::Message;
use std::path::Path;
use std::sync::Arc;

/// The example mines of `config/registry`, sorted by id.
pub fn example_mines() -> Vec<Arc<MineDef>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/registry");
    let reg =
        Registry::load_strict(Path::new(dir)).unwrap_or_else(|e| panic!("example registry: {e}"));
    let mut mines: Vec<_> = reg.mines.into_values().collect();
    mines.sort_by(|a, b| a.id.cmp(&b.id));
    mines
}

/// Milliseconds of an RFC 3339 time.
pub fn ms(s: &str) -> i64 {
    parse_rfc3339(s).unwrap_or_else(|| panic!("bad time {s}"))
}

/// A decode context whose clock is far ahead, so nothing is rejected for skew.
pub fn far_future() -> DecodeCtx {
    DecodeCtx {
        now: i64::MAX / 4,
        max_skew: 300_000,
        max_elements: minewatch_core::payload::DEFAULT_MAX_ELEMENTS,
    }
}

/// Splits a message's topic and decodes its payload, which must have no rejected element.
pub fn decode_clean(m: &Message) -> (String, System, Batch<'_>) {
    let (mine, system) =
        parse_topic("mines", &m.topic).unwrap_or_else(|| panic!("bad topic {:?}", m.topic));
    let batch = decode(system, &m.payload, far_future()).unwrap_or_else(|r| {
        panic!(
            "{} rejected: {r:?}\n{}",
            m.topic,
            String::from_utf8_lossy(&m.payload)
        )
    });
    assert!(
        batch.rejected.is_empty(),
        "{}: {:?}\n{}",
        m.topic,
        batch.rejected,
        String::from_utf8_lossy(&m.payload)
    );
    (mine.to_string(), system, batch)
}
pub mod oracle;
