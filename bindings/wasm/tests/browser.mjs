// The `nanosp` npm package in headless Chromium against nng's nngcat over
// WebSocket. Usage: build the package (../build.sh), `npm ci` here, then
// `node browser.mjs` (ONLY=substring runs some tests). Prints `N passed, N failed`.
import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { nngcat, packAndInstall, serveStatic, runTests, assertEq, CHROMIUM_ARGS, freePort, stdServer, STD_SERVER, testCertificate } from "./harness.mjs";

const { modDir } = packAndInstall();
const here = new URL("./", import.meta.url).pathname;
const { server, origin } = await serveStatic({ "/nanosp/": modDir, "/": here });
const tls = testCertificate(); // wss:// tests: trusted by SPKI below
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${tls.spki}`],
});
const scratch = mkdtempSync(join(tmpdir(), "nanosp-test-"));

/** A fresh page with the package loaded; console errors go to our log. */
async function page() {
  const p = await browser.newPage();
  p.on("pageerror", (e) => console.log(`  [page error] ${e}`));
  await p.goto(`${origin}/page.html`);
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** Runs `fn` in a fresh page with `arg`; returns what it returns. The page
 * stays open until `whileOpen(result)` (if given) has finished: a page that
 * closes takes its WebSockets, and what they still hold, with it. */
async function inPage(fn, arg, whileOpen) {
  const p = await page();
  try {
    const r = await p.evaluate(fn, arg);
    if (whileOpen) await whileOpen(r);
    return r;
  } finally {
    await p.close();
  }
}

function sha256(buf) {
  return createHash("sha256").update(buf).digest("hex");
}

const tests = [
  ["REQ against nngcat --rep", async () => {
    const rep = await nngcat(["--rep", "--ascii", "--data", "pong"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("req");
      await s.dial(url);
      await s.send("ping");
      const a = await s.recvText();
      await s.send(new TextEncoder().encode("ping2"));
      const b = await s.recvText();
      const out = { a, b, protocol: s.protocol, peer: s.peerProtocol, pipes: s.pipes().length };
      s.close();
      return out;
    }, rep.url);
    assertEq(got, { a: "pong", b: "pong", protocol: "req", peer: "rep", pipes: 1 });
    await rep.waitOutput("ping2");
  }],

  ["REQ contexts: two requests outstanding at once", async () => {
    const rep = await nngcat(["--rep", "--ascii", "--data", "pong"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("req");
      await s.dial(url);
      const c1 = s.context(), c2 = s.context();
      // Freeing the JavaScript socket object leaves it open for its contexts.
      s.free();
      await Promise.all([c1.send("one"), c2.send("two")]);
      const r = await Promise.all([c1.recvText(), c2.recvText()]);
      c1.close();
      const closed = await codeOf(c1.recv());
      const again = await c2.send("three").then(() => c2.recvText());
      return { r, closed, again };
    }, rep.url);
    assertEq(got, { r: ["pong", "pong"], closed: "ECLOSED", again: "pong" });
  }],

  ["SUB receives from nngcat --pub; unmatched topics time out (ETIMEDOUT)", async () => {
    const pub = await nngcat(["--pub", "--data", "weather sunny", "--interval", "1"]);
    const got = await inPage(async (url) => {
      const hit = new nanosp.Socket("sub");
      hit.subscribe("weather");
      await hit.dial(url);
      const miss = new nanosp.Socket("sub");
      miss.subscribe("sports");
      miss.setOption("recv-timeout", 1500);
      await miss.dial(url);
      const [msg, code] = await Promise.all([hit.recvText(), codeOf(miss.recv())]);
      const sendCode = await codeOf(hit.send("x"));
      hit.close(); miss.close();
      return { msg, code, sendCode };
    }, pub.url);
    assertEq(got, { msg: "weather sunny", code: "ETIMEDOUT", sendCode: "ENOTSUP" });
  }],

  ["REP dials an nngcat --req listener", async () => {
    const req = await nngcat(["--req", "--ascii", "--data", "question"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("rep");
      const early = await codeOf(s.send("no request yet"));
      await s.dial(url);
      const q = await s.recvText();
      await s.send("answer");
      window.keep = s;
      return { early, q };
    }, req.url, () => req.waitOutput("answer"));
    assertEq(got, { early: "ESTATE", q: "question" });
  }],

  ["RESPONDENT dials an nngcat --surveyor listener", async () => {
    const sv = await nngcat(["--surveyor", "--ascii", "--data", "census", "--interval", "1"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("respondent");
      await s.dial(url);
      const q = await s.recvText();
      await s.send("present");
      window.keep = s;
      return q;
    }, sv.url, () => sv.waitOutput("present"));
    assertEq(got, "census");
  }],

  ["PAIR1 both ways, binary payloads with zero bytes", async () => {
    const file = join(scratch, "zeros.bin");
    const bytes = Buffer.from([0, 0, 1, 0, 255, 0, 0x53, 0x50, 0]);
    writeFileSync(file, bytes);
    // nngcat PAIR blocks its first send until we connect, then receives for
    // what is left of --interval; a short interval can leave it a negative
    // receive timeout (it exits with "Cannot set recv timeout"): keep it long.
    const pair = await nngcat(["--pair1", "--raw", "--file", file, "--interval", "5"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("pair1");
      await s.dial(url);
      const m = await s.recv();
      await s.send(new Uint8Array([0, 7, 0, 0, 9, 0]));
      window.keep = s;
      return Array.from(m);
    }, pair.url, () => pair.waitOutput((b) => b.includes(Buffer.from([0, 7, 0, 0, 9, 0]))));
    assertEq(got, [...bytes], "received bytes");
  }],

  ["1 MiB messages both ways (PUSH/PULL); closeLinger delivers what is queued", async () => {
    const big = randomBytes(1 << 20);
    big.fill(0, 1000, 3000); // runs of zeros too
    const file = join(scratch, "big.bin");
    writeFileSync(file, big);
    const push = await nngcat(["--push", "--file", file]);
    const pull = await nngcat(["--pull", "--raw", "--recv-maxsz", String(4 << 20)]);
    let out;
    const got = await inPage(async ({ from, to }) => {
      const rx = new nanosp.Socket("pull");
      await rx.dial(from);
      const m = await rx.recv();
      const tx = new nanosp.Socket("push");
      tx.setOption("linger", 10000);
      await tx.dial(to);
      // Three times: the third waits in the queue while the browser's send
      // buffer is over 1 MiB. send() resolves once a message is queued;
      // closeLinger() waits until all are handed to the WebSocket (close()
      // drops the third and counts it lost).
      await tx.send(m);
      await tx.send(m);
      await tx.send(m);
      await tx.closeLinger();
      return {
        len: m.length, sha: await hex(m), linger: tx.getOption("linger"), closed: tx.closed,
        lost: tx.stats().lost,
      };
    }, { from: push.url, to: pull.url }, async () => {
      // The browser still sends what the closed WebSocket holds: keep the
      // page open until nngcat has it all.
      out = await pull.waitOutput((b) => b.length >= 3 * big.length, 15000);
    });
    assertEq(got, { len: big.length, sha: sha256(big), linger: 10000, closed: true, lost: 0 });
    assertEq(out.length, 3 * big.length, "nngcat received bytes");
    for (let i = 0; i < 3; i++) {
      const one = out.subarray(i * big.length, (i + 1) * big.length);
      assertEq(sha256(one), sha256(big), `nngcat's message ${i + 1}`);
    }
  }],

  ["a message over recv-size-max closes the connection (EMSGSIZE in the remove event and the dial events) and counts", async () => {
    const file = join(scratch, "2k.bin");
    writeFileSync(file, randomBytes(2048));
    const push = await nngcat(["--push", "--file", file, "--interval", "1"]);
    const got = await inPage(async (url) => {
      const s = new nanosp.Socket("pull");
      s.setOption("recv-size-max", 1024);
      s.setOption("recv-timeout", 2500);
      s.setOption("reconnect-time-min", 100);
      const events = [];
      const reasons = [];
      s.onPipe((ev, pipe) => {
        events.push(ev);
        if (ev === "remove") reasons.push(pipe.reason?.code);
        else if (pipe.reason !== undefined) reasons.push("reason on " + ev);
      });
      const dials = [];
      await s.dial(url, {
        onEvent: (e) => dials.push(e.type === "pipe-closed" ? `pipe-closed ${e.reason.code}`
          : e.type === "backoff" ? `backoff ${e.wait >= 1 && e.wait < 100}` : e.type),
      });
      const code = await codeOf(s.recv());
      const st = s.stats();
      return {
        code, errors: st.protocolErrors > 0, oversized: st.oversized > 0, removed: events.includes("remove"),
        limit: s.getOption("recv-size-max"), reason: reasons[0], dials: dials.slice(0, 4),
        acceptErrors: st.acceptErrors,
      };
    }, push.url);
    assertEq(got, {
      code: "ETIMEDOUT", errors: true, oversized: true, removed: true, limit: 1024, reason: "EMSGSIZE",
      dials: ["connected", "pipe-closed EMSGSIZE", "backoff true", "connected"], acceptErrors: 0,
    });
  }],

  ["a server that never answers the upgrade: ETIMEDOUT, counted as a failed handshake (as on std)", async () => {
    const { createServer } = await import("node:net");
    const held = [];
    const srv = createServer((c) => { held.push(c); });
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const url = `ws://127.0.0.1:${srv.address().port}/sp`;
      const got = await inPage(async (url) => {
        const s = new nanosp.Socket("req");
        s.setOption("handshake-timeout", 300);
        const code = await codeOf(s.dial(url));
        const failures = s.stats().handshakeFailures;
        s.close();
        return { code, failures };
      }, url);
      assertEq(got, { code: "ETIMEDOUT", failures: 1 });
    } finally {
      held.forEach((c) => c.destroy());
      srv.close();
    }
  }],

  ["protocol names are nng's: \"pair\" is PAIR v0, versioned names and any case work", async () => {
    const pair = await nngcat(["--pair0", "--ascii", "--data", "zero", "--interval", "1"]);
    const got = await inPage(async (url) => {
      const names = ["pair", "PAIR0", "pair1", "req0", "Rep", "star0"].map((n) => {
        const s = new nanosp.Socket(n);
        const r = [s.protocol, s.peerProtocol];
        s.close();
        return r;
      });
      let bad;
      try { new nanosp.Socket("pair2"); } catch (e) { bad = e.code; }
      const s = new nanosp.Socket("pair");
      await s.dial(url);
      const msg = await s.recvText();
      const peer = s.pipes()[0].peer;
      s.close();
      return { names, bad, msg, peer };
    }, pair.url);
    assertEq(got, {
      names: [["pair", "pair"], ["pair", "pair"], ["pair1", "pair1"], ["req", "rep"], ["rep", "req"], ["star", "star"]],
      bad: "EINVAL", msg: "zero", peer: "pair",
    });
  }],

  ["a restarted server is redialed", async () => {
    const port = await freePort();
    let rep = await nngcat(["--rep", "--ascii", "--data", "first"], { port });
    const p = await page();
    try {
      const r1 = await p.evaluate(async (url) => {
        const s = new nanosp.Socket("req");
        window.s = s;
        window.events = [];
        s.setOption("reconnect-time-min", 50);
        s.setOption("reconnect-time-max", 200);
        s.onPipe((ev) => { window.events.push(ev); });
        await s.dial(url);
        await s.send("a");
        return s.recvText();
      }, rep.url);
      assertEq(r1, "first");
      await rep.stop();
      // The page sees the connection drop...
      await p.waitForFunction(() => window.events.includes("remove"));
      rep = await nngcat(["--rep", "--ascii", "--data", "second"], { port });
      // ...and its request waits for the redial, then goes to the new server.
      const r2 = await p.evaluate(async () => {
        await s.send("b");
        const text = await s.recvText();
        const st = s.stats();
        const ps = s.pipeStats(s.pipes()[0].id);
        return {
          text, events: window.events, reconnects: st.reconnects > 0, pipes: s.pipes().length,
          // Per-pipe counters of the new connection, drops by reason, a gone pipe.
          pipe: [ps.msgsIn, ps.msgsOut, ps.bytesIn, ps.evicted],
          drops: [typeof st.dropsQueueFull, typeof st.dropsStale], gone: s.pipeStats(0x7fffffff),
        };
      });
      assertEq(r2.text, "second");
      assertEq(r2.events.filter((e) => e === "add").length, 2, "pipe adds");
      assertEq([r2.reconnects, r2.pipes], [true, 1]);
      assertEq(r2.pipe, [1, 1, 6 + 4, 0], "pipe stats: one reply in (6 B + 4 B request id), one request out");
      assertEq(r2.drops, ["number", "number"]);
      assertEq(r2.gone, undefined);
    } finally {
      await p.close();
    }
  }],

  ["errors carry stable codes", async () => {
    const port = await freePort(); // nothing listens there
    const got = await inPage(async (port) => {
      const codes = {};
      const req = new nanosp.Socket("req");
      codes.refused = await codeOf(req.dial(`ws://127.0.0.1:${port}/sp`));
      codes.badUrl = await codeOf(req.dial("ws://[::1/x"));
      codes.notWs = await codeOf(req.dial("tcp://127.0.0.1:1"));
      codes.listen = await codeOf(req.listen("ws://127.0.0.1:0"));
      codes.state = await codeOf(req.recv());
      codes.badOpt = codeOfSync(() => req.setOption("no-such-option", 1));
      codes.badValue = codeOfSync(() => req.setOption("recv-timeout", "soon"));
      codes.badPayload = await codeOf(req.send({}));
      codes.again = codeOfSync(() => new nanosp.Socket("pull").tryRecv());
      codes.reqTry = codeOfSync(() => req.tryRecv());
      codes.badProto = codeOfSync(() => new nanosp.Socket("nope"));
      codes.pushCtx = codeOfSync(() => new nanosp.Socket("push").context());
      const sub = new nanosp.Socket("sub");
      codes.unsub = codeOfSync(() => sub.unsubscribe("never"));
      // A pending receive fails when its socket closes.
      const pending = codeOf(req.send("x").then(() => req.recv()));
      req.close();
      codes.closed = await pending;
      codes.afterClose = await codeOf(req.send("y"));
      const e = await req.recv().catch((e) => e);
      codes.isError = e instanceof Error && e.name === "NanospError";
      return codes;
    }, port);
    assertEq(got, {
      refused: "ECONNREFUSED", badUrl: "EADDRINVAL", notWs: "ENOTSUP", listen: "ENOTSUP",
      state: "ESTATE", reqTry: "ESTATE", badOpt: "ENOTSUP", badValue: "EINVAL", badPayload: "EINVAL", again: "EAGAIN",
      badProto: "EINVAL", pushCtx: "ENOTSUP", unsub: "ENOENT", closed: "ECLOSED", afterClose: "ECLOSED", isError: true,
    });
  }],

  ["a wrong path is refused; nonblocking dial connects once the server appears", async () => {
    const port = await freePort();
    const p = await page();
    try {
      const wrong = await p.evaluate(async (port) => {
        const s = new nanosp.Socket("pair1");
        window.s = s;
        s.setOption("reconnect-time-min", 50);
        const code = await codeOf(s.dial(`ws://127.0.0.1:${port}/elsewhere`));
        await s.dial(`ws://127.0.0.1:${port}/sp`, { nonblocking: true });
        return code;
      }, port);
      assertEq(wrong, "ECONNREFUSED");
      const pair = await nngcat(["--pair1", "--ascii", "--data", "late", "--interval", "5"], { port });
      const got = await p.evaluate(() => s.recvText());
      assertEq(got, "late");
      await pair.stop();
    } finally {
      await p.close();
    }
  }],
];

/** REQ, SUB, a small binary and a 1 MiB echo against the nanosp demo server. */
async function stdRoundTrips(srv) {
  return inPage(async ({ feed, rpc, echo }) => {
    const req = new nanosp.Socket("req");
    await req.dial(rpc);
    await req.send("hello std");
    const reply = await req.recvText();
    const sub = new nanosp.Socket("sub");
    sub.subscribe("tick");
    await sub.dial(feed);
    const tick = await sub.recvText();
    const e = new nanosp.Socket("req");
    e.setOption("recv-size-max", 2 << 20);
    await e.dial(echo);
    const zeros = new Uint8Array([0, 0, 5, 0, 0]);
    await e.send(zeros);
    const back = Array.from(await e.recv());
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i += 7) big[i] = i & 0xff;
    await e.send(big);
    const bigBack = await e.recv();
    const same = bigBack.length === big.length && (await hex(bigBack)) === (await hex(big));
    return { reply, tick: tick.startsWith("tick "), back, same };
  }, { feed: srv.feed, rpc: srv.rpc, echo: srv.echo });
}

// Against a nanosp WebSocket listener (examples/browser/server), when it
// is built: it needs transports/std (tools/test-all.sh builds it then).
const noStd = existsSync(STD_SERVER) ? undefined : `${STD_SERVER} not built (needs transports/std)`;
tests.push(
  ["nanosp listener: REQ, SUB, binary echo, 1 MiB echo", async () => {
    const srv = await stdServer();
    const got = await stdRoundTrips(srv);
    assertEq(got, { reply: "echo: hello std (#1)", tick: true, back: [0, 0, 5, 0, 0], same: true });
    await srv.stop();
  }, noStd],
  ["nanosp wss:// listener (TLS, test certificate trusted by SPKI): REQ, SUB, binary echo, 1 MiB echo", async () => {
    const srv = await stdServer({ tls: tls.both });
    assertEq(srv.rpc.startsWith("wss://"), true, "a wss:// URL");
    const got = await stdRoundTrips(srv);
    assertEq(got, { reply: "echo: hello std (#1)", tick: true, back: [0, 0, 5, 0, 0], same: true });
    await srv.stop();
  }, noStd],
  ["nanosp listener restarted: REQ redials", async () => {
    let srv = await stdServer();
    const p = await page();
    try {
      await p.evaluate(async (url) => {
        const s = new nanosp.Socket("req");
        window.s = s;
        window.events = [];
        s.setOption("reconnect-time-min", 50);
        s.onPipe((ev) => { window.events.push(ev); });
        await s.dial(url);
        await s.send("one");
        return s.recvText();
      }, srv.rpc);
      const port = srv.port;
      await srv.stop();
      await p.waitForFunction(() => window.events.includes("remove"));
      srv = await stdServer({ port });
      const text = await p.evaluate(async () => { await s.send("two"); return s.recvText(); });
      assertEq(text, "echo: two (#1)");
      await srv.stop();
    } finally {
      await p.close();
    }
  }, noStd],
);

const failed = await runTests(tests);
await browser.close();
server.close();
process.exit(failed ? 1 : 0);
