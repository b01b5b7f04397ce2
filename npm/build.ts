/**
 * Builds the npm package for Node users: ES modules with type declarations in
 * `npm/dist/`, and `npm/package.json` whose name is "hakmem", whose version
 * is deno.json's and whose `exports` mirror deno.json's entry points.
 *
 * Run from the repository root: `deno run -A npm/build.ts`. It compiles with
 * the TypeScript compiler (the `typescript` dev dependency, installed from the
 * npm registry by `npm ci`): the sources import each other with `.ts`
 * extensions, which the compiler rewrites to `.js` in what it emits. Then
 * `node --test npm/test.mjs` tests the built package.
 * @module
 */

import ts from "typescript";

const root = new URL("../", import.meta.url);
const out = new URL("npm/", root);
const dist = new URL("dist/", out);

interface DenoConfig {
  name: string;
  version: string;
  license?: string;
  exports: Record<string, string>;
}

const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root))) as DenoConfig;

/** `./path/file.ts` → `./dist/path/file` (no extension). */
function distPath(source: string): string {
  return `./dist/${source.replace(/^\.\//, "").replace(/\.ts$/, "")}`;
}

const entries = Object.entries(config.exports);
/**
 * Compiled too, though no entry point exports them: the WASI runner and the C
 * programs' runner, for `npm/test.mjs` to run the C programs under Node.
 */
const testSupport = ["./wasm/wasi.ts", "./wasm/c/programs.ts"];
/** The C side of the WASM interop, shipped as source for users to compile into their modules. */
const cFiles = ["wasm/c/hakmem_malloc.c", "wasm/c/hakmem_malloc.h", "wasm/c/README.md"];
const rootPath = root.pathname.replace(/\/$/, "");
const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2024.d.ts", "lib.dom.d.ts"],
  types: ["node"],
  typeRoots: [`${rootPath}/node_modules/@types`],
  strict: true,
  declaration: true,
  sourceMap: false,
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  skipLibCheck: true,
  rootDir: rootPath,
  outDir: new URL("dist", out).pathname,
  newLine: ts.NewLineKind.LineFeed,
  removeComments: false,
};

const started = performance.now();
try {
  Deno.removeSync(dist, { recursive: true });
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
const program = ts.createProgram(
  [...entries.map(([, source]) => source), ...testSupport].map((source) => `${rootPath}/${source.replace(/^\.\//, "")}`),
  options,
);
const emitted = program.emit();
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
if (diagnostics.length > 0) {
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => rootPath,
    getNewLine: () => "\n",
  };
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  Deno.exit(1);
}

// Declarations keep the sources' `.ts` specifiers: point them at the emitted files.
// Doc examples import the entry points by relative path: show the package's names instead.
const subpathOf = new Map(entries.map(([subpath, source]) => [source.replace(/^\.\//, ""), subpath]));
for (const file of walk(dist)) {
  const path = file.pathname;
  if (!path.endsWith(".js") && !path.endsWith(".d.ts")) continue;
  const relative = path.slice(dist.pathname.length); // e.g. backends/pool/mod.d.ts
  const directory = relative.includes("/") ? relative.slice(0, relative.lastIndexOf("/") + 1) : "";
  const text = Deno.readTextFileSync(file);
  const rewritten = text.split("\n").map((line) => {
    if (/^\s*\*/.test(line)) {
      return line.replace(/(["'])(\.{1,2}\/[^"']*\.ts)\1/g, (whole, quote: string, specifier: string) => {
        const subpath = subpathOf.get(new URL(specifier, `file:///${directory}`).pathname.slice(1));
        return subpath === undefined ? whole : `${quote}hakmem${subpath.slice(1)}${quote}`;
      });
    }
    return line.replace(/((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']*)\.ts\2/g, "$1$2$3.js$2");
  }).join("\n");
  if (rewritten !== text) Deno.writeTextFileSync(file, rewritten);
}

const exportsMap: Record<string, { types: string; default: string }> = {};
for (const [subpath, source] of entries) {
  exportsMap[subpath] = { types: `${distPath(source)}.d.ts`, default: `${distPath(source)}.js` };
}
const packageJson = {
  name: "hakmem",
  version: config.version,
  description: "malloc for JavaScript linear memory: ArrayBuffer, SharedArrayBuffer and WebAssembly.Memory heaps with swappable backends.",
  license: config.license ?? "MIT",
  type: "module",
  main: exportsMap["."].default,
  types: exportsMap["."].types,
  exports: exportsMap,
  files: ["dist/", "README.md", "LICENSE"],
  // The "./inspect" and "./debug" entries install themselves into the heap when imported (`import "hakmem/debug"`):
  // a bundler must keep those imports, so they are the package's only modules with side effects.
  sideEffects: [exportsMap["./inspect"].default, exportsMap["./debug"].default],
  engines: { node: ">=20" },
  keywords: ["malloc", "allocator", "memory", "wasm", "webassembly", "sharedarraybuffer", "arraybuffer"],
};
Deno.writeTextFileSync(new URL("package.json", out), JSON.stringify(packageJson, null, 2) + "\n");
for (const file of ["README.md", "LICENSE"]) {
  try {
    Deno.copyFileSync(new URL(file, root), new URL(file, out));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

Deno.mkdirSync(new URL("wasm/c/", dist), { recursive: true });
for (const file of cFiles) Deno.copyFileSync(new URL(file, root), new URL(file, dist));

let files = 0;
for (const _ of walk(dist)) files++;
console.log(
  `npm/: hakmem@${config.version}, ${entries.length} entry points, ${files} files in dist/ (${Math.round(performance.now() - started)} ms)`,
);

function* walk(directory: URL): Generator<URL> {
  for (const entry of Deno.readDirSync(directory)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), directory);
    if (entry.isDirectory) yield* walk(url);
    else yield url;
  }
}
