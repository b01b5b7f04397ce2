/**
 * The one list of built-in backends, read by the heap (to build its default
 * router), by the contract tests and by the benchmarks: a backend added here
 * is tested and benchmarked without more wiring, and, given a
 * `defaultRoute`, built into a default heap and routed there in list order,
 * falling back to the routed backends after it.
 *
 * It is also where the built-in backends are assembled: tiny is handed its
 * slab sources (shared_pool, legacy) here, so no backend imports another.
 * @module
 */

import { OPTION_TABLE, type ResolvedOptions, type SlabSourceMode } from "../core/options.ts";
import { describe, HakmemError } from "../core/errors.ts";
import type { BackendFactory } from "../router/box.ts";
import type { Route } from "../router/router.ts";
import { LegacySource } from "./legacy/legacy.ts";
import { mmapBackend } from "./mmap/mod.ts";
import { createPoolBackend } from "./pool/mod.ts";
import { SharedPool } from "./shared_pool/shared_pool.ts";
import type { SlabSourceFactory } from "./slab/sources.ts";
import { type TinyCacheOptions, tinyOver } from "./tiny/tiny.ts";

/** How to build tiny: its caches, and which slab source it asks first. */
export interface TinyOptions extends TinyCacheOptions {
  /** Slab source: "shared" (default), "strict" shared, or "legacy". */
  slabSource?: SlabSourceMode;
  /** Shared pool's soft cap on SuperSlabs. */
  sharedPoolCap?: number;
  /** Shared pool's LRU of emptied SuperSlabs. */
  sharedPoolLru?: number;
}

/**
 * Tiny's built-in slab sources: the shared pool (its SuperSlabs marked 0)
 * and legacy (marked 1), both always built so a slab of either finds its way
 * back. "shared" asks the pool and lets it fall back to legacy at its cap,
 * "strict" lets the pool refuse, "legacy" asks legacy alone.
 */
export function builtinSlabSources(options: TinyOptions = {}): SlabSourceFactory {
  return (context) => {
    const legacy = new LegacySource(context.mem, context.pages, context.records, context.kind, context.areaWord);
    const mode = options.slabSource ?? "shared";
    const shared = new SharedPool(context.mem, context.pages, context.records, context.kind, context.areaWord, {
      cap: options.sharedPoolCap ?? 4096,
      lru: options.sharedPoolLru ?? 2,
      fallback: mode === "shared" ? legacy : undefined,
    });
    return mode === "legacy"
      ? { all: [shared, legacy], primary: legacy, reported: [legacy] }
      : { all: [shared, legacy], primary: shared, reported: [shared, legacy] };
  };
}

/** Each tiny option with the heap option whose range it has. */
const TINY_OPTIONS = [
  ["cache", "tinyCache"],
  ["cacheCap", "tinyCacheCap"],
  ["slabSource", "slabSource"],
  ["sharedPoolCap", "sharedPoolCap"],
  ["sharedPoolLru", "sharedPoolLru"],
] as const;

/**
 * Builds a tiny backend factory with these options, over the built-in slab sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { createTinyBackend } from "./registry.ts";
 * import { mmapBackend } from "./mmap/mod.ts";
 * const heap = createHeap({
 *   backends: [createTinyBackend({ cache: false, slabSource: "legacy" }), mmapBackend],
 *   routes: [{ min: 1, max: 1024, backend: "tiny" }, { min: 1025, max: Infinity, backend: "mmap" }],
 * });
 * heap.free(heap.malloc(100));
 * assert.equal(heap.check("full").ok, true);
 * ```
 */
export function createTinyBackend(options: TinyOptions = {}): BackendFactory {
  if (typeof options !== "object" || options === null) {
    throw new HakmemError("INVALID_OPTION", `tiny options must be an object, got ${describe(options)}`, options);
  }
  // Each option has the range of the heap option it stands for.
  for (const [name, heapOption] of TINY_OPTIONS) {
    const value = options[name];
    if (value !== undefined && !OPTION_TABLE[heapOption].valid(value)) {
      throw new HakmemError(
        "INVALID_OPTION",
        `tiny option ${name} must be ${OPTION_TABLE[heapOption].range}, got ${describe(value)}`,
        value,
      );
    }
  }
  return tinyOver(builtinSlabSources(options), options);
}

/**
 * Tiny with the default options: caches on, shared pool with legacy fallback.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { mmapBackend } from "./mmap/mod.ts";
 * import { tinyBackend } from "./registry.ts";
 * const heap = createHeap({ backends: [tinyBackend, mmapBackend] }); // tiny up to 1 KiB, mmap above
 * assert.equal(heap.usableSize(heap.malloc(100)), 112);
 * ```
 */
export const tinyBackend: BackendFactory = createTinyBackend();

/** A backend as the tests and benchmarks see it. */
export interface RegistryEntry {
  /** The backend's name. */
  name: string;
  /** Builds the backend from the heap's options. */
  factory: (options: ResolvedOptions) => BackendFactory;
  /** Sizes to exercise it with in tests and benchmarks (its own range). */
  sizes: { min: number; max: number };
  /** Heap options that configure this entry (for variants such as tiny over legacy). */
  options?: Record<string, unknown>;
  /**
   * The largest size a default heap routes to it (Infinity for the last);
   * only the entries with one are built into a default heap.
   */
  defaultRoute?: (options: ResolvedOptions) => number;
}

/** Every built-in backend (and variant) the tests and benchmarks run. */
export const REGISTRY: RegistryEntry[] = [
  { name: "tiny", factory: tinyFactory, sizes: { min: 1, max: 1024 }, defaultRoute: (options) => options.tinyMaxSize },
  { name: "tiny (legacy)", factory: tinyFactory, sizes: { min: 1, max: 1024 }, options: { slabSource: "legacy" } },
  { name: "tiny (no cache)", factory: tinyFactory, sizes: { min: 1, max: 1024 }, options: { tinyCache: false } },
  {
    name: "pool",
    factory: (options) => createPoolBackend({ prewarm: options.poolPrewarm }),
    sizes: { min: 1025, max: 262144 },
    defaultRoute: (options) => options.poolMaxSize,
  },
  { name: "mmap", factory: () => mmapBackend, sizes: { min: 1, max: 4 << 20 }, defaultRoute: () => Infinity },
];

function tinyFactory(options: ResolvedOptions): BackendFactory {
  return createTinyBackend({
    cache: options.tinyCache,
    cacheCap: options.tinyCacheCap,
    slabSource: options.slabSource,
    sharedPoolCap: options.sharedPoolCap,
    sharedPoolLru: options.sharedPoolLru,
  });
}

/** The registry entries a default heap routes to, smallest sizes first. */
function routedEntries(): RegistryEntry[] {
  return REGISTRY.filter((entry) => entry.defaultRoute !== undefined);
}

/** The built-in backends a default heap routes to, smallest sizes first. */
export function builtinBackends(options: ResolvedOptions): BackendFactory[] {
  return routedEntries().map((entry) => entry.factory(options));
}

/**
 * The default table, in registry order: 1..tinyMaxSize → tiny, ..poolMaxSize
 * → pool, the rest → mmap (each only if present among `names`).
 */
export function defaultRoutes(options: ResolvedOptions, names: string[]): Route[] {
  const routes: Route[] = [];
  let next = 1;
  for (const entry of routedEntries()) {
    const max = entry.defaultRoute!(options);
    if (!names.includes(entry.name) || max < next) continue;
    routes.push({ min: next, max, backend: entry.name });
    next = max + 1;
  }
  return routes;
}

/** Default fallbacks: tiny → pool → mmap, pool → mmap (for those present). */
export function defaultFallbacks(names: string[]): Record<string, string[]> {
  const chain = routedEntries().map((entry) => entry.name).filter((name) => names.includes(name));
  const fallbacks: Record<string, string[]> = {};
  chain.forEach((name, index) => {
    if (index + 1 < chain.length) fallbacks[name] = chain.slice(index + 1);
  });
  return fallbacks;
}
