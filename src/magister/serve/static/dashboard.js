// magister dashboard: plain JS and hand-written SVG (no library, no network besides this server).
// Polls the API: the list of curricula, then for the selected one its new events (history?after=)
// and its beliefs. The token comes from the URL fragment (#token=...) or the input box, kept in
// localStorage; every request sends it as "Authorization: Bearer <token>".
"use strict";

const params = new URLSearchParams(location.hash.slice(1));
const POLL_MS = Number(params.get("interval") || 1000);
const MAX_POINTS = 20000;
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
                "#ea580c", "#4f46e5", "#0d9488", "#9333ea", "#94a3b8"];
const SVGNS = "http://www.w3.org/2000/svg";

const state = { token: params.get("token") || localStorage.getItem("magister-token") || "",
                selected: params.get("c") || null, info: null, after: 0, obs: [], props: [], busy: false };

const $ = (id) => document.getElementById(id);
$("token").value = state.token;
$("token").addEventListener("change", (e) => {
  state.token = e.target.value.trim();
  localStorage.setItem("magister-token", state.token);
  tick();
});
if (state.token) localStorage.setItem("magister-token", state.token);

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(`${r.status}: ${msg}`);
  }
  return r.json();
}

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

// ------------------------------------------------------------------ SVG helpers
function el(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }
const W = 520, H = 260, L = 38, R = 10, T = 10, B = 24;
function axes(svg, xmin, xmax, ymin, ymax, xlabel, ylabel) {
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#cbd5e1" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#cbd5e1" }, svg);
  const fmt = (v) => (Math.abs(v) >= 1000 ? v.toExponential(1) : Number(v.toPrecision(3)).toString());
  el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, svg).textContent = fmt(ymin);
  el("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, svg).textContent = fmt(ymax);
  el("text", { x: L, y: H - 8 }, svg).textContent = fmt(xmin);
  el("text", { x: W - R, y: H - 8, "text-anchor": "end" }, svg).textContent = fmt(xmax);
  if (xlabel) el("text", { x: (L + W) / 2, y: H - 8, "text-anchor": "middle" }, svg).textContent = xlabel;
  if (ylabel) el("text", { x: 4, y: T + 8 }, svg).textContent = ylabel;
  const sx = (v) => L + (xmax > xmin ? (v - xmin) / (xmax - xmin) : 0.5) * (W - L - R);
  const sy = (v) => H - B - (ymax > ymin ? (v - ymin) / (ymax - ymin) : 0.5) * (H - T - B);
  return [sx, sy];
}

// ------------------------------------------------------------------ charts
function drawCurve() {
  const svg = $("curve");
  clear(svg);
  const obs = state.obs;
  svg.setAttribute("data-points", String(obs.length));
  if (!obs.length) { el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg).textContent = "no observations yet"; return; }
  let lo = Infinity, hi = -Infinity;
  for (const o of obs) { lo = Math.min(lo, o.score); hi = Math.max(hi, o.score); }
  const sr = state.info && state.info.score_range;
  if (sr && typeof sr.low === "number") { lo = Math.min(lo, sr.low); hi = Math.max(hi, sr.high); }  // (an open range, {finite: true}, has no bounds)
  const n = obs.length;
  const [sx, sy] = axes(svg, 1, n, lo, hi, "observation", "score");
  const step = Math.max(1, Math.floor(n / 1500));
  const dots = el("g", { fill: "#93c5fd" }, svg);
  for (let i = 0; i < n; i += step) el("circle", { cx: sx(i + 1), cy: sy(obs[i].score), r: 1.6 }, dots);
  const win = Math.max(1, Math.min(200, Math.floor(n / 20)));
  let sum = 0; const pts = [];
  for (let i = 0; i < n; i++) {
    sum += obs[i].score;
    if (i >= win) sum -= obs[i - win].score;
    if (i % step === 0 || i === n - 1) pts.push(`${sx(i + 1).toFixed(1)},${sy(sum / Math.min(i + 1, win)).toFixed(1)}`);
  }
  el("polyline", { points: pts.join(" "), fill: "none", stroke: "#1d4ed8", "stroke-width": 2 }, svg);
}

function isContinuous(spec) {
  if (!spec) return false;
  if (spec.type === "Box") return true;
  if (spec.type === "Dict") return Object.values(spec.spaces).some(isContinuous);
  return false;
}
function numbers(task, out) {
  if (typeof task === "number") out.push(task);
  else if (Array.isArray(task)) task.forEach((t) => numbers(t, out));
  else if (task && typeof task === "object") Object.keys(task).sort().forEach((k) => numbers(task[k], out));
  return out;
}
function label(task) { return typeof task === "string" ? task : JSON.stringify(task); }

function drawSamples() {
  const svg = $("samples");
  clear(svg);
  $("samples-legend").innerHTML = "";
  const spec = state.info && state.info.space;
  const tasks = [];
  for (const p of state.props) for (const t of p.tasks) tasks.push({ seq: p.seq, t });
  svg.setAttribute("data-count", String(tasks.length));
  if (!tasks.length) { el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg).textContent = "no proposals yet"; return; }
  if (isContinuous(spec)) {
    const pts = tasks.map((x) => numbers(x.t, []));
    const dim = pts[0].length;
    const n = pts.length;
    const step = Math.max(1, Math.floor(n / 3000));
    let xs, ys, xl, yl;
    if (dim >= 2) {
      xs = pts.map((p) => p[0]); ys = pts.map((p) => p[1]);
      const names = (spec.type === "Box" && spec.names) || ["dim 0", "dim 1"];
      xl = names[0]; yl = names[1];
      $("samples-note").textContent = `proposed tasks (first two coordinates), older lighter · ${n} tasks`;
    } else {
      xs = pts.map((_, i) => i + 1); ys = pts.map((p) => p[0]);
      xl = "proposal"; yl = "task";
      $("samples-note").textContent = `proposed task over time · ${n} tasks`;
    }
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (spec.type === "Box") {
      if (dim >= 2) { x0 = spec.low[0]; x1 = spec.high[0]; y0 = spec.low[1]; y1 = spec.high[1]; }
      else { y0 = spec.low[0]; y1 = spec.high[0]; }
    }
    const [sx, sy] = axes(svg, x0, x1, y0, y1, xl, yl);
    const g = el("g", {}, svg);
    for (let i = 0; i < n; i += step) {
      const age = n > 1 ? i / (n - 1) : 1;
      el("circle", { cx: sx(xs[i]), cy: sy(ys[i]), r: 2, fill: "#1d4ed8", "fill-opacity": (0.12 + 0.88 * age).toFixed(2) }, g);
    }
    return;
  }
  // finite space: stacked share of each task in successive windows of proposals
  const counts = new Map();
  for (const x of tasks) { const k = label(x.t); counts.set(k, (counts.get(k) || 0) + 1); }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map((e) => e[0]);
  const keys = counts.size > top.length ? [...top, "other"] : top;
  const bins = Math.max(1, Math.min(40, Math.floor(tasks.length / 5)));
  const per = tasks.length / bins;
  const share = [];
  for (let b = 0; b < bins; b++) {
    const row = new Map(keys.map((k) => [k, 0]));
    const start = Math.floor(b * per), end = Math.floor((b + 1) * per);
    for (let i = start; i < end; i++) {
      const k = label(tasks[i].t);
      const key = row.has(k) ? k : "other";
      row.set(key, row.get(key) + 1);
    }
    const tot = Math.max(1, end - start);
    share.push(keys.map((k) => row.get(k) / tot));
  }
  $("samples-note").textContent = `share of each task among proposals over time (${bins} windows) · ${tasks.length} tasks`;
  const [sx, sy] = axes(svg, 0, tasks.length, 0, 1, "proposals", "share");
  const xAt = (b) => sx(b * per + per / 2);
  const base = new Array(bins).fill(0);
  keys.forEach((k, j) => {
    const top_ = base.map((v, b) => v + share[b][j]);
    let d = "";
    for (let b = 0; b < bins; b++) d += `${b ? "L" : "M"}${xAt(b).toFixed(1)},${sy(top_[b]).toFixed(1)}`;
    for (let b = bins - 1; b >= 0; b--) d += `L${xAt(b).toFixed(1)},${sy(base[b]).toFixed(1)}`;
    el("path", { d: d + "Z", fill: COLORS[j % COLORS.length], "fill-opacity": 0.85, "data-task": k }, svg);
    for (let b = 0; b < bins; b++) base[b] = top_[b];
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${COLORS[j % COLORS.length]}"></i>`;
    item.appendChild(document.createTextNode(k));
    $("samples-legend").appendChild(item);
  });
}

function drawBeliefs(b) {
  $("beliefs").textContent = JSON.stringify(b, null, 1).slice(0, 20000);
  const svg = $("beliefs-chart");
  clear(svg);
  // find numeric arrays to plot as bars: per-task arrays for discrete teachers, anything numeric otherwise
  let labels = Array.isArray(b.tasks) ? b.tasks.map(String) : null;
  let series = Object.entries(b).filter(([k, v]) => Array.isArray(v) && v.length && v.length <= 400 &&
                                       v.every((x) => typeof x === "number" || x === null) && k !== "tasks");
  let note = "";
  if (!series.length) {
    // a large space: per-task arrays arrive summarised ({n, min, max, mean, top: [{index, task, value}]});
    // plot the top tasks of the first one
    const tops = Object.entries(b).filter(([, v]) => v && typeof v === "object" && Array.isArray(v.top) && v.top.length);
    if (tops.length) {
      const [k, v] = tops[0];
      series = [[k, v.top.map((e) => e.value)]];
      labels = v.top.map((e) => String(e.task ?? e.index));
      note = ` (top ${v.top.length} of ${v.n} tasks; mean ${Number(v.mean).toPrecision(3)})`;
    }
  }
  if (!series.length) { svg.hidden = true; $("beliefs-note").textContent = `teacher ${b.teacher || ""}`; return; }
  svg.hidden = false;
  const chosen = series.slice(0, 3);
  const n = Math.max(...chosen.map(([, v]) => v.length));
  let lo = 0, hi = 0;
  for (const [, v] of chosen) for (const x of v) if (x !== null) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  if (hi === lo) hi = lo + 1;
  const [, sy] = axes(svg, 0, n, lo, hi, labels ? "task" : "index", "");
  const slot = (W - L - R) / n, bw = (slot * 0.8) / chosen.length;
  chosen.forEach(([k, v], j) => {
    const g = el("g", { fill: COLORS[j], "data-series": k }, svg);
    v.forEach((x, i) => {
      if (x === null) return;
      const y = sy(Math.max(x, 0)), y0 = sy(Math.min(x, 0));
      el("rect", { x: L + i * slot + slot * 0.1 + j * bw, y, width: Math.max(bw, 0.5), height: Math.max(y0 - y, 0.5) }, g);
    });
  });
  if (labels && n <= 30) labels.forEach((t, i) => {
    el("text", { x: L + (i + 0.5) * slot, y: H - B + 10, "text-anchor": "middle" }, svg).textContent = t.slice(0, 8);
  });
  $("beliefs-note").innerHTML = chosen.map(([k], j) => `<span class="legend"><span><i style="background:${COLORS[j]}"></i>${k}</span></span>`).join(" ");
  if (note) $("beliefs-note").appendChild(document.createTextNode(note));
}

// ------------------------------------------------------------------ data flow
function renderList(list) {
  const ul = $("curricula");
  ul.innerHTML = "";
  for (const c of list) {
    const li = document.createElement("li");
    li.dataset.name = c.name;
    if (c.name === state.selected) li.className = "selected";
    li.textContent = c.name;
    const small = document.createElement("small");
    // (an entry another process of a cluster serves has its name and owner only, one that cannot be served its
    // name and why: reading the space of either stopped the list there and showed no curriculum)
    if (c.damaged) { small.textContent = "damaged: cannot be served"; li.title = c.damaged; }
    else if (c.served_by) small.textContent = `served by ${c.served_by}`;
    else small.textContent = `${c.teacher} · ${c.space.type} · ${c.n_observed} obs`;
    li.appendChild(small);
    li.addEventListener("click", () => select(c.name));
    ul.appendChild(li);
  }
  if (!list.length) ul.innerHTML = '<li class="empty">no curricula yet</li>';
}

function select(name) {
  if (state.selected === name) return;
  state.selected = name; state.after = 0; state.obs = []; state.props = []; state.info = null;
  document.querySelectorAll("#curricula li").forEach((li) => li.classList.toggle("selected", li.dataset.name === name));
  tick();
}

async function refreshSelected() {
  const name = state.selected;
  const enc = encodeURIComponent(name);
  // the light summary (bounded whatever the space; GET /v1/curricula/{name}/beliefs has the beliefs in full)
  const info = await api(`/v1/curricula/${enc}/summary?top=30`);
  if (state.selected !== name) return;
  state.info = info;
  // a long log: start from its recent part (the charts keep at most MAX_POINTS of each kind)
  if (state.after === 0 && info.last_seq > 2 * MAX_POINTS) state.after = info.last_seq - 2 * MAX_POINTS;
  let more = true;
  while (more) {
    const h = await api(`/v1/curricula/${enc}/history?after=${state.after}&limit=5000`);
    if (state.selected !== name) return;
    for (const e of h.events) {
      if (e.kind === "observe") state.obs.push(e); else if (e.kind === "propose") state.props.push(e);
    }
    state.after = h.last_seq;
    more = h.more;
  }
  if (state.obs.length > MAX_POINTS) state.obs = state.obs.slice(-MAX_POINTS);
  if (state.props.length > MAX_POINTS) state.props = state.props.slice(-MAX_POINTS);
  $("placeholder").hidden = true;
  $("panel").hidden = false;
  $("title").textContent = `${info.name} — ${info.teacher}`;
  $("stats").innerHTML = "";
  for (const [k, v] of [["observed", info.n_observed], ["proposed", info.n_proposed], ["log seq", info.last_seq],
                        ["checkpoint at", info.checkpoint_seq], ["space", JSON.stringify(info.space).slice(0, 80)]]) {
    const s = document.createElement("span");
    s.textContent = `${k}: ${v}`;
    $("stats").appendChild(s);
  }
  drawCurve();
  drawSamples();
  drawBeliefs(info.beliefs || {});
}

// the curriculum shown when none is chosen: the first listed that can be served (one marked damaged answers 409)
function firstServed(list) {
  const c = list.find((e) => !e.damaged);
  return c ? c.name : null;
}

async function tick() {
  if (state.busy) return;
  state.busy = true;
  try {
    const list = (await api("/v1/curricula")).curricula;
    if (!state.selected) state.selected = firstServed(list);
    renderList(list);
    // the list is the first page only: a selected curriculum not on it (a later page, a #c= link) stays
    // selected while it exists; one deleted (404) or out of the token's scope (403) gives way to the first
    if (state.selected) {
      try {
        await refreshSelected();
      } catch (e) {
        if (!/^40[34]:/.test(String(e.message)) || list.some((c) => c.name === state.selected)) throw e;
        state.selected = firstServed(list);
        state.after = 0; state.obs = []; state.props = []; state.info = null;
        renderList(list);
        if (state.selected) await refreshSelected();
      }
    }
    if (!state.selected) { $("panel").hidden = true; $("placeholder").hidden = false; }
    setStatus(`live · updated ${new Date().toLocaleTimeString()}`, false);
  } catch (e) {
    setStatus(String(e.message || e), true);
  } finally {
    state.busy = false;
  }
}

window.addEventListener("hashchange", () => {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.get("token")) { state.token = p.get("token"); $("token").value = state.token; localStorage.setItem("magister-token", state.token); }
  if (p.get("c")) select(p.get("c")); else tick();
});

tick();
setInterval(tick, POLL_MS);
