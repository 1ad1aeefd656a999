// Loads the demo page (examples/browser) in headless Chromium and reads what
// it shows: both sockets connected, feed messages arriving, a request
// answered. Prints `N passed, N failed`.
import { chromium } from "playwright-core";
import { start } from "../../../examples/browser/serve.mjs";
import { existsSync } from "node:fs";
import { runTests, waitForPort, CHROMIUM_ARGS, STD_SERVER, testCertificate } from "./harness.mjs";

/** `tls`: the page over https, the nanosp server on wss://, the certificate
 *  trusted by this Chromium through its SPKI hash. */
async function check(nngcat, tls = false) {
    const cert = tls ? testCertificate() : undefined;
    const demo = await start({ port: 0, nngcat, tls: cert?.both });
    if (!nngcat && demo.server !== "nanosp") throw new Error("the nanosp server is not built");
    const args = cert ? [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${cert.spki}`] : CHROMIUM_ARGS;
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args });
    try {
      await Promise.all([waitForPort(demo.feedPort), waitForPort(demo.rpcPort)]);
      const page = await browser.newPage();
      page.on("pageerror", (e) => console.log(`  [page error] ${e}`));
      await page.goto(demo.url);
      if (tls && !demo.url.startsWith("https://")) throw new Error(`not https: ${demo.url}`);
      await page.locator("#feed-state", { hasText: "connected" }).waitFor();
      await page.locator("#rpc-state", { hasText: "connected" }).waitFor();
      await page.locator("#news li", { hasText: "tick" }).first().waitFor({ timeout: 5000 });
      await page.fill("#question", "hello server");
      await page.press("#question", "Enter");
      await page.locator("#answer", { hasText: nngcat ? "reply from nngcat REP" : "echo: hello server" }).waitFor();
      const count = Number(await page.textContent("#count"));
      if (!(count >= 1)) throw new Error(`feed count ${count}`);
      if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    } finally {
      await browser.close();
      demo.stop();
    }
}

const failed = await runTests([
  ["demo page with nngcat servers: live feed and request/reply", () => check(true)],
  ["demo page with the nanosp server: live feed and request/reply", () => check(false),
    existsSync(STD_SERVER) ? undefined : `${STD_SERVER} not built (needs transports/std)`],
  ["demo page over https with the nanosp server on wss://: live feed and request/reply", () => check(false, true),
    existsSync(STD_SERVER) ? undefined : `${STD_SERVER} not built (needs transports/std)`],
]);
process.exit(failed ? 1 : 0);
