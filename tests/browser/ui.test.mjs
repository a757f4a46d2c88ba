// GET /ui in a real browser (issue 19): Debian's chromium driven by npm's
// playwright-core. It stores memories and a schema through the REST API,
// opens the dashboard and checks what a person would see: the memories
// table, ranked search results with score bars, the statistics charts, a
// data source's tables and joins as a graph (and the tables /api/context
// picks), and that a memory holding <script> and <img onerror> renders as
// text (no dialog, nothing run). It fails on a request to anywhere but the
// server and on a console error (a Content-Security-Policy violation is one).
// With MEMORI_TOKEN it runs against a production server instead: the page
// asks for the token, sends it as a bearer header, and stores it nowhere.
// tests/e2e/test_e2e_ui.c starts the server and runs this script:
//   MEMORI_URL=http://127.0.0.1:PORT  the server
//   MEMORI_NPM_DIR=build/npm           where make's npm ci put playwright-core
//   MEMORI_SHOT_DIR=build/screenshots  where the screenshots go
//   MEMORI_LABEL=sqlite                the screenshots' suffix (ui-<label>.png)
//   MEMORI_TOKEN=<jwt>                 production: the caller's token (else development)
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { randomUUID } from "node:crypto";

const base = process.env.MEMORI_URL;
const npmDir = resolve(process.env.MEMORI_NPM_DIR || "build/npm");
const shotDir = process.env.MEMORI_SHOT_DIR || "build/screenshots";
const label = process.env.MEMORI_LABEL || "sqlite";
const token = process.env.MEMORI_TOKEN || "";
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const production = token !== "";
const user = "ui-alice";
const DS = 7;

let failures = 0;
function fail(msg) {
  failures++;
  console.error(`ui.test: FAIL ${msg}`);
  process.exitCode = 1;
}
function check(cond, msg) {
  if (!cond) fail(msg);
  return !!cond;
}

// Submits a search from the page and waits for its own answer (the list says which query it shows).
async function searchFor(page, query, mode) {
  await page.fill("#query", query);
  await page.selectOption("#search-mode", mode);
  await page.click("#search-form button[type=submit]");
  await page.waitForFunction(([q, m]) => {
    const l = document.getElementById("results");
    return l.getAttribute("data-query") === q && l.getAttribute("data-mode") === m;
  }, [query, mode], { timeout: 15000 });
}

// A REST call as the test's user (or another one), from node.
async function rest(method, path, body, as = user) {
  const headers = { "Content-Type": "application/json" };
  if (production) headers.Authorization = `Bearer ${token}`;
  else headers["X-User-Id"] = as;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} answered ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

const XSS = `<script>window.__xss = 1; alert("xss")</script><img src=x onerror="window.__xss = 2; alert(1)"> (a hostile note)`;

async function seed() {
  const conv = randomUUID();
  await rest("POST", "/api/conversations", { conversation_id: conv, title: "Sales questions", data_source_id: DS });
  const mems = [
    ["rule", "Always write explicit JOINs, never correlated subqueries", 0.9],
    ["long_term", "Revenue means the sum of order_items.quantity times order_items.unit_price", 0.8],
    ["short_term", "The user is looking at last week's orders from Lisbon", 0.4],
    ["entity", "The customers table holds one row per customer, keyed by id", 0.6],
    ["relationship", "orders.customer_id joins customers.id", 0.55],
    ["short_term", XSS, 0.2],
  ];
  for (const [memory_type, content, importance_score] of mems)
    await rest("POST", "/api/memories", { content, memory_type, importance_score, conversation_id: conv });
  if (!production) {
    // Another user's memory, which alice's page must never show.
    await rest("POST", "/api/memories", { content: "Bob keeps his own secret notes", memory_type: "rule", conversation_id: randomUUID() }, "ui-bob");
    await rest("PUT", `/api/data-sources/${DS}/schema`, {
      tables: [
        { name: "customers", description: "One row per customer", columns: [{ name: "id", type: "integer", primary_key: true }, { name: "name", type: "text" }, { name: "city", type: "text" }] },
        { name: "orders", description: "One row per order", columns: [{ name: "id", type: "integer", primary_key: true }, { name: "customer_id", type: "integer" }, { name: "placed_at", type: "timestamp" }], foreign_keys: [{ columns: ["customer_id"], references: { table: "customers", columns: ["id"] } }] },
        { name: "products", columns: [{ name: "id", type: "integer", primary_key: true }, { name: "title", type: "text" }, { name: "price", type: "numeric" }] },
        { name: "order_items", description: "Lines of an order", columns: [{ name: "order_id", type: "integer" }, { name: "product_id", type: "integer" }, { name: "quantity", type: "integer" }, { name: "unit_price", type: "numeric" }], foreign_keys: [{ columns: ["order_id"], references: { table: "orders", columns: ["id"] } }, { columns: ["product_id"], references: { table: "products", columns: ["id"] } }] },
        { name: "audit_log", columns: [{ name: "id", type: "integer", primary_key: true }, { name: "entry", type: "text" }] },
      ],
    });
  }
  // Accesses for the chart: a search touches what it returns.
  await rest("POST", "/api/memories/search", { query: "joins between orders and customers", limit: 3, min_similarity: 0 });
  return mems.length;
}

const require = createRequire(`${npmDir}/package.json`);
const { chromium } = require("playwright-core");
const browser = await chromium.launch({
  executablePath: chromiumPath,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const n = await seed();
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  const outside = [];
  const consoleErrors = [];
  const dialogs = [];
  const apiRequests = [];
  let tokenEntered = false;
  // Before a production page has its token, its probe is answered 401 on purpose.
  const expected401 = (text) => production && !tokenEntered && /401/.test(text);
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base + "/") && !u.startsWith("data:")) outside.push(u);
    if (u.startsWith(base + "/api/")) apiRequests.push({ url: u, headers: r.headers(), afterToken: tokenEntered });
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !expected401(m.text())) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400 && !(r.status() === 401 && expected401("401"))) consoleErrors.push(`${r.status()} for ${r.url()}`);
  });
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });

  const answer = await page.goto(`${base}/ui`);
  if (!answer || answer.status() !== 200) throw new Error(`GET /ui answered ${answer && answer.status()}`);
  const csp = answer.headers()["content-security-policy"] || "";
  check(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), `Content-Security-Policy is "${csp}"`);
  check((answer.headers()["cache-control"] || "") === "no-cache", `Cache-Control is "${answer.headers()["cache-control"]}"`);

  // Identity: development names the user, production asks for a token.
  await page.locator("#mode").filter({ hasText: production ? "production" : "development" }).waitFor({ timeout: 15000 });
  if (production) {
    check(await page.locator("#token").isVisible(), "the token field is hidden on a production server");
    check(!(await page.locator("#user-id").isVisible()), "the X-User-Id field shows on a production server");
    await page.locator("body[data-ready]").waitFor({ timeout: 15000 });
    tokenEntered = true;
    await page.fill("#token", token);
  } else {
    check(await page.locator("#user-id").isVisible(), "the X-User-Id field is hidden in development");
    check(!(await page.locator("#token").isVisible()), "the token field shows in development");
    await page.locator("body[data-ready]").waitFor({ timeout: 15000 });
    await page.fill("#user-id", user);
  }
  await page.click("#load");

  // The memories table: every seeded memory, newest first, nobody else's.
  const rows = page.locator("#memory-rows tr[data-memory-id]");
  await page.waitForFunction((k) => document.querySelectorAll("#memory-rows tr[data-memory-id]").length === k, n, { timeout: 15000 });
  check((await rows.count()) === n, `the table shows ${await rows.count()} memories, not ${n}`);
  const tableText = await page.locator("#memories").innerText();
  check(!tableText.includes("Bob keeps"), "the table shows another user's memory");
  check(tableText.includes("Always write explicit JOINs"), "the table lacks the rule");
  const firstCells = await rows.first().locator("td").allInnerTexts();
  check(firstCells[0].includes("<script>") && firstCells[1] === "short_term", `the newest row is ${JSON.stringify(firstCells)}`);
  check(/^(never|in \d+ [dh]|expired)/.test(firstCells[5]) && firstCells[5] !== "never", `a short-term memory's expiry reads "${firstCells[5]}"`);
  const ruleRow = rows.filter({ hasText: "Always write explicit JOINs" });
  const ruleCells = await ruleRow.locator("td").allInnerTexts();
  check(ruleCells[1] === "rule" && ruleCells[2].startsWith("0.9") && ruleCells[5] === "never", `the rule's row is ${JSON.stringify(ruleCells)}`);

  // XSS: the hostile memory is text in the table — no element, no script run.
  const hostile = await page.evaluate(() => ({
    imgs: document.querySelectorAll("#memories img, #results img").length,
    scripts: [...document.querySelectorAll("script")].map((s) => s.getAttribute("src")),
    xss: window.__xss,
  }));
  check(tableText.includes(`<img src=x onerror="window.__xss = 2; alert(1)">`), "the hostile memory is not shown verbatim");
  check(hostile.imgs === 0, `the hostile memory made ${hostile.imgs} <img> elements`);
  check(hostile.scripts.length === 1 && hostile.scripts[0] === "/ui/ui.js", `scripts on the page: ${JSON.stringify(hostile.scripts)}`);
  check(hostile.xss === undefined, `the hostile memory ran (window.__xss = ${hostile.xss})`);

  // The type filter asks the list route for one type.
  await page.selectOption("#type-filter", "rule");
  await page.waitForFunction(() => document.querySelectorAll("#memory-rows tr[data-memory-id]").length === 1, null, { timeout: 15000 });
  check((await rows.first().locator("td").nth(1).innerText()) === "rule", "the rule filter shows another type");
  await page.selectOption("#type-filter", "");
  await page.waitForFunction((k) => document.querySelectorAll("#memory-rows tr[data-memory-id]").length === k, n, { timeout: 15000 });

  // Search: ranked results, each with its fused, semantic and lexical bars.
  await searchFor(page, "how should I write joins instead of subqueries?", "hybrid");
  const ranked = await page.evaluate(() =>
    [...document.querySelectorAll("#results li.result")].map((li) => ({
      text: li.querySelector(".content").textContent,
      fused: Number(li.querySelector("svg.bar.fused").getAttribute("data-value")),
      semantic: Number(li.querySelector("svg.bar.semantic").getAttribute("data-value")),
      lexical: Number(li.querySelector("svg.bar.lexical").getAttribute("data-value")),
      fillWidth: Number(li.querySelector("svg.bar.fused rect.fill").getAttribute("width")),
    })),
  );
  check(ranked.length >= 2, `${ranked.length} search results`);
  check(ranked[0].text.includes("explicit JOINs"), `the best result is "${ranked[0] && ranked[0].text}"`);
  check(ranked.every((r, i) => i === 0 || r.fused <= ranked[i - 1].fused), `results are not ordered by score: ${ranked.map((r) => r.fused)}`);
  check(ranked.every((r) => [r.fused, r.semantic, r.lexical].every((v) => v >= 0 && v <= 1)), "a score bar outside [0, 1]");
  check(ranked[0].semantic > 0 && ranked[0].lexical > 0, `the best result's bars: semantic ${ranked[0].semantic}, lexical ${ranked[0].lexical}`);
  check(Math.abs(ranked[0].fillWidth - ranked[0].fused * 100) < 0.05, "the fused bar's length is not its score");
  // The hostile memory as a search result is text as well.
  await searchFor(page, "hostile note script onerror", "lexical");
  const lexTop = await page.evaluate(() => {
    const li = document.querySelector("#results li.result");
    const v = (cls) => Number(li.querySelector(`svg.bar.${cls}`).getAttribute("data-value"));
    return { text: li.querySelector(".content").textContent, fused: v("fused"), lexical: v("lexical"), imgs: document.querySelectorAll("#results img").length, xss: window.__xss };
  });
  check(lexTop.text.startsWith("<script>"), `the lexical search's best result is "${lexTop.text}"`);
  // In lexical mode the score is the lexical one (docs/ranking.md); both sides are still shown.
  check(lexTop.lexical > 0 && Math.abs(lexTop.fused - lexTop.lexical) < 1e-3, `a lexical search's bars: score ${lexTop.fused}, lexical ${lexTop.lexical}`);
  check(lexTop.imgs === 0 && lexTop.xss === undefined, "the hostile search result made an element or ran");
  await searchFor(page, "how should I write joins instead of subqueries?", "hybrid");

  // Statistics: by type from the summary, importance and accesses from the list.
  await page.click("#load"); // reload the charts after the searches' accesses
  await page.waitForFunction((k) => document.querySelectorAll("#chart-importance rect.bar-rect").length === 10 && [...document.querySelectorAll("#chart-importance rect.bar-rect")].reduce((s, r) => s + Number(r.getAttribute("data-value")), 0) === k, n, { timeout: 15000 });
  const charts = await page.evaluate(() => {
    const vals = (id) => [...document.querySelectorAll(`#${id} rect.bar-rect`)].map((r) => Number(r.getAttribute("data-value")));
    return { types: vals("chart-types"), importance: vals("chart-importance"), accesses: vals("chart-accesses"), summary: document.querySelector("#summary").innerText };
  });
  check(JSON.stringify(charts.types) === JSON.stringify([2, 1, 1, 1, 1, 0]), `the type chart is ${JSON.stringify(charts.types)}`);
  check(charts.importance.reduce((a, b) => a + b, 0) === n && charts.importance[9] === 1, `the importance histogram is ${JSON.stringify(charts.importance)}`);
  check(charts.accesses.length === 14 && charts.accesses[13] > 0, `the accesses chart is ${JSON.stringify(charts.accesses)}`);
  check(charts.summary.includes(String(n)), `the summary reads "${charts.summary}"`);

  if (!production) {
    // A data source's graph: picked from GET /api/data-sources, its dialect and tables named.
    await page.waitForFunction((ds) => [...document.querySelectorAll("#source-pick option")].some((o) => o.value === String(ds)), DS, { timeout: 15000 });
    const label = await page.locator(`#source-pick option[value="${DS}"]`).innerText();
    check(label.includes("5 tables"), `the data source is offered as "${label}"`);
    await page.selectOption("#source-pick", String(DS));
    await page.waitForFunction(() => document.querySelectorAll("#schema-graph .node").length === 5, null, { timeout: 15000 });
    const graph = await page.evaluate(() => ({
      nodes: [...document.querySelectorAll("#schema-graph .node")].map((g) => g.getAttribute("data-table")).sort(),
      edges: [...document.querySelectorAll("#schema-graph .edge")].map((e) => e.getAttribute("data-join")).sort(),
      boxes: [...document.querySelectorAll("#schema-graph .node")].map((g) => g.getBoundingClientRect()).map((r) => [r.x, r.y, r.width, r.height]),
    }));
    check(JSON.stringify(graph.nodes) === JSON.stringify(["audit_log", "customers", "order_items", "orders", "products"]), `graph nodes ${JSON.stringify(graph.nodes)}`);
    check(
      JSON.stringify(graph.edges) === JSON.stringify(["order_items.order_id → orders.id", "order_items.product_id → products.id", "orders.customer_id → customers.id"]),
      `graph edges ${JSON.stringify(graph.edges)}`,
    );
    // No two tables drawn on top of each other.
    const overlap = graph.boxes.some((a, i) => graph.boxes.some((b, j) => j > i && a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]));
    check(!overlap, "two tables of the graph overlap");
    await page.click('#schema-graph .node[data-table="orders"]');
    const detail = await page.locator("#table-detail").innerText();
    check(detail.includes("customer_id") && detail.includes("→ customers.id") && detail.includes("PK"), `the orders detail reads "${detail}"`);
    // What /api/context picks for a question, highlighted on the graph.
    await page.fill("#context-question", "revenue per customer city from order items");
    await page.click("#context-form button[type=submit]");
    await page.locator("#schema-graph .node.picked").first().waitFor({ timeout: 15000 });
    const picked = await page.evaluate(() => [...document.querySelectorAll("#schema-graph .node.picked, #schema-graph .node.bridge")].map((g) => g.getAttribute("data-table")).sort());
    check(picked.includes("customers") && picked.includes("order_items"), `context picked ${JSON.stringify(picked)}`);
    // The graph highlights exactly the tables the API chose.
    const chosen = await rest("POST", "/api/context", { question: "revenue per customer city from order items", data_source_id: DS });
    const names = chosen.tables.map((t) => t.name).sort();
    check(JSON.stringify(picked) === JSON.stringify(names), `the graph highlights ${JSON.stringify(picked)}, /api/context chose ${JSON.stringify(names)}`);
    const pickedJoins = await page.locator("#schema-graph .edge.picked").count();
    check(pickedJoins === chosen.joins.length, `${pickedJoins} joins highlighted, /api/context chose ${chosen.joins.length}`);
    check((await page.locator("#context-info").innerText()).includes("/api/context chose"), "no context summary");
  } else {
    // The token went out as a bearer header, never as X-User-Id, and is stored nowhere.
    const sent = apiRequests.filter((r) => r.afterToken);
    check(sent.length >= 3, `${sent.length} API requests after the token`);
    check(sent.every((r) => r.headers.authorization === `Bearer ${token}` && !r.headers["x-user-id"]), "an API request without the bearer token");
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
    check(stored.local === 0 && stored.session === 0 && stored.cookie === "", `the page stored something: ${JSON.stringify(stored)}`);
    const ctx = await page.context().cookies();
    check(ctx.length === 0, `cookies: ${JSON.stringify(ctx)}`);
  }

  check(dialogs.length === 0, `dialogs opened: ${JSON.stringify(dialogs)}`);
  mkdirSync(shotDir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = `${shotDir}/ui-${label}.png`;
  await page.screenshot({ path: shot, fullPage: true });
  if (!production) await page.locator("#graph-panel").screenshot({ path: `${shotDir}/ui-graph-${label}.png` });
  check(outside.length === 0, `requests left the server: ${outside.join(", ")}`);
  check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(" | ")}`);
  if (!failures) console.log(`ui.test: ok (${production ? "production" : "development"}, ${label}, screenshot ${shot})`);
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
