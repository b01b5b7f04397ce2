/**
 * The Central Router: size → backend through a table built and validated at
 * construction; pointer → backend through the page map. Every decision is
 * counted; when asked, every decision is also logged to a sink and a ring.
 *
 * Routes cover sizes 1 .. Infinity without gap or overlap (size 0 is served
 * as 1). A route may only name a backend whose `maxSize` covers it. When a
 * backend returns 0 the route's fallback chain is tried in order, skipping
 * backends that cannot serve the size; each try is counted.
 * @module
 */

import { describe, HakmemError } from "../errors.ts";
import { KIND_COUNT, KIND_MASK, PAGE_SHIFT } from "../memory/layout.ts";
import type { PageHeap } from "../memory/page_heap.ts";
import type { Backend, BackendHealth } from "./box.ts";

/**
 * One row of the routing table: sizes `min ..= max` go to `backend`.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * // Everything up to 512 bytes to tiny, the rest to mmap (no pool).
 * const heap = createHeap({
 *   routes: [{ min: 1, max: 512, backend: "tiny" }, { min: 513, max: Infinity, backend: "mmap" }],
 *   fallbacks: { tiny: ["mmap"] },
 * });
 * console.log(heap.usableSize(heap.malloc(600))); // 4096
 * ```
 */
export interface Route {
  /** Smallest size of the route. */
  min: number;
  /** Largest size of the route (`Infinity` for the last). */
  max: number;
  /** Name of the backend that serves it. */
  backend: string;
}

/** A backend the router dispatches to, with the page kind it owns. */
export interface RoutedBackend {
  /** The backend. */
  backend: Backend;
  /** The page kind its pages carry in the page map (2..7). */
  kind: number;
}

/** How to build a router. */
export interface RouterConfig {
  /** The backends, each with its page kind. */
  backends: RoutedBackend[];
  /** The routing table. */
  routes: Route[];
  /** Per backend name, the backends to try in order when it returns 0. */
  fallbacks?: Record<string, string[]>;
  /** The page heap whose page map finds a pointer's owner. */
  pages: PageHeap;
  /** Decisions kept in the ring when logging. Default 256. */
  ringSize?: number;
  /**
   * Byte offset in the memory (8-byte aligned, {@linkcode Router.counterBytes}
   * long) where this worker keeps its counters, so that every worker can read
   * them. Without it they live in a private array.
   */
  counterOffset?: number;
}

/**
 * One logged routing decision.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap({ verbose: true });
 * heap.router.setSink((decision) => console.log(decision.op, decision.size, decision.backend)); // "alloc 100 tiny"
 * heap.malloc(100);
 * ```
 */
export interface RouteDecision {
  /** "alloc" or "free". */
  op: "alloc" | "free";
  /** Size asked for (0 for frees). */
  size: number;
  /** The backend that served it, or "" when every backend failed. */
  backend: string;
  /** The pointer returned or freed (0 for a failure). */
  ptr: number;
  /** True when a fallback backend served it. */
  fallback: boolean;
  /** The call site given to `alloc`, if any. */
  site?: string;
}

/** Receives every decision while logging is on. */
export type DecisionSink = (decision: RouteDecision) => void;

/** A route with the decisions it took. */
export interface RouteCount extends Route {
  /** Allocations routed here. */
  decisions: number;
}

/**
 * The router's counters: always kept, merged per worker by the heap.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * heap.free(heap.malloc(2000));
 * const counters = heap.counters();
 * console.log(counters.totalRoutes, counters.allocs.pool, counters.frees.pool); // 1 1 1
 * ```
 */
export interface RouterCounters {
  /** Allocations routed, over all routes. */
  totalRoutes: number;
  /** Allocations that every backend in the chain refused (returned 0). */
  routeFailures: number;
  /** Times a fallback backend was tried after the routed one returned 0. */
  fallbackCount: number;
  /** Per route, its decisions. */
  routes: RouteCount[];
  /** Per backend name, blocks it handed out (fallbacks included). */
  allocs: Record<string, number>;
  /** Per backend name, blocks freed into it. */
  frees: Record<string, number>;
}

/** The router's health: each backend's readiness and the totals. */
export interface RouterHealth {
  /** True when every backend is ready. */
  ready: boolean;
  /** Each backend's readiness and counters. */
  backends: BackendHealth[];
  /** Allocations routed. */
  totalRoutes: number;
  /** Allocations that failed everywhere. */
  routeFailures: number;
  /** Fallbacks tried. */
  fallbackCount: number;
}

/** Sizes up to this are routed through a direct table. */
const DIRECT_LIMIT = 65536;
const RING_FIELDS = 4; // op(0 alloc, 1 free), size, backend index + 1 (0 none) | fallback << 8, ptr

/**
 * Routes allocations by size and frees by owner.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * const ptr = heap.router.alloc(100);
 * heap.router.free(ptr);
 * console.log(heap.router.counters().totalRoutes); // 1
 * ```
 */
export class Router {
  /** The backends, in the order given. */
  readonly backends: readonly Backend[];
  /** The routing table, sorted by size. */
  readonly routes: readonly Route[];
  private readonly pages: PageHeap;
  private readonly direct: Uint8Array;
  private readonly aboveMin: Float64Array;
  private readonly routeBackend: Backend[];
  private readonly routeBackendIndex: Int32Array;
  private readonly kindToBackend: Int32Array;
  private readonly fallbackChains: Int32Array[];
  // Counters: one increment on the hot path; everything else derives. They
  // are views of one store: [fallback tries, failures, decisions per route,
  // frees, primary failures, fallbacks served (each per backend)].
  private readonly counterOffset: number;
  private store!: Float64Array;
  /** @internal Per route: decisions (the heap's front cache counts its hits here too). */
  routeDecisions!: Float64Array;
  /** @internal Per backend: frees. */
  freeCounts!: Float64Array;
  private primaryFailures!: Float64Array; // per backend: routed here, returned 0
  private fallbackServed!: Float64Array; // per backend: served as a fallback
  /**
   * @internal The backend of the first route (the smallest sizes, most
   * calls), the front cache when it has one (`popCached`, `pushCached`),
   * which the heap tries before the router.
   * Sizes up to `frontMax` and pages of kind `frontKind` go there; both are
   * -1 when there is none, or while decisions are logged (they go the long
   * way).
   */
  readonly front: Backend;
  /** @internal See {@linkcode Router.front}. */
  frontMax = -1;
  /** @internal See {@linkcode Router.front}. */
  frontKind = -1;
  /** @internal The index of the front in {@linkcode Router.backends}. */
  readonly frontIndex: number;
  private readonly frontPageKind: number;
  /**
   * @internal The backend of the second route (mid sizes: the pool by
   * default), which the heap calls directly for sizes from `secondMin` to
   * `secondMax` and frees of pages of kind `secondKind`: its own call site,
   * monomorphic, where the router's shared one sees every backend. The heap
   * counts the decisions (route 1) and frees as the router counts them.
   * `secondMax` and `secondKind` are -1 when there is no second route, or
   * while decisions are logged.
   */
  readonly second: Backend;
  /** @internal See {@linkcode Router.second}. */
  readonly secondIndex: number;
  /** @internal See {@linkcode Router.second}. */
  secondMin = 0;
  /** @internal See {@linkcode Router.second}. */
  secondMax = -1;
  /** @internal See {@linkcode Router.second}. */
  secondKind = -1;
  private readonly secondPageKind: number;
  // Logging.
  private verbose = false;
  private sink: DecisionSink | undefined;
  private readonly ring: Float64Array;
  private readonly ringSites: Array<string | undefined>;
  private ringNext = 0;
  private ringCount = 0;

  constructor(config: RouterConfig) {
    const names = new Map<string, number>();
    config.backends.forEach(({ backend, kind }, index) => {
      const name = backend.capabilities.name;
      if (names.has(name)) throw routeError(`two backends are named ${JSON.stringify(name)}`);
      if (!(kind >= 2 && kind < KIND_COUNT)) throw routeError(`backend ${name} has page kind ${kind}; kinds are 2..7`);
      names.set(name, index);
    });
    this.backends = config.backends.map((entry) => entry.backend);
    this.pages = config.pages;
    this.kindToBackend = new Int32Array(KIND_COUNT).fill(-1);
    for (const [index, { kind, backend }] of config.backends.entries()) {
      if (this.kindToBackend[kind] >= 0) throw routeError(`backend ${backend.capabilities.name} reuses page kind ${kind}`);
      this.kindToBackend[kind] = index;
    }
    const routes = validateRoutes(config.routes, this.backends, names);
    this.routes = routes;
    this.routeBackendIndex = Int32Array.from(routes, (route) => names.get(route.backend)!);
    this.routeBackend = routes.map((route) => this.backends[names.get(route.backend)!]);
    this.front = this.routeBackend[0];
    this.frontIndex = this.routeBackendIndex[0];
    this.frontPageKind = config.backends[this.frontIndex].kind;
    const second = Math.min(1, routes.length - 1);
    this.second = this.routeBackend[second];
    this.secondIndex = this.routeBackendIndex[second];
    // Only a backend that owns its page kind alone (not the front's too) can take frees by kind.
    this.secondPageKind = this.secondIndex !== this.frontIndex ? config.backends[this.secondIndex].kind : -1;
    this.direct = new Uint8Array(DIRECT_LIMIT + 1);
    routes.forEach((route, index) => {
      const last = Math.min(route.max, DIRECT_LIMIT);
      for (let size = Math.max(route.min, 0); size <= last; size++) this.direct[size] = index;
    });
    this.direct[0] = this.direct[1];
    this.aboveMin = Float64Array.from(routes, (route) => route.min);
    this.fallbackChains = this.backends.map((backend) => {
      const chain = config.fallbacks?.[backend.capabilities.name] ?? [];
      return Int32Array.from(chain, (name) => {
        const index = names.get(name);
        if (index === undefined) throw routeError(`fallback of ${backend.capabilities.name} names unknown backend ${JSON.stringify(name)}`);
        if (name === backend.capabilities.name) throw routeError(`backend ${name} cannot be its own fallback`);
        return index;
      });
    });
    for (const name of Object.keys(config.fallbacks ?? {})) {
      if (!names.has(name)) throw routeError(`fallbacks name unknown backend ${JSON.stringify(name)}`);
    }
    this.counterOffset = config.counterOffset ?? -1;
    this.bindCounters();
    if (this.counterOffset >= 0) this.pages.mem.onRefresh(() => this.bindCounters());
    const ringSize = config.ringSize ?? 256;
    this.ring = new Float64Array(ringSize * RING_FIELDS);
    this.ringSites = new Array(ringSize);
    this.setVerbose(false);
  }

  /** Bytes of counters a router with these routes and backends keeps. */
  static counterBytes(routes: number, backends: number): number {
    return (2 + routes + 3 * backends) * 8;
  }

  /** (Re)builds the counter views over their store (after the memory's views changed). */
  private bindCounters(): void {
    const words = Router.counterBytes(this.routes.length, this.backends.length) / 8;
    if (this.counterOffset >= 0 && this.counterOffset + words * 8 > this.pages.mem.limit) this.pages.mem.refresh(true);
    this.store = this.counterOffset < 0
      ? (this.store ?? new Float64Array(words))
      : new Float64Array(this.pages.mem.currentBuffer, this.counterOffset, words);
    this.routeDecisions = this.store.subarray(2, 2 + this.routes.length);
    const b = this.backends.length;
    const at = 2 + this.routes.length;
    this.freeCounts = this.store.subarray(at, at + b);
    this.primaryFailures = this.store.subarray(at + b, at + 2 * b);
    this.fallbackServed = this.store.subarray(at + 2 * b, at + 3 * b);
  }

  /** The route index for `size` (a non-negative integer). */
  routeOf(size: number): number {
    if (size <= DIRECT_LIMIT) return this.direct[size];
    const mins = this.aboveMin;
    let index = mins.length - 1;
    while (mins[index] > size) index--;
    return index;
  }

  /**
   * Allocates `size` bytes from the routed backend, falling back along its
   * chain when it returns 0. Returns 0 when every backend refused. `site`
   * names the caller in the decision log.
   */
  alloc(size: number, site?: string): number {
    const route = size <= DIRECT_LIMIT ? this.direct[size] : this.routeOf(size);
    this.routeDecisions[route]++;
    let ptr = this.routeBackend[route].alloc(size);
    if (ptr === 0) ptr = this.fallback(route, size, 0);
    if (this.verbose) this.log(0, size, route, ptr, site);
    return ptr;
  }

  /** Like {@linkcode Router.alloc} but the block is aligned to `alignment` (a power of two up to a page). */
  allocAligned(size: number, alignment: number, site?: string): number {
    const route = this.routeOf(size);
    this.routeDecisions[route]++;
    const backend = this.routeBackend[route];
    let ptr = backend.capabilities.alignedAlloc && backend.allocAligned ? backend.allocAligned(size, alignment) : 0;
    if (ptr === 0) ptr = this.fallback(route, size, alignment);
    if (this.verbose) this.log(0, size, route, ptr, site);
    return ptr;
  }

  /** Allocates a zeroed block: from a backend that knows clean memory, or cleared here. */
  allocZeroed(size: number, site?: string): number {
    const route = this.routeOf(size);
    const backend = this.routeBackend[route];
    if (!backend.allocZeroed) {
      const ptr = this.alloc(size, site);
      if (ptr !== 0) this.pages.mem.u8.fill(0, ptr, ptr + size);
      return ptr;
    }
    this.routeDecisions[route]++;
    let ptr = backend.allocZeroed(size);
    if (ptr === 0) {
      ptr = this.fallback(route, size, 0);
      if (ptr !== 0) this.pages.mem.u8.fill(0, ptr, ptr + size);
    }
    if (this.verbose) this.log(0, size, route, ptr, site);
    return ptr;
  }

  private fallback(route: number, size: number, alignment: number): number {
    const primary = this.routeBackendIndex[route];
    this.primaryFailures[primary]++;
    const chain = this.fallbackChains[primary];
    // An aligned request the routed backend cannot align at all goes on to the first that can: no fallback tried yet.
    let redirected = alignment !== 0 && !this.backends[primary].capabilities.alignedAlloc;
    for (let i = 0; i < chain.length; i++) {
      const index = chain[i];
      const backend = this.backends[index];
      if (size > backend.capabilities.maxSize || (alignment !== 0 && !backend.capabilities.alignedAlloc)) continue;
      if (redirected) redirected = false;
      else this.store[0]++;
      let ptr: number;
      if (alignment === 0) ptr = backend.alloc(size);
      else ptr = backend.capabilities.alignedAlloc && backend.allocAligned ? backend.allocAligned(size, alignment) : 0;
      if (ptr !== 0) {
        this.fallbackServed[index]++;
        return ptr;
      }
    }
    this.store[1]++;
    return 0;
  }

  /**
   * Counts an allocation of `size` bytes refused before any backend was
   * asked (larger than the memory may ever hold) as its route's decision
   * that failed, as a failure of every backend would be counted. Returns 0.
   */
  refuse(size: number, site?: string): number {
    const route = this.routeOf(size);
    this.routeDecisions[route]++;
    this.primaryFailures[this.routeBackendIndex[route]]++;
    this.store[1]++;
    if (this.verbose) this.log(0, size, route, 0, site);
    return 0;
  }

  /** The index in {@linkcode Router.backends} of the backend route `route` sends to. */
  backendIndexOfRoute(route: number): number {
    return this.routeBackendIndex[route];
  }

  /**
   * The backend index owning the block at `ptr` (inside the memory), or -1.
   */
  ownerIndex(ptr: number): number {
    return this.kindToBackend[this.pages.ownerOf(ptr) & KIND_MASK];
  }

  /**
   * Frees `ptr` into the backend whose pages hold it. Throws `DOUBLE_FREE`
   * when its page is free but was handed out before (the block was freed
   * already), `INVALID_POINTER` when no backend owns the page otherwise.
   */
  free(ptr: number): void {
    this.freeEntry(ptr, this.pages.ownerOf(ptr));
  }

  /** @internal {@linkcode Router.free} with the page-map entry of `ptr`'s page already read (by the heap). */
  freeEntry(ptr: number, entry: number): void {
    const index = this.kindToBackend[entry & KIND_MASK];
    if (index < 0) {
      // A WebAssembly.Memory grown elsewhere leaves our views short: look again once.
      if (this.pages.mem.refresh(true)) return this.free(ptr);
      throw this.unownedFree(ptr);
    }
    this.backends[index].free(ptr, entry);
    this.freeCounts[index]++;
    if (this.verbose) this.log(1, 0, -1 - index, ptr, undefined);
  }

  /** The error for freeing `ptr` where no backend owns the page (off the hot path). */
  private unownedFree(ptr: number): HakmemError {
    const page = ptr >>> PAGE_SHIFT;
    if (this.pages.ownerOf(ptr) === 0 && page < this.pages.top && !this.pages.isClean(page, 1)) {
      return new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} lies in free pages: freed already (a double free)`, ptr);
    }
    return foreignPointer(ptr);
  }

  /** Usable bytes of the block at `ptr`. */
  usableSize(ptr: number): number {
    const index = this.ownerIndex(ptr);
    if (index < 0) throw foreignPointer(ptr);
    return this.backends[index].usableSize(ptr);
  }

  // ---- logging ----------------------------------------------------------------

  /** Turns logging of every decision on or off. Off costs one branch per call. */
  setVerbose(on: boolean): void {
    this.verbose = on;
    const front = this.front;
    const cached = !on && front.popCached !== undefined && front.pushCached !== undefined;
    this.frontMax = cached ? Math.min(this.routes[0].max, DIRECT_LIMIT, front.capabilities.maxSize) : -1;
    this.frontKind = cached ? this.frontPageKind : -1;
    const direct = !on && this.routes.length > 1 && this.secondPageKind >= 0;
    this.secondMin = direct ? this.routes[1].min : 0;
    this.secondMax = direct ? Math.min(this.routes[1].max, 0xffffffff) : -1;
    this.secondKind = direct ? this.secondPageKind : -1;
  }

  /** @internal The heap's direct call to the second route's backend returned 0 (the heap counted the decision): its fallback chain. */
  secondFailed(size: number): number {
    return this.fallback(1, size, 0);
  }

  /** True while decisions are logged. */
  get isVerbose(): boolean {
    return this.verbose;
  }

  /** Sets (or, with undefined, removes) the sink that receives each decision while logging. */
  setSink(sink: DecisionSink | undefined): void {
    this.sink = sink;
  }

  private log(op: number, size: number, route: number, ptr: number, site: string | undefined): void {
    // Alloc: route >= 0, backend found by ptr. Free: route = -1 - backend.
    const backendIndex = route < 0 ? -1 - route : ptr === 0 ? -1 : this.ownerIndex(ptr);
    const fallback = route >= 0 && backendIndex >= 0 && backendIndex !== this.routeBackendIndex[route];
    const at = this.ringNext * RING_FIELDS;
    this.ring[at] = op;
    this.ring[at + 1] = size;
    this.ring[at + 2] = (backendIndex + 1) | (fallback ? 256 : 0);
    this.ring[at + 3] = ptr;
    this.ringSites[this.ringNext] = site;
    this.ringNext = (this.ringNext + 1) % this.ringSites.length;
    if (this.ringCount < this.ringSites.length) this.ringCount++;
    if (this.sink) this.sink(this.decisionAt((this.ringNext + this.ringSites.length - 1) % this.ringSites.length));
  }

  private decisionAt(slot: number): RouteDecision {
    const at = slot * RING_FIELDS;
    const packed = this.ring[at + 2];
    const index = (packed & 255) - 1;
    const decision: RouteDecision = {
      op: this.ring[at] === 0 ? "alloc" : "free",
      size: this.ring[at + 1],
      backend: index >= 0 ? this.backends[index].capabilities.name : "",
      ptr: this.ring[at + 3],
      fallback: (packed & 256) !== 0,
    };
    const site = this.ringSites[slot];
    if (site !== undefined) decision.site = site;
    return decision;
  }

  /** The logged decisions still in the ring, oldest first. */
  recentDecisions(): RouteDecision[] {
    const size = this.ringSites.length;
    const out: RouteDecision[] = [];
    for (let i = this.ringCount; i > 0; i--) out.push(this.decisionAt((this.ringNext - i + size) % size));
    return out;
  }

  // ---- reports ------------------------------------------------------------------

  /**
   * The counters, with per-backend figures derived from the per-route ones.
   * With `others` (byte offsets of other workers' counter stores in the same
   * memory), their counts are added: the totals of every worker.
   */
  counters(others: number[] = []): RouterCounters {
    this.pages.mem.refresh(); // other workers' counters may lie in memory they grew
    const words = this.store.length;
    const sum = Float64Array.from(this.store);
    for (const offset of others) {
      if (offset === this.counterOffset) continue;
      const store = new Float64Array(this.pages.mem.currentBuffer, offset, words);
      for (let i = 0; i < words; i++) sum[i] += store[i];
    }
    const b = this.backends.length;
    const at = 2 + this.routes.length;
    const allocs: Record<string, number> = {};
    const frees: Record<string, number> = {};
    this.backends.forEach((backend, index) => {
      allocs[backend.capabilities.name] = sum[at + 2 * b + index] - sum[at + b + index];
      frees[backend.capabilities.name] = sum[at + index];
    });
    let total = 0;
    const routes = this.routes.map((route, index) => {
      const decisions = sum[2 + index];
      total += decisions;
      allocs[route.backend] += decisions;
      return { ...route, decisions };
    });
    return { totalRoutes: total, routeFailures: sum[1], fallbackCount: sum[0], routes, allocs, frees };
  }

  /** Each backend's readiness and the totals (of every worker in `others`, as in {@linkcode Router.counters}). */
  health(others: number[] = []): RouterHealth {
    const backends = this.backends.map((backend) => backend.health());
    const counters = this.counters(others);
    return {
      ready: backends.every((entry) => entry.ready),
      backends,
      totalRoutes: counters.totalRoutes,
      routeFailures: counters.routeFailures,
      fallbackCount: counters.fallbackCount,
    };
  }

  /** Sets every counter back to zero. */
  resetCounters(): void {
    this.store.fill(0);
  }
}

function routeError(message: string): HakmemError {
  return new HakmemError("INVALID_ROUTE", `invalid routing table: ${message}`);
}

/**
 * The error for a pointer in no backend's pages.
 *
 * @example
 * ```ts
 * import { foreignPointer } from "./router.ts";
 * console.log(foreignPointer(123).code); // "INVALID_POINTER"
 * ```
 */
export function foreignPointer(ptr: number): HakmemError {
  return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is not in any block this heap handed out`, ptr);
}

/** Sorts and checks the routes: no gap, no overlap, every size served. */
function validateRoutes(routes: Route[], backends: readonly Backend[], names: Map<string, number>): Route[] {
  if (routes.length === 0) throw routeError("it has no routes");
  if (routes.length > 255) throw routeError(`it has ${routes.length} routes; at most 255`);
  const sorted = [...routes].sort((a, b) => a.min - b.min);
  let expected = 1;
  for (const route of sorted) {
    const { min, max, backend } = route;
    if (!Number.isSafeInteger(min) || !(Number.isSafeInteger(max) || max === Infinity) || max < min) {
      throw routeError(`route ${describe(min)}..${describe(max)} is not a range of sizes`);
    }
    if (min > expected) throw routeError(`sizes ${expected}..${min - 1} have no route (a gap)`);
    if (min < expected) throw routeError(`route ${min}..${max} overlaps sizes below ${expected}`);
    const index = names.get(backend);
    if (index === undefined) throw routeError(`route ${min}..${max} names unknown backend ${JSON.stringify(backend)}`);
    const capabilities = backends[index].capabilities;
    if (max > capabilities.maxSize) {
      throw routeError(`route ${min}..${max} sends sizes up to ${max} to ${backend}, which serves at most ${capabilities.maxSize}`);
    }
    expected = max + 1;
  }
  if (expected !== Infinity) throw routeError(`sizes from ${expected} up have no route`);
  return sorted.map((route) => ({ ...route }));
}
