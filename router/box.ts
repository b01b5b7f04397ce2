/**
 * The Box API: the one contract every backend follows, declared once.
 *
 * A backend hands out blocks of a size range from pages it takes from the
 * page heap, marks those pages with its kind in the page map, and answers for
 * every pointer in them. The router reads its {@linkcode Capabilities} when it
 * is built and never routes a size the backend cannot serve.
 *
 * Rules every backend keeps (the conformance suite in `./testing` checks them):
 * - `alloc(size)` returns an offset aligned to `capabilities.alignment` with at
 *   least `size` usable bytes, or 0 when it has no memory. It never throws for
 *   exhaustion.
 * - `free(ptr)` is O(1); a pointer it does not own, an interior pointer or a
 *   detectable double free throws a `HakmemError` and changes nothing.
 * - `usableSize(ptr)` is at least the size asked for; `owns(ptr)` is true for
 *   the start of any block in its pages and false for every other address.
 * - `trim()` returns cached and empty memory to the page heap and says how
 *   many bytes; `check()` verifies invariants and changes nothing.
 * @module
 */

import type { LinearMemory } from "../memory/linear_memory.ts";
import type { CheckProblem, PageHeap } from "../memory/page_heap.ts";
import type { RecordArena } from "../memory/records.ts";

export type { CheckProblem } from "../memory/page_heap.ts";

/** What a backend can do, as data the router reads when it is built. */
export interface Capabilities {
  /** The backend's name in routes, fallbacks, counters and reports (the one name the router knows it by). */
  readonly name: string;
  /** Smallest size it serves exactly; smaller requests are rounded up to it. */
  readonly minSize: number;
  /** Largest size it can serve. */
  readonly maxSize: number;
  /** Every block it returns is aligned to this (a power of two). */
  readonly alignment: number;
  /** True when several workers may call it on one shared memory at once. */
  readonly sharedMemorySafe: boolean;
  /** True when `alignedAlloc` may ask it for alignments above `alignment` (up to a page). */
  readonly alignedAlloc: boolean;
}

/** A backend's readiness and counters, as data to print or serve. */
export interface BackendHealth {
  /** The backend's name. */
  name: string;
  /** True when it can serve allocations. */
  ready: boolean;
  /** Why it is not ready (or what degrades it), when it is not. */
  reason?: string;
  /** Its event counters, by name. */
  counters: Record<string, number>;
}

/** A backend's gauges: what it holds now. */
export interface BackendStats {
  /** The backend's name. */
  name: string;
  /** Blocks handed out and not yet freed. */
  liveBlocks: number;
  /** Usable bytes of those blocks. */
  liveBytes: number;
  /** Bytes of pages it holds from the page heap (blocks, free space, caches). */
  footprintBytes: number;
  /** Bytes of free blocks it keeps cached or listed for reuse. */
  cachedBytes: number;
  /** Further gauges particular to the backend. */
  detail: Record<string, number>;
}

/** How thorough a check is: `cheap` reads counters, `full` walks every list. */
export type CheckLevel = "cheap" | "full";

/** The contract every backend follows. */
export interface Backend {
  /** What it can do; read once by the router. */
  readonly capabilities: Capabilities;
  /** A block of at least `size` bytes, or 0 when it has no memory. */
  alloc(size: number): number;
  /** A block aligned to `alignment` (a power of two up to a page), or 0. Only when `capabilities.alignedAlloc`. */
  allocAligned?(size: number, alignment: number): number;
  /** A zeroed block, when the backend can skip clearing never-written memory. */
  allocZeroed?(size: number): number;
  /** Grows or shrinks the block in place to `size`; false when it cannot (nothing changed). */
  resizeInPlace?(ptr: number, size: number): boolean;
  /**
   * Gives the block back. Throws a HakmemError for a pointer it cannot free.
   * The router passes `pageEntry`, the page-map entry of `ptr`'s page it has
   * already read, so the backend need not read it again; a direct caller may
   * leave it out.
   */
  free(ptr: number, pageEntry?: number): void;
  /**
   * Optional per-worker cache, read only: a cached free block of at least
   * `size` bytes (an integer within the backend's range), or 0 when there is
   * none or the cache is off. Touches no slab and no other worker's state.
   * `alloc` serves from the same cache, so a caller may call either.
   */
  popCached?(size: number): number;
  /**
   * Optional per-worker cache: takes the live block at `ptr` (page-map entry
   * `pageEntry`, of this backend's kind) into this worker's cache and returns
   * true, or returns false changing nothing (cache full or off, another
   * worker's block, anything that needs `free`'s checks). `free` caches too.
   */
  pushCached?(ptr: number, pageEntry: number): boolean;
  /** True when `ptr` is the start of a block in this backend's pages. */
  owns(ptr: number): boolean;
  /** Usable bytes of the block at `ptr` (at least the size asked for). */
  usableSize(ptr: number): number;
  /** Readiness and counters. */
  health(): BackendHealth;
  /** What it holds now. */
  stats(): BackendStats;
  /** Releases cached and empty memory; returns the bytes given back to the page heap. */
  trim(): number;
  /** Appends every broken invariant to `problems`; changes nothing. */
  check(level: CheckLevel, problems: CheckProblem[]): void;
  /** This worker leaves: hand back its caches and whatever it owns, for others to adopt. */
  detach?(): void;
  /** Worker `workerId` was terminated without detaching: take back what it held. */
  reclaim?(workerId: number): void;
  /**
   * What its pages hold, for the heap picture (`renderHeapSvg`), which draws a
   * backend without it as plain page runs. Reads only; changes nothing.
   */
  describe?(): MemoryDescription;
}

/** Everything a backend is built from: the memory and its shared services. */
export interface BackendContext {
  /** The memory and its views. */
  readonly mem: LinearMemory;
  /** Page runs and the page map. */
  readonly pages: PageHeap;
  /** Fixed 64-byte metadata records. */
  readonly records: RecordArena;
  /** The page kind (2..7) this backend marks its pages with. */
  readonly kind: number;
  /** First header word of the shared state area this backend kind owns. */
  readonly areaWord: number;
  /** This worker's id (0 for the thread that created the heap). */
  readonly workerId: number;
  /** True when the heap was just created (format the area), false when attaching. */
  readonly fresh: boolean;
  /** Debug mode: the backend keeps full double-free detection. */
  readonly debug: boolean;
}

/**
 * Builds one backend over a context; listed in a registry by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { mmapBackend } from "../backends/mmap/mod.ts";
 * import type { BackendContext, BackendFactory } from "./box.ts";
 * // A factory of one's own: here it wraps mmap's and counts the backends it built.
 * let built = 0;
 * const counted: BackendFactory = {
 *   name: "mmap",
 *   create: (context: BackendContext) => {
 *     built++;
 *     return mmapBackend.create(context);
 *   },
 * };
 * const heap = createHeap({ backends: [counted] });
 * assert.equal(built, 1);
 * assert.deepEqual(heap.router.routes, [{ min: 1, max: Infinity, backend: "mmap" }]);
 * ```
 */
export interface BackendFactory {
  /**
   * The name of the backend it builds, the same as that backend's
   * `capabilities.name`; read before the backend exists, to give the
   * built-in names (tiny, pool, mmap) their fixed page kinds.
   */
  readonly name: string;
  /** Builds the backend. */
  create(context: BackendContext): Backend;
}

/**
 * The small contract of tiny's slab sources (shared_pool, legacy): hand out
 * a slab for a size class, take back an empty one. Slabs are records laid
 * out as in `backends/slab/slab.ts`.
 */
export interface SlabSource {
  /** The source's name ("shared_pool", "legacy"). */
  readonly name: string;
  /**
   * A slab assigned to class `cls` and owned by `owner` (worker id + 1), in
   * state CURRENT; its record's byte offset, or 0 when the source has none.
   */
  acquire(cls: number, owner: number): number;
  /** Takes back a slab of this source whose blocks are all free. */
  release(slab: number): void;
  /** Readiness and counters. */
  health(): BackendHealth;
  /** Gauges: SuperSlabs held, slabs by state. */
  stats(): Record<string, number>;
  /** Returns cached empty SuperSlabs to the page heap; the bytes released. */
  trim(): number;
  /** Appends broken invariants of its lists to `problems`; changes nothing. */
  check(problems: CheckProblem[]): void;
}

/**
 * A backend's memory as the heap picture draws it: its regions (a slab, a
 * span, a block of its own), each with its size class and how full it is.
 * The backend keeps its record layout to itself and says what it means here.
 */
export interface MemoryDescription {
  /**
   * "classes": each region holds blocks of one size class (coloured by class,
   * filled as far as blocks are in use); "blocks": each region is one block.
   */
  readonly style: "classes" | "blocks";
  /** What one region is called ("slab", "span", "block"). */
  readonly regionNoun: string;
  /** Block size of each size class, smallest first; a region's `sizeClass` indexes it. Empty for "blocks". */
  readonly classSizes: ArrayLike<number>;
  /** What a group of regions is called ("SuperSlab"), when its regions come in groups; the picture draws a row per group. */
  readonly groupNoun?: string;
  /** The groups, in address order; a region's `group` indexes it. */
  readonly groups?: readonly RegionGroup[];
  /** Every region of its pages, in address order. */
  readonly regions: readonly RegionDescription[];
}

/** A group of regions (tiny's SuperSlab): where it starts and a word on where it came from. */
export interface RegionGroup {
  /** Byte offset of its first page. */
  readonly base: number;
  /** A few words drawn beside it ("shared pool", "legacy 112 B"). */
  readonly label: string;
}

/** One region of a backend's pages. */
export interface RegionDescription {
  /** Byte offset of its first page. */
  readonly base: number;
  /** Its length in pages. */
  readonly pages: number;
  /** Its size class (an index into `classSizes`), or -1 when it has none (an empty or never-used slab; a block). */
  readonly sizeClass: number;
  /** Blocks in use (handed out, or cached by a worker). */
  readonly used: number;
  /** Blocks it holds in all. */
  readonly capacity: number;
  /** Its state in a word or two ("current", "partial", "empty", "never used"). */
  readonly state: string;
  /** True when a worker allocates from it now (drawn outlined). */
  readonly current?: boolean;
  /** Its group (an index into `groups`), when its backend groups regions. */
  readonly group?: number;
}
