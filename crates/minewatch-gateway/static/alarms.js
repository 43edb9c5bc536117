// minewatch dashboard: the alert list as a control room needs it (issue 13, points 1-3).
// Loaded after words.js, before app.js; uses app.js's state (active, recent, hashState…) only
// when called.
//
// - States (ISA-18.2): an alert that clears unacknowledged stays listed, marked "cleared, not
//   acknowledged", until it is acknowledged (then it is closed and leaves the list).
// - Re-activation: one row per alert id, with its count (×38) and a "chattering" badge.
// - Shelved alerts are listed apart, at the bottom, with their until-time and reason.
// - One point, one picture: the alerts of one subject form one group, with the point's live
//   value (GET /api/mines/{id}, polled for the mines on screen) beside the value at raise.
// - Floods (GET /api/floods, polled): a banner per flooding mine (one for all of them when more
//   than FLOOD_BANNERS_MAX mines flood at once), and each such mine's alerts
//   collapsed into one row per kind and severity, expandable. A mine with more than
//   GROUP_ABOVE alerts is collapsed the same way, and at most MAX_ROWS rows are drawn at all:
//   30,000 alerts never become 30,000 rows.
"use strict";

const MAX_ROWS = 400;          // alert rows drawn at most
const GROUP_ABOVE = 50;        // a mine with more alerts than this is shown grouped
const EXPAND_MAX = 100;        // rows drawn for one expanded group
const FLOODS_EVERY_MS = 5000, LIVE_EVERY_MS = 5000, LIVE_MINES_MAX = 8;
const FLOOD_BANNERS_MAX = 3;   // more mines in a flood than this share one banner
const FLOOD_NAMED = 5;         // mines named in that banner
const SHELVE_FOR = ["15m", "30m", "1h", "2h", "4h", "8h"];

let floods = new Map();        // mine -> {since, count, peak}, from GET /api/floods
let floodsOn = true;           // false once the server answers 404
const expanded = new Set();    // "mine|kind|severity" groups the operator opened

async function refreshFloods() {
  if (!floodsOn) return;
  try {
    const data = await api("GET", "/api/floods");
    floods = new Map(Object.entries((data && data.floods) || {}));
  } catch (e) {
    if (e.status === 404) { floodsOn = false; floods = new Map(); }
  }
  scheduleRender();
}

function renderFloods() {
  const box = $("floods");
  const mines = [...floods.keys()].filter((m) => !hashState.mine || m === hashState.mine).sort();
  if (mines.length > FLOOD_BANNERS_MAX) {
    // A storm across mines (a substation trips): one banner, not one per mine.
    const total = mines.reduce((n, m) => n + (floods.get(m).count || 0), 0);
    const named = mines.slice(0, FLOOD_NAMED).map((m) => mineLabel(m)).join(", ");
    box.replaceChildren(el("div", { class: "flood", role: "alert", "data-mines": String(mines.length) },
      el("b", {}, `Alarm flood at ${mines.length} mines`),
      `: ${total} new alerts (${named}${mines.length > FLOOD_NAMED ? ", …" : ""}).`,
      " Their alerts are grouped by mine and kind below; filter by mine to see one."));
  } else {
    box.replaceChildren(...mines.map((m) => {
      const f = floods.get(m);
      return el("div", { class: "flood", role: "alert", "data-mine": m },
        el("b", {}, `Alarm flood at ${mineLabel(m)}`),
        `: ${f.count} new alerts since ${fmtTime(f.since, m)}`,
        f.peak != null ? ` (peak ${f.peak} in 10 min)` : "",
        ". Its alerts are grouped by kind below.");
    }));
  }
  box.hidden = mines.length === 0;
}

// Live values: the details of the mines whose point groups are on screen, a few per round.
let liveMines = [];
async function refreshLive() {
  for (const m of liveMines.slice(0, LIVE_MINES_MAX)) {
    try { keepMineDetail(await api("GET", `/api/mines/${encodeURIComponent(m)}`)); } catch (_) { /* next round */ }
  }
  if (liveMines.length) scheduleRender();
  setTimeout(refreshLive, LIVE_EVERY_MS);
}

function matches(a) {
  return (!hashState.mine || a.mine === hashState.mine)
    && (!hashState.kind || a.kind === hashState.kind)
    && (!hashState.severity || RANK[a.severity] >= RANK[hashState.severity])
    && (hashState.state === "all" || (hashState.state === "active" ? isOpen(a) : a.state === hashState.state));
}

function byUrgency(x, y) {
  return (RANK[y.severity] - RANK[x.severity])
    || ((x.state === "resolved") - (y.state === "resolved"))
    || ((!!x.ack) - (!!y.ack))
    || String(y.started_at).localeCompare(String(x.started_at));
}

function shownAlerts() {
  if (hashState.state === "active") {
    const now = Date.now();
    for (const [id, r] of recent) if (r.until < now || active.has(id)) recent.delete(id);
    const list = [...active.values()].filter(matches);
    const greyed = [...recent.values()].map((r) => r.alert)
      .filter((a) => matches({ ...a, state: "active", alarm_state: "active_acked" }));
    return { list: list.sort(byUrgency), greyed };
  }
  return { list: (restList || []).filter(matches).sort(byUrgency), greyed: [] };
}

function renderCounts() {
  // Open, unshelved alerts per severity under the mine and kind filters (not the severity one).
  const n = { critical: 0, major: 0, warning: 0, info: 0 };
  for (const a of active.values()) {
    if (!a.shelved && (!hashState.mine || a.mine === hashState.mine) && (!hashState.kind || a.kind === hashState.kind)
        && n[a.severity] !== undefined) n[a.severity] += 1;
  }
  $("counts").replaceChildren(...SEVERITIES.map((s) => el("span", {
    class: `count ${s}${n[s] ? " some" : ""}`, "data-severity": s,
    title: `Show ${s === "critical" ? "critical" : s + " and above"}`,
    onclick: () => writeHash({ view: "alerts", severity: s === "info" ? "" : s, state: "active" }),
  }, el("b", {}, String(n[s])), s)));
  document.title = n.critical ? `(${n.critical} critical) minewatch` : "minewatch";
}

function timeCell(a, greyed) {
  const open = a.state === "active" && !greyed;
  return el("td", { class: "time" }, fmtTime(a.started_at, a.mine),
    el("div", { class: "for" }, open ? forDuration(a.started_at) : forDuration(a.started_at, a.resolved_at)));
}

function stateText(a, greyed) {
  if (greyed) return `cleared ${fmtTime(a.resolved_at, a.mine)}`;
  if (a.shelved) return `shelved until ${fmtTime(a.shelved.until, a.mine)}`;
  return ALARM_WORDS[alarmState(a)] || a.state;
}

function alertRow(a, greyed) {
  const silenced = isSilenced(a), st = alarmState(a), open = isOpen(a) && !greyed;
  const cls = [`sev-${a.severity}`, `alarm-${st}`];
  if (greyed || st === "closed") cls.push("resolved");
  if (st === "cleared_unacked") cls.push("cleared");
  if (!a.ack && a.state === "active") cls.push("unacked");
  if (silenced) cls.push("silenced");
  const actions = el("td", { class: "actions" });
  if (open && !a.ack) {
    actions.appendChild(el("button", { class: "ack", type: "button", title: "Acknowledge with a note",
      onclick: (e) => { e.stopPropagation(); writeHash({ alert: a.id }); } }, "Ack…"));
  }
  if (open && a.shelved) {
    actions.appendChild(el("button", { class: "unshelve", type: "button",
      onclick: (e) => { e.stopPropagation(); unshelve(a, e.target); } }, "Unshelve"));
  } else if (open) {
    actions.appendChild(el("button", { class: "shelve", type: "button", title: "Hide it for a while, with a reason",
      onclick: (e) => { e.stopPropagation(); pendingForm = "shelve-reason"; writeHash({ alert: a.id }); } }, "Shelve…"));
  }
  if (silencesOn && a.state === "active") {
    actions.appendChild(el("button", { class: "silence", type: "button",
      onclick: (e) => { e.stopPropagation(); pendingForm = "sil-reason"; writeHash({ alert: a.id }); } }, "Silence…"));
  }
  const badges = [];
  if ((a.count || 1) > 1) badges.push(el("span", { class: "badge count", title: `raised ${a.count} times` }, `×${a.count}`));
  if (a.chattering) badges.push(el("span", { class: "badge chattering" }, "chattering"));
  if (a.shelved) badges.push(el("span", { class: "badge shelved", title: `${a.shelved.by}: ${a.shelved.reason}` }, "shelved"));
  if (silenced) badges.push(el("span", { class: "badge silenced" }, "silenced"));
  if (a.ack) badges.push(el("span", { class: "badge acked", title: `${a.ack.by}: ${a.ack.note || ""}` }, `ack ${a.ack.by}`));
  const p = livePoint(a);
  return el("tr", { class: cls.join(" "), "data-id": a.id, "data-mine": a.mine, "data-subject": a.subject, "data-kind": a.kind,
    "data-alarm": st, "data-count": a.count || 1, onclick: () => writeHash({ alert: a.id }) },
    el("td", {}, sevBadge(a.severity)),
    el("td", {}, mineLabel(a.mine)),
    el("td", { title: kindTitle(a.kind) || null }, kindLabel(a.kind)),
    el("td", {}, a.subject, a.area ? el("div", { class: "muted" }, areaLabel(a.mine, a.area)) : null),
    el("td", { class: "message" }, a.message, badges),
    el("td", { class: "num" }, fmtValue(a)),
    el("td", { class: "num raised" }, withUnit(a.raised_value, unitOf(a))),
    el("td", { class: "num live", title: p ? statusText(p) : null }, p && p.value != null ? withUnit(p.value, p.unit) : ""),
    timeCell(a, greyed),
    el("td", { class: "state" }, stateText(a, greyed)),
    actions);
}

const HEAD = ["Severity", "Mine", "Kind", "Subject", "Message", "Value / limit", "At raise", "Now", "Started", "State", ""];

// A point's group: its alerts under one head row naming the point with its live value.
function subjectBody(items, budget) {
  const a = items[0], p = livePoint(a);
  const rows = [];
  if (items.length > 1) {
    rows.push(el("tr", { class: "subject-head" }, el("td", { colspan: HEAD.length },
      `${mineLabel(a.mine)} · ${a.subject}`, a.area ? ` · ${areaLabel(a.mine, a.area)}` : "",
      p && p.value != null ? ` · now ${withUnit(p.value, p.unit)} (${statusText(p)})` : "",
      ` · ${items.length} alerts`)));
  }
  for (const x of items.slice(0, budget)) rows.push(alertRow(x, false));
  return el("tbody", { class: "subject", "data-mine": a.mine, "data-subject": a.subject }, rows);
}

// A collapsed group: one row for a mine's alerts of one kind and severity, expandable.
function collapsedBody(mine, kind, sev, items) {
  const key = `${mine}|${kind}|${sev}`, open = expanded.has(key);
  const rows = [el("tr", { class: `collapsed-group sev-${sev}`, "data-mine": mine, "data-kind": kind,
    onclick: () => { if (open) expanded.delete(key); else expanded.add(key); scheduleRender(); } },
  el("td", {}, sevBadge(sev)), el("td", {}, mineLabel(mine)), el("td", { title: kindTitle(kind) || null }, kindLabel(kind)),
  el("td", { colspan: HEAD.length - 3 }, el("b", {}, `${items.length} alerts`),
    ` · ${items.filter((x) => !x.ack).length} not acknowledged · newest ${fmtTime(items[0].started_at, mine)} · `,
    el("button", { type: "button", class: "expand" }, open ? "Collapse" : "Show them")))];
  if (open) {
    for (const x of items.slice(0, EXPAND_MAX)) rows.push(alertRow(x, false));
    if (items.length > EXPAND_MAX) rows.push(el("tr", {}, el("td", { colspan: HEAD.length, class: "more" }, `${items.length - EXPAND_MAX} more: filter by kind to see them`)));
  }
  return el("tbody", { class: "collapsed", "data-mine": mine }, rows);
}

function renderAlerts() {
  renderCounts();
  renderFloods();
  if (hashState.view !== "alerts") return;
  const { list, greyed } = shownAlerts();
  const live = hashState.state === "active";
  const shelved = live ? list.filter((a) => a.shelved) : [];
  const shown = live ? list.filter((a) => !a.shelved) : list;
  const perMine = new Map();
  for (const a of shown) perMine.set(a.mine, (perMine.get(a.mine) || 0) + 1);
  const grouped = (m) => floods.has(m) || perMine.get(m) > GROUP_ABOVE;
  // Subject groups (mine/subject) and collapsed groups (mine|kind|severity), most urgent first.
  const subjects = new Map(), collapsed = new Map();
  for (const a of shown) {
    const map = grouped(a.mine) ? collapsed : subjects;
    const key = grouped(a.mine) ? `${a.mine}|${a.kind}|${a.severity}` : `${a.mine}/${a.subject}`;
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(a);
  }
  let budget = MAX_ROWS, left = 0;
  const wanted = new Set();
  const groups = [];
  for (const s of SEVERITIES) {
    const bodies = [];
    let n = 0;
    for (const [key, items] of collapsed) {
      if (items[0].severity !== s) continue;
      const [mine, kind] = key.split("|");
      bodies.push(collapsedBody(mine, kind, s, items));
      n += items.length;
    }
    for (const items of subjects.values()) {
      if (items[0].severity !== s) continue;  // a group sits with its most severe alert
      n += items.length;
      if (budget <= 0) { left += items.length; continue; }
      bodies.push(subjectBody(items, budget));
      budget -= items.length;
      wanted.add(items[0].mine);
    }
    const old = greyed.filter((a) => a.severity === s);
    if (old.length) bodies.push(el("tbody", { class: "greyed" }, old.slice(0, 50).map((a) => alertRow(a, true))));
    if (!bodies.length) continue;
    groups.push(el("section", { class: `group ${s}`, "data-severity": s },
      el("h2", {}, `${s} · ${n}`),
      el("table", { class: "alerts" }, el("thead", {}, el("tr", {}, HEAD.map((h) => el("th", {}, h)))), bodies)));
  }
  if (left) groups.push(el("p", { class: "more" }, `${left} more alerts not drawn: filter by mine, kind or severity.`));
  if (shelved.length) {
    groups.push(el("section", { class: "group shelved", "data-severity": "shelved" },
      el("h2", {}, `shelved · ${shelved.length}`),
      el("table", { class: "alerts" }, el("thead", {}, el("tr", {}, HEAD.map((h) => el("th", {}, h)))),
        el("tbody", {}, shelved.slice(0, EXPAND_MAX).map((a) => alertRow(a, false))))));
  }
  liveMines = [...wanted];
  $("groups").replaceChildren(...groups);
  $("empty").hidden = groups.length > 0;
  $("empty").textContent = lastSeq === null && hashState.state === "active" ? "Waiting for the server…" : "No alerts match.";
}

// ---------------------------------------------------------------------------------------------
// Shelving: POST /api/alerts/{id}/shelve {by, reason, for}; /unshelve {by}.

async function unshelve(a, button) {
  const by = localStorage.getItem("minewatch.by") || "";
  if (!by) { pendingForm = "shelve-by"; writeHash({ alert: a.id }); return; }
  if (button) button.disabled = true;
  try {
    const done = await api("POST", `/api/alerts/${encodeURIComponent(a.id)}/unshelve`, { by });
    if (done && done.id && active.has(done.id)) active.set(done.id, done);
    scheduleRender();
  } catch (err) {
    if (button) button.disabled = false;
    notice(`Could not unshelve: ${err.message}`);
  }
}

function shelveForm(a) {
  const duration = el("select", { id: "shelve-for" },
    SHELVE_FOR.map((d) => el("option", { value: d, selected: d === "1h" }, d)));
  const reason = el("input", { id: "shelve-reason", required: true, maxlength: 1024, placeholder: "Why (known fault, work order…)" });
  const by = el("input", { id: "shelve-by", required: true, maxlength: 128, value: localStorage.getItem("minewatch.by") || "" });
  const msg = el("div", { id: "shelve-result", role: "status" });
  const submit = el("button", { id: "shelve-submit", type: "submit" }, "Shelve");
  if (a.shelved) {
    return el("div", { id: "shelve-form" },
      el("p", {}, `Shelved by ${a.shelved.by} until ${fmtTime(a.shelved.until, a.mine)}: ${a.shelved.reason}`),
      el("button", { type: "button", onclick: (e) => { localStorage.setItem("minewatch.by", by.value.trim() || a.shelved.by); unshelve(a, e.target); } }, "Unshelve now"));
  }
  return el("form", { id: "shelve-form", class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    const body = { by: by.value.trim(), reason: reason.value.trim(), for: duration.value };
    if (!body.reason || !body.by) { msg.className = "error"; msg.textContent = "Give a reason and your name."; return; }
    localStorage.setItem("minewatch.by", body.by);
    submit.disabled = true;
    try {
      const done = await api("POST", `/api/alerts/${encodeURIComponent(a.id)}/shelve`, body);
      msg.className = "ok"; msg.textContent = "Shelved.";
      if (done && done.id && active.has(done.id)) active.set(done.id, done);
      scheduleRender();
    } catch (err) {
      msg.className = "error"; msg.textContent = `Shelve failed: ${err.message}`;
      submit.disabled = false;
    }
  } },
  el("p", { class: "muted" }, "Hides this one alert from the list and from notifications; it comes back by itself."),
  el("label", {}, "For", duration), el("label", {}, "Reason", reason), el("label", {}, "Your name", by),
  el("div", { class: "row" }, submit, msg));
}
