// minewatch dashboard: the alarm KPI view (issue 13, point 5), from GET /api/kpis?mine=&since=
// (EEMUA 191 / ISA-18.2 clause 16): per mine, alerts per hour and per 10 minutes, the peak
// 10-minute rate, % of time in flood, the top 10 "bad actors", chattering and stale alerts, and
// acknowledgement times (median, p90) by severity. Refreshed every minute while shown.
"use strict";

const KPI_EVERY_MS = 60000;
const KPI_WINDOWS = [["1h", 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3]];
let kpiTimer = null, kpiSeq = 0, kpiWindow = "24h";

// A dedup key "mine/kind/subject" in words: "<kind label> · <subject>".
function keyLabel(key) {
  const parts = String(key).split("/");
  return parts.length >= 3 ? `${kindLabel(parts[1])} · ${parts.slice(2).join("/")}` : String(key);
}

function fmtSeconds(s) { return s == null ? "–" : fmtDuration(s * 1000); }

function kpiMine(m) {
  const id = m.mine;
  const rates = table(["alerts", "per hour", "per 10 min", "peak in 10 min", "time in flood"], [el("tr", {},
    el("td", { class: "num" }, m.activations), el("td", { class: "num" }, fmtNum(m.per_hour)),
    el("td", { class: "num" }, fmtNum(m.per_10min)),
    el("td", { class: "num" }, m.peak_10min ? `${m.peak_10min.count} at ${fmtTime(m.peak_10min.at, id)}` : "–"),
    el("td", { class: "num" }, m.flood_percent != null ? `${fmtNum(m.flood_percent)} % (${fmtSeconds(m.flood_seconds)})` : "–"))]);
  const bad = table(["most frequent", "activations"], (m.bad_actors || []).map((b) =>
    el("tr", {}, el("td", {}, keyLabel(b.key)), el("td", { class: "num" }, b.count))));
  const chat = m.chattering || { count: 0, items: [] };
  const chatter = table(["chattering", "activations", "most in 10 min"], (chat.items || []).map((c) =>
    el("tr", {}, el("td", {}, keyLabel(c.key)), el("td", { class: "num" }, c.activations), el("td", { class: "num" }, c.max_10min))));
  const st = m.stale || { count: 0, items: [] };
  const stale = table(["active over 24 h", "severity", "since"], (st.items || []).map((x) =>
    el("tr", {}, el("td", {}, keyLabel(x.key)), el("td", {}, sevBadge(x.severity)),
      el("td", { class: "time" }, `${fmtTime(x.started_at, id)} · ${forDuration(x.started_at)}`))));
  const acks = table(["acknowledged", "count", "median", "p90"], (m.ack_seconds || []).map((x) =>
    el("tr", {}, el("td", {}, sevBadge(x.severity)), el("td", { class: "num" }, x.count),
      el("td", { class: "num" }, fmtSeconds(x.median)), el("td", { class: "num" }, fmtSeconds(x.p90)))));
  return el("section", { class: "kpi", "data-mine": id },
    el("h2", {}, id ? mineLabel(id) : "All mines"),
    el("div", { class: "grid2" },
      panel("Rates", rates), panel(`Bad actors · top ${(m.bad_actors || []).length}`, bad),
      panel(`Chattering · ${chat.count}`, chatter), panel(`Stale · ${st.count}`, stale),
      panel("Acknowledgement times", acks)));
}

async function refreshKpis() {
  clearTimeout(kpiTimer);
  if (hashState.view !== "kpis") return;
  const mySeq = ++kpiSeq;
  const span = (KPI_WINDOWS.find(([n]) => n === kpiWindow) || KPI_WINDOWS[1])[1];
  const q = new URLSearchParams({ since: new Date(Date.now() - span).toISOString() });
  if (hashState.mine) q.set("mine", hashState.mine);
  const pick = el("select", { id: "kpi-window", onchange: (e) => { kpiWindow = e.target.value; refreshKpis(); } },
    KPI_WINDOWS.map(([n]) => el("option", { value: n, selected: n === kpiWindow }, `last ${n}`)));
  let content;
  try {
    const data = await api("GET", `/api/kpis?${q}`);
    const mines = (data && data.mines) || [];
    content = [
      el("p", { class: "muted" }, `From ${fmtTime(data.covered_since || data.since, hashState.mine)} to ${fmtTime(data.until, hashState.mine)}`,
        data.capped ? " (capped: the window holds more events than were read)" : "",
        ". Targets (EEMUA 191): about 6 alerts per hour per operator, no more than 10 in 10 minutes, under 1 % of time in flood."),
      mines.length > 1 && data.total ? kpiMine({ ...data.total, mine: "" }) : null,
      ...mines.map(kpiMine),
      mines.length ? null : el("p", { class: "empty" }, "No alerts in this window."),
    ];
  } catch (e) {
    content = [el("p", { class: "error" }, `Could not load the KPIs: ${e.message}`)];
  }
  if (mySeq !== kpiSeq || hashState.view !== "kpis") return;
  $("kpis-body").replaceChildren(el("div", { class: "filters" }, el("label", {}, "Window ", pick),
    hashState.mine ? `mine ${mineLabel(hashState.mine)}` : "every mine"), ...content.filter(Boolean));
  kpiTimer = setTimeout(refreshKpis, KPI_EVERY_MS);
}
