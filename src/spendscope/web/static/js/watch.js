/* What the Budgets and Alerts pages share: a threshold's state as a badge, a usage bar (a
 * percent of an amount, with marks at the thresholds), a note from the API as a sentence, and
 * an optional endpoint's answer kept apart from the page's (a 404 means "not on this server"). */

import { ApiError, api, renderError } from "./api.js";
import { el } from "./dom.js";
import { fmtDateTime, fmtMoney, fmtPct } from "./format.js";

/** A percent as decimal text ("82.6") as the fraction the formatters take. */
export function percentFraction(text) {
  if (text === null || text === undefined || text === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n / 100 : null;
}

/** "82.6" → "82.6%" (null → "—"). */
export function percentText(text, digits = 1) {
  return fmtPct(percentFraction(text), digits);
}

/** A note from the API as a sentence: capitalised, with a full stop. */
export function sentence(text) {
  const s = String(text).trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}

const STATE_TONES = { ok: "ok", resolved: "info" };
const FIRING_TONES = { critical: "error", warning: "warn", info: "warn" };

/** A threshold's label: "80%" for actual spend, "forecast 100%" for the month-end P50. */
export function thresholdLabel(s) {
  return s.kind === "forecast" ? `forecast ${s.threshold}%` : `${s.threshold}%`;
}

/** A threshold and its state as a badge; its limit, reason and last change in the title. */
export function thresholdBadge(s) {
  const tone = s.state === "firing" ? FIRING_TONES[s.severity] || "warn" : STATE_TONES[s.state] || "info";
  const title = [
    `${s.kind === "forecast" ? "Month-end forecast (P50)" : "Month to date"} at ${s.threshold}% of the amount`,
    s.limit !== null && s.limit !== undefined ? `limit ${fmtMoney(s.limit)}` : null,
    `severity ${s.severity}`,
    s.reason ? `last change: ${s.reason}${s.changed_at ? " on " + fmtDateTime(s.changed_at) : ""}` : null,
    s.pending ? `the next evaluation makes it ${s.pending}` : null,
  ];
  return el(
    "span",
    {
      class: `badge threshold ${tone}`,
      title: title.filter(Boolean).join("; "),
      dataset: { kind: s.kind, threshold: s.threshold, state: s.state, pending: s.pending || "" },
    },
    `${thresholdLabel(s)} ${s.state}`,
    s.pending ? ` → ${s.pending}` : null,
  );
}

/** A bar for `percent` (decimal text) of an amount: filled to it (capped at 100), coloured at
 *  80 % and at 100 %, with a tick at each of `ticks` (percents) and a marker at `marker`. */
export function usageBar(percent, { ticks = [], marker = null, label = "" } = {}) {
  const frac = percentFraction(percent);
  const pct = frac === null ? 0 : Math.max(0, frac * 100);
  const level = pct >= 100 ? "over" : pct >= 80 ? "high" : "";
  const track = el(
    "div",
    { class: "usage-track" },
    el("div", { class: ("usage-fill " + level).trim(), style: { width: `${Math.min(100, pct).toFixed(2)}%` } }),
    ticks
      .map(percentFraction)
      .filter((t) => t !== null && t > 0 && t <= 1)
      .map((t) => el("span", { class: "usage-tick", "aria-hidden": "true", style: { left: `${(t * 100).toFixed(2)}%` } })),
  );
  const m = percentFraction(marker);
  if (m !== null) {
    track.append(el("span", { class: "usage-marker", "aria-hidden": "true", style: { left: `${Math.min(100, m * 100).toFixed(2)}%` } }));
  }
  return el(
    "div",
    {
      class: "usage",
      role: "meter",
      "aria-label": label || "Share used",
      "aria-valuemin": "0",
      "aria-valuemax": String(Math.max(100, Math.ceil(pct))),
      "aria-valuenow": pct.toFixed(2),
      "aria-valuetext": frac === null ? "unknown" : percentText(percent),
      dataset: { value: percent ?? "" },
    },
    track,
    el("span", { class: "usage-text num" }, frac === null ? "—" : percentText(percent)),
  );
}

/** GET an endpoint another part of the page does not depend on: {found} or {failed}, and
 *  {missing: true} when this server does not have it (404). */
export function optional(path, options) {
  return api(path, options).then(
    (found) => ({ found }),
    (failed) => (failed instanceof ApiError && failed.status === 404 ? { missing: true } : { failed }),
  );
}

/** An error kept inside one panel (the rest of the page stands): a message box. */
export function panelError(err) {
  const box = el("div", { class: "message error", role: "alert" });
  renderError(box, err);
  return box;
}
