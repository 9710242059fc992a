/* Engagement (/engagement): Claude Enterprise active users, seats, adoption, product surfaces
 * and the top skills, connectors and projects, for a range kept in the address. */

import { api, clearPageError, getMeta, showPageError } from "../api.js";
import { baseLayout, chartEmpty, chartLoading, drawChart, PALETTE, timeAxis } from "../charts.js";
import {
  dateValue,
  fillAutoDate,
  fillConnectionSelect,
  rangeStateFromUrl,
  setDateInput,
  writeUrl,
} from "../controls.js";
import { $, el, ensureOption, setKpi, setReady } from "../dom.js";
import { addDays, fmtDate, fmtInt, fmtPct } from "../format.js";
import { countCell, labelCell, setTableBody } from "../tables.js";

const eng = { seq: 0 };

export async function pageEngagement() {
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
