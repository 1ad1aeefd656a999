// Carries binaryen's renaming of the module's imports, import modules and
// exports (`wasm-opt --minify-imports-and-exports-and-modules`, whose
// mapping it reads as JSON on stdin) into wasm-bindgen's glue and typings,
// so that they and the module agree again:
//
//   wasm-opt ... | node tools/rename.mjs pkg/nanosp.js pkg/nanosp.d.ts pkg/nanosp_bg.wasm.d.ts pkg/nanosp_bg.wasm
//
// wasm-bindgen names imports `__wbg_<name>_<hash>` and exports after the
// Rust items; as strings in the module they were 2.5 KB gzipped, more than
// the code of most modules. The glue refers to each import once, as a key
// of its imports object (one object per import module, under the module's
// name), and to each export as `wasm.<name>`; the typings of the raw
// module declare each export once, and the package's typings once more in
// `InitOutput` (what `init()` returns: the instance's exports). The renamed
// module's imports and exports are read back to check the mapping against
// them. Anything else (a name not found, or found where the rules above do
// not expect it) stops the build, rather than shipping glue that fails at
// instantiation or at a call.
import { readFileSync, writeFileSync } from "node:fs";

const [jsPath, apiDtsPath, dtsPath, wasmPath] = process.argv.slice(2);
if (!jsPath || !apiDtsPath || !dtsPath || !wasmPath) {
  console.error("usage: node rename.mjs GLUE.js GLUE.d.ts MODULE.d.ts MODULE.wasm < mapping.json");
  process.exit(2);
}
const map = JSON.parse(readFileSync(0, "utf8"));
const fail = (why) => {
  console.error(`rename.mjs: ${why}`);
  process.exit(1);
};
const escape = (s) => s.replace(/[$]/g, "\\$");
const word = "(?![\\w$])";

// The mapping, checked against the renamed module.
const module = new WebAssembly.Module(readFileSync(wasmPath));
const imports = WebAssembly.Module.imports(module);
const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
if (imports.length !== map.imports.length) {
  fail(`${imports.length} imports in the module, ${map.imports.length} in the mapping`);
}
const modules = new Map();
for (const [from, , to] of map.imports) {
  const at = imports.filter((i) => i.name === to);
  if (at.length !== 1) fail(`import ${to}: ${at.length} imports of that name in the module`);
  const m = modules.get(from) ?? at[0].module;
  if (m !== at[0].module) fail(`import module ${from} renamed to both ${m} and ${at[0].module}`);
  modules.set(from, m);
}
const exports = new Map(map.exports);
if (exports.size !== exported.size) {
  fail(`${exported.size} exports in the module, ${exports.size} in the mapping`);
}
for (const to of exports.values()) {
  if (!exported.has(to)) fail(`export ${to} is not in the module`);
}

let js = readFileSync(jsPath, "utf8");
for (const [from, to] of modules) {
  const key = `${JSON.stringify(from)}: `;
  const n = js.split(key).length - 1;
  if (n !== 1) fail(`import module ${from}: ${n} keys in the glue, expected 1`);
  js = js.replace(key, () => `${JSON.stringify(to)}: `);
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
const rename = (name, where) => {
  const to = exports.get(name);
  if (to === undefined) fail(`${where} names ${name}, which the module does not export`);
  return to;
};
js = js.replace(new RegExp(`\\bwasm\\.([\\w$]+)${word}`, "g"), (_, name) => {
  return `wasm.${rename(name, "the glue")}`;
});
writeFileSync(jsPath, js);

// The raw module's typings: one `export const` per export.
let dts = readFileSync(dtsPath, "utf8");
dts = dts.replace(/^export const ([\w$]+):/gm, (_, name) => {
  return `export const ${rename(name, dtsPath)}:`;
});
writeFileSync(dtsPath, dts);

// The package's typings: `InitOutput`'s members.
let api = readFileSync(apiDtsPath, "utf8");
const start = api.indexOf("export interface InitOutput {");
const end = api.indexOf("\n}", start);
if (start < 0 || end < 0) fail(`no InitOutput interface in ${apiDtsPath}`);
const members = api
  .slice(start, end)
  .replace(/^(\s+readonly )([\w$]+):/gm, (_, head, name) => `${head}${rename(name, apiDtsPath)}:`);
api = api.slice(0, start) + members + api.slice(end);
writeFileSync(apiDtsPath, api);
// Exports neither uses (wasm-bindgen's `__abort_handler` and
// `__instance_terminated`) keep working under their new names.
