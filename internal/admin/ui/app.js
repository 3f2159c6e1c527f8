// edgeflow live dashboard: hand-written, no dependencies. It loads the whole
// state from api/state, then applies one server-sent event per second from
// api/events. Plots are drawn on canvases, the graph as SVG.
"use strict";

const WINDOW_MS = 5 * 60 * 1000;
const COLORS = ["#4fb0ff", "#3ecf8e", "#f5b942", "#c792ea", "#ff8a65", "#4dd0e1", "#aed581", "#f06292",
  "#9575cd", "#ffd54f", "#81c784", "#64b5f6", "#e57373", "#ba68c8", "#4db6ac", "#dce775"];
const SVG = "http://www.w3.org/2000/svg";

const state = { history: [], status: null, graph: null, gen: null };

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toString();
  return v.toFixed(a >= 10 ? 1 : 2);
}

function fmtSec(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1e-3) return (v * 1e6).toFixed(0) + "µs";
  if (v < 1) return (v * 1e3).toFixed(v < 0.01 ? 2 : 1) + "ms";
  return v.toFixed(2) + "s";
}

function fmtAgo(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  return Math.floor(s / 3600) + "h ago";
}

function fmtDur(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${m}m` : m ? `${m}m${s % 60}s` : `${s}s`;
}

// ---- graph -----------------------------------------------------------------

const NODE_W = 190, NODE_H = 88, COL_GAP = 44, ROW_GAP = 14, PAD = 12;

// layout places each node in the column of its longest path from a source;
// the dead-letter sink gets a column of its own at the end.
function layout(nodes) {
  const byName = new Map(nodes.map(n => [n.name, n]));
  const depth = new Map();
  const visit = (n, seen) => {
    if (depth.has(n.name)) return depth.get(n.name);
    if (seen.has(n.name)) return 0;
    seen.add(n.name);
    let d = 0;
    for (const i of n.inputs || []) {
      const up = byName.get(i);
      if (up) d = Math.max(d, visit(up, seen) + 1);
    }
    depth.set(n.name, d);
    return d;
  };
  nodes.forEach(n => visit(n, new Set()));
  let maxDepth = 0;
  nodes.forEach(n => { if (!n.deadLetter) maxDepth = Math.max(maxDepth, depth.get(n.name)); });
  const cols = [];
  for (const n of nodes) {
    const c = n.deadLetter ? maxDepth + 1 : depth.get(n.name);
    (cols[c] = cols[c] || []).push(n);
  }
  const pos = new Map();
  let rows = 0;
  cols.forEach((col, c) => {
    (col || []).forEach((n, r) => pos.set(n.name, { x: PAD + c * (NODE_W + COL_GAP), y: PAD + r * (NODE_H + ROW_GAP) }));
    rows = Math.max(rows, (col || []).length);
  });
  return { pos, width: PAD * 2 + cols.length * (NODE_W + COL_GAP) - COL_GAP, height: PAD * 2 + rows * (NODE_H + ROW_GAP) - ROW_GAP };
}

function drawGraph(graph) {
  const box = $("graph");
  box.textContent = "";
  if (!graph || !graph.nodes || !graph.nodes.length) {
    box.append(el("p", { class: "empty" }, "no pipeline"));
    return;
  }
  const { pos, width, height } = layout(graph.nodes);
  // Scaled down to the card's width when the graph is wider.
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, id: "graph-svg", style: `width: 100%; max-width: ${width}px` });
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(el("svg:path", { d: "M0,0 L10,5 L0,10 z", fill: "#5b6b7c" }));
  defs.append(marker);
  svg.append(defs);
  const edge = (from, to, cls) => {
    const a = pos.get(from), b = pos.get(to);
    if (!a || !b) return;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
    svg.append(el("svg:path", { class: "edge " + cls, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
  };
  const dl = graph.nodes.find(n => n.deadLetter);
  if (dl) graph.nodes.filter(n => n.kind !== "sink").forEach(n => edge(n.name, dl.name, "failed"));
  graph.nodes.forEach(n => (n.inputs || []).forEach(i => edge(i, n.name, "")));
  for (const n of graph.nodes) {
    const p = pos.get(n.name);
    const g = el("svg:g", { class: `node ${n.kind}${n.deadLetter ? " deadletter" : ""}`, "data-node": n.name, transform: `translate(${p.x},${p.y})` });
    g.append(el("svg:title", {}, `${n.name} (${n.type || n.kind})${n.queue ? "\nqueue: " + n.queue : ""}`));
    g.append(el("svg:rect", { class: "box", width: NODE_W, height: NODE_H, rx: 6 }));
    g.append(el("svg:text", { class: "name", x: 8, y: 16 }, n.name));
    g.append(el("svg:text", { class: "type", x: NODE_W - 8, y: 16, "text-anchor": "end" }, n.type || n.kind));
    g.append(el("svg:text", { class: "rate", x: 8, y: 34 }, "in – /s · out – /s"));
    g.append(el("svg:text", { class: "totals", x: 8, y: 50 }, ""));
    if (n.kind !== "source") {
      g.append(el("svg:rect", { class: "qbg", x: 8, y: 58, width: NODE_W - 16, height: 6, rx: 2 }));
      g.append(el("svg:rect", { class: "qfill", x: 8, y: 58, width: 0, height: 6, rx: 2 }));
    }
    g.append(el("svg:text", { class: "detail", x: 8, y: 80 }, ""));
    svg.append(g);
  }
  box.append(svg);
}

function updateGraph(last) {
  if (!last) return;
  for (const g of document.querySelectorAll("#graph g.node")) {
    const s = last.nodes[g.dataset.node];
    if (!s) continue;
    const source = g.classList.contains("source");
    const sink = g.classList.contains("sink");
    g.querySelector(".rate").textContent = source ? `out ${fmtNum(s.in)} /s`
      : sink ? `in ${fmtNum(s.in)} /s` : `in ${fmtNum(s.in)} /s · out ${fmtNum(s.out)} /s`;
    const totals = g.querySelector(".totals");
    totals.textContent = source
      ? `${fmtNum(s.received)} msgs · ack ${fmtNum(s.acked)} · nack ${fmtNum(s.nacked)}`
      : `${fmtNum(s.received)} msgs · drop ${fmtNum(s.dropped)} · err ${fmtNum(s.errors)}`;
    totals.classList.toggle("bad", s.errors > 0 || s.nacked > 0 || s.dropped > 0);
    const fill = g.querySelector(".qfill");
    if (fill && s.capacity > 0) {
      const f = Math.min(1, s.depth / s.capacity);
      fill.setAttribute("width", Math.max(f * (NODE_W - 16), s.depth > 0 ? 1 : 0));
      fill.classList.toggle("warn", f >= 0.5 && f < 0.9);
      fill.classList.toggle("full", f >= 0.9);
    }
    g.querySelector(".detail").textContent = source ? "" : `queue ${s.depth}/${s.capacity} · p95 ${fmtSec(s.p95)}`;
  }
}

// ---- plots -----------------------------------------------------------------

// plot draws series ({name, color, points: [[t, v]...], marks: [[t, v]...]})
// over the last WINDOW_MS on a canvas, with a legend under it.
function plot(id, series, fmt, opts) {
  const canvas = $("plot-" + id);
  if (!canvas) return;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 54, right = 8, top = 6, bottom = 18;
  const now = Date.now(), t0 = now - WINDOW_MS;
  let ymax = opts && opts.ymax !== undefined ? opts.ymax : 0;
  for (const s of series) for (const [t, v] of s.points) if (t >= t0 && v !== null && v > ymax) ymax = v;
  if (!(opts && opts.ymax !== undefined)) ymax = ymax > 0 ? ymax * 1.1 : 1;
  const X = t => left + (w - left - right) * (t - t0) / WINDOW_MS;
  const Y = v => top + (h - top - bottom) * (1 - v / ymax);
  ctx.font = "10px system-ui, sans-serif";
  ctx.strokeStyle = "#2a3440"; ctx.fillStyle = "#8793a0"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4, y = Y(v);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - right, y); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(fmt(v), left - 4, y + 3);
  }
  ctx.textAlign = "center";
  for (let m = 0; m <= 5; m++) ctx.fillText(m === 0 ? "now" : `-${m}m`, X(now - m * 60000), h - 4);
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    for (const [t, v] of s.points) {
      if (t < t0 || v === null) { pen = false; continue; }
      pen ? ctx.lineTo(X(t), Y(v)) : ctx.moveTo(X(t), Y(v));
      pen = true;
    }
    ctx.stroke();
    ctx.fillStyle = "#ff5c6c";
    for (const [t, v] of s.marks || []) {
      if (t < t0) continue;
      ctx.beginPath(); ctx.arc(X(t), Y(Math.min(v, ymax)), 4, 0, 2 * Math.PI); ctx.fill();
    }
  }
  const legend = $("legend-" + id);
  legend.textContent = "";
  if (!series.length) legend.append(el("span", { class: "empty" }, (opts && opts.empty) || "no data"));
  for (const s of series) {
    const item = el("span");
    const sw = el("i"); sw.style.background = s.color;
    const last = [...s.points].reverse().find(p => p[1] !== null);
    item.append(sw, `${s.name} ${last ? fmt(last[1]) : "–"}`);
    legend.append(item);
  }
}

function seriesOf(pick, names) {
  return names.map((name, i) => ({
    name, color: COLORS[i % COLORS.length],
    points: state.history.map(s => [s.t, pick(s, name)]),
  }));
}

function keysOf(field) {
  const keys = new Set();
  for (const s of state.history) for (const k of Object.keys(s[field] || {})) keys.add(k);
  return [...keys].sort();
}

function drawPlots() {
  const nodes = state.graph ? state.graph.nodes.map(n => n.name) : keysOf("nodes");
  plot("throughput", seriesOf((s, n) => (s.nodes[n] ? s.nodes[n].in : null), nodes), fmtNum);
  plot("latency", ["p50", "p95", "p99"].map((q, i) => ({
    name: q, color: COLORS[i], points: state.history.map(s => [s.t, s.latency ? s.latency[q] : null]),
  })), fmtSec, { empty: "no deliveries yet" });
  const models = keysOf("models");
  $("card-batch").hidden = $("card-inference").hidden = models.length === 0;
  plot("batch", seriesOf((s, n) => (s.models && s.models[n] ? s.models[n].batch : null), models), fmtNum);
  plot("inference", seriesOf((s, n) => (s.models && s.models[n] ? s.models[n].inference : null), models), fmtSec);
  const sensors = keysOf("scores");
  $("card-scores").hidden = sensors.length === 0;
  const scores = seriesOf((s, n) => (s.scores && s.scores[n] ? s.scores[n].max : null), sensors);
  scores.forEach(sr => {
    sr.marks = state.history.filter(s => s.scores && s.scores[sr.name] && s.scores[sr.name].alerts > 0)
      .map(s => [s.t, s.scores[sr.name].max]);
  });
  plot("scores", scores, v => v.toFixed(2), { ymax: 1 });
}

// ---- tables and header -----------------------------------------------------

function table(id, head, rows, empty) {
  const t = $(id);
  t.textContent = "";
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", { class: "empty" }, empty));
    t.append(tr);
    return;
  }
  const hr = el("tr");
  head.forEach(h => hr.append(el("th", {}, h)));
  t.append(hr);
  for (const r of rows) {
    const tr = el("tr");
    r.forEach(c => {
      const attrs = {};
      if (c.cls) attrs.class = c.cls;
      if (c.title) attrs.title = c.title;
      const td = el("td", attrs, c.text !== undefined ? c.text : c);
      tr.append(td);
    });
    t.append(tr);
  }
}

function applyStatus(st) {
  state.status = st;
  $("pipeline").textContent = st.pipeline || "";
  document.title = `edgeflow · ${st.pipeline || ""}`;
  const ready = $("ready");
  ready.textContent = st.ready ? "running" : "not ready";
  ready.className = "badge " + (st.ready ? "ok" : "bad");
  $("version").textContent = st.version;
  $("uptime").textContent = fmtDur(Date.now() - st.started);
  $("reloads").textContent = st.reload.count + (st.reload.last ? ` (${fmtAgo(st.reload.last)})` : "");
  const re = $("reload-error");
  re.hidden = !st.reload.error;
  re.textContent = st.reload.error ? "last reload rejected: " + st.reload.error : "";
  $("dl-total").textContent = fmtNum(st.deadLetters.total);
  table("dead-letters", ["when", "node", "reason"], (st.deadLetters.recent || []).slice(0, 8).map(d =>
    [fmtAgo(d.t), d.node, { text: d.error.length > 160 ? d.error.slice(0, 157) + "…" : d.error, cls: "reason", title: d.error }]), "none");
  table("sources", ["source", "acked", "nacked"], (st.sources || []).map(s =>
    [s.node, { text: fmtNum(s.acked), cls: "num" }, { text: fmtNum(s.nacked), cls: "num" }]), "no sources");
  table("connections", ["name", "type", "state", "counters"], (st.connections || []).map(c =>
    [c.name, c.type, { text: c.state, cls: "state-" + c.state },
      Object.entries(c.counters).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${fmtNum(v)}`).join(" · ") || "–"]), "no shared connections");
  table("models", ["node", "file", "sha256", "reloads", "last reload"], (st.models || []).map(m =>
    [m.node, m.path.split("/").pop(), m.loaded ? m.sha256.slice(0, 12) : "not loaded",
      { text: `${m.reloads}${m.rejected ? ` (${m.rejected} rejected)` : ""}`, cls: "num" }, fmtAgo(m.lastReload)]), "no models");
  const previews = st.previews || [];
  $("card-preview").hidden = previews.length === 0;
  const box = $("previews");
  if (box.dataset.urls !== previews.map(p => p.url).join(" ")) {
    box.textContent = "";
    previews.forEach(p => box.append(el("img", { src: p.url.replace(/\/\/(0\.0\.0\.0|\[::\])/, "//" + location.hostname), alt: `${p.node} preview` })));
    box.dataset.urls = previews.map(p => p.url).join(" ");
  }
}

function render() {
  const last = state.history[state.history.length - 1];
  updateGraph(last);
  if (last && state.graph) {
    let total = 0;
    state.graph.nodes.filter(n => n.kind === "source").forEach(n => { total += (last.nodes[n.name] || {}).received || 0; });
    $("total-in").textContent = fmtNum(total);
  }
  drawPlots();
}

// ---- data ------------------------------------------------------------------

async function loadState() {
  const r = await fetch("api/state", { cache: "no-store" });
  if (!r.ok) throw new Error(`api/state: ${r.status}`);
  const st = await r.json();
  state.history = st.history || [];
  state.graph = st.graph;
  state.gen = st.gen;
  drawGraph(st.graph);
  applyStatus(st);
  render();
}

function push(s) {
  const h = state.history;
  if (h.length && h[h.length - 1].t >= s.t) return;
  h.push(s);
  const t0 = Date.now() - WINDOW_MS - 5000;
  while (h.length && h[0].t < t0) h.shift();
}

function listen() {
  const es = new EventSource("api/events");
  es.onmessage = ev => {
    const st = JSON.parse(ev.data);
    if (st.gen !== state.gen) { loadState(); return; } // the graph was replaced
    if (st.last) push(st.last);
    applyStatus(st);
    render();
  };
  es.onerror = () => { const r = $("ready"); r.textContent = "disconnected"; r.className = "badge bad"; };
}

window.addEventListener("resize", drawPlots);
loadState().then(listen, err => { $("ready").textContent = err.message; });
