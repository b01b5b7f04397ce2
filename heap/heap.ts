/**
 * The Heap: C's allocation functions over linear memory, on top of the
 * router. Owns input validation, C semantics (calloc overflow, realloc of 0),
 * typed views, the heap-wide reports (stats, health, check, trim), and
 * assembling a heap: the backends and the router over them. What it is built
 * from is heap/config.ts, the header's format heap/header.ts, the worker
 * slots heap/workers.ts.
 *
 * The optional parts (the heap picture, debug mode) are subpath exports that
 * this file does not import, so the main entry does not load them: each
 * installs itself here when it is imported ({@linkcode installPicture},
 * {@linkcode installDebug}), and `heap.inspect()` or a heap in debug mode
 * without it throws `INVALID_OPTION` naming the import to add.
 * @module
 */

import { checkSize, describe, HakmemError } from "../core/errors.ts";
import { type ResolvedOptions, resolveOptions } from "../core/options.ts";
import {
  backendAreaWord,
  H_FLAGS,
  H_ROUTING,
  HEADER_PAGES,
  HEAP_FLAG_DEBUG,
  MAX_MEMORY_BYTES,
  MAX_WORKERS,
  PAGE_SIZE,
  PageKind,
} from "../memory/layout.ts";
import { defaultMemory, LinearMemory, MemoryKind, type MemorySource, roundToPages } from "../memory/linear_memory.ts";
import { type CheckProblem, PageHeap, type PageHeapStats } from "../memory/page_heap.ts";
import { RecordArena } from "../memory/records.ts";
import type { Backend, BackendStats, CheckLevel } from "../router/box.ts";
import { foreignPointer, Router, type RouterCounters, type RouterHealth } from "../router/router.ts";
import { builtinBackends, defaultFallbacks, defaultRoutes } from "../backends/registry.ts";
import { checkConfig, heapBase, type HeapConfig, isBackend, isDetached } from "./config.ts";
import { followRouting, formatHeader, routingHash, verifyHeader } from "./header.ts";
import type { HeapSvgOptions } from "./picture_options.ts";
import {
  attachedWorkers,
  checkWorkerTable,
  claimWorkerSlot,
  counterOffsets,
  counterPage,
  releaseSlot,
  slotCounterOffset,
} from "./workers.ts";

export type { HeapConfig };

/** What the heap keeps of debug mode's layer: its part of `check()` (the layer took over the allocation methods itself). */
export interface DebugChecks {
  /** Verifies the guards and trailers of the blocks this worker allocated, adding what is broken to `problems`. */
  check(level: CheckLevel, problems: CheckProblem[]): void;
}

/** Draws the heap picture: installed by the "./inspect" subpath. */
let drawPicture: ((heap: Heap, options?: HeapSvgOptions) => string) | undefined;
/** Puts debug mode's layer in front of a heap: installed by the "./debug" subpath. */
let debugInstaller: ((heap: Heap) => DebugChecks) | undefined;

/**
 * @internal Called by the "./inspect" subpath when it is loaded: `heap.inspect()` draws with `draw` from then on
 * (`undefined` takes it away again, as tests of the main entry alone do).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import "../inspect/mod.ts"; // installs the picture
 * assert.ok(createHeap().inspect().startsWith("<svg"));
 * ```
 */
export function installPicture(draw: ((heap: Heap, options?: HeapSvgOptions) => string) | undefined): void {
  drawPicture = draw;
}

/**
 * @internal Called by the "./debug" subpath when it is loaded: a heap in debug mode is built with `install`'s layer from then on
 * (`undefined` takes it away again, as tests of the main entry alone do; heaps built before keep their layer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import "../debug/mod.ts"; // installs debug mode
 * assert.equal(createHeap({ debug: true }).options.debug, true);
 * ```
 */
export function installDebug(install: ((heap: Heap) => DebugChecks) | undefined): void {
  debugInstaller = install;
}

/** The error for debug mode asked for while the "./debug" subpath is not loaded. */
function debugNotLoaded(why: string): HakmemError {
  return new HakmemError(
    "INVALID_OPTION",
    `${why}, and debug mode is not loaded: add import "@hakmem/hakmem/debug" (npm: "hakmem/debug") before creating or attaching the heap`,
    true,
  );
}

/**
 * Heap-wide gauges. Footprint counts every page the heap holds, metadata included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
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
 * import { createHeap } from "../mod.ts";
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
 * import { createHeap } from "../mod.ts";
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
 * import { createHeap, type TypedArrayConstructor } from "../mod.ts";
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
 * import { createHeap } from "../mod.ts";
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
 * import { createHeap } from "../mod.ts";
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
  /** Debug mode's layer (debug/debug.ts), when the heap is in debug mode. */
  private readonly debugLayer: DebugChecks | undefined;

  /** @internal Use {@linkcode createHeap} or {@linkcode attachHeap}. */
  constructor(config: HeapConfig, options: ResolvedOptions, fresh: boolean) {
    this.options = options;
    if (fresh && options.debug && debugInstaller === undefined) {
      throw debugNotLoaded("debug mode was asked for (option debug or HAKMEM_DEBUG)");
    }
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
    this.plainViews(config.memory === undefined);
    if (fresh) formatHeader(this.mem, this.pages, options, config.memory !== undefined);
    else verifyHeader(this.mem, this.pages);
    if (!fresh) this.options = options = followRouting(this.mem, config, options);
    if (!fresh && ((this.mem.i32[this.mem.header + H_FLAGS] & HEAP_FLAG_DEBUG) !== 0) !== options.debug) {
      // Debug mode belongs to the heap (its blocks carry guards): an attached heap follows the header.
      this.options = options = { ...options, debug: !options.debug };
    }
    if (!fresh && options.debug && debugInstaller === undefined) throw debugNotLoaded("this heap was created in debug mode");
    this.workerId = claimWorkerSlot(this.mem);
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
      releaseSlot(this.mem, this.workerId);
      if (!fresh && error instanceof RangeError) {
        // Attaching read an offset out of the heap's bookkeeping that leads outside the memory.
        throw new HakmemError("CORRUPTED", `the heap's bookkeeping is damaged: attaching read past the memory (${error.message})`);
      }
      throw error;
    }
    this.backendList = routed.map((entry) => entry.backend);
    this.router.setVerbose(options.verbose);
    this.debugLayer = options.debug ? debugInstaller!(this) : undefined;
  }

  /** Builds the backends (into `routed`, as they are made) and the router over them. */
  private build(config: HeapConfig, options: ResolvedOptions, fresh: boolean, routed: Array<{ backend: Backend; kind: number }>): Router {
    const counterOffset = counterPage(this.mem, this.pages, this.workerId);
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

  /** Ids of the workers attached to this heap now (this one included). */
  workers(): number[] {
    return attachedWorkers(this.mem);
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
    releaseSlot(this.mem, this.workerId);
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
    if (!attachedWorkers(this.mem).includes(workerId)) throw new HakmemError("WORKER", `worker ${workerId} is not attached`, workerId);
    for (const backend of this.backendList) backend.reclaim?.(workerId);
    releaseSlot(this.mem, workerId);
    // Its counts not yet merged are gone with it: book them from what the backends hold, when no other worker runs.
    const others = this.workers();
    if (others.length === 1 && others[0] === this.workerId) {
      const lost = slotCounterOffset(this.mem, workerId);
      const live = this.backendList.map((backend) => backend.stats().liveBlocks);
      if (lost !== 0) this.router.bookLostCounts(lost, live, counterOffsets(this.mem));
    }
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
   * stale until the heap's next call or `refresh()`, as wasm/wasm.ts tells such users to call.)
   */
  private plainViews(own: boolean): void {
    if (this.mem.kind !== MemoryKind.arrayBuffer && !(own && this.mem.canDetach)) return;
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
    // Detached views (a WebAssembly.Memory grown behind our back) need no test here either: they read as an empty
    // cache, and the router's miss path refreshes them before any backend reads them.
    if (typeof size !== "number" || (size >>> 0) !== size) return this.mallocSlow(size, site);
    return this.router.alloc(size, site);
  }

  /**
   * Frees the block at `ptr`. `free(0)` does nothing. Throws for a pointer
   * the heap did not hand out (`INVALID_POINTER`), an interior pointer
   * (`INTERIOR_POINTER`) or a detected double free (`DOUBLE_FREE`); the heap
   * is unchanged then.
   */
  free(ptr: number): void {
    // One test covers non-numbers, NaN, fractions, negatives and 0. Offsets past the views (another worker's
    // growth may have left them short, a module's may have detached them) need none here: the router finds no
    // owner for them in the page map, refreshes the views and looks again before refusing.
    if (typeof ptr !== "number" || (ptr >>> 0) !== ptr || ptr === 0) {
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
    this.pages.adoptIfDetached();
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
   * Reads only. Drawn by `renderHeapSvg` of the "./inspect" subpath, which
   * installs itself here when imported (`import "@hakmem/hakmem/inspect"`);
   * without that import this throws `INVALID_OPTION` naming it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createHeap } from "../mod.ts";
   * import "../inspect/mod.ts"; // the "./inspect" entry: installs the picture
   * const heap = createHeap();
   * heap.malloc(100);
   * assert.ok(heap.inspect().startsWith("<svg"));
   * ```
   */
  inspect(options?: HeapSvgOptions): string {
    if (drawPicture === undefined) {
      throw new HakmemError(
        "INVALID_OPTION",
        'heap.inspect() draws with the heap picture, which is not loaded: add import "@hakmem/hakmem/inspect" (npm: "hakmem/inspect")',
      );
    }
    return drawPicture(this, options);
  }

  /** The router's counters (decisions per route, allocs and frees per backend), as fresh as {@linkcode Heap.health} says. */
  counters(): RouterCounters {
    return this.router.counters(counterOffsets(this.mem));
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
      ...this.router.health(counterOffsets(this.mem)),
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
    if (!this.pages.headerIntact()) throw this.pages.damagedHeader(); // the walks below would go through garbage
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
    const counters = this.router.counters(counterOffsets(this.mem));
    const here = this.router.threadCounterOffsets();
    const elsewhere = this.workers().some((slot) => !here.has(slotCounterOffset(this.mem, slot)));
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

/**
 * Creates a heap. With no memory given, it lives in a new
 * WebAssembly.Memory that grows on demand up to `maxBytes` (see
 * {@linkcode HeapConfig.memory}): read `heap.u8` (or a `heap.view`) again
 * after allocating, since a growth replaces the buffer.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
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
 * import { attachHeap, createHeap } from "../mod.ts";
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
