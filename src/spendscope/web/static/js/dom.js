/* DOM helpers: element lookup and construction (text only, never HTML), the page's ready flag,
 * select options and key-figure tiles. */

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Build an element. attrs: class, dataset (object), on<Event> (function), other attributes.
 *  Children: strings become text nodes (never HTML), null/false are skipped. */
export function el(tag, attrs, ...children) {
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

/** The test hook: body[data-ready="1"] once the page's data is loaded and drawn. */
export function setReady(ready) {
  document.body.dataset.ready = ready ? "1" : "0";
  if (!ready) delete document.body.dataset.error;
}

/** Add `value` to a select's options when it is missing (a value read from the address). */
export function ensureOption(select, value, label) {
  if (![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, label || value));
}

/** Fill a key-figure tile `#id` (and its `#id-sub` line). */
export function setKpi(id, text, { title = "", value = null, sub = null } = {}) {
  const node = $("#" + id);
  if (!node) return;
  node.textContent = text;
  node.title = title;
  if (value !== null) node.dataset.value = String(value);
  if (sub !== null && $(`#${id}-sub`)) $(`#${id}-sub`).textContent = sub;
}
