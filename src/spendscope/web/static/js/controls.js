/* Form controls and the state kept in the address: date inputs, the range pages' query string
 * (since, until, connection, …), links into the Explorer, the connection picker. */

import { $$, el } from "./dom.js";
import { validDay } from "./format.js";

/** Date inputs: a value the user chose, or one filled in from the API's default range
 *  (data-auto) which is shown but not written to the URL, so "last 30 days" stays rolling. */
export function setDateInput(input, value) {
  input.value = value || "";
  if (value) delete input.dataset.auto;
  else input.dataset.auto = "1";
}

/** A date the user edits is theirs from then on: it goes into the address. */
export function watchDateInputs() {
  for (const input of $$('input[type="date"]')) input.addEventListener("change", () => delete input.dataset.auto);
}

/** Show the range the API used in an input the user has not set. */
export function fillAutoDate(input, value) {
  if (input.dataset.auto === "1") input.value = value || "";
}

/** The input's date for the address: "" unless the user chose a valid day. */
export function dateValue(input) {
  if (input.dataset.auto === "1") return "";
  return validDay(input.value) ? input.value : "";
}

/** A link to the Explorer with `params` (arrays become repeated parameters). */
export function explorerUrl(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== null) q.set(k, v);
  }
  return "/explorer?" + q.toString();
}

/** since / until / connection (and `extra` keys with their defaults) from the address. */
export function rangeStateFromUrl(extra = {}) {
  const q = new URLSearchParams(location.search);
  const st = { since: q.get("since") || "", until: q.get("until") || "", connection: q.get("connection") || "" };
  for (const [k, def] of Object.entries(extra)) st[k] = q.get(k) || def;
  return st;
}

/** Put a state's non-empty values in the address (a new history entry when `push`). */
export function writeUrl(st, push = true) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(st)) if (v) q.set(k, v);
  const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
  if (url !== location.pathname + location.search) (push ? history.pushState : history.replaceState).call(history, null, "", url);
}

/** "All connections" and each connection (of `kind`, when given) as options. */
export function fillConnectionSelect(select, meta, kind) {
  const conns = (meta.connections || []).filter((c) => !kind || c.kind === kind);
  select.replaceChildren(el("option", { value: "" }, "All connections"), ...conns.map((c) => el("option", { value: c.label }, c.label)));
}
