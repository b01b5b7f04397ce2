/**
 * hakmem: `malloc` for JavaScript linear memory.
 *
 * `malloc`, `free`, `calloc`, `realloc`, `alignedAlloc` and `usableSize` over
 * a resizable `ArrayBuffer`, a growable `SharedArrayBuffer` or a
 * `WebAssembly.Memory`. Pointers are byte offsets; 0 is NULL. A Central
 * Router sends each size to a backend (tiny, pool, mmap), counts every
 * decision and reports each backend's health.
 *
 * @example Quick start
 * ```ts
 * import { createHeap } from "./mod.ts";
 *
 * const heap = createHeap();
 * const ptr = heap.malloc(24);
 * const record = heap.typed(Float64Array, ptr, 3);
 * record[0] = 1.5;
 * heap.free(ptr);
 * console.log(heap.health().ready); // true
 * ```
 * @module
 */

export { attachHeap, BlockView, createHeap, Heap } from "./heap.ts";
export type { CheckReport, HeapConfig, HeapHealth, HeapStats, TypedArrayConstructor } from "./heap.ts";
export { ErrorCode, HakmemError } from "./errors.ts";
export type { HeapOptions, ResolvedOptions, SlabSourceMode } from "./options.ts";
export type { MemorySource } from "./memory/linear_memory.ts";
export type { Backend, BackendContext, BackendFactory, BackendHealth, BackendStats, Capabilities, CheckLevel, CheckProblem } from "./router/box.ts";
export type { Route, RouteDecision, RouterCounters, RouterHealth } from "./router/router.ts";
