//! The shipped Grafana dashboards (deploy/grafana/dashboards) against a real Prometheus scraping
//! the real server: every panel query and every PromQL template query must return data once the
//! server has seen contract payloads (alerts, people, cameras, meters, a suspended mine).
//!
//! Prometheus: `MINEWATCH_TEST_PROMETHEUS` names the binary (missing = failure); unset, the test
//! uses /usr/bin/prometheus and skips with a notice when that is not installed.

use minewatch_fixtures::{http, metrics};
use minewatch_tests::{Harness, MINE, mine_as, wait_until};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long every dashboard query together may take to return data once Prometheus is ready.
const QUERY_DEADLINE: Duration = Duration::from_secs(60);
/// How long Prometheus may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// The test's mines: the `$mine` variable is substituted with a regex matching exactly these.
const MINES: [&str; 2] = ["M1", "M2"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The dashboards shipped in deploy/grafana/dashboards, by file name.
fn dashboards() -> Vec<(String, Value)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                v,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let titles: Vec<&str> = out
        .iter()
        .filter_map(|(_, d)| d["title"].as_str())
        .collect();
    for want in ["minewatch health", "mines overview"] {
        assert!(
            titles.contains(&want),
            "no dashboard titled {want:?} in {titles:?}"
        );
    }
    out
}

/// The value of the one `key: value` line of a small YAML file (no YAML parser in the workspace;
/// these files are flat enough that a line scan is exact, and the test fails if it is ambiguous).
fn yaml_value(text: &str, key: &str) -> String {
    let vals: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches("- ").strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    assert_eq!(vals.len(), 1, "expected exactly one {key:?} in:\n{text}");
    vals[0].to_string()
}

/// One query of a dashboard: where it is, and its text.
#[derive(Debug, Clone)]
struct Query {
    dashboard: String,
    panel: String,
    expr: String,
    /// For `label_values(metric, label)` template queries: the label every series must carry.
    label: Option<String>,
}

fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// Every `expr` of every panel target, and every template variable query.
fn queries(dashboards: &[(String, Value)]) -> Vec<Query> {
    let mut out = Vec::new();
    for (_, d) in dashboards {
        let title = d["title"].as_str().unwrap_or_default().to_string();
        for p in panels(d) {
            if p["type"] == "row" {
                continue;
            }
            let ptitle = p["title"].as_str().unwrap_or_default().to_string();
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(
                !targets.is_empty(),
                "{title}: panel {ptitle:?} has no targets"
            );
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(
                    !expr.is_empty(),
                    "{title}: panel {ptitle:?}: target without expr: {t}"
                );
                out.push(Query {
                    dashboard: title.clone(),
                    panel: ptitle.clone(),
                    expr: expr.to_string(),
                    label: None,
                });
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] != "query" {
                continue;
            }
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or_default();
            let panel = format!("variable ${}", v["name"].as_str().unwrap_or_default());
            // Grafana's label_values(metric, label) is not PromQL: it asks for the series of
            // `metric` and collects `label`; query the same and demand the label.
            let (expr, label) = match q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.rsplit_once(','))
            {
                Some((metric, label)) => {
                    (metric.trim().to_string(), Some(label.trim().to_string()))
                }
                None => (q.to_string(), None),
            };
            assert!(!expr.is_empty(), "{title}: {panel} has no query: {v}");
            out.push(Query {
                dashboard: title.clone(),
                panel,
                expr,
                label,
            });
        }
    }
    out
}

/// Replaces Grafana's variables with what Grafana would send for this test's selection.
fn substitute(expr: &str) -> String {
    let mine = format!("({})", MINES.join("|"));
    let mut s = expr.to_string();
    // Longest names first, so `$__interval` does not eat `$__interval_ms`.
    for (var, val) in [
        ("$__rate_interval", "30s"),
        ("$__interval_ms", "15000"),
        ("$__interval", "15s"),
        ("$__range_s", "300"),
        ("$__range", "5m"),
        ("${mine}", mine.as_str()),
        ("$mine", mine.as_str()),
        ("${instance}", ".+"),
        ("$instance", ".+"),
    ] {
        s = s.replace(var, val);
    }
    assert!(
        !s.contains('$'),
        "a Grafana variable this test does not know: {expr}"
    );
    s
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Prometheus binary, by the project's convention; None (with a notice) to skip.
fn prometheus_binary() -> Option<PathBuf> {
    match std::env::var_os("MINEWATCH_TEST_PROMETHEUS") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "MINEWATCH_TEST_PROMETHEUS={} does not exist",
                p.display()
            );
            Some(p)
        }
        None => {
            let p = PathBuf::from("/usr/bin/prometheus");
            if p.is_file() {
                Some(p)
            } else {
                eprintln!(
                    "notice: skipping the Grafana dashboard test: /usr/bin/prometheus is not installed \
                     (set MINEWATCH_TEST_PROMETHEUS to a prometheus binary to run it)"
                );
                None
            }
        }
    }
}

/// A running Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    /// Its config, data and log; kept until the process is gone.
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `bin` scraping `target`'s /metrics every second.
    fn start(bin: &Path, target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // The job name is the one deploy/prometheus.yml gives, which the dashboards select on.
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: minewatch\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
             \x20   static_configs:\n      - targets: [\"{target}\"]\n"
        );
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Prometheus { child, addr, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET `path`: status and JSON body, or None while nothing answers.
    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        http::try_request(self.addr, "GET", path, None).await.ok()
    }

    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            if let Some((200, _)) = self.get("/-/ready").await {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "prometheus not ready after {START_DEADLINE:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An instant query: Err(reason) when Prometheus refuses it, Ok(result) otherwise.
    async fn query(&self, expr: &str) -> Result<Value, String> {
        let (status, v) = self
            .get(&format!("/api/v1/query?query={}", percent_encode(expr)))
            .await
            .ok_or_else(|| "no answer from prometheus".to_string())?;
        if status != 200 || v["status"] != "success" {
            return Err(format!("HTTP {status}: {v}"));
        }
        Ok(v["data"].clone())
    }
}

/// Whether a query's data answers it: some series (carrying `label` when asked), or a scalar.
fn has_data(data: &Value, label: Option<&str>) -> bool {
    match data["resultType"].as_str() {
        Some("scalar") | Some("string") => true,
        _ => data["result"].as_array().is_some_and(|r| {
            !r.is_empty() && label.is_none_or(|l| r.iter().all(|s| s["metric"][l].is_string()))
        }),
    }
}

#[test]
fn dashboards_use_only_the_provisioned_datasource_and_are_mounted_where_provisioned() {
    let uid = yaml_value(
        &read("deploy/grafana/provisioning/datasources/prometheus.yml"),
        "uid",
    );
    assert_eq!(
        yaml_value(
            &read("deploy/grafana/provisioning/datasources/prometheus.yml"),
            "type"
        ),
        "prometheus"
    );
    fn walk(v: &Value, at: &str, uid: &str, seen: &mut usize) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "datasource" {
                        *seen += 1;
                        assert_eq!(
                            x["uid"], uid,
                            "{at}: datasource {x} is not the provisioned uid"
                        );
                        assert_eq!(x["type"], "prometheus", "{at}: datasource {x}");
                    }
                    let title = m.get("title").and_then(Value::as_str).unwrap_or("");
                    walk(x, &format!("{at} / {title}"), uid, seen);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, at, uid, seen)),
            _ => {}
        }
    }
    let ds = dashboards();
    let mut uids = Vec::new();
    for (file, d) in &ds {
        let mut seen = 0;
        walk(d, file, &uid, &mut seen);
        for p in panels(d).into_iter().filter(|p| p["type"] != "row") {
            assert_eq!(
                p["datasource"]["uid"],
                uid.as_str(),
                "{file}: panel {}",
                p["title"]
            );
        }
        assert!(seen > 0, "{file} names no datasource");
        let mut ids: Vec<i64> = panels(d).iter().filter_map(|p| p["id"].as_i64()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{file}: panel ids are not unique");
        uids.push(d["uid"].as_str().unwrap_or_default().to_string());
    }
    uids.sort();
    uids.dedup();
    assert_eq!(
        uids.len(),
        ds.len(),
        "dashboard uids must be set and unique"
    );
    // The mines overview filters by mine.
    let overview = ds
        .iter()
        .find(|(_, d)| d["title"] == "mines overview")
        .map(|(_, d)| d)
        .expect("overview");
    assert!(
        overview["templating"]["list"]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v["name"] == "mine")),
        "the mines overview has no $mine variable"
    );
    // The file provider reads the directory compose mounts the dashboards at.
    let path = yaml_value(
        &read("deploy/grafana/provisioning/dashboards/minewatch.yml"),
        "path",
    );
    let compose = read("deploy/compose.yml");
    assert!(
        compose.contains(&format!("./grafana/dashboards:{path}:ro")),
        "deploy/compose.yml does not mount ./grafana/dashboards at {path}"
    );
    assert!(compose.contains("./grafana/provisioning:/etc/grafana/provisioning:ro"));
    // The dashboards select job="minewatch", the job deploy/prometheus.yml scrapes.
    assert_eq!(
        yaml_value(&read("deploy/prometheus.yml"), "job_name"),
        "minewatch"
    );
    // $__rate_interval is built on the datasource's timeInterval: the scrape interval.
    assert_eq!(
        yaml_value(
            &read("deploy/grafana/provisioning/datasources/prometheus.yml"),
            "timeInterval"
        ),
        yaml_value(&read("deploy/prometheus.yml"), "scrape_interval")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus_scraping_the_server() {
    let Some(bin) = prometheus_binary() else {
        return;
    };
    let all = queries(&dashboards());
    assert!(all.len() > 20, "suspiciously few queries: {all:?}");

    let h = Harness::start(&[("m1.toml", MINE), ("m2.toml", &mine_as("M2"))], |_| {}).await;
    for mine in MINES {
        h.safety(
            mine,
            0,
            &[
                ("P0", 0.05, 0),
                ("P1", 0.4, 0),
                ("P2", 0.45, 0),
                ("F1", 1.0, 0),
                ("F2", 1.0, 0),
            ],
        )
        .await;
        let tags: Vec<Value> = (0..3)
            .map(|i| {
                json!({"tag": format!("T{i}"), "person": format!("W{i}"), "leader": i == 0,
                       "area": "A1", "underground": true, "down_at": h.ts(-600), "distress": false})
            })
            .collect();
        h.publish(mine, "personnel", &json!({"ts": h.ts(5), "tags": tags}))
            .await;
        h.publish(
            mine,
            "video",
            &json!({"ts": h.ts(5), "cameras": [{"camera": "C1", "state": "ok", "events": []}]}),
        )
        .await;
        h.publish(
            mine,
            "power",
            &json!({"ts": h.ts(5), "meters": [{"meter": "MF1", "kw": 312.5}]}),
        )
        .await;
    }
    // Over the alarm limit in M1 (major), over power-off in M2 (critical); a bad element too.
    h.safety("M1", 10, &[("P1", 1.2, 0)]).await;
    h.safety("M2", 10, &[("P1", 1.62, 0), ("F1", 0.0, 0), ("F2", 0.0, 0)])
        .await;
    h.publish(
        "M1",
        "safety",
        &json!({"ts": h.ts(11), "readings": [{"point": "P0"}]}),
    )
    .await;
    let (status, body) = http::request(
        h.http(),
        "PUT",
        "/api/mines/M2/status",
        Some(&json!({"status": "suspended", "by": "grafana test"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The server's own exposition shows the per-mine picture before Prometheus is involved.
    let metrics = h.server().metrics.clone();
    wait_until("the per-mine gauges show the fed data", || {
        let text = metrics.encode();
        async move {
            let s = metrics::parse(&text);
            let want: [(&str, metrics::Labels, f64); 9] = [
                ("minewatch_mine_people_underground", &[("mine", "M1")], 3.0),
                ("minewatch_mine_people_underground", &[("mine", "M2")], 3.0),
                ("minewatch_mine_points_reporting", &[("mine", "M1")], 5.0),
                ("minewatch_mine_points", &[("mine", "M2")], 5.0),
                ("minewatch_mine_ch4_max_percent", &[("mine", "M1")], 1.2),
                ("minewatch_mine_ch4_max_percent", &[("mine", "M2")], 1.62),
                (
                    "minewatch_mine_alerts_active",
                    &[("mine", "M1"), ("severity", "major")],
                    1.0,
                ),
                ("minewatch_mine_suspended", &[("mine", "M2")], 1.0),
                ("minewatch_mine_suspended", &[("mine", "M1")], 0.0),
            ];
            want.iter()
                .all(|(name, labels, v)| s.value(name, labels) == Some(*v))
                .then_some(())
        }
    })
    .await;
    h.wait_alert("M2 critical", "mine=M2&kind=over_limit", |a| {
        a["severity"] == "critical"
    })
    .await;

    let mut prom = Prometheus::start(&bin, h.http());
    prom.wait_ready().await;
    let deadline = tokio::time::Instant::now() + QUERY_DEADLINE;
    let mut pending: Vec<(Query, String)> = all
        .into_iter()
        .map(|q| {
            let e = substitute(&q.expr);
            (q, e)
        })
        .collect();
    let mut last: Vec<String> = Vec::new();
    while !pending.is_empty() {
        last.clear();
        let mut still = Vec::new();
        for (q, expr) in pending {
            match prom.query(&expr).await {
                Ok(data) if has_data(&data, q.label.as_deref()) => {}
                Ok(data) => {
                    last.push(format!("{} / {}: {expr} -> {data}", q.dashboard, q.panel));
                    still.push((q, expr));
                }
                Err(e) => panic!(
                    "{} / panel {:?}: Prometheus rejects {expr}: {e}",
                    q.dashboard, q.panel
                ),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{} dashboard queries returned no data within {QUERY_DEADLINE:?}:\n{}\n\nprometheus log:\n{}",
                pending.len(),
                last.join("\n"),
                prom.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The $mine selection really filters: the harness's probe mine is scraped but not selected.
    let selected = prom
        .query(&substitute("minewatch_mine_points{mine=~\"$mine\"}"))
        .await
        .expect("query");
    let mut mines: Vec<&str> = selected["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metric"]["mine"].as_str())
        .collect();
    mines.sort_unstable();
    assert_eq!(mines, MINES, "{selected}");
    let methane = prom
        .query("minewatch_mine_ch4_max_percent{mine=\"M2\"}")
        .await
        .expect("query");
    assert_eq!(methane["result"][0]["value"][1], "1.62", "{methane}");
    drop(prom);
}
