//! Builders for rule tests: a small mine, batches at chosen event times.

use crate::config::Params;
use crate::engine::MineState;
use minewatch_core::alert::{Change, ChangeOp, Kind};
use minewatch_core::payload::{Batch, Items, Reading, System};
use minewatch_core::registry::MineDef;
use std::path::Path;
use std::sync::Arc;

/// 2026-11-23T00:00:00Z: the tests' day.
pub const T0: i64 = 1_795_392_000_000;

/// Seconds after [`T0`], in ms.
pub fn at(secs: i64) -> i64 {
    T0 + secs * 1000
}

pub const MINE: &str = r#"
id = "M1"
name = "Test Colliery"
status = "producing"
max_underground = 100

[[area]]
id = "A1"
name = "1201 coal face"
kind = "coal_face"
quota = 10

[[area]]
id = "A2"
name = "1201 return"
kind = "return_airway"

[[point]]
id = "P0"
area = "A1"
kind = "ch4"
location = "intake"

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
feeds = ["F1", "F2"]
upwind = "P0"

[[point]]
id = "P2"
area = "A2"
kind = "ch4"
location = "coal_face_return"
feeds = ["F1"]
upwind = "P1"

[[point]]
id = "O1"
area = "A1"
kind = "o2"

[[point]]
id = "F1"
area = "A1"
kind = "feed"

[[point]]
id = "F2"
area = "A1"
kind = "feed"

[[camera]]
id = "C1"
area = "A1"
watches = "face"
"#;

/// The test mine.
pub fn mine() -> MineState {
    let def = MineDef::parse(Path::new("test.toml"), MINE).unwrap_or_else(|e| panic!("{e}"));
    MineState::new(Arc::new(def))
}

/// A safety batch at `ts` of `(point, value, status)`.
pub fn safety(ts: i64, readings: &[(&'static str, f64, u32)]) -> Batch<'static> {
    Batch {
        ts,
        items: Items::Safety(
            readings
                .iter()
                .map(|&(point, value, status)| Reading {
                    point,
                    value,
                    status,
                    ts,
                })
                .collect(),
        ),
        rejected: Vec::new(),
    }
}

/// Applies a batch with default parameters (wall clock = event time) and returns the changes.
pub fn feed(m: &mut MineState, b: &Batch<'_>) -> Vec<Change> {
    feed_with(m, &Params::default(), b)
}

/// Applies a batch with `p`.
pub fn feed_with(m: &mut MineState, p: &Params, b: &Batch<'_>) -> Vec<Change> {
    let mut out = Vec::new();
    m.on_batch(p, System::Safety, b, b.ts, &mut out);
    out
}

/// The changes of `kind` as `(op name, subject)`.
pub fn ops(changes: &[Change], kind: Kind) -> Vec<(&'static str, String)> {
    changes
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| {
            let op = match c.op {
                ChangeOp::Raise => "raise",
                ChangeOp::Update => "update",
                ChangeOp::Resolve => "resolve",
                ChangeOp::Ack { .. } => "ack",
            };
            (op, c.subject.to_string())
        })
        .collect()
}

/// Normal readings of every point of the test mine at `ts`.
pub fn normal(ts: i64) -> Batch<'static> {
    safety(
        ts,
        &[
            ("P0", 0.05, 0),
            ("P1", 0.4, 0),
            ("P2", 0.45, 0),
            ("O1", 20.8, 0),
            ("F1", 1.0, 0),
            ("F2", 1.0, 0),
        ],
    )
}
