/* Numbers, money and dates as the dashboard shows them: the one place that turns a value into
 * text. Money arrives from the API as exact decimal text ("1234.567891230") and is rounded here
 * with BigInt arithmetic, never through a float; days are ISO dates in UTC ("2026-11-21").
 * Every page formats through these functions. */

// ------------------------------------------------------------------ decimal arithmetic

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
export function roundDecimal(v, places) {
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

/** Exact sum of decimal strings (BigInt arithmetic). */
export function sumDecimals(values) {
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

// ------------------------------------------------------------------ numbers and money

const groupThousands = (intStr) => intStr.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** "$1,234.57" from "1234.567891230" (exact decimal rounding; "-$3.10" for negatives). */
export function fmtMoney(v, places = 2) {
  if (v === null || v === undefined || v === "") return "—";
  const r = roundDecimal(v, places);
  if (!r) return String(v);
  return (r.neg ? "-" : "") + "$" + groupThousands(r.int) + (places ? "." + r.frac : "");
}

/** Signed money: "+$12.00" / "-$3.10". */
export function fmtMoneySigned(v) {
  const s = fmtMoney(v);
  return s.startsWith("-") || s === "—" ? s : "+" + s;
}

export function fmtInt(v) {
  if (v === null || v === undefined || v === "") return "—";
  const r = roundDecimal(v, 0);
  if (!r) return String(v);
  return (r.neg ? "-" : "") + groupThousands(r.int);
}

/** 1234 → "1.2K", 1234567 → "1.2M"; below 1000 the exact integer. */
export function fmtCount(v) {
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

export function fmtPct(frac, digits = 1) {
  if (frac === null || frac === undefined || frac === "" || !Number.isFinite(Number(frac))) return "—";
  return (Number(frac) * 100).toFixed(digits) + "%";
}

export function fmtPctSigned(frac, digits = 1) {
  if (frac === null || frac === undefined || !Number.isFinite(Number(frac))) return "—";
  const s = fmtPct(frac, digits);
  return Number(frac) > 0 ? "+" + s : s;
}

/** Value of a metric for display: money or abbreviated count, plus the exact value. */
export function metricText(value, unit) {
  if (unit === "usd") return fmtMoney(value);
  return fmtCount(value);
}

export function metricExact(value, unit) {
  if (value === null || value === undefined) return "";
  if (unit === "usd") return "$" + String(value);
  return fmtInt(value);
}

// ------------------------------------------------------------------ dates

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];

/** "2026-11-21" → "21 Nov 2026". */
export function fmtDate(day, withYear = true) {
  if (!day) return "—";
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(day);
  if (!m) return String(day);
  return `${parseInt(m[3], 10)} ${MONTHS[parseInt(m[2], 10) - 1]}` + (withYear ? ` ${m[1]}` : "");
}

/** ISO timestamp → "21 Nov 2026 14:05 UTC". */
export function fmtDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** "2026-11-21" → "Nov 2026" ("November 2026" when `long`). */
export function fmtMonth(day, long = false) {
  if (!day) return "—";
  const m = /^(\d{4})-(\d{2})/.exec(day);
  if (!m) return String(day);
  return `${(long ? MONTHS_LONG : MONTHS)[parseInt(m[2], 10) - 1]} ${m[1]}`;
}

// ------------------------------------------------------------------ day arithmetic (UTC)

function parseDay(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || "");
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
}

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

export function addDays(day, n) {
  const d = parseDay(day);
  d.setUTCDate(d.getUTCDate() + n);
  return isoDay(d);
}

export function monthStart(day, deltaMonths = 0) {
  const d = parseDay(day);
  return isoDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + deltaMonths, 1)));
}

export function dayMs(day) {
  const d = parseDay(day);
  return d ? d.getTime() : NaN;
}

export function validDay(s) {
  return !!parseDay(s);
}

/** Whole days from `since` to `until` (exclusive end), e.g. 30 for a 30-day range. */
export function daysBetween(since, until) {
  return Math.round((dayMs(until) - dayMs(since)) / 86400000);
}
