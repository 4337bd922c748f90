// gasleak operator console: a client of the public API (no private endpoints).
// Fleet: GET /api/devices when the service has it (checked in /openapi.json), else the devices
// named by alerts, each read with GET /api/devices/{id}. Alerts: GET /api/alerts, then live
// events from /ws/alerts?since=<last_event_id> (no gap, no duplicate). Acknowledge: POST
// /api/alerts/{id}/ack. Device page: GET /api/devices/{id}/readings and its alerts. Silences:
// GET/POST /api/silences, only where the service has them (checked in /openapi.json).
// Sign-in: an API key kept in sessionStorage (this tab only), sent as Authorization: Bearer
// on every fetch; /ws/alerts opens with a single-use ticket from POST /api/ws-ticket, since a
// browser cannot set headers on a WebSocket and a long-lived key must never be in a URL.
"use strict";

const REFRESH_MS = 5000;
const SPARK_POINTS = 60;
const SPARK_REFRESH_MS = 30000; // one history query per device: not on every 5 s tick
const SPARK_DEVICES = 100; // sparklines for the first 100 devices of the fleet
const FLEET_MAX = 10000; // rows in the fleet table; the rest are counted, not listed
// "cleared_unacked": a latched alarm whose gas cleared, still waiting for an acknowledgement
const OPEN_STATES = new Set(["active", "acknowledged", "cleared_unacked"]);
const NEEDS_ACK = new Set(["active", "cleared_unacked"]);
const SILENCE_CHOICES = [["15 min", 900], ["1 h", 3600], ["4 h", 14400], ["8 h", 28800]];
const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };
const KEY_ITEM = "gasleak.key";

const $ = (sel) => document.querySelector(sel);
const state = {
  alerts: new Map(), // alert_id -> alert (shape of GET /api/alerts items)
  devices: new Map(), // device_id -> DeviceInfo
  sparks: new Map(), // device_id -> [gas means] of its last hour
  seenEvents: new Set(),
  lastEventId: 0,
  hasDeviceList: false,
  hasSilences: false,
  silences: [], // active silences (GET /api/silences, status "active")
  alertStates: new Set(["active", "acknowledged"]), // those the service's API knows
  status: null,
  prevStatus: null,
  view: "fleet",
  deviceId: null,
  ackAlertId: null,
  statusTimer: null,
  sparksAt: -Infinity,
};

class ApiError extends Error {
  constructor(status, body) {
    super(`${status}: ${body}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { "content-type": "application/json" };
  const key = sessionStorage.getItem(KEY_ITEM);
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(path, { headers, ...options });
  const text = await r.text();
  if (r.status === 401 && key) signOut("The key was refused (unknown or revoked): sign in again.");
  if (!r.ok) throw new ApiError(r.status, text);
  return text ? JSON.parse(text) : null;
}

// ---- sign-in ------------------------------------------------------------------------------

function signOut(message = "") {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.setItem("gasleak.signin-message", message);
  location.reload(); // the page starts over at the sign-in box, on the same route
}

function showSignIn(message = "") {
  $("#signin").hidden = false;
  $("#main").hidden = true;
  $("#signin-error").textContent = message;
}

function signedIn() {
  return new Promise((resolve) => {
    if (sessionStorage.getItem(KEY_ITEM)) {
      resolve();
      return;
    }
    showSignIn(sessionStorage.getItem("gasleak.signin-message") || "");
    $("#signin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = $("#signin-key").value.trim();
      // check the key before keeping it: a viewer-level read must pass
      const r = await fetch("/api/status", { headers: { authorization: `Bearer ${key}` } });
      if (r.status === 401) {
        $("#signin-error").textContent = "Unknown or revoked key.";
        return;
      }
      if (r.status === 403) {
        $("#signin-error").textContent = "This key may not read alerts (a gateway key?): "
          + "use a viewer, operator or admin key.";
        return;
      }
      sessionStorage.setItem(KEY_ITEM, key);
      sessionStorage.removeItem("gasleak.signin-message");
      $("#signin-key").value = "";
      resolve();
    });
  });
}

function banner(message) {
  const el = $("#banner");
  el.textContent = message || "";
  el.hidden = !message;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const fmt = {
  num: (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits)),
  time: (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) : "–"),
  p: (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2)),
};

// ---- alerts -------------------------------------------------------------------------------

async function loadAlerts() {
  // every page of open alerts: the first 1,000 alone hid the rest of an alarm flood, critical
  // ones included, and /ws/alerts resumed after them (newcomer of 10 Dec: 15,068 not shown)
  const states = [...OPEN_STATES].filter((st) => state.alertStates.has(st))
    .map((st) => `state=${st}`).join("&");
  let cursor = null;
  let since = null; // the first page's snapshot: /ws/alerts replays every event after it
  do {
    const more = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api(`/api/alerts?${states}&limit=1000${more}`);
    for (const a of page.alerts) state.alerts.set(a.alert_id, a);
    if (since === null) since = page.last_event_id;
    cursor = page.next_cursor;
  } while (cursor);
  state.lastEventId = Math.max(state.lastEventId, since);
}

function applyEvent(e) {
  if (state.seenEvents.has(e.event_id)) return; // at-least-once delivery: drop repeats
  state.seenEvents.add(e.event_id);
  state.lastEventId = Math.max(state.lastEventId, e.event_id);
  const prev = state.alerts.get(e.alert_id);
  const a = prev || { alert_id: e.alert_id, device_id: e.device_id, kind: e.kind,
    opened_at: e.ts, acknowledged: null, resolved_at: null };
  Object.assign(a, { state: e.state, severity: e.severity, updated_at: e.ts,
    last_event_id: e.event_id });
  if (e.probability !== null && e.probability !== undefined) a.probability = e.probability;
  // gas in the device's own unit (ppm, %LEL, counts, mV); older events only had gas_ppm
  if (e.gas !== null && e.gas !== undefined) {
    a.gas = e.gas;
    a.gas_unit = e.gas_unit;
  } else if (e.gas_ppm !== null && e.gas_ppm !== undefined) {
    a.gas = e.gas_ppm;
    a.gas_unit = "ppm";
  }
  if (e.reason) a.reason = e.reason;
  if (e.detail) a.detail = e.detail;
  if (e.ack) a.acknowledged = { author: e.ack.author, comment: e.ack.comment, at: e.ts };
  // a re-alarm (a leak that worsened) makes an acknowledged alert active again
  if (e.type === "alert.updated" && e.state === "active") a.acknowledged = null;
  if (e.episode) a.episode = e.episode;
  if (e.type === "alert.resolved") a.resolved_at = e.ts;
  state.alerts.set(a.alert_id, a);
  renderAlerts(a.alert_id);
  clearTimeout(state.statusTimer); // counters changed: refresh soon, once per burst
  state.statusTimer = setTimeout(() => refreshStatus().catch(reportError), 300);
  if (!state.devices.has(e.device_id)) refreshFleet().catch(reportError);
  else renderFleet();
  if (state.view === "device" && state.deviceId === e.device_id) {
    renderDevice().catch(reportError);
  }
}

function openAlerts() {
  return [...state.alerts.values()].filter((a) => OPEN_STATES.has(a.state)).sort((x, y) =>
    (SEVERITY_RANK[y.severity] - SEVERITY_RANK[x.severity])
    || (NEEDS_ACK.has(y.state) - NEEDS_ACK.has(x.state))
    || String(y.opened_at).localeCompare(String(x.opened_at)));
}

function alertValue(a) {
  if (a.kind === "leak" && a.probability !== null && a.probability !== undefined) {
    const ep = a.episode || {};
    const peak = ep.peak_gas ?? ep.peak_gas_ppm;
    return `p=${fmt.p(a.probability)}`
      + (peak !== null && peak !== undefined ? `, peak ${fmt.num(peak)} ${gasUnit(a)}` : "");
  }
  const gas = a.gas ?? a.gas_ppm;
  return gas !== null && gas !== undefined ? `${fmt.num(gas)} ${gasUnit(a)}` : "–";
}

// The unit of an alert's gas values: the device's own (ppm, %LEL, counts, mV); an alert
// stored before units were kept has none and its value was stored as ppm.
function gasUnit(a) {
  return a.gas_unit || "ppm";
}

function ackCell(a) {
  if (a.acknowledged) {
    const c = a.acknowledged.comment ? `: ${a.acknowledged.comment}` : "";
    return el("span", { text: `${a.acknowledged.author}${c}` });
  }
  if (!NEEDS_ACK.has(a.state)) return el("span", { text: "–" });
  return el("button", { "data-testid": "ack-button", onclick: () => openAck(a) }, "Acknowledge");
}

function renderAlerts(flashId) {
  const body = $("#alerts tbody");
  const rows = openAlerts().map((a) => el("tr", {
    id: `alert-${a.alert_id}`, "data-alert-id": a.alert_id, "data-state": a.state,
    "data-kind": a.kind, "data-device-id": a.device_id,
    "data-testid": "alert-row", class: a.alert_id === flashId ? "flash" : null },
  el("td", {}, el("span", { class: `badge st-${a.severity}`, text: a.severity })),
  el("td", {}, el("a", { href: `#/device/${encodeURIComponent(a.device_id)}`,
    text: a.device_id })),
  el("td", { text: a.kind }),
  el("td", {}, el("span", { class: `dot st-${a.state === "active" ? a.severity : a.state}` }),
    a.state),
  el("td", { text: fmt.time(a.opened_at) }),
  el("td", { class: "num", text: alertValue(a) }),
  el("td", { text: a.detail || a.reason || "" }),
  el("td", {}, ackCell(a))));
  body.replaceChildren(...rows);
  $("#alert-count").textContent = rows.length ? `(${rows.length})` : "";
  $("#no-alerts").hidden = rows.length > 0;
}

// ---- acknowledge --------------------------------------------------------------------------

function openAck(a) {
  state.ackAlertId = a.alert_id;
  $("#ack-what").textContent = `${a.severity} ${a.kind} alert on ${a.device_id}, opened `
    + fmt.time(a.opened_at);
  $("#ack-author").value = localStorage.getItem("gasleak.author") || "";
  $("#ack-comment").value = "";
  $("#ack-error").textContent = "";
  $("#ack-dialog").showModal();
}

async function submitAck(event) {
  event.preventDefault();
  const author = $("#ack-author").value.trim();
  const comment = $("#ack-comment").value.trim();
  if (!author) {
    $("#ack-error").textContent = "Your name is required.";
    return;
  }
  localStorage.setItem("gasleak.author", author);
  try {
    const detail = await api(`/api/alerts/${encodeURIComponent(state.ackAlertId)}/ack`,
      { method: "POST", body: JSON.stringify({ author, comment }) });
    state.alerts.set(detail.alert_id, { ...state.alerts.get(detail.alert_id), ...detail });
    renderAlerts();
    $("#ack-dialog").close();
  } catch (err) {
    $("#ack-error").textContent = err.status === 409 ? "Already acknowledged or resolved."
      : err.status === 403 ? "Not acknowledged: this key's role may not acknowledge "
        + "(operator or admin needed)." : `Not acknowledged: ${err.message}`;
  }
}

// ---- fleet --------------------------------------------------------------------------------

// Every page of GET /api/devices for a query, up to `cap` devices (0: only the count);
// total: all that match.
async function devicePages(query, cap) {
  const items = [];
  let cursor = null;
  let total = 0;
  do {
    const more = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const limit = Math.max(1, Math.min(1000, cap - items.length));
    const page = await api(`/api/devices?${query}&limit=${limit}${more}`);
    items.push(...(page.devices || page.items || []));
    total = page.total ?? items.length;
    cursor = page.next_cursor;
  } while (cursor && items.length < cap);
  return { items: items.slice(0, cap), total };
}

async function deviceIds() {
  if (state.hasDeviceList) {
    // the devices with an open alert first, then the quiet ones by id, up to FLEET_MAX rows:
    // a plain first 10,000 by id left out a device further on with a critical alarm, and
    // said nothing of the devices not shown (newcomer of 10 Dec)
    const alarmed = await devicePages([...state.alertStates].map((st) => `state=${st}`)
      .join("&"), FLEET_MAX);
    const quiet = await devicePages("state=normal", FLEET_MAX - alarmed.items.length);
    return { items: [...alarmed.items, ...quiet.items], total: alarmed.total + quiet.total };
  }
  const page = await api("/api/alerts?limit=1000");
  for (const a of page.alerts) if (!state.alerts.has(a.alert_id)) state.alerts.set(a.alert_id, a);
  return { ids: [...new Set([...state.devices.keys(), ...page.alerts.map((a) => a.device_id),
    ...[...state.alerts.values()].map((a) => a.device_id)])] };
}

async function refreshFleet() {
  const found = await deviceIds();
  let infos = found.items;
  state.fleetTotal = found.total ?? null;
  if (!infos) {
    infos = (await Promise.all(found.ids.map((id) =>
      api(`/api/devices/${encodeURIComponent(id)}`).catch((err) => {
        if (err.status === 404) return null; // no longer tracked (evicted)
        throw err;
      })))).filter(Boolean);
  }
  state.devices = new Map(infos.map((d) => [d.device_id, d]));
  renderFleet();
  const missing = [...state.devices.keys()].some((id) => !state.sparks.has(id));
  if (missing || performance.now() - state.sparksAt > SPARK_REFRESH_MS) await refreshSparks();
}

// A device's readings history; a device the service does not know (404: never seen, or
// forgotten) has none, and its page says so instead of failing.
function history(id, points) {
  return api(`/api/devices/${encodeURIComponent(id)}/readings?max_points=${points}`)
    .catch((err) => {
      if (err.status === 404) return { points: [], to: new Date().toISOString() };
      throw err;
    });
}

async function refreshSparks() {
  state.sparksAt = performance.now();
  const ids = [...state.devices.keys()].slice(0, SPARK_DEVICES);
  await Promise.all(ids.map(async (id) => {
    const h = await history(id, SPARK_POINTS);
    state.sparks.set(id, h.points.map((p) => p.gas_ppm_mean));
  }));
  renderFleet();
}

function deviceAlerts(id) {
  return [...state.alerts.values()].filter((a) => a.device_id === id && OPEN_STATES.has(a.state));
}

function deviceState(d) {
  const open = deviceAlerts(d.device_id);
  const active = open.filter((a) => NEEDS_ACK.has(a.state));
  if (active.length) {
    return active.reduce((w, a) => (SEVERITY_RANK[a.severity] > SEVERITY_RANK[w] ? a.severity : w),
      "info");
  }
  return open.length ? "acknowledged" : "normal";
}

function deviceMarks(d) {
  const marks = [];
  if (d.signal?.state === "warming_up" || (d.buffer_fill ?? 0) < (d.window ?? 0)) {
    marks.push(el("span", { class: "mark", text: "warming up" }));
  }
  for (const a of deviceAlerts(d.device_id)) {
    if (a.kind !== "sensor_fault") continue;
    const silent = a.reason === "silent" || /silent/.test(a.detail || "");
    marks.push(el("span", { class: "mark fault", text: silent ? "silent" : "fault",
      title: a.detail || a.reason || "" }));
  }
  for (const sl of silencesOf(d.device_id)) {
    marks.push(el("span", { class: "mark", "data-testid": "silenced",
      text: `silenced until ${fmt.time(sl.ends_at).slice(11, 16)}`,
      title: `${sl.author}: ${sl.comment}` }));
  }
  return marks;
}

// ---- silences (where the service has them) -------------------------------------------------

function globMatch(pattern, id) {
  // fnmatch as the service applies it: *, ? and [...]
  const re = pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(id);
}

function silencesOf(id) {
  return state.silences.filter((sl) => sl.status === "active" && sl.device_id
    && globMatch(sl.device_id, id));
}

async function refreshSilences() {
  if (!state.hasSilences) return;
  state.silences = (await api("/api/silences")).silences.filter((sl) => sl.status === "active");
}

function renderSilenceForm(id) {
  const box = $("#dev-silence");
  box.hidden = !state.hasSilences;
  if (!state.hasSilences) return;
  const current = silencesOf(id).map((sl) => el("li", { text: `until ${fmt.time(sl.ends_at)}, `
    + `${sl.kind || "every kind"}: ${sl.author}: ${sl.comment}` }));
  $("#silence-current").replaceChildren(...current);
  if (!$("#silence-duration").options.length) {
    $("#silence-duration").replaceChildren(...SILENCE_CHOICES.map(([label, s]) =>
      el("option", { value: String(s), text: label })));
  }
  if (!$("#silence-author").value) {
    $("#silence-author").value = localStorage.getItem("gasleak.author") || "";
  }
}

async function submitSilence(event) {
  event.preventDefault();
  const author = $("#silence-author").value.trim();
  const comment = $("#silence-comment").value.trim();
  if (!author || !comment) {
    $("#silence-error").textContent = "Your name and a comment are required.";
    return;
  }
  localStorage.setItem("gasleak.author", author);
  const endsAt = new Date(Date.now() + 1000 * Number($("#silence-duration").value));
  try {
    await api("/api/silences", { method: "POST", body: JSON.stringify({
      device_id: state.deviceId, ends_at: endsAt.toISOString(), author, comment }) });
    $("#silence-error").textContent = "";
    $("#silence-comment").value = "";
    await refreshSilences();
    renderSilenceForm(state.deviceId);
    renderFleet();
  } catch (err) {
    $("#silence-error").textContent = `Not silenced: ${err.message}`;
  }
}

function sparkline(values) {
  const w = 120, h = 24;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  if (!values || values.length < 2) return svg;
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const pts = values.map((v, i) =>
    `${(i / (values.length - 1)) * (w - 2) + 1},${h - 1 - ((v - lo) / span) * (h - 2)}`);
  const line = document.createElementNS(svg.namespaceURI, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#d9480f");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

function renderFleet() {
  const devices = [...state.devices.values()].sort((a, b) =>
    (SEVERITY_RANK[deviceState(b)] ?? -1) - (SEVERITY_RANK[deviceState(a)] ?? -1)
    || a.device_id.localeCompare(b.device_id));
  const rows = devices.map((d) => {
    const st = deviceState(d);
    const r = d.last_reading || {};
    return el("tr", { "data-device-id": d.device_id, "data-state": st,
      "data-testid": "device-row" },
    el("td", {}, el("span", { class: `dot st-${st}` }), st),
    el("td", {}, el("a", { href: `#/device/${encodeURIComponent(d.device_id)}`,
      text: d.device_id })),
    el("td", { class: "num", text: r.gas_ppm === undefined || r.gas_ppm === null ? "–"
      : `${fmt.num(r.gas_ppm)} ${d.unit || "ppm"}` }), // the device's own unit
    el("td", { class: "num", text: fmt.num(r.temperature_c, 1) }),
    el("td", { class: "num", text: fmt.num(r.humidity_pct, 1) }),
    el("td", {}, sparkline(state.sparks.get(d.device_id))),
    el("td", { class: "num", text: fmt.p(d.last_probability) }),
    el("td", { text: fmt.time(d.last_ts) }),
    el("td", {}, ...deviceMarks(d)));
  });
  $("#fleet tbody").replaceChildren(...rows);
  const total = state.fleetTotal;
  const cut = total !== null && total !== undefined && total > rows.length;
  $("#fleet-count").textContent = cut ? `(${rows.length} of ${total})`
    : rows.length ? `(${rows.length})` : "";
  $("#no-devices").hidden = rows.length > 0;
  $("#fleet-source").textContent = !state.hasDeviceList
    ? "This service has no GET /api/devices: the fleet shows the devices named by alerts."
    : cut ? `Showing ${rows.length} of ${total} devices: every device with an open alert, `
      + "then the others by id. Open any device by its id in the address: #/device/<id>."
      : "";
}

// ---- status -------------------------------------------------------------------------------

async function refreshStatus() {
  const s = await api("/api/status");
  const now = performance.now();
  let rate = "–";
  if (state.prevStatus) {
    const dt = (now - state.prevStatus.at) / 1000;
    rate = ((s.windows_scored - state.prevStatus.windows) / dt).toFixed(1);
  }
  state.prevStatus = { at: now, windows: s.windows_scored };
  const rows = [
    ["Model", s.model_status.model_type], ["Inference device", s.model_status.device],
    ["Window / stride", `${s.model_status.window} / ${s.model_status.stride}`],
    ["Windows/s", rate], ["Scoring queue", s.windows_pending],
    ["Subscribers", s.subscribers], ["Devices", `${s.devices_tracked}`],
    ["Active alerts", s.active_alerts], ["Readings in", s.readings_accepted],
    ["Readings refused", s.readings_rejected], ["Scoring errors", s.scoring_errors],
    ["Uptime", `${Math.round(s.uptime_s)} s`],
  ];
  $("#status").replaceChildren(...rows.flatMap(([k, v]) =>
    [el("dt", { text: k }), el("dd", { "data-key": k, text: String(v) })]));
}

// ---- device page --------------------------------------------------------------------------

const charts = [];

function alertBands(alerts, endX) {
  return alerts.map((a) => ({ from: Date.parse(a.opened_at) / 1000,
    to: a.resolved_at ? Date.parse(a.resolved_at) / 1000 : endX, severity: a.severity }));
}

function bandsPlugin(bands) {
  const colours = { info: "28,126,214", warning: "240,140,0", critical: "224,49,49" };
  return { hooks: { drawClear: [(u) => {
    const { ctx, bbox } = u;
    for (const b of bands) {
      const x0 = Math.max(u.valToPos(b.from, "x", true), bbox.left);
      const x1 = Math.min(u.valToPos(b.to, "x", true), bbox.left + bbox.width);
      if (x1 <= bbox.left || x0 >= bbox.left + bbox.width) continue;
      ctx.fillStyle = `rgba(${colours[b.severity]},0.18)`;
      ctx.fillRect(x0, bbox.top, Math.max(x1 - x0, 2), bbox.height);
      ctx.fillStyle = `rgba(${colours[b.severity]},0.9)`;
      ctx.fillRect(x0, bbox.top, 2, bbox.height);
    }
  }] } };
}

function drawChart(target, title, label, colour, xs, ys, bands) {
  const node = $(target);
  node.replaceChildren();
  if (!window.uPlot || xs.length === 0) {
    node.append(el("p", { class: "empty", text: `${title}: no readings in this range.` }));
    return;
  }
  const width = Math.max(node.clientWidth - 4, 300);
  charts.push(new window.uPlot({ title, width, height: 180, plugins: [bandsPlugin(bands)],
    series: [{}, { label, stroke: colour, width: 1.5 }],
    axes: [{}, { size: 60 }] }, [xs, ys], node));
}

async function renderDevice() {
  const id = state.deviceId;
  $("#dev-title").textContent = id;
  const [info, hist, alerts] = await Promise.all([
    api(`/api/devices/${encodeURIComponent(id)}`).catch((err) => {
      if (err.status === 404) return null;
      throw err;
    }),
    history(id, 600),
    api(`/api/alerts?device_id=${encodeURIComponent(id)}&limit=200`),
  ]);
  if (state.view !== "device" || state.deviceId !== id) return;
  const facts = info ? [
    ["State", deviceState(info)], ["Last reading", fmt.time(info.last_ts)],
    ["Gas", `${fmt.num(info.last_reading?.gas_ppm)} ${info.unit}`],
    ["Baseline", `${fmt.num(info.gas_baseline)} ${info.unit}`],
    ["Leak p", fmt.p(info.last_probability)],
    ["Window", `${info.buffer_fill} / ${info.window}`],
  ] : [["State", "not tracked now (no reading for a long time, or never)"]];
  $("#dev-info").replaceChildren(...facts.map(([k, v]) =>
    el("span", {}, el("b", { text: `${k}: ` }), v)));
  renderSilenceForm(id);
  const xs = hist.points.map((p) => Date.parse(p.ts) / 1000);
  const endX = Date.parse(hist.to) / 1000;
  const bands = alertBands(alerts.alerts, endX);
  while (charts.length) charts.pop().destroy();
  const unit = (info && info.unit) || "ppm";
  drawChart("#chart-gas", `Gas (mean per bucket), ${unit}`, `gas ${unit}`, "#d9480f", xs,
    hist.points.map((p) => p.gas_ppm_mean), bands);
  drawChart("#chart-temp", "Temperature, °C", "°C", "#1c7ed6", xs,
    hist.points.map((p) => p.temperature_c_mean), bands);
  drawChart("#chart-rh", "Relative humidity, %RH", "%RH", "#2f9e44", xs,
    hist.points.map((p) => p.humidity_pct_mean), bands);
  const rows = alerts.alerts.map((a) => el("tr", { "data-alert-id": a.alert_id },
    el("td", { text: fmt.time(a.opened_at) }), el("td", { text: a.kind }),
    el("td", {}, el("span", { class: `badge st-${a.severity}`, text: a.severity })),
    el("td", { text: a.state }), el("td", { class: "num", text: alertValue(a) }),
    el("td", { text: fmt.time(a.resolved_at) }),
    el("td", { text: a.acknowledged ? `${a.acknowledged.author}: ${a.acknowledged.comment}`
      : "–" })));
  $("#dev-alerts tbody").replaceChildren(...rows);
  $("#dev-no-alerts").hidden = rows.length > 0;
}

// ---- live events --------------------------------------------------------------------------

async function connect(delay = 1000) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  let ticket;
  try {
    ticket = (await api("/api/ws-ticket", { method: "POST" })).ticket;
  } catch (err) {
    $("#conn").textContent = "reconnecting";
    setTimeout(() => connect(Math.min(delay * 2, 15000)), delay);
    return;
  }
  const ws = new WebSocket(`${proto}://${location.host}/ws/alerts?since=${state.lastEventId}`
    + `&ticket=${encodeURIComponent(ticket)}`);
  ws.onopen = () => {
    $("#conn").textContent = "live";
    $("#conn").className = "conn up";
  };
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.type === "subscribed") return;
    if (e.error) {
      if (typeof e.last_event_id === "number") {
        // our since is beyond the service's newest event (its store was replaced): go on
        // from its newest, and reload the alerts it holds
        state.lastEventId = e.last_event_id;
        loadAlerts().then(() => renderAlerts(), reportError);
        return;
      }
      banner(`/ws/alerts refused the subscription: ${JSON.stringify(e.detail)}`);
      return;
    }
    applyEvent(e);
  };
  ws.onclose = (c) => {
    $("#conn").textContent = "reconnecting";
    $("#conn").className = "conn down";
    const m = /since=(\d+)/.exec(c.reason || "");
    if (m) state.lastEventId = Number(m[1]);
    setTimeout(() => connect(Math.min(delay * 2, 15000)), delay);
  };
}

// ---- routing and start --------------------------------------------------------------------

function route() {
  const m = /^#\/device\/(.+)$/.exec(location.hash);
  state.view = m ? "device" : "fleet";
  state.deviceId = m ? decodeURIComponent(m[1]) : null;
  $("#view-fleet").hidden = state.view !== "fleet";
  $("#view-device").hidden = state.view !== "device";
  if (state.view === "device") renderDevice().catch(reportError);
}

function reportError(err) {
  banner(`The service did not answer as expected: ${err.message}`);
}

async function tick() {
  try {
    await Promise.all([refreshStatus(), refreshSilences()]);
    await refreshFleet();
    banner("");
  } catch (err) {
    reportError(err);
  }
}

async function start() {
  await signedIn();
  $("#signin").hidden = true;
  $("#main").hidden = false;
  $("#signout").hidden = false;
  api("/api/me").then((me) => {
    $("#who").textContent = `${me.name} (${me.role})`;
  }).catch(() => {});
  $("#signout").addEventListener("click", () => signOut("Signed out."));
  $("#ack-form").addEventListener("submit", submitAck);
  $("#ack-cancel").addEventListener("click", () => $("#ack-dialog").close());
  $("#dev-silence").addEventListener("submit", submitSilence);
  window.addEventListener("hashchange", route);
  try {
    const schema = await api("/openapi.json");
    state.hasDeviceList = Boolean(schema.paths["/api/devices"]?.get);
    state.hasSilences = Boolean(schema.paths["/api/silences"]?.post);
    // a service without latched alarms refuses state=cleared_unacked (422)
    const text = JSON.stringify(schema);
    state.alertStates = new Set([...OPEN_STATES].filter((st) => text.includes(`"${st}"`)));
    await loadAlerts();
  } catch (err) {
    reportError(err);
  }
  renderAlerts();
  connect();
  route();
  await tick();
  document.body.dataset.ready = "true";
  setInterval(tick, REFRESH_MS);
}

start();
