/**
 * The pool backend: sizes above 1 KiB up to 256 KiB, rounded to size classes
 * (powers of two with three bridge classes between each pair up to 16 KiB,
 * then whole pages), served from page-run spans with intrusive free lists
 * (one block per span above 16 KiB), sharded per worker, with a budget for
 * cached empty spans and optional prewarm that reports the spans it got.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { mmapBackend } from "../mmap/mod.ts";
 * import { createPoolBackend } from "./mod.ts";
 *
 * const heap = createHeap({
 *   backends: [createPoolBackend({ prewarm: [40000] }), mmapBackend],
 *   routes: [{ min: 1, max: 262144, backend: "pool" }, { min: 262145, max: Infinity, backend: "mmap" }],
 * });
 * const ptr = heap.malloc(33000);
 * // 33000 rounds to the 36 KiB class; with no span of its own it takes the prewarmed 40 KiB block (at most a quarter bigger)
 * assert.equal(heap.usableSize(ptr), 40960);
 * heap.free(ptr);
 * ```
 * @module
 */

export { createPoolBackend, POOL_SHARDS, PoolBackend, poolBackend } from "./pool.ts";
export type { PoolBackendOptions, PrewarmReport } from "./pool.ts";
export {
  POOL_CLASS_COUNT,
  POOL_CLASS_SIZES,
  POOL_GRANULE,
  POOL_MAX_SIZE,
  POOL_MIN_SIZE,
  POOL_SINGLE_ABOVE,
  POOL_SPAN_BLOCKS,
  POOL_SPAN_PAGES,
  poolClassOf,
} from "./pool_classes.ts";
