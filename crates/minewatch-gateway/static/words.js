// minewatch dashboard: words, units and time (issue 13, point 4). Loaded before app.js.
//
// - Times: one format everywhere, `2026-12-07 16:05:12 +08:00`, in the mine's own `utc_offset`
//   (from GET /api/mines; +08:00 until it is known), never the browser's locale or bare UTC.
//   Durations read "for 3 min".
// - Mines and areas: names beside ids, from GET /api/mines and the mine details.
// - Kinds: the server's `label` (GET /api/kinds), never snake_case.
// - Units: a point's `unit` and `status_words` from GET /api/mines/{id}.
"use strict";

const DEFAULT_OFFSET = "+08:00";
const mineInfo = new Map();    // mine id -> {name, utc_offset}, from GET /api/mines
const mineDetail = new Map();  // mine id -> {points: Map id -> point, areas: Map id -> name}

function offsetMinutes(off) {
  const m = /^([+-])(\d\d):(\d\d)$/.exec(off || "");
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 480;
}

function mineOffset(mine) {
  const info = mine ? mineInfo.get(mine) : null;
  return (info && info.utc_offset) || DEFAULT_OFFSET;
}

const pad2 = (n) => String(n).padStart(2, "0");

// `2026-12-07 16:05:12 +08:00`: the time `s` (RFC 3339) in the offset of `mine`.
function fmtTime(s, mine) {
  if (!s) return "";
  const t = Date.parse(s);
  if (isNaN(t)) return String(s);
  const off = mineOffset(mine);
  const d = new Date(t + offsetMinutes(off) * 60000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} `
    + `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${off}`;
}

// "12 s", "3 min", "2 h 5 min", "3 d 4 h".
function fmtDuration(ms) {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor(sec % 3600 / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.floor(sec % 86400 / 3600)} h`;
}

// "for 3 min" from `from` to `to` (RFC 3339; `to` absent: now).
function forDuration(from, to) {
  const a = Date.parse(from), b = to ? Date.parse(to) : Date.now();
  return isNaN(a) || isNaN(b) ? "" : `for ${fmtDuration(b - a)}`;
}

function fmtNum(v) {
  if (v == null) return "";
  return typeof v === "number" ? String(Math.round(v * 1000) / 1000) : String(v);
}

// A value with its unit ("1.62 %", "24 ppm"); "" for no value.
function withUnit(v, unit) {
  if (v == null) return "";
  return unit ? `${fmtNum(v)} ${unit}` : fmtNum(v);
}

// "Test Colliery (M1)", or the id alone when the mine has no name.
function mineLabel(id) {
  const info = mineInfo.get(id);
  return info && info.name ? `${info.name} (${id})` : String(id ?? "");
}

// "A1 1201 coal face", or the id alone while the mine's detail is not loaded.
function areaLabel(mine, id) {
  if (!id) return "";
  const d = mineDetail.get(mine);
  const name = d && d.areas.get(id);
  return name ? `${id} ${name}` : id;
}

// The live point behind an alert's subject, when the subject is a point of a loaded mine.
function livePoint(a) {
  const d = mineDetail.get(a.mine);
  return d ? d.points.get(a.subject) || null : null;
}

// The unit of an alert's value: its point's unit ("" when the subject is not a point).
function unitOf(a) {
  const p = livePoint(a);
  return p && p.unit ? p.unit : "";
}

function fmtValue(a) {
  if (a.value == null) return "";
  const u = unitOf(a);
  return a.limit == null ? withUnit(a.value, u) : `${withUnit(a.value, u)} / limit ${withUnit(a.limit, u)}`;
}

// A point's status in words ("calibration, sensor fault"); the server gives them.
function statusText(p) {
  if (Array.isArray(p.status_words) && p.status_words.length) return p.status_words.join(", ");
  return p.status ? `status ${p.status}` : "normal";
}

// Keeps a mine's detail (GET /api/mines/{id}) for names, units and live values.
function keepMineDetail(m) {
  if (!m || !m.id) return;
  mineDetail.set(m.id, {
    points: new Map((m.points || []).map((p) => [p.id, p])),
    areas: new Map((m.areas || []).map((a) => [a.id, a.name])),
  });
  if (m.utc_offset || m.name) mineInfo.set(m.id, { name: m.name, utc_offset: m.utc_offset });
}

// The ISA-18.2 state of an alert in words.
const ALARM_WORDS = {
  active_unacked: "active, not acknowledged", active_acked: "active, acknowledged",
  cleared_unacked: "cleared, not acknowledged", closed: "closed",
};

function alarmState(a) {
  if (a.alarm_state) return a.alarm_state;
  if (a.state === "active") return a.ack ? "active_acked" : "active_unacked";
  return "closed";
}

// Whether the operator still has to see it: active, or cleared and waiting for an ack.
function isOpen(a) { return alarmState(a) !== "closed"; }

// RFC 3339 strings in evidence are shown in the page's one format.
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
function isTimeText(v) { return typeof v === "string" && RFC3339.test(v); }
