// Shared pieces of the browser and Node tests: ports, nngcat peers, the
// packed package, a static file server. No sleeps: everything waits on an
// event (a process printed something, a port accepts connections) with a
// deadline.
import { spawn, execFileSync } from "node:child_process";
import { createServer, connect } from "node:net";
import http from "node:http";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import { createHash, X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join, extname, normalize } from "node:path";

export const PKG_DIR = new URL("../pkg/", import.meta.url).pathname;

/** A port that was free a moment ago (nngcat needs a concrete one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`. */
export async function waitForPort(port, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => { c.destroy(); resolve(true); });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on port ${port}`);
    // Polling pace only: the loop ends on the connect event, not on time.
    await new Promise((r) => setTimeout(r, 10));
  }
}

const children = new Set();

/** A running nngcat; `out` accumulates its stdout. */
export class Peer {
  constructor(args) {
    this.args = args;
    this.proc = spawn("nngcat", args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(this.proc);
    this.out = Buffer.alloc(0);
    this.err = "";
    this.exited = false;
    this.waiters = [];
    this.proc.stdout.on("data", (d) => { this.out = Buffer.concat([this.out, d]); this.#check(); });
    this.proc.stderr.on("data", (d) => { this.err += d; });
    this.proc.on("exit", () => { this.exited = true; children.delete(this.proc); this.#check(); });
  }
  #check() {
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(this.out)) { clearTimeout(w.timer); w.resolve(this.out); return false; }
      if (this.exited) { clearTimeout(w.timer); w.reject(new Error(`nngcat exited; stdout ${JSON.stringify(this.out.toString("latin1").slice(0, 200))} stderr ${this.err}`)); return false; }
      return true;
    });
  }
  /** Resolves when stdout satisfies `pred` (a string to contain, or a function of the bytes). */
  waitOutput(pred, ms = 10000) {
    const p = typeof pred === "string" ? (b) => b.toString("latin1").includes(pred) : pred;
    return new Promise((resolve, reject) => {
      const w = { pred: p, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`nngcat ${this.args.join(" ")}: expected output not seen in ${ms} ms; got ${JSON.stringify(this.out.toString("latin1").slice(0, 200))} ${this.err}`));
      }, ms);
      this.waiters.push(w);
      this.#check();
    });
  }
  /** Stops it and waits for it to be gone. */
  stop() {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once("exit", resolve);
      this.proc.kill("SIGTERM");
    });
  }
}

/** Starts `nngcat <args...> --listen ws://127.0.0.1:PORT/PATH` and waits until it listens. */
export async function nngcat(args, { port, path = "/sp" } = {}) {
  port ??= await freePort();
  const url = `ws://127.0.0.1:${port}${path}`;
  const peer = new Peer([...args, "--listen", url]);
  await waitForPort(port);
  peer.url = url;
  peer.port = port;
  return peer;
}

export function stopAll() {
  for (const c of children) c.kill("SIGKILL");
}

/** `npm pack`s pkg/ and unpacks it as node_modules/nanosp of a fresh folder. */
export function packAndInstall() {
  if (!existsSync(join(PKG_DIR, "nanosp_bg.wasm"))) {
    throw new Error("bindings/wasm/pkg is missing: run bindings/wasm/build.sh first");
  }
  const dir = mkdtempSync(join(tmpdir(), "nanosp-pack-"));
  const name = execFileSync("npm", ["pack", PKG_DIR, "--pack-destination", dir, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  const tarball = join(dir, name);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, tarball]);
  return { dir, tarball, modDir: join(dir, "node_modules", "nanosp") };
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css" };

/** Serves `routes` ({ "/prefix/": folder }) on 127.0.0.1:0; resolves to { server, origin }. */
export function serveStatic(routes) {
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!path.startsWith(prefix)) continue;
      let file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(normalize(dir))) break;
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
      if (!existsSync(file)) break;
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(404).end("not found");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

/** A certificate + key for 127.0.0.1 made now with openssl (no key in the
 *  repository): { both: PEM file with both, spki: the base64 SHA-256 of its
 *  public key, for Chromium's --ignore-certificate-errors-spki-list }. */
export function testCertificate() {
  const dir = mkdtempSync(join(tmpdir(), "nanosp-tls-"));
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", key, "-out", cert], { stdio: "ignore" });
  const both = join(dir, "server.pem");
  writeFileSync(both, readFileSync(cert, "utf8") + readFileSync(key, "utf8"));
  const spki = new X509Certificate(readFileSync(cert)).publicKey.export({ type: "spki", format: "der" });
  return { both, spki: createHash("sha256").update(spki).digest("base64") };
}

/** Chromium flags that keep a headless run quiet and off the network. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"];

/** The nanosp demo server (examples/browser/server), if built. */
export const STD_SERVER = process.env.NANOSP_DEMO_SERVER
  ?? new URL("../../../target/release/nanosp-demo-server", import.meta.url).pathname;

/** Starts the nanosp demo server on `port` (0 = any), on wss:// with the
 *  certificate + key PEM file `tls` if given; resolves when it listens. */
export async function stdServer({ port = 0, tls } = {}) {
  const args = [String(port), ...(tls ? ["--tls", tls] : [])];
  const proc = spawn(STD_SERVER, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.add(proc);
  proc.on("exit", () => children.delete(proc));
  const line = await new Promise((resolve, reject) => {
    let buf = "";
    proc.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    proc.on("exit", (code) => reject(new Error(`nanosp-demo-server exited (${code})`)));
  });
  const [, feed, , rpc, , echo] = line.trim().split(" ");
  const stop = () => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", resolve);
    proc.kill("SIGTERM");
  });
  return { feed, rpc, echo, port: Number(new URL(feed).port), stop };
}

/** Runs named async tests one after another; prints `N passed, N failed`.
 *  A test given as [name, fn, skipReason] with a reason is skipped. */
export async function runTests(tests, { timeoutMs = 30000 } = {}) {
  let passed = 0, failed = 0, skipped = 0;
  const only = process.env.ONLY;
  for (const [name, fn, skip] of tests) {
    if (only && !name.includes(only)) continue;
    if (skip) {
      skipped++;
      console.log(`skip ${name}: ${skip}`);
      continue;
    }
    const t0 = Date.now();
    let timer;
    try {
      await Promise.race([fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs); })]);
      passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${Date.now() - t0} ms): ${e?.stack ?? e}`);
    } finally {
      clearTimeout(timer);
      stopAll();
    }
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  return failed;
}

/** JSON with object keys sorted, so key order does not matter. */
function canon(v) {
  return JSON.stringify(v, (_, x) => (x && typeof x === "object" && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x));
}

export function assertEq(got, want, what = "value") {
  const g = canon(got), w = canon(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}
