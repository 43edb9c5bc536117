// minewatch operator dashboard (vanilla JS, no dependencies, served by the binary itself).
// Four scripts, loaded in order: words.js (times in the mine's offset, units, names, kind
// labels), alarms.js (the alert list: ISA-18.2 states, counts, shelving, subject groups, floods),
// kpis.js (the KPI view) and this one (server access, the stream, the detail, the mine view).
//
// Data sources (contract §5):
// - /ws?mine=&after=SEQ: a snapshot {type:"snapshot",seq,alerts,cleared} (or, with after=, the missed
//   events), then one {type,seq,alert} per event. The live list of active alerts comes from here;
//   on a dropped connection the page reconnects with a jittered backoff and resumes after the
//   last seq it saw.
// - GET /api/alerts?state=resolved|all: resolved alerts, refetched when the stream says something
//   changed.
// - GET /api/alerts/{id}: an alert with its events (the detail drawer); POST …/ack acknowledges.
// - GET /api/mines, /api/mines/{id}: the mine view (people, methane with its last hour, cameras,
//   meters, active alerts).
// - GET /api/kinds: the alert kinds the server raises (the kind filter, and a kind's description
//   as its tooltip). Without it the page still works, with no kind filter but the one in the URL.
// - GET/POST/DELETE /api/silences: active silences; an alert is shown silenced when the server
//   says so ("silenced": true) or when an active silence matches it. A 404 hides the feature.
//
// Every string from the server reaches the page through text nodes or setAttribute, never as
// markup. State that survives a reload: the filters and view in the URL hash; the operator's
// name and the mute switch in localStorage; the token in sessionStorage (gone with the tab).
"use strict";

const SEVERITIES = ["critical", "major", "warning", "info"];
const RANK = { info: 0, warning: 1, major: 2, critical: 3 };
const BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 30000;
const KEEP_RESOLVED_MS = 10 * 60 * 1000;  // a resolved alert stays greyed in the active list
const SILENCES_EVERY_MS = 30000, MINES_EVERY_MS = 5000, RESOLVED_EVERY_MS = 30000;
const LIST_LIMIT = 500;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// DOM helpers: text goes in as text nodes, never as markup.

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function sevBadge(s) { return el("span", { class: `sev ${SEVERITIES.includes(s) ? s : "info"}` }, s); }

// ---------------------------------------------------------------------------------------------
// Server access. The token, when the server has tokens, goes as an Authorization header on fetch
// and as ?token= on /ws (browsers cannot set headers on a WebSocket).

let token = sessionStorage.getItem("minewatch.token") || "";

async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText}`;
    const err = new Error(res.status === 401 ? `${msg} (set a token)` : msg);
    err.status = res.status;
    throw err;
  }
  return data;
}

function notice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
}

// ---------------------------------------------------------------------------------------------
// Alert kinds, from GET /api/kinds: nothing about them is written in this page.

let kinds = null;  // name -> {name, subject, severity, description, ...}; null until loaded

// Whether `k` may be a kind: one the server listed, or, until the list is in, any kind-like name.
function isKindName(k) {
  if (!k) return false;
  return kinds ? kinds.has(k) : /^[a-z][a-z0-9_]*$/.test(k);
}

// A kind's one-line description, for tooltips; "" when unknown.
// A kind in words: the server's label (GET /api/kinds), else its name with spaces.
function kindLabel(k) {
  const info = kinds && kinds.get(k);
  return info && info.label ? info.label : String(k ?? "").replace(/_/g, " ");
}

function kindTitle(k) {
  const info = kinds && kinds.get(k);
  return info && info.description ? info.description : "";
}

async function loadKinds() {
  const note = $("kind-note");
  try {
    const data = await api("GET", "/api/kinds");
    const list = Array.isArray(data && data.kinds) ? data.kinds : [];
    kinds = new Map(list.filter((k) => k && typeof k.name === "string").map((k) => [k.name, k]));
    $("f-kind").replaceChildren(el("option", { value: "" }, "all"),
      ...[...kinds.values()].map((k) => el("option", { value: k.name, title: k.description || null }, k.label || k.name)));
    $("f-kind").disabled = false;
    note.hidden = true;
    if (hashState.kind && !kinds.has(hashState.kind)) writeHash({ kind: "" });
    else $("f-kind").value = hashState.kind;
    scheduleRender();
  } catch (e) {
    // The alert list does not need the kinds: keep it, say why the filter is missing.
    $("f-kind").disabled = !hashState.kind;
    note.textContent = `kinds unavailable: ${e.message}`;
    note.hidden = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The URL hash holds the view and the filters: #view=alerts&mine=&kind=&severity=&state=&alert=

const hashState = { view: "alerts", mine: "", kind: "", severity: "", state: "active", alert: "" };

function readHash() {
  const q = new URLSearchParams(location.hash.slice(1));
  const prevMine = hashState.mine;
  hashState.view = ["alerts", "mine", "silences", "kpis"].includes(q.get("view")) ? q.get("view") : "alerts";
  hashState.mine = q.get("mine") || "";
  hashState.kind = isKindName(q.get("kind")) ? q.get("kind") : "";
  hashState.severity = RANK[q.get("severity")] !== undefined ? q.get("severity") : "";
  hashState.state = ["active", "resolved", "all"].includes(q.get("state")) ? q.get("state") : "active";
  hashState.alert = q.get("alert") || "";
  return prevMine !== hashState.mine;
}

function writeHash(changes) {
  const next = { ...hashState, ...changes };
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(next)) {
    if (!v || (k === "view" && v === "alerts") || (k === "state" && v === "active")) continue;
    q.set(k, v);
  }
  const h = q.toString();
  if (h !== location.hash.slice(1)) location.hash = h;  // fires hashchange, which applies it
}

function applyHash() {
  const mineChanged = readHash();
  $("f-mine").value = hashState.mine;
  if (hashState.kind && ![...$("f-kind").options].some((o) => o.value === hashState.kind)) {
    $("f-kind").append(el("option", { value: hashState.kind }, hashState.kind));  // before /api/kinds answers
  }
  $("f-kind").value = hashState.kind;
  $("f-severity").value = hashState.severity;
  $("f-state").value = hashState.state;
  for (const a of document.querySelectorAll("#views a")) {
    a.classList.toggle("current", a.dataset.view === hashState.view);
  }
  $("alerts-view").hidden = hashState.view !== "alerts";
  $("mine-view").hidden = hashState.view !== "mine";
  $("silences-view").hidden = hashState.view !== "silences";
  $("kpis-view").hidden = hashState.view !== "kpis";
  if (mineChanged) restartStream();
  if (hashState.state !== "active") refreshResolved();
  renderAlerts();
  if (hashState.view === "mine") refreshMine();
  if (hashState.view === "silences") renderSilences();
  if (hashState.view === "kpis") refreshKpis();
  if (hashState.alert) openDetail(hashState.alert); else closeDetail();
}

// ---------------------------------------------------------------------------------------------
// The live stream of alerts.

const active = new Map();    // id -> open alert (active, or cleared and unacknowledged), from the stream
const recent = new Map();    // id -> {alert, until}: resolved while we watched
let restList = null;         // resolved/all view: alerts from GET /api/alerts, newest first
let lastSeq = null;          // the seq we are up to; null before the first snapshot
let socket = null, backoff = BACKOFF_MIN_MS, retryTimer = null, attempts = 0;

function wsUrl() {
  const q = new URLSearchParams();
  if (hashState.mine) q.set("mine", hashState.mine);
  if (lastSeq !== null) q.set("after", String(lastSeq));
  if (token) q.set("token", token);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws?${q}`;
}

function connect() {
  clearTimeout(retryTimer);
  setLink("down", attempts ? "reconnecting…" : "connecting…");
  const ws = new WebSocket(wsUrl());
  socket = ws;
  ws.onopen = () => {
    if (ws !== socket) return;
    backoff = BACKOFF_MIN_MS; attempts = 0;
    setLink("up", "live");
  };
  ws.onmessage = (m) => {
    if (ws !== socket) return;
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    handle(msg);
  };
  ws.onclose = () => {
    if (ws !== socket) return;  // replaced by a new filter or token
    // Jittered exponential backoff between a floor and a ceiling.
    const wait = backoff / 2 + Math.random() * backoff / 2;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    attempts += 1;
    const due = Date.now() + wait;
    const tick = () => {
      if (ws !== socket || socket.readyState !== WebSocket.CLOSED) return;
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setLink("down", `offline · retry in ${left} s (attempt ${attempts})`);
      if (left > 0) setTimeout(tick, 1000);
    };
    tick();
    retryTimer = setTimeout(connect, wait);
  };
}

function restartStream() {
  active.clear(); recent.clear(); lastSeq = null;  // a new mine filter starts from a snapshot
  const old = socket;
  socket = null;
  if (old) old.close();
  backoff = BACKOFF_MIN_MS; attempts = 0;
  connect();
}

function handle(msg) {
  if (msg.type === "snapshot") {
    active.clear();
    for (const a of msg.alerts || []) active.set(a.id, a);
    for (const a of msg.cleared || []) active.set(a.id, a);  // cleared, waiting for an ack
  } else if (msg.alert) {
    const a = msg.alert, before = active.get(a.id);
    if (isOpen(a)) {
      active.set(a.id, a);  // a re-raise updates the same row (same id, count + 1)
    } else {
      active.delete(a.id);
      // Closed by clearing (a severity that does not latch): greyed for a while. Closed by an
      // ack: the operator is done with it.
      if (msg.type === "resolved") recent.set(a.id, { alert: a, until: Date.now() + KEEP_RESOLVED_MS });
      else recent.delete(a.id);
    }
    if (a.state === "active" && a.severity === "critical" && !a.ack && !isSilenced(a)
        && (msg.type === "raised" || (before && before.severity !== "critical"))) {
      cue();
    }
    if (restList) upsertRest(a);
    if (detailId === a.id) openDetail(a.id, true);
  }
  if (lastSeq === null || msg.seq > lastSeq) lastSeq = msg.seq;
  if (socket && socket.readyState === WebSocket.OPEN) setLink("up", `live · seq ${lastSeq ?? "–"}`);
  scheduleRender();
}

function setLink(state, text) {
  $("link").className = `link ${state}`;
  $("link-text").textContent = text;
  $("stale").hidden = state === "up" || lastSeq === null;
}

// ---------------------------------------------------------------------------------------------
// Resolved and all: from the REST API, kept current by the stream.

let restTimer = null, restSeq = 0;
async function refreshResolved() {
  clearTimeout(restTimer);
  if (hashState.state === "active") { restList = null; return; }
  const mySeq = ++restSeq;
  const q = new URLSearchParams({ state: hashState.state, limit: String(LIST_LIMIT) });
  if (hashState.mine) q.set("mine", hashState.mine);
  if (hashState.kind) q.set("kind", hashState.kind);
  if (hashState.severity) q.set("severity", hashState.severity);
  try {
    const data = await api("GET", `/api/alerts?${q}`);
    if (mySeq !== restSeq) return;
    restList = data.alerts || [];
    $("list-note").textContent = restList.length >= LIST_LIMIT ? `newest ${LIST_LIMIT} shown` : "";
  } catch (e) {
    $("list-note").textContent = `could not load: ${e.message}`;
  }
  restTimer = setTimeout(refreshResolved, RESOLVED_EVERY_MS);
  scheduleRender();
}

function upsertRest(a) {
  const i = restList.findIndex((x) => x.id === a.id);
  if (i >= 0) restList[i] = a; else restList.unshift(a);
}

// ---------------------------------------------------------------------------------------------
// Silences. Built against GET/POST/DELETE /api/silences; a 404 means the server has none, and
// the page then shows no silence controls at all.

let silences = [];
let silencesOn = false;

async function refreshSilences() {
  try {
    const data = await api("GET", "/api/silences?state=active");
    silences = Array.isArray(data && data.silences) ? data.silences : [];
    silencesOn = true;
  } catch (e) {
    if (e.status === 404) { silencesOn = false; silences = []; }
    // Other failures keep the last list: the next refresh may succeed.
  }
  $("silences-tab").hidden = !silencesOn;
  scheduleRender();
  if (hashState.view === "silences") renderSilences();
}

function silenceMatches(s, a, now) {
  const starts = Date.parse(s.starts_at), ends = Date.parse(s.ends_at);
  return s.mine === a.mine && (s.kind == null || s.kind === a.kind)
    && (s.subject == null || s.subject === a.subject)
    && !(starts > now) && now < ends;
}

function isSilenced(a) {
  if (a.silenced === true) return true;
  const now = Date.now();
  return silences.some((s) => silenceMatches(s, a, now));
}

// ---------------------------------------------------------------------------------------------
// The audible cue: a short WebAudio beep for each new critical alert. Browsers start audio only
// after a user gesture, so the context is created on the first click or key press; until then
// the sound button says so.

let audio = null;
let muted = localStorage.getItem("minewatch.muted") === "1";

function unlockAudio() {
  if (muted) return;
  try {
    if (!audio) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      audio = new Ctx();
    }
    if (audio.state === "suspended") audio.resume().then(soundUi, soundUi);
  } catch (_) { audio = null; }
  soundUi();
}

function soundUi() {
  const b = $("sound");
  if (muted) { b.textContent = "Sound: muted"; b.className = ""; return; }
  const ready = audio && audio.state === "running";
  b.textContent = ready ? "Sound: on" : "Sound: click to enable";
  b.className = ready ? "" : "error";
}

function cue() {
  if (muted || !audio || audio.state !== "running") return;
  const t0 = audio.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    const t = t0 + i * 0.25;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  }
}

// ---------------------------------------------------------------------------------------------
// The alert list: grouped by severity, critical first; in each group unacknowledged first, then
// newest first.

// Renders at most every RENDER_GAP_MS: a storm of events is drawn in a few frames, not one each.
const RENDER_GAP_MS = 250;
let renderPending = false, lastRender = 0;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => requestAnimationFrame(() => { renderPending = false; lastRender = Date.now(); renderAlerts(); }),
    Math.max(0, lastRender + RENDER_GAP_MS - Date.now()));
}

// ---------------------------------------------------------------------------------------------
// The alert detail: fields, evidence, history, the ack and silence forms.

let detailId = null, detailSeq = 0, pendingForm = "";  // pendingForm: the field to focus once the drawer opens

function closeDetail() {
  detailId = null;
  $("detail").hidden = true;
}

// Evidence as readable tables: objects as key/value rows, lists of objects as small tables with
// one column per key, lists of plain values as a comma-separated line.
let valueMine = "";  // the mine whose offset evidence times are shown in
function renderValue(v, depth) {
  if (v == null) return el("span", { class: "muted" }, "—");
  if (isTimeText(v)) return document.createTextNode(fmtTime(v, valueMine));
  if (typeof v !== "object") return document.createTextNode(typeof v === "number" ? fmtNum(v) : String(v));
  if (depth > 5) return document.createTextNode(JSON.stringify(v));
  if (Array.isArray(v)) {
    if (!v.length) return el("span", { class: "muted" }, "none");
    if (v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return el("table", { class: "small" },
        el("thead", {}, el("tr", {}, cols.map((c) => el("th", {}, c)))),
        el("tbody", {}, v.map((x) => el("tr", {}, cols.map((c) => el("td", {}, renderValue(x[c], depth + 1)))))));
    }
    if (v.every((x) => x === null || typeof x !== "object")) return document.createTextNode(v.map((x) => fmtNum(x)).join(", "));
    return el("ul", {}, v.map((x) => el("li", {}, renderValue(x, depth + 1))));
  }
  const keys = Object.keys(v);
  if (!keys.length) return el("span", { class: "muted" }, "none");
  return el("table", { class: "kv" }, el("tbody", {}, keys.map((k) => el("tr", {}, el("th", {}, k), el("td", {}, renderValue(v[k], depth + 1))))));
}

function ackForm(a) {
  const by = el("input", { id: "ack-by", required: true, maxlength: 128, autocomplete: "name",
    value: localStorage.getItem("minewatch.by") || "" });
  const note = el("textarea", { id: "ack-note", rows: 2, maxlength: 1024, placeholder: "What was done, who was told" });
  const msg = el("div", { id: "ack-result", role: "status" });
  const submit = el("button", { id: "ack-submit", class: "primary", type: "submit" }, "Acknowledge");
  const form = el("form", { id: "ack-form", class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    const name = by.value.trim();
    if (!name) { msg.className = "error"; msg.textContent = "Give your name."; by.focus(); return; }
    localStorage.setItem("minewatch.by", name);
    submit.disabled = true; msg.className = ""; msg.textContent = "Sending…";
    try {
      const done = await api("POST", `/api/alerts/${encodeURIComponent(a.id)}/ack`, { by: name, note: note.value });
      msg.className = "ok"; msg.textContent = "Acknowledged.";
      if (done && done.id && active.has(done.id)) {
        if (isOpen(done)) active.set(done.id, done); else active.delete(done.id);
      }
      scheduleRender();
      openDetail(a.id, true);
    } catch (err) {
      msg.className = "error";
      msg.textContent = err.status === 403 ? `Not allowed: ${err.message}` : `Ack failed: ${err.message}`;
      submit.disabled = false;
    }
  } },
  el("label", {}, "Your name", by), el("label", {}, "Note", note), el("div", { class: "row" }, submit, msg));
  return form;
}

function silenceForm(a) {
  const withKind = el("input", { type: "checkbox", id: "sil-kind", checked: true });
  const withSubject = el("input", { type: "checkbox", id: "sil-subject", checked: true });
  const duration = el("select", { id: "sil-duration" },
    ["30m", "1h", "2h", "4h", "8h", "24h"].map((d) => el("option", { value: d, selected: d === "2h" }, d)));
  const reason = el("input", { id: "sil-reason", required: true, maxlength: 1024, placeholder: "Why (maintenance, known fault…)" });
  const by = el("input", { id: "sil-by", required: true, maxlength: 128, value: localStorage.getItem("minewatch.by") || "" });
  const msg = el("div", { role: "status" });
  const submit = el("button", { type: "submit" }, "Silence");
  return el("form", { id: "silence-form", class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    const body = { mine: a.mine, duration: duration.value, reason: reason.value.trim(), by: by.value.trim() };
    if (withKind.checked) body.kind = a.kind;
    if (withSubject.checked) body.subject = a.subject;
    if (!body.reason || !body.by) { msg.className = "error"; msg.textContent = "Give a reason and your name."; return; }
    localStorage.setItem("minewatch.by", body.by);
    submit.disabled = true;
    try {
      await api("POST", "/api/silences", body);
      msg.className = "ok"; msg.textContent = "Silenced.";
      await refreshSilences();
    } catch (err) {
      msg.className = "error"; msg.textContent = `Silence failed: ${err.message}`;
      submit.disabled = false;
    }
  } },
  el("div", { class: "row" }, `Mine ${mineLabel(a.mine)}`,
    el("label", { class: "row" }, withKind, `kind: ${kindLabel(a.kind)}`),
    el("label", { class: "row" }, withSubject, `subject ${a.subject}`)),
  el("label", {}, "For", duration), el("label", {}, "Reason", reason), el("label", {}, "Your name", by),
  el("div", { class: "row" }, submit, msg));
}

async function openDetail(id, keepForms) {
  const mySeq = ++detailSeq;
  const first = detailId !== id;
  detailId = id;
  $("detail").hidden = false;
  if (first) {
    $("detail-title").textContent = "Alert";
    $("detail-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  }
  let data;
  try {
    data = await api("GET", `/api/alerts/${encodeURIComponent(id)}`);
  } catch (e) {
    if (mySeq === detailSeq) $("detail-body").replaceChildren(el("p", { class: "error" }, `Could not load the alert: ${e.message}`));
    return;
  }
  if (mySeq !== detailSeq || detailId !== id) return;
  const a = data.alert, events = data.events || [];
  // A form being typed into survives a refresh caused by the alert's own events.
  const keep = keepForms ? $("ack-form") : null;
  const keepSilence = keepForms ? $("silence-form") : null;
  const keepShelve = keepForms && $("shelve-form") && $("shelve-form").tagName === "FORM" && !a.shelved ? $("shelve-form") : null;
  const open = isOpen(a), m = a.mine, p = livePoint(a), u = unitOf(a);
  valueMine = m;
  $("detail-title").replaceChildren(sevBadge(a.severity), " ", `${kindLabel(a.kind)} · ${a.subject}`);
  const fields = {
    mine: mineLabel(m), area: areaLabel(m, a.area) || null, kind: `${kindLabel(a.kind)} (${a.kind})`,
    state: ALARM_WORDS[alarmState(a)] || a.state,
    value: withUnit(a.value, u) || null, limit: withUnit(a.limit, u) || null,
    "value at raise": withUnit(a.raised_value, u) || null,
    "now": p && p.value != null ? `${withUnit(p.value, p.unit)} (${statusText(p)})` : null,
    raised: `${(a.count || 1)} times${a.chattering ? ", chattering" : ""}`,
    started: `${fmtTime(a.started_at, m)} · ${forDuration(a.started_at, a.state === "active" ? null : a.resolved_at)}`,
    updated: fmtTime(a.updated_at, m), cleared: fmtTime(a.resolved_at, m) || null,
    key: a.key, id: a.id,
  };
  const parts = [
    el("p", { class: "message" }, a.message),
    isSilenced(a) ? el("p", {}, el("span", { class: "badge silenced" }, "silenced")) : null,
    renderValue(fields, 1),
    el("p", {}, el("a", { href: `#view=mine&mine=${encodeURIComponent(m)}` }, `Open mine ${mineLabel(m)}`)),
  ];
  parts.push(el("h3", {}, "Acknowledgement"));
  if (a.ack) {
    parts.push(el("div", { id: "ack-done" }, renderValue({ by: a.ack.by, at: fmtTime(a.ack.at, m), note: a.ack.note || "" }, 1)));
  } else if (open) {
    parts.push(keep || ackForm(a));
  } else {
    parts.push(el("p", { class: "muted" }, "Not acknowledged."));
  }
  if (open) parts.push(el("h3", {}, "Shelve"), keepShelve || shelveForm(a));
  if (silencesOn && a.state === "active") {
    parts.push(el("h3", {}, "Silence"));
    parts.push(keepSilence || silenceForm(a));
  }
  parts.push(el("h3", {}, "Evidence"), renderValue(a.evidence, 0));
  if (Array.isArray(a.activations) && a.activations.length) {
    parts.push(el("h3", {}, `Earlier activations · ${a.activations.length}`), table(["started", "cleared", "value", "acknowledged by"],
      a.activations.map((x) => el("tr", {}, el("td", { class: "time" }, fmtTime(x.started_at, m)),
        el("td", { class: "time" }, fmtTime(x.resolved_at, m)), el("td", { class: "num" }, withUnit(x.value, u)), el("td", {}, x.acked_by || "")))));
  }
  parts.push(el("h3", {}, `History · ${events.length} events`));
  parts.push(el("table", { class: "small history" },
    el("thead", {}, el("tr", {}, ["seq", "event", "at", "severity", "value", "message / ack"].map((h) => el("th", {}, h)))),
    el("tbody", {}, events.map((ev) => el("tr", { "data-type": ev.type },
      el("td", { class: "num" }, ev.seq), el("td", {}, ev.type), el("td", { class: "time" }, fmtTime(ev.at, m)),
      el("td", {}, ev.alert ? ev.alert.severity : ""), el("td", { class: "num" }, ev.alert ? fmtValue(ev.alert) : ""),
      el("td", {}, ev.type === "acked" && ev.alert && ev.alert.ack
        ? `${ev.alert.ack.by}${ev.alert.ack.note ? ": " + ev.alert.ack.note : ""}`
        : (ev.alert ? ev.alert.message : "")))))));
  $("detail-body").replaceChildren(...parts.filter(Boolean));
  if (pendingForm && $(pendingForm)) { $(pendingForm).focus(); pendingForm = ""; }
}

// ---------------------------------------------------------------------------------------------
// The mine view: the mines as cards, or one mine's live picture.

let mineTimer = null, mineSeq = 0;

function sparkline(history, limit) {
  const values = (history && Array.isArray(history.values)) ? history.values : [];
  const W = 120, H = 28, nums = values.filter((v) => typeof v === "number");
  const s = svg("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  const t = svg("title", {});
  t.textContent = nums.length
    ? `last hour: max ${fmtNum(Math.max(...nums))}, ${nums.length} of ${values.length} minutes with data`
    : "no data in the last hour";
  s.appendChild(t);
  if (!nums.length) return s;
  let lo = Math.min(...nums), hi = Math.max(...nums);
  if (typeof limit === "number" && limit > hi && limit < hi * 1.5 + 0.1) hi = limit;
  if (hi - lo < 0.05) { hi += 0.025; lo -= 0.025; }
  const x = (i) => (values.length > 1 ? i * W / (values.length - 1) : W / 2);
  const y = (v) => H - 1 - (v - lo) * (H - 2) / (hi - lo);
  if (typeof limit === "number" && limit >= lo && limit <= hi) {
    s.appendChild(svg("line", { class: "limit", x1: 0, x2: W, y1: y(limit).toFixed(1), y2: y(limit).toFixed(1) }));
  }
  // One polyline per run of minutes with data; a gap breaks the line.
  let run = [];
  const flush = () => {
    if (run.length > 1) s.appendChild(svg("polyline", { points: run.join(" ") }));
    else if (run.length === 1) { const [cx, cy] = run[0].split(","); s.appendChild(svg("circle", { cx, cy, r: 1.6 })); }
    run = [];
  };
  values.forEach((v, i) => { if (typeof v === "number") run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); else flush(); });
  flush();
  return s;
}

function panel(title, ...body) { return el("div", { class: "panel" }, el("h3", {}, title), ...body); }

function table(cols, rows) {
  return el("table", { class: "small" }, el("thead", {}, el("tr", {}, cols.map((c) => el("th", {}, c)))), el("tbody", {}, rows));
}

function renderMineList(mines) {
  if (!mines.length) return el("p", { class: "empty" }, "No mines.");
  return el("div", { class: "cards" }, mines.map((m) => el("a", { class: "card", href: `#view=mine&mine=${encodeURIComponent(m.id)}` },
    el("h3", {}, m.name ? `${m.name} (${m.id})` : m.id),
    el("div", {}, `status ${m.status}`, m.registered === false ? " · unregistered" : ""),
    el("div", {}, `${m.underground} underground · ${m.points_reporting}/${m.points} points reporting`),
    el("div", { class: m.active_alerts ? "high" : "muted" }, `${m.active_alerts} active alerts`))));
}

function renderMine(m) {
  keepMineDetail(m);
  const area = (id) => areaLabel(m.id, id);
  const limits = (p, v) => (v == null ? "–" : withUnit(v, p.unit));
  const head = el("div", { class: "mine-head" },
    el("h2", {}, m.name ? `${m.name} (${m.id})` : m.id),
    el("span", { class: m.status === "producing" ? "" : "high" }, `status ${m.status}`),
    el("span", { class: "stat" }, el("b", { class: m.underground > m.max_underground ? "over" : "" }, String(m.underground)),
      ` underground of ${m.max_underground} · ${m.leaders_underground} leaders`),
    el("span", { class: "muted" }, `mine clock ${fmtTime(m.clock, m.id) || "–"}`),
    el("a", { href: `#view=alerts&mine=${encodeURIComponent(m.id)}` }, "alerts of this mine"));
  const alerts = (m.active_alerts || []).slice().sort(byUrgency);
  const alertsPanel = panel(`Active alerts · ${alerts.length}`, alerts.length
    ? table(["", "kind", "subject", "message"], alerts.map((a) => el("tr", { class: `sev-${a.severity}`, onclick: () => writeHash({ alert: a.id }), style: "cursor:pointer" },
      el("td", {}, sevBadge(a.severity)), el("td", { title: kindTitle(a.kind) || null }, kindLabel(a.kind)), el("td", {}, a.subject),
      el("td", {}, a.message, isSilenced(a) ? el("span", { class: "badge silenced" }, "silenced") : null))))
    : el("p", { class: "muted" }, "None."));
  const people = panel("People per area", table(["area", "kind", "people", "quota"], (m.areas || []).map((a) =>
    el("tr", {}, el("td", {}, area(a.id)), el("td", {}, a.kind),
      el("td", { class: `num ${a.quota != null && a.people > a.quota ? "over" : ""}` }, a.people),
      el("td", { class: "num" }, a.quota ?? "")))));
  const points = m.points || [];
  const ch4 = points.filter((p) => p.kind === "ch4");
  const methane = panel("Methane (CH4) · last hour", table(["point", "area", "now", "alarm / power-off", "last hour", "status"],
    ch4.map((p) => {
      const lim = p.limits || {};
      const alarm = typeof lim.alarm === "number" ? lim.alarm : null;
      const cls = p.value == null ? "" : (typeof lim.power_off === "number" && p.value >= lim.power_off ? "over" : (alarm != null && p.value >= alarm ? "high" : ""));
      return el("tr", { "data-point": p.id }, el("td", {}, p.id), el("td", {}, area(p.area)),
        el("td", { class: `num ${cls}`, title: fmtTime(p.ts, m.id) }, p.value == null ? "–" : withUnit(p.value, p.unit)),
        el("td", { class: "num" }, [alarm, lim.power_off].map((v) => limits(p, v)).join(" / ")),
        el("td", {}, sparkline(p.history, alarm)), el("td", { class: p.status ? "high" : "" }, statusText(p)));
    })));
  const others = points.filter((p) => p.kind !== "ch4");
  const otherPanel = panel("Other points", table(["point", "kind", "area", "value", "status", "at"], others.map((p) =>
    el("tr", { "data-point": p.id }, el("td", {}, p.id), el("td", {}, p.kind), el("td", {}, area(p.area)),
      el("td", { class: "num" }, p.value == null ? "–" : withUnit(p.value, p.unit)), el("td", { class: p.status ? "high" : "" }, statusText(p)),
      el("td", { class: "time" }, fmtTime(p.ts, m.id))))));
  const cameras = panel("Cameras", table(["camera", "area", "watches", "state", "events"], (m.cameras || []).map((c) =>
    el("tr", {}, el("td", {}, c.id), el("td", {}, area(c.area)), el("td", {}, c.watches),
      el("td", { class: c.state == null ? "muted" : (c.state === "ok" ? "state-ok" : "state-bad") }, c.state ?? "no data"),
      el("td", {}, (c.events || []).join(", "))))));
  const meters = panel("Meters", table(["meter", "area", "load", "kW", "idle at"], (m.meters || []).map((x) =>
    el("tr", {}, el("td", {}, x.id), el("td", {}, area(x.area)), el("td", {}, x.load),
      el("td", { class: `num ${x.kw != null && x.kw > x.idle_kw ? "" : "muted"}` }, x.kw == null ? "–" : withUnit(x.kw, "kW")),
      el("td", { class: "num" }, withUnit(x.idle_kw, "kW"))))));
  const unreg = (m.unregistered || []).length
    ? panel("Unregistered devices", table(["id", "device"], m.unregistered.map((u) => el("tr", {}, el("td", {}, u.id), el("td", {}, u.device)))))
    : null;
  return [head, el("div", { class: "grid2" }, alertsPanel, methane, people, cameras, meters, otherPanel, unreg)];
}

async function refreshMine() {
  clearTimeout(mineTimer);
  if (hashState.view !== "mine") return;
  const mySeq = ++mineSeq;
  const id = hashState.mine;
  let content;
  try {
    if (id) content = renderMine(await api("GET", `/api/mines/${encodeURIComponent(id)}`));
    else content = [renderMineList((await api("GET", "/api/mines")).mines || [])];
  } catch (e) {
    content = [el("p", { class: "error" }, `Could not load ${id ? "mine " + id : "the mines"}: ${e.message}`)];
  }
  if (mySeq !== mineSeq || hashState.view !== "mine") return;
  $("mine-body").replaceChildren(...content.filter(Boolean));
  mineTimer = setTimeout(refreshMine, MINES_EVERY_MS);
}

async function loadMineNames() {
  try {
    const data = await api("GET", "/api/mines");
    for (const m of data.mines || []) mineInfo.set(m.id, { name: m.name, utc_offset: m.utc_offset });
    $("mine-list").replaceChildren(...(data.mines || []).map((m) => el("option", { value: m.id }, m.name || m.id)));
    scheduleRender();
    notice("");
  } catch (e) {
    if (e.status === 401) notice(`The server needs a token: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The silences view.

function renderSilences() {
  const body = $("silences-body");
  if (!silencesOn) { body.replaceChildren(el("p", { class: "muted" }, "This server has no silences.")); return; }
  const rows = silences.map((s) => el("tr", { "data-id": s.id },
    el("td", {}, mineLabel(s.mine)), el("td", {}, s.kind ? kindLabel(s.kind) : "any kind"), el("td", {}, s.subject ?? "any subject"),
    el("td", { class: "time" }, fmtTime(s.starts_at, s.mine)), el("td", { class: "time" }, fmtTime(s.ends_at, s.mine)),
    el("td", {}, s.reason), el("td", {}, s.by),
    el("td", {}, el("button", { type: "button", onclick: async (e) => {
      e.target.disabled = true;
      try { await api("DELETE", `/api/silences/${encodeURIComponent(s.id)}`); await refreshSilences(); }
      catch (err) { e.target.disabled = false; notice(`Could not end the silence: ${err.message}`); }
    } }, "End now"))));
  body.replaceChildren(el("h2", {}, `Active silences · ${silences.length}`),
    rows.length ? table(["mine", "kind", "subject", "from", "until", "reason", "by", ""], rows)
      : el("p", { class: "muted" }, "None. Silence an alert from its detail."));
}

// ---------------------------------------------------------------------------------------------
// Wiring.

function init() {
  $("token").value = token;
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    writeHash({ mine: $("f-mine").value.trim(), kind: $("f-kind").value, severity: $("f-severity").value, state: $("f-state").value });
  });
  for (const id of ["f-kind", "f-severity", "f-state"]) $(id).addEventListener("change", () => $("filters").requestSubmit());
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    if (token) sessionStorage.setItem("minewatch.token", token); else sessionStorage.removeItem("minewatch.token");
    $("settings").open = false;
    restartStream(); loadMineNames(); if (!kinds) loadKinds(); refreshSilences(); refreshResolved(); refreshMine();
  });
  $("detail-close").addEventListener("click", () => writeHash({ alert: "" }));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && detailId) writeHash({ alert: "" }); });
  $("sound").addEventListener("click", () => {
    if (!muted && audio && audio.state === "running") muted = true;
    else if (muted) muted = false;
    localStorage.setItem("minewatch.muted", muted ? "1" : "0");
    unlockAudio(); soundUi();
  });
  // The first gesture anywhere unlocks audio (browsers refuse it before one).
  for (const ev of ["pointerdown", "keydown"]) document.addEventListener(ev, unlockAudio, { capture: true });
  window.addEventListener("hashchange", applyHash);
  soundUi();
  readHash();
  connect();
  applyHash();
  loadMineNames();
  loadKinds();
  refreshSilences();
  setInterval(refreshSilences, SILENCES_EVERY_MS);
  setInterval(scheduleRender, 15000);  // durations and greyed rows age
  refreshFloods();
  setInterval(refreshFloods, FLOODS_EVERY_MS);
  setInterval(loadMineNames, 60000);  // names and offsets of mines that appear later
  refreshLive();
}

init();
