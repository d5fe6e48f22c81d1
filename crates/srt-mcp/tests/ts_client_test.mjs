// End-to-end tests of srt-mcp through the official TypeScript MCP SDK
// (npm `@modelcontextprotocol/sdk`), over stdio and over streamable HTTP.
// Run by scripts/mcp-test.sh, which installs the SDK:
//
//   node ts_client_test.mjs SRT_MCP_BINARY
//
// What the SDK itself checks is part of the test: it validates every
// structuredContent against the tool's outputSchema (a mismatch throws), and
// anything it writes through console.warn / console.error (a rejected
// DELETE, an unexpected status) fails the run.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { once } from "node:events";

const bin = process.argv[2];
if (!bin) {
  console.log("usage: node ts_client_test.mjs SRT_MCP_BINARY");
  process.exit(2);
}

// Anything the SDK warns about is a failure.
const warnings = [];
for (const level of ["warn", "error"]) {
  const orig = console[level];
  console[level] = (...args) => {
    warnings.push(`${level}: ${args.map(String).join(" ")}`);
    orig(...args);
  };
}

let failed = 0;
let passed = 0;
async function test(name, fn) {
  const before = warnings.length;
  try {
    await fn();
    if (warnings.length > before) {
      throw new Error(`the SDK warned: ${warnings.slice(before).join(" | ")}`);
    }
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    process.stdout.write(`FAIL ${name}: ${e && e.stack ? e.stack : e}\n`);
  }
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

const env = { PATH: process.env.PATH || "/usr/bin:/bin", HOME: process.env.HOME || "/", LANG: "C.UTF-8" };

async function exercise(client, label) {
  const tools = (await client.listTools()).tools;
  const names = tools.map((t) => t.name).sort();
  check(
    JSON.stringify(names) === JSON.stringify(["discover_sandbox_config", "execute_code", "execute_code_with_custom_config"]),
    `${label}: tools ${names}`,
  );
  for (const t of tools) check(t.outputSchema, `${label}: ${t.name} has no outputSchema`);

  const r = await client.callTool({ name: "execute_code", arguments: { code: "print(6 * 7)" } });
  check(!r.isError, `${label}: execute_code failed: ${JSON.stringify(r)}`);
  check(r.structuredContent.stdout === "42\n", `${label}: stdout ${JSON.stringify(r.structuredContent)}`);
  check(r.content[0].type === "text" && r.content[0].text.startsWith("exit 0 in "), `${label}: status line ${r.content[0].text}`);

  // A refused read is an error the program sees and a violation the result lists.
  const d = await client.callTool({
    name: "execute_code",
    arguments: { language: "sh", code: "cat ~/.ssh/id_rsa; echo rc=$?" },
  });
  check(d.structuredContent.stdout.includes("rc=1"), `${label}: ${JSON.stringify(d.structuredContent)}`);

  const disc = await client.callTool({ name: "discover_sandbox_config", arguments: {} });
  check(!disc.isError && disc.structuredContent.defaultPolicy, `${label}: discover ${JSON.stringify(disc).slice(0, 300)}`);

  // Progress while a call runs: notifications carry a total (the timeout).
  const progress = [];
  const slow = await client.callTool(
    { name: "execute_code", arguments: { language: "sh", code: "sleep 2.5; echo done", timeout_sec: 20 } },
    undefined,
    { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true, timeout: 60000 },
  );
  check(slow.structuredContent.stdout === "done\n", `${label}: slow call ${JSON.stringify(slow.structuredContent)}`);
  check(progress.length >= 1, `${label}: no progress notification during a 2.5 s call`);
  check(progress.every((p) => p.total === 20), `${label}: progress without the timeout as total: ${JSON.stringify(progress)}`);
}

await test("stdio: tools, results, a refused read, discover, progress", async () => {
  const transport = new StdioClientTransport({ command: bin, args: [], env, stderr: "pipe" });
  const client = new Client({ name: "srt-ts-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    await exercise(client, "stdio");
  } finally {
    await client.close();
  }
});

async function freePort() {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = s.address().port;
  s.close();
  await once(s, "close");
  return port;
}

async function startHttp() {
  const port = await freePort();
  const child = spawn(bin, ["--http", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b) => (stderr += b));
  // Wait until it accepts connections.
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mcp`, { method: "GET" });
      await res.arrayBuffer();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`srt-mcp --http did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { child, url: new URL(`http://127.0.0.1:${port}/mcp`), stderr: () => stderr };
}

// A client of `server` whose requests carry `origin`, as a browser's would.
function httpClient(server, origin) {
  const transport = new StreamableHTTPClientTransport(server.url, { requestInit: { headers: { Origin: origin } } });
  return { transport, client: new Client({ name: "srt-ts-test", version: "1.0.0" }) };
}

await test("streamable HTTP, as the Inspector's browser UI (Origin on another loopback port): calls and session DELETE", async () => {
  const server = await startHttp();
  try {
    const { transport, client } = httpClient(server, "http://localhost:6274");
    await client.connect(transport);
    check(transport.sessionId, "no session id after initialize");
    await exercise(client, "http");
    // Ends the session with DELETE; the SDK warns on an unexpected status.
    await transport.terminateSession();
    check(transport.sessionId === undefined, "session id kept after DELETE");
    await client.close();
  } finally {
    server.child.kill("SIGKILL");
  }
});

await test("streamable HTTP: an Origin that is not loopback is refused", async () => {
  const server = await startHttp();
  try {
    const { transport, client } = httpClient(server, "http://attacker.example");
    let refused = false;
    try {
      await client.connect(transport);
    } catch (e) {
      refused = /403|Forbidden|Origin/i.test(String(e));
    }
    check(refused, "a foreign Origin was served");
  } finally {
    server.child.kill("SIGKILL");
  }
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
