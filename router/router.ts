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

import { describe, HakmemError } from "../core/errors.ts";
import { KIND_COUNT, KIND_MASK, PAGE_SHIFT } from "../memory/layout.ts";
import type { PageHeap } from "../memory/page_heap.ts";
import type { Backend, BackendHealth } from "./box.ts";

/**
 * One row of the routing table: sizes `min ..= max` go to `backend`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * // Everything up to 512 bytes to tiny, the rest to mmap (no pool).
 * const heap = createHeap({
 *   routes: [{ min: 1, max: 512, backend: "tiny" }, { min: 513, max: Infinity, backend: "mmap" }],
 *   fallbacks: { tiny: ["mmap"] },
 * });
 * assert.equal(heap.usableSize(heap.malloc(600)), 4096);
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
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap({ verbose: true });
 * const seen: string[] = [];
 * heap.router.setSink((decision) => seen.push(`${decision.op} ${decision.size} ${decision.backend}`));
 * heap.malloc(100);
 * assert.deepEqual(seen, ["alloc 100 tiny"]);
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
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * heap.free(heap.malloc(2000));
 * const counters = heap.counters();
 * assert.equal(counters.totalRoutes, 1);
 * assert.equal(counters.allocs.pool, 1);
 * assert.equal(counters.frees.pool, 1);
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
  /** True when every backend is ready and the heap header is intact (its magic number, page shift and header size). */
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
/** KIND_MASK as a literal for the free path (Bun inlines no imported constant); checked when the module loads. */
const enum Kind {
  mask = 7,
}
if (Kind.mask !== KIND_MASK) throw new Error("router.ts: Kind.mask disagrees with KIND_MASK");
const RING_FIELDS = 4; // op(0 alloc, 1 free), size, backend index + 1 (0 none) | fallback << 8, ptr
/**
 * A hot counter (a route's decisions, a backend's frees) that reaches this
 * many pending counts merges every pending count into the memory: the bound
 * on how far behind another worker's view of this worker's counts may be.
 */
const MERGE_EVERY = 4096;
// Counter store words: [fallback tries, failures, decisions per route, then per backend: frees, primary failures, fallbacks served].
const FALLBACK_TRIES = 0;
const FAILURES = 1;
const DECISIONS = 2;

/**
 * The routers of this JavaScript realm, by the memory they live in: a read
 * of the counters merges every one first, so heap objects sharing a memory
 * in one thread see each other's counts exactly.
 */
const ROUTERS_BY_MEMORY = new WeakMap<object, Set<WeakRef<Router>>>();

/**
 * Routes allocations by size and frees by owner: the one entry to the
 * backends. Each of the first routes' backends is called from its own call
 * site (a field per route and a switch on the route index, so every site
 * sees one backend class); longer tables go through a generic site. The
 * first route's backend (the smallest sizes, most calls) is called inline,
 * its per-worker cache first when it has one; the second route's cache
 * (the pool's single-block spans) is tried the same way, one call further.
 *
 * Counters are plain numbers of this object on the hot path (a private
 * array of pending counts), added into this worker's counter store in the
 * memory on every read ({@linkcode Router.counters}, {@linkcode
 * Router.health}), on every slow event (a fallback, a failure, an aligned
 * allocation) and at least every 4096 counts of one kind (`MERGE_EVERY`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * const heap = createHeap();
 * const ptr = heap.router.alloc(100);
 * heap.router.free(ptr);
 * assert.equal(heap.router.counters().totalRoutes, 1);
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
  // One call site per route for the first three routes (alloc), and per backend for the first three backends (free):
  // each site sees one backend class.
  private readonly route0Backend: Backend;
  private readonly route0Index: number; // route 0's backend's index in `backends`
  // Route 0's cache path, built once: its largest size and its backend's page kind when the backend has a per-worker
  // cache (popCached, pushCached); -1 when it has none, so that the hot tests never pass and no flag is read.
  private readonly route0CacheMax: number;
  private readonly route0CacheKind: number;
  // Route 1's cache path, built the same way when its backend (another than route 0's) has a per-worker cache: its
  // sizes and its backend's page kind; -1 when it has none.
  private readonly route1CacheMin: number;
  private readonly route1CacheMax: number;
  private readonly route1CacheKind: number;
  private readonly route1Index: number;
  private readonly route1Backend: Backend;
  private readonly route2Backend: Backend;
  private readonly backend0: Backend;
  private readonly backend1: Backend;
  private readonly backend2: Backend;
  // Counters: `pending` counts on the hot path; `store` (this worker's words in the memory, or a private array)
  // holds what was merged. Both have the layout of FALLBACK_TRIES, FAILURES, DECISIONS.
  private readonly counterOffset: number;
  private readonly pending: Float64Array;
  private readonly freesAt: number; // index in the store of backend 0's frees
  private store!: Float64Array;
  private readonly realm: Set<WeakRef<Router>>;
  private readonly self: WeakRef<Router>;
  // Logging.
  private verbose = false;
  /** A count from which a call takes its out-of-line tail: MERGE_EVERY, or 0 while logging (every call). */
  private slowAt = MERGE_EVERY;
  // The cached routes' countdowns: route 0's decisions and its backend's cached frees pending are
  // `countStart - allocLeft0` and `countStart - freeLeft0` (one field each on the hot path, no array), route 1's
  // likewise; folded into `pending` when one runs out.
  private countStart = MERGE_EVERY;
  private allocLeft0 = MERGE_EVERY;
  private freeLeft0 = MERGE_EVERY;
  private allocLeft1 = MERGE_EVERY;
  private freeLeft1 = MERGE_EVERY;
  private sink: DecisionSink | undefined;
  private readonly ring: Float64Array;
  private readonly ringSites: Array<string | undefined>;
  private ringNext = 0;
  private ringCount = 0;

  /** Validates the backends (unique names, page kinds 2..7) and the routing table, throwing INVALID_ROUTE for a bad one, then builds the tables the hot path reads. */
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
    // Past the end of a short table these repeat a real backend: never called (the switch only reaches real indexes).
    this.route0Backend = this.routeBackend[0];
    this.route0Index = this.routeBackendIndex[0];
    const cached = typeof this.route0Backend.popCached === "function" && typeof this.route0Backend.pushCached === "function";
    this.route0CacheMax = cached ? Math.min(routes[0].max, DIRECT_LIMIT) : -1;
    this.route0CacheKind = cached ? config.backends[this.route0Index].kind : -1;
    this.route1Backend = this.routeBackend[Math.min(1, routes.length - 1)];
    this.route1Index = this.routeBackendIndex[Math.min(1, routes.length - 1)];
    const cached1 = routes.length > 1 && this.route1Index !== this.route0Index &&
      typeof this.route1Backend.popCached === "function" && typeof this.route1Backend.pushCached === "function";
    this.route1CacheMin = cached1 ? routes[1].min : 1;
    this.route1CacheMax = cached1 ? routes[1].max : -1;
    this.route1CacheKind = cached1 ? config.backends[this.route1Index].kind : -1;
    this.route2Backend = this.routeBackend[Math.min(2, routes.length - 1)];
    this.backend0 = this.backends[0];
    this.backend1 = this.backends[Math.min(1, this.backends.length - 1)];
    this.backend2 = this.backends[Math.min(2, this.backends.length - 1)];
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
    this.pending = new Float64Array(Router.counterBytes(routes.length, this.backends.length) / 8);
    this.freesAt = DECISIONS + routes.length;
    this.bindCounters();
    if (this.counterOffset >= 0) this.pages.mem.onRefresh(() => this.bindCounters());
    const source = this.pages.mem.source;
    let realm = ROUTERS_BY_MEMORY.get(source);
    if (realm === undefined) ROUTERS_BY_MEMORY.set(source, realm = new Set());
    this.realm = realm;
    this.self = new WeakRef(this);
    realm.add(this.self);
    const ringSize = config.ringSize ?? 256;
    this.ring = new Float64Array(ringSize * RING_FIELDS);
    this.ringSites = new Array(ringSize);
  }

  /** Bytes of counters a router with these routes and backends keeps. */
  static counterBytes(routes: number, backends: number): number {
    return (2 + routes + 3 * backends) * 8;
  }

  /** (Re)builds the counter store's view (after the memory's views changed). */
  private bindCounters(): void {
    const words = this.pending.length;
    if (this.counterOffset < 0) {
      this.store ??= new Float64Array(words);
      return;
    }
    if (this.counterOffset + words * 8 > this.pages.mem.limit) this.pages.mem.refresh(true);
    this.store = new Float64Array(this.pages.mem.currentBuffer, this.counterOffset, words);
  }

  /**
   * Adds the pending counts into the store (this worker's counter words in
   * the memory), where every worker reads them. Run on reads, slow events
   * and every `MERGE_EVERY` (4096) counts of one kind.
   */
  mergeCounters(): void {
    this.foldCountdowns();
    // A WebAssembly.Memory grown behind our back detached the store's view: rebuild it first, or the counts are lost.
    if (this.store.length === 0) this.pages.mem.refresh(true);
    const pending = this.pending;
    const store = this.store;
    for (let i = 0; i < pending.length; i++) {
      if (pending[i] !== 0) {
        store[i] += pending[i];
        pending[i] = 0;
      }
    }
  }

  /** Merges the pending counts of every router of this realm over the same memory (this one included). */
  private mergeRealm(): void {
    for (const ref of this.realm) {
      const router = ref.deref();
      if (router === undefined) this.realm.delete(ref);
      else router.mergeCounters();
    }
  }

  /** @internal Counter store offsets of the live routers of this thread over this memory (their counts are exact at a read). */
  threadCounterOffsets(): Set<number> {
    const offsets = new Set<number>();
    for (const ref of this.realm) {
      const router = ref.deref();
      if (router !== undefined) offsets.add(router.counterOffset);
    }
    return offsets;
  }

  /** @internal This worker leaves (the heap's detach): its counts go into the memory, and reads of the realm stop looking at it. */
  retire(): void {
    this.mergeCounters();
    this.realm.delete(this.self);
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
   * Allocates `size` bytes (a non-negative integer below 2^32) from the
   * routed backend, falling back along its chain when it returns 0. Returns
   * 0 when every backend refused. `site` names the caller in the decision log.
   */
  alloc(size: number, site?: string): number {
    if (size <= this.route0CacheMax) {
      // Route 0 (the smallest sizes, most calls) inline, its cache first: a hit is the whole call, counted by one
      // countdown (its decisions are `countStart - allocLeft0` pending). A miss, a due merge or logging: the tail.
      const ptr = this.route0Backend.popCached!(size);
      const left = this.allocLeft0 - 1;
      this.allocLeft0 = left;
      if (ptr !== 0 && left > 0) return ptr;
      return this.allocTail0(size, ptr, site);
    }
    return this.allocRoute(size, site);
  }

  /** Route 1 past its cache hit, as {@linkcode Router.allocTail0} for route 0. */
  private allocTail1(size: number, ptr: number, site: string | undefined): number {
    if (ptr === 0) {
      this.pages.adoptIfDetached(); // a WebAssembly.Memory grown behind our back reads as an empty cache
      ptr = this.route1Backend.alloc(size);
      if (ptr === 0) return this.allocTail(1, size, 0, 0, site); // the fallback chain merges the counts
    }
    if (this.allocLeft1 <= 0) this.countdownRanOut();
    if (this.verbose) this.log(0, size, 1, ptr, site);
    return ptr;
  }

  /** Route 0 past its cache hit: the backend's alloc on a miss (its slabs), the fallback chain, a due merge, the log. */
  private allocTail0(size: number, ptr: number, site: string | undefined): number {
    if (ptr === 0) {
      this.pages.adoptIfDetached(); // a WebAssembly.Memory grown behind our back reads as an empty cache
      ptr = this.route0Backend.alloc(size);
      if (ptr === 0) return this.allocTail(0, size, 0, 0, site); // the fallback chain merges the counts
    }
    if (this.allocLeft0 <= 0) this.countdownRanOut();
    if (this.verbose) this.log(0, size, 0, ptr, site);
    return ptr;
  }

  /**
   * Any route but a cached route 0: route 1's cache the same way when its backend has one (the pool's single-block
   * spans), else the routed backend from its own call site, counted in `pending`.
   */
  private allocRoute(size: number, site: string | undefined): number {
    if (size <= this.route1CacheMax && size >= this.route1CacheMin) {
      const ptr = this.route1Backend.popCached!(size);
      const left = this.allocLeft1 - 1;
      this.allocLeft1 = left;
      if (ptr !== 0 && left > 0) return ptr;
      return this.allocTail1(size, ptr, site);
    }
    const route = size <= DIRECT_LIMIT ? this.direct[size] : this.routeOf(size);
    this.pages.adoptIfDetached(); // a WebAssembly.Memory grown behind our back: new views before a backend reads them
    const ptr = this.allocOther(route, size);
    const count = this.pending[DECISIONS + route] + 1;
    this.pending[DECISIONS + route] = count;
    return ptr === 0 || count >= this.slowAt ? this.allocTail(route, size, ptr, count, site) : ptr;
  }

  /**
   * The rare end of an allocation, out of line: the routed backend returned 0 (the fallback chain), a counter is
   * due to merge, or logging is on (`slowAt` is 0 then, so every call comes here: the same path plus the log).
   */
  private allocTail(route: number, size: number, ptr: number, count: number, site: string | undefined): number {
    if (ptr === 0) ptr = this.fallback(route, size, 0);
    if (count >= MERGE_EVERY) this.mergeCounters();
    if (this.verbose) this.log(0, size, route, ptr, site);
    return ptr;
  }

  /**
   * Moves the cached routes' countdowns (their decisions, and their backends' cached frees) into `pending` and starts
   * them again: at `MERGE_EVERY`, or at 1 while logging, so that every call takes its tail.
   */
  private foldCountdowns(): void {
    const pending = this.pending;
    const start = this.countStart;
    pending[DECISIONS] += start - this.allocLeft0;
    pending[this.freesAt + this.route0Index] += start - this.freeLeft0;
    if (this.route1CacheKind >= 0) {
      pending[DECISIONS + 1] += start - this.allocLeft1;
      pending[this.freesAt + this.route1Index] += start - this.freeLeft1;
    }
    this.countStart =
      this.allocLeft0 =
      this.freeLeft0 =
      this.allocLeft1 =
      this.freeLeft1 =
        this.verbose ? 1 : MERGE_EVERY;
  }

  /** A countdown of a cached route ran out (every MERGE_EVERY calls; every call while logging): folded, merged when due. */
  private countdownRanOut(): void {
    this.foldCountdowns();
    const pending = this.pending;
    if (
      pending[DECISIONS] >= MERGE_EVERY || pending[this.freesAt + this.route0Index] >= MERGE_EVERY ||
      pending[DECISIONS + 1] >= MERGE_EVERY || pending[this.freesAt + this.route1Index] >= MERGE_EVERY
    ) this.mergeCounters();
  }

  /** The routed backend's alloc, each of the first three routes from its own call site. */
  private allocOther(route: number, size: number): number {
    switch (route) {
      case 0:
        return this.route0Backend.alloc(size);
      case 1:
        return this.route1Backend.alloc(size);
      case 2:
        return this.route2Backend.alloc(size);
      default:
        return this.routeBackend[route].alloc(size);
    }
  }

  /** Like {@linkcode Router.alloc} but the block is aligned to `alignment` (a power of two up to a page). */
  allocAligned(size: number, alignment: number, site?: string): number {
    const route = this.routeOf(size);
    this.pending[DECISIONS + route]++;
    const backend = this.routeBackend[route];
    let ptr = backend.capabilities.alignedAlloc && backend.allocAligned ? backend.allocAligned(size, alignment) : 0;
    if (ptr === 0) ptr = this.fallback(route, size, alignment);
    this.mergeCounters();
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
    const count = this.pending[DECISIONS + route] + 1;
    this.pending[DECISIONS + route] = count;
    let ptr = backend.allocZeroed(size);
    if (ptr === 0) {
      ptr = this.fallback(route, size, 0);
      if (ptr !== 0) this.pages.mem.u8.fill(0, ptr, ptr + size);
    }
    if (count >= MERGE_EVERY) this.mergeCounters();
    if (this.verbose) this.log(0, size, route, ptr, site);
    return ptr;
  }

  /** The routed backend returned 0: its fallback chain in order, each try counted. Merges the counts (a rare event). */
  private fallback(route: number, size: number, alignment: number): number {
    const pending = this.pending;
    const backends = this.backends.length;
    const primary = this.routeBackendIndex[route];
    pending[this.freesAt + backends + primary]++; // primary failures
    const chain = this.fallbackChains[primary];
    // An aligned request the routed backend cannot align at all goes on to the first that can: no fallback tried yet.
    let redirected = alignment !== 0 && !this.backends[primary].capabilities.alignedAlloc;
    let ptr = 0;
    for (let i = 0; i < chain.length && ptr === 0; i++) {
      const index = chain[i];
      const backend = this.backends[index];
      if (size > backend.capabilities.maxSize || (alignment !== 0 && !backend.capabilities.alignedAlloc)) continue;
      if (redirected) redirected = false;
      else pending[FALLBACK_TRIES]++;
      if (alignment === 0) ptr = backend.alloc(size);
      else ptr = backend.capabilities.alignedAlloc && backend.allocAligned ? backend.allocAligned(size, alignment) : 0;
      if (ptr !== 0) pending[this.freesAt + 2 * backends + index]++; // fallbacks served
    }
    if (ptr === 0) pending[FAILURES]++;
    this.mergeCounters();
    return ptr;
  }

  /**
   * Counts an allocation of `size` bytes refused before any backend was
   * asked (larger than the memory may ever hold) as its route's decision
   * that failed, as a failure of every backend would be counted. Returns 0.
   */
  refuse(size: number, site?: string): number {
    const route = this.routeOf(size);
    const pending = this.pending;
    pending[DECISIONS + route]++;
    pending[this.freesAt + this.backends.length + this.routeBackendIndex[route]]++; // primary failures
    pending[FAILURES]++;
    this.mergeCounters();
    if (this.verbose) this.log(0, size, route, 0, site);
    return 0;
  }

  /**
   * The backend index owning the block at `ptr` (inside the memory), or -1.
   */
  ownerIndex(ptr: number): number {
    return this.kindToBackend[this.pages.ownerOf(ptr) & KIND_MASK];
  }

  /**
   * Frees `ptr` (inside the memory) into the backend whose pages hold it.
   * Throws `DOUBLE_FREE` when its page is free but was handed out before
   * (the block was freed already), `INVALID_POINTER` when no backend owns
   * the page otherwise; the backend throws for a block it does not hold.
   * Nothing is counted for a refused free.
   */
  free(ptr: number): void {
    const entry = this.pages.ownerOf(ptr);
    // Route 0's cache inline; a block it refuses (full, another worker's, anything odd) goes on to the backend's free.
    if ((entry & Kind.mask) === this.route0CacheKind && this.route0Backend.pushCached!(ptr, entry)) {
      const left = this.freeLeft0 - 1;
      this.freeLeft0 = left;
      if (left <= 0) this.freeTail0(ptr);
      return;
    }
    this.freeRoute(ptr, entry);
  }

  /** Any free but a cache hit of route 0's backend: route 1's cache, else the owner's free. */
  private freeRoute(ptr: number, entry: number): void {
    if ((entry & Kind.mask) === this.route1CacheKind && this.route1Backend.pushCached!(ptr, entry)) {
      const left = this.freeLeft1 - 1;
      this.freeLeft1 = left;
      if (left <= 0) this.freeTail1(ptr);
      return;
    }
    this.freeOwner(ptr, entry);
  }

  /** Route 1's backend's cached-free countdown ran out: a merge is due, or logging is on. */
  private freeTail1(ptr: number): void {
    this.countdownRanOut();
    if (this.verbose) this.log(1, 0, -1 - this.route1Index, ptr, undefined);
  }

  /** Any free but a cache hit: the backend owning the page. A detached view (a WebAssembly.Memory grown behind our back) reads undefined: kind 0, no backend, refreshed. */
  private freeOwner(ptr: number, entry: number): void {
    const index = this.kindToBackend[entry & KIND_MASK];
    if (index === this.route0Index) {
      this.route0Backend.free(ptr, entry);
      const left = this.freeLeft0 - 1;
      this.freeLeft0 = left;
      if (left <= 0) this.freeTail0(ptr);
      return;
    }
    if (index >= 0) this.freeOther(index, ptr, entry);
    else return this.freeUnowned(ptr);
    const count = this.pending[this.freesAt + index] + 1;
    this.pending[this.freesAt + index] = count;
    if (count >= this.slowAt) this.freeTail(index, ptr, count);
  }

  /** Route 0's backend's free countdown ran out: a merge is due, or logging is on. */
  private freeTail0(ptr: number): void {
    this.countdownRanOut();
    if (this.verbose) this.log(1, 0, -1 - this.route0Index, ptr, undefined);
  }

  /** The rare end of a free, out of line: a counter due to merge, or logging on. */
  private freeTail(index: number, ptr: number, count: number): void {
    if (count >= MERGE_EVERY) this.mergeCounters();
    if (this.verbose) this.log(1, 0, -1 - index, ptr, undefined);
  }

  /** Free into a backend other than the first route's: one call site per backend for the first three. */
  private freeOther(index: number, ptr: number, entry: number): void {
    switch (index) {
      case 0:
        return this.backend0.free(ptr, entry);
      case 1:
        return this.backend1.free(ptr, entry);
      case 2:
        return this.backend2.free(ptr, entry);
      default:
        return this.backends[index].free(ptr, entry);
    }
  }

  /** No backend owns `ptr`'s page: the views may be short (memory grown elsewhere); look again once, else refuse. */
  private freeUnowned(ptr: number): void {
    if (this.pages.mem.refresh(true)) return this.free(ptr);
    throw this.unownedFree(ptr);
  }

  /** The error for freeing `ptr` where no backend owns the page (off the hot path). */
  private unownedFree(ptr: number): HakmemError {
    if (!this.pages.headerIntact()) return this.pages.damagedHeader(); // a zeroed page map owns nothing: not the pointer's fault
    const page = ptr >>> PAGE_SHIFT;
    if (this.pages.ownerOf(ptr) === 0 && page < this.pages.top && !this.pages.isClean(page, 1)) {
      return new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} lies in free pages: freed already (a double free)`, ptr);
    }
    if (page >= this.pages.top && page < this.pages.top + this.pages.reservePages) {
      return new HakmemError(
        "DOUBLE_FREE",
        `block ${describe(ptr)} lies in pages the heap gave back at trim(): freed already (a double free)`,
        ptr,
      );
    }
    return foreignPointer(ptr);
  }

  /**
   * Whether the live block at `ptr` (`usable` bytes) can serve as `size`
   * bytes where it is: it stays with the backend `size` routes to and either
   * fits wasting under half, or that backend resized it in place. False
   * changes nothing (the caller moves the block).
   */
  resizeInPlace(ptr: number, usable: number, size: number): boolean {
    const owner = this.ownerIndex(ptr);
    if (owner !== this.routeBackendIndex[this.routeOf(size)]) return false;
    if (size <= usable && size > usable >>> 1) return true;
    const backend = this.backends[owner];
    return backend.resizeInPlace !== undefined && backend.resizeInPlace(ptr, size);
  }

  /** Usable bytes of the block at `ptr`. */
  usableSize(ptr: number): number {
    const index = this.ownerIndex(ptr);
    if (index < 0) throw this.pages.headerIntact() ? foreignPointer(ptr) : this.pages.damagedHeader();
    return this.backends[index].usableSize(ptr);
  }

  // ---- logging ----------------------------------------------------------------

  /** Turns logging of every decision on or off. Off costs one branch per call; on, the same path plus the ring and the sink. */
  setVerbose(on: boolean): void {
    this.verbose = on;
    this.slowAt = on ? 0 : MERGE_EVERY;
    this.foldCountdowns(); // and starts them again at this mode's length
  }

  /** True while decisions are logged. */
  get isVerbose(): boolean {
    return this.verbose;
  }

  /** Sets (or, with undefined, removes) the sink that receives each decision while logging. */
  setSink(sink: DecisionSink | undefined): void {
    this.sink = sink;
  }

  /** Records one decision in the ring and hands it to the sink; called only when verbose, so the quiet path pays one branch. */
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

  /** The decision in ring slot `slot` as an object: objects are made only when someone reads the ring. */
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
   * memory), their counts are added: the totals of every worker. Exact for
   * this worker and every heap object of this thread over the same memory
   * (their pending counts are merged first); another thread's worker's counts
   * are as of its last merge, at most 4096 counts of one
   * kind behind (all of them once it detaches).
   */
  counters(others: number[] = []): RouterCounters {
    this.pages.mem.refresh(); // other workers' counters may lie in memory they grew
    this.mergeRealm();
    const words = this.store.length;
    const sum = Float64Array.from(this.store);
    for (const offset of others) {
      if (offset === this.counterOffset) continue;
      const store = new Float64Array(this.pages.mem.currentBuffer, offset, words);
      for (let i = 0; i < words; i++) sum[i] += store[i];
    }
    const b = this.backends.length;
    const at = this.freesAt;
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
      ready: this.pages.headerIntact() && backends.every((entry) => entry.ready),
      backends,
      totalRoutes: counters.totalRoutes,
      routeFailures: counters.routeFailures,
      fallbackCount: counters.fallbackCount,
    };
  }

  /**
   * @internal The heap's reclaim: a worker terminated without detaching took its pending counts with it.
   * Given every slot's counter store (`others`), the dead worker's (`lost`)
   * among them, and each backend's live blocks (exact: they are read from the
   * memory), books the difference into the dead worker's store, so that the
   * routed allocs minus frees match the live blocks again. Only exact while no
   * other worker of another thread is running (their own pending counts would
   * be booked too), so the heap calls it only when it is the last attached.
   */
  bookLostCounts(lost: number, live: number[], others: number[]): void {
    const counters = this.counters(others);
    const store = new Float64Array(this.pages.mem.currentBuffer, lost, this.pending.length);
    this.backends.forEach((backend, index) => {
      const name = backend.capabilities.name;
      const missing = live[index] - (counters.allocs[name] - counters.frees[name]);
      if (missing < 0) store[this.freesAt + index] -= missing; // frees it made and never merged
      else if (missing > 0) {
        // Allocations it made and never merged: as decisions of the backend's first route, else as fallbacks it served.
        const route = this.routeBackendIndex.indexOf(index);
        if (route >= 0) store[DECISIONS + route] += missing;
        else store[this.freesAt + 2 * this.backends.length + index] += missing;
      }
    });
  }

  /** Sets every counter of this worker back to zero. */
  resetCounters(): void {
    this.mergeCounters(); // rebinds a detached store first
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
 * import assert from "node:assert/strict";
 * import { foreignPointer } from "./router.ts";
 * assert.equal(foreignPointer(123).code, "INVALID_POINTER");
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
