/**
 * The one list of built-in backends, read by the heap (to build its default
 * router), by the contract tests and by the benchmarks: a backend added here
 * is routed, tested and benchmarked without more wiring.
 * @module
 */

import type { ResolvedOptions } from "../options.ts";
import type { BackendFactory } from "../router/box.ts";
import type { Route } from "../router/router.ts";
import { mmapBackend } from "./mmap/mod.ts";
import { createPoolBackend } from "./pool/mod.ts";
import { createTinyBackend } from "./tiny/mod.ts";

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
}

/** Every built-in backend (and variant) the tests and benchmarks run. */
export const REGISTRY: RegistryEntry[] = [
  { name: "tiny", factory: tinyFactory, sizes: { min: 1, max: 1024 } },
  { name: "tiny (legacy)", factory: tinyFactory, sizes: { min: 1, max: 1024 }, options: { slabSource: "legacy" } },
  { name: "tiny (no cache)", factory: tinyFactory, sizes: { min: 1, max: 1024 }, options: { tinyCache: false } },
  { name: "pool", factory: (options) => createPoolBackend({ prewarm: options.poolPrewarm }), sizes: { min: 1025, max: 262144 } },
  { name: "mmap", factory: () => mmapBackend, sizes: { min: 1, max: 4 << 20 } },
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

/** The built-in backends a default heap routes to, smallest sizes first. */
export function builtinBackends(options: ResolvedOptions): BackendFactory[] {
  const names = ["tiny", "pool", "mmap"];
  return names.map((name) => REGISTRY.find((entry) => entry.name === name)!.factory(options));
}

/** The default table: 1..tinyMaxSize → tiny, ..poolMaxSize → pool, the rest → mmap (each only if present). */
export function defaultRoutes(options: ResolvedOptions, names: string[]): Route[] {
  const routes: Route[] = [];
  let next = 1;
  const add = (backend: string, max: number) => {
    if (!names.includes(backend) || max < next) return;
    routes.push({ min: next, max, backend });
    next = max + 1;
  };
  add("tiny", options.tinyMaxSize);
  add("pool", options.poolMaxSize);
  add("mmap", Infinity);
  return routes;
}

/** Default fallbacks: tiny → pool → mmap, pool → mmap (for those present). */
export function defaultFallbacks(names: string[]): Record<string, string[]> {
  const chain = ["tiny", "pool", "mmap"].filter((name) => names.includes(name));
  const fallbacks: Record<string, string[]> = {};
  chain.forEach((name, index) => {
    if (index + 1 < chain.length) fallbacks[name] = chain.slice(index + 1);
  });
  return fallbacks;
}
