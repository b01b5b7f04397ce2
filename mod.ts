/**
 * hakmem: `malloc` for JavaScript linear memory.
 *
 * `malloc`, `free`, `calloc`, `realloc`, `alignedAlloc` and `usableSize` over
 * a `WebAssembly.Memory` (the default), a resizable `ArrayBuffer` or a
 * growable `SharedArrayBuffer`. Pointers are byte offsets; 0 is NULL. A Central
 * Router sends each size to a backend, counts every decision and reports
 * each backend's health. Exhaustion returns 0; misuse (a bad or double free,
 * a bad size) throws a {@linkcode HakmemError} and leaves the heap unchanged.
 *
 * @example Quick start
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 *
 * const heap = createHeap();
 * const ptr = heap.malloc(24);
 * const record = heap.typed(Float64Array, ptr, 3);
 * record[0] = 1.5;
 * heap.free(ptr);
 * assert.ok(heap.health().ready);
 * ```
 *
 * ## The backends
 *
 * | backend | sizes (default routes) | how it serves them | module |
 * | --- | --- | --- | --- |
 * | tiny | 1 B .. 1 KiB | 21 size classes (16-aligned from 16 B); 8 KiB slabs in 64 KiB SuperSlabs, no block header; per-worker caches | `./backends/tiny` |
 * | ↳ slab source | | `shared_pool` (default): one pool of SuperSlabs for every class; `legacy`: SuperSlabs per class | `./backends/shared_pool`, `./backends/legacy` |
 * | pool | 1025 B .. 256 KiB | classes rounded to powers of two with bridge classes; spans of a few blocks; sharded lists; prewarm | `./backends/pool` |
 * | mmap | above 256 KiB | whole page runs from the page heap; realloc in place when the next pages are free | `./backends/mmap` |
 *
 * When a backend has no memory the router tries the next (tiny → pool →
 * mmap), and counts it. `heap.counters()` gives the decisions per route,
 * `heap.health()` each backend's readiness and counters, `heap.stats()` the
 * footprint, `heap.check()` the invariants.
 *
 * @example Swapping a backend by options
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 *
 * // Tiny over legacy SuperSlabs without per-worker caches, and pool only up to 64 KiB.
 * const heap = createHeap({ slabSource: "legacy", tinyCache: false, poolMaxSize: 65536 });
 * heap.free(heap.malloc(100000)); // mmap now
 * assert.deepEqual(heap.counters().routes.map((route) => `${route.backend}:${route.decisions}`), ["tiny:0", "pool:0", "mmap:1"]);
 * ```
 *
 * @example Swapping a backend: your own list, routes and fallbacks
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * import { createPoolBackend } from "./backends/pool/mod.ts";
 * import { mmapBackend } from "./backends/mmap/mod.ts";
 *
 * const heap = createHeap({
 *   backends: [createPoolBackend({ prewarm: [4096] }), mmapBackend],
 *   routes: [{ min: 1, max: 262144, backend: "pool" }, { min: 262145, max: Infinity, backend: "mmap" }],
 *   fallbacks: { pool: ["mmap"] },
 * });
 * heap.malloc(100);
 * assert.deepEqual(heap.counters().allocs, { pool: 1, mmap: 0 });
 * ```
 *
 * ## The optional parts: subpath exports
 *
 * This entry loads none of them; import each where it is used.
 *
 * | import | what it gives |
 * | --- | --- |
 * | `@hakmem/hakmem/inspect` | `renderHeapSvg`, and `heap.inspect()` (which throws `INVALID_OPTION` until this is imported) |
 * | `@hakmem/hakmem/wasm` | `wasmImports`, `createWasmHeap`, `wasmHeapBase`, `checkWasmBase` |
 * | `@hakmem/hakmem/debug` | debug mode: `createHeap({ debug: true })`, `HAKMEM_DEBUG=1` and attaching a debug-mode heap throw `INVALID_OPTION` until this is imported |
 *
 * @example A WebAssembly module's malloc, and a picture of the heap
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * import { wasmImports } from "./wasm/mod.ts"; // the "./wasm" entry
 * import { renderHeapSvg } from "./inspect/mod.ts"; // the "./inspect" entry
 *
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
 * const heap = createHeap({ memory });
 * const env = wasmImports(heap); // { memory, malloc, free, calloc, realloc, aligned_alloc, malloc_usable_size }
 * // new WebAssembly.Instance(module, { env }): the module and JavaScript share the heap
 * const ptr = env.malloc(64);
 * heap.u8[ptr] = 1;
 * const svg = renderHeapSvg(heap); // write it to a file and open it in a browser
 * assert.ok(svg.includes("tiny"));
 * ```
 * @module
 */

export { attachHeap, BlockView, createHeap, Heap } from "./heap/heap.ts";
export type { CheckReport, HeapConfig, HeapHealth, HeapStats, TypedArrayConstructor } from "./heap/heap.ts";
export type { HeapSvgOptions } from "./heap/picture_options.ts";
export { ErrorCode, HakmemError } from "./core/errors.ts";
export type { HeapOptions, ResolvedOptions, SlabSourceMode } from "./core/options.ts";
export type { MemorySource } from "./memory/linear_memory.ts";
export type { PageHeapStats } from "./memory/page_heap.ts";
export type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendHealth,
  BackendStats,
  Capabilities,
  CheckLevel,
  CheckProblem,
  MemoryDescription,
  RegionDescription,
  RegionGroup,
  SlabSource,
} from "./router/box.ts";
export type { Route, RouteDecision, RouterCounters, RouterHealth } from "./router/router.ts";
