// GET /ui: memori's dashboard. Plain JS over this server's REST API; no
// library, no request to anywhere else. Every text that comes from the API
// (a memory's content, a table's name) enters the page as a text node
// (textContent, append(string)), never as markup: a memory holding
// "<script>" shows those characters. The page's Content-Security-Policy
// refuses inline script besides.
//
// Identity (DESIGN.md §6): in development the caller is named by X-User-Id;
// in production the page asks for a token and sends it as
// "Authorization: Bearer". The token lives in one variable of this closure
// for the life of the tab: never localStorage, sessionStorage or a cookie.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TYPES = ["short_term", "long_term", "rule", "entity", "relationship", "example"];
  // statistics/summary's by_type keys, in TYPES' order.
  const STAT_KEYS = ["short_term", "long_term", "rules", "entities", "relationships", "examples"];
  const PAGE = 20;
  const STATS_PAGES = 10; // the charts read up to 10 pages of 100 memories
  const DAY_MS = 86400000;

  const state = {
    production: false,
    token: null, // production only; never written anywhere but here
    user: "default_user",
    offset: 0,
    type: "",
    total: 0,
    schema: null,
    sourceId: null,
  };

  const $ = (id) => document.getElementById(id);

  // An element with attributes (never "style" or an "on…" handler) and
  // children: nodes, or strings that become text nodes.
  function el(tag, attrs, ...kids) {
    const svg = tag.startsWith("svg:");
    const e = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      e.setAttribute(k, String(v));
    }
    for (const k of kids) {
      if (k === undefined || k === null) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text || "";
    s.classList.toggle("error", !!isError);
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // The API's error answer as one line: {"detail": "…"} or FastAPI's list.
  function detailText(data) {
    if (!data || data.detail === undefined) return "";
    if (typeof data.detail === "string") return data.detail;
    if (Array.isArray(data.detail))
      return data.detail
        .map((d) => `${(d.loc || []).join(".")}: ${d.msg || d.type || ""}`)
        .join("; ");
    return JSON.stringify(data.detail);
  }

  function identityHeaders() {
    const h = {};
    if (state.production) {
      if (state.token) h.Authorization = `Bearer ${state.token}`;
    } else if (state.user) {
      h["X-User-Id"] = state.user;
    }
    return h;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", ...identityHeaders() };
    const init = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    const text = await r.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!r.ok) throw new ApiError(r.status, detailText(data) || `${r.status} ${r.statusText}`);
    return data;
  }

  // ---- formatting ----

  function fmtTime(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").slice(0, 16);
  }

  function fmtExpiry(iso) {
    if (!iso) return { text: "never", cls: "never" };
    const t = Date.parse(iso);
    const days = (t - Date.now()) / DAY_MS;
    if (days <= 0) return { text: `expired ${fmtTime(iso)}`, cls: "expired" };
    if (days < 1) return { text: `in ${Math.max(1, Math.round(days * 24))} h`, cls: "soon" };
    return { text: `in ${Math.round(days)} d`, cls: "later" };
  }

  function typeClass(t) {
    return TYPES.includes(t) ? `type type-${t}` : "type";
  }

  // A horizontal bar of value in [0, 1]: an SVG track and fill.
  function bar(value, cls, label) {
    const v = Math.max(0, Math.min(1, Number(value) || 0));
    return el(
      "svg:svg",
      { class: `bar ${cls}`, viewBox: "0 0 100 8", preserveAspectRatio: "none", "data-value": v.toFixed(4), role: "img", "aria-label": `${label} ${v.toFixed(3)}` },
      el("svg:rect", { class: "track", x: 0, y: 0, width: 100, height: 8, rx: 2 }),
      el("svg:rect", { class: "fill", x: 0, y: 0, width: (v * 100).toFixed(2), height: 8, rx: 2 }),
    );
  }

  // ---- memories table ----

  function memoryRow(m) {
    const exp = fmtExpiry(m.expires_at);
    const content = el("td", { class: "content" });
    content.textContent = m.content; // text, never markup
    if (m.is_archived) content.prepend(el("span", { class: "badge archived" }, "archived"));
    return el(
      "tr",
      { "data-memory-id": m.memory_id },
      content,
      el("td", {}, el("span", { class: typeClass(m.memory_type) }, m.memory_type)),
      el("td", { class: "num" }, el("span", { class: "imp" }, Number(m.importance_score).toFixed(2)), bar(m.importance_score, "importance", "importance")),
      el("td", { class: "num" }, String(m.access_count)),
      el("td", {}, fmtTime(m.last_accessed_at)),
      el("td", { class: `expiry ${exp.cls}` }, exp.text),
      el("td", {}, fmtTime(m.created_at)),
    );
  }

  async function loadMemories() {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    if (state.type) q.set("memory_type", state.type);
    const page = await api("GET", `/api/memories?${q}`);
    state.total = page.total;
    const rows = $("memory-rows");
    rows.replaceChildren(...page.memories.map(memoryRow));
    if (!page.memories.length)
      rows.append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No memories")));
    const from = page.total ? state.offset + 1 : 0;
    const to = state.offset + page.memories.length;
    $("page-info").textContent = `${from}–${to} of ${page.total}`;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = to >= page.total;
  }

  // ---- search ----

  async function search(query, mode) {
    const list = $("results");
    // The old answer goes first: what shows is always this query's.
    list.replaceChildren();
    list.removeAttribute("data-query");
    list.removeAttribute("data-mode");
    const answer = await api("POST", "/api/memories/search", { query, mode, limit: 10, min_similarity: 0 });
    if (!answer.results.length) {
      list.append(el("li", { class: "empty" }, "Nothing matches"));
      list.setAttribute("data-query", query);
      list.setAttribute("data-mode", answer.mode);
      return;
    }
    answer.results.forEach((r, i) => {
      const s = r.scores || {};
      const text = el("div", { class: "content" });
      text.textContent = r.content; // text, never markup
      list.append(
        el(
          "li",
          { class: "result", "data-rank": i + 1, "data-memory-id": r.memory_id },
          el("div", { class: "result-head" }, el("span", { class: "rank" }, `#${i + 1}`), el("span", { class: typeClass(r.memory_type) }, r.memory_type), text),
          el(
            "div",
            { class: "scores" },
            scoreRow("score", r.similarity_score, "fused"),
            scoreRow("semantic", s.semantic, "semantic"),
            scoreRow("lexical", s.lexical, "lexical"),
          ),
        ),
      );
    });
    list.setAttribute("data-query", query);
    list.setAttribute("data-mode", answer.mode);
    setStatus(`${answer.results.length} result${answer.results.length === 1 ? "" : "s"} (${answer.mode})`);
  }

  function scoreRow(label, value, cls) {
    const v = Number(value) || 0;
    return el("div", { class: "score-row" }, el("span", { class: "score-label" }, label), bar(v, cls, label), el("span", { class: "score-value" }, v.toFixed(3)));
  }

  // ---- statistics ----

  // Bars of items [{label, value, cls}] into svg (viewBox 360 x 200).
  function barChart(svg, items, opts) {
    const W = 360, H = 200, left = opts.left || 8, bottom = 28, top = 14;
    svg.replaceChildren();
    const max = Math.max(1, ...items.map((d) => d.value));
    const n = Math.max(1, items.length);
    const slot = (W - left - 8) / n;
    const bw = Math.max(2, slot * 0.72);
    svg.append(el("svg:line", { class: "axis", x1: left, y1: H - bottom, x2: W - 4, y2: H - bottom }));
    items.forEach((d, i) => {
      const h = ((H - bottom - top) * d.value) / max;
      const x = left + i * slot + (slot - bw) / 2;
      const y = H - bottom - h;
      const g = el("svg:g", { class: "datum" });
      g.append(el("svg:rect", { class: `bar-rect ${d.cls || ""}`, x: x.toFixed(1), y: y.toFixed(1), width: bw.toFixed(1), height: Math.max(0, h).toFixed(1), "data-value": d.value }, el("svg:title", {}, `${d.label}: ${d.value}`)));
      if (d.value > 0) g.append(el("svg:text", { class: "bar-value", x: (x + bw / 2).toFixed(1), y: (y - 3).toFixed(1), "text-anchor": "middle" }, String(d.value)));
      g.append(el("svg:text", { class: "bar-label", x: (x + bw / 2).toFixed(1), y: H - bottom + 12, "text-anchor": "middle" }, d.short !== undefined ? d.short : d.label));
      svg.append(g);
    });
  }

  // Up to STATS_PAGES pages of the caller's memories, for the histograms.
  async function sampleMemories() {
    const all = [];
    let total = 0;
    for (let p = 0; p < STATS_PAGES; p++) {
      const page = await api("GET", `/api/memories?limit=100&offset=${p * 100}`);
      total = page.total;
      all.push(...page.memories);
      if (all.length >= total || !page.memories.length) break;
    }
    return { memories: all, total };
  }

  async function loadStats() {
    const [summary, sample] = await Promise.all([api("GET", "/api/memories/statistics/summary"), sampleMemories()]);
    const dl = $("summary");
    dl.replaceChildren();
    for (const [k, v] of [
      ["memories", summary.total_memories],
      ["archived", summary.archived],
      ["average importance", Number(summary.average_importance).toFixed(2)],
    ])
      dl.append(el("div", {}, el("dt", {}, k), el("dd", {}, String(v))));

    const by = summary.by_type || {};
    barChart(
      $("chart-types"),
      TYPES.map((t, i) => ({ label: t, short: t.replace("_term", "").replace("relationship", "relation"), value: by[STAT_KEYS[i]] || 0, cls: `type-${t}` })),
      {},
    );

    const bins = new Array(10).fill(0);
    for (const m of sample.memories) bins[Math.min(9, Math.floor(Number(m.importance_score) * 10))]++;
    barChart($("chart-importance"), bins.map((v, i) => ({ label: `${(i / 10).toFixed(1)}–${((i + 1) / 10).toFixed(1)}`, short: (i / 10).toFixed(1), value: v, cls: "imp" })), {});

    // memori keeps a count and the last access per memory, not a log: each
    // memory's accesses are drawn on the day of its last one.
    const today = Math.floor(Date.now() / DAY_MS);
    const days = new Array(14).fill(0);
    for (const m of sample.memories) {
      if (!m.last_accessed_at) continue;
      const d = today - Math.floor(Date.parse(m.last_accessed_at) / DAY_MS);
      if (d >= 0 && d < 14) days[13 - d] += m.access_count;
    }
    barChart(
      $("chart-accesses"),
      days.map((v, i) => {
        const date = new Date((today - 13 + i) * DAY_MS).toISOString().slice(5, 10);
        return { label: date, short: i % 2 === 1 ? date : "", value: v, cls: "acc" };
      }),
      {},
    );
    $("stats-note").textContent =
      sample.memories.length < sample.total
        ? `Histograms from the newest ${sample.memories.length} of ${sample.total} memories.`
        : `Histograms from all ${sample.total} memories.`;
    return sample.memories;
  }

  // ---- data sources: tables and joins as a graph ----

  // The tenant's data sources with a stored schema (GET /api/data-sources), and the ids seen in
  // the user's memories and conversations (a source may have rows before its schema is imported).
  async function loadSources(memories) {
    const labels = new Map();
    try {
      const page = await api("GET", "/api/data-sources?limit=100");
      for (const d of page.data_sources) labels.set(d.data_source_id, `data source ${d.data_source_id} (${d.dialect}, ${d.tables} tables)`);
    } catch (e) {
      /* the ids seen below still fill the picker */
    }
    const seen = (id) => {
      if (id && !labels.has(id)) labels.set(id, `data source ${id} (no schema)`);
    };
    for (const m of memories || []) seen(m.data_source_id);
    try {
      const convs = await api("GET", "/api/conversations?limit=100");
      for (const c of convs.conversations) seen(c.data_source_id);
    } catch (e) {
      /* the picker still takes any id */
    }
    const pick = $("source-pick");
    const keep = pick.value;
    const ids = [...labels.keys()].sort((a, b) => a - b);
    pick.replaceChildren(el("option", { value: "" }, "pick…"), ...ids.map((id) => el("option", { value: id }, labels.get(id))));
    if (keep && labels.has(Number(keep))) pick.value = keep;
  }

  function tableKey(t) {
    return t.schema ? `${t.schema}.${t.name}` : t.name;
  }

  // Edges of the schema's foreign keys: {from, to, label, inferred}.
  function schemaEdges(tables) {
    const byKey = new Map(), byName = new Map();
    for (const t of tables) {
      byKey.set(tableKey(t), t);
      if (!byName.has(t.name)) byName.set(t.name, t);
    }
    const edges = [];
    for (const t of tables)
      for (const fk of t.foreign_keys || []) {
        const ref = fk.references || {};
        const target = byKey.get(ref.table) || byName.get(ref.table) || byName.get(String(ref.table || "").split(".").pop());
        if (!target) continue;
        const from = `${tableKey(t)}.${(fk.columns || []).join(",")}`;
        const to = `${tableKey(target)}.${(ref.columns || []).join(",")}`;
        edges.push({ from: tableKey(t), to: tableKey(target), label: `${from} → ${to}`, cols: fk.columns || [], refCols: ref.columns || [], inferred: fk.source === "inferred" });
      }
    return edges;
  }

  // Positions for nodes: a deterministic force layout (springs on joins,
  // repulsion between tables), or a grid past a few hundred tables.
  function layout(nodes, edges, W, H) {
    const n = nodes.length;
    const idx = new Map(nodes.map((d, i) => [d.key, i]));
    const pos = nodes.map((d, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, n);
      return { x: W / 2 + (W / 3) * Math.cos(a), y: H / 2 + (H / 3) * Math.sin(a) };
    });
    if (n > 300) {
      const cols = Math.ceil(Math.sqrt(n * (W / H)));
      return nodes.map((d, i) => ({ x: ((i % cols) + 0.5) * (W / cols), y: (Math.floor(i / cols) + 0.5) * (H / Math.ceil(n / cols)) }));
    }
    const k = Math.sqrt((W * H) / Math.max(1, n)) * 0.75;
    let temp = W / 8;
    for (let it = 0; it < 300; it++) {
      const disp = pos.map(() => ({ x: 0, y: 0 }));
      for (let i = 0; i < n; i++)
        for (let j = i + 1; j < n; j++) {
          let dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
          let d = Math.hypot(dx, dy) || 0.01;
          const f = (k * k) / d;
          dx /= d; dy /= d;
          disp[i].x += dx * f; disp[i].y += dy * f;
          disp[j].x -= dx * f; disp[j].y -= dy * f;
        }
      for (const e of edges) {
        const i = idx.get(e.from), j = idx.get(e.to);
        if (i === undefined || j === undefined || i === j) continue;
        let dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
        const d = Math.hypot(dx, dy) || 0.01;
        const f = (d * d) / k;
        dx /= d; dy /= d;
        disp[i].x -= dx * f; disp[i].y -= dy * f;
        disp[j].x += dx * f; disp[j].y += dy * f;
      }
      for (let i = 0; i < n; i++) {
        // A weak pull to the centre keeps unjoined tables in view.
        disp[i].x += (W / 2 - pos[i].x) * 0.02 * k / 10;
        disp[i].y += (H / 2 - pos[i].y) * 0.02 * k / 10;
        const d = Math.hypot(disp[i].x, disp[i].y) || 0.01;
        pos[i].x += (disp[i].x / d) * Math.min(d, temp);
        pos[i].y += (disp[i].y / d) * Math.min(d, temp);
      }
      temp *= 0.985;
    }
    return pos;
  }

  function drawGraph(schema) {
    const svg = $("schema-graph");
    const W = 900, H = 520, pad = 70;
    svg.replaceChildren();
    const tables = schema.tables || [];
    const edges = schemaEdges(tables);
    const nodes = tables.map((t) => ({ key: tableKey(t), table: t }));
    const raw = layout(nodes, edges, W, H);
    // Fit the layout into the view, leaving room for the boxes.
    const xs = raw.map((p) => p.x), ys = raw.map((p) => p.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    // One scale for both axes (the layout's shape kept), centred.
    const sc = Math.min((W - 2 * pad) / Math.max(1, maxX - minX), (H - pad) / Math.max(1, maxY - minY));
    const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
    const pos = raw.map((p) => ({ x: W / 2 + (p.x - cx) * sc, y: H / 2 + (p.y - cy) * sc }));

    svg.append(
      el(
        "svg:defs",
        {},
        el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, el("svg:path", { class: "arrow", d: "M0,0 L10,5 L0,10 z" })),
      ),
    );
    const edgeLayer = el("svg:g", { class: "edges" });
    const nodeLayer = el("svg:g", { class: "nodes" });
    svg.append(edgeLayer, nodeLayer);
    const boxes = new Map();
    nodes.forEach((d, i) => {
      const t = d.table;
      const label = d.key;
      const w = Math.min(220, Math.max(70, label.length * 7.4 + 20));
      const h = 38;
      const p = pos[i];
      boxes.set(d.key, { x: p.x, y: p.y, w, h });
      const g = el("svg:g", { class: "node", "data-table": d.key, transform: `translate(${(p.x - w / 2).toFixed(1)},${(p.y - h / 2).toFixed(1)})`, tabindex: 0, role: "button" });
      g.append(el("svg:rect", { width: w.toFixed(1), height: h, rx: 6 }));
      g.append(el("svg:text", { class: "node-name", x: (w / 2).toFixed(1), y: 16, "text-anchor": "middle" }, label.length > 28 ? `${label.slice(0, 27)}…` : label));
      g.append(el("svg:text", { class: "node-cols", x: (w / 2).toFixed(1), y: 30, "text-anchor": "middle" }, `${(t.columns || []).length} columns`));
      g.append(el("svg:title", {}, t.description ? `${label} — ${t.description}` : label));
      g.addEventListener("click", () => showTable(t, edges));
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") showTable(t, edges);
      });
      nodeLayer.append(g);
    });
    for (const e of edges) {
      const a = boxes.get(e.from), b = boxes.get(e.to);
      if (!a || !b) continue;
      let pathD;
      if (e.from === e.to) {
        const x = a.x + a.w / 2, y = a.y;
        pathD = `M${x},${y - 8} C${x + 40},${y - 40} ${x + 40},${y + 40} ${x},${y + 8}`;
      } else {
        const [x1, y1] = clip(a, b.x, b.y), [x2, y2] = clip(b, a.x, a.y);
        pathD = `M${x1.toFixed(1)},${y1.toFixed(1)} L${x2.toFixed(1)},${y2.toFixed(1)}`;
      }
      edgeLayer.append(el("svg:path", { class: `edge${e.inferred ? " inferred" : ""}`, d: pathD, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to, "data-join": e.label }, el("svg:title", {}, e.label + (e.inferred ? " (inferred)" : ""))));
    }
    $("graph-info").textContent = `Data source ${state.sourceId}: ${tables.length} table${tables.length === 1 ? "" : "s"}, ${edges.length} join${edges.length === 1 ? "" : "s"} (${schema.dialect || "?"}). Arrows point from a foreign key to the table it references; dashed ones were inferred from names.`;
  }

  // Where the segment from box b's centre towards (x, y) leaves the box.
  function clip(b, x, y) {
    const dx = x - b.x, dy = y - b.y;
    if (!dx && !dy) return [b.x, b.y];
    const s = Math.min(Math.abs((b.w / 2 + 2) / (dx || 1e-9)), Math.abs((b.h / 2 + 2) / (dy || 1e-9)));
    return [b.x + dx * s, b.y + dy * s];
  }

  function showTable(t, edges) {
    const key = tableKey(t);
    for (const n of document.querySelectorAll("#schema-graph .node")) n.classList.toggle("selected", n.getAttribute("data-table") === key);
    const aside = $("table-detail");
    aside.replaceChildren();
    aside.append(el("h3", {}, key));
    if (t.description) aside.append(el("p", { class: "desc" }, t.description));
    const fkCols = new Map();
    for (const e of edges) if (e.from === key) e.cols.forEach((c, i) => fkCols.set(c, `${e.to}.${e.refCols[i] || ""}`));
    const ul = el("ul", { class: "columns" });
    for (const c of t.columns || []) {
      ul.append(
        el(
          "li",
          {},
          el("span", { class: "col-name" }, c.name),
          c.type ? el("span", { class: "col-type" }, ` ${c.type}`) : null,
          c.primary_key ? el("span", { class: "badge pk" }, "PK") : null,
          fkCols.has(c.name) ? el("span", { class: "badge fk" }, `→ ${fkCols.get(c.name)}`) : null,
          c.description ? el("div", { class: "desc" }, c.description) : null,
        ),
      );
    }
    aside.append(ul);
  }

  async function showSource(id) {
    state.sourceId = id;
    $("context-info").textContent = "";
    try {
      state.schema = await api("GET", `/api/data-sources/${encodeURIComponent(id)}/schema`);
    } catch (e) {
      state.schema = null;
      $("schema-graph").replaceChildren();
      $("table-detail").replaceChildren(el("p", { class: "hint" }, "Click a table to see its columns."));
      $("graph-info").textContent = e.status === 404 ? `Data source ${id} has no stored schema.` : e.message;
      return;
    }
    drawGraph(state.schema);
    $("table-detail").replaceChildren(el("p", { class: "hint" }, "Click a table to see its columns."));
  }

  async function highlightContext(question) {
    if (!state.schema) {
      $("context-info").textContent = "Show a data source first.";
      return;
    }
    const ctx = await api("POST", "/api/context", { question, data_source_id: Number(state.sourceId) });
    const picked = new Map((ctx.tables || []).map((t) => [t.name, t.reason]));
    const bare = (k) => k.split(".").pop();
    for (const n of document.querySelectorAll("#schema-graph .node")) {
      const k = n.getAttribute("data-table");
      const reason = picked.get(k) || picked.get(bare(k));
      n.classList.toggle("picked", reason === "matched");
      n.classList.toggle("bridge", reason === "join");
    }
    const joins = new Set((ctx.joins || []).map((j) => `${j.from}|${j.to}`));
    for (const e of document.querySelectorAll("#schema-graph .edge")) {
      const [f, t] = e.getAttribute("data-join").split(" → ");
      e.classList.toggle("picked", joins.has(`${f}|${t}`) || joins.has(`${t}|${f}`));
    }
    $("context-info").textContent = `/api/context chose ${(ctx.tables || []).length} table(s), ${(ctx.joins || []).length} join(s), ${(ctx.rules || []).length} rule(s), ${(ctx.examples || []).length} example(s); prompt ≈ ${ctx.token_estimate} tokens${ctx.truncated ? " (truncated)" : ""}.`;
  }

  // ---- wiring ----

  async function loadAll() {
    setStatus("Loading…");
    try {
      state.offset = 0;
      await loadMemories();
      const memories = await loadStats();
      await loadSources(memories);
      setStatus(state.production ? "Signed in with a token (kept in this tab only)" : `Showing ${state.user}'s memories`);
    } catch (e) {
      setStatus(e.status === 401 ? "Unauthorized: paste a valid token" : e.message, true);
    }
  }

  function guard(fn) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      try {
        await fn();
      } catch (e) {
        setStatus(e.message, true);
      }
    };
  }

  // Production refuses a request without a token (401 Bearer); development answers it.
  async function detectMode() {
    try {
      const r = await fetch("/api/memories/statistics/summary", { credentials: "omit", cache: "no-store" });
      state.production = r.status === 401;
    } catch (e) {
      state.production = false;
    }
    $("mode").textContent = state.production ? "production · bearer token" : "development · X-User-Id";
    $("mode").classList.toggle("prod", state.production);
    $("user-field").hidden = state.production;
    $("token-field").hidden = !state.production;
  }

  async function start() {
    $("identity").addEventListener(
      "submit",
      guard(async () => {
        if (state.production) {
          state.token = $("token").value.trim() || null;
        } else {
          state.user = $("user-id").value.trim() || "default_user";
        }
        await loadAll();
      }),
    );
    $("search-form").addEventListener(
      "submit",
      guard(async () => {
        await search($("query").value, $("search-mode").value);
        await loadMemories(); // the search counted as an access
      }),
    );
    $("type-filter").addEventListener(
      "change",
      guard(async () => {
        state.type = $("type-filter").value;
        state.offset = 0;
        await loadMemories();
      }),
    );
    $("prev").addEventListener(
      "click",
      guard(async () => {
        state.offset = Math.max(0, state.offset - PAGE);
        await loadMemories();
      }),
    );
    $("next").addEventListener(
      "click",
      guard(async () => {
        state.offset += PAGE;
        await loadMemories();
      }),
    );
    $("source-pick").addEventListener(
      "change",
      guard(async () => {
        const v = $("source-pick").value;
        if (v) {
          $("source-id").value = v;
          await showSource(v);
        }
      }),
    );
    $("source-form").addEventListener(
      "submit",
      guard(async () => {
        const v = $("source-id").value || $("source-pick").value;
        if (v) await showSource(v);
      }),
    );
    $("context-form").addEventListener(
      "submit",
      guard(async () => {
        await highlightContext($("context-question").value);
      }),
    );
    await detectMode();
    if (state.production) {
      setStatus("This server runs in production: paste a token and press Load.");
      document.body.setAttribute("data-ready", "1");
      return;
    }
    await loadAll();
    document.body.setAttribute("data-ready", "1");
  }

  start();
})();
