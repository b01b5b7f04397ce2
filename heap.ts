/**
 * The Heap: C's allocation functions over linear memory, on top of the
 * router. Owns input validation, C semantics (calloc overflow, realloc of 0),
 * typed views, and the heap-wide reports (stats, health, check, trim).
 * @module
 */

import { checkSize, describe, HakmemError } from "./errors.ts";
import {
  backendAreaWord,
  H_BASE_PAGE,
  H_FLAGS,
  H_HEADER_PAGES,
  H_MAGIC,
  H_MAX_PAGES,
  H_MEMORY_KIND,
  H_PAGE_SHIFT,
  H_POOL_MAX,
  H_ROUTING,
  H_TINY_MAX,
  H_TOP_PAGE,
  H_VERSION,
  H_WORKER_LOCK,
  HEADER_PAGES,
  HEAP_FLAG_DEBUG,
  LAYOUT_VERSION,
  MAGIC,
  MAX_MEMORY_BYTES,
  MAX_WORKERS,
  PAGE_SHIFT,
  PAGE_SIZE,
  PageKind,
  W_ATTACHED_AT,
  W_COUNTERS,
  W_GENERATION,
  W_STATE,
  WORKER_ATTACHED,
  WORKER_FREE,
  WORKER_SLOT_WORDS,
  WORKER_TABLE_WORD,
} from "./memory/layout.ts";
import { defaultMemory, LinearMemory, MemoryKind, type MemorySource, roundToPages } from "./memory/linear_memory.ts";
import { type CheckProblem, PageHeap, type PageHeapStats } from "./memory/page_heap.ts";
import { RecordArena } from "./memory/records.ts";
import { type HeapOptions, OPTION_TABLE, type ResolvedOptions, resolveOptions } from "./options.ts";
import type { Backend, BackendFactory, BackendStats, CheckLevel } from "./router/box.ts";
import { foreignPointer, type Route, Router, type RouterCounters, type RouterHealth } from "./router/router.ts";
import { builtinBackends, defaultFallbacks, defaultRoutes } from "./backends/registry.ts";
import { type HeapSvgOptions, renderHeapSvg } from "./inspect.ts";
import { type DebugLayer, installDebugLayer } from "./debug.ts";

/**
 * Everything {@linkcode createHeap} accepts: the options, and what to build the heap from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
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
   * `__heap_base` (see `createWasmHeap` in wasm.ts), so its data and stack
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

/**
 * Heap-wide gauges. Footprint counts every page the heap holds, metadata included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * const heap = createHeap();
 * heap.malloc(1000);
 * const stats = heap.stats();
 * assert.equal(stats.liveBlocks, 1);
 * assert.equal(stats.liveBytes, 1024);
 * assert.ok(stats.footprintBytes >= stats.liveBytes);
 * ```
 */
export interface HeapStats {
  /** Bytes of the memory (what the engine gave). */
  memoryBytes: number;
  /** Bytes of pages in use: blocks, slabs, caches and metadata. */
  footprintBytes: number;
  /** Most bytes of pages in use at once. */
  peakFootprintBytes: number;
  /** Usable bytes of live blocks. */
  liveBytes: number;
  /** Live blocks. */
  liveBlocks: number;
  /** Bytes of heap metadata (header, page map, records). */
  metadataBytes: number;
  /** Bytes of free pages inside the memory. */
  freeBytes: number;
  /** Footprint per live byte (1 is perfect; Infinity when nothing is live). */
  overhead: number;
  /** Each backend's gauges. */
  backends: BackendStats[];
  /** The page heap's gauges. */
  pageHeap: PageHeapStats;
}

/**
 * What the heap's health check reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * const health = createHeap().health();
 * assert.ok(health.ready);
 * assert.deepEqual(health.backends.map((backend) => backend.name), ["tiny", "pool", "mmap"]);
 * ```
 */
export interface HeapHealth extends RouterHealth {
  /** This worker's id. */
  workerId: number;
  /** Ids of the workers attached now. */
  workers: number[];
  /** Memory kind: "ArrayBuffer", "SharedArrayBuffer" or "WebAssembly.Memory". */
  memory: string;
  /** Bytes of the memory now (a handed-in memory larger than `maxBytes` is used up to `maxBytes` only). */
  memoryBytes: number;
  /**
   * The most bytes the heap may use, in whole pages: the `maxBytes` it was created with, or the memory's own maximum
   * when that is lower (a WebAssembly.Memory's too). An attached heap reports its creator's, or its own when lower.
   */
  maxBytes: number;
}

/**
 * The result of {@linkcode Heap.check}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * const report = createHeap().check("cheap");
 * assert.deepEqual(report, { ok: true, level: "cheap", problems: [] });
 * ```
 */
export interface CheckReport {
  /** True when no invariant is broken. */
  ok: boolean;
  /** The level that ran. */
  level: CheckLevel;
  /** Every broken invariant found. */
  problems: CheckProblem[];
}

/**
 * A typed array constructor a view can be made with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap, type TypedArrayConstructor } from "./mod.ts";
 * const heap = createHeap();
 * function zeroed<T extends ArrayBufferView>(ctor: TypedArrayConstructor<T>, length: number): T {
 *   return heap.typed(ctor, heap.calloc(length, ctor.BYTES_PER_ELEMENT), length);
 * }
 * assert.deepEqual([...zeroed(Uint16Array, 3)], [0, 0, 0]);
 * ```
 */
export type TypedArrayConstructor<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * A typed view of one block that stays correct when the memory grows: read
 * `.array` each time you use it (it is rebuilt only when the buffer changed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 1, maximum: 64 }) });
 * const ptr = heap.malloc(16);
 * const view = heap.view(Float64Array, ptr, 2);
 * heap.free(heap.malloc(1 << 20)); // the memory grows: typed arrays made before are stale now
 * view.array[1] = 2.5; // .array is rebuilt over the new buffer
 * assert.equal(heap.typed(Float64Array, ptr, 2)[1], 2.5);
 * ```
 */
export class BlockView<T extends ArrayBufferView> {
  /** The block's offset. */
  readonly ptr: number;
  /** Elements in the view. */
  readonly length: number;
  private readonly heap: Heap;
  private readonly ctor: TypedArrayConstructor<T>;
  private cached: T;

  /** Builds a view of `length` elements at `ptr`. */
  constructor(heap: Heap, ctor: TypedArrayConstructor<T>, ptr: number, length: number) {
    this.heap = heap;
    this.ctor = ctor;
    this.ptr = ptr;
    this.length = length;
    this.cached = new ctor(heap.buffer, ptr, length);
  }

  /** The view over the current buffer. */
  get array(): T {
    if (this.cached.buffer !== this.heap.buffer || this.cached.byteLength === 0) {
      this.cached = new this.ctor(this.heap.buffer, this.ptr, this.length);
    }
    return this.cached;
  }
}

const MEMORY_NAMES = ["ArrayBuffer", "SharedArrayBuffer", "WebAssembly.Memory"];

/** The constructor every typed array constructor (Uint8Array, Float64Array, ...) extends. */
const TypedArray = Object.getPrototypeOf(Uint8Array);

/**
 * A heap over one linear memory. Pointers are byte offsets into
 * {@linkcode Heap.buffer}; 0 is NULL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "./mod.ts";
 * const heap = createHeap();
 * const ptr = heap.calloc(4, 8);
 * heap.typed(Float64Array, ptr, 4).set([1, 2, 3, 4]);
 * const bigger = heap.realloc(ptr, 4096);
 * assert.equal(heap.typed(Float64Array, bigger, 4)[3], 4);
 * heap.free(bigger);
 * assert.equal(heap.stats().liveBlocks, 0);
 * assert.ok(heap.check().ok);
 * ```
 */
export class Heap {
  /** The resolved options. */
  readonly options: ResolvedOptions;
  /** The router: its table, counters, log and health. */
  readonly router: Router;
  /** This worker's id (0 for the creator). */
  readonly workerId: number;
  /** @internal The memory and its views. */
  readonly mem: LinearMemory;
  /** @internal Page runs and the page map. */
  readonly pages: PageHeap;
  private readonly backendList: Backend[];
  private readonly records: RecordArena;
  /** Debug mode's layer (see debug.ts), when the heap is in debug mode. */
  private readonly debugLayer: DebugLayer | undefined;
  /**
   * A non-shared WebAssembly.Memory (the default too: `wasmImports` hands it to a module): a module's own
   * `memory.grow` detaches our views, so entries look for that.
   */
  private readonly detachable: boolean;

  /** @internal Use {@linkcode createHeap} or {@linkcode attachHeap}. */
  constructor(config: HeapConfig, options: ResolvedOptions, fresh: boolean) {
    this.options = options;
    // Whole pages, at least a header's worth, at most maxBytes.
    const base = heapBase(config.base, options.maxBytes);
    const initialBytes = Math.min(
      roundToPages(Math.max(options.initialBytes, base + PageHeap.startPages(base / PAGE_SIZE, HEADER_PAGES) * PAGE_SIZE)),
      options.maxBytes - options.maxBytes % PAGE_SIZE,
    );
    if (config.memory instanceof ArrayBuffer && isDetached(config.memory)) {
      throw new HakmemError("INVALID_MEMORY", "memory is a detached ArrayBuffer (transferred or given to a worker): it holds no bytes");
    }
    const source = config.memory ?? defaultMemory(initialBytes, options.maxBytes);
    this.mem = new LinearMemory(source, Math.min(options.maxBytes, MAX_MEMORY_BYTES), base);
    this.pages = new PageHeap(this.mem);
    this.detachable = this.mem.kind === MemoryKind.wasm && !this.mem.shared;
    this.plainViews(config.memory === undefined);
    if (fresh) this.format(config.memory !== undefined);
    else verifyHeader(this.mem, this.pages);
    if (!fresh) this.options = options = followRouting(this.mem, config, options);
    if (!fresh && ((this.mem.i32[this.mem.header + H_FLAGS] & HEAP_FLAG_DEBUG) !== 0) !== options.debug) {
      // Debug mode belongs to the heap (its blocks carry guards): an attached heap follows the header.
      this.options = options = { ...options, debug: !options.debug };
    }
    this.workerId = this.claimWorkerSlot();
    this.records = new RecordArena(this.pages);
    const routed: Array<{ backend: Backend; kind: number }> = [];
    try {
      this.router = this.build(config, options, fresh, routed);
    } catch (error) {
      // A heap that could not be built gives its worker slot back, and whatever its backends took.
      for (const { backend } of routed) {
        try {
          backend.detach?.();
        } catch {
          // The first error is the one to report; a backend that cannot detach keeps what it took.
        }
      }
      this.releaseSlot(this.workerId);
      if (!fresh && error instanceof RangeError) {
        // Attaching read an offset out of the heap's bookkeeping that leads outside the memory.
        throw new HakmemError("CORRUPTED", `the heap's bookkeeping is damaged: attaching read past the memory (${error.message})`);
      }
      throw error;
    }
    this.backendList = routed.map((entry) => entry.backend);
    this.router.setVerbose(options.verbose);
    this.debugLayer = options.debug ? installDebugLayer(this) : undefined;
  }

  /** Builds the backends (into `routed`, as they are made) and the router over them. */
  private build(config: HeapConfig, options: ResolvedOptions, fresh: boolean, routed: Array<{ backend: Backend; kind: number }>): Router {
    const counterOffset = this.counterPage();
    const records = this.records;
    const factories = config.backends ?? builtinBackends(options);
    let nextUserKind = PageKind.user1;
    for (const factory of factories) {
      const builtin = Object.hasOwn(BUILTIN_KINDS, factory.name) ? BUILTIN_KINDS[factory.name] : undefined;
      const kind = builtin ?? nextUserKind++;
      const backend: unknown = factory.create({
        mem: this.mem,
        pages: this.pages,
        records,
        kind,
        areaWord: this.mem.header + backendAreaWord(kind),
        workerId: this.workerId,
        fresh,
        debug: options.debug,
      });
      if (!isBackend(backend)) {
        throw new HakmemError(
          "INVALID_OPTION",
          `backend factory ${JSON.stringify(factory.name)} made ${
            describe(backend)
          }, not a backend (capabilities with a name, and the Box API's methods)`,
          backend,
        );
      }
      routed.push({ backend, kind });
    }
    const names = routed.map((entry) => entry.backend.capabilities.name);
    const router = new Router({
      backends: routed,
      routes: config.routes ?? defaultRoutes(options, names),
      fallbacks: config.fallbacks ?? defaultFallbacks(names),
      pages: this.pages,
      ringSize: options.logRing,
      counterOffset,
    });
    // Every worker must route alike: the counters of all are read with one layout, and the reports add them up.
    const routing = routingHash(router, routed);
    if (fresh) {
      this.mem.i32[this.mem.header + H_ROUTING] = routing;
    } else if (this.mem.i32[this.mem.header + H_ROUTING] !== routing) {
      const table = router.routes.map((route) => `${route.min}..${route.max} ${route.backend}`).join(", ");
      throw new HakmemError(
        "INVALID_ROUTE",
        `this heap was created with other backends or routes than attachHeap was given (backends ${names.join(", ")}; routes ${table}): ` +
          "give attachHeap the backends and routes the heap was created with",
      );
    }
    return router;
  }

  /** Takes the lowest free worker slot (slot 0 is the creator's). */
  private claimWorkerSlot(): number {
    const i32 = this.mem.i32;
    this.mem.lock(this.mem.header + H_WORKER_LOCK);
    let id = -1;
    for (let slot = 0; slot < MAX_WORKERS; slot++) {
      const at = this.mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS;
      if (i32[at + W_STATE] === WORKER_FREE) {
        i32[at + W_STATE] = WORKER_ATTACHED;
        i32[at + W_GENERATION]++;
        i32[at + W_ATTACHED_AT] = Math.floor(Date.now() / 1000) & 0x7fffffff;
        id = slot;
        break;
      }
    }
    this.mem.unlock(this.mem.header + H_WORKER_LOCK);
    if (id < 0) throw new HakmemError("WORKER", `all ${MAX_WORKERS} worker slots are taken; detach() or reclaim() one first`);
    return id;
  }

  /** This slot's router counter page (kept across the slot's occupants, so totals survive). */
  private counterPage(): number {
    const word = this.mem.header + WORKER_TABLE_WORD + this.workerId * WORKER_SLOT_WORDS + W_COUNTERS;
    let offset = this.mem.i32[word] >>> 0;
    if (offset === 0) {
      const page = this.pages.allocRun(1, PageKind.metadata, true);
      if (page < 0) throw new HakmemError("INVALID_MEMORY", "no memory left for this worker's counters");
      offset = page * PAGE_SIZE;
      Atomics.store(this.mem.i32, word, offset | 0);
    }
    return offset;
  }

  /** Byte offset of slot `slot`'s router counters (0 when it has none yet). */
  private slotCounterOffset(slot: number): number {
    return Atomics.load(this.mem.i32, this.mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_COUNTERS) >>> 0;
  }

  /**
   * Byte offsets of every slot's router counters. An offset that is no page
   * of the memory (a damaged worker table, which check() reports) is left
   * out, so the reports still answer.
   */
  private counterOffsets(): number[] {
    this.mem.refresh(); // views a WASM module's growth detached, or short of another worker's growth
    const offsets: number[] = [];
    for (let slot = 0; slot < MAX_WORKERS; slot++) {
      const offset = Atomics.load(this.mem.i32, this.mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_COUNTERS) >>> 0;
      if (offset !== 0 && offset % PAGE_SIZE === 0 && offset + PAGE_SIZE <= this.mem.byteLength) offsets.push(offset);
    }
    return offsets;
  }

  /** Ids of the workers attached to this heap now (this one included). */
  workers(): number[] {
    const ids: number[] = [];
    for (let slot = 0; slot < MAX_WORKERS; slot++) {
      if (Atomics.load(this.mem.i32, this.mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_STATE) === WORKER_ATTACHED) {
        ids.push(slot);
      }
    }
    return ids;
  }

  /**
   * Leaves the heap: this worker's cached blocks go back to their slabs, its
   * empty slabs to the pool, and the slabs still holding live blocks become
   * adoptable by the other workers. Call before a worker ends. The heap
   * object cannot be used afterwards (its memory, and the other workers'
   * heaps, stay valid).
   */
  detach(): void {
    for (const backend of this.backendList) backend.detach?.();
    this.router.retire(); // its pending counts into the memory, where the other workers read them
    this.releaseSlot(this.workerId);
    const gone = (): never => {
      throw new HakmemError("WORKER", `worker ${this.workerId} detached from this heap; attach again to use it`);
    };
    Object.assign(this, { malloc: gone, free: gone, calloc: gone, realloc: gone, alignedAlloc: gone, usableSize: gone, detach: gone });
  }

  /**
   * Takes back what worker `workerId` held when it was terminated without
   * calling {@linkcode Heap.detach}: its cached blocks and its slabs. Call it
   * from any other worker once that worker is gone (after
   * `worker.terminate()`); the slot is free again afterwards. Called by the
   * last worker still attached, it also books the router counts the gone
   * worker had not merged yet (see {@linkcode Heap.health}).
   */
  reclaim(workerId: number): void {
    if (!Number.isInteger(workerId) || workerId < 0 || workerId >= MAX_WORKERS || workerId === this.workerId) {
      throw new HakmemError("WORKER", `cannot reclaim worker ${describe(workerId)}: not another worker's slot`, workerId);
    }
    const state = Atomics.load(this.mem.i32, this.mem.header + WORKER_TABLE_WORD + workerId * WORKER_SLOT_WORDS + W_STATE);
    if (state !== WORKER_ATTACHED) throw new HakmemError("WORKER", `worker ${workerId} is not attached`, workerId);
    for (const backend of this.backendList) backend.reclaim?.(workerId);
    this.releaseSlot(workerId);
    // Its counts not yet merged are gone with it: book them from what the backends hold, when no other worker runs.
    const others = this.workers();
    if (others.length === 1 && others[0] === this.workerId) {
      const lost = this.slotCounterOffset(workerId);
      const live = this.backendList.map((backend) => backend.stats().liveBlocks);
      if (lost !== 0) this.router.bookLostCounts(lost, live, this.counterOffsets());
    }
  }

  /** Marks worker `workerId`'s slot in the header's table free, for the next worker that attaches. */
  private releaseSlot(workerId: number): void {
    Atomics.store(this.mem.i32, this.mem.header + WORKER_TABLE_WORD + workerId * WORKER_SLOT_WORDS + W_STATE, WORKER_FREE);
  }

  /** Lays out a new heap at the memory's base; memory `handedIn` by the user may hold old bytes. */
  private format(handedIn: boolean): void {
    const mem = this.mem;
    const minimum = mem.base + PageHeap.startPages(mem.base / PAGE_SIZE, HEADER_PAGES) * PAGE_SIZE;
    if (mem.byteLength < minimum && !mem.grow(minimum)) {
      throw new HakmemError(
        "INVALID_MEMORY",
        mem.base === 0
          ? `memory of ${mem.byteLength} bytes cannot hold a heap (needs ${minimum}) and cannot grow`
          : `memory of ${mem.byteLength} bytes cannot hold a heap at base ${mem.base} (needs ${minimum} bytes) and cannot grow that far`,
        mem.byteLength,
      );
    }
    if (mem.byteLength % PAGE_SIZE !== 0) {
      throw new HakmemError(
        "INVALID_MEMORY",
        `memory size ${mem.byteLength} is not a multiple of the page size ${PAGE_SIZE}`,
        mem.byteLength,
      );
    }
    const i32 = mem.i32;
    const h = mem.header;
    i32.fill(0, h, h + ((HEADER_PAGES * PAGE_SIZE) >> 2));
    i32[h + H_VERSION] = LAYOUT_VERSION;
    i32[h + H_PAGE_SHIFT] = PAGE_SHIFT;
    i32[h + H_HEADER_PAGES] = HEADER_PAGES;
    i32[h + H_MEMORY_KIND] = mem.kind;
    const maxPages = Math.floor(mem.maxBytes / PAGE_SIZE);
    this.pages.format(HEADER_PAGES, maxPages, Math.max(1, Math.ceil(this.options.growBytes / PAGE_SIZE)), handedIn);
    i32[h + H_FLAGS] = this.options.debug ? HEAP_FLAG_DEBUG : 0;
    i32[h + H_TINY_MAX] = this.options.tinyMaxSize;
    i32[h + H_POOL_MAX] = this.options.poolMaxSize;
    // The magic goes last: a heap is only a heap once it is whole.
    Atomics.store(i32, h + H_MAGIC, MAGIC);
  }

  /** Byte offset where the heap starts in its memory (option `base`, rounded up to a page): pass it to `attachHeap` elsewhere. */
  get base(): number {
    return this.mem.base;
  }

  /**
   * The buffer pointers index into now. A WebAssembly.Memory (the default) gives a new one each time
   * it grows: read it again after allocating. A plain data property when only this heap grows the
   * memory (an ArrayBuffer, or the heap's own default memory); a getter that first takes in growth
   * done elsewhere over the other kinds.
   */
  get buffer(): ArrayBuffer | SharedArrayBuffer {
    this.pages.syncViews();
    return this.mem.currentBuffer;
  }

  /**
   * The heap's bytes. Over a WebAssembly.Memory (the default) it is rebuilt whenever the memory
   * grows: read it again after allocating rather than keeping it. A plain data property, free to
   * read on a hot path, when only this heap grows the memory; a getter over the other kinds.
   */
  get u8(): Uint8Array {
    this.pages.syncViews();
    return this.mem.u8;
  }

  /**
   * When no one but this heap object can grow the memory (an ArrayBuffer, whose views never
   * change, or the heap's own default WebAssembly.Memory, whose views change only when this heap
   * grows it), `u8` and `buffer` become own data properties, rebuilt with the memory's views: they
   * shadow the getters, and an accessor costs several nanoseconds a read on V8 even when it does
   * nothing. (Should a module given the default memory by `wasmImports` grow it itself, they are
   * stale until the heap's next call or `refresh()`, as wasm.ts tells such users to call.)
   */
  private plainViews(own: boolean): void {
    if (this.mem.kind !== MemoryKind.arrayBuffer && !(own && this.mem.kind === MemoryKind.wasm && !this.mem.shared)) return;
    const bind = () => {
      Object.defineProperty(this, "u8", { value: this.mem.u8, enumerable: true, writable: true, configurable: true });
      Object.defineProperty(this, "buffer", { value: this.mem.currentBuffer, enumerable: true, writable: true, configurable: true });
    };
    bind();
    this.mem.onRefresh(bind);
  }

  // ---- allocation --------------------------------------------------------------

  /**
   * Allocates `size` bytes. Returns the block's offset, or 0 when the memory
   * is full. Throws `INVALID_SIZE` for a size that is not a non-negative
   * safe integer. `malloc(0)` returns a unique minimal block.
   */
  malloc(size: number, site?: string): number {
    // typeof first: `>>>` would throw a TypeError for a BigInt or a Symbol (and call an object's valueOf).
    if (typeof size !== "number" || (size >>> 0) !== size || this.detachable && this.mem.u8.length === 0) {
      return this.mallocSlow(size, site);
    }
    return this.router.alloc(size, site);
  }

  /**
   * Frees the block at `ptr`. `free(0)` does nothing. Throws for a pointer
   * the heap did not hand out (`INVALID_POINTER`), an interior pointer
   * (`INTERIOR_POINTER`) or a detected double free (`DOUBLE_FREE`); the heap
   * is unchanged then.
   */
  free(ptr: number): void {
    // One test covers non-numbers, NaN, fractions, negatives, 0 and offsets past the
    // views (which another worker's growth may have left short). Detached views
    // need no test here: the router reads no owner through them and refreshes.
    if (typeof ptr !== "number" || (ptr >>> 0) !== ptr || ptr === 0 || ptr >= this.mem.limit) {
      if (ptr === 0) return;
      this.checkPointer(ptr);
    }
    this.router.free(ptr);
  }

  /**
   * Allocates `count * size` zeroed bytes. Returns 0 when the product
   * overflows the largest safe size, or when the memory is full.
   */
  calloc(count: number, size: number): number {
    checkSize(count, "calloc count");
    checkSize(size, "calloc size");
    this.syncEntry();
    const total = count * size;
    if (!Number.isSafeInteger(total) || total > this.mem.maxBytes) return this.router.refuse(total);
    return this.router.allocZeroed(total);
  }

  /**
   * Resizes the block at `ptr` to `size` bytes, keeping its contents up to
   * the smaller size. `realloc(0, size)` is `malloc(size)`; `realloc(ptr, 0)`
   * frees `ptr` and returns 0. Returns 0 when the memory is full, leaving the
   * old block as it was.
   */
  realloc(ptr: number, size: number): number {
    checkSize(size, "realloc size");
    if (ptr === 0) return this.malloc(size);
    const old = this.usableSize(ptr);
    if (size === 0) {
      this.free(ptr);
      return 0;
    }
    if (this.router.resizeInPlace(ptr, old, size)) return ptr;
    const fresh = this.malloc(size);
    if (fresh === 0) return 0;
    const u8 = this.mem.u8;
    u8.copyWithin(fresh, ptr, ptr + Math.min(old, size));
    try {
      this.router.free(ptr);
    } catch (error) {
      this.router.free(fresh); // the old block was refused (freed already): leave the heap as it was
      throw error;
    }
    return fresh;
  }

  /**
   * Allocates `size` bytes aligned to `alignment`, a power of two. Returns 0
   * when the memory is full. Throws `INVALID_ALIGNMENT` for an alignment that
   * is not a power of two or is above 2^31.
   */
  alignedAlloc(alignment: number, size: number): number {
    if (
      !Number.isSafeInteger(alignment) || alignment <= 0 || alignment > 2 ** 31 ||
      (alignment & (alignment - 1)) !== 0 && alignment !== 2 ** 31
    ) {
      throw new HakmemError("INVALID_ALIGNMENT", `alignment must be a power of two from 1 to 2^31, got ${describe(alignment)}`, alignment);
    }
    checkSize(size, "alignedAlloc size");
    this.syncEntry();
    if (alignment <= PAGE_SIZE) {
      // Blocks of a multiple of `alignment` come aligned to it from every built-in backend.
      const rounded = Math.ceil(Math.max(size, 1) / alignment) * alignment;
      if (rounded > this.mem.maxBytes) return this.router.refuse(size);
      const ptr = this.router.alloc(rounded);
      if (ptr === 0 || ptr % alignment === 0) return ptr;
      this.router.free(ptr);
    }
    if (size + alignment > this.mem.maxBytes) return this.router.refuse(size);
    return this.router.allocAligned(size, alignment);
  }

  /** Usable bytes of the block at `ptr`: at least the size asked for. */
  usableSize(ptr: number): number {
    this.checkPointer(ptr);
    this.syncEntry();
    return this.router.usableSize(ptr);
  }

  /**
   * A fresh typed array over `length` elements of the block at `ptr` (stale
   * after a WebAssembly.Memory grows). `ptr` must be a live block's start
   * (else the error `usableSize` gives), `length` elements must fit its
   * usable size (else `INVALID_SIZE`) and `ptr` must be a multiple of the
   * element size (else `INVALID_ALIGNMENT`, checked before the length).
   */
  typed<T extends ArrayBufferView>(ctor: TypedArrayConstructor<T>, ptr: number, length: number): T {
    this.checkView(ctor, ptr, length);
    return new ctor(this.buffer, ptr, length);
  }

  /** A view of the block at `ptr` that stays correct after the memory grows; checked as {@linkcode Heap.typed}. */
  view<T extends ArrayBufferView>(ctor: TypedArrayConstructor<T>, ptr: number, length: number): BlockView<T> {
    this.checkView(ctor, ptr, length);
    return new BlockView(this, ctor, ptr, length);
  }

  /** Throws unless `length` elements of `ctor` fit block `ptr` and the block is aligned to them: a view never reaches past its block. */
  private checkView(ctor: TypedArrayConstructor<unknown>, ptr: number, length: number): void {
    if (typeof ctor !== "function" || !(ctor.prototype instanceof TypedArray)) {
      throw new HakmemError(
        "INVALID_ARGUMENT",
        `a view needs a typed array constructor (Uint8Array, Float64Array, ...), got ${describe(ctor)}`,
        ctor,
      );
    }
    if (typeof ptr !== "number") {
      throw new HakmemError("INVALID_POINTER", `pointer must be a non-negative integer below 2^32, got ${describe(ptr)}`, ptr);
    }
    const usable = this.usableSize(ptr);
    if (ptr % ctor.BYTES_PER_ELEMENT !== 0) {
      throw new HakmemError(
        "INVALID_ALIGNMENT",
        `block ${describe(ptr)} is not aligned to the ${ctor.BYTES_PER_ELEMENT} bytes of a view's elements`,
        ptr,
      );
    }
    checkSize(length, "view length");
    const bytes = length * ctor.BYTES_PER_ELEMENT;
    if (bytes > usable) {
      throw new HakmemError(
        "INVALID_SIZE",
        `a view of ${length} elements (${bytes} bytes) does not fit block ${describe(ptr)} (${usable} usable bytes)`,
        length,
      );
    }
  }

  /**
   * Rebuilds stale views and notes pages the memory grew by outside the heap
   * (a WASM module's own `memory.grow`) as a foreign run, never handed out.
   * Every allocating call does it when it finds its views detached; safe to
   * call at any time.
   */
  refresh(): void {
    this.pages.adoptGrowth();
  }

  /**
   * Every entry but malloc and free (whose own tests cover it) starts here:
   * a WASM module that grew a non-shared memory itself detached our views,
   * so they are rebuilt (and the new pages taken in) before anything reads them.
   */
  private syncEntry(): void {
    if (this.detachable && this.mem.u8.length === 0) this.refresh();
  }

  /** malloc off its fast path: not a 32-bit size (refused or 0), or detached views (refreshed, then served). */
  private mallocSlow(size: number, site: string | undefined): number {
    checkSize(size, "malloc size");
    if ((size >>> 0) !== size) return this.router.refuse(size, site); // a safe integer of 4 GiB or more: no memory holds it
    this.syncEntry();
    return this.router.alloc(size, site);
  }

  /** Throws INVALID_POINTER for a value no block starts at: not a 32-bit integer, 0, or past the memory (even after taking in another worker's growth). */
  private checkPointer(ptr: number): void {
    if (typeof ptr !== "number" || (ptr >>> 0) !== ptr) {
      throw new HakmemError("INVALID_POINTER", `pointer must be a non-negative integer below 2^32, got ${describe(ptr)}`, ptr);
    }
    if (ptr === 0) throw new HakmemError("INVALID_POINTER", "pointer 0 (NULL) has no block", ptr);
    if (ptr >= this.mem.u8.length) {
      this.mem.refresh(true);
      if (ptr >= this.mem.u8.length) throw foreignPointer(ptr);
    }
  }

  // ---- reports -------------------------------------------------------------------

  /** The heap's gauges: footprint, live bytes, overhead, each backend, the page heap. */
  stats(): HeapStats {
    this.mem.refresh();
    const pageHeap = this.pages.stats();
    const backends = this.backendList.map((backend) => backend.stats());
    const liveBytes = backends.reduce((sum, entry) => sum + entry.liveBytes, 0);
    const footprintBytes = pageHeap.usedPages * PAGE_SIZE;
    return {
      memoryBytes: this.mem.byteLength,
      footprintBytes,
      peakFootprintBytes: pageHeap.peakUsedPages * PAGE_SIZE,
      liveBytes,
      liveBlocks: backends.reduce((sum, entry) => sum + entry.liveBlocks, 0),
      metadataBytes: pageHeap.metadataPages * PAGE_SIZE,
      freeBytes: pageHeap.freePages * PAGE_SIZE,
      overhead: liveBytes === 0 ? Infinity : footprintBytes / liveBytes,
      backends,
      pageHeap,
    };
  }

  /**
   * A picture of the heap as an SVG image: page runs by owner, tiny's
   * SuperSlabs and slabs by class and occupancy, pool spans, free space.
   * Reads only; see {@linkcode renderHeapSvg}.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createHeap } from "./mod.ts";
   * const heap = createHeap();
   * heap.malloc(100);
   * assert.ok(heap.inspect().startsWith("<svg"));
   * ```
   */
  inspect(options?: HeapSvgOptions): string {
    return renderHeapSvg(this, options);
  }

  /** The router's counters (decisions per route, allocs and frees per backend), as fresh as {@linkcode Heap.health} says. */
  counters(): RouterCounters {
    return this.router.counters(this.counterOffsets());
  }

  /**
   * Each backend's readiness, the routing totals and the memory. The totals
   * are exact for this heap object and every other one of this thread over
   * the same memory. A worker in another thread merges its counts into the
   * memory at least every 4096 decisions of one route (or frees into one
   * backend), on each fallback or failure, whenever it reads its own
   * counters, health or check, and when it detaches: its part may lag by
   * that much while it runs. A worker terminated without detaching loses
   * its unmerged part; {@linkcode Heap.reclaim} books it back from what the
   * backends hold when the reclaiming worker is the last one attached.
   */
  health(): HeapHealth {
    return {
      ...this.router.health(this.counterOffsets()),
      workerId: this.workerId,
      workers: this.workers(),
      memory: MEMORY_NAMES[this.mem.kind],
      memoryBytes: this.mem.byteLength,
      maxBytes: this.pages.maxPages * PAGE_SIZE,
    };
  }

  /**
   * Releases cached and empty memory: every backend's caches and empty slabs
   * go back to the page heap, and a resizable ArrayBuffer shrinks to its
   * highest used page (the other kinds, the default WebAssembly.Memory among
   * them, cannot shrink). Returns the bytes released to the page heap.
   */
  trim(): number {
    let released = 0;
    for (const backend of this.backendList) released += backend.trim();
    released += this.records.trim(); // record pages emptied by the backends
    this.pages.trimTop();
    return released;
  }

  /**
   * Verifies every invariant of the page heap, each backend and the router's
   * counters, and returns what is broken. Changes nothing (it merges this
   * thread's pending router counts into the memory, as every read of them
   * does). `"cheap"` compares counters; `"full"` (the default) walks every
   * run, slab and list. The router's counts are held against the backends'
   * live blocks only while every attached worker is a heap object of this
   * thread: another thread's worker may not have merged its latest counts
   * (see {@linkcode Heap.health}) until it detaches.
   */
  check(level: CheckLevel = "full"): CheckReport {
    if (level !== "full" && level !== "cheap") {
      throw new HakmemError("INVALID_OPTION", `check level must be "cheap" or "full", got ${describe(level)}`, level);
    }
    this.mem.refresh();
    const problems: CheckProblem[] = [];
    // Each part answers on its own: damage that makes one part throw is a problem found, and the rest still runs.
    const sound = guarded(problems, "page heap", () => level === "full" ? this.pages.check(problems) : this.pages.checkHeader(problems));
    if (!sound) {
      problems.push({ where: "heap", message: "the heap header is damaged: the backends' pages and lists were not walked" });
      return { ok: false, level, problems };
    }
    checkWorkerTable(this.mem, problems);
    if (level === "full") guarded(problems, "record arena", () => this.records.check(problems));
    for (const backend of this.backendList) guarded(problems, backend.capabilities.name, () => backend.check(level, problems));
    if (this.debugLayer) guarded(problems, "debug", () => this.debugLayer!.check(level, problems));
    guarded(problems, "router", () => this.checkCounters(problems));
    return { ok: problems.length === 0, level, problems };
  }

  /**
   * The router's counters of every worker against the blocks each backend
   * holds, while every attached worker is a heap object of this thread
   * (another thread's may not have merged its latest counts).
   */
  private checkCounters(problems: CheckProblem[]): void {
    const counters = this.router.counters(this.counterOffsets());
    const here = this.router.threadCounterOffsets();
    const elsewhere = this.workers().some((slot) => !here.has(this.slotCounterOffset(slot)));
    for (const backend of elsewhere ? [] : this.backendList) {
      const name = backend.capabilities.name;
      const live = backend.stats().liveBlocks;
      const routed = counters.allocs[name] - counters.frees[name];
      if (routed !== live) {
        problems.push({
          where: "router",
          message: `${name}: router counted ${counters.allocs[name]} allocs and ${
            counters.frees[name]
          } frees, the backend holds ${live} live blocks`,
        });
      }
    }
  }
}

/**
 * Runs one part of a check; an exception it throws (a walk that met damage
 * its own tests did not foresee) becomes a problem of `where`, so check()
 * answers whatever the memory holds. Returns what the part returned (true
 * for none), or false when it threw.
 */
function guarded(problems: CheckProblem[], where: string, part: () => boolean | void): boolean {
  try {
    return part() !== false;
  } catch (error) {
    problems.push({
      where,
      message: `the check stopped at damage it could not read past: ${error instanceof Error ? error.message : describe(error)}`,
    });
    return false;
  }
}

/** The page kinds of the built-in backends (user backends get 5, 6, 7). */
const BUILTIN_KINDS: Record<string, number> = { mmap: PageKind.mmap, tiny: PageKind.tiny, pool: PageKind.pool };

/** The methods every backend has (router/box.ts). */
const BACKEND_METHODS = ["alloc", "free", "owns", "usableSize", "health", "stats", "trim", "check"] as const;

/** True when `value` has the shape of a {@linkcode Backend}: what the router and the reports call. */
function isBackend(value: unknown): value is Backend {
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
function checkConfig(config: unknown): void {
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
function heapBase(base: unknown, maxBytes: number): number {
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

/**
 * The routing options of a heap being attached: `tinyMaxSize` and
 * `poolMaxSize` are the creator's, read from the header, whatever the
 * environment says; given in `config` with another value, the attach is
 * refused (`INVALID_ROUTE`), as a worker routing sizes elsewhere would make
 * every worker misread the others' counters.
 */
function followRouting(mem: LinearMemory, config: HeapConfig, options: ResolvedOptions): ResolvedOptions {
  const tinyMaxSize = mem.i32[mem.header + H_TINY_MAX];
  const poolMaxSize = mem.i32[mem.header + H_POOL_MAX];
  if (!(tinyMaxSize >= 0 && tinyMaxSize <= 1024 && poolMaxSize >= 0 && poolMaxSize <= 262144)) {
    throw new HakmemError(
      "CORRUPTED",
      `this heap's header says tinyMaxSize ${tinyMaxSize} and poolMaxSize ${poolMaxSize}; it cannot be attached`,
    );
  }
  for (const [name, value] of [["tinyMaxSize", tinyMaxSize], ["poolMaxSize", poolMaxSize]] as const) {
    if (config[name] !== undefined && config[name] !== value) {
      throw new HakmemError(
        "INVALID_ROUTE",
        `this heap was created with ${name} ${value}, attachHeap was given ${
          config[name]
        }: every worker of a heap routes alike (leave the option out to follow the heap)`,
        config[name],
      );
    }
  }
  return { ...options, tinyMaxSize, poolMaxSize };
}

/** A 32-bit hash (FNV-1a) of the backends' names and page kinds and of the routing table, in order. */
function routingHash(router: Router, routed: Array<{ backend: Backend; kind: number }>): number {
  const text = routed.map(({ backend, kind }) => `${backend.capabilities.name}:${kind}`).join(",") + "|" +
    router.routes.map((route) => `${route.min}-${route.max}-${route.backend}`).join(",");
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}

/** True when `buffer` was detached (transferred, or posted to a worker with a transfer list). */
function isDetached(buffer: ArrayBuffer): boolean {
  if ((buffer as { detached?: boolean }).detached === true) return true;
  try {
    new Uint8Array(buffer, 0, 0); // an engine without `detached` refuses this for a detached buffer
    return false;
  } catch {
    return true;
  }
}

/**
 * Checks every worker slot: its state is free or attached, and its router
 * counters (kept across the slot's occupants) lie in a page of the memory.
 */
function checkWorkerTable(mem: LinearMemory, problems: CheckProblem[]): void {
  const i32 = mem.i32;
  const where = "worker table";
  for (let slot = 0; slot < MAX_WORKERS; slot++) {
    const at = mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS;
    const state = i32[at + W_STATE];
    const counters = i32[at + W_COUNTERS] >>> 0;
    if (state !== WORKER_FREE && state !== WORKER_ATTACHED) problems.push({ where, message: `worker slot ${slot} is in state ${state}` });
    if (counters % PAGE_SIZE !== 0 || counters + PAGE_SIZE > mem.byteLength) {
      problems.push({ where, message: `worker slot ${slot}'s counters lie at ${describe(counters)}, no page of the memory` });
    }
  }
}

/**
 * Refuses memory that holds no heap this hakmem can attach to: no magic
 * number (`NOT_A_HEAP`), another layout version (`LAYOUT_MISMATCH`), a copy
 * cut short (`INVALID_MEMORY`), or a header whose top, page map, locks or
 * worker table were overwritten (`CORRUPTED`): attaching would read and write
 * through them before anything else could notice.
 */
function verifyHeader(mem: LinearMemory, pages: PageHeap): void {
  mem.refresh(true); // another thread may have grown a shared WebAssembly.Memory
  const h = mem.header;
  const magic = mem.byteLength >= mem.base + 4 ? Atomics.load(mem.i32, h + H_MAGIC) : 0;
  if (magic !== MAGIC) {
    throw new HakmemError(
      "NOT_A_HEAP",
      mem.base === 0
        ? "this memory holds no hakmem heap (no magic number at offset 0; a heap made at a base is attached with the same option base)"
        : `this memory holds no hakmem heap at base ${mem.base} (no magic number there)`,
    );
  }
  const version = mem.byteLength >= mem.base + 8 ? mem.i32[h + H_VERSION] : LAYOUT_VERSION; // too short to say: cut short, below
  if (version !== LAYOUT_VERSION) {
    throw new HakmemError(
      "LAYOUT_MISMATCH",
      `this heap has layout version ${version}; this hakmem reads version ${LAYOUT_VERSION}`,
      version,
    );
  }
  const i32 = mem.i32;
  const top = mem.byteLength >= mem.base + HEADER_PAGES * PAGE_SIZE ? i32[h + H_TOP_PAGE] : 0;
  // Cut short, not overwritten: the fixed words are right and the top is one a heap can have, past the end of this memory.
  const cut = i32[h + H_PAGE_SHIFT] === PAGE_SHIFT && i32[h + H_HEADER_PAGES] === HEADER_PAGES && top <= i32[h + H_MAX_PAGES] &&
    top * PAGE_SIZE <= MAX_MEMORY_BYTES && top * PAGE_SIZE > mem.byteLength;
  if (mem.byteLength < mem.base + HEADER_PAGES * PAGE_SIZE || cut) {
    throw new HakmemError(
      "INVALID_MEMORY",
      `this memory of ${mem.byteLength} bytes holds the start of a heap of ${
        top > 0 ? top * PAGE_SIZE : mem.base + HEADER_PAGES * PAGE_SIZE + " or more"
      } bytes: a copy cut short?`,
      mem.byteLength,
    );
  }
  if (mem.i32[h + H_BASE_PAGE] * PAGE_SIZE !== mem.base) {
    throw new HakmemError("CORRUPTED", `the heap at base ${mem.base} says it starts at page ${mem.i32[h + H_BASE_PAGE]}`, mem.base);
  }
  const problems: CheckProblem[] = [];
  pages.checkHeader(problems, false);
  checkWorkerTable(mem, problems);
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).map((problem) => `${problem.where}: ${problem.message}`).join("; ");
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    throw new HakmemError("CORRUPTED", `this heap's header is damaged (${count}: ${shown}); it cannot be attached`);
  }
}

/**
 * Creates a heap. With no memory given, it lives in a new
 * WebAssembly.Memory that grows on demand up to `maxBytes` (see
 * {@linkcode HeapConfig.memory}): read `heap.u8` (or a `heap.view`) again
 * after allocating, since a growth replaces the buffer.
 *
 * @example
 * ```ts
 * import { createHeap } from "./mod.ts";
 * const heap = createHeap();
 * const ptr = heap.malloc(64);
 * heap.u8[ptr] = 42;
 * heap.free(ptr);
 * ```
 */
export function createHeap(config: HeapConfig = {}): Heap {
  checkConfig(config);
  return new Heap(config, resolveOptions(config), true);
}

/**
 * Opens a heap that already lives in `memory` (created by
 * {@linkcode createHeap} elsewhere, for example in another worker). Throws
 * `NOT_A_HEAP` or `LAYOUT_MISMATCH` when the memory holds no heap of this
 * layout version, `CORRUPTED` when its header is damaged, `INVALID_MEMORY`
 * for a copy cut short. Debug mode is the heap's: the attached heap is in
 * debug mode exactly when the heap was created in it, whatever `config.debug`
 * says. So is the routing: the creator's `tinyMaxSize` and `poolMaxSize` are
 * followed when not given; other values, or other `backends` or `routes` than
 * the heap was created with, are refused (`INVALID_ROUTE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachHeap, createHeap } from "./mod.ts";
 * const memory = new ArrayBuffer(1 << 20, { maxByteLength: 1 << 24 });
 * const heap = createHeap({ memory });
 * const ptr = heap.malloc(100);
 * const again = attachHeap(memory);
 * assert.ok(again.usableSize(ptr) >= 100);
 * ```
 */
export function attachHeap(memory: MemorySource, config: Omit<HeapConfig, "memory"> = {}): Heap {
  checkConfig(config);
  if (memory === undefined || memory === null) {
    throw new HakmemError("INVALID_MEMORY", `attachHeap needs the memory a heap lives in, got ${describe(memory)}`, memory);
  }
  return new Heap({ ...config, memory }, resolveOptions(config), false);
}
