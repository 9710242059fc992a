/* Tables: value, count, share and label cells, table bodies (rows, empty and loading states),
 * and tables sorted by clicking their headers. */

import { $, $$, el } from "./dom.js";
import { fmtPct, metricExact, metricText } from "./format.js";

/** A table cell for a metric value: formatted text, exact value in title and data-value. */
export function valueCell(value, unit, extraClass = "") {
  return el(
    "td",
    { class: ("num " + extraClass).trim(), title: metricExact(value, unit), dataset: { value: value === null || value === undefined ? "" : String(value) } },
    metricText(value, unit),
  );
}

/** A count: abbreviated ("1.2K"), the exact number in the title. */
export function countCell(value) {
  return valueCell(value, "count");
}

/** A share of a total as a bar and a percentage. */
export function shareCell(frac, color = null) {
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

/** Replace a table's rows; `emptyText` in one cell when there are none. */
export function setTableBody(table, rows, emptyText = "No data for this selection.") {
  const tbody = table.tBodies[0] || table.appendChild(el("tbody"));
  const cols = table.tHead ? table.tHead.rows[0].cells.length : 1;
  if (!rows.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "empty-cell" }, emptyText)));
  } else {
    tbody.replaceChildren(...rows);
  }
}

export function setTableLoading(table) {
  const tbody = table.tBodies[0];
  if (tbody && !tbody.rows.length) {
    const cols = table.tHead ? table.tHead.rows[0].cells.length : 1;
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "loading-cell" }, "Loading…")));
  }
  table.setAttribute("aria-busy", "true");
}

export function labelCell(label, sub, extra = {}) {
  return el(
    "td",
    Object.assign({ class: "cell-label", title: sub ? `${label} (${sub})` : label }, extra),
    label,
    sub && sub !== label ? el("span", { class: "cell-sub" }, sub) : null,
  );
}

/** Make a table sortable by clicking its th.sortable headers (data-sort = row field). */
export function sortableTable(table, getRows, render) {
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
