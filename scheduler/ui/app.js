// The kapot scheduler's status page: polls the JSON API (/api/executors,
// /api/jobs, /api/jobs/{id}) every second and renders it. No dependencies.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function duration(ms) {
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(2) + " s";
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 1 ? "just now" : s.toFixed(0) + " s ago";
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function renderExecutors(execs) {
  const body = $("#executors tbody");
  body.replaceChildren(...execs.map((e) => el("tr", { "data-executor": e.id },
    el("td", {}, e.id),
    el("td", {}, `${e.host}:${e.flight_port}`),
    el("td", { class: "state " + e.state }, e.suspect ? e.state + " (suspect: probing)" : e.state),
    el("td", {}, `${e.slots_used} / ${e.slots}`),
    el("td", {}, `${bytes(e.memory_pool_used_bytes)} / ${bytes(e.memory_pool_bytes)}`),
    el("td", {}, ago(e.last_heartbeat)),
    el("td", {}, (e.tags || []).join(", ")))));
}

function renderJobs(jobs) {
  const body = $("#jobs tbody");
  body.replaceChildren(...jobs.map((j) => {
    const done = j.stages.filter((s) => s.state === "completed").length;
    return el("tr", { "data-job": j.id },
      el("td", {}, el("a", { href: "#job=" + j.id }, j.id)),
      el("td", {}, j.name),
      el("td", { class: "state " + j.state }, j.state),
      el("td", {}, duration(j.duration_ms)),
      el("td", {}, `${done} / ${j.stages.length}`),
      el("td", { class: "error" }, j.error || ""));
  }));
}

// renderDAG draws the stages left to right by depth, with an arrow from
// each input stage to the stage that reads it.
function renderDAG(stages) {
  const svg = $("#dag");
  const depth = {};
  const byID = Object.fromEntries(stages.map((s) => [s.id, s]));
  const d = (s) => depth[s.id] ??= (s.inputs || []).reduce((m, i) => Math.max(m, byID[i] ? d(byID[i]) + 1 : 0), 0);
  stages.forEach(d);
  const rows = {};
  const pos = {};
  for (const s of stages) {
    const r = rows[depth[s.id]] = (rows[depth[s.id]] || 0) + 1;
    pos[s.id] = { x: 10 + depth[s.id] * 170, y: 10 + (r - 1) * 50 };
  }
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const parts = [];
  for (const s of stages) {
    for (const i of s.inputs || []) {
      if (!pos[i]) continue;
      parts.push(mk("line", { x1: pos[i].x + 130, y1: pos[i].y + 18, x2: pos[s.id].x, y2: pos[s.id].y + 18, stroke: "#888", "marker-end": "url(#arrow)" }));
    }
  }
  for (const s of stages) {
    const g = mk("g", { "data-stage": s.id, class: "state " + s.state });
    g.append(mk("rect", { x: pos[s.id].x, y: pos[s.id].y, width: 130, height: 36, rx: 4, fill: "#f8f9fa", stroke: "currentColor" }));
    g.append(mk("text", { x: pos[s.id].x + 8, y: pos[s.id].y + 22, fill: "currentColor" }, `stage ${s.id}: ${s.completed}/${s.partitions}`));
    parts.push(g);
  }
  const defs = mk("defs", {});
  const marker = mk("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
  marker.append(mk("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
  defs.append(marker);
  svg.replaceChildren(defs, ...parts);
  svg.setAttribute("height", 20 + 50 * Math.max(1, ...Object.values(rows)));
}

function renderJob(j) {
  $("#job-id").textContent = j.id;
  $("#job-state").textContent = j.state;
  $("#job-state").className = "state " + j.state;
  $("#job-meta").textContent = `${j.name} · ${duration(j.duration_ms)} · started ${new Date(j.started).toLocaleTimeString()}`;
  $("#job-error").hidden = !j.error;
  $("#job-error").textContent = j.error || "";
  renderDAG(j.stages);
  $("#stages").replaceChildren(...j.stages.map((s) => el("div", { class: "stage", "data-stage": s.id },
    el("h4", {}, `Stage ${s.id} `, el("span", { class: "state " + s.state }, s.state),
      ` · ${s.completed}/${s.partitions} tasks`, s.running ? ` (${s.running} running)` : "",
      ` · ${s.output_rows} rows · ${bytes(s.shuffle_bytes)} shuffled`,
      s.inputs && s.inputs.length ? ` · reads stage ${s.inputs.join(", ")}` : ""),
    el("progress", { max: s.partitions, value: s.completed }),
    el("table", { class: "operators" },
      el("thead", {}, el("tr", {}, ...["operator", "rows", "batches", "compute", "spilled"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...(s.operators || []).map((o) => el("tr", {},
        el("td", {}, "\u00a0".repeat(2 * depthOf(o, s.operators)) + o.name),
        el("td", {}, o.output_rows), el("td", {}, o.output_batches),
        el("td", {}, duration(Math.round(o.elapsed_compute_ns / 1e6))), el("td", {}, bytes(o.spilled_bytes)))))))));
}

function depthOf(o, ops) {
  let d = 0;
  const byID = Object.fromEntries(ops.map((x) => [x.node_id, x]));
  for (let p = o.parent_id; p !== undefined && byID[p]; p = byID[p].parent_id) d++;
  return d;
}

async function refresh() {
  const m = location.hash.match(/^#job=(\w+)$/);
  try {
    if (m) {
      renderJob(await getJSON("/api/jobs/" + m[1]));
    } else {
      const [execs, jobs] = await Promise.all([getJSON("/api/executors"), getJSON("/api/jobs")]);
      renderExecutors(execs);
      renderJobs(jobs);
    }
    $("#job-detail").hidden = !m;
    $("#overview").hidden = !!m;
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("#updated").textContent = "error: " + e.message;
  }
}

$("#back").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, 1000);
