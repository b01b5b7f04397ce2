/**
 * What a heap is built from, and its checks: {@linkcode HeapConfig} (the
 * options plus the memory, base, backends, routes and fallbacks), the shape
 * checks every configuration passes before anything is built, and where the
 * heap starts in its memory (option `base`).
 * @module
 */

import { describe, HakmemError } from "../core/errors.ts";
import { type HeapOptions, OPTION_TABLE } from "../core/options.ts";
import { HEADER_PAGES, MAX_MEMORY_BYTES, PAGE_SIZE } from "../memory/layout.ts";
import { type MemorySource, roundToPages } from "../memory/linear_memory.ts";
import { PageHeap } from "../memory/page_heap.ts";
import type { Backend, BackendFactory } from "../router/box.ts";
import type { Route } from "../router/router.ts";

/**
 * Everything {@linkcode createHeap} accepts: the options, and what to build the heap from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * const memory = new SharedArrayBuffer(1 << 20, { maxByteLength: 64 << 20 });
 * const heap = createHeap({ memory, maxBytes: 64 << 20, slabSource: "legacy" });
 * assert.equal(heap.health().memory, "SharedArrayBuffer");
 * ```
 */
export interface HeapConfig extends HeapOptions {
  /**
   * The memory to live in. Default: a new WebAssembly.Memory of `initialBytes` growing to `maxBytes`
   * (whole 64 KiB pages): full-speed views and growth without copying, but it
   * never shrinks and each growth detaches views made before. Hand in a resizable ArrayBuffer
   * (`new ArrayBuffer(n, { maxByteLength })`) for a memory that `trim()` shrinks and whose views track it.
   */
  memory?: MemorySource;
  /**
   * Byte offset where the heap starts in the memory (rounded up to a page):
   * the heap never reads or writes below it, and hands out no block below
   * it. Default 0. Over a WebAssembly module's memory, the module's
   * `__heap_base` (see `createWasmHeap` of the "./wasm" subpath), so its data and stack
   * stay its own. A heap made at a base is attached at the same base.
   * `maxBytes` still bounds the whole memory, the bytes below the base
   * included.
   */
  base?: number;
  /** The backends, replacing the built-in ones (tiny, pool, mmap). */
  backends?: BackendFactory[];
  /** The routing table, replacing the default built from `tinyMaxSize` and `poolMaxSize`. */
  routes?: Route[];
  /** Fallback chains by backend name, replacing the default (tiny → pool → mmap, pool → mmap). */
  fallbacks?: Record<string, string[]>;
}

/** The methods every backend has (router/box.ts). */
const BACKEND_METHODS = ["alloc", "free", "owns", "usableSize", "health", "stats", "trim", "check"] as const;

/** True when `value` has the shape of a {@linkcode Backend}: what the router and the reports call. */
export function isBackend(value: unknown): value is Backend {
  if (typeof value !== "object" || value === null) return false;
  const backend = value as Record<string, unknown>;
  const capabilities = backend.capabilities as Record<string, unknown> | null | undefined;
  return typeof capabilities === "object" && capabilities !== null && typeof capabilities.name === "string" &&
    typeof capabilities.maxSize === "number" && BACKEND_METHODS.every((method) => typeof backend[method] === "function");
}

/** The keys a configuration may have besides the options. */
const CONFIG_KEYS = new Set(["memory", "base", "backends", "routes", "fallbacks"]);

/**
 * Refuses a configuration that is not an object, names a key no option has
 * (a misspelt option would be ignored silently otherwise), or whose
 * backends, routes or fallbacks have the wrong shape.
 */
export function checkConfig(config: unknown): void {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new HakmemError("INVALID_OPTION", `heap options must be an object, got ${describe(config)}`, config);
  }
  for (const key of Object.keys(config)) {
    if (!CONFIG_KEYS.has(key) && !Object.hasOwn(OPTION_TABLE, key)) {
      const known = [...Object.keys(OPTION_TABLE), ...CONFIG_KEYS].sort().join(", ");
      throw new HakmemError("INVALID_OPTION", `unknown heap option ${JSON.stringify(key)}; the options are ${known}`, key);
    }
  }
  const { backends, routes, fallbacks, memory } = config as HeapConfig;
  if (memory === null) {
    throw new HakmemError("INVALID_MEMORY", "memory is null: give memory, or leave the option out for a new one", memory);
  }
  if (
    backends !== undefined &&
    (!Array.isArray(backends) || backends.some((factory) => typeof factory?.create !== "function" || typeof factory.name !== "string"))
  ) {
    throw new HakmemError("INVALID_OPTION", "option backends must be an array of backend factories ({ name, create })", backends);
  }
  if (
    routes !== undefined &&
    (!Array.isArray(routes) ||
      routes.some((route) =>
        typeof route !== "object" || route === null || typeof route.min !== "number" || typeof route.max !== "number" ||
        typeof route.backend !== "string"
      ))
  ) {
    throw new HakmemError(
      "INVALID_ROUTE",
      "option routes must be an array of routes ({ min, max, backend }: two numbers and a name)",
      routes,
    );
  }
  if (
    fallbacks !== undefined &&
    (typeof fallbacks !== "object" || fallbacks === null || Array.isArray(fallbacks) ||
      Object.values(fallbacks).some((chain) =>
        chain !== undefined && (!Array.isArray(chain) || chain.some((name) => typeof name !== "string"))
      ))
  ) {
    throw new HakmemError("INVALID_ROUTE", "option fallbacks must be an object of backend names to arrays of names", fallbacks);
  }
}

/**
 * The heap's base from option `base`: a safe integer from 0, rounded up to a
 * page, with room above it for a heap below `maxBytes`. Throws
 * `INVALID_OPTION` otherwise.
 */
export function heapBase(base: unknown, maxBytes: number): number {
  if (base === undefined) return 0;
  if (typeof base !== "number" || !Number.isSafeInteger(base) || base < 0) {
    throw new HakmemError(
      "INVALID_OPTION",
      `option base must be a byte offset (a non-negative safe integer), got ${
        describe(base)
      }; for a WebAssembly instance use createWasmHeap`,
      base,
    );
  }
  const rounded = roundToPages(base);
  const room = rounded + PageHeap.startPages(rounded / PAGE_SIZE, HEADER_PAGES) * PAGE_SIZE;
  if (room > Math.min(maxBytes, MAX_MEMORY_BYTES)) {
    throw new HakmemError(
      "INVALID_OPTION",
      `option base ${base} leaves no room for a heap below maxBytes ${maxBytes} (a heap at it needs the memory to reach ${room} bytes)`,
      base,
    );
  }
  return rounded;
}

/** True when `buffer` was detached (transferred, or posted to a worker with a transfer list). */
export function isDetached(buffer: ArrayBuffer): boolean {
  if ((buffer as { detached?: boolean }).detached === true) return true;
  try {
    new Uint8Array(buffer, 0, 0); // an engine without `detached` refuses this for a detached buffer
    return false;
  } catch {
    return true;
  }
}
