use super::*;

#[test]
fn anomalies_parse_from_their_alert_kind_names_with_an_optional_subject() {
    assert_eq!(
        Anomaly::parse("power_off_failure"),
        Ok(Anomaly::new(Kind::PowerOffFailure))
    );
    assert_eq!(
        Anomaly::parse("over_limit:P0101"),
        Ok(Anomaly::on(Kind::OverLimit, "P0101"))
    );
    assert_eq!(
        Anomaly::parse(" point_silent:P0105 "),
        Ok(Anomaly::on(Kind::PointSilent, "P0105"))
    );
    assert_eq!(
        Anomaly::parse("sensor_fault").map(|a| a.name()),
        Ok("sensor_fault")
    );
    assert_eq!(
        Anomaly::parse("unregistered_device:X9001").map(|a| a.to_string()),
        Ok("unregistered_device:X9001".into())
    );
    assert_eq!(
        Anomaly::parse("camera_tamper:C09"),
        Ok(Anomaly::on(Kind::CameraTamper, "C09"))
    );
    assert_eq!(
        Anomaly::parse("restricted_entry:T1005").map(|a| a.to_string()),
        Ok("restricted_entry:T1005".into())
    );
    assert_eq!(
        Anomaly::parse("concealed_work:A1601").map(|a| a.subject().map(String::from)),
        Ok(Some("A1601".into()))
    );
    assert!(
        Anomaly::parse("meteor_strike")
            .expect_err("unknown")
            .contains("power_off_failure")
    );
    assert!(Anomaly::parse("over_limit:P 01").is_err());
    assert_eq!(Anomaly::NAMES.len(), 26);
    for (k, name) in Anomaly::NAMES.iter().enumerate() {
        let a: Anomaly = name.parse().expect("each name parses");
        assert_eq!(a.name(), *name);
        assert_eq!(a.index(), k);
        assert_eq!(a.to_string(), *name);
        assert_eq!(a.subject(), None);
        let b: Anomaly = format!("{name}:X1").parse().expect("with a subject");
        assert_eq!(b.subject(), Some("X1"));
        assert_eq!(b.to_string(), format!("{name}:X1"));
    }
}

#[test]
fn the_names_keep_the_order_the_automatic_schedule_always_took() {
    assert_eq!(
        Anomaly::NAMES,
        [
            "power_off_failure",
            "over_limit",
            "point_silent",
            "sensor_fault",
            "unregistered_device",
            "system_silent",
            "flatline",
            "neighbour_mismatch",
            "calibration_abuse",
            "area_over_quota",
            "mine_over_capacity",
            "restricted_entry",
            "overtime",
            "no_leader",
            "distress",
            "camera_fault",
            "camera_tamper",
            "no_video_work",
            "ai_event",
            "power_in_sealed_area",
            "power_anomaly",
            "explosives_undeclared",
            "production_while_suspended",
            "concealed_work",
            "replayed_data",
            "copied_feed",
        ]
    );
    assert_eq!(tag_flags(), ["distress"]);
}
