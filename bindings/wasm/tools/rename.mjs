// Carries binaryen's renaming of the module's imports, import modules and
// exports (`wasm-opt --minify-imports-and-exports-and-modules`, whose
// mapping it reads as JSON on stdin) into wasm-bindgen's glue, so that glue
// and module agree again:
//
//   wasm-opt ... | node tools/rename.mjs pkg/nanosp.js pkg/nanosp_bg.wasm.d.ts pkg/nanosp_bg.wasm
//
// wasm-bindgen names imports `__wbg_<name>_<hash>` and exports after the
// Rust items; as strings in the module they were 2.5 KB gzipped, more than
// the code of most modules. The glue refers to each import once, as a key
// of its imports object (one object per import module, under the module's
// name), and to each export as `wasm.<name>`; the typings of the raw
// module declare each export once. The renamed module's import section is
// read back to check the mapping against it. Anything else (a name not
// found, or found where the rules above do not expect it) stops the build,
// rather than shipping glue that fails at instantiation or at a call.
import { readFileSync, writeFileSync } from "node:fs";

const [jsPath, dtsPath, wasmPath] = process.argv.slice(2);
if (!jsPath || !dtsPath || !wasmPath) {
  console.error("usage: node rename.mjs GLUE.js MODULE.d.ts MODULE.wasm < mapping.json");
  process.exit(2);
}
const map = JSON.parse(readFileSync(0, "utf8"));
const fail = (why) => {
  console.error(`rename.mjs: ${why}`);
  process.exit(1);
};
const escape = (s) => s.replace(/[$]/g, "\\$");
const word = "(?![\\w$])";

/** The (module, name) of each function import of a wasm binary, in order. */
function importsOf(bytes) {
  let i = 8;
  const leb = () => {
    let r = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[i++];
      r += (b & 127) * 2 ** shift;
      if (b < 128) return r;
    }
  };
  const str = () => {
    const n = leb();
    const s = new TextDecoder().decode(bytes.subarray(i, i + n));
    i += n;
    return s;
  };
  while (i < bytes.length) {
    const id = bytes[i++];
    const size = leb();
    if (id !== 2) {
      i += size;
      continue;
    }
    const out = [];
    for (let k = leb(); k > 0; k--) {
      const entry = [str(), str()];
      if (bytes[i++] !== 0) fail("an import that is not a function");
      leb();
      out.push(entry);
    }
    return out;
  }
  return [];
}

// The mapping, checked against the module: every import renamed as it says.
const renamed = importsOf(readFileSync(wasmPath));
if (renamed.length !== map.imports.length) {
  fail(`${renamed.length} imports in the module, ${map.imports.length} in the mapping`);
}
const modules = new Map();
for (const [module, from, to] of map.imports) {
  const at = renamed.filter(([, n]) => n === to);
  if (at.length !== 1) fail(`import ${from}: ${at.length} imports named ${to} in the module`);
  const m = modules.get(module) ?? at[0][0];
  if (m !== at[0][0]) fail(`import module ${module} renamed to both ${m} and ${at[0][0]}`);
  modules.set(module, m);
}

let js = readFileSync(jsPath, "utf8");
for (const [from, to] of modules) {
  const key = `${JSON.stringify(from)}: `;
  const n = js.split(key).length - 1;
  if (n !== 1) fail(`import module ${from}: ${n} keys in the glue, expected 1`);
  js = js.replace(key, `${JSON.stringify(to)}: `);
}
for (const [, from, to] of map.imports) {
  const key = new RegExp(`^(\\s+)${escape(from)}: function\\(`, "gm");
  const n = [...js.matchAll(key)].length;
  if (n !== 1) fail(`import ${from}: ${n} keys in the glue, expected 1`);
  js = js.replace(key, (_, indent) => `${indent}${to}: function(`);
  if (new RegExp(`(?<![\\w$])${escape(from)}${word}`).test(js)) {
    fail(`import ${from} is still named in the glue`);
  }
}
// One pass for the exports, so that a new name is never renamed again.
const exports = new Map(map.exports);
const uses = new RegExp(`\\bwasm\\.([\\w$]+)${word}`, "g");
js = js.replace(uses, (all, name) => {
  const to = exports.get(name);
  if (to === undefined) fail(`the glue calls wasm.${name}, which the module does not export`);
  return `wasm.${to}`;
});
writeFileSync(jsPath, js);

let dts = readFileSync(dtsPath, "utf8");
const decl = /^export const ([\w$]+):/gm;
dts = dts.replace(decl, (all, name) => {
  const to = exports.get(name);
  if (to === undefined) fail(`${dtsPath} declares ${name}, which the module does not export`);
  return `export const ${to}:`;
});
writeFileSync(dtsPath, dts);
// Exports neither uses (wasm-bindgen's `__abort_handler` and
// `__instance_terminated`) keep working under their new names.
