//! Tests of the metrics: the exposition's families, and the per-mine collector.

use super::*;

#[test]
fn the_exposition_carries_the_named_families() {
    let m = Metrics::new();
    m.messages[System::Safety.index()].inc();
    m.reject(System::Safety, Reason::BadId, 1);
    m.not_owned[System::Power.index()].inc();
    let text = m.encode();
    assert!(
        text.contains("minewatch_not_owned_total{system=\"power\"} 1")
            && text.contains("minewatch_not_owned_total{system=\"safety\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("minewatch_messages_total{system=\"safety\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("minewatch_rejected_total{system=\"safety\",reason=\"bad_id\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("minewatch_alerts_active{kind=\"over_limit\",severity=\"critical\"} 0"),
        "{text}"
    );
}

#[test]
fn acknowledgement_times_are_observed_by_severity() {
    let m = Metrics::new();
    m.observe_ack(Severity::Critical, 30.0);
    m.observe_ack(Severity::Critical, 90.0);
    m.observe_ack(Severity::Info, -2.0);
    let text = m.encode();
    for line in [
        "minewatch_alert_ack_seconds_count{severity=\"critical\"} 2",
        "minewatch_alert_ack_seconds_sum{severity=\"critical\"} 120.0",
        "minewatch_alert_ack_seconds_bucket{le=\"30.0\",severity=\"critical\"} 1",
        "minewatch_alert_ack_seconds_bucket{le=\"120.0\",severity=\"critical\"} 2",
        "minewatch_alert_ack_seconds_sum{severity=\"info\"} 0.0",
        "minewatch_alert_ack_seconds_count{severity=\"major\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

mod mines_collector_tests {
    use super::*;
    use crate::alert::{Alert, AlertState};
    use crate::live::{MineLive, PointLive};
    use crate::registry::MineDef;
    use std::path::Path;
    use std::time::Duration;

    const MINE: &str = r#"
id = "M1"
name = "Test Colliery"
status = "producing"
max_underground = 50

[[area]]
id = "A1"
name = "1201 coal face"
kind = "coal_face"

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

[[point]]
id = "P2"
area = "A1"
kind = "ch4"
location = "coal_face"

[[point]]
id = "F1"
area = "A1"
kind = "feed"
"#;

    /// 2026-11-23T00:00:00Z.
    const T0: Millis = 1_795_392_000_000;

    fn alert(mine: &str, subject: &str, severity: Severity) -> Arc<Alert> {
        let t = chrono::DateTime::from_timestamp_millis(T0).unwrap_or_default();
        Arc::new(Alert {
            id: format!("id-{mine}-{subject}"),
            key: format!("{mine}/over_limit/{subject}"),
            mine: mine.into(),
            kind: Kind::OverLimit,
            severity,
            state: AlertState::Active,
            subject: subject.into(),
            area: None,
            message: String::new(),
            value: None,
            limit: None,
            started_at: t,
            updated_at: t,
            resolved_at: None,
            ack: None,
            evidence: serde_json::Value::Null,
            alarm: Default::default(),
        })
    }

    /// M1: clock at T0+300 s; P0 read 0.05 at +290 s, P1 1.3 at +200 s (inside 2 min), P2 9.9
    /// in calibration at +295 s, F1 last read at +100 s (stale); 7 people underground; suspended.
    /// M2: not in the registry (data from an unknown mine). M3 exists only through an alert.
    fn view() -> Arc<LiveView> {
        let live = Arc::new(LiveView::default());
        let def = Arc::new(MineDef::parse(Path::new("m1.toml"), MINE).expect("test mine parses"));
        let mut m1 = MineLive::new(def, MineStatus::Suspended);
        m1.clock = Some(T0 + 300_000);
        m1.points = vec![
            PointLive {
                value: 0.05,
                status: 0,
                ts: T0 + 290_000,
            },
            PointLive {
                value: 1.3,
                status: 0,
                ts: T0 + 200_000,
            },
            PointLive {
                value: 9.9,
                status: 4,
                ts: T0 + 295_000,
            },
            PointLive {
                value: 1.0,
                status: 0,
                ts: T0 + 100_000,
            },
        ];
        m1.underground = 7;
        live.mines.insert(Arc::from("M1"), m1);
        let m2 = MineLive::new(Arc::new(MineDef::unregistered("M2")), MineStatus::Producing);
        live.mines.insert(Arc::from("M2"), m2);
        for (mine, subject, sev) in [
            ("M1", "P1", Severity::Critical),
            ("M1", "P2", Severity::Warning),
            ("M1", "P3", Severity::Critical),
            ("M3", "X", Severity::Major),
        ] {
            let a = alert(mine, subject, sev);
            live.alerts.insert(a.key.clone(), a);
        }
        live
    }

    fn exposition(live: Arc<LiveView>, window: Duration) -> String {
        let m = Metrics::new();
        m.register_collector(Box::new(MinesCollector::new(live, window)));
        m.encode()
    }

    fn sample_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("minewatch_mine_"))
            .collect()
    }

    #[test]
    fn the_collector_reports_people_points_methane_alerts_and_status_per_mine() {
        let text = exposition(view(), Duration::from_secs(120));
        let expected = [
            "minewatch_mine_people_underground{mine=\"M1\"} 7",
            "minewatch_mine_max_underground{mine=\"M1\"} 50",
            "minewatch_mine_points{mine=\"M1\"} 4",
            // P0, P1 and P2 are within 2 min of the clock; F1 is 200 s behind.
            "minewatch_mine_points_reporting{mine=\"M1\"} 3",
            // P2's 9.9 is calibration gas: the highest real methane is P1's.
            "minewatch_mine_ch4_max_percent{mine=\"M1\"} 1.3",
            "minewatch_mine_suspended{mine=\"M1\"} 1",
            "minewatch_mine_alerts_active{mine=\"M1\",severity=\"critical\"} 2",
            "minewatch_mine_alerts_active{mine=\"M1\",severity=\"warning\"} 1",
            "minewatch_mine_alerts_active{mine=\"M1\",severity=\"major\"} 0",
            "minewatch_mine_alerts_active{mine=\"M1\",severity=\"info\"} 0",
            // Raised at T0, days before the wall clock of any run of this test.
            "minewatch_mine_alerts_stale{mine=\"M1\"} 3",
        ];
        let lines = sample_lines(&text);
        for e in expected {
            assert!(lines.contains(&e), "missing {e:?} in:\n{text}");
        }
        assert!(
            text.contains("# TYPE minewatch_mine_ch4_max_percent gauge"),
            "{text}"
        );
        // Only registered mines have series: not M2 (data from a mine the registry lacks) nor
        // M3 (known only through an alert), whatever ids senders make up.
        assert!(!text.contains("mine=\"M2\""), "{text}");
        assert!(!text.contains("mine=\"M3\""), "{text}");
        // 11 series for a reporting mine.
        let m1 = lines.iter().filter(|l| l.contains("mine=\"M1\"")).count();
        assert_eq!(m1, 11, "{text}");
    }

    #[test]
    fn an_alert_is_stale_once_active_for_more_than_a_day_of_wall_clock() {
        let collector = MinesCollector::new(view(), Duration::from_secs(120));
        let t0 = chrono::DateTime::from_timestamp_millis(T0).unwrap_or_default();
        let stale = |after: TimeDelta| collector.rows(t0 + after)["M1"].stale;
        assert_eq!(stale(STALE_AFTER), 0);
        assert_eq!(stale(STALE_AFTER + TimeDelta::milliseconds(1)), 3);
    }

    #[test]
    fn the_reporting_window_is_measured_on_the_mines_event_clock() {
        // 5 min: F1 (200 s behind) counts again; 5 s: only P0 (10 s) drops, P2 (5 s) stays.
        let wide = exposition(view(), Duration::from_secs(300));
        assert!(
            wide.contains("minewatch_mine_points_reporting{mine=\"M1\"} 4"),
            "{wide}"
        );
        let narrow = exposition(view(), Duration::from_secs(5));
        assert!(
            narrow.contains("minewatch_mine_points_reporting{mine=\"M1\"} 1"),
            "{narrow}"
        );
        // Only P2 is fresh and it is calibrating: no methane value at all.
        assert!(
            !narrow.contains("minewatch_mine_ch4_max_percent{mine=\"M1\"}"),
            "{narrow}"
        );
    }

    #[test]
    fn the_collector_follows_the_live_view_between_scrapes() {
        let live = view();
        let m = Metrics::new();
        m.register_collector(Box::new(MinesCollector::new(
            live.clone(),
            Duration::from_secs(120),
        )));
        live.alerts.retain(|_, a| a.mine != "M1");
        if let Some(mut m1) = live.mines.get_mut("M1") {
            m1.underground = 12;
            m1.status = MineStatus::Producing;
        }
        let text = m.encode();
        assert!(
            text.contains("minewatch_mine_alerts_active{mine=\"M1\",severity=\"critical\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("minewatch_mine_people_underground{mine=\"M1\"} 12"),
            "{text}"
        );
        assert!(
            text.contains("minewatch_mine_suspended{mine=\"M1\"} 0"),
            "{text}"
        );
        // The fixed metrics are still there beside the collector's.
        assert!(
            text.contains("minewatch_messages_total{system=\"safety\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_live_view_gives_descriptors_and_no_samples() {
        let text = exposition(Arc::new(LiveView::default()), Duration::from_secs(120));
        assert!(sample_lines(&text).is_empty(), "{text}");
        assert!(
            text.contains("# TYPE minewatch_mine_people_underground gauge"),
            "{text}"
        );
    }
}
