/* spendscope dashboard — plain JavaScript, no build step.
 *
 * Every page is a static HTML document with <body data-page="…">; this file finds the page
 * module by that name and runs it. Data comes from the REST API under /api/v1 (docs/api.md).
 *
 * Test hooks: body[data-ready="1"] once a page's data is loaded and drawn ("0" while loading),
 * body[data-error="1"] when the last load failed; every chart and table has a stable id.
 */
"use strict";

(() => {
  // ------------------------------------------------------------------ DOM helpers

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Build an element. attrs: class, dataset (object), on<Event> (function), other attributes.
   *  Children: strings become text nodes (never HTML), null/false are skipped. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
      else if (k === "text") node.textContent = v;
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
    appendChildren(node, children);
    return node;
  }

  function appendChildren(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function setReady(ready) {
    document.body.dataset.ready = ready ? "1" : "0";
    if (!ready) delete document.body.dataset.error;
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message, hint) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
      this.hint = hint || "";
    }
  }

  /** Fetch JSON from the API. Throws ApiError with the API's error.message / error.hint. */
  async function api(path, { method = "GET", body, params, signal } = {}) {
    let url = path;
    if (params) {
      const qs = params instanceof URLSearchParams ? params.toString() : new URLSearchParams(params).toString();
      if (qs) url += (url.includes("?") ? "&" : "?") + qs;
    }
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        signal,
      });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(
        0,
        "network",
        "Could not reach the spendscope server.",
        "Check that `spendscope serve` is still running, then reload the page.",
      );
    }
    if (resp.status === 401) {
      const next = location.pathname + location.search;
      location.assign("/login?next=" + encodeURIComponent(next));
      throw new ApiError(401, "unauthenticated", "Your session has expired.", "Sign in again.");
    }
    let data = null;
    const type = resp.headers.get("content-type") || "";
    if (type.includes("json")) {
      try {
        data = await resp.json();
      } catch (_) {
        data = null;
      }
    }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(
        resp.status,
        e.code || "http_" + resp.status,
        e.message || `The server answered HTTP ${resp.status} to ${method} ${path}.`,
        e.hint || (resp.status >= 500 ? "This is a bug in spendscope; the server log has the details." : ""),
      );
    }
    return data;
  }

  function errorParts(err) {
    if (err instanceof ApiError) return { message: err.message, hint: err.hint };
    return {
      message: "Something went wrong while drawing this page: " + (err && err.message ? err.message : String(err)),
      hint: "Reload the page; if it keeps happening, please report it.",
    };
  }

  /** Fill a box with an error's message and hint. `scrub` strings are masked out. */
  function renderError(box, err, scrub = []) {
    let { message, hint } = errorParts(err);
    for (const s of scrub) {
      if (s) {
        message = message.split(s).join("•••");
        hint = hint.split(s).join("•••");
      }
    }
    box.replaceChildren(
      el("div", { class: "error-message" }, message),
      hint ? el("div", { class: "error-hint" }, hint) : null,
    );
    box.hidden = false;
  }

  function showPageError(err) {
    if (err && err.name === "AbortError") return;
    console.warn("spendscope:", err); // warn, not error: the page shows it in the error box
    renderError($("#error-box"), err);
    document.body.dataset.error = "1";
    $$(".is-loading").forEach((n) => n.classList.remove("is-loading"));
  }

  function clearPageError() {
    const box = $("#error-box");
    if (box) {
      box.hidden = true;
      box.replaceChildren();
    }
  }

  let metaPromise = null;
  function getMeta() {
    if (!metaPromise) metaPromise = api("/api/v1/meta");
    return metaPromise;
  }

  // ------------------------------------------------------------------ formatting

  /** Parse a decimal string (or number) into {neg, digits (BigInt), exp} with value digits·10^exp. */
  function parseDecimal(v) {
    const s = typeof v === "number" ? (Number.isFinite(v) ? v.toPrecision(17) : "") : String(v).trim();
    const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
    if (!m || (!m[2] && !m[3])) return null;
    const frac = m[3] || "";
    return {
      neg: m[1] === "-",
      digits: BigInt((m[2] || "") + frac || "0"),
      exp: (m[4] ? parseInt(m[4], 10) : 0) - frac.length,
    };
  }

  /** Round a decimal to `places` (half away from zero, like Decimal ROUND_HALF_UP). */
  function roundDecimal(v, places) {
    const d = parseDecimal(v);
    if (!d) return null;
    const shift = d.exp + places;
    let n;
    if (shift >= 0) {
      n = d.digits * 10n ** BigInt(shift);
    } else {
      const div = 10n ** BigInt(-shift);
      n = d.digits / div;
      if ((d.digits % div) * 2n >= div) n += 1n;
    }
    const str = n.toString().padStart(places + 1, "0");
    return {
      neg: d.neg && n !== 0n,
      int: str.slice(0, str.length - places),
      frac: places ? str.slice(str.length - places) : "",
    };
  }

  const groupThousands = (intStr) => intStr.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

  /** "$1,234.57" from "1234.567891230" (exact decimal rounding; "-$3.10" for negatives). */
  function fmtMoney(v, places = 2) {
    if (v === null || v === undefined || v === "") return "—";
    const r = roundDecimal(v, places);
    if (!r) return String(v);
    return (r.neg ? "-" : "") + "$" + groupThousands(r.int) + (places ? "." + r.frac : "");
  }

  /** Signed money: "+$12.00" / "-$3.10". */
  function fmtMoneySigned(v) {
    const s = fmtMoney(v);
    return s.startsWith("-") || s === "—" ? s : "+" + s;
  }

  function fmtInt(v) {
    if (v === null || v === undefined || v === "") return "—";
    const r = roundDecimal(v, 0);
    if (!r) return String(v);
    return (r.neg ? "-" : "") + groupThousands(r.int);
  }

  /** 1234 → "1.2K", 1234567 → "1.2M"; below 1000 the exact integer. */
  function fmtCount(v) {
    if (v === null || v === undefined || v === "") return "—";
    const n = Number(v);
    if (!Number.isFinite(n)) return String(v);
    const a = Math.abs(n);
    if (a < 1000) return fmtInt(Math.round(n));
    const units = [
      [1e12, "T"],
      [1e9, "B"],
      [1e6, "M"],
      [1e3, "K"],
    ];
    for (const [size, unit] of units) {
      if (a >= size * 0.9995) {
        const x = n / size;
        const digits = Math.abs(x) >= 100 ? 0 : 1;
        return x.toFixed(digits).replace(/\.0$/, "") + unit;
      }
    }
    return fmtInt(n);
  }

  function fmtPct(frac, digits = 1) {
    if (frac === null || frac === undefined || frac === "" || !Number.isFinite(Number(frac))) return "—";
    return (Number(frac) * 100).toFixed(digits) + "%";
  }

  function fmtPctSigned(frac, digits = 1) {
    if (frac === null || frac === undefined || !Number.isFinite(Number(frac))) return "—";
    const s = fmtPct(frac, digits);
    return Number(frac) > 0 ? "+" + s : s;
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const MONTHS_LONG = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
  ];

  /** "2026-11-21" → "21 Nov 2026". */
  function fmtDate(day, withYear = true) {
    if (!day) return "—";
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(day);
    if (!m) return String(day);
    return `${parseInt(m[3], 10)} ${MONTHS[parseInt(m[2], 10) - 1]}` + (withYear ? ` ${m[1]}` : "");
  }

  /** ISO timestamp → "21 Nov 2026 14:05 UTC". */
  function fmtDateTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  /** Value of a metric for display: money or abbreviated count, plus the exact value. */
  function metricText(value, unit) {
    if (unit === "usd") return fmtMoney(value);
    return fmtCount(value);
  }

  function metricExact(value, unit) {
    if (value === null || value === undefined) return "";
    if (unit === "usd") return "$" + String(value);
    return fmtInt(value);
  }

  /** A table cell for a metric value: formatted text, exact value in title and data-value. */
  function valueCell(value, unit, extraClass = "") {
    return el(
      "td",
      { class: ("num " + extraClass).trim(), title: metricExact(value, unit), dataset: { value: value === null || value === undefined ? "" : String(value) } },
      metricText(value, unit),
    );
  }

  function countCell(value) {
    return valueCell(value, "count");
  }

  function shareCell(frac, color = null) {
    const pct = Math.max(0, Math.min(1, Number(frac) || 0)) * 100;
    return el(
      "td",
      { dataset: { value: frac === null || frac === undefined ? "" : String(frac) } },
      el(
        "div",
        { class: "share" },
        el("div", { class: "share-track" }, el("div", { class: "share-fill", style: color ? { width: `${pct.toFixed(2)}%`, background: color } : { width: `${pct.toFixed(2)}%` } })),
        el("span", { class: "share-text num" }, fmtPct(frac)),
      ),
    );
  }

  // ------------------------------------------------------------------ dates

  function parseDay(s) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || "");
    return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
  }

  function isoDay(d) {
    return d.toISOString().slice(0, 10);
  }

  function addDays(day, n) {
    const d = parseDay(day);
    d.setUTCDate(d.getUTCDate() + n);
    return isoDay(d);
  }

  function monthStart(day, deltaMonths = 0) {
    const d = parseDay(day);
    return isoDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + deltaMonths, 1)));
  }

  function dayMs(day) {
    const d = parseDay(day);
    return d ? d.getTime() : NaN;
  }

  function validDay(s) {
    return !!parseDay(s);
  }

  /** Date inputs: a value the user chose, or one filled in from the API's default range
   *  (data-auto) which is shown but not written to the URL, so "last 30 days" stays rolling. */
  function setDateInput(input, value) {
    input.value = value || "";
    if (value) delete input.dataset.auto;
    else input.dataset.auto = "1";
  }

  function fillAutoDate(input, value) {
    if (input.dataset.auto === "1") input.value = value || "";
  }

  function dateValue(input) {
    if (input.dataset.auto === "1") return "";
    return validDay(input.value) ? input.value : "";
  }

  // ------------------------------------------------------------------ colours & charts

  const PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#5f9ed1", "#8cd17d", "#d37295",
  ];
  const OTHER_COLOR = "#b8bec8";
  const ACCENT = "#3b5bdb";

  function groupColor(key, index) {
    if (key === "__other__") return OTHER_COLOR;
    return PALETTE[index % PALETTE.length];
  }

  const FONT = getComputedStyle(document.documentElement).getPropertyValue("--font").trim() || "system-ui, sans-serif";
  const PLOT_CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

  function baseLayout(extra = {}) {
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
  function valueAxis(unit) {
    return unit === "usd" ? { tickprefix: "$", tickformat: ",.2~f", separatethousands: true } : { tickformat: "~s" };
  }

  /** x-axis hover/tick formats for a granularity. */
  function timeAxis(granularity) {
    const hover = { day: "%a %-d %b %Y", week: "week of %-d %b %Y", month: "%B %Y" }[granularity] || "%-d %b %Y";
    const axis = { type: "date", hoverformat: hover };
    if (granularity === "month") axis.tickformat = "%b %Y";
    return axis;
  }

  /** A shaded rectangle (and label) over the periods that are provisional. */
  function provisionalShapes(periods, provisionalFrom, granularity) {
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

  function periodEnd(period, granularity) {
    if (granularity === "week") return dayMs(addDays(period, 7));
    if (granularity === "month") return dayMs(monthStart(period, 1));
    return dayMs(addDays(period, 1));
  }

  function isProvisional(period, nextStartMs, provisionalFrom) {
    return !!provisionalFrom && nextStartMs > dayMs(provisionalFrom);
  }

  function chartEmpty(container, text) {
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

  async function drawChart(container, traces, layout) {
    if (!window.Plotly) throw new Error("the chart library (/static/vendor/plotly.min.js) did not load");
    const empty = container.querySelector(".chart-empty");
    if (empty) empty.remove();
    container.classList.remove("is-loading");
    await Plotly.react(container, safeTraces(traces), layout, PLOT_CONFIG);
  }

  function chartLoading(container) {
    container.classList.add("is-loading");
  }

  // ------------------------------------------------------------------ tables

  function setTableBody(table, rows, emptyText = "No data for this selection.") {
    const tbody = table.tBodies[0] || table.appendChild(el("tbody"));
    const cols = table.tHead ? table.tHead.rows[0].cells.length : 1;
    if (!rows.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "empty-cell" }, emptyText)));
    } else {
      tbody.replaceChildren(...rows);
    }
  }

  function setTableLoading(table) {
    const tbody = table.tBodies[0];
    if (tbody && !tbody.rows.length) {
      const cols = table.tHead ? table.tHead.rows[0].cells.length : 1;
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "loading-cell" }, "Loading…")));
    }
    table.setAttribute("aria-busy", "true");
  }

  function labelCell(label, sub, extra = {}) {
    return el(
      "td",
      Object.assign({ class: "cell-label", title: sub ? `${label} (${sub})` : label }, extra),
      label,
      sub && sub !== label ? el("span", { class: "cell-sub" }, sub) : null,
    );
  }

  /** Make a table sortable by clicking its th.sortable headers (data-sort = row field). */
  function sortableTable(table, getRows, render) {
    const state = { key: null, dir: -1 };
    const initial = $("th[aria-sort]", table);
    if (initial) {
      state.key = initial.dataset.sort;
      state.dir = initial.getAttribute("aria-sort") === "ascending" ? 1 : -1;
    }
    const compare = (type, a, b) => {
      if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
      if (b === null || b === undefined) return -1;
      if (type === "text") return String(a).localeCompare(String(b));
      return Number(a) - Number(b);
    };
    const apply = () => {
      const rows = getRows().slice();
      if (state.key) {
        const th = $(`th[data-sort="${state.key}"]`, table);
        const type = th ? th.dataset.type || "number" : "number";
        rows.sort((a, b) => {
          const av = a[state.key];
          const bv = b[state.key];
          const nullish = (v) => v === null || v === undefined;
          if (nullish(av) || nullish(bv)) return compare(type, av, bv); // nulls last either way
          return state.dir * compare(type, av, bv);
        });
      }
      render(rows);
    };
    for (const th of $$("th.sortable", table)) {
      th.tabIndex = 0;
      const activate = () => {
        if (state.key === th.dataset.sort) state.dir = -state.dir;
        else {
          state.key = th.dataset.sort;
          state.dir = th.dataset.type === "text" ? 1 : -1;
        }
        $$("th.sortable", table).forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
        apply();
      };
      th.addEventListener("click", activate);
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          activate();
        }
      });
    }
    return apply;
  }

  // ------------------------------------------------------------------ shared chrome

  async function initChrome() {
    const foot = $("#sidebar-foot");
    if (!foot) return null;
    try {
      const meta = await getMeta();
      const sync = meta.sync || {};
      foot.replaceChildren(
        el("div", {}, "Today " + fmtDate(meta.today)),
        el("div", {}, sync.scheduled ? `Syncs every ${sync.every_hours} h` : "Scheduled sync off"),
        el("div", {}, "spendscope " + (meta.version || "")),
      );
      return meta;
    } catch (_) {
      return null; // the page itself reports API errors
    }
  }

  function explorerUrl(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else if (v !== undefined && v !== null) q.set(k, v);
    }
    return "/explorer?" + q.toString();
  }

  function dimensionLabel(meta, name) {
    const d = (meta && meta.dimensions ? meta.dimensions : []).find((x) => x.name === name);
    return d ? d.label : name;
  }

  // ================================================================== Overview

  const TOP_DRILL = { workspace: "model", api_key: "model", user: "model", model: "workspace" };

  async function pageOverview() {
    setReady(false);
    try {
      const [meta, ov] = await Promise.all([getMeta(), api("/api/v1/overview")]);
      clearPageError();
      renderFreshness(ov.freshness);
      renderOverviewKpis(ov);
      await renderTrend(ov);
      for (const dim of ["workspace", "api_key", "user", "model"]) renderTop(dim, (ov.top || {})[dim] || [], ov);
      renderMovers(ov.movers || [], meta);
      $("#page-sub").textContent = `${MONTHS_LONG[parseDay(ov.month_to_date.since).getUTCMonth()]} ${ov.month.slice(0, 4)}, as of ${fmtDate(ov.as_of)}`;
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
    const lmDate = parseDay(last.since);
    $("#last-month-sub").textContent = lmDate ? `${MONTHS_LONG[lmDate.getUTCMonth()]} ${lmDate.getUTCFullYear()}` : "";

    const fc = $("#forecast-cost");
    fc.textContent = fmtMoney(ov.forecast);
    fc.dataset.value = ov.forecast ?? "";
    fc.title = metricExact(ov.forecast, "usd");
    let fsub = "at the month-to-date daily run rate";
    const fv = Number(ov.forecast);
    const lv = Number(last.full_month_cost);
    if (Number.isFinite(fv) && Number.isFinite(lv) && lv > 0) {
      fsub = `${fmtPctSigned(fv / lv - 1)} vs last month, at the MTD run rate`;
    }
    $("#forecast-sub").textContent = fsub;
  }

  async function renderTrend(ov) {
    const box = $("#trend-chart");
    const trend = ov.trend || [];
    if (!trend.length) {
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
    $("#trend-note").textContent = prov0 ? `Days from ${fmtDate(prov0)} are provisional and may still change.` : "All days are final.";
    await drawChart(box, traces, layout);
  }

  function renderTop(dim, rows, ov) {
    const table = $(`#top-${dim}`);
    if (!table) return;
    const mtd = ov.month_to_date || {};
    const drill = TOP_DRILL[dim];
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

  // ================================================================== Explorer

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

  function ensureOption(select, value, label) {
    if (![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, label || value));
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
    const periodHead = (p) => (data.granularity === "month" ? `${MONTHS[parseDay(p).getUTCMonth()]} ${p.slice(0, 4)}` : fmtDate(p, false));
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

  /** Exact sum of decimal strings (BigInt arithmetic). */
  function sumDecimals(values) {
    let scale = 0;
    const parsed = values.map(parseDecimal).filter(Boolean);
    for (const d of parsed) scale = Math.max(scale, -d.exp);
    let total = 0n;
    for (const d of parsed) {
      const v = d.digits * 10n ** BigInt(scale + d.exp);
      total += d.neg ? -v : v;
    }
    const neg = total < 0n;
    const s = (neg ? -total : total).toString().padStart(scale + 1, "0");
    const out = scale ? s.slice(0, s.length - scale) + "." + s.slice(s.length - scale) : s;
    return (neg ? "-" : "") + out;
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

  async function pageExplorer() {
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
    $("#group-by").replaceChildren(el("option", { value: "" }, "None (total)"), ...meta.dimensions.map((d) => el("option", { value: d.name }, d.label)));
    $("#granularity").replaceChildren(...meta.granularities.map((g) => el("option", { value: g }, g[0].toUpperCase() + g.slice(1))));
    $("#limit").replaceChildren(...["5", "10", "15", "20", "30", "50"].map((n) => el("option", { value: n }, `Top ${n}`)));
    $("#filter-dim").replaceChildren(...meta.dimensions.map((d) => el("option", { value: d.name }, d.label)));

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

  // ================================================================== Connections

  const conn = { list: [], openEvents: new Set(), polling: null, lastRunning: false, meta: null };

  async function pageConnections() {
    setReady(false);
    initConnectForm();
    initDeleteDialog();
    $("#sync-all").addEventListener("click", () => startSync(null));
    try {
      conn.meta = await getMeta();
      $("#connect-base-url").value = conn.meta.default_base_url || "";
      $("#connect-base-url").placeholder = conn.meta.default_base_url || "";
      await Promise.all([loadConnections(), refreshSyncStatus()]);
      clearPageError();
      setReady(true);
    } catch (err) {
      showPageError(err);
    }
  }

  async function loadConnections() {
    const table = $("#connections-table");
    table.setAttribute("aria-busy", "true");
    const data = await api("/api/v1/connections");
    conn.list = data.connections || [];
    renderConnections();
    table.removeAttribute("aria-busy");
  }

  function healthBadge(health) {
    const cls = health === "ok" ? "ok" : ["failing", "error", "interrupted"].includes(health) ? "failing" : "never";
    return el("span", { class: "badge " + cls }, health || "unknown");
  }

  function renderConnections() {
    const table = $("#connections-table");
    const rows = [];
    for (const c of conn.list) {
      rows.push(
        el(
          "tr",
          { dataset: { label: c.label } },
          el("td", { class: "cell-label" }, el("strong", {}, c.label), c.state && c.state !== "active" ? el("span", { class: "cell-sub" }, c.state) : null),
          el("td", {}, c.kind === "console" ? "Console" : c.kind === "enterprise" ? "Enterprise" : c.kind),
          labelCell(c.organization_name || "—", c.organization_id, { class: "cell-label cell-org" }),
          el("td", {}, healthBadge(c.health)),
          el("td", { title: c.last_success || "" }, fmtDateTime(c.last_success)),
          el("td", {}, fmtDate(c.complete_through)),
          countCell(c.rows),
          el("td", { class: "cell-error", title: c.last_error ? `${c.last_error}${c.last_error_at ? " — " + fmtDateTime(c.last_error_at) : ""}` : "" }, c.last_error || ""),
          el(
            "td",
            {},
            el(
              "div",
              { class: "row-actions" },
              el("button", { type: "button", class: "btn btn-small", dataset: { action: "test" }, onclick: (e) => testConnection(c.label, e.currentTarget) }, "Test"),
              el("button", { type: "button", class: "btn btn-small", dataset: { action: "sync" }, onclick: () => startSync(c.label) }, "Sync now"),
              el("button", {
                type: "button",
                class: "btn btn-small",
                dataset: { action: "events" },
                "aria-expanded": conn.openEvents.has(c.label) ? "true" : "false",
                onclick: () => toggleEvents(c.label),
              }, "Events"),
              el("button", { type: "button", class: "btn btn-small btn-danger", dataset: { action: "delete" }, onclick: () => confirmDelete(c.label) }, "Delete"),
            ),
          ),
        ),
      );
      if (conn.openEvents.has(c.label)) rows.push(eventsRow(c.label));
    }
    setTableBody(table, rows, "No connections yet — connect an organization below.");
  }

  function eventsRow(label) {
    const cell = el("td", { colspan: 9 }, el("span", { class: "sync-status" }, el("span", { class: "spinner" }), " Loading events…"));
    const row = el("tr", { class: "detail-row", dataset: { eventsFor: label } }, cell);
    api(`/api/v1/connections/${encodeURIComponent(label)}/events`, { params: { limit: 50 } })
      .then((r) => {
        const events = r.events || [];
        if (!events.length) {
          cell.replaceChildren(el("span", { class: "panel-note" }, "No events yet."));
          return;
        }
        cell.replaceChildren(
          el(
            "table",
            { class: "data compact events-table", id: `events-${label}` },
            el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Level"), el("th", {}, "Category"), el("th", {}, "Message"))),
            el(
              "tbody",
              {},
              events.map((ev) =>
                el(
                  "tr",
                  {},
                  el("td", { class: "num", title: ev.occurred_at || "" }, fmtDateTime(ev.occurred_at)),
                  el("td", {}, el("span", { class: "badge " + String(ev.level || "info").toLowerCase() }, ev.level || "info")),
                  el("td", {}, ev.category || ""),
                  el(
                    "td",
                    {},
                    ev.message || "",
                    ev.detail !== null && ev.detail !== undefined && ev.detail !== ""
                      ? el("details", {}, el("summary", {}, "detail"), el("pre", {}, typeof ev.detail === "string" ? ev.detail : JSON.stringify(ev.detail, null, 2)))
                      : null,
                  ),
                ),
              ),
            ),
          ),
        );
      })
      .catch((err) => {
        const box = el("div", { class: "message error" });
        renderError(box, err);
        cell.replaceChildren(box);
      });
    return row;
  }

  function toggleEvents(label) {
    if (conn.openEvents.has(label)) conn.openEvents.delete(label);
    else conn.openEvents.add(label);
    renderConnections();
  }

  function actionResult(kind, content) {
    const box = $("#action-result");
    box.className = "message " + kind;
    box.replaceChildren(...[content].flat());
    box.hidden = false;
  }

  async function testConnection(label, button) {
    button.disabled = true;
    const old = button.textContent;
    button.replaceChildren(el("span", { class: "spinner" }), " Testing");
    try {
      const r = await api(`/api/v1/connections/${encodeURIComponent(label)}/test`, { method: "POST" });
      if (r.ok) actionResult("ok", r.message && r.message.includes(label) ? r.message : `${label}: ${r.message || "the key works."}`);
      else {
        const e = r.error || {};
        actionResult("error", [el("div", { class: "error-message" }, `${label}: ${e.message || "the test failed."}`), e.hint ? el("div", { class: "error-hint" }, e.hint) : null]);
      }
    } catch (err) {
      const box = el("div");
      renderError(box, err);
      actionResult("error", [...box.childNodes]);
    } finally {
      button.disabled = false;
      button.textContent = old;
    }
  }

  // sync

  function renderSyncStatus(s) {
    const status = $("#sync-status");
    const btn = $("#sync-all");
    status.classList.toggle("running", !!s.running);
    $$('button[data-action="sync"]').forEach((b) => (b.disabled = !!s.running));
    btn.disabled = !!s.running;
    if (s.running) {
      status.replaceChildren(el("span", { class: "spinner" }), ` Sync running since ${fmtDateTime(s.started_at)}…`);
    } else {
      const parts = [];
      if (s.finished_at) parts.push(`Last sync finished ${fmtDateTime(s.finished_at)}`);
      else parts.push("No sync has run since the server started");
      if (s.scheduled && s.next_run_at) parts.push(`next scheduled ${fmtDateTime(s.next_run_at)}`);
      else if (!s.scheduled) parts.push("scheduled sync is off");
      status.replaceChildren(parts.join(" · "));
    }
    if (s.error) {
      const e = typeof s.error === "string" ? { message: s.error } : s.error;
      actionResult("error", [el("div", { class: "error-message" }, `Sync failed: ${e.message || ""}`), e.hint ? el("div", { class: "error-hint" }, e.hint) : null]);
    }
    const results = s.results || [];
    const wrap = $("#sync-results");
    wrap.hidden = !results.length;
    setTableBody(
      $("#sync-results-table"),
      results.map((r) =>
        el(
          "tr",
          {},
          el("td", {}, r.label),
          countCell(r.rows),
          countCell(r.requests),
          el("td", { class: "num" }, r.seconds === null || r.seconds === undefined ? "—" : Number(r.seconds).toFixed(1)),
          el("td", { class: "cell-error", title: typeof r.error === "string" ? r.error : r.error ? JSON.stringify(r.error) : "" }, r.error ? (typeof r.error === "string" ? r.error : r.error.message || JSON.stringify(r.error)) : ""),
        ),
      ),
    );
  }

  async function refreshSyncStatus() {
    const s = await api("/api/v1/sync");
    renderSyncStatus(s);
    if (conn.lastRunning && !s.running) loadConnections().catch(showPageError);
    conn.lastRunning = !!s.running;
    if (s.running) schedulePoll();
    return s;
  }

  function schedulePoll() {
    if (conn.polling) return;
    conn.polling = setTimeout(async () => {
      conn.polling = null;
      try {
        await refreshSyncStatus();
      } catch (err) {
        showPageError(err);
      }
    }, 2000);
  }

  async function startSync(label) {
    try {
      const r = await api("/api/v1/sync", { method: "POST", body: label ? { connection: label } : {} });
      actionResult("info", label ? `Sync of ${label} started.` : "Sync of all connections started.");
      conn.lastRunning = true;
      if (r && r.sync) renderSyncStatus(r.sync);
      schedulePoll();
    } catch (err) {
      const box = el("div");
      renderError(box, err);
      actionResult(err.status === 409 ? "info" : "error", [...box.childNodes]);
      if (err.status === 409) {
        conn.lastRunning = true;
        schedulePoll();
      }
    }
  }

  // delete

  let pendingDelete = null;

  function initDeleteDialog() {
    const dlg = $("#delete-dialog");
    dlg.addEventListener("close", async () => {
      const label = pendingDelete;
      pendingDelete = null;
      if (dlg.returnValue !== "confirm" || !label) return;
      const purge = $("#delete-purge").checked;
      try {
        const r = await api(`/api/v1/connections/${encodeURIComponent(label)}`, { method: "DELETE", params: { purge: purge ? "true" : "false" } });
        conn.openEvents.delete(label);
        actionResult("ok", `Deleted ${r.deleted || label}${r.purged ? " and its data" : " (its data stays in the warehouse)"}.`);
        await loadConnections();
      } catch (err) {
        const box = el("div");
        renderError(box, err);
        actionResult("error", [...box.childNodes]);
      }
    });
  }

  function confirmDelete(label) {
    pendingDelete = label;
    $("#delete-text").textContent = `Stop syncing ${label} and forget its key. Its data stays in the warehouse unless you also purge it.`;
    $("#delete-purge").checked = false;
    const dlg = $("#delete-dialog");
    dlg.returnValue = "";
    dlg.showModal();
    $("#delete-cancel").focus();
  }

  // connect form

  const KEY_HELP = {
    console: "An Admin API key (sk-ant-admin01-…) from Claude Console → Settings → Admin keys. Standard API keys cannot read usage or cost.",
    enterprise: "An analytics key from claude.ai → Admin settings → Analytics API, for a Claude Enterprise organization with the analytics API enabled.",
  };
  const KEY_PLACEHOLDER = { console: "sk-ant-admin01-…", enterprise: "analytics key" };

  function initConnectForm() {
    const form = $("#connect-form");
    const kind = $("#connect-kind");
    const key = $("#connect-key");
    const updateKind = () => {
      $("#connect-help").textContent = KEY_HELP[kind.value] || "";
      key.placeholder = KEY_PLACEHOLDER[kind.value] || "";
    };
    kind.addEventListener("change", updateKind);
    updateKind();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const errBox = $("#connect-error");
      const okBox = $("#connect-result");
      errBox.hidden = true;
      okBox.hidden = true;
      const secret = key.value.trim();
      key.value = ""; // never keep the key in the page longer than needed
      const label = $("#connect-label").value.trim();
      if (!label || !secret) {
        renderError(errBox, new ApiError(0, "invalid", !label ? "Give the connection a label." : "Paste the key.", !label ? "A short name such as acme-platform; letters, digits, dots, dashes." : KEY_HELP[kind.value]));
        (!label ? $("#connect-label") : key).focus();
        return;
      }
      const body = { kind: kind.value, label, key: secret };
      const base = $("#connect-base-url").value.trim();
      if (base && base !== ((conn.meta && conn.meta.default_base_url) || "")) body.base_url = base;
      const submit = $("#connect-submit");
      submit.disabled = true;
      $("#connect-progress").hidden = false;
      try {
        const r = await api("/api/v1/connections", { method: "POST", body });
        okBox.replaceChildren(scrub(r.message || `Connected ${label}.`, secret), " Run a sync to load its data.");
        okBox.hidden = false;
        $("#connect-label").value = "";
        await loadConnections();
      } catch (err) {
        renderError(errBox, err, [secret]);
      } finally {
        submit.disabled = false;
        $("#connect-progress").hidden = true;
      }
    });
  }

  function scrub(text, secret) {
    return secret ? String(text).split(secret).join("•••") : String(text);
  }

  // ================================================================== Claude Code

  const CC_METRICS = {
    active_users: { label: "Active users", unit: "count" },
    sessions: { label: "Sessions", unit: "count" },
    lines: { label: "Lines", unit: "count" },
    commits: { label: "Commits", unit: "count" },
    pull_requests: { label: "Pull requests", unit: "count" },
    cost: { label: "Cost", unit: "usd" },
  };

  const cc = { data: null, seq: 0, sortApply: null };

  function rangeStateFromUrl(extra = {}) {
    const q = new URLSearchParams(location.search);
    const st = { since: q.get("since") || "", until: q.get("until") || "", connection: q.get("connection") || "" };
    for (const [k, def] of Object.entries(extra)) st[k] = q.get(k) || def;
    return st;
  }

  function writeUrl(st, push = true) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(st)) if (v) q.set(k, v);
    const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
    if (url !== location.pathname + location.search) (push ? history.pushState : history.replaceState).call(history, null, "", url);
  }

  function fillConnectionSelect(select, meta, kind) {
    const conns = (meta.connections || []).filter((c) => !kind || c.kind === kind);
    select.replaceChildren(el("option", { value: "" }, "All connections"), ...conns.map((c) => el("option", { value: c.label }, c.label)));
  }

  function setKpi(id, text, { title = "", value = null, sub = null } = {}) {
    const node = $("#" + id);
    if (!node) return;
    node.textContent = text;
    node.title = title;
    if (value !== null) node.dataset.value = String(value);
    if (sub !== null && $(`#${id}-sub`)) $(`#${id}-sub`).textContent = sub;
  }

  async function pageClaudeCode() {
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
    const days = data.since && data.until ? Math.round((dayMs(data.until) - dayMs(data.since)) / 86400000) : null;
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

  // ================================================================== Engagement

  const eng = { seq: 0 };

  async function pageEngagement() {
    setReady(false);
    let meta;
    try {
      meta = await getMeta();
    } catch (err) {
      showPageError(err);
      return;
    }
    fillConnectionSelect($("#eng-connection"), meta, "enterprise");
    const apply = (st) => {
      setDateInput($("#eng-since"), st.since);
      setDateInput($("#eng-until"), st.until);
      ensureOption($("#eng-connection"), st.connection);
      $("#eng-connection").value = st.connection;
    };
    const read = () => ({
      since: dateValue($("#eng-since")),
      until: dateValue($("#eng-until")),
      connection: $("#eng-connection").value,
    });
    let st = rangeStateFromUrl();
    apply(st);
    for (const id of ["#eng-since", "#eng-until", "#eng-connection"]) {
      $(id).addEventListener("change", () => {
        st = read();
        writeUrl(st);
        loadEngagement(st);
      });
    }
    window.addEventListener("popstate", () => {
      st = rangeStateFromUrl();
      apply(st);
      loadEngagement(st);
    });
    loadEngagement(st);
  }

  async function loadEngagement(st) {
    const seq = ++eng.seq;
    setReady(false);
    const params = new URLSearchParams();
    for (const k of ["since", "until", "connection"]) if (st[k]) params.set(k, st[k]);
    if (!$("#engagement-content").hidden) {
      chartLoading($("#engagement-chart"));
      chartLoading($("#surface-chart"));
    }
    try {
      const data = await api("/api/v1/engagement", { params });
      if (seq !== eng.seq) return;
      clearPageError();
      const available = !!data.available;
      $("#engagement-empty").hidden = available;
      $("#engagement-content").hidden = !available;
      document.body.dataset.engagement = available ? "available" : "unavailable";
      if (available) {
        const series = data.series || [];
        if (series.length) {
          fillAutoDate($("#eng-since"), series[0].day);
          fillAutoDate($("#eng-until"), addDays(series[series.length - 1].day, 1));
        }
        renderEngKpis(data);
        await renderEngChart(data);
        await renderSurfaceChart(data);
        renderEngTables(data);
        if (series.length) $("#page-sub").textContent = `${fmtDate(series[0].day)} – ${fmtDate(series[series.length - 1].day)}`;
      } else {
        $("#page-sub").textContent = "Claude Enterprise adoption and usage";
      }
      if (seq === eng.seq) setReady(true);
    } catch (err) {
      if (seq === eng.seq) showPageError(err);
    }
  }

  /** Adoption rates arrive as percentages (45.2) — or fractions (0.452); show either as %. */
  function adoptionScale(data) {
    const l = data.latest || {};
    const rates = [l.daily_adoption_rate, l.weekly_adoption_rate, l.monthly_adoption_rate, ...(data.series || []).map((r) => r.monthly_adoption_rate)];
    return rates.some((v) => v !== null && v !== undefined && Number(v) > 1) ? 100 : 1;
  }

  function renderEngKpis(data) {
    const l = data.latest || {};
    const scale = adoptionScale(data);
    const rate = (v) => (v === null || v === undefined ? null : Number(v) / scale);
    const seats = Number(l.seats) || 0;
    const ofSeats = (v) => (seats && v !== null && v !== undefined ? `${fmtPct(Number(v) / seats)} of seats` : "");
    setKpi("eng-dau", fmtInt(l.daily_active), { value: l.daily_active ?? "", sub: rate(l.daily_adoption_rate) !== null ? `${fmtPct(rate(l.daily_adoption_rate))} daily adoption` : ofSeats(l.daily_active) });
    setKpi("eng-wau", fmtInt(l.weekly_active), { value: l.weekly_active ?? "", sub: rate(l.weekly_adoption_rate) !== null ? `${fmtPct(rate(l.weekly_adoption_rate))} weekly adoption` : ofSeats(l.weekly_active) });
    setKpi("eng-mau", fmtInt(l.monthly_active), { value: l.monthly_active ?? "", sub: ofSeats(l.monthly_active) });
    setKpi("eng-seats", fmtInt(l.seats), { value: l.seats ?? "", sub: l.pending_invites ? `${fmtInt(l.pending_invites)} pending invite${l.pending_invites === 1 ? "" : "s"}` : "no pending invites" });
    setKpi("eng-adoption", fmtPct(rate(l.monthly_adoption_rate)), { value: l.monthly_adoption_rate ?? "", sub: "monthly active users / seats" });
    $("#eng-latest-note").textContent = l.day ? `latest day ${fmtDate(l.day)}` : "";
  }

  async function renderEngChart(data) {
    const box = $("#engagement-chart");
    const s = data.series || [];
    if (!s.length) {
      chartEmpty(box, "No engagement data in this range.");
      return;
    }
    const x = s.map((r) => r.day);
    const line = (key, name, color, extra = {}) =>
      Object.assign(
        {
          type: "scatter", mode: "lines", name, x, y: s.map((r) => (r[key] === null || r[key] === undefined ? null : Number(r[key]))),
          line: { color, width: 2 }, hovertemplate: "%{y:,}<extra>" + name + "</extra>", connectgaps: false,
        },
        extra,
      );
    const traces = [
      line("monthly_active", "Monthly active", PALETTE[0]),
      line("weekly_active", "Weekly active", PALETTE[1]),
      line("daily_active", "Daily active", PALETTE[2], { fill: "tozeroy", fillcolor: "rgba(89, 161, 79, 0.10)" }),
      line("seats", "Seats", "#8a94a3", { line: { color: "#8a94a3", width: 1.5, dash: "dash" } }),
    ];
    await drawChart(box, traces, peopleLayout(1.1));
  }

  // Counts of people by day, legend above the plot.
  function peopleLayout(legendY) {
    return baseLayout({
      xaxis: timeAxis("day"),
      yaxis: { tickformat: ",d" },
      hovermode: "x unified",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: legendY },
      margin: { t: 28 },
    });
  }

  async function renderSurfaceChart(data) {
    const box = $("#surface-chart");
    const s = data.series || [];
    const x = s.map((r) => r.day);
    const surfaces = [
      ["chat_daily_active", "Chat", PALETTE[0]],
      ["claude_code_daily_active", "Claude Code", PALETTE[1]],
      ["cowork_daily_active", "Cowork", PALETTE[6]],
    ].filter(([k]) => s.some((r) => r[k] !== null && r[k] !== undefined));
    if (!s.length || !surfaces.length) {
      chartEmpty(box, "No per-surface data in this range.");
      return;
    }
    const traces = surfaces.map(([key, name, color]) => ({
      // not stacked: one person can use several surfaces on the same day
      type: "scatter", mode: "lines", name, x, y: s.map((r) => (r[key] === null || r[key] === undefined ? null : Number(r[key]))),
      line: { color, width: 2 }, hovertemplate: "%{y:,}<extra>" + name + "</extra>",
    }));
    await drawChart(box, traces, peopleLayout(1.14));
  }

  function renderEngTables(data) {
    const simple = (id, rows, nameOf, subOf, a, b, empty) =>
      setTableBody(
        $("#" + id),
        rows.map((r) => el("tr", {}, labelCell(nameOf(r), subOf(r)), countCell(r[a]), countCell(r[b]))),
        empty,
      );
    simple("skills-table", data.skills || [], (r) => r.label || r.name, (r) => r.name, "users", "invocations", "No skills used in this range.");
    simple("connectors-table", data.connectors || [], (r) => r.label || r.name, (r) => r.name, "users", "calls", "No connectors used in this range.");
    simple("projects-table", data.projects || [], (r) => r.name || r.id, () => null, "users", "conversations", "No projects in this range.");
  }

  // ================================================================== Login

  function pageLogin() {
    const q = new URLSearchParams(location.search);
    const next = q.get("next") || "/";
    // only same-site paths; the server checks again
    $("#next").value = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
    $("#login-error").hidden = q.get("error") !== "1";
    if (q.get("error") === "1") $("#token").setAttribute("aria-invalid", "true");
    setReady(true);
  }

  // ================================================================== boot

  const PAGES = {
    overview: pageOverview,
    explorer: pageExplorer,
    connections: pageConnections,
    claude_code: pageClaudeCode,
    "claude-code": pageClaudeCode,
    engagement: pageEngagement,
    login: pageLogin,
  };

  function boot() {
    const page = document.body.dataset.page;
    for (const input of $$('input[type="date"]')) input.addEventListener("change", () => delete input.dataset.auto);
    if (page !== "login") initChrome();
    const fn = PAGES[page];
    if (fn) {
      Promise.resolve()
        .then(fn)
        .catch((err) => showPageError(err));
    }
  }

  // exposed for debugging and tests (formatting must match what the tests compute)
  window.spendscope = { fmtMoney, fmtCount, fmtInt, fmtPct, sumDecimals, roundDecimal, api };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
