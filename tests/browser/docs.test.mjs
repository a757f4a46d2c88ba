// GET /docs in a real browser (issue 18): Debian's chromium driven by npm's
// playwright-core opens Swagger UI on a running memori, expands
// POST /api/memories/search, runs "Try it out" against the live server and
// reads a 200 from the page; it fails on a request to anywhere but the server
// and on a console error (a Content-Security-Policy violation is one).
// tests/e2e/test_e2e_openapi.c starts the server and runs this script:
//   MEMORI_URL=http://127.0.0.1:PORT  the server
//   MEMORI_NPM_DIR=build/npm           where make's npm ci put playwright-core
//   MEMORI_SCREENSHOT=build/browser/docs.png
//   MEMORI_EXPECT=text                 a memory's content the search must show
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

const base = process.env.MEMORI_URL;
const npmDir = resolve(process.env.MEMORI_NPM_DIR || "build/npm");
const shot = process.env.MEMORI_SCREENSHOT || "build/browser/docs.png";
const expectText = process.env.MEMORI_EXPECT || "";
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

function fail(msg) {
  console.error(`docs.test: FAIL ${msg}`);
  process.exitCode = 1;
}

const require = createRequire(`${npmDir}/package.json`);
const { chromium } = require("playwright-core");
const browser = await chromium.launch({
  executablePath: chromiumPath,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const outside = [];
  const consoleErrors = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base + "/") && !u.startsWith("data:")) outside.push(u);
  });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400) consoleErrors.push(`${r.status()} for ${r.url()}`);
  });

  const answer = await page.goto(`${base}/docs`);
  if (!answer || answer.status() !== 200) throw new Error(`GET /docs answered ${answer && answer.status()}`);
  const csp = answer.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'self'")) fail(`Content-Security-Policy is "${csp}"`);

  const op = page.locator("#operations-memories-post_api_memories_search");
  await op.waitFor({ timeout: 15000 });
  await op.locator(".opblock-summary").first().click();
  await op.getByRole("button", { name: "Try it out" }).click();
  const body = op.locator("textarea.body-param__text");
  await body.fill(JSON.stringify({ query: "how does the user like joins?", limit: 5 }));
  await op.getByRole("button", { name: "Execute" }).click();
  const status = op.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.innerText()).trim();
  if (code !== "200") fail(`the live answer's status is "${code}", not 200`);
  const shown = await op.locator(".live-responses-table tbody .response-col_description").first().innerText();
  if (expectText && !shown.includes(expectText)) fail(`the answer shown lacks "${expectText}"`);

  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  if (outside.length) fail(`requests left the server: ${outside.join(", ")}`);
  if (consoleErrors.length) fail(`console errors: ${consoleErrors.join(" | ")}`);
  if (!process.exitCode) console.log(`docs.test: ok (status ${code}, screenshot ${shot})`);
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
