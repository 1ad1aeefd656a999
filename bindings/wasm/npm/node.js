// Node entry of the `nanosp` package: loads the WebAssembly synchronously
// from the package folder (Node's fetch cannot read file: URLs) and, when
// Node has no global WebSocket (Node 20 without --experimental-websocket),
// installs the one of the `ws` package if it is installed.
import { readFileSync } from "node:fs";
import { initSync } from "./nanosp.js";

if (typeof globalThis.WebSocket === "undefined") {
  try {
    const ws = await import("ws");
    globalThis.WebSocket = ws.WebSocket ?? ws.default;
  } catch {
    // Neither: Socket.dial rejects until a WebSocket class is provided.
  }
}

initSync({ module: readFileSync(new URL("./nanosp_bg.wasm", import.meta.url)) });

export * from "./nanosp.js";

/** Already initialised on import; kept so browser code runs unchanged. */
export default async function init() {}
