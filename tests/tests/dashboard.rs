//! The operator dashboard in a real browser: Debian's Chromium, headless, driven over the Chrome
//! DevTools Protocol (a WebSocket, spoken here with tokio-tungstenite; no browser is downloaded
//! and no driver crate is needed).
//!
//! The browser is `MINEWATCH_TEST_CHROMIUM` when set (the test fails if it is missing), else
//! `/usr/bin/chromium` (the test is skipped with a notice if that is missing). Each test starts
//! its own Chromium with its own profile directory and DevTools port, and kills it in a Drop
//! guard. Every wait polls a condition with a deadline.

use futures_util::{SinkExt, StreamExt};
use minewatch_tests::{Harness, MINE, WAIT};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The browser to drive, following the project's convention for outside programs.
fn chromium() -> Option<PathBuf> {
    minewatch_tests::outside_program(
        "MINEWATCH_TEST_CHROMIUM",
        "/usr/bin/chromium",
        "the dashboard browser test",
    )
}

/// A headless Chromium, killed (with its whole process group) when dropped.
struct Browser {
    child: Child,
    /// The profile directory; Chromium writes its DevTools port here.
    profile: tempfile::TempDir,
}

impl Browser {
    fn start(program: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can end the renderers and helpers too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Browser { child, profile }
    }

    /// The DevTools HTTP address, once Chromium has written it.
    async fn devtools(&mut self) -> SocketAddr {
        let file = self.profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(port) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u16>().ok())
            {
                return SocketAddr::from(([127, 0, 0, 1], port));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited before opening DevTools: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {}",
                file.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A DevTools session on the browser's first page.
    async fn page(&mut self) -> Cdp {
        let addr = self.devtools().await;
        let deadline = Instant::now() + WAIT;
        let url = loop {
            let (status, list) = devtools_get(addr, "/json/list").await;
            let page = list.as_array().and_then(|targets| {
                targets
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_string)
            });
            if let Some(url) = page {
                break url;
            }
            assert!(
                Instant::now() < deadline,
                "no page target in /json/list ({status}): {list}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url.as_str()))
            .await
            .expect("DevTools connects in time")
            .expect("DevTools WebSocket handshake");
        Cdp { ws, next_id: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Our own process group, by its id: Chromium and every helper it started.
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::KILL,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET from the DevTools HTTP endpoint: status and JSON, or `(0, Null)` while nothing answers.
async fn devtools_get(addr: SocketAddr, path: &str) -> (u16, Value) {
    minewatch_fixtures::http::try_request(addr, "GET", path, None)
        .await
        .unwrap_or((0, Value::Null))
}

/// A Chrome DevTools Protocol session with one page.
struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Cdp {
    /// Calls `method` and returns its `result`, or the protocol's error.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::Text(msg.into()))
            .await
            .expect("send to DevTools");
        let answer = tokio::time::timeout(WAIT, async {
            loop {
                let msg = self
                    .ws
                    .next()
                    .await
                    .expect("DevTools stays open")
                    .expect("DevTools message");
                if let Message::Text(t) = msg {
                    let v: Value = serde_json::from_str(t.as_str()).expect("DevTools sends JSON");
                    // Events (no id) and answers to earlier calls are not ours.
                    if v["id"] == id {
                        return v;
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} in time"));
        match answer.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(answer["result"].clone()),
        }
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    async fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(ex.to_string());
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls `expr` until it is truthy (not null, false, 0 or ""), and returns that value.
    async fn wait(&mut self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = self.eval(expr).await;
            if let Ok(v) = &last
                && truthy(v)
            {
                return v.clone();
            }
            if Instant::now() > deadline {
                let body = self
                    .eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await;
                panic!("timed out waiting for {what}; last: {last:?}; page: {body:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A JavaScript string literal for `s`.
fn js(s: &str) -> String {
    json!(s).to_string()
}

/// The test mine, with markup in its name: the page must show it as text.
fn mine_with_markup() -> String {
    let mine = MINE.replace(
        "name = \"Test Colliery\"",
        "name = \"Test <img id='injected' src=x> Colliery\"",
    );
    assert_ne!(mine, MINE, "the harness mine changed its name line");
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_over_mqtt_is_acknowledged_and_silenced_on_the_dashboard_and_the_mine_view_draws_methane()
 {
    let Some(program) = chromium() else {
        return;
    };
    let h = Harness::start(&[("m1.toml", &mine_with_markup())], |_| {}).await;
    let mut browser = Browser::start(&program);
    let mut page = browser.page().await;
    let base = format!("http://{}", h.http());
    page.call("Page.navigate", json!({"url": format!("{base}/")}))
        .await
        .expect("navigate");
    page.wait(
        "the page to load and go live",
        "document.readyState === 'complete' && document.getElementById('link').classList.contains('up')",
    )
    .await;

    // Methane over its alarm limit at the face: over_limit, raised over MQTT.
    h.safety(
        "M1",
        0,
        &[
            ("P0", 0.05, 0),
            ("P1", 1.2, 0),
            ("P2", 0.45, 0),
            ("F1", 0.0, 0),
            ("F2", 0.0, 0),
        ],
    )
    .await;
    let alert = h
        .wait_alert("over_limit raised", "mine=M1&kind=over_limit", |a| {
            a["subject"] == "P1"
        })
        .await;
    let id = alert["id"].as_str().expect("alert id").to_string();
    let row = js(&format!("tr[data-id=\"{id}\"]"));

    // It appears, live, in the major group, counted.
    let seen = page
        .wait(
            "the alert on the page",
            &format!(
                "(() => {{ const r = document.querySelector({row}); return r && {{
                    group: r.closest('section').dataset.severity, text: r.textContent,
                    major: document.querySelector('#counts .count.major b').textContent }}; }})()"
            ),
        )
        .await;
    assert_eq!(seen["group"], "major", "{seen}");
    assert!(
        seen["text"]
            .as_str()
            .is_some_and(|t| t.contains("over limit") && t.contains("P1"))
    );
    assert_eq!(seen["major"], "1", "{seen}");

    // Acknowledge it there, with a note.
    page.eval(&format!(
        "document.querySelector({row} + ' button.ack').click()"
    ))
    .await
    .expect("click Ack");
    page.wait(
        "the ack form",
        "document.getElementById('ack-submit') !== null",
    )
    .await;
    let note = "Face crew withdrawn; power cut by hand <b>now</b>";
    page.eval(&format!(
        "document.getElementById('ack-by').value = {}; document.getElementById('ack-note').value = {}; \
         document.getElementById('ack-submit').click(); true",
        js("Dispatcher Li"),
        js(note)
    ))
    .await
    .expect("fill and submit the ack");
    let done = page
        .wait(
            "the ack shown in the detail",
            "(() => { const d = document.getElementById('ack-done'); return d && d.textContent; })()",
        )
        .await;
    assert!(
        done.as_str()
            .is_some_and(|t| t.contains("Dispatcher Li") && t.contains(note)),
        "{done}"
    );
    page.wait(
        "the row marked acknowledged",
        &format!("document.querySelector({row} + ' .badge.acked') !== null"),
    )
    .await;
    page.wait(
        "the history listing the ack",
        "document.querySelector('table.history tr[data-type=\"acked\"]') !== null",
    )
    .await;

    // Silence its notifications there, for a planned calibration: the silence is kept, listed
    // with who set it, and the alert stays on the page, marked silenced.
    page.wait(
        "the silence form",
        "document.getElementById('silence-form') !== null",
    )
    .await;
    page.eval(&format!(
        "document.getElementById('sil-reason').value = {}; document.getElementById('sil-by').value = {}; \
         document.querySelector('#silence-form button[type=submit]').click(); true",
        js("Planned calibration of P1"),
        js("Dispatcher Li")
    ))
    .await
    .expect("fill and submit the silence");
    page.wait(
        "the row marked silenced",
        &format!("document.querySelector({row} + ' .badge.silenced') !== null"),
    )
    .await;
    let (status, listed) = h.get("/api/silences?state=active").await;
    assert_eq!(status, 200, "{listed}");
    let silence = listed["silences"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["mine"] == "M1"))
        .cloned()
        .unwrap_or_else(|| panic!("the page's silence is listed: {listed}"));
    assert_eq!(silence["kind"], "over_limit", "{silence}");
    assert_eq!(silence["subject"], "P1", "{silence}");
    assert_eq!(silence["reason"], "Planned calibration of P1", "{silence}");
    assert_eq!(silence["by"], "Dispatcher Li", "{silence}");

    let (status, stored) = h.get(&format!("/api/alerts/{id}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["alert"]["silenced"], true, "{stored}");
    assert_eq!(stored["alert"]["ack"]["by"], "Dispatcher Li", "{stored}");
    assert_eq!(stored["alert"]["ack"]["note"], note, "{stored}");
    assert!(
        stored["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["type"] == "acked")),
        "{stored}"
    );
    let remembered = page
        .eval("localStorage.getItem('minewatch.by')")
        .await
        .expect("localStorage");
    assert_eq!(remembered, "Dispatcher Li");

    // A few minutes of readings: the mine view draws P1's last hour.
    for (minute, v) in [(1, 1.1), (2, 0.9), (3, 1.3)] {
        h.safety("M1", minute * 60, &[("P1", v, 0), ("P0", 0.05, 0)])
            .await;
    }
    minewatch_tests::wait_until("three minutes in P1's history", || async {
        let (_, m) = h.get("/api/mines/M1").await;
        let p1 = m["points"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == "P1")?
            .clone();
        let n = p1["history"]["values"]
            .as_array()?
            .iter()
            .filter(|v| v.is_number())
            .count();
        (n >= 4).then_some(())
    })
    .await;
    page.eval("location.hash = 'view=mine&mine=M1'; true")
        .await
        .expect("open the mine view");
    let spark = page
        .wait(
            "P1's sparkline",
            "(() => { const l = document.querySelector('tr[data-point=\"P1\"] svg.spark polyline'); \
             return l && l.getAttribute('points'); })()",
        )
        .await;
    let drawn = spark.as_str().map_or(0, |p| p.split_whitespace().count());
    assert!(drawn >= 4, "P1 drawn through its minutes: {spark}");
    let view = page
        .eval(
            "({ feedSpark: document.querySelector('tr[data-point=\"F1\"] svg.spark') !== null, \
                injected: document.getElementById('injected') !== null, \
                title: document.querySelector('.mine-head h2').textContent })",
        )
        .await
        .expect("read the mine view");
    assert_eq!(view["feedSpark"], false, "only ch4 points have a last hour");
    assert_eq!(
        view["injected"], false,
        "markup from the registry stays text"
    );
    assert!(
        view["title"]
            .as_str()
            .is_some_and(|t| t.contains("<img id='injected'")),
        "{view}"
    );
}

/// True once the page has loaded and its WebSocket is up.
const LIVE: &str = "document.readyState === 'complete' && document.getElementById('link').classList.contains('up')";

/// A harness on the registry file `mine` (as `m1.toml`) and a browser live on its dashboard;
/// `None` (the test is skipped) without Chromium.
async fn dashboard_on(mine: &str) -> Option<(Harness, Browser, Cdp)> {
    let program = chromium()?;
    let h = Harness::start(&[("m1.toml", mine)], |_| {}).await;
    let mut browser = Browser::start(&program);
    let mut page = browser.page().await;
    page.call(
        "Page.navigate",
        json!({"url": format!("http://{}/", h.http())}),
    )
    .await
    .expect("navigate");
    page.wait("the page to load and go live", LIVE).await;
    Some((h, browser, page))
}

/// The face sensor P1 of the harness mine at `value` at `secs`, the rest quiet.
async fn p1_at(h: &Harness, secs: i64, value: f64) {
    h.safety(
        "M1",
        secs,
        &[
            ("P0", 0.05, 0),
            ("P1", value, 0),
            ("P2", 0.45, 0),
            ("F1", 0.0, 0),
            ("F2", 0.0, 0),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_that_clears_unacknowledged_stays_on_the_page_marked_cleared_until_acked() {
    let Some((h, _browser, mut page)) = dashboard_on(MINE).await else {
        return;
    };

    // Methane at power-off level: a critical over_limit; then back to normal, unacknowledged.
    p1_at(&h, 0, 1.6).await;
    let alert = h
        .wait_alert("a critical over_limit", "mine=M1&kind=over_limit", |a| {
            a["subject"] == "P1" && a["severity"] == "critical"
        })
        .await;
    let id = alert["id"].as_str().expect("alert id").to_string();
    let row = js(&format!("tr[data-id=\"{id}\"]"));
    p1_at(&h, 10, 0.5).await;
    h.wait_alert("the alert cleared, waiting for an ack", "mine=M1", |a| {
        a["id"] == id.as_str() && a["alarm_state"] == "cleared_unacked"
    })
    .await;
    let cleared = format!(
        "(() => {{ const r = document.querySelector({row}); return r && r.classList.contains('cleared')
            && r.dataset.alarm === 'cleared_unacked' && r.querySelector('button.ack') !== null
            && r.textContent.includes('cleared, not acknowledged'); }})()"
    );
    page.wait("the row marked cleared, not acknowledged", &cleared)
        .await;

    // A fresh load shows it too (the snapshot's `cleared`).
    page.call("Page.reload", json!({})).await.expect("reload");
    page.wait("the page live again", LIVE).await;
    page.wait("the cleared row after a reload", &cleared).await;

    // Acknowledged: it is closed and leaves the list.
    let (status, acked) = h
        .post(
            &format!("/api/alerts/{id}/ack"),
            &json!({"by": "Dispatcher Li", "note": "face checked"}),
        )
        .await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["alarm_state"], "closed", "{acked}");
    page.wait(
        "the row gone once acknowledged",
        &format!("document.querySelector({row}) === null"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chattering_point_shows_one_alert_with_its_count() {
    let Some((h, _browser, mut page)) = dashboard_on(MINE).await else {
        return;
    };

    // Over, under, over, under, over: three activations of one alert, well within the window.
    for (i, v) in [1.2, 0.5, 1.2, 0.5, 1.2].into_iter().enumerate() {
        p1_at(&h, i as i64 * 10, v).await;
    }
    let alert = h
        .wait_alert(
            "over_limit raised three times",
            "mine=M1&kind=over_limit",
            |a| a["subject"] == "P1" && a["count"] == 3 && a["state"] == "active",
        )
        .await;
    assert_eq!(alert["chattering"], true, "{alert}");
    let seen = page
        .wait(
            "one row with its count",
            "(() => { const rows = [...document.querySelectorAll('#groups tr[data-subject=\"P1\"][data-kind=\"over_limit\"]')];
                const r = rows[0];
                return rows.length === 1 && r.dataset.count === '3' && { n: rows.length, id: r.dataset.id,
                  count: r.querySelector('.badge.count') && r.querySelector('.badge.count').textContent,
                  chattering: r.querySelector('.badge.chattering') !== null, text: r.textContent }; })()",
        )
        .await;
    assert_eq!(seen["id"], alert["id"], "{seen}");
    assert_eq!(seen["count"], "×3", "{seen}");
    assert_eq!(seen["chattering"], true, "{seen}");
    assert!(
        seen["text"]
            .as_str()
            .is_some_and(|t| t.contains("over limit")),
        "the kind in words: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_mine_shows_a_banner_and_its_alerts_grouped() {
    let Some((h, _browser, mut page)) = dashboard_on(MINE).await else {
        return;
    };

    // Twelve devices the registry does not define: twelve new alerts in a minute, a flood.
    let devices: Vec<String> = (1..=12).map(|i| format!("U{i:02}")).collect();
    let readings: Vec<(&str, f64, u32)> = devices.iter().map(|d| (d.as_str(), 0.1, 0)).collect();
    h.safety("M1", 0, &readings).await;
    minewatch_tests::wait_until("M1 in a flood", || async {
        let (_, v) = h.get("/api/floods").await;
        v["floods"].get("M1").cloned()
    })
    .await;
    let seen = page
        .wait(
            "the flood banner and the grouped rows",
            "(() => { const b = document.querySelector('#floods .flood[data-mine=\"M1\"]');
                const g = document.querySelectorAll('#groups tr.collapsed-group[data-mine=\"M1\"]');
                return b && !document.getElementById('floods').hidden && g.length > 0
                  && { banner: b.textContent, groups: g.length, group: g[0].textContent,
                       rows: document.querySelectorAll('#groups tr[data-id][data-mine=\"M1\"]').length }; })()",
        )
        .await;
    assert!(
        seen["banner"]
            .as_str()
            .is_some_and(|t| t.contains("Alarm flood") && t.contains("Test Colliery (M1)")),
        "{seen}"
    );
    assert_eq!(seen["rows"], 0, "no row per alert while grouped: {seen}");
    assert!(
        seen["group"]
            .as_str()
            .is_some_and(|t| t.contains("12 alerts")),
        "{seen}"
    );

    // Expanded, the group shows its alerts.
    page.eval(
        "document.querySelector('#groups tr.collapsed-group[data-mine=\"M1\"]').click(); true",
    )
    .await
    .expect("expand");
    page.wait(
        "the group's rows",
        "document.querySelectorAll('#groups tr[data-id][data-mine=\"M1\"]').length === 12",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_across_many_mines_shows_one_banner_and_no_row_per_alert() {
    let Some(program) = chromium() else {
        return;
    };
    // Five mines, each with twelve devices the registry does not define at once: five floods.
    let ids: Vec<String> = (1..=5).map(|i| format!("M{i}")).collect();
    let files: Vec<(String, String)> = ids
        .iter()
        .map(|id| (format!("{id}.toml"), minewatch_fixtures::mine::mine_as(id)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let h = Harness::start(&files, |_| {}).await;
    let mut browser = Browser::start(&program);
    let mut page = browser.page().await;
    page.call(
        "Page.navigate",
        json!({"url": format!("http://{}/", h.http())}),
    )
    .await
    .expect("navigate");
    page.wait("the page to load and go live", LIVE).await;
    let devices: Vec<String> = (1..=12).map(|i| format!("U{i:02}")).collect();
    let readings: Vec<(&str, f64, u32)> = devices.iter().map(|d| (d.as_str(), 0.1, 0)).collect();
    for id in &ids {
        h.safety(id, 0, &readings).await;
    }
    minewatch_tests::wait_until("five mines in a flood", || async {
        let (_, v) = h.get("/api/floods").await;
        (v["floods"].as_object().map_or(0, |f| f.len()) == 5).then_some(())
    })
    .await;
    let seen = page
        .wait(
            "one banner for the five mines and their groups",
            "(() => { const b = document.querySelectorAll('#floods .flood');
                const g = document.querySelectorAll('#groups tr.collapsed-group');
                return b.length === 1 && b[0].dataset.mines === '5' && g.length === 5
                  && { banner: b[0].textContent,
                       rows: document.querySelectorAll('#groups tr[data-id]').length }; })()",
        )
        .await;
    assert!(
        seen["banner"]
            .as_str()
            .is_some_and(|t| t.contains("Alarm flood at 5 mines") && t.contains("60 new alerts")),
        "{seen}"
    );
    assert_eq!(seen["rows"], 0, "no row per alert: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_show_the_zone_of_the_mine() {
    let mine = MINE.replacen(
        "max_underground = 50",
        "max_underground = 50\nutc_offset = \"+05:30\"",
        1,
    );
    assert_ne!(
        mine, MINE,
        "the harness mine changed its max_underground line"
    );
    let Some((h, _browser, mut page)) = dashboard_on(&mine).await else {
        return;
    };

    p1_at(&h, 0, 1.2).await;
    let alert = h
        .wait_alert("over_limit raised", "mine=M1&kind=over_limit", |a| {
            a["subject"] == "P1"
        })
        .await;
    let id = alert["id"].as_str().expect("alert id").to_string();
    let started =
        chrono::DateTime::parse_from_rfc3339(alert["started_at"].as_str().expect("started_at"))
            .expect("RFC 3339");
    let zone = chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("offset");
    let expected = started
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S +05:30")
        .to_string();
    let row = js(&format!("tr[data-id=\"{id}\"]"));
    let cell = page
        .wait(
            "the start time in the mine's zone",
            &format!(
                "(() => {{ const t = document.querySelector({row} + ' td.time');
                    return t && t.textContent.includes({}) && t.textContent; }})()",
                js(&expected)
            ),
        )
        .await;
    assert!(
        cell.as_str().is_some_and(|t| t.contains("for ")),
        "a duration beside it: {cell}"
    );
    // The detail says the same, in the same format.
    page.eval(&format!("document.querySelector({row}).click(); true"))
        .await
        .expect("open the detail");
    let detail = page
        .wait(
            "the detail's times",
            &format!(
                "(() => {{ const d = document.getElementById('detail-body');
                    return d && d.textContent.includes({}) && d.textContent; }})()",
                js(&expected)
            ),
        )
        .await;
    let text = detail.as_str().unwrap_or_default();
    assert!(text.contains("Test Colliery (M1)"), "{text}");
    assert!(
        !text.contains(" GMT") && !text.contains(" AM") && !text.contains(" PM"),
        "no locale times: {text}"
    );
}
