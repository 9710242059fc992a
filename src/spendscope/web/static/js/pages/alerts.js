/* Alerts (/alerts): notifications that never arrived (/api/v1/alerts/dead), the budget
 * thresholds firing or resolved this month (/api/v1/budgets), and the anomalies in daily spend
 * (/api/v1/anomalies): each with its expected value and band, its impact, its drivers, its state,
 * a chart of its last weeks (/api/v1/anomalies/{id}) and feedback buttons. A server without
 * anomaly detection says so instead. `?state=` picks the anomalies shown. */

import { api, clearPageError, dimensionLabel, getMeta, showPageError } from "../api.js";
import { ACCENT, FORECAST, baseLayout, chartEmpty, drawChart, timeAxis, valueAxis } from "../charts.js";
import { $, el, setReady } from "../dom.js";
import { fmtDate, fmtDateTime, fmtMoney, fmtMoneySigned, fmtMonth, metricExact } from "../format.js";
import { setTableBody } from "../tables.js";
import { optional, panelError, sentence, thresholdBadge } from "../watch.js";

const STATES = ["all", "active", "past", "resolved"];
const STATE_TONES = { active: "error", past: "warn", resolved: "info" };
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
const METHODS = { mad: "trailing median (MAD)", seasonal: "same-weekday baseline" };
const ANOMALY = "#c92a2a";
const view = { seq: 0, meta: null };

export async function pageAlerts() {
  setReady(false);
  const select = $("#anomalies-state");
  select.value = stateFromUrl();
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    if (select.value === "all") url.searchParams.delete("state");
    else url.searchParams.set("state", select.value);
    history.pushState(null, "", url);
    reloadAnomalies();
  });
  window.addEventListener("popstate", () => {
    select.value = stateFromUrl();
    reloadAnomalies();
  });
  try {
    const [meta, budgets, dead, anomalies] = await Promise.all([
      getMeta(),
      api("/api/v1/budgets"),
      api("/api/v1/alerts/dead"),
      loadAnomalies(select.value),
    ]);
    clearPageError();
    view.meta = meta;
    $("#page-sub").textContent = `${fmtMonth(budgets.month + "-01", true)} (UTC), as of ${fmtDateTime(budgets.as_of)}`;
    renderDead(dead);
    renderThresholds(budgets.budgets || []);
    await renderAnomalies(anomalies);
    setReady(true);
  } catch (err) {
    showPageError(err);
  }
}

function stateFromUrl() {
  const s = new URLSearchParams(location.search).get("state");
  return STATES.includes(s) ? s : "all";
}

function loadAnomalies(state) {
  return optional("/api/v1/anomalies", { params: { state } });
}

async function reloadAnomalies() {
  const seq = ++view.seq;
  setReady(false);
  const found = await loadAnomalies($("#anomalies-state").value);
  if (seq !== view.seq) return;
  try {
    await renderAnomalies(found);
    setReady(true);
  } catch (err) {
    showPageError(err);
  }
}

// ------------------------------------------------------------------ undelivered notifications

function renderDead(dead) {
  const summary = $("#dead-summary");
  const wrap = $("#dead-wrap");
  const panel = $("#dead-panel");
  panel.dataset.count = String(dead.count);
  panel.classList.toggle("alarm", dead.count > 0);
  if (!dead.count) {
    summary.replaceChildren(el("div", { class: "message ok" }, "Every notification was delivered."));
    wrap.hidden = true;
    return;
  }
  summary.replaceChildren(
    el(
      "div",
      { class: "message error" },
      `${dead.count} notification${dead.count === 1 ? "" : "s"} never arrived: every attempt failed. `,
      "The newest is below; ",
      el("code", {}, "spendscope alerts log --dead"),
      " lists them all.",
    ),
  );
  const n = dead.newest;
  setTableBody(
    $("#dead-table"),
    n
      ? [
          el(
            "tr",
            { class: "dead-row" },
            el("td", {}, fmtDateTime(n.at)),
            el("td", { class: "cell-label" }, n.channel),
            el("th", { scope: "row", class: "cell-label dead-title", title: n.title }, n.title),
            el("td", {}, el("span", { class: `badge ${n.status === "firing" ? "warn" : "info"}` }, n.status)),
            el("td", { class: "cell-error", title: n.error || "" }, n.error || ""),
          ),
        ]
      : [],
  );
  wrap.hidden = !n;
}

// ------------------------------------------------------------------ budget thresholds

function renderThresholds(budgets) {
  const rows = [];
  for (const b of budgets) {
    for (const s of b.states || []) {
      if (s.state !== "ok" || s.pending) rows.push({ b, s });
    }
  }
  const rank = ({ s }) => (s.state === "firing" ? 0 : 1) * 10 + (SEVERITY_ORDER[s.severity] ?? 3);
  rows.sort((x, y) => rank(x) - rank(y));
  const firing = rows.filter(({ s }) => s.state === "firing").length;
  $("#thresholds-note").textContent = budgets.length ? `${firing} firing` : "";
  const empty = budgets.length ? "No budget threshold has fired this month." : "No budget is set yet.";
  setTableBody(
    $("#thresholds-table"),
    rows.map(({ b, s }) =>
      el(
        "tr",
        { class: "threshold-row", dataset: { budget: b.name, kind: s.kind, threshold: s.threshold, state: s.state } },
        el("th", { scope: "row", class: "cell-label" }, el("a", { href: `/budgets?name=${encodeURIComponent(b.name)}` }, b.name)),
        el("td", { class: "cell-label", title: b.scope }, b.scope_label || b.scope),
        el("td", {}, thresholdBadge(s)),
        el("td", {}, el("span", { class: `badge ${s.severity === "critical" ? "error" : s.severity === "warning" ? "warn" : "info"}` }, s.severity)),
        el("td", { class: "num", title: metricExact(s.limit, "usd"), dataset: { value: s.limit ?? "" } }, fmtMoney(s.limit)),
        el("td", { class: "num", title: metricExact(s.value, "usd"), dataset: { value: s.value ?? "" } }, fmtMoney(s.value)),
        el("td", {}, b.basis_label),
        el("td", {}, s.changed_at ? fmtDateTime(s.changed_at) : "—", s.reason ? el("span", { class: "cell-sub" }, s.reason.replace(/_/g, " ")) : null),
      ),
    ),
    empty,
  );
}

// ------------------------------------------------------------------ anomalies

async function renderAnomalies(result) {
  const list = $("#anomalies-list");
  const message = $("#anomalies-message");
  const note = $("#anomalies-note");
  const panel = $("#anomalies-panel");
  list.replaceChildren();
  message.replaceChildren();
  note.textContent = "";
  if (result.missing) {
    panel.dataset.state = "unavailable";
    $("#anomalies-state").disabled = true;
    message.replaceChildren(el("div", { class: "message info", id: "anomalies-unavailable" }, "Anomaly detection is not available on this server."));
    return;
  }
  if (result.failed) {
    panel.dataset.state = "error";
    message.replaceChildren(panelError(result.failed));
    return;
  }
  panel.dataset.state = "ok";
  const anomalies = result.found.anomalies || [];
  note.textContent = `${anomalies.length} anomal${anomalies.length === 1 ? "y" : "ies"}` + (result.found.as_of ? `, as of ${fmtDateTime(result.found.as_of)}` : "");
  if (!anomalies.length) {
    message.replaceChildren(el("div", { class: "empty-state compact", id: "anomalies-empty" }, "No anomaly in daily spend for this selection."));
    return;
  }
  const cards = anomalies.map(anomalyCard);
  list.replaceChildren(...cards.map((c) => c.node));
  await Promise.all(cards.map((c) => c.draw()));
}

function scopeText(a) {
  if (a.scope === "organization") return "Organization";
  return `${dimensionLabel(view.meta, a.scope)}: ${a.value || "(none)"}`;
}

function figure(label, value, cls, title = "", ...extra) {
  return el("div", { class: "figure" }, el("dt", {}, label), el("dd", { class: cls, title }, value, ...extra));
}

function moneyData(v) {
  return { value: v ?? "" };
}

function figures(a) {
  const impact = Number(a.impact);
  return el(
    "dl",
    { class: "anomaly-figures" },
    el("div", { class: "figure" }, el("dt", {}, "Actual"), el("dd", { class: "anomaly-actual", title: metricExact(a.actual, "usd"), dataset: moneyData(a.actual) }, fmtMoney(a.actual))),
    el("div", { class: "figure" }, el("dt", {}, "Expected"), el("dd", { class: "anomaly-expected", title: metricExact(a.expected, "usd"), dataset: moneyData(a.expected) }, fmtMoney(a.expected))),
    el(
      "div",
      { class: "figure" },
      el("dt", {}, "Expected band"),
      el("dd", { class: "anomaly-band", dataset: { low: a.low ?? "", high: a.high ?? "" } }, `${fmtMoney(a.low)} – ${fmtMoney(a.high)}`),
    ),
    el(
      "div",
      { class: "figure" },
      el("dt", {}, "Impact"),
      el("dd", { class: `anomaly-impact ${impact > 0 ? "delta-up" : impact < 0 ? "delta-down" : ""}`.trim(), title: metricExact(a.impact, "usd"), dataset: moneyData(a.impact) }, fmtMoneySigned(a.impact)),
    ),
    figure("Score", a.score, "anomaly-score", "Robust score: distance from the expected value in robust deviations"),
    figure("Baseline", METHODS[a.method] || a.method, "anomaly-method"),
  );
}

function driversTable(a) {
  const drivers = a.drivers || [];
  if (!drivers.length) return el("p", { class: "panel-note" }, "No single value within it explains the change.");
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "data compact drivers-table" },
      el("caption", { class: "sr-only" }, `What drove the anomaly of ${scopeText(a)} on ${fmtDate(a.day)}, by dollars`),
      el(
        "thead",
        {},
        el("tr", {}, el("th", { scope: "col" }, "Driver"), el("th", { scope: "col" }, "Value"), el("th", { scope: "col", class: "num" }, "Actual"), el("th", { scope: "col", class: "num" }, "Expected"), el("th", { scope: "col", class: "num" }, "Impact")),
      ),
      el(
        "tbody",
        {},
        drivers.map((d) =>
          el(
            "tr",
            { class: "driver-row", dataset: { dimension: d.dimension, value: d.value } },
            el("td", {}, dimensionLabel(view.meta, d.dimension)),
            el("th", { scope: "row", class: "cell-label driver-value", title: d.value }, d.value || "(none)"),
            el("td", { class: "num", title: metricExact(d.actual, "usd"), dataset: moneyData(d.actual) }, fmtMoney(d.actual)),
            el("td", { class: "num", title: metricExact(d.expected, "usd"), dataset: moneyData(d.expected) }, fmtMoney(d.expected)),
            el("td", { class: "num driver-impact", title: metricExact(d.impact, "usd"), dataset: moneyData(d.impact) }, fmtMoneySigned(d.impact)),
          ),
        ),
      ),
    ),
  );
}

function stateBadge(a) {
  return el("span", { class: `badge anomaly-state ${STATE_TONES[a.state] || "info"}`, dataset: { state: a.state } }, a.state);
}

function anomalyCard(a) {
  const chart = el("div", { class: "chart short is-loading anomaly-chart", role: "img", "aria-label": `Daily spend of ${scopeText(a)} against its expected band` });
  const title = el("h3", { class: "anomaly-title" }, scopeText(a));
  const stateBox = el("span", { class: "anomaly-state-box" }, stateBadge(a));
  const reason = el("div", { class: "panel-note anomaly-reason" });
  const feedbackMsg = el("div", { class: "anomaly-feedback-message", role: "status" });
  const buttons = ["expected", "unexpected"].map((value) =>
    el("button", { type: "button", class: "feedback-button", dataset: { feedback: value }, "aria-pressed": "false" }, value === "expected" ? "Expected" : "Unexpected"),
  );
  const node = el(
    "article",
    { class: "anomaly", dataset: { anomaly: a.id, state: a.state, feedback: a.feedback || "" }, "aria-labelledby": `anomaly-${a.id}` },
    el(
      "div",
      { class: "anomaly-head" },
      title,
      stateBox,
      el("span", { class: "anomaly-day", dataset: { day: a.day } }, fmtDate(a.day)),
      el("span", { class: "spacer" }),
      el("span", { class: "panel-note" }, "Was it expected?"),
      el("div", { class: "seg", role: "group", "aria-label": `Feedback on the anomaly of ${scopeText(a)} on ${fmtDate(a.day)}` }, buttons),
    ),
    feedbackMsg,
    el("div", { class: "anomaly-body" }, el("div", {}, figures(a), reason, driversTable(a)), chart),
  );
  title.id = `anomaly-${a.id}`;

  const show = (x) => {
    node.dataset.state = x.state;
    node.dataset.feedback = x.feedback || "";
    stateBox.replaceChildren(stateBadge(x));
    reason.textContent = x.reason ? sentence(x.reason.replace(/_/g, " ")) : "";
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.feedback === x.feedback));
  };
  show(a);
  for (const b of buttons) {
    b.addEventListener("click", async () => {
      if (b.getAttribute("aria-pressed") === "true") return;
      buttons.forEach((x) => (x.disabled = true));
      feedbackMsg.replaceChildren();
      try {
        const updated = await api(`/api/v1/anomalies/${encodeURIComponent(a.id)}/feedback`, { method: "POST", body: { feedback: b.dataset.feedback } });
        show(updated);
        const said = updated.feedback === "expected" ? "Marked as expected: similar changes will not be reported." : `Marked as ${updated.feedback}.`;
        feedbackMsg.replaceChildren(el("div", { class: "message ok" }, said));
      } catch (err) {
        feedbackMsg.replaceChildren(panelError(err));
      } finally {
        buttons.forEach((x) => (x.disabled = false));
      }
    });
  }
  return { node, draw: () => drawAnomaly(chart, a) };
}

async function drawAnomaly(chart, a) {
  let detail;
  try {
    detail = await api(`/api/v1/anomalies/${encodeURIComponent(a.id)}`);
  } catch (err) {
    chart.classList.remove("is-loading");
    chart.replaceChildren(panelError(err));
    return;
  }
  const series = detail.series || [];
  if (!series.length) {
    chartEmpty(chart, "No daily series for this anomaly.");
    return;
  }
  const x = series.map((p) => p.day);
  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const traces = [];
  if (series.some((p) => p.low !== null && p.high !== null)) {
    traces.push(
      { type: "scatter", mode: "lines", name: "Expected high", x, y: series.map((p) => num(p.high)), line: { color: FORECAST, width: 0 }, hoverinfo: "skip", showlegend: false },
      {
        type: "scatter", mode: "lines", name: "Expected band", x, y: series.map((p) => num(p.low)), line: { color: FORECAST, width: 0 },
        fill: "tonexty", fillcolor: "rgba(112, 72, 232, 0.16)", hoverinfo: "skip",
      },
    );
  }
  traces.push(
    {
      type: "scatter", mode: "lines", name: "Expected", x, y: series.map((p) => num(p.expected)), customdata: series.map((p) => fmtMoney(p.expected)),
      line: { color: FORECAST, width: 1.5, dash: "dash" }, hovertemplate: "%{customdata}<extra>expected</extra>",
    },
    {
      type: "scatter", mode: "lines", name: "Actual", x, y: series.map((p) => num(p.actual)), customdata: series.map((p) => fmtMoney(p.actual)),
      line: { color: ACCENT, width: 2 }, hovertemplate: "%{customdata}<extra>actual</extra>",
    },
    {
      type: "scatter", mode: "markers", name: "Anomaly", x: [a.day], y: [Number(a.actual)], customdata: [fmtMoney(a.actual)],
      marker: { color: ANOMALY, size: 9, symbol: "circle-open", line: { width: 2.5, color: ANOMALY } }, hovertemplate: "%{customdata}<extra>anomaly</extra>",
    },
  );
  const layout = baseLayout({
    xaxis: timeAxis("day"),
    yaxis: valueAxis("usd"),
    hovermode: "x unified",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: -0.2, yanchor: "top" },
    margin: { b: 56 },
  });
  await drawChart(chart, traces, layout);
}
