/* Explorer (/explorer): any metric by any dimension over time. The whole view lives in the
 * address (metric, group_by, granularity, since, until, filter=dim:value, limit, periods). */

import { api, clearPageError, dimensionLabel, getMeta, renderError, showPageError } from "../api.js";
import {
  ACCENT,
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
import { dateValue, fillAutoDate, setDateInput } from "../controls.js";
import { $, $$, el, ensureOption, setReady } from "../dom.js";
import {
  addDays,
  dayMs,
  fmtDate,
  fmtMonth,
  metricExact,
  metricText,
  monthStart,
  sumDecimals,
} from "../format.js";
import { setTableBody, setTableLoading, shareCell, valueCell } from "../tables.js";

const EXPLORER_DEFAULT_GROUP = "model";
const SPECIAL_KEYS = new Set(["__other__", "__total__"]);

const explorer = {
  meta: null,
  state: null,
  data: null,
  seq: 0,
  abort: null,
  labels: new Map(), // "dim:key" → label
  dimValues: new Map(), // cache key → values
};

function explorerStateFromUrl() {
  const q = new URLSearchParams(location.search);
  const filters = [];
  for (const f of q.getAll("filter")) {
    const i = f.indexOf(":");
    if (i > 0) filters.push({ dim: f.slice(0, i), value: f.slice(i + 1) });
  }
  return {
    metric: q.get("metric") || "cost",
    group_by: q.has("group_by") ? q.get("group_by") : EXPLORER_DEFAULT_GROUP,
    granularity: q.get("granularity") || "day",
    since: q.get("since") || "",
    until: q.get("until") || "",
    limit: q.get("limit") || "10",
    filters,
    periods: q.get("periods") === "1",
  };
}

/** The API parameters of a state (also the explorer's own query string, plus `periods`). */
function explorerApiParams(st) {
  const p = new URLSearchParams();
  p.set("metric", st.metric);
  p.set("group_by", st.group_by || "");
  p.set("granularity", st.granularity);
  if (st.since) p.set("since", st.since);
  if (st.until) p.set("until", st.until);
  for (const f of st.filters) p.append("filter", `${f.dim}:${f.value}`);
  p.set("limit", st.limit);
  return p;
}

function explorerPageParams(st) {
  const p = explorerApiParams(st);
  if (st.periods) p.set("periods", "1");
  return p;
}

function explorerApplyControls(st) {
  const meta = explorer.meta;
  ensureOption($("#metric"), st.metric);
  $("#metric").value = st.metric;
  ensureOption($("#group-by"), st.group_by);
  $("#group-by").value = st.group_by;
  ensureOption($("#granularity"), st.granularity);
  $("#granularity").value = st.granularity;
  setDateInput($("#since"), st.since);
  setDateInput($("#until"), st.until);
  ensureOption($("#limit"), st.limit);
  $("#limit").value = st.limit;
  $("#show-periods").checked = st.periods;
  renderChips(st, meta);
}

function explorerStateFromControls() {
  return {
    metric: $("#metric").value,
    group_by: $("#group-by").value,
    granularity: $("#granularity").value,
    since: dateValue($("#since")),
    until: dateValue($("#until")),
    limit: $("#limit").value,
    filters: explorer.state.filters.slice(),
    periods: $("#show-periods").checked,
  };
}

function explorerNavigate(st, { push = true } = {}) {
  explorer.state = st;
  const url = location.pathname + "?" + explorerPageParams(st).toString();
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  explorerApplyControls(st);
  return explorerLoad();
}

function renderChips(st, meta) {
  const box = $("#filter-chips");
  if (!st.filters.length) {
    box.replaceChildren(el("span", { class: "chips-empty" }, "No filters"));
    return;
  }
  box.replaceChildren(
    ...st.filters.map((f, i) => {
      const label = explorer.labels.get(`${f.dim}:${f.value}`) || (f.value === "__none__" ? "(none)" : f.value);
      const dimLabel = dimensionLabel(meta, f.dim);
      return el(
        "span",
        { class: "chip", dataset: { filter: `${f.dim}:${f.value}` }, title: `${dimLabel} = ${label} (${f.value})` },
        el("span", { class: "chip-text" }, el("span", { class: "chip-dim" }, dimLabel + ": "), label),
        el("button", {
          type: "button",
          "aria-label": `Remove filter ${dimLabel} ${label}`,
          onclick: () => {
            const next = Object.assign({}, explorer.state, { filters: explorer.state.filters.filter((_, j) => j !== i) });
            explorerNavigate(next);
          },
        }, "×"),
      );
    }),
  );
}

async function dimensionValues(dim, st) {
  const params = new URLSearchParams({ metric: st.metric });
  if (st.since) params.set("since", st.since);
  if (st.until) params.set("until", st.until);
  const cacheKey = `${dim}?${params}`;
  if (!explorer.dimValues.has(cacheKey)) {
    const p = api(`/api/v1/dimensions/${encodeURIComponent(dim)}/values`, { params }).then((r) => {
      for (const v of r.values || []) explorer.labels.set(`${dim}:${v.key}`, v.label);
      return r.values || [];
    });
    explorer.dimValues.set(cacheKey, p);
    p.catch(() => explorer.dimValues.delete(cacheKey));
  }
  return explorer.dimValues.get(cacheKey);
}

/** Make sure every active filter chip has a human label (fetches the dimension's values). */
async function resolveChipLabels(st) {
  const missing = [...new Set(st.filters.filter((f) => !explorer.labels.has(`${f.dim}:${f.value}`)).map((f) => f.dim))];
  if (!missing.length) return;
  await Promise.all(missing.map((dim) => dimensionValues(dim, st).catch(() => [])));
  renderChips(explorer.state, explorer.meta);
}

async function explorerLoad() {
  const st = explorer.state;
  const seq = ++explorer.seq;
  if (explorer.abort) explorer.abort.abort();
  const ctrl = new AbortController();
  explorer.abort = ctrl;
  setReady(false);
  chartLoading($("#explorer-chart"));
  setTableLoading($("#explorer-table"));
  const params = explorerApiParams(st);
  $("#csv-link").href = "/api/v1/explore.csv?" + params.toString();
  try {
    const [data] = await Promise.all([api("/api/v1/explore", { params, signal: ctrl.signal }), resolveChipLabels(st)]);
    if (seq !== explorer.seq) return;
    clearPageError();
    explorer.data = data;
    if (data.group_by) for (const g of data.groups || []) if (!SPECIAL_KEYS.has(g.key)) explorer.labels.set(`${data.group_by}:${g.key}`, g.label);
    renderChips(st, explorer.meta);
    // show the range the API actually used without pinning it in the URL
    fillAutoDate($("#since"), data.since);
    fillAutoDate($("#until"), data.until);
    renderExplorerSummary(data);
    await renderExplorerChart(data);
    if (seq !== explorer.seq) return;
    renderExplorerTable(data, st);
    $("#explorer-table").removeAttribute("aria-busy");
    setReady(true);
  } catch (err) {
    if (err && err.name === "AbortError") return;
    if (seq !== explorer.seq) return;
    showPageError(err);
    $("#explorer-table").removeAttribute("aria-busy");
  }
}

/** Groups and series in display order: biggest first, "Other" last. */
function orderedGroups(data) {
  const series = new Map((data.series || []).map((s) => [s.key, s]));
  const groups = (data.groups || []).slice();
  groups.sort((a, b) => (a.key === "__other__") - (b.key === "__other__"));
  return groups.map((g, i) => ({
    ...g,
    values: (series.get(g.key) || { values: [] }).values,
    color: data.group_by ? groupColor(g.key, i) : ACCENT,
  }));
}

function renderExplorerSummary(data) {
  const total = $("#explorer-total");
  total.textContent = metricText(data.total, data.unit);
  total.dataset.value = String(data.total ?? "");
  total.title = metricExact(data.total, data.unit);
  $("#explorer-total-label").textContent = data.metric_label || data.metric;
  const until = data.until ? addDays(data.until, -1) : null;
  $("#explorer-range").textContent = `${fmtDate(data.since)} – ${fmtDate(until)} · ${data.periods.length} ${data.granularity}${data.periods.length === 1 ? "" : "s"}`;
  const notes = [...(data.notes || [])];
  if (data.provisional_from) notes.unshift(`Days from ${fmtDate(data.provisional_from)} are provisional and may still change (shaded).`);
  const ul = $("#explorer-notes");
  ul.replaceChildren(...notes.map((n) => el("li", {}, n)));
  ul.hidden = !notes.length;
}

async function renderExplorerChart(data) {
  const box = $("#explorer-chart");
  const groups = orderedGroups(data);
  const periods = data.periods || [];
  if (!periods.length || !groups.length) {
    chartEmpty(box, "No data for this selection.");
    return;
  }
  const starts = periods.map(dayMs);
  const provisional = periods.map((p, i) => isProvisional(p, i + 1 < starts.length ? starts[i + 1] : periodEnd(p, data.granularity), data.provisional_from));
  const traces = groups.map((g) => ({
    type: "bar",
    name: g.label,
    x: periods,
    y: g.values.map((v) => Number(v)),
    customdata: g.values.map((v) => metricText(v, data.unit)),
    marker: { color: g.color, opacity: provisional.map((p) => (p ? 0.6 : 1)) },
    hovertemplate: "%{customdata}",
    meta: { key: g.key },
  }));
  const shade = provisionalShapes(periods, data.provisional_from, data.granularity);
  const layout = baseLayout({
    barmode: "stack",
    bargap: 0.15,
    hovermode: "x unified",
    xaxis: timeAxis(data.granularity),
    yaxis: Object.assign(valueAxis(data.unit), { title: { text: data.metric_label || data.metric, font: { size: 12, color: "#5f6b7c" } } }),
    showlegend: !!data.group_by,
    legend: { traceorder: "normal", orientation: "v", x: 1.01, xanchor: "left", y: 1, itemclick: "toggle", itemdoubleclick: "toggleothers" },
    shapes: shade.shapes,
    annotations: shade.annotations,
    margin: { r: data.group_by ? 8 : 16, t: shade.shapes.length ? 22 : 10 },
  });
  await drawChart(box, traces, layout);
}

function renderExplorerTable(data, st) {
  const table = $("#explorer-table");
  const groups = orderedGroups(data);
  const periods = st.periods ? data.periods || [] : [];
  table.classList.toggle("with-periods", periods.length > 0);
  const dimLabel = data.group_by ? dimensionLabel(explorer.meta, data.group_by) : "Group";
  $("#explorer-table-title").textContent = data.group_by ? `By ${dimLabel.toLowerCase()}` : "Total";
  const clickable = !!data.group_by;
  $("#explorer-table-hint").textContent = clickable ? "click a row to filter to it" : "";
  const periodHead = (p) => (data.granularity === "month" ? fmtMonth(p) : fmtDate(p, false));
  table.tHead.replaceChildren(
    el(
      "tr",
      {},
      el("th", {}, dimLabel),
      el("th", {}, "Key"),
      el("th", { class: "num" }, "Total"),
      el("th", {}, "Share"),
      periods.map((p) => el("th", { class: "num", title: p }, periodHead(p))),
    ),
  );
  const rows = groups.map((g) => {
    const canFilter = clickable && !SPECIAL_KEYS.has(g.key) && !st.filters.some((f) => f.dim === data.group_by && f.value === g.key);
    return el(
      "tr",
      {
        class: canFilter ? "clickable" : null,
        dataset: { key: g.key, label: g.label },
        title: canFilter ? `Filter to ${g.label}` : null,
        onclick: canFilter
          ? () => {
              explorer.labels.set(`${data.group_by}:${g.key}`, g.label);
              const next = Object.assign({}, explorer.state, { filters: [...explorer.state.filters, { dim: data.group_by, value: g.key }] });
              explorerNavigate(next);
            }
          : null,
      },
      el("td", { class: "cell-label group-label", title: g.label }, el("span", { class: "swatch", style: { background: g.color } }), g.label),
      el("td", { class: "cell-label", title: g.key }, SPECIAL_KEYS.has(g.key) || g.key === g.label ? "" : el("code", {}, g.key)),
      valueCell(g.total, data.unit, "group-total"),
      shareCell(g.share, g.color),
      periods.map((_, i) => valueCell(g.values[i] ?? 0, data.unit)),
    );
  });
  setTableBody(table, rows);
  const foot = table.tFoot || table.createTFoot();
  foot.replaceChildren(
    groups.length
      ? el(
          "tr",
          {},
          el("td", {}, "Total"),
          el("td", {}),
          valueCell(data.total, data.unit),
          el("td", {}, ""),
          periods.map((_, i) => {
            let sumExact = null;
            if (data.unit !== "usd") sumExact = groups.reduce((a, g) => a + Number(g.values[i] || 0), 0);
            else sumExact = sumDecimals(groups.map((g) => g.values[i] ?? "0"));
            return valueCell(sumExact, data.unit);
          }),
        )
      : null,
  );
}

// filter picker

function initFilterPicker() {
  const panel = $("#filter-panel");
  const open = $("#filter-open");
  const dimSel = $("#filter-dim");
  const list = $("#filter-values");
  const search = $("#filter-search");
  let values = [];

  const renderValues = () => {
    const q = search.value.trim().toLowerCase();
    const active = new Set(explorer.state.filters.filter((f) => f.dim === dimSel.value).map((f) => f.value));
    const shown = values.filter((v) => !q || String(v.label).toLowerCase().includes(q) || String(v.key).toLowerCase().includes(q));
    const unit = (explorer.meta.metrics.find((m) => m.name === explorer.state.metric) || {}).unit;
    list.replaceChildren(
      ...(shown.length
        ? shown.map((v) =>
            el(
              "label",
              { title: `${v.label} (${v.key})` },
              el("input", { type: "checkbox", value: v.key, checked: active.has(v.key), disabled: active.has(v.key), dataset: { label: v.label } }),
              el("span", { class: "pv-label" }, v.label),
              el("span", { class: "pv-total num", title: metricExact(v.total, unit) }, metricText(v.total, unit)),
            ),
          )
        : [el("div", { class: "chips-empty picker-empty" }, values.length ? "No value matches." : "No values in this range.")]),
    );
  };

  const loadValues = async () => {
    list.replaceChildren(el("div", { class: "chips-empty picker-empty" }, el("span", { class: "spinner" }), " Loading…"));
    try {
      values = await dimensionValues(dimSel.value, explorer.state);
      renderValues();
    } catch (err) {
      const box = el("div", { class: "message error" });
      renderError(box, err);
      list.replaceChildren(box);
    }
  };

  const close = () => {
    panel.hidden = true;
    open.setAttribute("aria-expanded", "false");
  };

  open.addEventListener("click", () => {
    if (!panel.hidden) return close();
    panel.hidden = false;
    open.setAttribute("aria-expanded", "true");
    if (explorer.state.group_by && [...dimSel.options].some((o) => o.value === explorer.state.group_by)) dimSel.value = explorer.state.group_by;
    search.value = "";
    loadValues();
    dimSel.focus();
  });
  dimSel.addEventListener("change", () => {
    search.value = "";
    loadValues();
  });
  search.addEventListener("input", renderValues);
  $("#filter-cancel").addEventListener("click", close);
  $("#filter-add").addEventListener("click", () => {
    const picked = $$("input[type=checkbox]:checked:not(:disabled)", list);
    close();
    if (!picked.length) return;
    const dim = dimSel.value;
    for (const cb of picked) explorer.labels.set(`${dim}:${cb.value}`, cb.dataset.label);
    const next = Object.assign({}, explorer.state, { filters: [...explorer.state.filters, ...picked.map((cb) => ({ dim, value: cb.value }))] });
    explorerNavigate(next);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) close();
  });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !$("#filter-picker").contains(e.target)) close();
  });
}

function rangePreset(name, today) {
  const tomorrow = addDays(today, 1);
  switch (name) {
    case "7d":
      return [addDays(tomorrow, -7), tomorrow];
    case "30d":
      return [addDays(tomorrow, -30), tomorrow];
    case "90d":
      return [addDays(tomorrow, -90), tomorrow];
    case "mtd":
      return [monthStart(today), tomorrow];
    case "last-month":
      return [monthStart(today, -1), monthStart(today)];
    case "12m":
      return [monthStart(today, -11), tomorrow];
    default:
      return null;
  }
}

/** The dimensions as options: the built-in ones, then the allocation dimensions (team, …) in a
 *  group of their own. */
function dimensionOptions(meta) {
  const option = (d) => el("option", { value: d.name }, d.label);
  const allocated = meta.dimensions.filter((d) => d.allocation);
  const options = meta.dimensions.filter((d) => !d.allocation).map(option);
  if (allocated.length) options.push(el("optgroup", { label: "Allocation" }, allocated.map(option)));
  return options;
}

export async function pageExplorer() {
  setReady(false);
  let meta;
  try {
    meta = await getMeta();
  } catch (err) {
    showPageError(err);
    return;
  }
  explorer.meta = meta;
  $("#metric").replaceChildren(...meta.metrics.map((m) => el("option", { value: m.name }, m.label)));
  $("#group-by").replaceChildren(el("option", { value: "" }, "None (total)"), ...dimensionOptions(meta));
  $("#granularity").replaceChildren(...meta.granularities.map((g) => el("option", { value: g }, g[0].toUpperCase() + g.slice(1))));
  $("#limit").replaceChildren(...["5", "10", "15", "20", "30", "50"].map((n) => el("option", { value: n }, `Top ${n}`)));
  $("#filter-dim").replaceChildren(...dimensionOptions(meta));

  const onChange = () => {
    const st = explorerStateFromControls();
    // a metric or date change can change which filter labels apply — keep filters as they are
    explorerNavigate(st);
  };
  for (const id of ["#metric", "#group-by", "#granularity", "#limit", "#since", "#until"]) $(id).addEventListener("change", onChange);
  $("#show-periods").addEventListener("change", () => {
    explorer.state = explorerStateFromControls();
    history.replaceState(null, "", location.pathname + "?" + explorerPageParams(explorer.state).toString());
    if (explorer.data) renderExplorerTable(explorer.data, explorer.state);
  });
  for (const b of $$("#range-presets [data-range]")) {
    b.addEventListener("click", () => {
      const r = rangePreset(b.dataset.range, meta.today);
      if (!r) return;
      setDateInput($("#since"), r[0]);
      setDateInput($("#until"), r[1]);
      if (b.dataset.range === "12m" && $("#granularity").value === "day") $("#granularity").value = "month";
      onChange();
    });
  }
  initFilterPicker();
  window.addEventListener("popstate", () => {
    explorer.state = explorerStateFromUrl();
    explorerApplyControls(explorer.state);
    explorerLoad();
  });

  const st = explorerStateFromUrl();
  const q = new URLSearchParams(location.search);
  // normalise the URL (explicit group_by etc.) so it can be shared as is
  explorerNavigate(st, { push: false });
  if (!q.has("group_by")) history.replaceState(null, "", location.pathname + "?" + explorerPageParams(st).toString());
}
