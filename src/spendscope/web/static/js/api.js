/* The REST API client (/api/v1, see docs/api.md), the cached /api/v1/meta, and how a failed
 * request is shown: the page's #error-box and body[data-error="1"]. */

import { $, $$, el } from "./dom.js";

export class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.hint = hint || "";
  }
}

/** Fetch JSON from the API. Throws ApiError with the API's error.message / error.hint. */
export async function api(path, { method = "GET", body, params, signal } = {}) {
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
export function renderError(box, err, scrub = []) {
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

export function showPageError(err) {
  if (err && err.name === "AbortError") return;
  console.warn("spendscope:", err); // warn, not error: the page shows it in the error box
  renderError($("#error-box"), err);
  document.body.dataset.error = "1";
  $$(".is-loading").forEach((n) => n.classList.remove("is-loading"));
}

export function clearPageError() {
  const box = $("#error-box");
  if (box) {
    box.hidden = true;
    box.replaceChildren();
  }
}

let metaPromise = null;
export function getMeta() {
  if (!metaPromise) metaPromise = api("/api/v1/meta");
  return metaPromise;
}

export function dimensionLabel(meta, name) {
  const d = (meta && meta.dimensions ? meta.dimensions : []).find((x) => x.name === name);
  return d ? d.label : name;
}
