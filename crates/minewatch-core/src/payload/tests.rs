//! Tests of the payload decoder: every system's shape, and each element rejected alone with its reason.

use super::*;

fn ctx() -> DecodeCtx {
    DecodeCtx {
        now: parse_rfc3339("2026-11-23T08:10:00+08:00").unwrap_or(0),
        max_skew: 300_000,
        max_elements: 10_000,
    }
}

#[test]
fn topics_split_into_mine_and_system() {
    assert_eq!(
        parse_topic("mines", "mines/140100001/safety"),
        Some(("140100001", System::Safety))
    );
    assert_eq!(parse_topic("mines", "mines/140100001/weather"), None);
    assert_eq!(parse_topic("mines", "other/140100001/safety"), None);
    assert_eq!(parse_topic("mines", "mines/bad mine/safety"), None);
    assert_eq!(
        parse_topic("a/b", "a/b/M1/video"),
        Some(("M1", System::Video))
    );
}

#[test]
fn the_contract_safety_example_decodes() {
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[
        {"point":"P0101","value":0.42},{"point":"P0102","value":0.0,"status":4},{"point":"F0150","value":1}]}"#;
    let b = decode(System::Safety, p, ctx()).expect("decodes");
    assert!(b.rejected.is_empty());
    let Items::Safety(r) = b.items else {
        panic!("safety")
    };
    assert_eq!(r.len(), 3);
    assert_eq!(r[1].status, 4);
    assert_eq!(r[2].value, 1.0);
    assert_eq!(r[0].ts, b.ts);
}

#[test]
fn one_bad_element_is_rejected_alone() {
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[
        {"point":"P0101","value":0.42},{"point":"P0102","value":"high"},{"point":"P 3","value":1},
        {"value":1},{"point":"P0104","value":0.1,"ts":"2026-11-23T09:00:00+08:00"},{"point":"P0105","value":0.3}]}"#;
    let b = decode(System::Safety, p, ctx()).expect("decodes");
    // P0104's ts is 50 min ahead of the wall clock: taken at the wall clock's time, and noted.
    assert_eq!(b.items.len(), 3);
    let Items::Safety(r) = &b.items else {
        panic!("safety")
    };
    assert_eq!((&*r[1].point, r[1].ts), ("P0104", ctx().now));
    assert_eq!(b.ahead, 50 * 60_000);
    let reasons: Vec<_> = b.rejected.iter().map(|r| (r.reason, r.count)).collect();
    assert_eq!(
        reasons,
        vec![
            (Reason::BadElement, 2),
            (Reason::BadId, 1),
            (Reason::ClockSkew, 1)
        ],
        "summarised per reason, in order of first appearance"
    );
    assert_eq!(b.rejected_count(), 4);
    assert!(b.rejected[0].examples[0].excerpt.contains("high"));
    assert!(b.rejected[0].examples[1].excerpt.contains("\"value\":1"));
}

#[test]
fn whole_message_rejections_say_why() {
    let c = ctx();
    assert_eq!(
        decode(System::Safety, b"not json", c)
            .map(|_| ())
            .expect_err("json")
            .reason,
        Reason::BadJson
    );
    assert_eq!(
        decode(System::Safety, br#"{"readings":[]}"#, c)
            .map(|_| ())
            .expect_err("ts")
            .reason,
        Reason::BadTimestamp
    );
    // A batch ts ahead of the wall clock is not a reason to lose the message: it is taken at
    // the wall clock's time.
    let ahead = decode(
        System::Safety,
        br#"{"ts":"2026-11-23T09:00:00+08:00","readings":[{"point":"P1","value":2.0}]}"#,
        c,
    )
    .expect("taken at the wall clock's time");
    assert_eq!(
        (ahead.ts, ahead.ahead, ahead.items.len()),
        (c.now, 3_000_000, 1)
    );
    assert_eq!(ahead.rejected[0].reason, Reason::ClockSkew);
    // Just inside the skew allowed: taken as it is.
    let inside = decode(
        System::Safety,
        br#"{"ts":"2026-11-23T08:15:00+08:00","readings":[]}"#,
        c,
    )
    .expect("decodes");
    assert_eq!((inside.ts, inside.ahead), (c.now + 300_000, 0));
    assert!(inside.rejected.is_empty());
    assert_eq!(
        decode(
            System::Video,
            br#"{"ts":"2026-11-23T08:00:00+08:00","readings":[]}"#,
            c
        )
        .map(|_| ())
        .expect_err("shape")
        .reason,
        Reason::BadJson
    );
}

#[test]
fn other_systems_decode_with_defaults() {
    let c = ctx();
    let p = br#"{"ts":"2026-11-23T08:00:00+08:00","tags":[{"tag":"T1","area":"A1","down_at":"2026-11-23T06:10:00+08:00"}],"extra":1}"#;
    let Items::Personnel(t) = decode(System::Personnel, p, c).expect("tags").items else {
        panic!()
    };
    assert!(t[0].underground && !t[0].leader && !t[0].distress);
    let p = br#"{"ts":"2026-11-23T08:00:00+08:00","cameras":[{"camera":"C01","state":"occluded","events":["no_helmet"]},{"camera":"C02","state":"melted"}]}"#;
    let b = decode(System::Video, p, c).expect("video");
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.rejected.len(), 1);
    let p = br#"{"ts":"2026-11-23T08:00:00+08:00","meters":[{"meter":"M01","kw":312.5},{"meter":"M02","kw":-1}]}"#;
    let b = decode(System::Power, p, c).expect("power");
    assert_eq!(
        (b.items.len(), b.rejected[0].reason, b.rejected[0].count),
        (1, Reason::BadValue, 1)
    );
    let p = br#"{"ts":"2026-11-23T08:00:00+08:00","issues":[{"area":"A1201","kg":24.0,"detonators":60}]}"#;
    assert_eq!(
        decode(System::Explosives, p, c)
            .expect("explosives")
            .items
            .len(),
        1
    );
}

#[test]
fn a_reading_whose_element_is_rejected_keeps_its_point_and_value() {
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[
        {"point":"P0101","value":1.62,"ts":"yesterday"},{"point":"P0102","value":0.3,"status":"x"},
        {"point":"P0103","value":"high"},{"point":"P0104","value":0.2}]}"#;
    let b = decode(System::Safety, p, ctx()).expect("decodes");
    assert_eq!(b.items.len(), 1);
    let got: Vec<_> = b.salvaged.iter().map(|s| (&*s.point, s.value)).collect();
    assert_eq!(got, vec![("P0101", 1.62), ("P0102", 0.3)]);
}

#[test]
fn a_message_that_cannot_be_decoded_still_gives_its_complete_readings() {
    // Cut short in the middle of the third reading, a brace in a string, Python-escaped ids.
    let p = br#"{"ts":"2026-11-23T08:00:05+08:00","readings":[{"point":"P0101","value":1.62,"note":"{x}"},{"point":"\u0050\u0030102","value":0.4},{"point":"P0103","va"#;
    assert!(decode(System::Safety, p, ctx()).is_err());
    let got: Vec<_> = salvage(p, 100)
        .into_iter()
        .map(|s| (s.point.into_owned(), s.value))
        .collect();
    assert_eq!(
        got,
        vec![("P0101".to_string(), 1.62), ("P0102".to_string(), 0.4)]
    );
    assert_eq!(salvage(p, 1).len(), 1, "bounded");
    assert!(salvage(b"not json at all {", 100).is_empty());
}

proptest::proptest! {
    /// However a well-formed message is cut short, every reading complete before the cut is
    /// salvaged, and nothing else.
    #[test]
    fn a_message_cut_anywhere_gives_every_complete_reading(
        values in proptest::collection::vec(0.0f64..5.0, 1..20),
        cut in 0.0f64..1.0,
    ) {
        let readings: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!(r#"{{"point":"P{i}","value":{v},"status":0}}"#))
            .collect();
        let text = format!(r#"{{"ts":"2026-11-23T08:00:05+08:00","readings":[{}]}}"#, readings.join(","));
        let at = ((text.len() as f64) * cut) as usize;
        let head = &text.as_bytes()[..at];
        let got = salvage(head, 10_000);
        let complete = readings
            .iter()
            .scan(text.find('[').unwrap_or(0) + 1, |pos, r| {
                let end = *pos + r.len();
                *pos = end + 1;
                Some(end)
            })
            .filter(|&end| end <= at)
            .count();
        proptest::prop_assert_eq!(got.len(), complete);
        for (i, s) in got.iter().enumerate() {
            proptest::prop_assert_eq!(s.point.to_string(), format!("P{i}"));
            // serde_json's fast float parsing may differ from Rust's in the last bit.
            proptest::prop_assert!((s.value - values[i]).abs() <= 1e-12 * values[i].abs().max(1.0));
        }
    }
}
