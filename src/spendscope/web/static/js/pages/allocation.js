/* Allocation (/allocation): spend by an allocation dimension (team, cost_center, …) over time,
 * how much of it is allocated (the coverage gauge, the unallocated cost by reason), the rules
 * version and the mappings in force, and a form that imports a mappings CSV. The view lives in
 * the address (dimension, since, until, granularity). */

import { api, ApiError, clearPageError, renderError, showPageError } from "../api.js";
import {
  baseLayout,
  chartEmpty,
  chartLoading,
  drawChart,
  groupColor,
  isProvisional,
  periodEnd,
  provisionalShapes,
  timeAxis,
  valueAxis,
} from "../charts.js";
import { dateValue, explorerUrl, fillAutoDate, rangeStateFromUrl, setDateInput, writeUrl } from "../controls.js";
import { $, el, ensureOption, setReady } from "../dom.js";
import { addDays, dayMs, fmtDate, fmtDateTime, fmtMoney, fmtMonth, fmtPct, metricExact, metricText, sumDecimals, validDay } from "../format.js";
import { labelCell, setTableBody, shareCell, valueCell } from "../tables.js";

const MAX_MAPPINGS_SHOWN = 500;
const alloc = { seq: 0, state: null, today: null };

export async function pageAllocation() {
  setReady(false);
  alloc.state = rangeStateFromUrl({ dimension: "", granularity: "day" });
  for (const id of ["#allocation-dimension", "#allocation-since", "#allocation-until", "#allocation-granularity"]) {
    $(id).addEventListener("change", () => {
      alloc.state = readControls();
      writeUrl(alloc.state);
      loadAllocation();
    });
  }
  window.addEventListener("popstate", () => {
    alloc.state = rangeStateFromUrl({ dimension: "", granularity: "day" });
    loadAllocation();
  });
  initImportForm();
  await loadAllocation();
}

function readControls() {
  return {
    dimension: $("#allocation-dimension").value,
    since: dateValue($("#allocation-since")),
    until: dateValue($("#allocation-until")),
    granularity: $("#allocation-granularity").value,
  };
}

function applyControls(st, meta, dims) {
  $("#allocation-dimension").replaceChildren(...dims.map((d) => el("option", { value: d.name }, d.label)));
  $("#allocation-dimension").value = st.dimension;
  $("#allocation-granularity").replaceChildren(...meta.granularities.map((g) => el("option", { value: g }, g[0].toUpperCase() + g.slice(1))));
  ensureOption($("#allocation-granularity"), st.granularity);
  $("#allocation-granularity").value = st.granularity;
  setDateInput($("#allocation-since"), st.since);
  setDateInput($("#allocation-until"), st.until);
}

/** Everything on the page, for the state in the address. Meta is read anew each time: an
 *  import can add a dimension. */
async function loadAllocation() {
  const seq = ++alloc.seq;
  setReady(false);
  try {
    const meta = await api("/api/v1/meta");
    if (seq !== alloc.seq) return;
    alloc.today = meta.today;
    const dims = (meta.dimensions || []).filter((d) => d.allocation);
    const configured = dims.length > 0;
    $("#allocation-empty").hidden = configured;
    $("#allocation-content").hidden = !configured;
    document.body.dataset.allocation = configured ? "configured" : "none";
    if (!configured) {
      clearPageError();
      setReady(true);
      return;
    }
    const st = alloc.state;
    if (!dims.some((d) => d.name === st.dimension)) {
      st.dimension = dims[0].name;
      writeUrl(st, false);
    }
    applyControls(st, meta, dims);
    const label = dims.find((d) => d.name === st.dimension).label;
    chartLoading($("#allocation-chart"));
    const params = { metric: "cost", group_by: st.dimension, granularity: st.granularity, limit: "10" };
    if (st.since) params.since = st.since;
    if (st.until) params.until = st.until;
    const [data, rules, mappings] = await Promise.all([
      api("/api/v1/explore", { params }),
      api("/api/v1/allocation/rules"),
      api("/api/v1/allocation/mappings", { params: { as_of: meta.today, dimension: st.dimension } }),
    ]);
    const coverage = await api("/api/v1/allocation/coverage", { params: { since: data.since, until: data.until, dimension: st.dimension } });
    if (seq !== alloc.seq) return;
    clearPageError();
    fillAutoDate($("#allocation-since"), data.since);
    fillAutoDate($("#allocation-until"), data.until);
    $("#page-sub").textContent = `${label}: ${fmtDate(data.since)} – ${fmtDate(addDays(data.until, -1))}`;
    $("#allocation-chart-title").textContent = `Billed cost by ${label.toLowerCase()}`;
    $("#allocation-explore").href = explorerUrl({ ...params, since: data.since, until: data.until });
    await renderChart(data);
    renderCoverage(coverage.months || []);
    renderRules(rules);
    renderMappings(mappings.mappings || [], label);
    if (seq === alloc.seq) setReady(true);
  } catch (err) {
    if (seq === alloc.seq) showPageError(err);
  }
}

// spend over time

async function renderChart(data) {
  const box = $("#allocation-chart");
  const series = new Map((data.series || []).map((s) => [s.key, s]));
  const groups = (data.groups || []).slice().sort((a, b) => (a.key === "__other__") - (b.key === "__other__"));
  const periods = data.periods || [];
  if (!periods.length || !groups.length || !Number(data.total)) {
    chartEmpty(box, "No spend in this range.");
    return;
  }
  const starts = periods.map(dayMs);
  const provisional = periods.map((p, i) => isProvisional(p, i + 1 < starts.length ? starts[i + 1] : periodEnd(p, data.granularity), data.provisional_from));
  const traces = groups.map((g, i) => {
    const values = (series.get(g.key) || { values: [] }).values;
    return {
      type: "bar",
      name: g.label,
      x: periods,
      y: values.map((v) => Number(v)),
      customdata: values.map((v) => metricText(v, "usd")),
      marker: { color: groupColor(g.key, i), opacity: provisional.map((p) => (p ? 0.6 : 1)) },
      hovertemplate: "%{customdata}",
      meta: { key: g.key },
    };
  });
  const shade = provisionalShapes(periods, data.provisional_from, data.granularity);
  const layout = baseLayout({
    barmode: "stack",
    bargap: 0.15,
    hovermode: "x unified",
    xaxis: timeAxis(data.granularity),
    yaxis: valueAxis("usd"),
    showlegend: true,
    legend: { traceorder: "normal", orientation: "v", x: 1.01, xanchor: "left", y: 1 },
    shapes: shade.shapes,
    annotations: shade.annotations,
    margin: { r: 8, t: shade.shapes.length ? 22 : 10 },
  });
  await drawChart(box, traces, layout);
}

// coverage

function ratio(part, total) {
  const t = Number(total);
  return t ? Number(part) / t : 0;
}

function renderCoverage(months) {
  const total = sumDecimals(months.map((m) => m.total));
  const allocated = sumDecimals(months.map((m) => m.allocated));
  const unallocated = sumDecimals(months.map((m) => m.unallocated));
  const share = ratio(allocated, total);
  const shown = $("#coverage-share");
  shown.textContent = months.length ? fmtPct(share) : "—";
  shown.dataset.value = months.length ? String(share) : "";
  shown.title = `${metricExact(allocated, "usd")} of ${metricExact(total, "usd")}`;
  const gauge = $("#coverage-gauge");
  gauge.setAttribute("aria-valuenow", (share * 100).toFixed(1));
  gauge.setAttribute("aria-valuetext", fmtPct(share));
  $("#coverage-gauge-fill").style.width = `${(Math.max(0, Math.min(1, share)) * 100).toFixed(2)}%`;
  $("#coverage-sub").replaceChildren(
    el("span", { id: "coverage-allocated", title: metricExact(allocated, "usd"), dataset: { value: allocated } }, fmtMoney(allocated)),
    " allocated of ",
    el("span", { id: "coverage-total", title: metricExact(total, "usd"), dataset: { value: total } }, fmtMoney(total)),
    " · ",
    el("span", { id: "coverage-unallocated", title: metricExact(unallocated, "usd"), dataset: { value: unallocated } }, fmtMoney(unallocated)),
    " unallocated",
  );
  setTableBody(
    $("#coverage-table"),
    months.map((m) =>
      el(
        "tr",
        { dataset: { month: m.month } },
        el("td", {}, fmtMonth(m.month)),
        valueCell(m.total, "usd", "cov-total"),
        valueCell(m.allocated, "usd", "cov-allocated"),
        valueCell(m.unallocated, "usd", "cov-unallocated"),
        shareCell(m.allocated_share),
      ),
    ),
    "No spend in this range.",
  );
  const reasons = new Map();
  for (const m of months) {
    for (const r of m.unallocated_by_reason || []) {
      if (!reasons.has(r.reason)) reasons.set(r.reason, { reason: r.reason, label: r.label, costs: [] });
      reasons.get(r.reason).costs.push(r.cost);
    }
  }
  const rows = [...reasons.values()].map((r) => ({ ...r, cost: sumDecimals(r.costs) }));
  rows.sort((a, b) => Number(b.cost) - Number(a.cost));
  setTableBody(
    $("#unallocated-table"),
    rows.map((r) =>
      el(
        "tr",
        { dataset: { reason: r.reason } },
        labelCell(r.label, r.reason),
        valueCell(r.cost, "usd"),
        shareCell(ratio(r.cost, total)),
      ),
    ),
    months.length ? "Everything in this range is allocated." : "No spend in this range.",
  );
}

// rules and mappings

function renderRules(rules) {
  const current = rules.in_force;
  const note = $("#rules-current");
  note.dataset.version = current ? String(current.version) : "";
  if (current) {
    const until = current.effective_until ? ` until ${fmtDate(addDays(current.effective_until, -1))}` : "";
    note.textContent = `Version ${current.version} in force: from ${fmtDate(current.effective_from)}${until} (${current.source})`;
    $("#rules-toml").textContent = current.rules_toml;
  } else {
    note.textContent = "No rules version is in force today: mappings and defaults only.";
  }
  $("#rules-toml-box").hidden = !current;
  setTableBody(
    $("#rules-versions"),
    (rules.versions || []).map((v) => {
      const inForce = current && current.version === v.version;
      return el(
        "tr",
        { class: inForce ? "current" : null, dataset: { version: String(v.version) } },
        el("td", { class: "num" }, String(v.version)),
        el("td", {}, fmtDate(v.effective_from), inForce ? el("span", { class: "badge ok" }, "in force") : null),
        el("td", {}, (v.dimensions || []).join(", ")),
        el("td", { class: "cell-label", title: v.source }, v.source),
        el("td", { title: v.installed_at }, fmtDateTime(v.installed_at)),
      );
    }),
    "No rules installed (spendscope allocation rules set rules.toml installs a version).",
  );
}

function renderMappings(mappings, label) {
  $("#mappings-title").textContent = `${label} mappings in force today`;
  const shown = mappings.slice(0, MAX_MAPPINGS_SHOWN);
  $("#mappings-note").textContent = mappings.length > shown.length ? `the first ${shown.length} of ${mappings.length}` : `${mappings.length} in force on ${fmtDate(alloc.today)}`;
  setTableBody(
    $("#mappings-table"),
    shown.map((m) =>
      el(
        "tr",
        { dataset: { key: m.key } },
        el("td", {}, m.subject_type),
        el("td", { class: "cell-label", title: m.subject }, m.subject),
        el("td", { class: "cell-label", title: m.value }, m.value),
        el("td", {}, fmtDate(m.valid_from)),
        el("td", {}, m.valid_to ? fmtDate(m.valid_to) : "open"),
        el("td", { class: "cell-label", title: m.source }, m.source),
      ),
    ),
    "No mapping in force today for this dimension.",
  );
}

// import

function initImportForm() {
  const form = $("#import-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errBox = $("#import-error");
    const okBox = $("#import-result");
    errBox.hidden = true;
    okBox.hidden = true;
    const file = $("#import-file").files[0];
    let text;
    try {
      text = file ? await file.text() : $("#import-text").value;
    } catch (_) {
      renderError(errBox, new ApiError(0, "unreadable", `${file.name} cannot be read.`, "Choose the file again, or paste its rows."));
      return;
    }
    if (!text.trim()) {
      renderError(errBox, new ApiError(0, "invalid", "Choose a CSV file or paste its rows.", "The first line is the header: subject_type,subject,dimension,value,valid_from,valid_to."));
      return;
    }
    const body = { format: "csv", name: file ? file.name : "pasted text", text };
    const backfill = $("#import-backfill").value;
    if (validDay(backfill)) body.backfill_from = backfill;
    const submit = $("#import-submit");
    submit.disabled = true;
    $("#import-progress").hidden = false;
    try {
      const r = await api("/api/v1/allocation/mappings", { method: "POST", body });
      form.reset();
      await loadAllocation();
      okBox.replaceChildren(r.message);
      okBox.hidden = false;
    } catch (err) {
      renderError(errBox, err);
    } finally {
      submit.disabled = false;
      $("#import-progress").hidden = true;
    }
  });
}
