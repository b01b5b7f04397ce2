/**
 * The pool backend: mid sizes (above 1 KiB up to 256 KiB) rounded to size
 * classes, served from spans, free lists sharded so workers rarely contend.
 *
 * Owns: its spans (one page run each, holding blocks of one class), their
 * records, the free list inside each span, the per class and shard lists of
 * spans, its list table (a metadata run) and its area of the heap header.
 * This file is the backend: allocation and free, the heap object's cache of
 * single-block spans, prewarm, stats.
 * The words of the layout pictured below are declared in spans.ts, the
 * checks are in check.ts, the empty-span budget's and the peak rule's limits in
 * budget.ts, and a block's address, link and free mark are
 * computed in ../slab/blocks.ts (shared with tiny's slabs).
 *
 * A span, and the record that describes it:
 *
 * ```
 * page heap run of POOL_SPAN_PAGES[class] pages; page map entry of every page = record | kind
 * base                                                                      base + pages × 4096
 * ├─ block 0 ─┼─ block 1 ─┼─ ... ─┼─ block bump-1 ─┼─ bump .. capacity-1: never used ─┼─ tail ─┤
 *
 * free block   +0  next free block of the span (byte offset, 0 ends the list)
 *              +4  free mark: ptr ^ FREE_MARK (cleared when the block is handed out; ../slab/blocks.ts)
 * live block   every byte is the user's: no header
 *
 * record (64 bytes from the RecordArena)
 *   +0 class   +4 base   +8 capacity   +12 used   +16 bump   +20 free head
 *   +24 shard  +28 state (partial, full, empty or cached)   +32 next   +36 prev   (records, byte offsets)
 *   +40 while cached: the worker slot of the heap object holding it
 *   +44 a free block found damaged by a write after free (its free list was cut there), 0 none
 * ```
 *
 * The shared area (words of the heap header from `context.areaWord`), and
 * the list table it points to:
 *
 * ```
 * area    +0 failures, prewarm requested / succeeded / failed, spans created / released,
 *         +6 list table (byte offset), +7 pages in spans, +8 pages in cached empty spans,
 *         +9 per shard two words: a bit per class whose empty list holds a span
 * table   one entry per class × shard, LIST_WORDS words each:
 *         lock, partial head, empty head, allocs, frees, spans
 * ```
 *
 * A span is partial (some blocks free or never used; in its class and
 * shard's partial list), full (every block handed out; in no list: a free
 * finds it through the page map) or empty (every block free; in the empty
 * list, a stack). Allocation takes the head of `partial`, then an `empty`
 * span, then a new span from the page heap. Classes above 16 KiB have one
 * block per span, so their blocks go straight between empty and full, and
 * the span's state says whether its block is free.
 *
 * On unshared memory a freed single-block span first goes to the heap
 * object's own cache: per class a stack in plain typed arrays of the heap
 * object. A cached span is in state `cached` (in no list; its block
 * counted free by the list's counters, so that every heap object's stats
 * agree), and a hit touches the memory twice. The cache is the Box API's
 * `popCached`/`pushCached`, which the router tries before `alloc`/`free`
 * (as it does tiny's on the first route). The empty-span budget,
 * the peak rule, trim and check() count the cache's spans with the listed
 * ones; detach() gives them back, and reclaim() what a heap object dropped
 * without detaching held.
 *
 * The multi-block classes (up to 16 KiB) have a block cache beside it,
 * behind the same two calls: per class a stack of freed blocks (at most
 * 256 KiB of them, 2 to 32 blocks). A cached block is counted free by its
 * list and used by its span, whose record counts it (R_CACHED); it carries
 * the free marker and, as its link word, the heap object's tag (odd: no
 * free list's link is), so that a double free, usableSize or realloc of it
 * is refused and reclaim() finds the blocks of a dropped object. A hit
 * touches neither the span nor its lists, and the block, last freed, is
 * still in the processor's caches; popping checks the marker and tag, and a
 * block written after free is refused with CORRUPTED. Cached blocks keep
 * their spans from emptying, so before a new span takes the heap past its
 * peak, the blocks that alone keep their spans (every other block of the
 * span free or cached) go back to them; trim() and detach() hand back all.
 * Shared memory and debug mode have none.
 *
 * Empty spans are a cache with two limits. A span that empties stays (LIFO,
 * the first reused) while the pages of all cached empty spans stay within
 * half of the pages in spans, or 256 KiB; past that it goes back to the page
 * heap at once. And the cache may not raise the heap's peak footprint by
 * more than 1/16 of the live spans' pages: past that, when a new span would
 * take the heap past its peak, cached spans are given back first (the
 * biggest first) to make room for it. A class above 16 KiB with no
 * span of its own takes a cached block of a bigger class when it wastes at
 * most a quarter. When no free run holds a new span, every empty span goes
 * back before the memory grows: freed, it may join its free neighbours into
 * that run (a WebAssembly.Memory keeps every page it grows). `trim()` returns
 * them all. Prewarmed spans wait in the empty lists and count against the
 * budget; prewarm itself gives none back.
 *
 * Free finds the span in O(1) through the page map. Double frees are caught
 * at the cost of a load and a store per free and a store per allocation: a
 * freed block carries a marker word; only when the marker matches is the
 * span's free list walked to confirm (a live block may hold that value by
 * chance). In debug mode the list is always walked, so a double free is
 * caught even after a write-after-free wiped the marker. `usableSize` and
 * `resizeInPlace` refuse a freed block by the same test.
 *
 * Locking (shared memory only; a private heap takes no lock and uses no
 * Atomics). Each class × shard list has a lock word in the table; it guards
 * the list heads, its counters, and the records and free lists of the spans
 * of that class and shard (listed or full). Lock order:
 *
 * 1. At most one list lock is held at a time.
 * 2. No list lock is held while calling the page heap or the record arena:
 *    the lock is released, the call made, the lock taken again. Their locks
 *    are leaves: they never call back into the pool.
 *
 * A span's class, base, capacity and shard never change while it lives, so
 * free reads them before taking the lock.
 * @module
 */

import { describe, HakmemError } from "../../core/errors.ts";
import { H_PEAK_USED_PAGES, H_USED_PAGES, KIND_MASK, MAX_WORKERS, PAGE_SHIFT, PAGE_SIZE, PageKind } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import { RECORD_BYTES, type RecordArena } from "../../memory/records.ts";
import type {
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
} from "../../router/box.ts";
import { blockAddress, clearMark, isMarkedFree, markFree, readLink, writeLink } from "../slab/blocks.ts";
import {
  POOL_CLASS_COUNT,
  POOL_CLASS_OF_UNIT,
  POOL_CLASS_SIZES,
  POOL_GRANULE,
  POOL_MAX_SIZE,
  POOL_MIN_SIZE,
  POOL_SPAN_BLOCKS,
  POOL_SPAN_PAGES,
  poolClassOf,
} from "./pool_classes.ts";
import { emptyWithinBudget, peakSlackSpent } from "./budget.ts";
import { checkPool, type PoolCheckState } from "./check.ts";
import {
  AREA_USED,
  BLOCK_CACHE_BYTES,
  CACHE_SLOTS,
  cacheTag,
  EMPTY_MASKS,
  EMPTY_PAGES,
  FAILURES,
  L_ALLOCS,
  L_EMPTY,
  L_FREES,
  L_LOCK,
  L_PARTIAL,
  L_SPANS,
  LIST_COUNT,
  LIST_WORDS,
  listWord,
  POOL_SHARDS,
  PREWARM_FAILED,
  PREWARM_REQUESTED,
  PREWARM_SUCCEEDED,
  R_BASE,
  R_BUMP,
  R_CACHED,
  R_CACHER,
  R_CAPACITY,
  R_CLASS,
  R_DAMAGED,
  R_FREE,
  R_NEXT,
  R_PREV,
  R_SHARD,
  R_STATE,
  R_USED,
  recordOf,
  S_CACHED,
  S_EMPTY,
  S_FULL,
  S_PARTIAL,
  SPAN_PAGES,
  spanBlockIndex,
  SPANS_CREATED,
  SPANS_RELEASED,
  TABLE,
  TABLE_PAGES,
} from "./spans.ts";

export { POOL_SHARDS } from "./spans.ts";

/** Spans flushPinning keeps a note of between calls; past that it looks at the whole block cache. */
const PINNED_NOTES = 256;

/**
 * The words the cache paths read, as literals: Bun inlines no constant a module imports (each read would cost a scope
 * lookup, and its bytecode would keep popCached and pushCached from inlining into the router). Checked against
 * spans.ts below, when the module loads.
 */
const enum Hot {
  rClass = 0,
  rBase = 1,
  rShard = 6,
  rState = 7,
  rCacher = 10,
  rCached = 12,
  lAllocs = 3,
  lFrees = 4,
  full = 3,
  cached = 4,
  slots = 32,
  kindMask = 7,
  maxSize = 262144,
  shardMask = 3,
}
if (
  Hot.rClass !== R_CLASS || Hot.rBase !== R_BASE || Hot.rShard !== R_SHARD || Hot.rState !== R_STATE ||
  Hot.rCacher !== R_CACHER || Hot.rCached !== R_CACHED || Hot.lAllocs !== L_ALLOCS || Hot.lFrees !== L_FREES || Hot.full !== S_FULL ||
  Hot.cached !== S_CACHED || Hot.slots !== CACHE_SLOTS || Hot.kindMask !== KIND_MASK || Hot.maxSize !== POOL_MAX_SIZE ||
  Hot.shardMask !== POOL_SHARDS - 1
) {
  throw new Error("pool.ts: Hot disagrees with the span layout");
}

/** What prewarm asked for and what it got, in spans. */
export interface PrewarmReport {
  /** Spans asked for: one per listed size. */
  requested: number;
  /** Spans it got. */
  succeeded: number;
  /** Spans the page heap could not give. */
  failed: number;
}

/** Options of {@linkcode createPoolBackend}. */
export interface PoolBackendOptions {
  /** Sizes (1 .. 262144) whose class gets one span at heap creation; the heap option `poolPrewarm`. */
  prewarm?: number[];
}

/**
 * Mid-size blocks in class-rounded spans with sharded free lists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { PoolBackend } from "./pool.ts";
 * const heap = createHeap({ poolPrewarm: [40000] });
 * const pool = heap.router.backends.find((backend) => backend instanceof PoolBackend) as PoolBackend;
 * assert.deepEqual(pool.prewarmReport(), { requested: 1, succeeded: 1, failed: 0 });
 * ```
 */
export class PoolBackend implements Backend {
  /** Sizes 1025 .. 262144, 256-byte aligned, safe on shared memory. */
  readonly capabilities: Capabilities;
  private readonly mem: LinearMemory;
  private readonly pages: PageHeap;
  private readonly records: RecordArena;
  private readonly kind: number;
  private readonly area: number;
  private readonly shard: number;
  private readonly workerId: number;
  private readonly debug: boolean;
  private readonly shared: boolean;
  /** Word index of the list table. */
  private readonly table: number;
  /** Word index of this worker's shard's entry of class 0 (its entry of class c is `c * POOL_SHARDS * LIST_WORDS` further). */
  private readonly own: number;
  /** The memory's views, kept here for the hot path (rebuilt with the memory's). */
  private i32: Int32Array;
  private u32: Uint32Array;
  /**
   * On unshared memory, this heap object's cache of free single-block spans:
   * per class a stack of span records and their blocks, in plain arrays (a
   * typed array over a resizable buffer costs several times as much per
   * access). A cached span is in state S_CACHED, its block counted free by
   * its list's counters; its pages count against the empty-span budget.
   */
  private readonly cacheRecords = new Uint32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  private readonly cacheBlocks = new Uint32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  /** The list entry (word index) of each cached span's class and shard, whose counters count the span's block. */
  private readonly cacheLists = new Int32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  private readonly cacheCount = new Int32Array(POOL_CLASS_COUNT);
  /** Bit per class (low word: classes 0..31, high word: 32..63): set while the cache holds a span of the class. */
  private cacheLow = 0;
  private cacheHigh = 0;
  /** Pages of the spans in the cache. */
  private cachedPages = 0;
  /**
   * On unshared memory, this heap object's cache of free blocks of the
   * multi-block classes (up to 16 KiB): per class a stack of blocks, with
   * their span records and list entries. A cached block is counted free by
   * its list's counters and used by its span (whose R_CACHED counts it); it
   * carries the free marker, and this object's tag as its link word, so that
   * a free, usableSize or realloc of it is refused and reclaim() finds it.
   * Last freed, first handed out: the block is still in the processor's
   * caches, and no span list is touched.
   */
  private readonly blockCache = new Uint32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  private readonly blockRecords = new Uint32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  private readonly blockLists = new Int32Array(POOL_CLASS_COUNT * CACHE_SLOTS);
  private readonly blockCount = new Int32Array(POOL_CLASS_COUNT);
  /** Blocks the block cache may hold per class: 0 for the single-block classes, on shared memory and in debug mode. */
  private readonly blockSlots = new Int32Array(POOL_CLASS_COUNT);
  /** This object's tag (link word of the blocks in its block cache). */
  private readonly tag: number;
  /** Records of spans that came to hold no block but cached ones since the last flushPinning (past PINNED_NOTES: all). */
  private readonly pinned = new Uint32Array(PINNED_NOTES);
  private pinnedCount = 0;
  /** drainSpan's scratch: the blocks it takes out of a class's stack, and their list entries. */
  private readonly drainBlocks = new Uint32Array(CACHE_SLOTS);
  private readonly drainLists = new Int32Array(CACHE_SLOTS);
  // The class tables, as fields: a field read costs Bun less than an imported binding's (see Hot).
  private readonly classOfUnit: Uint8Array = POOL_CLASS_OF_UNIT;
  private readonly spanBlocks: Int32Array = POOL_SPAN_BLOCKS;
  private readonly spanPages: Int32Array = POOL_SPAN_PAGES;

  /** Builds the pool over `context`; on a fresh heap, formats its area, takes its list table and the `prewarm` spans. */
  constructor(context: BackendContext, prewarm: readonly number[] = []) {
    this.mem = context.mem;
    this.pages = context.pages;
    this.records = context.records;
    this.kind = context.kind;
    this.area = context.areaWord;
    this.shard = context.workerId & (POOL_SHARDS - 1);
    this.workerId = context.workerId;
    this.debug = context.debug;
    this.shared = this.mem.shared;
    this.tag = cacheTag(context.workerId);
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      const fit = Math.floor(BLOCK_CACHE_BYTES / POOL_CLASS_SIZES[cls]);
      const multi = POOL_SPAN_BLOCKS[cls] > 1 && !this.shared && !this.debug;
      this.blockSlots[cls] = multi ? Math.min(CACHE_SLOTS, Math.max(2, fit)) : 0;
    }
    this.capabilities = {
      name: "pool",
      minSize: POOL_MIN_SIZE,
      maxSize: POOL_MAX_SIZE,
      alignment: POOL_GRANULE,
      sharedMemorySafe: true,
      alignedAlloc: false,
    };
    if (context.fresh) {
      const page = this.pages.allocRun(TABLE_PAGES, PageKind.metadata, true);
      if (page < 0) throw new HakmemError("INVALID_MEMORY", "no memory left for the pool's list table");
      this.mem.i32.fill(0, this.area, this.area + AREA_USED);
      this.mem.i32[this.area + TABLE] = page * PAGE_SIZE;
    }
    const table = this.mem.i32[this.area + TABLE] >>> 0;
    if (table === 0 || table % PAGE_SIZE !== 0 || table + TABLE_PAGES * PAGE_SIZE > this.mem.byteLength) {
      throw new HakmemError("CORRUPTED", `the pool's list table lies at ${describe(table)}, no pages of the memory`, table);
    }
    this.table = table >>> 2;
    this.own = this.table + this.shard * LIST_WORDS;
    this.i32 = this.mem.i32;
    this.u32 = this.mem.u32;
    this.mem.onRefresh(() => {
      this.i32 = this.mem.i32;
      this.u32 = this.mem.u32;
    });
    if (context.fresh) this.prewarm(prewarm);
  }

  /** Word index of the list entry of class `cls` and shard `shard`. */
  private listOf(cls: number, shard: number): number {
    return listWord(this.table, cls, shard);
  }

  /** Word index of this worker's list entry of class `cls` (`listOf(cls, shard)` with the shard folded in). */
  private ownList(cls: number): number {
    return this.own + cls * (POOL_SHARDS * LIST_WORDS);
  }

  // ---- allocation ---------------------------------------------------------------

  alloc(size: number): number {
    if (size > POOL_MAX_SIZE) return 0;
    const cls = poolClassOf(size);
    const list = this.ownList(cls);
    if (this.shared) {
      this.mem.lock(list + L_LOCK);
      const block = this.take(list);
      this.mem.unlock(list + L_LOCK);
      return block !== 0 ? block : this.allocSlow(cls, list, size);
    }
    // Unshared: no lock. This object's cache first; then a partial span's next block, then a listed empty span.
    if (this.cacheCount[cls] !== 0) return this.popCached(size);
    if (this.blockCount[cls] !== 0) return this.popBlock(cls);
    const record = this.u32[list + L_PARTIAL];
    if (record !== 0) return this.pop(list, record);
    const block = this.takeEmpty(list);
    return block !== 0 ? block : this.allocSlow(cls, list, size);
  }

  /**
   * The block of a single-block span of `size`'s class from this heap
   * object's cache (unshared memory only), or 0: none cached, or views a
   * WebAssembly.Memory's growth detached (the caller's miss path refreshes
   * them). Counted an allocation in the span's list, its span full again.
   */
  popCached(size: number): number {
    if (size > Hot.maxSize) return 0;
    const cls = this.classOfUnit[(size + 255) >>> 8];
    if (this.spanBlocks[cls] !== 1) return this.popBlock(cls);
    const n = this.cacheCount[cls];
    const i32 = this.i32;
    if (n === 0 || i32.length === 0) return 0;
    const slot = cls * Hot.slots + n - 1;
    this.cacheCount[cls] = n - 1;
    if (n === 1) this.markCached(cls, false);
    this.cachedPages -= this.spanPages[cls];
    i32[this.cacheLists[slot] + Hot.lAllocs]++;
    i32[(this.cacheRecords[slot] >>> 2) + Hot.rState] = Hot.full;
    return this.cacheBlocks[slot];
  }

  /**
   * Takes the live block of a single-block span (`ptr`, its page-map entry
   * `pageEntry`) into this heap object's cache and returns true; false,
   * changing nothing, for anything else (shared memory, another kind or
   * class, an interior or freed block, a full cache, the budget spent):
   * `free` sorts those out.
   */
  pushCached(ptr: number, pageEntry: number): boolean {
    if ((pageEntry & Hot.kindMask) !== this.kind || this.shared) return false;
    const r = (pageEntry - this.kind) >>> 2;
    const i32 = this.i32;
    const cls = i32[r + Hot.rClass];
    if (this.spanBlocks[cls] !== 1) return this.cacheBlock(ptr, r, cls);
    if (ptr !== i32[r + Hot.rBase] >>> 0 || i32[r + Hot.rState] !== Hot.full) return false;
    return this.cacheSpan(ptr, r, cls);
  }

  /**
   * The top block of class `cls`'s block cache, or 0 when it holds none (or
   * views a WebAssembly.Memory's growth detached: the caller's miss path
   * refreshes them). Counted an allocation in its list.
   */
  private popBlock(cls: number): number {
    const n = this.blockCount[cls];
    const i32 = this.i32;
    if (!(n > 0) || i32.length === 0) return 0; // a class out of the table (a damaged record's) reads undefined
    const slot = cls * Hot.slots + n - 1;
    this.blockCount[cls] = n - 1;
    const ptr = this.blockCache[slot];
    i32[this.blockLists[slot] + Hot.lAllocs]++;
    i32[(this.blockRecords[slot] >>> 2) + Hot.rCached]--;
    if (!isMarkedFree(i32, ptr) || readLink(i32, ptr) !== this.tag) throw this.damagedInCache(ptr, this.blockRecords[slot]);
    clearMark(i32, ptr);
    return ptr;
  }

  /**
   * A block in the block cache lost its free marker or its tag: written
   * after it was freed. It stays out of use for good (counted handed out,
   * its span keeps it), kept for check() as the span's damage; returns the
   * CORRUPTED error to throw.
   */
  private damagedInCache(ptr: number, record: number): HakmemError {
    this.mem.i32[(record >>> 2) + R_DAMAGED] = ptr;
    return new HakmemError(
      "CORRUPTED",
      `pool block ${describe(ptr)} lost its freed marker or its link word while it sat in the heap's block cache: a write ` +
        `after free damaged it; it is left out of use`,
      ptr,
    );
  }

  /**
   * The live block `ptr` of the multi-block span of record word `r`, class
   * `cls`, into this object's block cache while it has room; false, changing
   * nothing, for anything free would refuse or look at twice (a damaged
   * record, an interior or never handed-out block, one carrying the free
   * marker): `free` sorts those out.
   */
  private cacheBlock(ptr: number, r: number, cls: number): boolean {
    const n = this.blockCount[cls];
    if (!(n < this.blockSlots[cls]) || !this.spanHolds(r, cls, ptr)) return false;
    const i32 = this.i32;
    const index = spanBlockIndex(ptr - this.u32[r + R_BASE], cls);
    if (index < 0 || index >= i32[r + R_BUMP] || isMarkedFree(i32, ptr)) return false;
    const list = this.listOf(cls, i32[r + Hot.rShard]);
    i32[list + Hot.lFrees]++;
    const cached = i32[r + Hot.rCached] + 1;
    i32[r + Hot.rCached] = cached;
    if (cached === i32[r + R_USED]) this.notePinned(r);
    markFree(i32, ptr);
    writeLink(i32, ptr, this.tag);
    const slot = cls * Hot.slots + n;
    this.blockCache[slot] = ptr;
    this.blockRecords[slot] = r << 2;
    this.blockLists[slot] = list;
    this.blockCount[cls] = n + 1;
    return true;
  }

  /** The span of record word `r` holds no block but cached ones: noted for flushPinning. */
  private notePinned(r: number): void {
    const count = this.pinnedCount;
    if (count < PINNED_NOTES) this.pinned[count] = r << 2;
    this.pinnedCount = count + 1;
  }

  /**
   * True when the block `ptr` (carrying the free marker) of the span of
   * record word `r` sits in a block cache: in this object's (looked up), or
   * in another heap object's (its tag in the link word, and a count in the
   * span's record, confirm it).
   */
  private inBlockCache(ptr: number, r: number): boolean {
    const i32 = this.mem.i32;
    if (!(i32[r + R_CACHED] > 0)) return false;
    const tag = readLink(i32, ptr);
    if (tag !== this.tag) return (tag & 1) === 1 && tag >>> 1 < MAX_WORKERS;
    const cls = i32[r + R_CLASS];
    for (let slot = cls * CACHE_SLOTS; slot < cls * CACHE_SLOTS + this.blockCount[cls]; slot++) {
      if (this.blockCache[slot] === ptr) return true;
    }
    return false;
  }

  /**
   * Hands every block in this object's block cache back to its span (as a
   * free would); spans that empty go to the empty list or back to the page
   * heap. No lock: unshared memory only.
   */
  private flushBlocks(): void {
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      while (this.blockCount[cls] !== 0) {
        const n = this.blockCount[cls] - 1;
        const slot = cls * CACHE_SLOTS + n;
        this.blockCount[cls] = n;
        this.returnBlock(this.blockCache[slot], this.blockRecords[slot], this.blockLists[slot]);
      }
    }
  }

  /**
   * Hands back the cached blocks that alone keep their spans from emptying
   * (every block of the span the program does not hold sits in this
   * cache); the spans empty. Blocks of spans the program still uses stay.
   * Only the spans noted as they came to that state are looked at (all of
   * the cache when more were noted than the note holds). Returns whether
   * any block went back.
   */
  private flushPinning(): boolean {
    const count = this.pinnedCount;
    if (count === 0) return false;
    this.pinnedCount = 0;
    const i32 = this.i32;
    let flushed = false;
    if (count > PINNED_NOTES) {
      for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
        for (let slot = cls * CACHE_SLOTS; slot < cls * CACHE_SLOTS + this.blockCount[cls]; slot++) {
          const r = this.blockRecords[slot] >>> 2;
          if (i32[r + R_USED] === i32[r + R_CACHED]) {
            flushed = this.drainSpan(r, cls) || flushed;
            slot = cls * CACHE_SLOTS - 1; // the stack was compacted: from its start again
          }
        }
      }
      return flushed;
    }
    for (let at = 0; at < count; at++) {
      const r = this.pinned[at] >>> 2;
      // Noted spans may have changed since (a block handed out again, or the span emptied and went): looked at now.
      const cached = i32[r + R_CACHED];
      if (cached > 0 && i32[r + R_USED] === cached) flushed = this.drainSpan(r, i32[r + R_CLASS]) || flushed;
    }
    return flushed;
  }

  /** Takes the blocks of the span of record word `r` (class `cls`) out of this object's block cache, back to it; whether any. */
  private drainSpan(r: number, cls: number): boolean {
    const record = r << 2;
    const first = cls * CACHE_SLOTS;
    const end = first + this.blockCount[cls];
    let kept = first;
    let drained = 0;
    for (let slot = first; slot < end; slot++) {
      if (this.blockRecords[slot] === record) {
        this.drainBlocks[drained] = this.blockCache[slot];
        this.drainLists[drained++] = this.blockLists[slot];
        continue;
      }
      this.blockCache[kept] = this.blockCache[slot];
      this.blockRecords[kept] = this.blockRecords[slot];
      this.blockLists[kept] = this.blockLists[slot];
      kept++;
    }
    this.blockCount[cls] = kept - first;
    // Out of the cache first, then back to the span: the last one may empty it and release its record.
    for (let at = 0; at < drained; at++) this.returnBlock(this.drainBlocks[at], record, this.drainLists[at]);
    return drained !== 0;
  }

  /** A block a block cache held (counted free in `list`, in R_CACHED of `record`) goes onto its span's free list. */
  private returnBlock(ptr: number, record: number, list: number): void {
    const i32 = this.mem.i32;
    const r = record >>> 2;
    if (!this.spanHolds(r, i32[r + R_CLASS], ptr)) throw damagedSpan(ptr, record, i32); // written over while it sat here
    i32[list + L_FREES]--; // freeLocked counts it again
    i32[r + R_CACHED]--;
    clearMark(i32, ptr);
    this.freeLocked(ptr, record, list, spanBlockIndex(ptr - this.mem.u32[r + R_BASE], i32[r + R_CLASS]));
  }

  /**
   * The live block `ptr` of the single-block span of record word `r`, class
   * `cls`, into this object's cache while it has room and the budget
   * allows; false, changing nothing, when it cannot.
   */
  private cacheSpan(ptr: number, r: number, cls: number): boolean {
    const n = this.cacheCount[cls];
    const pages = this.spanPages[cls];
    const i32 = this.i32;
    const shard = i32[r + Hot.rShard];
    if (n >= Hot.slots || (shard & ~Hot.shardMask) !== 0 || !this.withinBudget(this.cachedPages + pages + i32[this.area + EMPTY_PAGES])) {
      return false; // a shard out of range is a damaged record: free refuses it
    }
    // The memory counts the block free, so that every heap object's stats agree.
    const list = this.listOf(cls, shard);
    i32[list + Hot.lFrees]++;
    const slot = cls * Hot.slots + n;
    this.cacheRecords[slot] = r << 2;
    this.cacheBlocks[slot] = ptr;
    this.cacheLists[slot] = list;
    this.cacheCount[cls] = n + 1;
    if (n === 0) this.markCached(cls, true);
    this.cachedPages += pages;
    i32[r + Hot.rState] = Hot.cached;
    i32[r + Hot.rCacher] = this.workerId; // so that reclaim finds what a heap object dropped unflushed held
    return true;
  }

  /** A block from the list's partial spans, else from an empty span; 0 when it has neither. Lock held. */
  private take(list: number): number {
    const record = this.u32[list + L_PARTIAL];
    return record !== 0 ? this.pop(list, record) : this.takeEmpty(list);
  }

  /** A block from the list's first empty span (listed partial when it holds more); 0 when it has none. Lock held. */
  private takeEmpty(list: number): number {
    const record = this.u32[list + L_EMPTY];
    if (record === 0) return 0;
    const r = record >>> 2;
    this.u32[list + L_EMPTY] = this.u32[r + R_NEXT];
    if (this.u32[r + R_NEXT] === 0) this.markEmpty(list, false);
    this.addPages(EMPTY_PAGES, -POOL_SPAN_PAGES[this.i32[r + R_CLASS]]);
    this.i32[r + R_STATE] = S_FULL; // in no list until it turns out to hold more than one block
    if (this.i32[r + R_CAPACITY] > 1) this.link(list, S_PARTIAL, record);
    return this.pop(list, record);
  }

  /**
   * A single-block class has no span to spare: takes a cached empty span of
   * a bigger class instead, when its block is at most a quarter bigger than
   * `size` (the waste class rounding allows). No page heap call, and no new
   * page: the block keeps its class. 0 when there is none.
   */
  private takeBigger(cls: number, size: number): number {
    const other = this.nextEmpty(cls + 1);
    if (other < 0 || POOL_CLASS_SIZES[other] * 4 > size * 5) return 0;
    if (this.cacheCount[other] !== 0) {
      const slot = this.popCache(other);
      this.i32[this.cacheLists[slot] + L_ALLOCS]++;
      this.i32[(this.cacheRecords[slot] >>> 2) + R_STATE] = S_FULL;
      return this.cacheBlocks[slot];
    }
    const list = this.ownList(other);
    this.mem.lock(list + L_LOCK);
    const block = this.takeEmpty(list); // 0 when another worker took it first
    this.mem.unlock(list + L_LOCK);
    return block;
  }

  /** The class's own lists had nothing: a bigger cached block (single-block classes), else a new span. No lock held. */
  private allocSlow(cls: number, list: number, size: number): number {
    if (POOL_SPAN_BLOCKS[cls] === 1) {
      const block = this.takeBigger(cls, size);
      if (block !== 0) return block;
    }
    // Cached empty spans may not raise the heap's peak footprint beyond a small share of the live spans: past the
    // peak, they give back (the biggest first) what the new span would add, and may join their free neighbours into
    // its run. Reshaping a cached span instead (cutting a bigger one down, growing a smaller one into the pages after
    // it) left tails of a page or two that no span fits, and the memory grew past them.
    const i32 = this.i32;
    const h = this.mem.header; // the page heap's counters are header words
    let over = i32[h + H_USED_PAGES] + POOL_SPAN_PAGES[cls] - i32[h + H_PEAK_USED_PAGES];
    if (over > 0 && this.flushPinning()) {
      // Blocks in the block cache keep their spans from emptying: before the footprint passes its peak they go back,
      // and the spans they empty join the empty ones given back below (or went back at once, past the budget).
      over = i32[h + H_USED_PAGES] + POOL_SPAN_PAGES[cls] - i32[h + H_PEAK_USED_PAGES];
    }
    const cached = this.cachedPages + i32[this.area + EMPTY_PAGES];
    if (over > 0 && peakSlackSpent(cached, i32[this.area + SPAN_PAGES])) this.evict(over);
    return this.allocFromNewSpan(cls, list);
  }

  /**
   * Before a new span that would raise the heap's peak footprint: gives back
   * cached empty spans of this shard, the biggest first, until `pages` pages
   * are released or none is left, so the new span takes their place. The
   * cache holds pages only while fewer are live than at the peak. No lock
   * held.
   */
  private evict(pages: number): void {
    let released = 0;
    while (released < pages) {
      const cls = this.biggestEmpty();
      const record = cls < 0 ? 0 : this.detachEmpty(cls);
      if (record === 0) return;
      released += this.releaseSpan(record) >>> PAGE_SHIFT;
    }
  }

  /**
   * Takes an empty span of class `cls` out of the books, to be released:
   * from this object's cache first, else from this shard's empty list. Its
   * state is 0 (in no list) after. 0 when there is none. No lock held.
   */
  private detachEmpty(cls: number): number {
    if (this.cacheCount[cls] !== 0) {
      const slot = this.popCache(cls);
      const record = this.cacheRecords[slot];
      this.i32[this.cacheLists[slot] + L_SPANS]--;
      this.i32[(record >>> 2) + R_STATE] = 0;
      return record;
    }
    const list = this.ownList(cls);
    if (this.u32[list + L_EMPTY] === 0) return 0; // a hint; taken again under the lock
    this.mem.lock(list + L_LOCK);
    const record = this.u32[list + L_EMPTY];
    if (record !== 0) {
      this.u32[list + L_EMPTY] = this.u32[(record >>> 2) + R_NEXT];
      if (this.u32[list + L_EMPTY] === 0) this.markEmpty(list, false);
      this.i32[list + L_SPANS]--;
      this.addPages(EMPTY_PAGES, -POOL_SPAN_PAGES[cls]);
      this.i32[(record >>> 2) + R_STATE] = 0;
    }
    this.mem.unlock(list + L_LOCK);
    return record;
  }

  /** Pops the top span of class `cls` off this object's cache (which holds one); returns its slot. Its state is still S_CACHED. */
  private popCache(cls: number): number {
    const n = this.cacheCount[cls] - 1;
    this.cacheCount[cls] = n;
    if (n === 0) this.markCached(cls, false);
    this.cachedPages -= POOL_SPAN_PAGES[cls];
    return cls * CACHE_SLOTS + n;
  }

  /** Sets or clears class `cls`'s bit in the cache's class mask. */
  private markCached(cls: number, held: boolean): void {
    if (cls < 32) this.cacheLow = held ? this.cacheLow | (1 << cls) : this.cacheLow & ~(1 << cls);
    else this.cacheHigh = held ? this.cacheHigh | (1 << (cls - 32)) : this.cacheHigh & ~(1 << (cls - 32));
  }

  /**
   * The smallest class from `from` up with an empty span to take: in this
   * object's cache or in this shard's empty lists (their mask, a hint on
   * shared memory: the list is read again under its lock). -1 when none.
   */
  private nextEmpty(from: number): number {
    const masks = this.area + EMPTY_MASKS + 2 * this.shard;
    const low = from < 32 ? (this.cacheLow | this.i32[masks]) & (-1 << from) : 0;
    if (low !== 0) return 31 - Math.clz32(low & -low);
    const high = (this.cacheHigh | this.i32[masks + 1]) & (from <= 32 ? -1 : -1 << (from - 32));
    return high !== 0 ? 63 - Math.clz32(high & -high) : -1;
  }

  /** The biggest class below `below` with an empty span to take, as {@linkcode nextEmpty} finds them; -1 when none. */
  private biggestEmpty(below: number = POOL_CLASS_COUNT): number {
    const masks = this.area + EMPTY_MASKS + 2 * this.shard;
    const high = below > 32 ? (this.cacheHigh | this.i32[masks + 1]) & (below >= 64 ? -1 : ~(-1 << (below - 32))) : 0;
    if (high !== 0) return 63 - Math.clz32(high);
    const low = (this.cacheLow | this.i32[masks]) & (below >= 32 ? -1 : ~(-1 << below));
    return 31 - Math.clz32(low); // -1 for an empty mask
  }

  /** True when empty spans of `pages` pages in all (listed and cached) are within the budget. */
  private withinBudget(pages: number): boolean {
    return emptyWithinBudget(pages, this.i32[this.area + SPAN_PAGES]);
  }

  /**
   * Hands out a block of the span `record` (which has one): a freed block
   * first, else the next unused one. Lock held. A freed block must still carry
   * its freed marker and link to a handed-out block of the span (or to none):
   * else a write after free damaged it, and the list is cut there, the lock
   * released and CORRUPTED thrown (see {@linkcode PoolBackend.cutFreeList}).
   */
  private pop(list: number, record: number): number {
    const { i32, u32 } = this;
    const r = record >>> 2;
    let block = u32[r + R_FREE];
    if (block !== 0) {
      const next = readLink(i32, block);
      if (!isMarkedFree(i32, block) || (next !== 0 && !this.isHandedOut(next, r))) {
        throw this.cutFreeList(list, record, block);
      }
      u32[r + R_FREE] = next;
    } else {
      const index = i32[r + R_BUMP];
      i32[r + R_BUMP] = index + 1;
      block = blockAddress(u32[r + R_BASE], index, POOL_CLASS_SIZES[i32[r + R_CLASS]]);
    }
    clearMark(i32, block);
    const used = i32[r + R_USED] + 1;
    i32[r + R_USED] = used;
    if (used === i32[r + R_CAPACITY] && i32[r + R_STATE] === S_PARTIAL) this.becameFull(list, record);
    i32[list + L_ALLOCS]++;
    return block;
  }

  /** True when `block` starts a block of span record word `r` that was handed out at least once (below the bump mark). */
  private isHandedOut(block: number, r: number): boolean {
    const index = spanBlockIndex(block - this.u32[r + R_BASE], this.i32[r + R_CLASS]);
    return index >= 0 && index < this.i32[r + R_BUMP];
  }

  /**
   * The free block `block` of span `record` was written after it was freed:
   * its marker or its link is damaged, so neither it nor the blocks after it
   * can be trusted. The span's free list is cut there and every block it held
   * counted handed out for good (the span never empties again), as the list's
   * counters too, so the books stay whole; the damage is kept for check().
   * Releases the list's lock (held by every caller of pop) and returns the
   * CORRUPTED error to throw.
   */
  private cutFreeList(list: number, record: number, block: number): HakmemError {
    const i32 = this.i32;
    const r = record >>> 2;
    const lost = i32[r + R_BUMP] - i32[r + R_USED];
    this.u32[r + R_FREE] = 0;
    i32[r + R_USED] = i32[r + R_BUMP];
    i32[list + L_ALLOCS] += lost;
    i32[r + R_DAMAGED] = block;
    if (i32[r + R_USED] === i32[r + R_CAPACITY] && i32[r + R_STATE] === S_PARTIAL) this.becameFull(list, record);
    this.mem.unlock(list + L_LOCK);
    return new HakmemError(
      "CORRUPTED",
      `pool block ${describe(block)} on its span's free list lost its freed marker or links outside the span: a write after ` +
        `free damaged it (or the link that led to it); the ${lost} free blocks of its span from there on are left out of use`,
      block,
    );
  }

  /** A partial span handed out its last block: out of the partial list (a free finds it through the page map). Lock held. */
  private becameFull(list: number, record: number): void {
    this.unlink(list, record);
    this.i32[(record >>> 2) + R_STATE] = S_FULL;
  }

  /** Takes a new span (no lock held), lists it and hands out its first block; 0 when no span can be had. */
  private allocFromNewSpan(cls: number, list: number): number {
    const record = this.newSpan(cls);
    if (record === 0) {
      this.mem.add(this.area + FAILURES, 1);
      return 0;
    }
    const mem = this.mem;
    mem.lock(list + L_LOCK);
    this.i32[list + L_SPANS]++;
    if (POOL_SPAN_BLOCKS[cls] > 1) this.link(list, S_PARTIAL, record);
    else this.i32[(record >>> 2) + R_STATE] = S_FULL;
    const block = this.pop(list, record);
    mem.unlock(list + L_LOCK);
    return block;
  }

  /**
   * A new span of class `cls` for this worker's shard, not yet listed; 0 when the memory is full. Where the memory
   * would grow for it, the empty spans go back first unless `giveBack` is false (prewarm keeps what it took). No lock
   * held.
   */
  private newSpan(cls: number, giveBack = true): number {
    const record = this.records.alloc();
    if (record === 0) return 0;
    const owner = (record | this.kind) >>> 0;
    let page = this.pages.allocRun(POOL_SPAN_PAGES[cls], owner, false, !giveBack);
    if (page < 0 && giveBack) {
      // No free run fits: before the memory grows (a WebAssembly.Memory for good), the empty spans go back and join
      // their free neighbours, which may make the run (tests/wasm_base.test.ts, mid-size churn).
      if (this.cachedPages + this.i32[this.area + EMPTY_PAGES] !== 0) this.trim();
      page = this.pages.allocRun(POOL_SPAN_PAGES[cls], owner);
    }
    if (page < 0) {
      this.records.free(record);
      return 0;
    }
    // The record came zeroed: used, bump, free head, state and links are 0.
    const { i32, u32 } = this.mem; // read after the page heap call: a WebAssembly.Memory may have grown
    const r = record >>> 2;
    i32[r + R_CLASS] = cls;
    u32[r + R_BASE] = page * PAGE_SIZE;
    i32[r + R_CAPACITY] = POOL_SPAN_BLOCKS[cls];
    i32[r + R_SHARD] = this.shard;
    this.mem.add(this.area + SPANS_CREATED, 1);
    this.addPages(SPAN_PAGES, POOL_SPAN_PAGES[cls]);
    return record;
  }

  /** Gives a detached span's pages and record back; returns the bytes released. No lock held. */
  private releaseSpan(record: number): number {
    const cls = this.mem.i32[(record >>> 2) + R_CLASS];
    const page = this.mem.u32[(record >>> 2) + R_BASE] >>> PAGE_SHIFT;
    const pages = this.pages.freeRun(page);
    this.records.free(record);
    this.mem.add(this.area + SPANS_RELEASED, 1);
    this.addPages(SPAN_PAGES, -POOL_SPAN_PAGES[cls]);
    return pages * PAGE_SIZE;
  }

  /** Adds `delta` to the page gauge in area word `word` (atomically on shared memory). */
  private addPages(word: number, delta: number): void {
    this.mem.add(this.area + word, delta);
  }

  // ---- lists (lock held) -----------------------------------------------------------

  /** Pushes `record` on the front of list `state` of the entry at `list`. */
  private link(list: number, state: number, record: number): void {
    const { i32, u32 } = this;
    const r = record >>> 2;
    const head = u32[list + state];
    i32[r + R_STATE] = state;
    u32[r + R_PREV] = 0;
    u32[r + R_NEXT] = head;
    if (head !== 0) u32[(head >>> 2) + R_PREV] = record;
    u32[list + state] = record;
  }

  /**
   * Pushes `record` on the empty list of the entry at `list`. That list is a
   * stack: spans only ever leave it from the top (the last emptied is the
   * first reused), so it links forwards only and its back links stay 0.
   */
  private pushEmpty(list: number, record: number): void {
    const r = record >>> 2;
    this.i32[r + R_STATE] = S_EMPTY;
    this.u32[r + R_NEXT] = this.u32[list + L_EMPTY];
    if (this.u32[list + L_EMPTY] === 0) this.markEmpty(list, true);
    this.u32[list + L_EMPTY] = record;
  }

  /**
   * Sets (`held`) or clears the bit of the list at word `list` in its shard's empty mask (EMPTY_MASKS in spans.ts).
   * The list's lock held; atomically on shared memory, where the other lists of the shard share the word.
   */
  private markEmpty(list: number, held: boolean): void {
    const entry = (list - this.table) / LIST_WORDS; // cls × POOL_SHARDS + shard
    const shard = entry % POOL_SHARDS;
    const cls = (entry - shard) / POOL_SHARDS;
    const word = this.area + EMPTY_MASKS + 2 * shard + (cls >>> 5);
    const bit = 1 << (cls & 31);
    if (this.shared) {
      if (held) Atomics.or(this.i32, word, bit);
      else Atomics.and(this.i32, word, ~bit);
    } else this.i32[word] = held ? this.i32[word] | bit : this.i32[word] & ~bit;
  }

  /** Takes `record` out of the partial list. */
  private unlink(list: number, record: number): void {
    const u32 = this.u32;
    const r = record >>> 2;
    const prev = u32[r + R_PREV];
    const next = u32[r + R_NEXT];
    if (prev !== 0) u32[(prev >>> 2) + R_NEXT] = next;
    else u32[list + L_PARTIAL] = next;
    if (next !== 0) u32[(next >>> 2) + R_PREV] = prev;
    u32[r + R_PREV] = 0;
    u32[r + R_NEXT] = 0;
  }

  // ---- free -------------------------------------------------------------------------

  /** Frees the block at `ptr`; `pageEntry` is its page-map entry when the router has read it already. */
  free(ptr: number, pageEntry?: number): void {
    const entry = pageEntry ?? this.pages.ownerOf(ptr);
    if ((entry & KIND_MASK) !== this.kind) throw notInPool(ptr);
    const record = recordOf(entry);
    const r = record >>> 2;
    const i32 = this.i32;
    const cls = i32[r + R_CLASS];
    if (!this.spanHolds(r, cls, ptr)) {
      // The span's record may lie in memory another worker grew: look again once. Else it is damaged.
      if (this.mem.refresh(true)) return this.free(ptr, entry);
      throw damagedSpan(ptr, record, this.mem.i32);
    }
    if (POOL_SPAN_BLOCKS[cls] === 1 && ptr === this.u32[r + R_BASE]) {
      // A single-block span's state says whether its block is free: exact, no marker needed.
      const state = i32[r + R_STATE];
      if (state === S_FULL && !this.shared) return this.freeSingle(ptr, record, cls);
      if (state === S_EMPTY || state === S_CACHED) throw notLive(ptr, false);
    }
    const index = spanBlockIndex(ptr - this.u32[r + R_BASE], cls);
    if (index < 0 || index >= i32[r + R_CAPACITY]) {
      // The span's record may lie in memory another worker grew: look again once.
      if (this.mem.refresh(true)) return this.free(ptr, entry);
      throw this.notABlock(ptr, record);
    }
    const list = this.listOf(cls, i32[r + R_SHARD]);
    if (this.shared) this.mem.lock(list + L_LOCK);
    this.freeLocked(ptr, record, list, index);
  }

  /**
   * True when the record at word `r` (class `cls`) can describe a span that
   * holds `ptr`: a class and shard in range, a state a listed or full span
   * has, a page-aligned base at most a span's pages below `ptr`. A stray
   * write into the metadata pages fails it, and free then changes nothing:
   * every word it would write (a list's, the cache's) is named by these.
   */
  private spanHolds(r: number, cls: number, ptr: number): boolean {
    const i32 = this.i32;
    const shard = i32[r + R_SHARD];
    const state = i32[r + R_STATE];
    const base = this.u32[r + R_BASE];
    return cls >= 0 && cls < POOL_CLASS_COUNT && shard >= 0 && shard < POOL_SHARDS && state >= S_PARTIAL && state <= S_CACHED &&
      base % PAGE_SIZE === 0 && ptr >= base && ptr - base < POOL_SPAN_PAGES[cls] * PAGE_SIZE;
  }

  /**
   * Unshared memory, the live block of a single-block span: into this
   * object's cache while it has room and the budget allows, else onto the
   * memory's empty list, or back to the page heap past the budget.
   */
  private freeSingle(ptr: number, record: number, cls: number): void {
    const r = record >>> 2;
    if (this.cacheSpan(ptr, r, cls)) return;
    const i32 = this.i32;
    const list = this.listOf(cls, i32[r + R_SHARD]);
    i32[list + L_FREES]++;
    // Into the span's books: bump 0 says its one block is free (no free list to keep).
    i32[r + R_USED] = 0;
    i32[r + R_BUMP] = 0;
    const release = this.emptied(list, record);
    if (release !== 0) this.releaseSpan(release);
  }

  /** The rest of free, with the span's list lock held (views read again: locking may have refreshed them). */
  private freeLocked(ptr: number, record: number, list: number, index: number): void {
    const { i32, u32 } = this;
    const r = record >>> 2;
    if (
      index >= i32[r + R_BUMP] ||
      ((isMarkedFree(i32, ptr) || this.debug) && (this.onFreeList(record, ptr) || this.inBlockCache(ptr, r)))
    ) {
      this.mem.unlock(list + L_LOCK);
      throw notLive(ptr, index >= i32[r + R_BUMP]);
    }
    writeLink(i32, ptr, u32[r + R_FREE]);
    markFree(i32, ptr);
    u32[r + R_FREE] = ptr;
    const used = i32[r + R_USED] - 1;
    i32[r + R_USED] = used;
    i32[list + L_FREES]++;
    if (used !== 0 && used === i32[r + R_CACHED]) this.notePinned(r); // the rest of its blocks sit in a block cache
    if (used === 0) {
      const release = this.emptied(list, record);
      this.mem.unlock(list + L_LOCK);
      if (release !== 0) this.releaseSpan(release);
      return;
    }
    if (i32[r + R_STATE] === S_FULL) this.link(list, S_PARTIAL, record);
    this.mem.unlock(list + L_LOCK);
  }

  /**
   * A span whose last block was freed: cached in the empty list while the
   * budget allows, else detached and returned for release. Lock held.
   */
  private emptied(list: number, record: number): number {
    const i32 = this.i32;
    const r = record >>> 2;
    if (i32[r + R_STATE] === S_PARTIAL) this.unlink(list, record);
    const pages = POOL_SPAN_PAGES[i32[r + R_CLASS]];
    if (this.withinBudget(i32[this.area + EMPTY_PAGES] + pages + this.cachedPages)) {
      this.addPages(EMPTY_PAGES, pages);
      this.pushEmpty(list, record);
      return 0;
    }
    i32[r + R_STATE] = 0;
    i32[list + L_SPANS]--;
    return record;
  }

  /** True when `block` is on the free list of span `record` (walks it; bounded by the capacity). Lock held. */
  private onFreeList(record: number, block: number): boolean {
    const { i32, u32 } = this.mem;
    const r = record >>> 2;
    let steps = i32[r + R_CAPACITY];
    for (let node = u32[r + R_FREE]; node !== 0 && steps >= 0; node = readLink(i32, node), steps--) {
      if (node === block) return true;
    }
    return false;
  }

  /** The error for a pointer inside a pool span that starts no block of it. */
  private notABlock(ptr: number, record: number): HakmemError {
    const r = record >>> 2;
    const size = POOL_CLASS_SIZES[this.mem.i32[r + R_CLASS]];
    const offset = ptr - this.mem.u32[r + R_BASE];
    if (offset % size !== 0) {
      const start = ptr - (offset % size);
      return new HakmemError(
        "INTERIOR_POINTER",
        `pointer ${describe(ptr)} points inside the pool block at ${describe(start)} (${size} bytes), not at its start`,
        ptr,
      );
    }
    return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is in the unused tail of a pool span, past its last block`, ptr);
  }

  /** The record of the block starting at `ptr`, or throws for a pointer that starts no handed-out pool block. */
  private blockRecord(ptr: number): number {
    const entry = this.pages.ownerOf(ptr);
    if ((entry & KIND_MASK) !== this.kind) throw notInPool(ptr);
    const record = recordOf(entry);
    const r = record >>> 2;
    const i32 = this.mem.i32;
    if (!this.spanHolds(r, i32[r + R_CLASS], ptr)) throw damagedSpan(ptr, record, i32);
    const index = spanBlockIndex(ptr - this.mem.u32[r + R_BASE], i32[r + R_CLASS]);
    if (index < 0 || index >= i32[r + R_CAPACITY]) throw this.notABlock(ptr, record);
    // A freed block has no size and may not be resized: the same tests as free's.
    const single = i32[r + R_CAPACITY] === 1;
    if (
      single
        ? i32[r + R_STATE] !== S_FULL
        : index < i32[r + R_BUMP] && (isMarkedFree(i32, ptr) || this.debug) && this.isFreeBlock(record, ptr)
    ) {
      throw new HakmemError("INVALID_POINTER", `pool block ${describe(ptr)} is free: used after it was freed`, ptr);
    }
    if (index >= i32[r + R_BUMP]) throw notLive(ptr, true);
    return record;
  }

  /** True when `block` of span `record` is on the span's free list (takes the list's lock). */
  private isFreeBlock(record: number, block: number): boolean {
    const mem = this.mem;
    const r = record >>> 2;
    const list = this.listOf(mem.i32[r + R_CLASS], mem.i32[r + R_SHARD]);
    mem.lock(list + L_LOCK);
    const free = this.onFreeList(record, block) || this.inBlockCache(block, r);
    mem.unlock(list + L_LOCK);
    return free;
  }

  // ---- queries ------------------------------------------------------------------------

  /** Resizing within the block's class needs nothing; any other class needs a new block. */
  resizeInPlace(ptr: number, size: number): boolean {
    const record = this.blockRecord(ptr);
    return size <= POOL_MAX_SIZE && poolClassOf(size) === this.mem.i32[(record >>> 2) + R_CLASS];
  }

  owns(ptr: number): boolean {
    if ((ptr >>> 0) !== ptr) return false;
    const entry = this.pages.ownerOf(ptr);
    if ((entry & KIND_MASK) !== this.kind) return false;
    const r = recordOf(entry) >>> 2;
    const i32 = this.mem.i32;
    const index = spanBlockIndex(ptr - this.mem.u32[r + R_BASE], i32[r + R_CLASS]);
    return index >= 0 && index < i32[r + R_CAPACITY];
  }

  usableSize(ptr: number): number {
    return POOL_CLASS_SIZES[this.mem.i32[(this.blockRecord(ptr) >>> 2) + R_CLASS]];
  }

  // ---- prewarm ------------------------------------------------------------------------

  /** Takes one span for the class of each size in `sizes` into this shard's empty lists; counts the spans it got. */
  private prewarm(sizes: readonly number[]): void {
    let succeeded = 0;
    let failed = 0;
    for (const size of sizes) {
      const cls = poolClassOf(size);
      const record = this.newSpan(cls, false);
      if (record !== 0) {
        const list = this.listOf(cls, this.shard);
        const mem = this.mem;
        mem.lock(list + L_LOCK);
        this.pushEmpty(list, record);
        this.i32[list + L_SPANS]++;
        this.addPages(EMPTY_PAGES, POOL_SPAN_PAGES[cls]);
        mem.unlock(list + L_LOCK);
        succeeded++; // a span was got: that, and only that, is a success (seed 004)
      } else {
        failed++;
      }
    }
    const i32 = this.mem.i32;
    i32[this.area + PREWARM_REQUESTED] = sizes.length;
    i32[this.area + PREWARM_SUCCEEDED] = succeeded;
    i32[this.area + PREWARM_FAILED] = failed;
  }

  /** What prewarm asked for when the heap was created, and how many spans it got. */
  prewarmReport(): PrewarmReport {
    const i32 = this.mem.i32;
    return {
      requested: i32[this.area + PREWARM_REQUESTED],
      succeeded: i32[this.area + PREWARM_SUCCEEDED],
      failed: i32[this.area + PREWARM_FAILED],
    };
  }

  // ---- reports ------------------------------------------------------------------------

  /** Sums over every list entry (a snapshot, read without locks). */
  private totals(): {
    allocs: number;
    frees: number;
    live: number;
    liveBytes: number;
    spans: number;
    footprint: number;
    capacityBytes: number;
  } {
    const i32 = this.mem.i32;
    let allocs = 0;
    let frees = 0;
    let live = 0;
    let liveBytes = 0;
    let spans = 0;
    let footprint = 0;
    let capacityBytes = 0;
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      const size = POOL_CLASS_SIZES[cls];
      for (let shard = 0; shard < POOL_SHARDS; shard++) {
        const list = this.listOf(cls, shard);
        const listLive = (i32[list + L_ALLOCS] - i32[list + L_FREES]) | 0;
        const listSpans = i32[list + L_SPANS];
        allocs += i32[list + L_ALLOCS] >>> 0;
        frees += i32[list + L_FREES] >>> 0;
        live += listLive;
        liveBytes += listLive * size;
        spans += listSpans;
        footprint += listSpans * POOL_SPAN_PAGES[cls] * PAGE_SIZE;
        capacityBytes += listSpans * POOL_SPAN_BLOCKS[cls] * size;
      }
    }
    return { allocs, frees, live, liveBytes, spans, footprint, capacityBytes };
  }

  health(): BackendHealth {
    const i32 = this.mem.i32;
    const a = this.area;
    const totals = this.totals();
    const prewarm = this.prewarmReport();
    const health: BackendHealth = {
      name: "pool",
      ready: true,
      counters: {
        allocs: totals.allocs,
        frees: totals.frees,
        liveBlocks: totals.live,
        spans: totals.spans,
        spansCreated: i32[a + SPANS_CREATED] >>> 0,
        spansReleased: i32[a + SPANS_RELEASED] >>> 0,
        failures: i32[a + FAILURES] >>> 0,
        prewarmRequested: prewarm.requested,
        prewarmSucceeded: prewarm.succeeded,
        prewarmFailed: prewarm.failed,
      },
    };
    if (prewarm.failed > 0) health.reason = `prewarm got ${prewarm.succeeded} of ${prewarm.requested} spans (the memory was full)`;
    return health;
  }

  stats(): BackendStats {
    const totals = this.totals();
    return {
      name: "pool",
      liveBlocks: totals.live,
      liveBytes: totals.liveBytes,
      footprintBytes: totals.footprint,
      cachedBytes: totals.capacityBytes - totals.liveBytes,
      detail: { spans: totals.spans, tailBytes: totals.footprint - totals.capacityBytes },
    };
  }

  /** This heap object leaves the memory: the spans in its cache go back to the page heap. */
  detach(): void {
    this.releaseCache();
  }

  /** Gives every span in this object's cache back to the page heap; returns the bytes. */
  private releaseCache(): number {
    const spanPages = this.mem.i32[this.area + SPAN_PAGES];
    this.flushBlocks(); // spans that empty may go back to the page heap: counted below
    let released = (spanPages - this.mem.i32[this.area + SPAN_PAGES]) * PAGE_SIZE;
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      while (this.cacheCount[cls] !== 0) released += this.releaseSpan(this.detachEmpty(cls));
    }
    return released;
  }

  /**
   * The heap object of worker slot `workerId` is gone without detaching: the
   * spans its cache held (state cached, its slot in the record) go back to
   * the page heap. Only heaps over unshared memory have such caches.
   */
  reclaim(workerId: number): void {
    const runs = this.pages.runsOfKind(this.kind);
    for (let at = 0; at < runs.length; at += 2) {
      const record = recordOf(runs[at + 1]);
      const r = record >>> 2;
      const i32 = this.mem.i32;
      if (i32[r + R_STATE] !== S_CACHED || i32[r + R_CACHER] !== workerId) continue;
      i32[this.listOf(i32[r + R_CLASS], i32[r + R_SHARD]) + L_SPANS]--;
      i32[r + R_STATE] = 0;
      this.releaseSpan(record);
    }
    // The blocks its block cache held: the free marker, its tag for link word (no free list's link is odd), counted in
    // their span's R_CACHED. (A live block whose first two words a program set to exactly these would be taken too.)
    const tag = cacheTag(workerId);
    const spans = this.pages.runsOfKind(this.kind);
    for (let at = 0; at < spans.length; at += 2) {
      const record = recordOf(spans[at + 1]);
      const r = record >>> 2;
      const { i32, u32 } = this.mem;
      const cls = i32[r + R_CLASS];
      if (!(i32[r + R_CACHED] > 0) || !(POOL_SPAN_BLOCKS[cls] > 1)) continue;
      const list = this.listOf(cls, i32[r + R_SHARD]);
      for (let index = i32[r + R_BUMP] - 1; index >= 0 && i32[r + R_CACHED] > 0 && i32[r + R_STATE] !== 0; index--) {
        const block = blockAddress(u32[r + R_BASE], index, POOL_CLASS_SIZES[cls]);
        if (isMarkedFree(i32, block) && readLink(i32, block) === tag) this.returnBlock(block, record, list);
      }
    }
  }

  /**
   * The first record of the empty list at word `list` (from `first`) that
   * is no empty span of the list's class, or one past its count of spans (a
   * loop); 0 when the list is whole. Walked before trim detaches anything,
   * so that a record written over ends it with CORRUPTED, nothing changed.
   * Lock held.
   */
  private badEmptyList(list: number, first: number): number {
    const { i32, u32 } = this.mem;
    const cls = Math.floor((list - this.table) / LIST_WORDS / POOL_SHARDS);
    let left = i32[list + L_SPANS];
    for (let record = first; record !== 0; record = u32[(record >>> 2) + R_NEXT]) {
      if (left-- <= 0 || record % RECORD_BYTES !== 0 || record >= i32.length * 4) return record;
      if (i32[(record >>> 2) + R_STATE] !== S_EMPTY || i32[(record >>> 2) + R_CLASS] !== cls) return record;
    }
    return 0;
  }

  /** Returns every empty span (in this object's cache, listed, or prewarmed) to the page heap. */
  trim(): number {
    const mem = this.mem;
    let released = this.releaseCache();
    for (let entry = 0; entry < LIST_COUNT; entry++) {
      const list = this.table + entry * LIST_WORDS;
      if (mem.u32[list + L_EMPTY] === 0) continue; // a hint; the detach below is under the lock
      mem.lock(list + L_LOCK);
      const { i32, u32 } = mem;
      const first = u32[list + L_EMPTY];
      const bad = this.badEmptyList(list, first);
      if (bad !== 0) {
        mem.unlock(list + L_LOCK);
        throw new HakmemError(
          "CORRUPTED",
          `the pool's empty list at ${describe(list * 4)} leads to ${describe(bad)}, which is no empty span of its class (or the ` +
            `list loops): a record was written over; trim() left the list as it is`,
          bad,
        );
      }
      u32[list + L_EMPTY] = 0;
      if (first !== 0) this.markEmpty(list, false);
      for (let record = first; record !== 0; record = u32[(record >>> 2) + R_NEXT]) {
        i32[(record >>> 2) + R_STATE] = 0;
        i32[list + L_SPANS]--;
        this.addPages(EMPTY_PAGES, -POOL_SPAN_PAGES[i32[(record >>> 2) + R_CLASS]]);
      }
      mem.unlock(list + L_LOCK);
      for (let record = first; record !== 0;) {
        const next = mem.u32[(record >>> 2) + R_NEXT];
        released += this.releaseSpan(record);
        record = next;
      }
    }
    return released;
  }

  /** Its spans for the heap picture: every page run of its kind is one span, read from the span's record. */
  describe(): MemoryDescription {
    const i32 = this.mem.i32;
    const regions: RegionDescription[] = [];
    this.pages.forEachRun((first, count, entry) => {
      if ((entry & KIND_MASK) !== this.kind) return;
      const r = ((entry & ~KIND_MASK) >>> 0) >>> 2;
      const state = i32[r + R_STATE];
      regions.push({
        base: first * PAGE_SIZE,
        pages: count,
        sizeClass: i32[r + R_CLASS],
        used: i32[r + R_USED] - i32[r + R_CACHED], // blocks in a block cache are free to the program
        capacity: i32[r + R_CAPACITY],
        state: state === S_FULL ? "full" : state === S_PARTIAL ? "partial" : state === S_EMPTY ? "empty" : "changing",
      });
    });
    return { style: "classes", regionNoun: "span", classSizes: POOL_CLASS_SIZES, regions };
  }

  /**
   * Cheap: the counters agree with each other. Full: also walks every list,
   * every span's free list, and the page heap's runs (full spans are in no
   * list). Reads without locks: run it while no other worker allocates.
   */
  check(level: CheckLevel, problems: CheckProblem[]): void {
    checkPool(this.checkState(), level, problems);
  }

  /** What check.ts reads: the memory, and this heap object's own cache (cold: built per check). */
  private checkState(): PoolCheckState {
    const { mem, pages, kind, area, table, cacheRecords, cacheBlocks, cacheCount, cachedPages, blockCache, blockRecords, blockCount, tag } =
      this;
    return { mem, pages, kind, area, table, cacheRecords, cacheBlocks, cacheCount, cachedPages, blockCache, blockRecords, blockCount, tag };
  }
}

/** The error for a pointer in no pool span. */
function notInPool(ptr: number): HakmemError {
  return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is not in a pool span`, ptr);
}

/** The error for a free whose span record fails {@linkcode PoolBackend.spanHolds}: the record is damaged, nothing was changed. */
function damagedSpan(ptr: number, record: number, i32: Int32Array): HakmemError {
  const r = record >>> 2;
  return new HakmemError(
    "CORRUPTED",
    `pool block ${describe(ptr)}: its span record at ${describe(record)} is damaged (class ${i32[r + R_CLASS]}, shard ${
      i32[r + R_SHARD]
    }, state ${i32[r + R_STATE]}, base ${describe(i32[r + R_BASE] >>> 0)}); the block was left as it is`,
    ptr,
  );
}

/** The error for a block start that is not live: free already, or never handed out. */
function notLive(ptr: number, neverHandedOut: boolean): HakmemError {
  return neverHandedOut
    ? new HakmemError("INVALID_POINTER", `pool block ${describe(ptr)} was never handed out`, ptr)
    : new HakmemError("DOUBLE_FREE", `pool block ${describe(ptr)} is free already: a double free`, ptr);
}

/**
 * Builds a pool backend factory. `prewarm` lists sizes whose class gets one
 * span when a heap is created (not when one is attached).
 * Throws `INVALID_OPTION` for a size outside 1 .. 262144.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { mmapBackend } from "../mmap/mod.ts";
 * import { createPoolBackend } from "./pool.ts";
 * const heap = createHeap({ backends: [createPoolBackend({ prewarm: [4096, 65536] }), mmapBackend] });
 * const pool = heap.health().backends.find((backend) => backend.name === "pool")!;
 * assert.equal(pool.counters.prewarmSucceeded, 2);
 * ```
 */
export function createPoolBackend(options: PoolBackendOptions = {}): BackendFactory {
  if (typeof options !== "object" || options === null || (options.prewarm !== undefined && !Array.isArray(options.prewarm))) {
    throw new HakmemError("INVALID_OPTION", "pool options must be an object whose prewarm, if given, is an array of sizes", options);
  }
  const prewarm = [...(options.prewarm ?? [])];
  for (const size of prewarm) {
    if (!Number.isSafeInteger(size) || size < 1 || size > POOL_MAX_SIZE) {
      throw new HakmemError(
        "INVALID_OPTION",
        `pool prewarm sizes must be integers from 1 to ${POOL_MAX_SIZE}, got ${describe(size)}`,
        size,
      );
    }
  }
  return {
    name: "pool",
    create: (context: BackendContext): Backend => new PoolBackend(context, prewarm),
  };
}

/**
 * Builds the pool backend without prewarm.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { mmapBackend } from "../mmap/mod.ts";
 * import { poolBackend } from "./pool.ts";
 * const heap = createHeap({ backends: [poolBackend, mmapBackend] }); // pool from 1 byte up to 256 KiB
 * assert.equal(heap.usableSize(heap.malloc(3000)), 3072);
 * ```
 */
export const poolBackend: BackendFactory = createPoolBackend();
