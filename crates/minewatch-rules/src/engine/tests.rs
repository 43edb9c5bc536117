//! Registry reloads judged for every kind through one mechanism (issue 11, item 3).

use crate::kinds::testkit::*;
use crate::kinds::{MineState, catalogue};
use minewatch_core::alert::{ChangeOp, Kind, SubjectType};
use minewatch_core::registry::MineDef;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// The test mine's registry text without `id`: its block, the blocks in it (when it is an area),
/// and references to it.
fn without(id: &str) -> String {
    let quoted = format!("\"{id}\"");
    MINE.split("\n[[")
        .filter(|block| {
            !block.contains(&format!("id = {quoted}\n"))
                && !block.contains(&format!("area = {quoted}\n"))
        })
        .collect::<Vec<_>>()
        .join("\n[[")
        .lines()
        .filter(|l| *l != format!("upwind = {quoted}"))
        .map(|l| {
            if l.starts_with("feeds = ") {
                l.replace(&format!("{quoted}, "), "")
                    .replace(&format!(", {quoted}"), "")
                    .replace(&quoted, "")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn def(text: &str) -> Arc<MineDef> {
    Arc::new(MineDef::parse(Path::new("test.toml"), text).unwrap_or_else(|e| panic!("{e}")))
}

/// Each kind's subject in the test mine, the stored alert about it, and the registry that takes
/// the subject away (`None`: the mine leaves the registry).
fn case(kind: Kind, subject: SubjectType) -> (String, minewatch_core::Alert, Option<String>) {
    let (id, area, reload) = match subject {
        SubjectType::Point => ("P0", Some("A1"), Some(without("P0"))),
        SubjectType::Area => ("A2", Some("A2"), Some(without("A2"))),
        SubjectType::Camera => ("C1", Some("A1"), Some(without("C1"))),
        SubjectType::Meter => ("MF", Some("A1"), Some(without("MF"))),
        // A tag is no registry subject; what takes a tag's alert away is its area going.
        SubjectType::Tag => ("T1", Some("S1"), Some(without("S1"))),
        SubjectType::Mine => ("M1", None, None),
        // An unregistered device stops being one when the registry defines it.
        SubjectType::Device => (
            "X9",
            None,
            Some(format!(
                "{MINE}\n[[point]]\nid = \"X9\"\narea = \"A1\"\nkind = \"co\"\n"
            )),
        ),
    };
    let mut alert = stored(kind, id, area);
    alert.evidence = json!({"neighbour": "P1", "device": "point", "side": "high"});
    (id.to_string(), alert, reload)
}

#[test]
fn a_reload_without_the_subject_of_an_active_alert_resolves_it_for_every_kind() {
    let kinds = catalogue();
    assert_eq!(kinds.len(), Kind::ALL.len());
    for info in kinds {
        let (subject, alert, reload) = case(info.name, info.subject);
        let mut m = mine();
        let mut out = Vec::new();
        m.restore(std::slice::from_ref(&alert), &mut out);
        assert!(out.is_empty(), "{}: restored as active: {out:?}", info.name);
        let key = (info.name, Arc::<str>::from(subject.as_str()));
        assert!(m.active.contains(&key), "{}: tracked as active", info.name);
        match reload {
            Some(text) => m.rebind(def(&text), &mut out),
            None => {
                let gone = Arc::new(MineDef::unregistered("M1"));
                m.rebind(gone, &mut out);
            }
        }
        let resolved = out
            .iter()
            .any(|c| c.kind == info.name && *c.subject == *subject && c.op == ChangeOp::Resolve);
        // Overtime and distress are about the person, wherever the registry puts areas: a
        // distress call must never vanish with a reload.
        let stays = matches!(info.name, Kind::Overtime | Kind::Distress);
        assert_eq!(
            resolved, !stays,
            "{} about {subject} ({:?}) after the reload: {out:?}",
            info.name, info.subject
        );
        assert_eq!(m.active.contains(&key), stays, "{}", info.name);
    }
}

#[test]
fn a_point_that_changes_type_is_another_subject_and_its_alert_resolves() {
    let mut m = mine();
    feed(&mut m, &normal(at(0)));
    let c = feed(&mut m, &safety(at(10), &[("O1", 19.6, 0)]));
    assert_eq!(ops(&c, Kind::OverLimit), vec![("raise", "O1".into())]);
    // The same id, now a CO sensor.
    let retyped = MINE.replacen(
        "id = \"O1\"\narea = \"A1\"\nkind = \"o2\"",
        "id = \"O1\"\narea = \"A1\"\nkind = \"co\"",
        1,
    );
    assert_ne!(retyped, MINE);
    let mut out = Vec::new();
    m.rebind(def(&retyped), &mut out);
    assert_eq!(ops(&out, Kind::OverLimit), vec![("resolve", "O1".into())]);
    assert!(m.active.is_empty(), "{:?}", m.active);
    // The same reload of an unchanged registry keeps it.
    let mut m = mine();
    feed(&mut m, &normal(at(0)));
    feed(&mut m, &safety(at(10), &[("O1", 19.6, 0)]));
    let mut out = Vec::new();
    m.rebind(def(MINE), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(m.active.len(), 1);
}

#[test]
fn alerts_raised_live_are_tracked_and_a_removed_point_resolves_them_all() {
    let mut m: MineState = mine();
    feed(&mut m, &normal(at(0)));
    // P1 at power-off with its feeds energized: over_limit, then power_off_failure after grace.
    feed(&mut m, &safety(at(10), &[("P1", 1.6, 0), ("F1", 1.0, 0)]));
    let c = feed(&mut m, &safety(at(30), &[("P1", 1.6, 0), ("F1", 1.0, 0)]));
    assert_eq!(ops(&c, Kind::PowerOffFailure), vec![("raise", "P1".into())]);
    let mut out = Vec::new();
    m.rebind(def(&without("P1")), &mut out);
    let mut gone: Vec<_> = out
        .iter()
        .filter(|c| c.op == ChangeOp::Resolve && &*c.subject == "P1")
        .map(|c| c.kind)
        .collect();
    gone.sort();
    assert_eq!(gone, vec![Kind::OverLimit, Kind::PowerOffFailure]);
    assert!(m.active.iter().all(|(_, s)| &**s != "P1"), "{:?}", m.active);
}

#[test]
fn a_points_state_stays_small() {
    // A million points must fit: printed for BENCHMARKS.md, bounded here.
    let size = std::mem::size_of::<crate::kinds::PointState>();
    println!("PointState: {size} bytes");
    // 160 before issue 12, which added exact redelivery (12), the face-vs-return window (24) and
    // the chunk fingerprint (16), then packed the kinds' point slots (no padding after a flag)
    // and kept the flatline band and over_limit's published value as f32: 152.
    assert!(size <= 152, "PointState is {size} bytes");
}
