// The layout keeps the layers of DESIGN.md: this test reads the import lines of
// every library file (everything but tests, benchmarks, examples and the demo,
// the npm build) and fails on a backend importing another backend, on a layer
// importing one above it, on any import circle, and on the main entry reaching
// an optional part (the picture, the WASM interop, debug mode: subpath exports
// loaded only when imported). Imports are read as text
// (`import ... from "..."` and `export ... from "..."` at the start of a line, so
// doc-comment examples do not count), and `import type` counts: a circle of
// types is still a circle in the design.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { test } from "node:test";

const root = new URL("../", import.meta.url);
/** Folders that hold no library code. */
const SKIP = new Set(["tests", "bench", "examples", "npm", "tools", "node_modules", "docs", ".ci", ".git"]);

function libraryFiles(dir = ""): string[] {
  const files: string[] = [];
  for (const name of readdirSync(new URL(dir, root))) {
    const path = dir + name;
    if (statSync(new URL(path, root)).isDirectory()) {
      if (!SKIP.has(name) && !name.startsWith(".")) files.push(...libraryFiles(path + "/"));
    } else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts")) {
      files.push(path);
    }
  }
  return files;
}

const IMPORT_LINE = /^(?:import|export)(?:\s+type)?\s*(?:\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)\s*from\s*"([^"]+)"/gm;
const BARE_IMPORT = /^import\s*"([^"]+)"/gm;

/** The library files `file` imports (relative specifiers only), as paths from the root. */
function importsOf(file: string): string[] {
  const text = readFileSync(new URL(file, root), "utf8");
  const specifiers = [...text.matchAll(IMPORT_LINE), ...text.matchAll(BARE_IMPORT)].map((match) => match[1]);
  return specifiers.filter((specifier) => specifier.startsWith(".")).map((specifier) =>
    new URL(specifier, new URL(file, root)).href.slice(root.href.length)
  );
}

const files = libraryFiles();
const graph = new Map(files.map((file) => [file, importsOf(file)]));

/** The backend a file belongs to (its folder under backends/), or undefined; backends/slab/ is shared ground, no backend. */
function backendOf(file: string): string | undefined {
  const match = /^backends\/([^/]+)\//.exec(file);
  return match && match[1] !== "slab" ? match[1] : undefined;
}

/**
 * The layer of a file, lowest first: core (the error class and the options
 * table, which every layer reads: memory/ throws HakmemError, the registry in
 * backends/ reads the options), memory, router, backends, heap (the Heap and
 * everything built on it: the picture, debug mode, the WASM interop, mod.ts).
 */
function layerOf(file: string): number | undefined {
  if (file.startsWith("core/")) return 0;
  if (file.startsWith("memory/")) return 1;
  if (file.startsWith("router/")) return 2;
  if (file.startsWith("backends/")) return 3;
  if (file.startsWith("testing/")) return undefined; // beside the layers: the contract suite reaches every one of them
  return 4; // heap/, debug/, inspect/, wasm/, mod.ts
}
const LAYER_NAMES = ["core", "memory", "router", "backends", "heap"];

test("the import reader sees the library and its imports", () => {
  assert.ok(files.includes("heap/heap.ts"), "the Heap's file is read");
  assert.ok(graph.get("mod.ts")!.includes("heap/heap.ts"), "a re-export line is read");
  assert.ok(files.includes("backends/tiny/tiny.ts"));
  assert.ok(graph.get("backends/tiny/tiny.ts")!.includes("router/box.ts"), "a multi-line `import type {...} from` is read");
  assert.ok(!files.some((file) => file.startsWith("tests/")));
});

test("no backend imports another backend", () => {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const own = backendOf(file);
    for (const imported of imports) {
      const other = backendOf(imported);
      if (file.startsWith("backends/slab/") && other !== undefined) {
        problems.push(`${file} (shared slab ground) imports backend ${imported}`);
      }
      if (own !== undefined && other !== undefined && other !== own) problems.push(`${file} (backend ${own}) imports ${imported}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("backends meet only through the registry: a backend's files import the registry from its public entry alone", () => {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    if (backendOf(file) !== undefined && !file.endsWith("/mod.ts") && imports.includes("backends/registry.ts")) problems.push(file);
  }
  assert.deepEqual(problems, []);
});

test("the root holds mod.ts and no other code: each layer and optional part has a folder", () => {
  assert.deepEqual(files.filter((file) => !file.includes("/")), ["mod.ts"]);
});

test("no layer imports a layer above it (core < memory < router < backends < heap)", () => {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const layer = layerOf(file);
    if (layer === undefined) continue;
    for (const imported of imports) {
      const above = layerOf(imported);
      if (above !== undefined && above > layer) {
        problems.push(`${file} (${LAYER_NAMES[layer]}) imports ${imported} (${LAYER_NAMES[above]})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test("the heap picture, debug mode and the WASM interop know no backend: they import nothing from backends/", () => {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    if (!/^(inspect|debug|wasm)\//.test(file)) continue;
    for (const imported of imports) if (imported.startsWith("backends/")) problems.push(`${file} imports ${imported}`);
  }
  assert.deepEqual(problems, []);
});
test("no import circle between library files", () => {
  const circles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const imported of graph.get(file) ?? []) {
      if (!graph.has(imported)) continue;
      if (state.get(imported) === "open") circles.push([...path.slice(path.indexOf(imported)), imported].join(" -> "));
      else if (state.get(imported) === undefined) visit(imported);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  assert.deepEqual(circles, []);
});

test("the main entry does not load the optional parts: nothing reachable from mod.ts lies in inspect/, wasm/ or debug/", () => {
  const reached = new Set<string>();
  const pending = ["mod.ts"];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    pending.push(...(graph.get(file) ?? []));
  }
  assert.ok(reached.has("heap/heap.ts") && reached.has("backends/tiny/tiny.ts"), "the walk follows the imports");
  assert.deepEqual([...reached].filter((file) => /^(inspect|wasm|debug)\//.test(file)).sort(), []);
});

test("each optional part is a subpath export of its own, and its entry is in its folder", () => {
  const config = JSON.parse(readFileSync(new URL("deno.json", root), "utf8")) as { exports: Record<string, string> };
  for (const part of ["inspect", "wasm", "debug"]) assert.equal(config.exports[`./${part}`], `./${part}/mod.ts`);
  assert.equal(config.exports["."], "./mod.ts");
});
