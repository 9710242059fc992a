/* Budgets (/budgets): every budget of the month (/api/v1/budgets) — amount, month to date on its
 * basis, the month-end P50 with its P10–P90 band, each threshold's state and a usage bar — as a
 * tree (a budget within another under it, then the sums of those within it against its own
 * amount); each budget's month as a chart (cumulative month to date, the forecast's band to
 * month end, the amount); and beside them the members' Anthropic spend caps
 * (/api/v1/spend-limits). `?name=` marks one budget. */

import { api, clearPageError, showPageError } from "../api.js";
import { ACCENT, FORECAST, baseLayout, chartEmpty, drawChart, timeAxis, valueAxis } from "../charts.js";
import { $, el, setReady } from "../dom.js";
import { addDays, fmtDate, fmtMoney, fmtMonth, fmtPct, metricExact, monthStart, sumDecimals } from "../format.js";
import { setTableBody } from "../tables.js";
import { optional, panelError, percentFraction, sentence, thresholdBadge, usageBar } from "../watch.js";

const BUDGET_LINE = "#c92a2a";
const FORECAST_STATES = {
  ok: null,
  low_confidence: ["low confidence", "warn"],
  stale: ["stale", "failing"],
  insufficient_history: ["not enough history", "info"],
};

export async function pageBudgets() {
  setReady(false);
  try {
    const [found, caps] = await Promise.all([api("/api/v1/budgets"), optional("/api/v1/spend-limits")]);
    clearPageError();
    const budgets = found.budgets || [];
    $("#page-sub").textContent = `${fmtMonth(found.month + "-01", true)} (UTC), as of ${fmtDate(found.as_of)}`;
    $("#budgets-empty").hidden = budgets.length > 0;
    $("#budgets-panel").hidden = budgets.length === 0;
    document.body.dataset.budgets = String(budgets.length);
    renderTable(budgets);
    renderCaps(caps);
    await renderCharts(budgets);
    markNamed();
    setReady(true);
  } catch (err) {
    showPageError(err);
  }
}

// ------------------------------------------------------------------ the table (a tree)

/** A money cell: rounded text, the exact value in the title and data-value. */
function moneyCell(value, extra = {}, ...sub) {
  const attrs = Object.assign({ class: "num", title: metricExact(value, "usd"), dataset: { value: value ?? "" } }, extra);
  return el("td", attrs, fmtMoney(value), ...sub);
}

function subLine(text, cls = "") {
  return text ? el("span", { class: ("cell-sub " + cls).trim() }, text) : null;
}

function renderTable(budgets) {
  const rows = [];
  const open = []; // parents whose roll-up row is still to come, innermost last
  const close = (depth) => {
    while (open.length && open[open.length - 1].depth >= depth) rows.push(rollupRow(open.pop()));
  };
  for (const b of budgets) {
    close(b.depth);
    rows.push(budgetRow(b));
    if (b.rollup) open.push(b);
  }
  close(0);
  setTableBody($("#budgets-table"), rows, "No budget yet.");
  const firing = budgets.filter((b) => b.states.some((s) => s.state === "firing")).length;
  $("#budgets-note").textContent = `${budgets.length} budget${budgets.length === 1 ? "" : "s"}` + (firing ? `, ${firing} with a threshold firing` : "");
}

function indent(depth) {
  return { paddingLeft: `${8 + depth * 20}px` };
}

function budgetRow(b) {
  const label = b.scope_label || b.scope;
  const fstate = FORECAST_STATES[b.forecast_state];
  const provisional = b.provisional_from
    ? el(
        "span",
        { class: "cell-sub provisional-mark", dataset: { provisionalFrom: b.provisional_from }, title: "Anthropic may still revise these days; they are not counted in the month to date" },
        el("span", { class: "badge warn" }, "provisional"),
        ` from ${fmtDate(b.provisional_from, false)}` + (Number(b.provisional_cost) ? `, ${fmtMoney(b.provisional_cost)} not counted yet` : ""),
      )
    : null;
  const through = b.complete_through ? `through ${fmtDate(b.complete_through, false)}` : "no complete day yet";
  const estimated =
    b.estimate && Number(b.estimate.amount)
      ? el("span", { class: "cell-sub budget-estimate", dataset: { value: b.estimate.amount }, title: "Usage priced from the organization's billed history: an estimate, not billed cost" }, `incl. ${fmtMoney(b.estimate.amount)} estimated`)
      : null;
  const ticks = b.states.filter((s) => s.kind === "actual").map((s) => s.threshold);
  const forecastShare = b.p50 !== null && b.amount && Number(b.amount) > 0 ? String((Number(b.p50) / Number(b.amount)) * 100) : null;
  return el(
    "tr",
    { class: "budget-row", dataset: { budget: b.name, depth: String(b.depth), parent: b.parent || "" }, id: `budget-${b.name}` },
    el(
      "th",
      { scope: "row", class: "budget-name", style: indent(b.depth) },
      b.depth ? el("span", { class: "tree-mark", "aria-hidden": "true" }, "↳ ") : null,
      b.name,
      b.parent ? el("span", { class: "cell-sub" }, `within ${b.parent}`) : null,
    ),
    el(
      "td",
      { class: "cell-label budget-scope", title: b.scope },
      el("span", { class: "scope-label" }, label),
      label !== b.scope ? subLine(b.scope) : null,
      el("span", { class: "cell-sub budget-basis", dataset: { basis: b.basis } }, el("span", { class: "badge info" }, b.basis_label)),
    ),
    b.amount === null ? el("td", { class: "num", dataset: { value: "" }, title: "No amount for this month: its thresholds are not evaluated" }, "—") : moneyCell(b.amount),
    moneyCell(b.month_to_date, { class: "num budget-mtd", title: b.month_to_date === null ? "" : `${metricExact(b.month_to_date, "usd")}: complete days only` }, subLine(through), estimated, provisional),
    el(
      "td",
      { class: "budget-used" },
      b.amount === null || b.month_to_date === null
        ? "—"
        : usageBar(b.used_percent, { ticks, marker: forecastShare, label: `Month to date as a share of ${b.name}'s amount` }),
    ),
    moneyCell(
      b.p50,
      { class: "num budget-p50" },
      b.p10 !== null && b.p90 !== null
        ? el("span", { class: "cell-sub budget-band", dataset: { p10: b.p10, p90: b.p90 }, title: `P10–P90 ${metricExact(b.p10, "usd")} – ${metricExact(b.p90, "usd")}` }, `${fmtMoney(b.p10)} – ${fmtMoney(b.p90)}`)
        : null,
      fstate ? el("span", { class: `cell-sub badge ${fstate[1]} forecast-state`, dataset: { state: b.forecast_state } }, fstate[0]) : null,
    ),
    el("td", { class: "budget-thresholds" }, el("div", { class: "threshold-list" }, b.states.map(thresholdBadge))),
  );
}

/** The sums of the budgets within `b`, against its own amount and month to date. */
function rollupRow(b) {
  const r = b.rollup;
  const n = r.children.length;
  const own = b.amount;
  const over = r.amount_left !== null && Number(r.amount_left) < 0;
  const amountSub = own === null ? null : over ? `${fmtMoney(r.amount_left.replace(/^-/, ""))} more than ${b.name}'s ${fmtMoney(own)}` : `${fmtMoney(r.amount_left)} of ${b.name}'s ${fmtMoney(own)} left over`;
  const outside = r.month_to_date_left;
  const mtdSub =
    outside === null
      ? null
      : Number(outside) < 0
        ? `${fmtMoney(outside.replace(/^-/, ""))} more than ${b.name}'s own: their scopes overlap or reach beyond it`
        : `${fmtMoney(outside)} of ${b.name}'s spend outside them`;
  const share = own !== null && Number(own) > 0 ? String((Number(r.amount) / Number(own)) * 100) : null;
  return el(
    "tr",
    { class: "rollup-row", dataset: { rollup: b.name } },
    el(
      "th",
      { scope: "row", class: "budget-name", style: indent(b.depth + 1) },
      el("span", { class: "tree-mark", "aria-hidden": "true" }, "Σ "),
      `${n} budget${n === 1 ? "" : "s"} within ${b.name}`,
      el("span", { class: "cell-sub" }, r.children.join(", ")),
    ),
    el("td", {}, ""),
    moneyCell(r.amount, { class: "num rollup-amount" + (over ? " over" : ""), dataset: { value: r.amount, left: r.amount_left ?? "" } }, subLine(amountSub)),
    moneyCell(r.month_to_date, { class: "num rollup-mtd", dataset: { value: r.month_to_date, left: r.month_to_date_left ?? "" } }, subLine(mtdSub)),
    el("td", { class: "rollup-share" }, share === null ? "—" : usageBar(share, { label: `Their amounts as a share of ${b.name}'s amount` })),
    moneyCell(r.p50, { class: "num rollup-p50" }),
    el("td", { class: "rollup-note" }, over ? el("span", { class: "badge warn" }, "amounts exceed the parent's") : null),
  );
}

function markNamed() {
  const name = new URLSearchParams(location.search).get("name");
  if (!name) return;
  const row = document.getElementById(`budget-${name}`);
  if (row) {
    row.classList.add("current");
    row.scrollIntoView({ block: "center" });
  }
}

// ------------------------------------------------------------------ the charts

async function renderCharts(budgets) {
  const box = $("#budget-charts");
  box.replaceChildren();
  await Promise.all(budgets.map((b, i) => renderChart(box, b, i)));
}

async function renderChart(box, b, index) {
  const chart = el("div", { class: "chart short is-loading", id: `budget-chart-${index}`, dataset: { budget: b.name }, role: "img", "aria-label": `${b.name}: cumulative month to date, forecast band and amount` });
  const note = el("div", { class: "panel-note chart-note" });
  const label = b.scope_label || b.scope;
  const panel = el(
    "section",
    { class: "panel budget-chart", dataset: { budget: b.name } },
    el("div", { class: "panel-head" }, el("h2", {}, b.name), el("span", { class: "panel-note" }, label), el("span", { class: "spacer" }), el("span", { class: "badge info" }, b.basis_label)),
    chart,
    note,
  );
  box.append(panel);
  const notes = (b.notes || []).map(sentence);
  if (b.month_to_date === null) {
    chartEmpty(chart, "Its scope cannot be read.");
    note.replaceChildren(...notes.map((n) => el("div", {}, n)));
    return;
  }
  try {
    const series = await monthSeries(b);
    await drawChart(chart, budgetTraces(b, series), budgetLayout(b));
    if (b.provisional_from) notes.unshift(`Days from ${fmtDate(b.provisional_from)} are provisional: not counted yet, forecast instead.`);
    note.replaceChildren(...notes.map((n) => el("div", {}, n)));
  } catch (err) {
    chart.classList.remove("is-loading");
    chart.replaceChildren(panelError(err));
  }
}

/** The budget's month: its complete days (cost, from the explorer, filtered on the scope as the
 *  forecast resolved it) and the forecast's remaining days. */
async function monthSeries(b) {
  const since = b.month + "-01";
  const fc = await api("/api/v1/forecast", { params: { scope: b.scope } });
  const out = { since, days: [], values: [], forecast: fc.forecast.days || [] };
  if (b.complete_through && b.complete_through >= since) {
    const params = new URLSearchParams({ metric: "cost", granularity: "day", since, until: addDays(b.complete_through, 1) });
    if (fc.scope !== "organization") params.append("filter", fc.scope);
    const ex = await api("/api/v1/explore", { params });
    const total = (ex.series || [])[0];
    out.days = ex.periods || [];
    out.values = out.days.map((_, i) => (total ? total.values[i] ?? "0" : "0"));
  }
  return out;
}

/** Running sums, exact (decimal text). */
function cumulative(start, values) {
  const out = [];
  let acc = start;
  for (const v of values) {
    acc = sumDecimals([acc, v ?? "0"]);
    out.push(acc);
  }
  return out;
}

function budgetTraces(b, s) {
  const monthEnd = addDays(monthStart(s.since, 1), -1);
  const mtd = cumulative("0", s.values);
  const traces = [];
  if (s.days.length) {
    traces.push({
      type: "scatter", mode: "lines+markers", name: "Month to date", x: s.days, y: mtd.map(Number),
      customdata: mtd.map((v) => fmtMoney(v)), line: { color: ACCENT, width: 2 }, marker: { size: 4, color: ACCENT },
      fill: "tozeroy", fillcolor: "rgba(59, 91, 219, 0.10)", hovertemplate: "%{customdata}<extra>month to date</extra>",
    });
  }
  const days = s.forecast;
  if (days.length) {
    const anchorDay = s.days.length ? s.days[s.days.length - 1] : addDays(s.since, -1);
    const anchor = mtd.length ? mtd[mtd.length - 1] : "0";
    const x = [anchorDay, ...days.map((d) => d.day)];
    const run = (key) => [anchor, ...cumulative(anchor, days.map((d) => d[key]))];
    const p50 = run("p50");
    if (days.every((d) => d.p10 !== null && d.p90 !== null)) {
      const p10 = run("p10");
      const p90 = run("p90");
      traces.push(
        { type: "scatter", mode: "lines", name: "Forecast P90", x, y: p90.map(Number), line: { color: FORECAST, width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: "band" },
        {
          type: "scatter", mode: "lines", name: "Forecast P10–P90", x, y: p10.map(Number), line: { color: FORECAST, width: 0 },
          fill: "tonexty", fillcolor: "rgba(112, 72, 232, 0.18)", hoverinfo: "skip", legendgroup: "band",
        },
      );
    }
    traces.push({
      type: "scatter", mode: "lines", name: "Forecast P50", x, y: p50.map(Number), customdata: p50.map((v) => fmtMoney(v)),
      line: { color: FORECAST, width: 2, dash: "dash" }, hovertemplate: "%{customdata}<extra>forecast</extra>",
    });
  }
  if (b.amount !== null) {
    traces.push({
      type: "scatter", mode: "lines", name: "Budget", x: [addDays(s.since, -1), monthEnd], y: [Number(b.amount), Number(b.amount)],
      customdata: [fmtMoney(b.amount), fmtMoney(b.amount)], line: { color: BUDGET_LINE, width: 1.5, dash: "dot" },
      hovertemplate: "%{customdata}<extra>budget</extra>",
    });
  }
  return traces;
}

function budgetLayout(b) {
  const since = b.month + "-01";
  return baseLayout({
    xaxis: Object.assign(timeAxis("day"), { range: [addDays(since, -1), addDays(monthStart(since, 1), -1)] }),
    yaxis: valueAxis("usd"),
    hovermode: "x unified",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: -0.18, yanchor: "top" },
    margin: { b: 56 },
  });
}

// ------------------------------------------------------------------ Anthropic spend caps

const CAP_STATUS = {
  missing_scope: "its key cannot read spend limits (a scope is missing)",
  not_enterprise: "spend limits exist on Enterprise organizations only",
  never: "spend limits have not been read yet: the next sync reads them",
};
const SOURCES = { user: "member's own", seat_tier: "seat tier", rbac_group: "group", organization: "organization default" };

function capMoney(value, currency) {
  if (currency && currency !== "USD") return `${value} ${currency}`;
  return fmtMoney(value);
}

function renderCaps(caps) {
  const messages = $("#caps-messages");
  const wrap = $("#caps-wrap");
  const note = $("#caps-note");
  const panel = $("#caps-panel");
  if (caps.missing || caps.failed) {
    panel.dataset.state = caps.missing ? "unavailable" : "error";
    wrap.hidden = true;
    note.textContent = "";
    messages.replaceChildren(
      caps.missing ? el("div", { class: "message info", id: "caps-unavailable" }, "Anthropic spend caps are not available on this server.") : panelError(caps.failed),
    );
    return;
  }
  const s = caps.found;
  panel.dataset.state = "ok";
  note.textContent = s.snapshot_date ? `As read on ${fmtDate(s.snapshot_date)}` : "Not read yet";
  messages.replaceChildren(
    ...(s.connections || [])
      .filter((c) => c.status !== "ok")
      .map((c) => el("div", { class: "message info caps-message", dataset: { connection: c.connection, status: c.status } }, `${c.connection}: `, c.message || CAP_STATUS[c.status] || c.status)),
  );
  const members = s.members || [];
  wrap.hidden = !members.length && (s.connections || []).some((c) => c.status !== "ok");
  const rows = members.map((m) => {
    const name = m.name || m.email || m.user_id;
    const amount = m.amount === null ? el("td", { class: "num cap-amount", dataset: { value: "" } }, "no cap") : el("td", { class: "num cap-amount", title: metricExact(m.amount, "usd"), dataset: { value: m.amount } }, capMoney(m.amount, m.currency));
    const spend = m.spend === null
      ? el("td", { class: "num cap-spend", dataset: { value: "" }, title: "Anthropic does not report this member's spend" }, "unknown")
      : el("td", { class: "num cap-spend", title: metricExact(m.spend, "usd"), dataset: { value: m.spend } }, capMoney(m.spend, m.currency));
    return el(
      "tr",
      { dataset: { member: m.user_id, connection: m.connection } },
      el("th", { scope: "row", class: "cell-label cap-member", title: name }, name, m.name && m.email ? subLine(m.email) : null),
      el("td", { class: "cell-label" }, m.connection),
      amount,
      spend,
      el("td", { class: "cap-used" }, m.percent === null ? "—" : usageBar(m.percent, { label: `${name}'s spend as a share of the cap` })),
      el("td", { class: "cap-source" }, SOURCES[m.source] || m.source, subLine(m.source_detail || "")),
    );
  });
  setTableBody($("#caps-table"), rows, "No member has an Anthropic spend cap.");
  const near = members.filter((m) => (percentFraction(m.percent) ?? 0) >= 0.8).length;
  if (near) note.textContent += ` · ${near} at ${fmtPct(0.8, 0)} or more of their cap`;
}
