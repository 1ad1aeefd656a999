// The packed `nanosp` tarball in Node 20: imported by name from a fresh
// install, once with the `ws` package providing WebSocket and once with
// `node --experimental-websocket` and no `ws`. Both talk REQ to nngcat REP
// and PAIR1 bytes. With neither, `dial` must reject saying what is missing.
// Prints `N passed, N failed`.
import { execFileSync, execFile, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nngcat, packAndInstall, runTests, assertEq, freePort } from "./harness.mjs";

const { tarball } = packAndInstall();
const wsDir = new URL("./node_modules/ws", import.meta.url).pathname;

const CLIENT = `
import init, { Socket, version } from "nanosp";
await init();
const [reqUrl, pairUrl] = process.argv.slice(2);
const req = new Socket("req");
req.setOption("recv-timeout", 5000);
await req.dial(reqUrl);
await req.send("from node");
const text = await req.recvText();
const pair = new Socket("pair1");
await pair.dial(pairUrl);
const bytes = Array.from(await pair.recv());
await pair.send(new Uint8Array([0, 1, 0]));
let code;
try { await new Socket("req").dial("ws://127.0.0.1:1/none"); } catch (e) { code = e.code; }
// Options read back as set (durations in ms, -1 = forever).
const opts = new Socket("req");
const options = {};
for (const [k, v] of [["recv-timeout", 1500], ["send-timeout", -1], ["reconnect-time-min", 250],
    ["reconnect-time-max", 120000], ["linger", 2500], ["recv-size-max", 65536], ["ttl-max", 4]]) {
  opts.setOption(k, v);
  options[k] = opts.getOption(k);
}
opts.close();
console.log(JSON.stringify({ text, bytes, code, options, version: version() }));
req.close(); pair.close();
process.exit(0);
`;

// Node 20 with neither `ws` nor the flag (and, on a Node that has the
// global, without it): dial must say what is missing, not EINVAL.
const NO_WEBSOCKET_CLIENT = `
delete globalThis.WebSocket;
const { Socket } = await import("nanosp");
const [url] = process.argv.slice(2);
const out = {};
for (const nonblocking of [false, true]) {
  try { await new Socket("req").dial(url, { nonblocking }); out[nonblocking] = "resolved"; }
  catch (e) { out[nonblocking] = { code: e.code, message: e.message }; }
}
console.log(JSON.stringify(out));
process.exit(0);
`;

// Issue 12, bug 1 in the npm package: REQ with recv-timeout, a request the
// server ignores times out; recv again without a send is ESTATE (nng); the
// next send + recv gets the reply (was: ECANCELED at once).
const RETRY_CLIENT = `
const { Socket } = await import("nanosp");
const [url] = process.argv.slice(2);
const req = new Socket("req");
req.setOption("recv-timeout", 300);
await req.dial(url);
const codes = [];
for (const round of [1, 2]) {
  await req.send("drop " + round);
  try { await req.recvText(); codes.push("ok"); } catch (e) { codes.push(e.code); }
  try { await req.recvText(); codes.push("ok"); } catch (e) { codes.push(e.code); }
  await req.send("again " + round);
  codes.push(await req.recvText());
}
console.log(JSON.stringify(codes));
req.close();
process.exit(0);
`;

// A pynng REP on ws that ignores requests starting with "drop" and answers
// the others with "re:" + the request.
const PYNNG_REP = `
import sys, pynng
with pynng.Rep0(listen=sys.argv[1]) as rep:
    print("ready", flush=True)
    while True:
        q = rep.recv()
        if not q.startswith(b"drop"):
            rep.send(b"re:" + q)
`;

async function runRetry(dir) {
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/sp`;
  const py = spawn("python3", ["-c", PYNNG_REP, url], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise((resolve, reject) => {
      py.stdout.on("data", (d) => { if (String(d).includes("ready")) resolve(); });
      py.once("exit", (c) => reject(new Error(`pynng REP exited with ${c}`)));
    });
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ["retry.mjs", url], { cwd: dir, timeout: 20000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    assertEq(JSON.parse(out.trim().split("\n").pop()), ["ETIMEDOUT", "ESTATE", "re:again 1", "ETIMEDOUT", "ESTATE", "re:again 2"]);
  } finally {
    py.kill("SIGTERM");
  }
}

/** A folder with nanosp installed from the tarball (and `ws` if asked) and the client script. */
function install(withWs) {
  const dir = mkdtempSync(join(tmpdir(), "nanosp-node-"));
  writeFileSync(join(dir, "package.json"), '{"private":true,"type":"module"}');
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", tarball], { cwd: dir });
  if (withWs) cpSync(wsDir, join(dir, "node_modules", "ws"), { recursive: true });
  writeFileSync(join(dir, "client.mjs"), CLIENT);
  writeFileSync(join(dir, "no-websocket.mjs"), NO_WEBSOCKET_CLIENT);
  writeFileSync(join(dir, "retry.mjs"), RETRY_CLIENT);
  return dir;
}

async function runWithoutWebSocket(dir) {
  const rep = await nngcat(["--rep", "--data", "unused"]); // listening: only the class is missing
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, ["no-websocket.mjs", rep.url], { cwd: dir, timeout: 20000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  const got = JSON.parse(out.trim().split("\n").pop());
  for (const nonblocking of ["false", "true"]) {
    const r = got[nonblocking];
    assertEq(r.code, "ENOTSUP");
    for (const words of ["no WebSocket in this JavaScript environment", "install the `ws` package", "--experimental-websocket", "Node 22"]) {
      if (!r.message.includes(words)) throw new Error(`nonblocking ${nonblocking}: ${JSON.stringify(r.message)} lacks ${JSON.stringify(words)}`);
    }
  }
}

async function run(dir, nodeArgs) {
  // The reply starts with a BOM and holds two bad sequences: recvText
  // keeps the BOM and replaces each with U+FFFD (as from_utf8_lossy).
  const reply = join(dir, "reply.bin");
  writeFileSync(reply, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("hello "), Buffer.from([0xff, 0xc3]), Buffer.from(" node")]));
  const rep = await nngcat(["--rep", "--ascii", "--file", reply]);
  const file = join(dir, "bytes.bin");
  writeFileSync(file, Buffer.from([0, 120, 0]));
  const pair = await nngcat(["--pair1", "--raw", "--file", file, "--interval", "5"]);
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, [...nodeArgs, "client.mjs", rep.url, pair.url], { cwd: dir, timeout: 20000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  assertEq(JSON.parse(out.trim().split("\n").pop()), { text: "\ufeffhello \ufffd\ufffd node", bytes: [0, 120, 0], code: "ECONNREFUSED", options: { "recv-timeout": 1500, "send-timeout": -1, "reconnect-time-min": 250, "reconnect-time-max": 120000, "linger": 2500, "recv-size-max": 65536, "ttl-max": 4 }, version: "0.1.0" });
  await rep.waitOutput("from node");
  await pair.waitOutput((b) => b.includes(Buffer.from([0, 1, 0])));
}

const failed = await runTests([
  ["Node 20 with the ws package", () => run(install(true), [])],
  ["Node 20 with --experimental-websocket", () => run(install(false), ["--experimental-websocket", "--no-warnings"])],
  ["Node without ws or a global WebSocket: dial says what is missing", () => runWithoutWebSocket(install(false))],
  ["REQ retries after a timed-out recv (ETIMEDOUT, ESTATE, then the reply), against pynng", () => runRetry(install(true))],
]);
process.exit(failed ? 1 : 0);
