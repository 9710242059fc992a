/* Claude Code (/claude-code): activity and cost key figures, a metric over time, tool accept
 * rates and the sortable users table, for a range kept in the address. */

import { api, clearPageError, getMeta, showPageError } from "../api.js";
import {
  ACCENT,
  baseLayout,
  chartEmpty,
  chartLoading,
  drawChart,
  PALETTE,
  timeAxis,
  valueAxis,
} from "../charts.js";
import {
  dateValue,
  fillAutoDate,
  fillConnectionSelect,
  rangeStateFromUrl,
  setDateInput,
  writeUrl,
} from "../controls.js";
import { $, el, ensureOption, setKpi, setReady } from "../dom.js";
import { addDays, daysBetween, fmtCount, fmtDate, fmtInt, fmtMoney, fmtPct, metricExact } from "../format.js";
import { countCell, setTableBody, sortableTable, valueCell } from "../tables.js";

const CC_METRICS = {
  active_users: { label: "Active users", unit: "count" },
  sessions: { label: "Sessions", unit: "count" },
  lines: { label: "Lines", unit: "count" },
  commits: { label: "Commits", unit: "count" },
  pull_requests: { label: "Pull requests", unit: "count" },
  cost: { label: "Cost", unit: "usd" },
};

const cc = { data: null, seq: 0, sortApply: null };

export async function pageClaudeCode() {
  setReady(false);
  let meta;
  try {
    meta = await getMeta();
  } catch (err) {
    showPageError(err);
    return;
  }
  $("#cc-granularity").replaceChildren(...meta.granularities.map((g) => el("option", { value: g }, g[0].toUpperCase() + g.slice(1))));
  fillConnectionSelect($("#cc-connection"), meta, null);
  const apply = (st) => {
    setDateInput($("#cc-since"), st.since);
    setDateInput($("#cc-until"), st.until);
    ensureOption($("#cc-granularity"), st.granularity);
    $("#cc-granularity").value = st.granularity;
    ensureOption($("#cc-connection"), st.connection);
    $("#cc-connection").value = st.connection;
    ensureOption($("#cc-metric"), st.metric);
    $("#cc-metric").value = st.metric;
  };
  const read = () => ({
    since: dateValue($("#cc-since")),
    until: dateValue($("#cc-until")),
    granularity: $("#cc-granularity").value,
    connection: $("#cc-connection").value,
    metric: $("#cc-metric").value,
  });
  let st = rangeStateFromUrl({ granularity: "day", metric: "active_users" });
  apply(st);
  for (const id of ["#cc-since", "#cc-until", "#cc-granularity", "#cc-connection"]) {
    $(id).addEventListener("change", () => {
      st = read();
      writeUrl(st);
      loadClaudeCode(st);
    });
  }
  $("#cc-metric").addEventListener("change", async () => {
    st = read();
    writeUrl(st, false);
    if (!cc.data) return;
    setReady(false);
    try {
      await renderCcChart(cc.data, st.metric);
      setReady(true);
    } catch (err) {
      showPageError(err);
    }
  });
  window.addEventListener("popstate", () => {
    st = rangeStateFromUrl({ granularity: "day", metric: "active_users" });
    apply(st);
    loadClaudeCode(st);
  });
  cc.sortApply = sortableTable($("#cc-users-table"), () => (cc.data ? cc.data.users || [] : []), renderCcUsers);
  loadClaudeCode(st);
}

async function loadClaudeCode(st) {
  const seq = ++cc.seq;
  setReady(false);
  chartLoading($("#cc-chart"));
  chartLoading($("#cc-tools-chart"));
  const params = new URLSearchParams();
  for (const k of ["since", "until", "granularity", "connection"]) if (st[k]) params.set(k, st[k]);
  try {
    const data = await api("/api/v1/claude-code", { params });
    if (seq !== cc.seq) return;
    clearPageError();
    cc.data = data;
    fillAutoDate($("#cc-since"), data.since);
    fillAutoDate($("#cc-until"), data.until);
    $("#page-sub").textContent = `${fmtDate(data.since)} – ${fmtDate(addDays(data.until, -1))}`;
    renderCcKpis(data);
    await renderCcChart(data, st.metric);
    await renderCcTools(data);
    cc.sortApply();
    if (seq === cc.seq) setReady(true);
  } catch (err) {
    if (seq === cc.seq) showPageError(err);
  }
}

function renderCcKpis(data) {
  const t = data.totals || {};
  const days = data.since && data.until ? daysBetween(data.since, data.until) : null;
  const rangeSub = days ? `over ${days} day${days === 1 ? "" : "s"}` : "";
  setKpi("cc-active-users", fmtInt(t.active_users), { value: t.active_users ?? "", sub: rangeSub });
  const perUser = (v) => (t.active_users ? `${(Number(v) / t.active_users).toFixed(1)} per active user` : "");
  setKpi("cc-sessions", fmtCount(t.sessions), { title: fmtInt(t.sessions), value: t.sessions ?? "", sub: perUser(t.sessions) });
  const lines = $("#cc-lines");
  lines.replaceChildren(`+${fmtCount(t.lines_added)}`, el("span", { class: "kpi-secondary" }, ` / −${fmtCount(t.lines_removed)}`));
  lines.title = `+${fmtInt(t.lines_added)} added / −${fmtInt(t.lines_removed)} removed`;
  $("#cc-lines-sub").textContent = t.lines_added || t.lines_removed ? `net ${fmtCount(Number(t.lines_added || 0) - Number(t.lines_removed || 0))} lines` : "";
  setKpi("cc-commits", fmtCount(t.commits), { title: fmtInt(t.commits), value: t.commits ?? "", sub: perUser(t.commits) });
  setKpi("cc-prs", fmtCount(t.pull_requests), { title: fmtInt(t.pull_requests), value: t.pull_requests ?? "", sub: perUser(t.pull_requests) });
  const acc = (data.tools || []).reduce((a, x) => [a[0] + Number(x.accepted || 0), a[1] + Number(x.rejected || 0)], [0, 0]);
  setKpi("cc-accept-rate", fmtPct(t.accept_rate), { value: t.accept_rate ?? "", sub: acc[0] + acc[1] ? `${fmtCount(acc[0])} of ${fmtCount(acc[0] + acc[1])} tool uses` : "" });
  setKpi("cc-cost-per-user", fmtMoney(t.cost_per_active_user), {
    title: metricExact(t.cost_per_active_user, "usd"),
    value: t.cost_per_active_user ?? "",
    sub: t.cost !== undefined ? `total ${fmtMoney(t.cost)}` : "",
  });
}

async function renderCcChart(data, metric) {
  const box = $("#cc-chart");
  const series = data.series || [];
  if (!series.length) {
    chartEmpty(box, "No Claude Code activity in this range.");
    return;
  }
  const x = series.map((s) => s.period);
  const m = CC_METRICS[metric] || CC_METRICS.active_users;
  let traces;
  if (metric === "lines") {
    traces = [
      { type: "bar", name: "Lines added", x, y: series.map((s) => Number(s.lines_added || 0)), marker: { color: "#59a14f" }, customdata: series.map((s) => fmtInt(s.lines_added)), hovertemplate: "+%{customdata}<extra>added</extra>" },
      { type: "bar", name: "Lines removed", x, y: series.map((s) => -Number(s.lines_removed || 0)), marker: { color: "#e15759" }, customdata: series.map((s) => fmtInt(s.lines_removed)), hovertemplate: "−%{customdata}<extra>removed</extra>" },
    ];
  } else {
    const key = metric in CC_METRICS ? metric : "active_users";
    traces = [
      {
        type: "scatter", mode: "lines+markers", name: m.label, x, y: series.map((s) => Number(s[key] || 0)),
        customdata: series.map((s) => (m.unit === "usd" ? fmtMoney(s[key]) : fmtInt(s[key]))),
        line: { color: ACCENT, width: 2 }, marker: { size: 4, color: ACCENT }, fill: "tozeroy", fillcolor: "rgba(59, 91, 219, 0.10)",
        hovertemplate: "%{customdata}<extra>" + m.label + "</extra>",
      },
    ];
  }
  const layout = baseLayout({
    xaxis: timeAxis(data.granularity),
    yaxis: valueAxis(m.unit),
    barmode: "relative",
    hovermode: "x unified",
    showlegend: metric === "lines",
    legend: { orientation: "h", x: 0, y: 1.08 },
  });
  await drawChart(box, traces, layout);
}

async function renderCcTools(data) {
  const box = $("#cc-tools-chart");
  const tools = (data.tools || []).slice().sort((a, b) => Number(b.accepted || 0) + Number(b.rejected || 0) - (Number(a.accepted || 0) + Number(a.rejected || 0)));
  if (!tools.length) {
    chartEmpty(box, "No tool decisions in this range.");
    return;
  }
  const names = tools.map((t) => t.tool);
  const rate = (t) => (t.accept_rate === null || t.accept_rate === undefined ? 0 : Number(t.accept_rate));
  const traces = [
    {
      type: "bar", orientation: "h", name: "Accepted", y: names, x: tools.map(rate),
      marker: { color: tools.map((_, i) => PALETTE[i % PALETTE.length]) },
      text: tools.map((t) => `${fmtPct(t.accept_rate)}  (${fmtInt(t.accepted)} accepted, ${fmtInt(t.rejected)} rejected)`),
      textposition: "auto", insidetextanchor: "start", cliponaxis: false,
      hovertemplate: "%{y}: %{text}<extra></extra>",
    },
  ];
  box.style.height = Math.max(140, 34 * tools.length + 50) + "px";
  const layout = baseLayout({
    xaxis: { range: [0, 1], tickformat: ".0%", type: "linear" },
    yaxis: { type: "category", autorange: "reversed", rangemode: "normal" },
    margin: { l: 110, t: 6, b: 30 },
    bargap: 0.3,
  });
  await drawChart(box, traces, layout);
}

function renderCcUsers(users) {
  const table = $("#cc-users-table");
  setTableBody(
    table,
    users.map((u) =>
      el(
        "tr",
        { dataset: { user: u.user ?? "" } },
        el("td", { class: "cell-label", title: u.user || "" }, u.user || "(unknown)"),
        el("td", {}, u.actor_type || ""),
        el("td", { class: "num" }, fmtInt(u.active_days)),
        countCell(u.sessions),
        countCell(u.lines_added),
        countCell(u.lines_removed),
        countCell(u.commits),
        countCell(u.pull_requests),
        el("td", { class: "num", dataset: { value: u.accept_rate ?? "" } }, fmtPct(u.accept_rate)),
        valueCell(u.cost, "usd"),
      ),
    ),
    "No Claude Code users in this range.",
  );
}
