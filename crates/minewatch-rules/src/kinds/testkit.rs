//! Builders for rule tests: a small mine, batches at chosen event times.

use crate::kinds::MineState;
use crate::kinds::RulesConfig as Params;
use minewatch_core::alert::{Change, ChangeOp, Kind};
use minewatch_core::payload::{
    Batch, CameraObs, CameraState, IssueObs, Items, MeterObs, Reading, System, TagObs,
};
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
suspended_crew = 5

[[area]]
id = "A1"
name = "1201 coal face"
kind = "coal_face"
quota = 10

[[area]]
id = "A2"
name = "1201 return"
kind = "return_airway"

[[area]]
id = "S1"
name = "old goaf"
kind = "sealed"

[[area]]
id = "U1"
name = "old roadway"
kind = "other"
declared = false

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

[[camera]]
id = "C2"
area = "S1"
watches = "seal"

[[meter]]
id = "MF"
area = "A1"
load = "face"
idle_kw = 5.0

[[meter]]
id = "MH"
area = "A2"
load = "hoist"
idle_kw = 10.0

[[meter]]
id = "MS"
area = "S1"
load = "other"
idle_kw = 1.0

[[meter]]
id = "MU"
area = "U1"
load = "other"
idle_kw = 5.0
"#;

/// The test mine.
pub fn mine() -> MineState {
    let def = MineDef::parse(Path::new("test.toml"), MINE).unwrap_or_else(|e| panic!("{e}"));
    MineState::new(Arc::new(def))
}

/// A safety batch at `ts` of `(point, value, status)`.
pub fn safety(ts: i64, readings: &[(&'static str, f64, u32)]) -> Batch<'static> {
    Batch::new(
        ts,
        Items::Safety(
            readings
                .iter()
                .map(|&(point, value, status)| Reading {
                    point: point.into(),
                    value,
                    status,
                    ts,
                })
                .collect(),
        ),
    )
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
                ChangeOp::Shelve { .. } => "shelve",
                ChangeOp::Unshelve { .. } => "unshelve",
            };
            (op, c.subject.to_string())
        })
        .collect()
}

/// Normal readings of every point of the test mine at `ts`.
pub fn normal(ts: i64) -> Batch<'static> {
    // Methane varies a little from reading to reading, as real air does: never in a cycle, or
    // the feed would repeat itself exactly, as a replayed one does.
    let w = (crate::kinds::fingerprint::mix(ts as u64) % 5) as f64 * 0.003;
    safety(
        ts,
        &[
            ("P0", 0.05 + w, 0),
            ("P1", 0.4 + w, 0),
            ("P2", 0.45 + w, 0),
            ("O1", 20.8, 0),
            ("F1", 1.0, 0),
            ("F2", 1.0, 0),
        ],
    )
}

fn run(m: &mut MineState, system: System, b: &Batch<'_>) -> Vec<Change> {
    let mut out = Vec::new();
    m.on_batch(&Params::default(), system, b, b.ts, &mut out);
    out
}

/// `n` tags `T0…` underground in `area` (the first a leader when `leader`).
pub fn crew(area: &'static str, n: usize, leader: bool) -> Vec<TagObs<'static>> {
    (0..n)
        .map(|i| TagObs {
            tag: format!("T{i}").into(),
            person: None,
            leader: leader && i == 0,
            area: Some(area.into()),
            underground: true,
            down_at: None,
            distress: false,
            ts: 0,
        })
        .collect()
}

/// A personnel batch at `ts`.
pub fn people(m: &mut MineState, ts: i64, tags: &[TagObs<'static>]) -> Vec<Change> {
    let tags = tags.iter().map(|t| TagObs { ts, ..t.clone() }).collect();
    run(
        m,
        System::Personnel,
        &Batch::new(ts, Items::Personnel(tags)),
    )
}

/// A video batch at `ts` of one camera.
pub fn video(
    m: &mut MineState,
    ts: i64,
    camera: &'static str,
    state: CameraState,
    events: &[&'static str],
) -> Vec<Change> {
    let cams = vec![CameraObs {
        camera: camera.into(),
        state,
        events: events.iter().map(|&e| e.into()).collect(),
        ts,
    }];
    run(m, System::Video, &Batch::new(ts, Items::Video(cams)))
}

/// A power batch at `ts` of `(meter, kw)`.
pub fn power(m: &mut MineState, ts: i64, meters: &[(&'static str, f64)]) -> Vec<Change> {
    let meters = meters
        .iter()
        .map(|&(meter, kw)| MeterObs {
            meter: meter.into(),
            kw,
            ts,
        })
        .collect();
    run(m, System::Power, &Batch::new(ts, Items::Power(meters)))
}

/// An explosives issue at `ts`.
pub fn explosives(m: &mut MineState, ts: i64, area: &'static str, kg: f64) -> Vec<Change> {
    let issues = vec![IssueObs {
        area: area.into(),
        kg,
        detonators: 20,
        ts,
    }];
    run(
        m,
        System::Explosives,
        &Batch::new(ts, Items::Explosives(issues)),
    )
}

/// An active alert as the store would hand it back after a restart.
pub fn stored(kind: Kind, subject: &str, area: Option<&str>) -> minewatch_core::Alert {
    let t = chrono::DateTime::from_timestamp_millis(T0).unwrap_or_default();
    minewatch_core::Alert {
        id: format!("id-{subject}"),
        key: format!("M1/{kind}/{subject}"),
        mine: "M1".into(),
        kind,
        severity: minewatch_core::Severity::Critical,
        state: minewatch_core::AlertState::Active,
        subject: subject.into(),
        area: area.map(str::to_string),
        message: String::new(),
        value: None,
        limit: None,
        started_at: t,
        updated_at: t,
        resolved_at: None,
        ack: None,
        evidence: serde_json::Value::Null,
        alarm: Default::default(),
    }
}
