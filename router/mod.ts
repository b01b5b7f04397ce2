/**
 * The Central Router and the Box API every backend follows.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * heap.router.setVerbose(true);
 * heap.free(heap.malloc(2000000));
 * console.log(heap.router.recentDecisions().map((d) => `${d.op}:${d.backend}`)); // [ "alloc:mmap", "free:mmap" ]
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
