/**
 * The Central Router and the Box API every backend follows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * heap.router.setVerbose(true);
 * heap.free(heap.malloc(2000000));
 * assert.deepEqual(heap.router.recentDecisions().map((d) => `${d.op}:${d.backend}`), ["alloc:mmap", "free:mmap"]);
 * ```
 * @module
 */

export { foreignPointer, Router } from "./router.ts";
export type {
  DecisionSink,
  Route,
  RouteCount,
  RoutedBackend,
  RouteDecision,
  RouterConfig,
  RouterCounters,
  RouterHealth,
} from "./router.ts";
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
} from "./box.ts";
// What a backend is handed (BackendContext) and what the router is built over (RouterConfig):
// a backend of one's own programs against these, so their types are public.
export type { LinearMemory } from "../memory/linear_memory.ts";
export type { PageHeap, PageHeapStats } from "../memory/page_heap.ts";
export type { RecordArena } from "../memory/records.ts";
