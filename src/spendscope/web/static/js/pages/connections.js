/* Connections (/connections): each connection's health, events, test / sync / delete, the sync
 * status, and the form that connects an organization. */

import { api, ApiError, clearPageError, getMeta, renderError, showPageError } from "../api.js";
import { $, $$, el, setReady } from "../dom.js";
import { fmtDate, fmtDateTime } from "../format.js";
import { countCell, labelCell, setTableBody } from "../tables.js";

const conn = { list: [], openEvents: new Set(), polling: null, lastRunning: false, meta: null };

export async function pageConnections() {
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
