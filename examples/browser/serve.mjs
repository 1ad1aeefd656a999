// Serves the nanosp demo page and starts its SP servers:
//
//   bash bindings/wasm/build.sh && node examples/browser/serve.mjs [--port 8080] [--nngcat] [--tls CERT_KEY_PEM]
//
// With --tls (a PEM file holding a certificate chain and its key) the page is
// served over https and the nanosp demo server listens on wss://, as a page
// on https must use (nngcat cannot stand in then).
//
// then open the printed URL. The server is the nanosp demo server
// (examples/browser/server, built into target/release) when it has been
// built: PUB /feed with live counters, REP /rpc, on port PORT+1. Otherwise,
// or with --nngcat, nng's nngcat (Debian nng-utils) stands in: a PUB on
// ws://127.0.0.1:PORT+1/feed publishing a tick every second and a REP on
// ws://127.0.0.1:PORT+2/rpc answering every request. Everything listens on
// 127.0.0.1 only; the package comes from bindings/wasm/pkg.
import http from "node:http";
import https from "node:https";
import { spawn } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { join, extname, normalize } from "node:path";
import { createServer } from "node:net";

const here = new URL("./", import.meta.url).pathname;
const pkg = new URL("../../bindings/wasm/pkg/", import.meta.url).pathname;
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const stdServer = process.env.NANOSP_DEMO_SERVER ?? new URL("../../target/release/nanosp-demo-server", import.meta.url).pathname;

/** Starts the nanosp server on `port`; resolves to [child, feed URL, rpc URL] once it listens. */
function startStd(port, tls) {
  const args = [String(port), ...(tls ? ["--tls", tls] : [])];
  const kid = spawn(stdServer, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buf = "";
    kid.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) {
        const [, feed, , rpc] = buf.split("\n")[0].split(" ");
        resolve([kid, feed, rpc]);
      }
    });
    kid.on("exit", (code) => reject(new Error(`nanosp-demo-server exited (${code})`)));
  });
}

/** Starts everything; `port` 0 picks free ports. Resolves to { url, stop, server }. */
export async function start({ port = 8080, nngcat = false, tls } = {}) {
  if (!existsSync(join(pkg, "nanosp_bg.wasm"))) throw new Error("run bash bindings/wasm/build.sh first");
  if (tls && (nngcat || !existsSync(stdServer))) throw new Error("--tls needs the nanosp demo server (nngcat has no wss here)");
  const serve = (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const [base, rel] = path.startsWith("/nanosp/") ? [pkg, path.slice(8)] : [here, path === "/" ? "index.html" : path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base) || !existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  };
  const server = tls
    ? https.createServer({ cert: readFileSync(tls), key: readFileSync(tls) }, serve)
    : http.createServer(serve);
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const httpPort = server.address().port;
  let kids, feed, rpc, kind;
  if (!nngcat && existsSync(stdServer)) {
    const [kid, f, r] = await startStd(port ? port + 1 : 0, tls);
    [kids, feed, rpc, kind] = [[kid], f, r, "nanosp"];
  } else {
    const feedPort = port ? port + 1 : await freePort();
    const rpcPort = port ? port + 2 : await freePort();
    feed = `ws://127.0.0.1:${feedPort}/feed`;
    rpc = `ws://127.0.0.1:${rpcPort}/rpc`;
    kids = [
      spawn("nngcat", ["--pub", "--listen", feed, "--data", "tick from nngcat PUB", "--interval", "1"], { stdio: "ignore" }),
      spawn("nngcat", ["--rep", "--listen", rpc, "--data", "reply from nngcat REP"], { stdio: "ignore" }),
    ];
    kind = "nngcat";
  }
  const url = `${tls ? "https" : "http"}://127.0.0.1:${httpPort}/?feed=${encodeURIComponent(feed)}&rpc=${encodeURIComponent(rpc)}`;
  const stop = () => { for (const k of kids) k.kill("SIGTERM"); server.close(); };
  return { url, stop, feedPort: Number(new URL(feed).port), rpcPort: Number(new URL(rpc).port), server: kind };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const i = process.argv.indexOf("--port");
  const t = process.argv.indexOf("--tls");
  const { url, stop, server } = await start({
    port: i > 0 ? Number(process.argv[i + 1]) : 8080,
    nngcat: process.argv.includes("--nngcat"),
    tls: t > 0 ? process.argv[t + 1] : undefined,
  });
  console.log(`nanosp demo (${server} server): open ${url}`);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { stop(); process.exit(0); });
}
