/* Charts: colours, the shared plotly.js layout and axes, the provisional-days shading, and
 * drawing (plotly.js is the global `Plotly`, loaded by its own script tag before this module
 * runs). */

import { el } from "./dom.js";
import { addDays, dayMs, monthStart } from "./format.js";

export const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#5f9ed1", "#8cd17d", "#d37295",
];
const OTHER_COLOR = "#b8bec8";
export const ACCENT = "#3b5bdb";
export const FORECAST = "#7048e8";

export function groupColor(key, index) {
  if (key === "__other__") return OTHER_COLOR;
  return PALETTE[index % PALETTE.length];
}

const FONT = getComputedStyle(document.documentElement).getPropertyValue("--font").trim() || "system-ui, sans-serif";
const PLOT_CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

export function baseLayout(extra = {}) {
  const layout = {
    font: { family: FONT, size: 12, color: "#1c2230" },
    margin: { l: 64, r: 16, t: 10, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    hoverlabel: { font: { family: FONT, size: 12 }, bgcolor: "#fff", bordercolor: "#cfd4dc" },
    xaxis: { gridcolor: "#eef0f3", linecolor: "#cfd4dc", tickcolor: "#cfd4dc", zeroline: false, automargin: true },
    yaxis: { gridcolor: "#eef0f3", linecolor: "#cfd4dc", zerolinecolor: "#cfd4dc", rangemode: "tozero", automargin: true },
    legend: { font: { size: 12 } },
    showlegend: false,
    dragmode: false,
  };
  return deepMerge(layout, extra);
}

function deepMerge(target, src) {
  for (const [k, v] of Object.entries(src)) {
    if (v && typeof v === "object" && !Array.isArray(v) && target[k] && typeof target[k] === "object" && !Array.isArray(target[k])) {
      deepMerge(target[k], v);
    } else {
      target[k] = v;
    }
  }
  return target;
}

/** y-axis settings for a unit ("usd" or a count). */
export function valueAxis(unit) {
  return unit === "usd" ? { tickprefix: "$", tickformat: ",.2~f", separatethousands: true } : { tickformat: "~s" };
}

/** x-axis hover/tick formats for a granularity. */
export function timeAxis(granularity) {
  const hover = { day: "%a %-d %b %Y", week: "week of %-d %b %Y", month: "%B %Y" }[granularity] || "%-d %b %Y";
  const axis = { type: "date", hoverformat: hover };
  if (granularity === "month") axis.tickformat = "%b %Y";
  return axis;
}

/** A shaded rectangle (and label) over the periods that are provisional. */
export function provisionalShapes(periods, provisionalFrom, granularity) {
  if (!provisionalFrom || !periods.length) return { shapes: [], annotations: [] };
  const from = dayMs(provisionalFrom);
  const starts = periods.map(dayMs);
  const ends = starts.map((s, i) => (i + 1 < starts.length ? starts[i + 1] : periodEnd(periods[i], granularity)));
  const first = ends.findIndex((e) => e > from);
  if (first < 0) return { shapes: [], annotations: [] };
  const half = (i) => ((i + 1 < starts.length ? starts[i + 1] : ends[i]) - starts[i]) / 2;
  const x0 = starts[first] - (first > 0 ? (starts[first] - starts[first - 1]) / 2 : half(first));
  const last = starts.length - 1;
  const x1 = starts[last] + half(last);
  return {
    shapes: [
      {
        type: "rect", xref: "x", yref: "paper", x0, x1, y0: 0, y1: 1,
        fillcolor: "rgba(237, 201, 72, 0.14)", line: { width: 0 }, layer: "below",
      },
    ],
    annotations: [
      {
        xref: "x", yref: "paper", x: (x0 + x1) / 2, y: 1, yanchor: "bottom", showarrow: false,
        text: "provisional", font: { size: 11, color: "#a16207" },
      },
    ],
  };
}

export function periodEnd(period, granularity) {
  if (granularity === "week") return dayMs(addDays(period, 7));
  if (granularity === "month") return dayMs(monthStart(period, 1));
  return dayMs(addDays(period, 1));
}

export function isProvisional(period, nextStartMs, provisionalFrom) {
  return !!provisionalFrom && nextStartMs > dayMs(provisionalFrom);
}

export function chartEmpty(container, text) {
  if (window.Plotly) Plotly.purge(container);
  container.classList.remove("is-loading");
  container.replaceChildren(el("div", { class: "chart-empty" }, text));
}

/* Plotly reads a subset of HTML in every string it draws (legend entries, hover labels, tick
 * labels, text on bars): `<a href>`, `<b>`, `<br>`, `<span style>`, … and entities. Names from
 * upstream (workspaces, keys, users) must show as the text they are, so every string a trace
 * carries is entity-escaped here, once, before Plotly sees it: `&` `<` `>` become `&amp;`
 * `&lt;` `&gt;`, which Plotly turns back into those characters as plain text. Templates
 * (`hovertemplate`, `texttemplate`) are ours and keep their markup. */
const PLOT_TEXT_KEYS = ["name", "text", "hovertext", "customdata", "x", "y", "labels", "ids", "legendgrouptitle"];

function plotText(value) {
  if (typeof value === "string") return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  if (Array.isArray(value)) return value.map(plotText);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plotText(v);
    return out;
  }
  return value;
}

function safeTraces(traces) {
  return traces.map((t) => {
    const out = Object.assign({}, t);
    for (const k of PLOT_TEXT_KEYS) if (k in out) out[k] = plotText(out[k]);
    return out;
  });
}

export async function drawChart(container, traces, layout) {
  if (!window.Plotly) throw new Error("the chart library (/static/vendor/plotly.min.js) did not load");
  const empty = container.querySelector(".chart-empty");
  if (empty) empty.remove();
  container.classList.remove("is-loading");
  await Plotly.react(container, safeTraces(traces), layout, PLOT_CONFIG);
}

export function chartLoading(container) {
  container.classList.add("is-loading");
}
