/**
 * Every option of a heap, once: its default, unit, `HAKMEM_*` environment
 * name and what it does. An explicit option beats the environment, which
 * beats the default. The environment is read lazily, once, and never fatally:
 * where the runtime denies it (Deno without `--allow-env`), it is skipped.
 * @module
 */

import { describe, HakmemError } from "./errors.ts";

/**
 * Where tiny gets its slabs: `legacy` only, `shared` pool falling back to legacy, or `strict` shared pool.
 *
 * @example
 * ```ts
 * import { createHeap, type SlabSourceMode } from "../mod.ts";
 * for (const slabSource of ["shared", "strict", "legacy"] satisfies SlabSourceMode[]) {
 *   createHeap({ slabSource }).malloc(32);
 * }
 * ```
 */
export type SlabSourceMode = "legacy" | "shared" | "strict";

/**
 * Options of {@linkcode createHeap}; every one is optional.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * // Tiny over legacy slabs without per-worker caches; pool up to 64 KiB, mmap above.
 * const heap = createHeap({ slabSource: "legacy", tinyCache: false, poolMaxSize: 65536, maxBytes: 256 << 20 });
 * assert.equal(heap.options.poolMaxSize, 65536);
 * ```
 */
export interface HeapOptions {
  /** Most bytes the memory may grow to, 1 MiB .. 4 GiB. Default 1 GiB. `HAKMEM_MAX_BYTES`. */
  maxBytes?: number;
  /** Bytes of the memory created when none is given. Default 64 KiB. `HAKMEM_INITIAL_BYTES`. */
  initialBytes?: number;
  /** Least bytes the memory grows by at once. Default 256 KiB. `HAKMEM_GROW_BYTES`. */
  growBytes?: number;
  /** Largest size routed to tiny. Default 1024. `HAKMEM_TINY_MAX`. */
  tinyMaxSize?: number;
  /** Largest size routed to pool; larger goes to mmap. Default 262144. `HAKMEM_POOL_MAX`. */
  poolMaxSize?: number;
  /** Per-worker caches of tiny blocks (the seeds' TLS SLL). Default true. `HAKMEM_TINY_TLS_SLL` (0/1). */
  tinyCache?: boolean;
  /** Blocks a tiny cache keeps per class at most. Default 64. `HAKMEM_TINY_CACHE_CAP`. */
  tinyCacheCap?: number;
  /** Tiny's slab source. Default "shared". `HAKMEM_TINY_SS_SHARED` (0 legacy, 1 shared, 2 strict). */
  slabSource?: SlabSourceMode;
  /** Soft cap on the shared pool's SuperSlabs. Default 4096. `HAKMEM_SS_CAP`. */
  sharedPoolCap?: number;
  /** Empty SuperSlabs the shared pool keeps cached before returning them. Default 2. `HAKMEM_SS_LRU`. */
  sharedPoolLru?: number;
  /** Pool classes to prewarm (block sizes); one run each. Default none. `HAKMEM_POOL_PREWARM` (comma list). */
  poolPrewarm?: number[];
  /** Debug mode: guards, poisoning, full double-free detection, sites. Default false. `HAKMEM_DEBUG`. */
  debug?: boolean;
  /** Log every routing decision to the sink and ring. Default false. `HAKMEM_VERBOSE`. */
  verbose?: boolean;
  /** Decisions kept in the routing ring. Default 256. `HAKMEM_LOG_RING`. */
  logRing?: number;
}

/** The options with every value resolved. */
export type ResolvedOptions = Required<HeapOptions>;

interface OptionSpec {
  env: string;
  default: unknown;
  parse: (text: string) => unknown;
  valid: (value: unknown) => boolean;
  range: string;
}

const integer = (text: string): number => Number(text);
const flag = (text: string): boolean => !["0", "false", "off", "no", ""].includes(text.trim().toLowerCase());
const isInt = (min: number, max: number) => (value: unknown) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max;
const isBool = (value: unknown): boolean => typeof value === "boolean";
const GiB = 1 << 30;
/** The least `maxBytes`: a heap of it serves a block from each built-in backend. */
export const MIN_MAX_BYTES = 1 << 20;

/** The option table: default, environment name, parser and range of each option. */
export const OPTION_TABLE: { readonly [K in keyof HeapOptions]-?: OptionSpec } = {
  // Below 1 MiB a heap's metadata (about 84 KiB) and its first slab, span and block would leave it hardly able to allocate.
  maxBytes: {
    env: "HAKMEM_MAX_BYTES",
    default: GiB,
    parse: integer,
    valid: isInt(MIN_MAX_BYTES, 4 * GiB),
    range: "1 MiB (1048576) .. 4 GiB",
  },
  initialBytes: { env: "HAKMEM_INITIAL_BYTES", default: 65536, parse: integer, valid: isInt(0, 4 * GiB), range: "0 .. 4 GiB" },
  growBytes: { env: "HAKMEM_GROW_BYTES", default: 262144, parse: integer, valid: isInt(4096, GiB), range: "4096 .. 1 GiB" },
  tinyMaxSize: { env: "HAKMEM_TINY_MAX", default: 1024, parse: integer, valid: isInt(0, 1024), range: "0 .. 1024" },
  poolMaxSize: { env: "HAKMEM_POOL_MAX", default: 262144, parse: integer, valid: isInt(0, 262144), range: "0 .. 262144" },
  tinyCache: { env: "HAKMEM_TINY_TLS_SLL", default: true, parse: flag, valid: isBool, range: "true or false" },
  tinyCacheCap: { env: "HAKMEM_TINY_CACHE_CAP", default: 64, parse: integer, valid: isInt(1, 65536), range: "1 .. 65536" },
  slabSource: {
    env: "HAKMEM_TINY_SS_SHARED",
    default: "shared",
    parse: (text) => ({ "0": "legacy", "1": "shared", "2": "strict" } as Record<string, string>)[text.trim()] ?? text.trim(),
    valid: (value) => value === "legacy" || value === "shared" || value === "strict",
    range: '"legacy", "shared" or "strict" (0, 1, 2)',
  },
  sharedPoolCap: { env: "HAKMEM_SS_CAP", default: 4096, parse: integer, valid: isInt(1, 1 << 20), range: "1 .. 1048576" },
  sharedPoolLru: { env: "HAKMEM_SS_LRU", default: 2, parse: integer, valid: isInt(0, 64), range: "0 .. 64" },
  poolPrewarm: {
    env: "HAKMEM_POOL_PREWARM",
    default: [],
    parse: (text) => text.split(",").filter((part) => part.trim() !== "").map(Number),
    valid: (value) => Array.isArray(value) && value.every(isInt(1, 262144)),
    range: "a list of sizes 1 .. 262144",
  },
  debug: { env: "HAKMEM_DEBUG", default: false, parse: flag, valid: isBool, range: "true or false" },
  verbose: { env: "HAKMEM_VERBOSE", default: false, parse: flag, valid: isBool, range: "true or false" },
  logRing: { env: "HAKMEM_LOG_RING", default: 256, parse: integer, valid: isInt(1, 1 << 20), range: "1 .. 1048576" },
};

/** An option's value as the error message shows it: JSON where JSON can say it (a BigInt or Symbol cannot). */
function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return "a function";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return describe(value); // an array or object holding a BigInt, or a cycle
  }
}

let environment: Record<string, string> | undefined;

/** Reads the HAKMEM_* variables once; returns {} where the runtime denies it. */
function readEnvironment(): Record<string, string> {
  if (environment) return environment;
  const found: Record<string, string> = {};
  const names = Object.values(OPTION_TABLE).map((spec) => spec.env);
  // deno-lint-ignore no-explicit-any
  const runtime = globalThis as any;
  for (const name of names) {
    try {
      if (runtime.Deno?.env) {
        // Ask without prompting; skip what is not granted.
        const state = runtime.Deno.permissions?.querySync?.({ name: "env", variable: name })?.state;
        if (state !== "granted") continue;
        const value = runtime.Deno.env.get(name);
        if (value !== undefined) found[name] = value;
      } else if (runtime.process?.env) {
        const value = runtime.process.env[name];
        if (value !== undefined) found[name] = value;
      }
    } catch {
      // Reading the environment is a convenience; never fatal.
    }
  }
  environment = found;
  return found;
}

/** Forgets the environment read so far (for tests that change it). */
export function resetEnvironmentCache(): void {
  environment = undefined;
}

/**
 * Resolves options: explicit value, else environment, else default.
 * Throws `INVALID_OPTION` naming the option, its value and its range.
 */
export function resolveOptions(options: HeapOptions = {}): ResolvedOptions {
  const env = readEnvironment();
  const resolved: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(OPTION_TABLE) as [keyof HeapOptions, OptionSpec][]) {
    const given = options[key];
    let value: unknown = spec.default;
    let source = "default";
    if (given !== undefined) {
      value = given;
      source = "option";
    } else if (env[spec.env] !== undefined) {
      value = spec.parse(env[spec.env]);
      source = `environment ${spec.env}`;
    }
    if (!spec.valid(value)) {
      throw new HakmemError("INVALID_OPTION", `option ${key} (from ${source}) must be ${spec.range}, got ${show(value)}`, value);
    }
    resolved[key] = value;
  }
  const result = resolved as ResolvedOptions;
  if (result.initialBytes > result.maxBytes) {
    throw new HakmemError(
      "INVALID_OPTION",
      `initialBytes (${result.initialBytes}) must be at most maxBytes (${result.maxBytes})`,
      result.initialBytes,
    );
  }
  if (result.poolMaxSize !== 0 && result.poolMaxSize < result.tinyMaxSize) {
    throw new HakmemError(
      "INVALID_OPTION",
      `poolMaxSize (${result.poolMaxSize}) must be 0 or at least tinyMaxSize (${result.tinyMaxSize})`,
      result.poolMaxSize,
    );
  }
  return result;
}
