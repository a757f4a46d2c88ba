// POST /mcp with the official MCP TypeScript SDK (issue 19): its Client over
// StreamableHTTPClientTransport connects to a running memori, lists the tools
// and calls each one, reading both the text and the structured result (the SDK
// checks every structuredContent against the tool's outputSchema). Against
// the same server: a REST PUT gives data source 7 a schema first, so
// learn_example and get_context have tables to work with; a second user's
// client sees none of the first's memories.
// tests/e2e/test_e2e_mcp.c starts the server (SQLite or PostgreSQL) and runs:
//   MEMORI_URL=http://127.0.0.1:PORT   the server
//   MEMORI_NPM_DIR=build/npm            where make's npm ci put the SDK
import { createRequire } from "node:module";
import { resolve } from "node:path";

const base = process.env.MEMORI_URL;
const npmDir = resolve(process.env.MEMORI_NPM_DIR || "build/npm");
const require = createRequire(`${npmDir}/package.json`);
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const CONV = "0b5e8a4e-3c0e-4f5e-9a51-5b0c1f2e7d10";
const DS = 7;
let failures = 0;
let checks = 0;

function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`mcp.test: FAIL ${what}`);
  }
}

async function connect(user) {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { "X-User-Id": user } },
  });
  const client = new Client({ name: "memori-mcp-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

// A tool's result: the structured answer, after checking the text says the same.
async function call(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  check(!r.isError, `${name} is not an error: ${JSON.stringify(r.content)}`);
  check(Array.isArray(r.content) && r.content[0]?.type === "text", `${name} has text content`);
  const text = JSON.parse(r.content[0].text);
  check(JSON.stringify(text) === JSON.stringify(r.structuredContent), `${name}: text == structuredContent`);
  return r.structuredContent;
}

try {
  // REST first: the schema learn_example checks SQL against and get_context links tables from.
  const ddl =
    "CREATE TABLE customers (id integer PRIMARY KEY, name text); " +
    "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers(id), " +
    "total numeric, placed_at timestamp);";
  const put = await fetch(`${base}/api/data-sources/${DS}/schema`, {
    method: "PUT",
    headers: { "Content-Type": "application/json", "X-User-Id": "alice" },
    body: JSON.stringify({ dialect: "postgresql", ddl }),
  });
  check(put.status === 200, `PUT schema answered ${put.status}`);

  const { client, transport } = await connect("alice");
  const info = client.getServerVersion();
  check(info?.name === "memori", `serverInfo.name is ${info?.name}`);
  check(client.getServerCapabilities()?.tools, "capabilities has tools");
  check(typeof transport.sessionId === "string" && transport.sessionId.length > 20, "a session id was issued");
  check(transport.protocolVersion === "2025-06-18", `negotiated ${transport.protocolVersion}`);
  await client.ping();

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  const want = ["forget", "get_context", "learn_example", "list_conversations", "recall", "remember"];
  check(JSON.stringify(names) === JSON.stringify(want), `tools are ${names}`);
  for (const t of tools) {
    check(t.inputSchema?.type === "object", `${t.name} has an object inputSchema`);
    check(t.outputSchema?.type === "object", `${t.name} has an object outputSchema`);
    check(!JSON.stringify(t.inputSchema).includes("$ref"), `${t.name}'s inputSchema stands alone`);
    check(t.description?.length > 40, `${t.name} is described`);
    // The SDK checks each call's structuredContent against this schema: a mismatch throws.
    check(typeof client.getToolOutputValidator(t.name) === "function", `${t.name}'s answers are checked`);
  }
  const recallTool = tools.find((t) => t.name === "recall");
  check(recallTool?.inputSchema.required?.includes("query"), "recall requires query");

  const rule = await call(client, "remember", {
    content: "User prefers JOINs over subqueries",
    memory_type: "rule",
    conversation_id: CONV,
    importance_score: 0.8,
    context_tags: ["sql"],
  });
  check(rule.memory_type === "rule" && rule.user_id === "alice", "remember stored alice's rule");
  const note = await call(client, "remember", {
    content: "We are looking at revenue by customer this quarter",
    memory_type: "short_term",
    conversation_id: CONV,
  });
  check(note.expires_at, "a short-term memory gets an expiry");
  check(note.duplicate === false && note.merged === false, "remember says the note is new");
  const againNote = await call(client, "remember", {
    content: "We are looking at revenue by customer this quarter",
    memory_type: "short_term",
    conversation_id: CONV,
  });
  check(againNote.duplicate === true && againNote.memory_id === note.memory_id, "remember says the same note is a duplicate");
  const asText = await call(client, "remember", {
    content: "Orders per month: SELECT date_trunc('month', placed_at), count(*) FROM orders GROUP BY 1",
    memory_type: "example",
    conversation_id: CONV,
  });
  check(asText.memory_type === "example", "remember takes memory_type example, as REST does");

  const found = await call(client, "recall", { query: "how does the user like joins?", limit: 5, min_similarity: 0 });
  check(found.results.some((m) => m.memory_id === rule.memory_id), "recall finds the rule");
  check(found.results.every((m) => typeof m.scores?.semantic === "number"), "recall gives both scores");
  const typed = await call(client, "recall", { query: "revenue", memory_types: ["rule"], min_similarity: 0 });
  check(typed.results.every((m) => m.memory_type === "rule"), "recall filters memory_types");

  const example = await call(client, "learn_example", {
    question: "Total revenue per customer",
    sql: "SELECT c.name, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.name",
    data_source_id: DS,
    verified: true,
  });
  check(example.memory_type === "example", "learn_example stored an example");
  check(example.duplicate === false, "learn_example says the example is new");
  const again = await call(client, "learn_example", {
    question: "Total revenue per customer",
    sql: "SELECT c.name, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.name",
    data_source_id: DS,
  });
  check(again.memory_id === example.memory_id, "the same example again is the stored one");
  check(again.duplicate === true, "learn_example says the same example again is a duplicate");

  const ctx = await call(client, "get_context", {
    question: "revenue of each customer",
    data_source_id: DS,
    conversation_id: CONV,
  });
  const tables = ctx.tables.map((t) => t.name);
  check(tables.includes("orders") && tables.includes("customers"), `get_context's tables: ${tables}`);
  check(ctx.rules.some((r) => r.memory_id === rule.memory_id), "get_context has the rule");
  check(ctx.examples.some((e) => e.memory_id === example.memory_id), "get_context has the example");
  check(ctx.prompt.includes("orders"), "get_context's prompt names the table");

  const convs = await call(client, "list_conversations", { limit: 10 });
  check(convs.conversations.some((c) => c.conversation_id === CONV), "list_conversations has the conversation");

  const gone = await call(client, "forget", { memory_id: note.memory_id });
  check(gone.deleted === true && gone.memory_id === note.memory_id, "forget deleted the note");
  const twice = await client.callTool({ name: "forget", arguments: { memory_id: note.memory_id } });
  check(twice.isError === true, "forgetting it again is a tool error");
  check(/not found/i.test(twice.content?.[0]?.text || ""), `with REST's message: ${twice.content?.[0]?.text}`);

  // Invalid arguments are a JSON-RPC error naming the argument, which the SDK throws.
  let threw = null;
  try {
    await client.callTool({ name: "recall", arguments: { limit: 5 } });
  } catch (e) {
    threw = e;
  }
  check(threw?.code === -32602 && /arguments\.query/.test(threw?.message), `recall without query: ${threw}`);

  // Another user's session sees nothing of alice's.
  const bob = await connect("bob");
  const bobs = await call(bob.client, "recall", { query: "how does the user like joins?", min_similarity: 0 });
  check(!bobs.results.some((m) => m.memory_id === rule.memory_id), "bob does not recall alice's rule");
  const bobConvs = await call(bob.client, "list_conversations", {});
  check(bobConvs.total === 0, "bob has no conversations");
  await bob.client.close();
  await client.close();
} catch (e) {
  failures++;
  console.error(`mcp.test: FAIL ${e && e.stack ? e.stack : e}`);
}
if (failures) {
  console.error(`mcp.test: ${failures} of ${checks} checks failed`);
  process.exitCode = 1;
} else {
  console.log(`mcp.test: ok (${checks} checks)`);
}
