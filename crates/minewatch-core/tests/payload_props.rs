//! Payload decoding against input as other programs write it: Python's `json.dumps` (every
//! non-ASCII character escaped), PHP's `json_encode` (also `\/`), serde_json, Jackson and
//! `JSON.stringify` (nothing escaped but what must be), and a writer that escapes every character.
//! Properties: decode(encode(x)) == x for every contract payload in every style, and no input,
//! however broken, makes the decoder panic.

use minewatch_core::payload::{
    CameraObs, CameraState, DecodeCtx, IssueObs, Items, MeterObs, Reading, Reason, System, TagObs,
    decode,
};
use minewatch_core::time::{Millis, parse_rfc3339};
use proptest::prelude::*;
use std::borrow::Cow;
use std::fmt::Write;

/// How a JSON writer spells strings.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// Only `"`, `\` and control characters (serde_json, Jackson, `JSON.stringify`).
    Plain,
    /// Python's `json.dumps` default: also every non-ASCII character, as UTF-16 `\uXXXX`.
    Python,
    /// PHP's `json_encode` default: as Python, and `/` as `\/`.
    Php,
    /// Every character as `\uXXXX`.
    All,
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Plain),
        Just(Style::Python),
        Just(Style::Php),
        Just(Style::All)
    ]
}

/// `s` as a JSON string literal in `style`.
fn quote(s: &str, style: Style) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        let escape_all = matches!(style, Style::All);
        let non_ascii = !c.is_ascii() && matches!(style, Style::Python | Style::Php);
        if escape_all || non_ascii {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
            continue;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '/' if matches!(style, Style::Php) => out.push_str("\\/"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An instant as RFC 3339 with a whole-hour offset, as mines write it.
fn rfc3339(ms: Millis, offset_hours: i32) -> String {
    let offset = chrono::FixedOffset::east_opt(offset_hours * 3600).expect("offset in range");
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .with_timezone(&offset)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

const NOW: &str = "2026-11-23T08:10:00+08:00";

fn ctx() -> DecodeCtx {
    DecodeCtx {
        now: parse_rfc3339(NOW).expect("now"),
        max_skew: 300_000,
        max_elements: 10_000,
    }
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,64}"
}

/// Any text a person's name or an event label may hold, Chinese names included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[\u{4e00}-\u{9fff}]{1,4}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
    ]
}

/// A sensor value: at most six decimals, as sensors send them (so the text round-trips exactly).
fn value() -> impl Strategy<Value = f64> {
    (-1_000_000_000i64..1_000_000_000i64).prop_map(|n| n as f64 / 1_000_000.0)
}

fn nonneg() -> impl Strategy<Value = f64> {
    (0i64..1_000_000_000i64).prop_map(|n| n as f64 / 1_000.0)
}

/// An element time: none, or an instant within the last day with some offset.
fn ts() -> impl Strategy<Value = Option<(Millis, i32)>> {
    let now = parse_rfc3339(NOW).unwrap_or(0);
    proptest::option::of(((now - 86_400_000)..now, -12i32..=14))
}

fn camera_state() -> impl Strategy<Value = (CameraState, &'static str)> {
    prop_oneof![
        Just((CameraState::Ok, "ok")),
        Just((CameraState::Offline, "offline")),
        Just((CameraState::SignalLoss, "signal_loss")),
        Just((CameraState::Frozen, "frozen")),
        Just((CameraState::Occluded, "occluded")),
        Just((CameraState::SceneChange, "scene_change")),
        Just((CameraState::Degraded, "degraded")),
    ]
}

/// One element as a field list (name, JSON value text) in `style`, and what it decodes to.
#[derive(Debug, Clone)]
enum Elem {
    Reading {
        point: String,
        value: f64,
        status: u32,
        ts: Option<(Millis, i32)>,
    },
    Tag {
        tag: String,
        person: Option<String>,
        leader: bool,
        area: Option<String>,
        underground: bool,
        down_at: Option<(Millis, i32)>,
        distress: bool,
        ts: Option<(Millis, i32)>,
    },
    Camera {
        camera: String,
        state: (CameraState, &'static str),
        events: Vec<String>,
        ts: Option<(Millis, i32)>,
    },
    Meter {
        meter: String,
        kw: f64,
        ts: Option<(Millis, i32)>,
    },
    Issue {
        area: String,
        kg: f64,
        detonators: u32,
        ts: Option<(Millis, i32)>,
    },
}

fn elem(system: System) -> BoxedStrategy<Elem> {
    match system {
        System::Safety => (id(), value(), any::<u32>(), ts())
            .prop_map(|(point, value, status, ts)| Elem::Reading {
                point,
                value,
                status,
                ts,
            })
            .boxed(),
        System::Personnel => (
            (id(), proptest::option::of(text()), any::<bool>()),
            (proptest::option::of(id()), any::<bool>(), ts()),
            (any::<bool>(), ts()),
        )
            .prop_map(
                |((tag, person, leader), (area, underground, down_at), (distress, ts))| Elem::Tag {
                    tag,
                    person,
                    leader,
                    area,
                    underground,
                    down_at,
                    distress,
                    ts,
                },
            )
            .boxed(),
        System::Video => (
            id(),
            camera_state(),
            proptest::collection::vec(text(), 0..4),
            ts(),
        )
            .prop_map(|(camera, state, events, ts)| Elem::Camera {
                camera,
                state,
                events,
                ts,
            })
            .boxed(),
        System::Power => (id(), nonneg(), ts())
            .prop_map(|(meter, kw, ts)| Elem::Meter { meter, kw, ts })
            .boxed(),
        System::Explosives => (id(), nonneg(), any::<u32>(), ts())
            .prop_map(|(area, kg, detonators, ts)| Elem::Issue {
                area,
                kg,
                detonators,
                ts,
            })
            .boxed(),
    }
}

impl Elem {
    fn json(&self, st: Style) -> String {
        let q = |s: &str| quote(s, st);
        let t = |t: &Option<(Millis, i32)>| t.map(|(ms, off)| q(&rfc3339(ms, off)));
        let mut fields: Vec<(&str, String)> = Vec::new();
        match self {
            Elem::Reading {
                point,
                value,
                status,
                ts,
            } => {
                fields.push(("point", q(point)));
                fields.push(("value", format!("{value}")));
                fields.push(("status", status.to_string()));
                fields.extend(t(ts).map(|v| ("ts", v)));
            }
            Elem::Tag {
                tag,
                person,
                leader,
                area,
                underground,
                down_at,
                distress,
                ts,
            } => {
                fields.push(("tag", q(tag)));
                fields.extend(person.as_deref().map(|p| ("person", q(p))));
                fields.push(("leader", leader.to_string()));
                fields.extend(area.as_deref().map(|a| ("area", q(a))));
                fields.push(("underground", underground.to_string()));
                fields.extend(t(down_at).map(|v| ("down_at", v)));
                fields.push(("distress", distress.to_string()));
                fields.extend(t(ts).map(|v| ("ts", v)));
            }
            Elem::Camera {
                camera,
                state,
                events,
                ts,
            } => {
                fields.push(("camera", q(camera)));
                fields.push(("state", q(state.1)));
                let ev: Vec<String> = events.iter().map(|e| q(e)).collect();
                fields.push(("events", format!("[{}]", ev.join(","))));
                fields.extend(t(ts).map(|v| ("ts", v)));
            }
            Elem::Meter { meter, kw, ts } => {
                fields.push(("meter", q(meter)));
                fields.push(("kw", format!("{kw}")));
                fields.extend(t(ts).map(|v| ("ts", v)));
            }
            Elem::Issue {
                area,
                kg,
                detonators,
                ts,
            } => {
                fields.push(("area", q(area)));
                fields.push(("kg", format!("{kg}")));
                fields.push(("detonators", detonators.to_string()));
                fields.extend(t(ts).map(|v| ("ts", v)));
            }
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", q(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// What a list of elements decodes to, with batch time `batch`.
fn expected<'a>(system: System, elems: &'a [Elem], batch: Millis) -> Items<'a> {
    let t = |t: &Option<(Millis, i32)>| t.map_or(batch, |(ms, _)| ms);
    let c = |s: &'a String| Cow::Borrowed(s.as_str());
    match system {
        System::Safety => Items::Safety(
            elems
                .iter()
                .filter_map(|e| match e {
                    Elem::Reading {
                        point,
                        value,
                        status,
                        ts,
                    } => Some(Reading {
                        point: c(point),
                        value: *value,
                        status: *status,
                        ts: t(ts),
                    }),
                    _ => None,
                })
                .collect(),
        ),
        System::Personnel => Items::Personnel(
            elems
                .iter()
                .filter_map(|e| match e {
                    Elem::Tag {
                        tag,
                        person,
                        leader,
                        area,
                        underground,
                        down_at,
                        distress,
                        ts,
                    } => Some(TagObs {
                        tag: c(tag),
                        person: person.as_ref().map(c),
                        leader: *leader,
                        area: area.as_ref().map(c),
                        underground: *underground,
                        down_at: down_at.map(|(ms, _)| ms),
                        distress: *distress,
                        ts: t(ts),
                    }),
                    _ => None,
                })
                .collect(),
        ),
        System::Video => Items::Video(
            elems
                .iter()
                .filter_map(|e| match e {
                    Elem::Camera {
                        camera,
                        state,
                        events,
                        ts,
                    } => Some(CameraObs {
                        camera: c(camera),
                        state: state.0,
                        events: events.iter().map(c).collect(),
                        ts: t(ts),
                    }),
                    _ => None,
                })
                .collect(),
        ),
        System::Power => Items::Power(
            elems
                .iter()
                .filter_map(|e| match e {
                    Elem::Meter { meter, kw, ts } => Some(MeterObs {
                        meter: c(meter),
                        kw: *kw,
                        ts: t(ts),
                    }),
                    _ => None,
                })
                .collect(),
        ),
        System::Explosives => Items::Explosives(
            elems
                .iter()
                .filter_map(|e| match e {
                    Elem::Issue {
                        area,
                        kg,
                        detonators,
                        ts,
                    } => Some(IssueObs {
                        area: c(area),
                        kg: *kg,
                        detonators: *detonators,
                        ts: t(ts),
                    }),
                    _ => None,
                })
                .collect(),
        ),
    }
}

fn system() -> impl Strategy<Value = System> {
    prop_oneof![
        Just(System::Safety),
        Just(System::Personnel),
        Just(System::Video),
        Just(System::Power),
        Just(System::Explosives),
    ]
}

/// A whole batch of one system: (system, batch time, elements).
fn batch() -> impl Strategy<Value = (System, (Millis, i32), Vec<Elem>)> {
    let now = parse_rfc3339(NOW).unwrap_or(0);
    system().prop_flat_map(move |s| {
        (
            Just(s),
            ((now - 86_400_000)..now, -12i32..=14),
            proptest::collection::vec(elem(s), 0..8),
        )
    })
}

fn message(system: System, (ms, off): (Millis, i32), elems: &[Elem], st: Style) -> String {
    let items: Vec<String> = elems.iter().map(|e| e.json(st)).collect();
    format!(
        "{{{}:{},{}:[{}]}}",
        quote("ts", st),
        quote(&rfc3339(ms, off), st),
        quote(system.array(), st),
        items.join(",")
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_contract_payload_decodes_to_what_was_encoded_in_every_writers_style(
        (system, batch_ts, elems) in batch(),
        st in style(),
    ) {
        let text = message(system, batch_ts, &elems, st);
        let b = decode(system, text.as_bytes(), ctx())
            .unwrap_or_else(|r| panic!("{system:?} {st:?} rejected: {r:?}\n{text}"));
        prop_assert!(b.rejected.is_empty(), "{:?}\n{}", b.rejected, text);
        prop_assert_eq!(b.ts, batch_ts.0);
        prop_assert_eq!(b.items, expected(system, &elems, batch_ts.0), "{}", text);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        system in system(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode(system, &bytes, ctx());
    }

    #[test]
    fn a_mutated_contract_payload_never_panics_and_rejects_only_what_it_must(
        (system, batch_ts, elems) in batch(),
        st in style(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = message(system, batch_ts, &elems, st).into_bytes();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(b) = decode(system, &bytes, ctx()) {
            // Whatever survives is accounted for: accepted plus rejected is every element.
            prop_assert!(b.items.len() as u64 + b.rejected_count() <= elems.len() as u64 + 1);
        }
    }
}

#[test]
fn a_distress_call_with_a_name_as_python_writes_it_is_accepted() {
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","tags":[{"tag":"T8801","person":"\u738b\u4e94","area":"A1201","underground":true,"distress":true}]}"#;
    let b = decode(System::Personnel, p, ctx()).expect("decodes");
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    let Items::Personnel(tags) = b.items else {
        panic!("personnel")
    };
    assert_eq!(tags[0].person.as_deref(), Some("王五"));
    assert!(tags[0].distress);
}

#[test]
fn escaped_ids_labels_and_timestamps_mean_what_they_spell() {
    let p = br#"{"ts":"2026\u002d11-23T08:00:05+08:00","cameras":[{"camera":"C\u0030\u0031","state":"ok","events":["no\u005fhelmet","a\/b"],"ts":"2026-11-23T08:00:06\u002b08:00"}]}"#;
    let b = decode(System::Video, p, ctx()).expect("decodes");
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    let Items::Video(c) = b.items else {
        panic!("video")
    };
    assert_eq!(c[0].camera, "C01");
    assert_eq!(c[0].events, vec!["no_helmet", "a/b"]);
    assert_eq!(c[0].ts, b.ts + 1000);
    // An escape that spells a character ids may not hold is still a bad id, named as such.
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[{"point":"P\u00201","value":1}]}"#;
    let b = decode(System::Safety, p, ctx()).expect("decodes");
    assert_eq!(b.rejected[0].reason, Reason::BadId);
}

#[test]
fn a_byte_order_mark_before_the_payload_is_accepted() {
    let p = b"\xEF\xBB\xBF{\"ts\":\"2026-11-23T08:00:05+08:00\",\"meters\":[{\"meter\":\"M01\",\"kw\":1.5}]}";
    let b = decode(System::Power, p, ctx()).expect("decodes");
    assert_eq!(b.items.len(), 1);
}

#[test]
fn elements_beyond_the_cap_are_counted_once_not_decoded() {
    let elems: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"point":"P{i}","value":0.1}}"#))
        .collect();
    let p = format!(
        r#"{{"ts":"2026-11-23T08:00:05+08:00","readings":[{}]}}"#,
        elems.join(",")
    );
    let c = DecodeCtx {
        max_elements: 4,
        ..ctx()
    };
    let b = decode(System::Safety, p.as_bytes(), c).expect("decodes");
    assert_eq!(b.items.len(), 4);
    assert_eq!(b.rejected.len(), 1);
    assert_eq!(
        (b.rejected[0].reason, b.rejected[0].count),
        (Reason::TooManyElements, 6)
    );
    assert!(
        b.rejected[0].examples[0].excerpt.contains("P4"),
        "{:?}",
        b.rejected
    );
    assert!(
        b.rejected[0].examples[0].detail.contains("10 elements"),
        "{:?}",
        b.rejected
    );
}

#[test]
fn a_million_bad_elements_cost_one_summary_per_reason() {
    let mut p = String::from(r#"{"ts":"2026-11-23T08:00:05+08:00","readings":["#);
    for i in 0..1_000_000 {
        if i > 0 {
            p.push(',');
        }
        p.push_str("{}");
    }
    p.push_str("]}");
    let b = decode(System::Safety, p.as_bytes(), ctx()).expect("decodes");
    assert!(b.items.is_empty());
    let summary: Vec<_> = b
        .rejected
        .iter()
        .map(|r| (r.reason, r.count, r.examples.len()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Reason::BadElement, 10_000, 3),
            (Reason::TooManyElements, 990_000, 1)
        ]
    );
}

#[test]
fn duplicate_batch_fields_and_trailing_text_reject_the_message() {
    for p in [
        &br#"{"ts":"2026-11-23T08:00:05+08:00","ts":"2026-11-23T08:00:06+08:00","readings":[]}"#[..],
        br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[],"readings":[]}"#,
        br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[]} x"#,
    ] {
        let r = decode(System::Safety, p, ctx())
            .map(|_| ())
            .expect_err("rejected");
        assert_eq!(r.reason, Reason::BadJson, "{r:?}");
    }
}
