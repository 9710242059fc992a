/* spendscope dashboard — native ES modules, no build step.
 *
 * Every page is a static HTML document with <body data-page="…"> that loads this module
 * (<script type="module">); it finds the page's module by that name and runs it. Data comes from
 * the REST API under /api/v1 (docs/api.md). The shared modules are in js/: format.js (every
 * number, money amount and date shown), dom.js, api.js, tables.js, charts.js, controls.js; each
 * page's own code is in js/pages/.
 *
 * Test hooks: body[data-ready="1"] once a page's data is loaded and drawn ("0" while loading),
 * body[data-error="1"] when the last load failed; every chart and table has a stable id.
 */

import { api, getMeta, showPageError } from "./js/api.js";
import { watchDateInputs } from "./js/controls.js";
import { $, el } from "./js/dom.js";
import { fmtCount, fmtDate, fmtInt, fmtMoney, fmtPct, roundDecimal, sumDecimals } from "./js/format.js";
import { pageAlerts } from "./js/pages/alerts.js";
import { pageAllocation } from "./js/pages/allocation.js";
import { pageBudgets } from "./js/pages/budgets.js";
import { pageClaudeCode } from "./js/pages/claude_code.js";
import { pageConnections } from "./js/pages/connections.js";
import { pageEngagement } from "./js/pages/engagement.js";
import { pageExplorer } from "./js/pages/explorer.js";
import { pageLogin } from "./js/pages/login.js";
import { pageOverview } from "./js/pages/overview.js";

const PAGES = {
  overview: pageOverview,
  explorer: pageExplorer,
  allocation: pageAllocation,
  budgets: pageBudgets,
  alerts: pageAlerts,
  connections: pageConnections,
  claude_code: pageClaudeCode,
  "claude-code": pageClaudeCode,
  engagement: pageEngagement,
  login: pageLogin,
};

/** The sidebar's foot: today's date, the sync schedule and the version. */
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

function boot() {
  const page = document.body.dataset.page;
  watchDateInputs();
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
