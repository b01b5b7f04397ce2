/**
 * The peer of bench/workers.ts: `@daneren2005/shared-memory-objects`, a
 * thread-safe fork of thi.ng's MemPool (`MemoryBuffer`: one spin lock per
 * 8 KiB..1 MiB SharedArrayBuffer) behind a `MemoryHeap` of such buffers.
 *
 * The package ships TypeScript sources only (`main: ./src/main.ts`) and is
 * meant for Vite. Deno refuses to strip types under node_modules
 * (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING) and `import.meta.env` exists
 * under Vite only, so this module serves it the way Vite would: every file
 * the `MemoryHeap` needs becomes a `data:` module (TypeScript on Deno; on Bun,
 * JavaScript from `Bun.Transpiler`, because Bun reads a TypeScript `data:`
 * module as TSX), relative and bare imports rewritten to their `data:` URLs,
 * `import type` lines dropped (they are erased anyway, and two of them form a
 * cycle), and `import.meta.env.MODE` replaced with `"production"`, as a Vite
 * production build does. No other byte of the package changes.
 * @module
 */

import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";

/** The package's name. */
export const PEER_PACKAGE = "@daneren2005/shared-memory-objects";

/** One allocation of the peer: where it lives, and how to give it back. */
export interface PeerAllocation {
  /** Index of the peer's buffer that holds it. */
  readonly bufferPosition: number;
  /** Byte offset of its first element in that buffer. */
  readonly bufferByteOffset: number;
  /** Frees it (takes the buffer's lock; walks the buffer's list of used blocks). */
  free(): void;
}

/** What the peer's heap shares between threads: its buffers. */
export interface PeerSharedMemory {
  /** Every buffer, in position order. */
  buffers: SharedArrayBuffer[];
}

/** The part of the peer's `MemoryHeap` the benchmark uses. */
export interface PeerHeap {
  /** Its buffers: `buf` is the SharedArrayBuffer; `stats()` walks its lists (`used.count`: blocks in use, its own header included). */
  buffers: { buf: ArrayBufferLike; stats(): { used: { count: number } } }[];
  /** Allocates `count` zeroed 32-bit words (its only allocation call); adds a buffer when none has room. */
  allocUI32(count: number): PeerAllocation;
  /** What another thread needs to open this heap. */
  getSharedMemory(): PeerSharedMemory;
}

/** The peer's `MemoryHeap` class: a new heap from a config, or another thread's heap from its shared memory. */
export type PeerHeapClass = new (config?: { bufferSize?: number; initialBuffers?: number } | PeerSharedMemory) => PeerHeap;

/** Where the peer was found, or why not. */
export interface PeerModule {
  /** The package's version, or null when it is not installed. */
  version: string | null;
  /** A `data:` URL whose default export is `MemoryHeap` (null when the peer is unavailable). */
  url: string | null;
  /** Why the peer cannot run (null when it can). */
  reason: string | null;
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** The file a package's bare name resolves to, looking in node_modules from `fromDir` up to the project root. */
function resolvePackage(name: string, fromDir: string): string {
  for (let dir = fromDir;; dir = dirname(dir)) {
    const packageDir = join(dir, "node_modules", name);
    if (isFile(join(packageDir, "package.json"))) {
      const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
      const exported = typeof manifest.exports === "string" ? manifest.exports : manifest.exports?.["."];
      const entry = typeof exported === "string" ? exported : exported?.import ?? exported?.default ?? manifest.main ?? "index.js";
      return join(packageDir, entry);
    }
    if (dir === PROJECT_ROOT || dirname(dir) === dir) throw new Error(`cannot resolve ${JSON.stringify(name)} from ${fromDir}`);
  }
}

/** The file a relative import of `fromFile` names (extensionless, as Vite allows). */
function resolveRelative(specifier: string, fromFile: string): string {
  const base = resolve(dirname(fromFile), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, join(base, "index.ts"), join(base, "index.js")]) {
    if (isFile(candidate)) return candidate;
  }
  throw new Error(`cannot resolve ${JSON.stringify(specifier)} from ${fromFile}`);
}

const IMPORT_TYPE_LINE = /^\s*import\s+type\s[^\n]*$/gm;
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\2/g;

/** `file` and everything it imports as `data:` URLs; `urls` memoises, `open` catches cycles. */
function dataUrlOf(file: string, urls: Map<string, string>, open: Set<string>): string {
  const known = urls.get(file);
  if (known !== undefined) return known;
  if (open.has(file)) throw new Error(`import cycle through ${file}: cannot be served as data: modules`);
  open.add(file);
  const typescript = file.endsWith(".ts");
  let text = readFileSync(file, "utf8");
  if (typescript) text = text.replace(IMPORT_TYPE_LINE, "");
  text = text.replaceAll("import.meta.env.MODE", JSON.stringify("production"));
  // Bun reads a data: TypeScript module as TSX, where the package's `<any>x` casts do not parse: strip the types here.
  const bun = (globalThis as { Bun?: { Transpiler: new (options: { loader: string }) => { transformSync(code: string): string } } }).Bun;
  const stripped = typescript && bun !== undefined;
  if (stripped) text = new bun.Transpiler({ loader: "ts" }).transformSync(text);
  text = text.replace(SPECIFIER, (_match, lead: string, quote: string, specifier: string) => {
    const target = specifier.startsWith(".") ? resolveRelative(specifier, file) : resolvePackage(specifier, dirname(file));
    return `${lead}${quote}${dataUrlOf(target, urls, open)}${quote}`;
  });
  open.delete(file);
  const url = `data:${typescript && !stripped ? "application/typescript" : "text/javascript"};base64,${
    Buffer.from(text, "utf8").toString("base64")
  }`;
  urls.set(file, url);
  return url;
}

/** Finds the installed peer and builds its `MemoryHeap` module; says why when it cannot. */
export function loadPeerModule(): PeerModule {
  const packageDir = join(PROJECT_ROOT, "node_modules", ...PEER_PACKAGE.split("/"));
  if (!isFile(join(packageDir, "package.json"))) {
    return {
      version: null,
      url: null,
      reason: `${PEER_PACKAGE} is not installed (npm install --save-dev --save-exact ${PEER_PACKAGE}@0.0.4)`,
    };
  }
  const version = String(JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")).version);
  const entry = join(packageDir, "src", "memory-heap.ts");
  if (!isFile(entry)) return { version, url: null, reason: `${PEER_PACKAGE} ${version} has no src/memory-heap.ts (MemoryHeap)` };
  try {
    return { version, url: dataUrlOf(entry, new Map(), new Set()), reason: null };
  } catch (error) {
    return { version, url: null, reason: `${PEER_PACKAGE} ${version} could not be prepared: ${(error as Error).message}` };
  }
}

/** Imports the peer's `MemoryHeap` from a URL made by {@linkcode loadPeerModule} (in any thread). */
export async function importPeerHeap(url: string): Promise<PeerHeapClass> {
  const module = await import(url);
  return module.default as PeerHeapClass;
}
