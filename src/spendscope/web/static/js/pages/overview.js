/* Overview (/): month to date against last month, the month-end forecast (/api/v1/forecast: P50,
 * P10–P90 band, method and state), the 60-day trend extended to month end with the forecast's
 * days, the top workspaces, API keys, users and models, the biggest movers and the freshness
 * banner. */

import { api, clearPageError, dimensionLabel, getMeta, renderError, showPageError } from "../api.js";
import {
  ACCENT,
  FORECAST,
  baseLayout,
  chartEmpty,
  drawChart,
  provisionalShapes,
  timeAxis,
  valueAxis,
} from "../charts.js";
import { explorerUrl } from "../controls.js";
import { $, el, setReady } from "../dom.js";
import {
  addDays,
  fmtDate,
  fmtDateTime,
  fmtMoney,
  fmtMoneySigned,
  fmtMonth,
  fmtPctSigned,
  metricExact,
  validDay,
} from "../format.js";
import { setTableBody, shareCell, valueCell } from "../tables.js";

const TOP_DRILL = { workspace: "model", api_key: "model", user: "model", model: "workspace" };

export async function pageOverview() {
  setReady(false);
  try {
    // The forecast's failure stays in its card: the rest of the overview stands on its own.
    const [meta, ov, fc] = await Promise.all([
      getMeta(),
      api("/api/v1/overview"),
      api("/api/v1/forecast").then((found) => ({ found }), (failed) => ({ failed })),
    ]);
    clearPageError();
    renderFreshness(ov.freshness);
    renderOverviewKpis(ov);
    renderForecast(fc);
    await renderTrend(ov, fc.found ? fc.found.forecast : null);
    for (const dim of ["workspace", "api_key", "user", "model"]) renderTop(dim, (ov.top || {})[dim] || [], ov);
    renderMovers(ov.movers || [], meta);
    await renderAllocationTops(meta, ov);
    $("#page-sub").textContent = `${fmtMonth(ov.month_to_date.since, true)}, as of ${fmtDate(ov.as_of)}`;
    setReady(true);
  } catch (err) {
    showPageError(err);
  }
}

function renderFreshness(fr) {
  const banner = $("#freshness-banner");
  if (!fr || !banner) return;
  const failing = (fr.connections || []).filter((c) => ["failing", "error", "interrupted"].includes(c.health));
  const never = (fr.connections || []).filter((c) => c.health === "never synced");
  banner.classList.toggle("provisional", !!fr.provisional_from);
  banner.classList.toggle("stale", failing.length > 0 || !fr.complete_through);
  banner.dataset.provisionalFrom = fr.provisional_from || "";
  const items = [];
  for (const c of failing) items.push(el("li", {}, `${c.label}: ${c.health === "error" ? "its key cannot be read" : c.health === "interrupted" ? "last sync was interrupted" : "last sync failed"}`, c.last_success ? ` (last success ${fmtDateTime(c.last_success)})` : "", " — ", el("a", { href: "/connections" }, "see Connections")));
  for (const c of never) items.push(el("li", {}, `${c.label}: never synced yet`));
  if (!(fr.connections || []).length) items.push(el("li", {}, el("a", { href: "/connections" }, "Connect an organization")));
  banner.replaceChildren(
    el("span", { class: "banner-icon", "aria-hidden": "true" }, fr.provisional_from ? "◐" : "●"),
    el("div", {}, el("div", { id: "freshness-message" }, fr.message || "No data yet."), items.length ? el("ul", {}, items) : null),
  );
  banner.hidden = false;
}

function renderOverviewKpis(ov) {
  const mtd = ov.month_to_date || {};
  const last = ov.last_month || {};
  const mtdEl = $("#mtd-cost");
  mtdEl.textContent = fmtMoney(mtd.cost);
  mtdEl.dataset.value = mtd.cost ?? "";
  mtdEl.title = metricExact(mtd.cost, "usd");
  const days = `${fmtDate(mtd.since, false)} – ${fmtDate(addDays(mtd.until, -1))}`;
  const sub = [days];
  if (mtd.list_cost !== undefined && mtd.list_cost !== null && mtd.list_cost !== mtd.cost) sub.push(`list ${fmtMoney(mtd.list_cost)}`);
  $("#mtd-sub").textContent = sub.join(" · ");

  const ch = $("#mtd-change");
  const c = ov.change;
  ch.classList.remove("delta-up", "delta-down", "delta-flat");
  if (c === null || c === undefined) {
    ch.textContent = "—";
    ch.classList.add("delta-flat");
  } else {
    const arrow = c > 0 ? "▲ " : c < 0 ? "▼ " : "";
    ch.textContent = arrow + fmtPctSigned(c);
    ch.classList.add(c > 0.0005 ? "delta-up" : c < -0.0005 ? "delta-down" : "delta-flat");
  }
  ch.dataset.value = c === null || c === undefined ? "" : String(c);
  $("#mtd-change-sub").textContent = `${fmtMoney(last.cost)} on ${fmtDate(last.since, false)} – ${fmtDate(addDays(last.until, -1))}`;
  $("#mtd-change-sub").title = metricExact(last.cost, "usd");

  const lm = $("#last-month-cost");
  lm.textContent = fmtMoney(last.full_month_cost);
  lm.dataset.value = last.full_month_cost ?? "";
  lm.title = metricExact(last.full_month_cost, "usd");
  $("#last-month-sub").textContent = validDay(last.since) ? fmtMonth(last.since, true) : "";
}

const STATES = {
  ok: ["OK", "ok"],
  low_confidence: ["Low confidence", "warn"],
  stale: ["Stale", "failing"],
  insufficient_history: ["Not enough history", "info"],
};
const METHODS = { run_rate: "run rate", weekday_profile: "weekday profile", seasonal: "seasonal" };

/** A note from the API as a sentence: capitalised, with a full stop. */
function sentence(text) {
  const s = String(text).trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}

/** The month-end forecast card: P50, the P10–P90 band, the state and method, and the notes
 * (how many complete days are needed, why it is stale or low-confidence) — all as the API says. */
function renderForecast(fc) {
  const value = $("#forecast-cost");
  const band = $("#forecast-band");
  const state = $("#forecast-state");
  const method = $("#forecast-method");
  const note = $("#forecast-note");
  if (fc.failed) {
    value.textContent = "—";
    value.dataset.value = "";
    band.textContent = "";
    state.hidden = true;
    method.textContent = "";
    renderError(note, fc.failed);
    return;
  }
  const f = fc.found.forecast;
  const [label, tone] = STATES[f.state] || [f.state, "info"];
  state.textContent = label;
  state.className = `badge ${tone}`;
  state.dataset.state = f.state;
  state.hidden = false;
  method.textContent = f.method ? METHODS[f.method] || f.method : "";
  value.dataset.value = f.p50 ?? "";
  value.textContent = fmtMoney(f.p50);
  const ahead = `${f.remaining_days} day${f.remaining_days === 1 ? "" : "s"} forecast`;
  const basis = f.complete_through ? `month to date through ${fmtDate(f.complete_through)} (complete days) + ${ahead}` : ahead;
  value.title = f.p50 === null ? "" : `${metricExact(f.p50, "usd")}: ${basis}`;
  band.title = "";
  if (f.p50 === null) {
    band.textContent = "No forecast yet";
  } else if (f.p10 !== null && f.p90 !== null) {
    band.textContent = `P10–P90 ${fmtMoney(f.p10)} – ${fmtMoney(f.p90)}`;
    band.title = `${metricExact(f.p10, "usd")} – ${metricExact(f.p90, "usd")}`;
  } else {
    band.textContent = "no band";
  }
  note.replaceChildren(...(f.notes || []).map((n) => el("div", {}, sentence(n))));
  note.hidden = !(f.notes || []).length;
}

/** The forecast's remaining days on the daily chart: the P10–P90 band shaded (P90 edge first,
 * the P10 edge filled up to it) and the P50 dashed, to the month's last day. */
function forecastTraces(f) {
  const days = (f && f.days) || [];
  if (!days.length) return [];
  const x = days.map((d) => d.day);
  const traces = [];
  if (days.every((d) => d.p10 !== null && d.p90 !== null)) {
    traces.push(
      {
        type: "scatter", mode: "lines", name: "Forecast P90", x, y: days.map((d) => Number(d.p90)),
        line: { color: FORECAST, width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: "forecast-band",
      },
      {
        type: "scatter", mode: "lines", name: "Forecast P10–P90", x, y: days.map((d) => Number(d.p10)),
        line: { color: FORECAST, width: 0 }, fill: "tonexty", fillcolor: "rgba(112, 72, 232, 0.18)",
        hoverinfo: "skip", legendgroup: "forecast-band",
      },
    );
  }
  traces.push({
    type: "scatter", mode: "lines+markers", name: "Forecast P50", x, y: days.map((d) => Number(d.p50)),
    customdata: days.map((d) => fmtMoney(d.p50) + (d.p10 !== null && d.p90 !== null ? ` (P10–P90 ${fmtMoney(d.p10)} – ${fmtMoney(d.p90)})` : "")),
    line: { color: FORECAST, width: 2, dash: "dash" }, marker: { size: 4, color: FORECAST },
    hovertemplate: "%{customdata}<extra>forecast</extra>",
  });
  return traces;
}

async function renderTrend(ov, forecast) {
  const box = $("#trend-chart");
  const trend = ov.trend || [];
  const ahead = forecastTraces(forecast);
  if (!trend.length && !ahead.length) {
    chartEmpty(box, "No cost data in the last 60 days.");
    return;
  }
  const days = trend.map((t) => t.day);
  const vals = trend.map((t) => Number(t.cost));
  const firstProv = trend.findIndex((t) => t.provisional);
  const traces = [
    {
      type: "scatter", mode: "lines", name: "Daily cost", x: days, y: vals,
      customdata: trend.map((t) => fmtMoney(t.cost) + (t.provisional ? " · provisional" : "")),
      line: { color: ACCENT, width: 2, shape: "linear" }, fill: "tozeroy", fillcolor: "rgba(59, 91, 219, 0.12)",
      hovertemplate: "%{customdata}<extra>daily cost</extra>",
    },
  ];
  if (firstProv >= 0) {
    // overdraw the provisional stretch (joined to the last final day) lighter and dashed
    const from = Math.max(0, firstProv - 1);
    traces.push({
      type: "scatter", mode: "lines", name: "Provisional", x: days.slice(from), y: vals.slice(from),
      line: { color: "#d4a017", width: 2, dash: "dot" }, fill: "tozeroy", fillcolor: "rgba(237, 201, 72, 0.22)",
      hoverinfo: "skip",
    });
  }
  // 7-day trailing average (once 7 days exist)
  const avg = { x: [], y: [], customdata: [] };
  for (let i = 6; i < vals.length; i++) {
    const v = vals.slice(i - 6, i + 1).reduce((a, b) => a + b, 0) / 7;
    avg.x.push(days[i]);
    avg.y.push(v);
    avg.customdata.push(fmtMoney(v.toFixed(6)));
  }
  traces.push({
    type: "scatter", mode: "lines", name: "7-day average", x: avg.x, y: avg.y, customdata: avg.customdata,
    line: { color: "#f28e2b", width: 1.5 },
    hovertemplate: "%{customdata}<extra>7-day avg</extra>",
  });
  traces.push(...ahead);
  const prov0 = firstProv >= 0 ? trend[firstProv].day : null;
  const shade = provisionalShapes(days, prov0, "day");
  const layout = baseLayout({
    xaxis: timeAxis("day"),
    yaxis: valueAxis("usd"),
    hovermode: "x unified",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: -0.14, yanchor: "top" },
    margin: { b: 56, t: shade.shapes.length ? 22 : 10 },
    shapes: shade.shapes,
    annotations: shade.annotations,
  });
  const notes = [prov0 ? `Days from ${fmtDate(prov0)} are provisional and may still change.` : "All days are final."];
  if (ahead.length) {
    const days = forecast.days;
    notes.push(`Dashed: the forecast from ${fmtDate(days[0].day, false)} to ${fmtDate(days[days.length - 1].day)}, shaded: its P10–P90 band.`);
  }
  $("#trend-note").textContent = notes.join(" ");
  await drawChart(box, traces, layout);
}

/** "Top teams" (and so on) for each allocation dimension: month to date, from /explore. */
async function renderAllocationTops(meta, ov) {
  const dims = (meta.dimensions || []).filter((d) => d.allocation);
  const mtd = ov.month_to_date || {};
  const results = await Promise.allSettled(
    dims.map((d) => api("/api/v1/explore", { params: { metric: "cost", group_by: d.name, granularity: "month", since: mtd.since, until: mtd.until, limit: "5" } })),
  );
  const grid = $("#overview-tops");
  for (const old of grid.querySelectorAll(".top-allocation")) old.remove();
  dims.forEach((d, i) => {
    const name = d.label.toLowerCase();
    const head = el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", { class: "num" }, "Cost"), el("th", {}, "Share of MTD")));
    const table = el("table", { class: "data compact", id: `top-${d.name}`, dataset: { dimension: d.name } }, head, el("tbody"));
    const panel = el("section", { class: "panel top-allocation" }, el("h2", {}, `Top ${name.endsWith("s") ? name : name + "s"}`), el("div", { class: "table-wrap" }, table));
    grid.append(panel);
    if (results[i].status === "rejected") {
      // the rest of the overview stands on its own: the error stays in this panel
      const box = el("div", { class: "message error" });
      renderError(box, results[i].reason);
      panel.replaceChildren(panel.firstChild, box);
      return;
    }
    const groups = (results[i].value.groups || []).filter((g) => g.key !== "__other__");
    renderTop(d.name, groups.map((g) => ({ key: g.key, label: g.label, cost: g.total, share: g.share })), ov);
  });
}

function renderTop(dim, rows, ov) {
  const table = $(`#top-${dim}`);
  if (!table) return;
  const mtd = ov.month_to_date || {};
  const drill = TOP_DRILL[dim] || "model";
  setTableBody(
    table,
    rows.map((r) => {
      const canFilter = r.key !== "__other__" && r.key !== null && r.key !== undefined;
      const href = canFilter
        ? explorerUrl({ metric: "cost", group_by: drill, granularity: "day", since: mtd.since, until: mtd.until, filter: [`${dim}:${r.key}`] })
        : null;
      const label = r.label || r.key || "(none)";
      return el(
        "tr",
        { dataset: { key: r.key ?? "" } },
        el("td", { class: "cell-label", title: r.key && r.key !== label ? `${label} (${r.key})` : label }, href ? el("a", { href, title: `Explore ${label}` }, label) : label),
        valueCell(r.cost, "usd"),
        shareCell(r.share),
      );
    }),
    "No spend this month yet.",
  );
}

function renderMovers(movers, meta) {
  const table = $("#movers-table");
  setTableBody(
    table,
    movers.map((m) => {
      const delta = Number(m.delta);
      const prev = Number(m.previous);
      const cls = delta > 0 ? "delta-up" : delta < 0 ? "delta-down" : "delta-flat";
      const pct = prev > 0 ? delta / prev : null;
      const label = m.label || m.key || "(none)";
      const href = m.key && m.key !== "__other__" ? explorerUrl({ metric: "cost", group_by: m.dimension, granularity: "day", since: addDays(meta.today, -14), until: addDays(meta.today, 1), filter: [`${m.dimension}:${m.key}`] }) : null;
      return el(
        "tr",
        { dataset: { dimension: m.dimension, key: m.key ?? "" } },
        el("td", {}, dimensionLabel(meta, m.dimension)),
        el("td", { class: "cell-label", title: label }, href ? el("a", { href }, label) : label),
        valueCell(m.previous, "usd"),
        valueCell(m.current, "usd"),
        el("td", { class: "num " + cls, title: metricExact(m.delta, "usd"), dataset: { value: m.delta ?? "" } }, (delta > 0 ? "▲ " : delta < 0 ? "▼ " : "") + fmtMoneySigned(m.delta)),
        el("td", { class: "num " + cls }, pct === null ? "new" : fmtPctSigned(pct)),
      );
    }),
    "Nothing moved in the last 7 days.",
  );
}
