/**
 * The tiny backend: requests up to 1 KiB in 21 size classes, served from
 * slabs with intrusive free lists, through per-worker caches.
 *
 * Hot path, cache on (the seeds' TLS SLL):
 *   malloc  class = table[size]; pop the class's cache stack      (JS arrays)
 *   free    page map → slab record → checks → push on the stack   (memory + JS)
 * A miss refills half the cache's cap from the current slab (free list first,
 * then the bump area); a full cache spills its older half back to the slabs.
 * With the cache off (`tinyCache: false`, HAKMEM_TINY_TLS_SLL=0) blocks go
 * straight to and from the current slab.
 *
 * Where a class gets space, in order: its current slab, a slab of its own
 * with freed blocks (the partial list), then the slab source (shared pool or
 * legacy), which reuses empty and unused slabs before taking a new SuperSlab.
 * A slab whose blocks are all back goes to the source at once (unless it is
 * current). Cached blocks count as used by their slab; `trim()` flushes the
 * caches so those slabs are seen empty and released, and `stats()` reports
 * slabs that are empty but for cached blocks.
 *
 * Workers: every slab has one owner. A free of a block in another worker's
 * slab is a remote free: one compare-and-swap onto the slab's remote list,
 * never into the freeing worker's cache. The owner takes a slab's whole remote
 * list with one exchange when the slab runs dry, and looks at a few of its
 * used-up slabs for remote frees before asking the source for a new one. On
 * unshared memory none of this runs: no Atomics on the local path.
 *
 * What a stray write or another worker can do is answered, never passed on
 * (DESIGN.md, lesson 8). A double free is caught by the block's free mark,
 * confirmed on its slab's lists or in its owner's cache, whichever worker
 * owns the slab. A block taken off a slab's free or remote list must still
 * carry its free mark and link to a handed-out block of its slab (two
 * compares and a multiply per block); a damaged one cuts the list there
 * (S_DAMAGED, reported by check) and a malloc answers CORRUPTED, never a
 * wild pointer. The caches need no such check: they hold block offsets in
 * the cache page, not links in the blocks.
 *
 * Each worker's caches live in a page of the memory of its own (the "cache
 * page"), so a worker that leaves (`detach`) or is terminated (`reclaim`, run
 * by another worker) gives every cached block back; its slabs go to the
 * source when empty, else to a shared orphan list from which any worker of
 * the class adopts them. The heads of a worker's partial and full lists are
 * the only tiny state kept in JavaScript objects.
 *
 * ```
 * cache page (words)   0: count per class   32: cap per class
 *                      64: stack start per class (words from the page)
 *                      96: page words        128..: the stacks (block offsets)
 * tiny header area     512 + worker: its cache page   600 + class: orphan lists
 *                      640: orphan lock
 * ```
 *
 * Files: this one is the backend (alloc, free, the caches' push and pop,
 * slab lists, remote frees and orphans); cache_page.ts opens and reads the
 * cache pages; check.ts holds its check; describe.ts its heap picture; a
 * block's address, link and free mark are computed in ../slab/blocks.ts.
 * @module
 */

import { describe, HakmemError } from "../../core/errors.ts";
import { HEADER_BYTES, KIND_MASK, MAX_WORKERS, PAGE_SHIFT } from "../../memory/layout.ts";
import { RECORD_BYTES, type RecordArena } from "../../memory/records.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
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
  SlabSource,
} from "../../router/box.ts";
import { CLASS_COUNT, CLASS_SIZES, SIZE_TO_CLASS, TINY_MAX_SIZE } from "../slab/size_classes.ts";
import { blockAddress, clearMark, isMarkedFree, linkSlot, markFree, readLink, writeLink } from "../slab/blocks.ts";
import {
  isHandedOut,
  liveBlockClass,
  RecordList,
  S_BASE,
  S_BUMP,
  S_CAPACITY,
  S_CLASS,
  S_DAMAGED,
  S_FREE,
  S_INDEX,
  S_NEXT,
  S_OWNER,
  S_PREV,
  S_REMOTE,
  S_SIZE,
  S_STATE,
  S_SUPERSLAB,
  S_USED,
  SLAB_BYTES,
  slabBase,
  SLABS_PER_SUPERSLAB,
  SlabState,
  SS_SOURCE,
  SUPERSLAB_BYTES,
} from "../slab/slab.ts";
import type { SlabSourceFactory } from "../slab/sources.ts";
import { allCachedBlocks, cacheCaps, emptyWorkerCache, inWorkerCache, openCachePage, P_STACKS, stackShift } from "./cache_page.ts";

/** The cache page's stacks' first word from its counts' (P_STACKS), as a literal for the hot path; checked on load. */
const enum CachePage {
  stacks = 128,
}
if (CachePage.stacks !== P_STACKS) throw new Error("tiny.ts: CachePage.stacks disagrees with cache_page.ts");
import { checkTiny, type TinyCheckState } from "./check.ts";
import { describeSlabs } from "./describe.ts";

/** How to build tiny itself (its slab sources are chosen by whoever assembles it: see `createTinyBackend`). */
export interface TinyCacheOptions {
  /** Per-worker caches on (default) or off. */
  cache?: boolean;
  /** Most blocks a class's cache holds (further bounded to about 8 KiB of blocks per class). */
  cacheCap?: number;
}

// Tiny's header area words (the sources use 64..511; 512.. are the cache pages', see cache_page.ts).
const T_ORPHANS = 600; // + class: list of orphaned slabs
const T_ORPHAN_LOCK = 640;
/** Used-up slabs looked at for remote frees before a new slab is taken. */
const FULL_SCAN = 8;
// Health counters (per worker).
const C_REFILLS = 0;
const C_SPILLS = 1;
const C_ACQUIRED = 2;
const C_RELEASED = 3;
const C_FAILURES = 4;
const C_REMOTE_FREES = 5;
const C_REMOTE_COLLECTED = 6;
const C_ADOPTED = 7;
const COUNTER_NAMES = [
  "refills",
  "spills",
  "slabsAcquired",
  "slabsReleased",
  "failures",
  "remoteFrees",
  "remoteCollected",
  "orphansAdopted",
];

/**
 * Tiny: size classes up to 1 KiB over a slab source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { TinyBackend } from "./tiny.ts";
 * const heap = createHeap();
 * heap.malloc(64);
 * const tiny = heap.router.backends.find((backend) => backend instanceof TinyBackend) as TinyBackend;
 * assert.equal(tiny.capabilities.maxSize, 1024);
 * assert.equal(tiny.stats().liveBlocks, 1);
 * ```
 */
export class TinyBackend implements Backend {
  /** Sizes 1..1024; every block 8-aligned, 16-aligned from 16 bytes up (see size_classes.ts). */
  readonly capabilities: Capabilities;
  private readonly mem: LinearMemory;
  private readonly pages: PageHeap;
  private readonly kind: number;
  /** This worker's id + 1, the owner stamp of its slabs. */
  private readonly owner: number;
  private readonly cacheOn: boolean;
  private readonly shared: boolean;
  private readonly area: number;
  private readonly records: RecordArena;
  /** Word index of this worker's per-class cache counts (in its cache page). */
  private countAt = 0;
  /** log2 of the words between two classes' stacks. */
  private readonly stackShift: number;
  private readonly cacheCap: Int32Array;
  private readonly current: Float64Array; // per class: slab record byte offset, 0 none
  private readonly partial: Float64Array; // per class: first slab with freed blocks
  private readonly full: Float64Array; // per class: first used-up slab
  private readonly orphans: RecordList[] = [];
  private readonly sources: readonly SlabSource[]; // by the SS_SOURCE word of their SuperSlabs
  private readonly primary: SlabSource;
  private readonly reported: readonly SlabSource[];
  private readonly counters = new Float64Array(COUNTER_NAMES.length);
  /** The memory's views, kept here for the hot path (rebuilt with the memory's, see LinearMemory.onRefresh). */
  private i32: Int32Array;
  private u32: Uint32Array;

  /** Builds this worker's view of the backend: its state lives in the memory at the context's area, shared by every worker's instance. */
  constructor(context: BackendContext, options: TinyCacheOptions, slabSources: SlabSourceFactory) {
    this.mem = context.mem;
    this.i32 = this.mem.i32;
    this.u32 = this.mem.u32;
    this.mem.onRefresh(() => {
      this.i32 = this.mem.i32;
      this.u32 = this.mem.u32;
    });
    this.pages = context.pages;
    this.kind = context.kind;
    this.owner = context.workerId + 1;
    this.cacheOn = options.cache ?? true;
    this.shared = this.mem.shared;
    this.area = context.areaWord;
    this.records = context.records;
    this.cacheCap = cacheCaps(options.cacheCap);
    this.stackShift = stackShift(this.cacheCap);
    this.current = new Float64Array(CLASS_COUNT);
    this.partial = new Float64Array(CLASS_COUNT);
    this.full = new Float64Array(CLASS_COUNT);
    for (let cls = 0; cls < CLASS_COUNT; cls++) this.orphans.push(new RecordList(this.mem, this.area + T_ORPHANS + cls, S_NEXT, S_PREV));
    if (this.cacheOn) this.countAt = openCachePage(this.mem, this.pages, this.area, context.workerId, this.cacheCap);
    const sources = slabSources(context);
    this.sources = sources.all;
    this.primary = sources.primary;
    this.reported = sources.reported;
    this.capabilities = {
      name: "tiny",
      minSize: 1,
      maxSize: TINY_MAX_SIZE,
      alignment: 8,
      sharedMemorySafe: true,
      alignedAlloc: false,
    };
  }

  /** The slab source tiny asks first ("shared_pool" or "legacy"). */
  get slabSource(): SlabSource {
    return this.primary;
  }

  // ---- allocation ---------------------------------------------------------------

  alloc(size: number): number {
    if (size > TINY_MAX_SIZE) return 0;
    if (!this.cacheOn) return this.takeOne(SIZE_TO_CLASS[size]);
    const ptr = this.popCached(size);
    return ptr !== 0 ? ptr : this.refill(SIZE_TO_CLASS[size]);
  }

  /** A block from this worker's cache of the size's class, or 0 when it is empty or off. `size` is an integer 0..1024. */
  popCached(size: number): number {
    if (!this.cacheOn) return 0;
    const i32 = this.i32;
    const cls = SIZE_TO_CLASS[size];
    const count = this.countAt + cls;
    const n = i32[count] - 1;
    if (!(n >= 0)) return 0; // NaN too: a size that is no integer has no class; a detached view reads undefined
    const ptr = i32[this.countAt + CachePage.stacks + (cls << this.stackShift) + n] >>> 0;
    i32[count] = n;
    clearMark(i32, ptr);
    return ptr;
  }

  /** Word index of class `cls`'s cache stack (popCached and pushCached write it out: a call more would not inline). */
  private stackOf(cls: number): number {
    return this.countAt + CachePage.stacks + (cls << this.stackShift);
  }

  /** Cache off: one block from the class's current slab (free list first, then bump). */
  private takeOne(cls: number): number {
    let slab = this.current[cls];
    for (;;) {
      if (slab !== 0) {
        const i32 = this.mem.i32; // read again after nextSlab: growing a WebAssembly.Memory replaces the views
        const r = slab >>> 2;
        const head = i32[r + S_FREE];
        if (head !== 0) {
          // A write after free must not turn the list into a wild pointer: the block keeps its free mark, its link stays in the slab.
          const next = i32[linkSlot(head)];
          if (!isMarkedFree(i32, head) || (next !== 0 && !this.isHandedOutBlock(next >>> 0, r))) {
            throw this.cutFreeList(r, head >>> 0);
          }
          i32[r + S_FREE] = next;
          i32[r + S_USED]++;
          clearMark(i32, head);
          return head >>> 0;
        }
        const bump = i32[r + S_BUMP];
        if (bump < i32[r + S_CAPACITY]) {
          i32[r + S_BUMP] = bump + 1;
          i32[r + S_USED]++;
          return blockAddress(i32[r + S_BASE] >>> 0, bump, i32[r + S_SIZE]);
        }
        if (this.shared && this.collectRemote(slab) > 0) continue;
      }
      slab = this.nextSlab(cls);
      if (slab === 0) return 0;
    }
  }

  /** Cache miss: moves up to half the cap into the cache and returns one block. */
  private refill(cls: number): number {
    let i32 = this.mem.i32;
    const want = (this.cacheCap[cls] + 1) >> 1;
    let cache = this.mem.u32;
    const at = this.stackOf(cls);
    let got = 0;
    let slab = this.current[cls];
    this.counters[C_REFILLS]++;
    while (got < want) {
      if (slab === 0 || (i32[(slab >>> 2) + S_FREE] === 0 && i32[(slab >>> 2) + S_BUMP] >= i32[(slab >>> 2) + S_CAPACITY])) {
        i32[this.countAt + cls] = got; // what it took so far stays cached should nextSlab throw (a damaged record)
        if (slab === 0 || !this.shared || this.collectRemote(slab) === 0) slab = this.nextSlab(cls);
        if (slab === 0) break;
        // A new slab may have grown the memory: a WebAssembly.Memory then has new views.
        i32 = this.mem.i32;
        cache = this.mem.u32;
      }
      const r = slab >>> 2;
      let head = i32[r + S_FREE];
      let taken = 0;
      while (head !== 0 && got < want) {
        // As in takeOne: a damaged block or link ends the refill with CORRUPTED; what it took is kept in the cache.
        const next = i32[linkSlot(head)];
        if (!isMarkedFree(i32, head) || (next !== 0 && !this.isHandedOutBlock(next >>> 0, r))) {
          i32[r + S_USED] += taken;
          i32[this.countAt + cls] = got;
          throw this.cutFreeList(r, head >>> 0);
        }
        cache[at + got++] = head;
        head = next;
        taken++;
      }
      i32[r + S_FREE] = head;
      if (got < want) {
        const base = i32[r + S_BASE] >>> 0;
        const size = i32[r + S_SIZE];
        let bump = i32[r + S_BUMP];
        const end = Math.min(i32[r + S_CAPACITY], bump + want - got);
        // Highest address first into the stack, so pops come out ascending.
        for (let index = end - 1; index >= bump; index--) {
          const block = blockAddress(base, index, size);
          markFree(i32, block); // cached means free: a free of it is caught
          cache[at + got++] = block;
        }
        taken += end - bump;
        bump = end;
        i32[r + S_BUMP] = bump;
      }
      i32[r + S_USED] += taken;
    }
    if (got === 0) {
      this.counters[C_FAILURES]++;
      return 0;
    }
    i32[this.countAt + cls] = got - 1;
    const ptr = cache[at + got - 1];
    clearMark(i32, ptr);
    return ptr;
  }

  /**
   * The class's current slab is used up: it joins the full list and the next
   * one is, in order, a used-up slab of ours that got remote frees, a partial
   * slab of ours, an orphan, or a slab from the source. Returns it (CURRENT),
   * or 0 when the source has none.
   */
  private nextSlab(cls: number): number {
    this.mem.refresh();
    const i32 = this.mem.i32;
    const old = this.current[cls];
    if (old !== 0) {
      const r = old >>> 2;
      if (i32[r + S_USED] === 0) {
        // An empty current slab is still good, and always has a block to give: one that has none was written over (a zeroed
        // record), and handing it back to refill again would loop for good.
        if (this.canServe(r, cls)) return old;
        throw this.damagedCurrent(old, cls);
      }
      i32[r + S_STATE] = SlabState.full;
      this.current[cls] = 0;
      listPush(i32, this.full, cls, old);
    }
    if (this.shared) this.scanFull(cls);
    let slab = this.partial[cls];
    if (slab !== 0) {
      if (!this.plausibleRecord(slab)) throw this.damagedList(cls, slab);
      listRemove(this.mem.i32, this.partial, cls, slab); // the views as the test left them
    } else if ((slab = this.shared ? this.adopt(cls) : 0) === 0) {
      slab = this.primary.acquire(cls, this.owner);
      if (slab === 0) return 0;
      this.counters[C_ACQUIRED]++;
    }
    this.mem.i32[(slab >>> 2) + S_STATE] = SlabState.current;
    this.current[cls] = slab;
    return slab;
  }

  /** Looks at the first few used-up slabs of a class for remote frees; moves those that got some. */
  private scanFull(cls: number): void {
    let slab = this.full[cls];
    for (let looked = 0; slab !== 0 && looked < FULL_SCAN; looked++) {
      if (!this.plausibleRecord(slab)) throw this.damagedList(cls, slab);
      const i32 = this.mem.i32; // after the test: it may have refreshed the views
      const next = i32[(slab >>> 2) + S_NEXT] >>> 0;
      if (this.collectRemote(slab) > 0) {
        listRemove(i32, this.full, cls, slab);
        if (i32[(slab >>> 2) + S_USED] === 0) this.releaseSlab(slab);
        else {
          i32[(slab >>> 2) + S_STATE] = SlabState.partial;
          listPush(i32, this.partial, cls, slab);
        }
      }
      slab = next;
    }
  }

  /** Takes an orphaned slab of the class, if any, and makes it ours. */
  private adopt(cls: number): number {
    const i32 = this.mem.i32;
    this.mem.lock(this.area + T_ORPHAN_LOCK);
    const slab = this.orphans[cls].pop();
    this.mem.unlock(this.area + T_ORPHAN_LOCK);
    if (slab === 0) return 0;
    // Owner first, then the exchange: a remote free that lands after the
    // exchange sees us as owner and will be collected by us.
    Atomics.store(i32, (slab >>> 2) + S_OWNER, this.owner);
    this.collectRemote(slab);
    this.counters[C_ADOPTED]++;
    return slab;
  }

  /**
   * Owner only: moves the slab's remote list onto its free list with one
   * exchange. Returns the blocks taken.
   */
  private collectRemote(slab: number): number {
    const i32 = this.mem.i32;
    const r = slab >>> 2;
    if (Atomics.load(i32, r + S_REMOTE) === 0) return 0;
    const head = Atomics.exchange(i32, r + S_REMOTE, 0) >>> 0;
    // Every block is checked before it joins the free list (the free that pushed it checked its address; a write after
    // free may have changed its link or mark since): the list is cut before the first damaged one, the rest left out of
    // use and counted used, and the damage kept for check(). No error here: this runs inside trim and detach too.
    let count = 0;
    let last = 0;
    const limit = i32[r + S_CAPACITY];
    for (let block = head; block !== 0; block = readLink(i32, block)) {
      if (!this.isHandedOutBlock(block, r)) {
        i32[r + S_DAMAGED] = last || block; // the link of `last` was overwritten
        break;
      }
      if (count >= limit || !isMarkedFree(i32, block)) {
        i32[r + S_DAMAGED] = block; // its mark was overwritten, or links were made into a cycle
        break;
      }
      last = block;
      count++;
    }
    if (count === 0) return 0;
    writeLink(i32, last, i32[r + S_FREE]);
    i32[r + S_FREE] = head;
    i32[r + S_USED] -= count;
    this.counters[C_REMOTE_COLLECTED] += count;
    return count;
  }

  // ---- free -------------------------------------------------------------------------

  free(ptr: number, pageEntry?: number): void {
    const entry = pageEntry === undefined ? this.pages.ownerOf(ptr) : pageEntry;
    if ((entry & KIND_MASK) !== this.kind) throw this.notOurs(ptr);
    if (this.pushCached(ptr, entry)) return;
    const i32 = this.i32;
    const r = (entry - this.kind) >>> 2;
    if (!this.isHandedOutBlock(ptr, r) || !this.slabIntact(r)) {
      // The slab's record may lie in memory another worker grew: look again once.
      if (this.mem.refresh(true)) return this.free(ptr, entry);
      throw this.badBlock(ptr, r);
    }
    if (isMarkedFree(i32, ptr) && this.isFree(ptr, r)) throw doubleFree(ptr);
    markFree(i32, ptr);
    if (i32[r + S_OWNER] !== this.owner) return this.remoteFree(ptr, r);
    if (!this.cacheOn) return this.returnToSlab(ptr, r << 2);
    this.cachePush(i32[r + S_CLASS], ptr);
  }

  /**
   * The free fast path: a handed-out block of one of our slabs, not marked
   * free, into this worker's cache while it has room. False, changing
   * nothing, for anything else (cache off or full, another worker's slab, a
   * free mark, a pointer that starts no handed-out block): free() decides.
   */
  pushCached(ptr: number, pageEntry: number): boolean {
    // Small on purpose (JavaScriptCore inlines functions of bytecode cost up to 170): the block's tests are one call.
    const i32 = this.i32;
    const cls = liveBlockClass(i32, (pageEntry - this.kind) >>> 2, ptr, this.owner);
    const n = i32[this.countAt + cls];
    // `!(n < cap)`, not `n >= cap`: a class past the table (a damaged record) has no cap, and fails closed.
    if (cls < 0 || !(n < this.cacheCap[cls]) || !this.cacheOn) return false;
    markFree(i32, ptr);
    i32[this.countAt + CachePage.stacks + (cls << this.stackShift) + n] = ptr;
    i32[this.countAt + cls] = n + 1;
    return true;
  }

  /** Pushes `ptr` on the class's cache, spilling the older half back to the slabs first when it is full. */
  private cachePush(cls: number, ptr: number): void {
    const count = this.countAt + cls;
    if (this.i32[count] >= this.cacheCap[cls]) this.spill(cls);
    const n = this.i32[count];
    this.u32[this.stackOf(cls) + n] = ptr;
    this.i32[count] = n + 1;
  }

  /** A block of another worker's slab: onto the slab's remote list, with one compare-and-swap. */
  private remoteFree(ptr: number, r: number): void {
    const i32 = this.mem.i32;
    let head: number;
    do {
      head = Atomics.load(i32, r + S_REMOTE);
      writeLink(i32, ptr, head);
    } while (Atomics.compareExchange(i32, r + S_REMOTE, head, ptr | 0) !== head);
    this.counters[C_REMOTE_FREES]++;
  }

  /** Moves the older half of a class's cache back to the slabs. */
  private spill(cls: number): void {
    const count = this.countAt + cls;
    const n = this.mem.i32[count];
    const half = Math.max(1, n >> 1);
    const at = this.stackOf(cls);
    for (let i = 0; i < half; i++) {
      const ptr = this.mem.u32[at + i];
      this.returnToSlab(ptr, this.pages.ownerOf(ptr) - this.kind);
    }
    this.mem.u32.copyWithin(at, at + half, at + n);
    this.mem.i32[count] = n - half;
    this.counters[C_SPILLS]++;
  }

  /** Pushes a block on its slab's free list; lists or releases the slab as it changes. */
  private returnToSlab(ptr: number, slab: number): void {
    const i32 = this.mem.i32;
    const r = slab >>> 2;
    writeLink(i32, ptr, i32[r + S_FREE]);
    i32[r + S_FREE] = ptr;
    const used = --i32[r + S_USED];
    const state = i32[r + S_STATE];
    if (state === SlabState.current) return;
    const cls = i32[r + S_CLASS];
    if (state === SlabState.full) listRemove(i32, this.full, cls, slab);
    if (used === 0) {
      if (state === SlabState.partial) listRemove(i32, this.partial, cls, slab);
      this.releaseSlab(slab);
    } else if (state === SlabState.full) {
      i32[r + S_STATE] = SlabState.partial;
      listPush(i32, this.partial, cls, slab);
    }
  }

  /** An emptied slab goes back to the source that made it (its SuperSlab records which). */
  private releaseSlab(slab: number): void {
    const i32 = this.mem.i32;
    const superslab = i32[(slab >>> 2) + S_SUPERSLAB] >>> 0;
    const index = superslab === 0 || superslab >= this.mem.byteLength ? -1 : i32[(superslab >>> 2) + SS_SOURCE];
    const source = this.sources[index];
    if (source === undefined) {
      // A slab record (or its SuperSlab's) written over: no source to give the slab to.
      throw new HakmemError(
        "CORRUPTED",
        `tiny's slab record at ${describe(slab)} names SuperSlab ${describe(superslab)} and slab source ${index}, which do not exist: ` +
          `the record was written over and its slab is left as it is`,
        slab,
      );
    }
    source.release(slab);
    this.counters[C_RELEASED]++;
  }

  /**
   * Slow path of the double-free check, run only when the block carries its
   * free mark (a live block may hold that value by chance): is `ptr` on its
   * slab's remote list or free list, or in its owner's cache? The owner may
   * be another worker: its free list and its cache (in its cache page, in
   * the memory) are then read without a lock, a snapshot that the owner may
   * be changing. That is enough: a block this worker may legally free is
   * live, so the owner cannot be moving it; a block freed already sits in one
   * of those places unless the owner is moving it that very moment.
   */
  private isFree(ptr: number, r: number): boolean {
    const i32 = this.mem.i32;
    if (this.onSlabList(Atomics.load(i32, r + S_REMOTE), ptr, r)) return true;
    if (this.onSlabList(i32[r + S_FREE], ptr, r)) return true;
    const owner = i32[r + S_OWNER];
    const cls = i32[r + S_CLASS];
    if (owner === this.owner) {
      if (!this.cacheOn) return false;
      const at = this.stackOf(cls);
      const n = i32[this.countAt + cls];
      for (let i = 0; i < n; i++) if (this.mem.u32[at + i] === ptr) return true;
      return false;
    }
    // Another worker's slab (an orphan has no owner, and its cached blocks went back to its free list).
    if (owner <= 0 || owner > MAX_WORKERS || cls < 0 || cls >= CLASS_COUNT) return false;
    return inWorkerCache(this.mem, this.area, owner - 1, cls, ptr);
  }

  /**
   * True when `ptr` is on the slab list starting at `head` (a free or remote
   * list of slab `r`). The walk stops at a link that leaves the slab's
   * handed-out blocks (damage, or another worker changing the list) and
   * after as many steps as the slab has blocks.
   */
  private onSlabList(head: number, ptr: number, r: number): boolean {
    const i32 = this.mem.i32;
    const base = i32[r + S_BASE] >>> 0;
    const span = i32[r + S_BUMP] * i32[r + S_SIZE];
    let steps = i32[r + S_CAPACITY];
    for (let block = head >>> 0; block !== 0 && steps >= 0; block = readLink(i32, block), steps--) {
      if (block === ptr) return true;
      if (block - base >= span || block < base) return false;
    }
    return false;
  }

  /**
   * A free block of slab `r` whose free mark or link was overwritten (a
   * write after free): the slab's free list is cut at it, its blocks from
   * there on counted used for good (left out of use: their links cannot be
   * trusted), and the damage kept for check(). Returns the CORRUPTED error.
   */
  private cutFreeList(r: number, block: number): HakmemError {
    const i32 = this.mem.i32;
    i32[r + S_FREE] = 0;
    i32[r + S_USED] = i32[r + S_BUMP]; // free + used = handed out, with no free block left
    i32[r + S_DAMAGED] = block;
    return new HakmemError(
      "CORRUPTED",
      `tiny block ${describe(block)} on its slab's free list lost its free mark or links outside the slab: a write after free ` +
        `damaged it (or the link that led to it); the slab's free blocks from there on are left out of use`,
      block,
    );
  }

  /** The error for a pointer that lies in no tiny slab. */
  private notOurs(ptr: number): HakmemError {
    return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is not in a tiny slab`, ptr);
  }

  /**
   * True when the slab record at word `r` names a class in the table, its
   * block size the class's and its state one a slab holding blocks has: the
   * words free would write by (the class's cache stack, its lists). A stray
   * write into the metadata pages fails it; free then refuses (CORRUPTED)
   * and changes nothing.
   */
  private slabIntact(r: number): boolean {
    const i32 = this.mem.i32;
    const cls = i32[r + S_CLASS];
    const state = i32[r + S_STATE];
    return cls >= 0 && cls < CLASS_COUNT && i32[r + S_SIZE] === CLASS_SIZES[cls] && state >= SlabState.current &&
      state <= SlabState.orphan;
  }

  /** True when byte offset `slab` can be a record: aligned to one, past the header, inside the memory. */
  private plausibleRecord(slab: number): boolean {
    if (slab % RECORD_BYTES !== 0 || slab < this.mem.base + HEADER_BYTES) return false;
    // Past this worker's views: another thread may have grown a shared WebAssembly.Memory; look again once.
    return slab + RECORD_BYTES <= this.mem.byteLength || (this.mem.refresh(true) && slab + RECORD_BYTES <= this.mem.byteLength);
  }

  /** The error for a slab list of class `cls` that leads to `slab`, which no record is (the list heads or links were written over). */
  private damagedList(cls: number, slab: number): HakmemError {
    return new HakmemError(
      "CORRUPTED",
      `tiny's slab lists of class ${CLASS_SIZES[cls]} B lead to ${describe(slab)}, which is no slab record: their heads or links ` +
        `were written over; no slab was taken`,
      slab,
    );
  }

  /** True when the slab record at word `r` is intact, of class `cls`, and has a free or never-used block. */
  private canServe(r: number, cls: number): boolean {
    const i32 = this.mem.i32;
    return this.slabIntact(r) && i32[r + S_CLASS] === cls &&
      (i32[r + S_FREE] !== 0 || (i32[r + S_BUMP] >= 0 && i32[r + S_BUMP] < i32[r + S_CAPACITY]));
  }

  /** The error for a slab record, about to serve class `cls`, that cannot be one (refill refuses it). */
  private damagedCurrent(slab: number, cls: number): HakmemError {
    const r = slab >>> 2;
    const i32 = this.mem.i32;
    return new HakmemError(
      "CORRUPTED",
      `tiny's slab record at ${describe(slab)} for class ${CLASS_SIZES[cls]} B is damaged (class ${i32[r + S_CLASS]}, block size ${
        i32[r + S_SIZE]
      }, state ${i32[r + S_STATE]}, capacity ${i32[r + S_CAPACITY]}, bump ${i32[r + S_BUMP]}): no block was taken from it`,
      slab,
    );
  }

  /** The error for a pointer inside a tiny slab that is not a live block's start. */
  private badBlock(ptr: number, r: number): HakmemError {
    const i32 = this.mem.i32;
    if (i32[r + S_STATE] === SlabState.unused) {
      return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} lies in a tiny slab that never handed out a block`, ptr);
    }
    if (i32[r + S_STATE] < SlabState.current) return doubleFree(ptr);
    if (!this.slabIntact(r)) {
      return new HakmemError(
        "CORRUPTED",
        `tiny block ${describe(ptr)}: its slab record at ${describe(r << 2)} is damaged (class ${i32[r + S_CLASS]}, block size ${
          i32[r + S_SIZE]
        }, state ${i32[r + S_STATE]}); the block was left as it is`,
        ptr,
      );
    }
    const offset = ptr - (i32[r + S_BASE] >>> 0);
    const size = i32[r + S_SIZE];
    if (offset % size !== 0) {
      return new HakmemError(
        "INTERIOR_POINTER",
        `pointer ${describe(ptr)} points ${offset % size} bytes into a ${size}-byte tiny block`,
        ptr,
      );
    }
    return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is a tiny block never handed out`, ptr);
  }

  // ---- queries ------------------------------------------------------------------------

  /**
   * True when `ptr` is the start of a block that slab `r` (record word index)
   * has handed out: below the bump mark and on a block boundary. A slab
   * without a class has its bump mark at 0, so nothing passes.
   */
  private isHandedOutBlock(ptr: number, r: number): boolean {
    return isHandedOut(this.mem.i32, r, ptr);
  }

  /** The slab record (byte offset) of a handed-out block's start, or 0. */
  private blockSlab(ptr: number): number {
    const entry = this.pages.ownerOf(ptr);
    if ((entry & KIND_MASK) !== this.kind) return 0;
    const slab = entry - this.kind;
    return this.isHandedOutBlock(ptr, slab >>> 2) ? slab : 0;
  }

  /** The slab record of a live block (handed out and not free), or 0. Slow: for queries, not the hot path. */
  private liveBlockSlab(ptr: number): number {
    const slab = this.blockSlab(ptr);
    if (slab === 0) return 0;
    const free = isMarkedFree(this.mem.i32, ptr) && this.isFree(ptr, slab >>> 2);
    return free ? 0 : slab;
  }

  owns(ptr: number): boolean {
    return this.blockSlab(ptr) !== 0;
  }

  usableSize(ptr: number): number {
    const slab = this.liveBlockSlab(ptr);
    if (slab === 0) {
      const entry = this.pages.ownerOf(ptr);
      if ((entry & KIND_MASK) !== this.kind) throw this.notOurs(ptr);
      const r = (entry - this.kind) >>> 2;
      if (this.isHandedOutBlock(ptr, r)) throw new HakmemError("INVALID_POINTER", `tiny block ${describe(ptr)} is free`, ptr);
      throw this.badBlock(ptr, r);
    }
    return this.mem.i32[(slab >>> 2) + S_SIZE];
  }

  resizeInPlace(ptr: number, size: number): boolean {
    const slab = this.liveBlockSlab(ptr);
    return slab !== 0 && size <= TINY_MAX_SIZE && SIZE_TO_CLASS[size] === this.mem.i32[(slab >>> 2) + S_CLASS];
  }

  // ---- maintenance ----------------------------------------------------------------------

  /** Returns every cached block of every class to its slab. */
  flushCaches(): void {
    if (!this.cacheOn) return;
    const i32 = this.mem.i32;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      const at = this.stackOf(cls);
      const n = i32[this.countAt + cls];
      i32[this.countAt + cls] = 0;
      for (let i = 0; i < n; i++) {
        const ptr = this.mem.u32[at + i];
        this.returnToSlab(ptr, this.pages.ownerOf(ptr) - this.kind);
      }
    }
  }

  /**
   * Flushes the caches, releases empty current slabs to their source, and
   * has the sources return cached SuperSlabs. Returns the bytes given back to
   * the page heap.
   */
  trim(): number {
    this.pages.syncViews(); // slabs may lie in memory another worker grew
    const before = this.pages.stats().usedPages;
    this.flushCaches();
    const i32 = this.mem.i32;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      if (this.shared) {
        this.adoptAll(cls);
        this.collectAllFull(cls);
        this.collectAllPartial(cls);
        if (this.current[cls] !== 0) this.collectRemote(this.current[cls]);
      }
      const slab = this.current[cls];
      if (slab !== 0 && i32[(slab >>> 2) + S_USED] === 0) {
        this.current[cls] = 0;
        this.releaseSlab(slab);
      }
    }
    for (const source of this.sources) source.trim();
    return Math.max(0, before - this.pages.stats().usedPages) << PAGE_SHIFT;
  }

  /**
   * Adopts every orphan of a class (trim: orphans emptied by remote frees
   * would otherwise wait for an allocation of their class). Each goes to the
   * source when empty, else to this worker's lists.
   */
  private adoptAll(cls: number): void {
    for (let slab = this.adopt(cls); slab !== 0; slab = this.adopt(cls)) {
      const i32 = this.mem.i32;
      const r = slab >>> 2;
      if (i32[r + S_USED] === 0) {
        this.releaseSlab(slab);
      } else if (i32[r + S_FREE] !== 0 || i32[r + S_BUMP] < i32[r + S_CAPACITY]) {
        i32[r + S_STATE] = SlabState.partial;
        listPush(i32, this.partial, cls, slab);
      } else {
        i32[r + S_STATE] = SlabState.full;
        listPush(i32, this.full, cls, slab);
      }
    }
  }

  /** Collects the remote frees of every used-up slab of a class, moving or releasing those that got some. */
  /** Takes the remote frees of the class's partial slabs; releases those it empties. */
  private collectAllPartial(cls: number): void {
    for (let slab = this.partial[cls]; slab !== 0;) {
      const i32 = this.mem.i32;
      const next = i32[(slab >>> 2) + S_NEXT] >>> 0;
      if (this.collectRemote(slab) > 0 && i32[(slab >>> 2) + S_USED] === 0) {
        listRemove(i32, this.partial, cls, slab);
        this.releaseSlab(slab);
      }
      slab = next;
    }
  }

  /** Takes in the remote frees of every full slab of `cls`; a slab that got blocks back leaves the full list. */
  private collectAllFull(cls: number): void {
    const i32 = this.mem.i32;
    for (let slab = this.full[cls]; slab !== 0;) {
      const next = i32[(slab >>> 2) + S_NEXT] >>> 0;
      if (this.collectRemote(slab) > 0) this.unfull(cls, slab);
      slab = next;
    }
  }

  /** A used-up slab got blocks back: to the partial list, or to the source when empty. */
  private unfull(cls: number, slab: number): void {
    const i32 = this.mem.i32;
    listRemove(i32, this.full, cls, slab);
    if (i32[(slab >>> 2) + S_USED] === 0) {
      this.releaseSlab(slab);
    } else {
      i32[(slab >>> 2) + S_STATE] = SlabState.partial;
      listPush(i32, this.partial, cls, slab);
    }
  }

  /**
   * This worker is leaving: its cached blocks go back to their slabs, its
   * empty slabs to the source, the rest to the orphan lists for others to
   * adopt. The backend must not be used afterwards.
   */
  detach(): void {
    this.retire(this.owner - 1);
    this.current.fill(0);
    this.partial.fill(0);
    this.full.fill(0);
  }

  /**
   * Takes back what worker `workerId` held when it was terminated without
   * detaching: its cache page (in the memory) is emptied into the slabs and
   * its slabs are released or orphaned. Call only once that worker is gone.
   */
  reclaim(workerId: number): void {
    if (workerId + 1 === this.owner) throw new HakmemError("WORKER", "a worker cannot reclaim itself; call detach()", workerId);
    this.retire(workerId);
  }

  /** What detach and reclaim share: worker `workerId`'s cached blocks go back to their slabs, and its slabs are released when empty, else orphaned. */
  private retire(workerId: number): void {
    // Other workers may have grown the memory: records past our views would read as undefined and be skipped.
    this.pages.syncViews();
    const i32 = this.mem.i32;
    const owner = workerId + 1;
    // 1. Its cached blocks back onto their slabs' free lists. No list moves:
    //    every slab of the worker is handled below.
    emptyWorkerCache(this.mem, this.area, workerId, (ptr) => {
      const r = (this.pages.ownerOf(ptr) - this.kind) >>> 2;
      writeLink(i32, ptr, i32[r + S_FREE]);
      i32[r + S_FREE] = ptr;
      i32[r + S_USED]--;
    });
    // 2. Its slabs: owner cleared first, then its remote frees taken (a free
    //    landing later sees no owner and waits for the adopter), then each
    //    slab released when empty, else orphaned.
    const slabs: number[] = [];
    this.forEachSlab((_superslab, slab) => {
      const r = slab >>> 2;
      if (i32[r + S_STATE] >= SlabState.current && i32[r + S_OWNER] === owner) slabs.push(slab);
    });
    for (const slab of slabs) {
      const r = slab >>> 2;
      Atomics.store(i32, r + S_OWNER, 0);
      this.collectRemote(slab);
      if (i32[r + S_USED] === 0) {
        this.releaseSlab(slab);
      } else {
        i32[r + S_STATE] = SlabState.orphan;
        this.mem.lock(this.area + T_ORPHAN_LOCK);
        this.orphans[i32[r + S_CLASS]].push(slab);
        this.mem.unlock(this.area + T_ORPHAN_LOCK);
      }
    }
  }

  /** Calls `visit(superslab, slab)` for every slab of every tiny SuperSlab. */
  private forEachSlab(visit: (superslab: number, slab: number) => void): void {
    const runs = this.pages.runsOfKind(this.kind);
    for (let i = 0; i < runs.length; i += 2) {
      const superslab = this.mem.i32[((runs[i + 1] - this.kind) >>> 2) + S_SUPERSLAB] >>> 0;
      for (let index = 0; index < SLABS_PER_SUPERSLAB; index++) {
        visit(superslab, this.pages.ownerOf(slabBase(runs[i] << PAGE_SHIFT, index)) - this.kind);
      }
    }
  }

  /** Per slab record, how many of its blocks sit in any worker's cache. */
  private cachedPerSlab(): Map<number, number> {
    const counts = new Map<number, number>();
    const cached = allCachedBlocks(this.mem, this.area);
    for (let i = 0; i < cached.length; i += 2) {
      const slab = this.pages.ownerOf(cached[i]) - this.kind;
      counts.set(slab, (counts.get(slab) ?? 0) + 1);
    }
    return counts;
  }

  /** Blocks waiting on a slab's remote list. */
  private remoteCount(r: number): number {
    const i32 = this.mem.i32;
    const limit = Math.min(i32[r + S_CAPACITY], SLAB_BYTES >>> 2); // no slab holds more blocks, whatever a damaged record says
    let count = 0;
    for (let block = Atomics.load(i32, r + S_REMOTE) >>> 0; block !== 0 && count <= limit; block = readLink(i32, block)) count++;
    return count;
  }

  health(): BackendHealth {
    const counters: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, index) => counters[name] = this.counters[index]);
    const primary = this.primary.health();
    for (const source of this.reported) {
      const health = source === this.primary ? primary : source.health();
      for (const [name, value] of Object.entries(health.counters)) counters[`${health.name}.${name}`] = value;
    }
    return { name: "tiny", ready: true, reason: primary.reason, counters };
  }

  /** Gauges over every worker's slabs and caches (read without locks: a snapshot). */
  stats(): BackendStats {
    const i32 = this.mem.i32;
    const cached = this.cachedPerSlab();
    let liveBlocks = 0;
    let liveBytes = 0;
    let cachedBytes = 0;
    let superslabs = 0;
    let assigned = 0;
    let emptyButCached = 0;
    let orphans = 0;
    let remoteBlocks = 0;
    this.forEachSlab((_superslab, slab) => {
      const r = slab >>> 2;
      if (i32[r + S_INDEX] === 0) superslabs++;
      if (i32[r + S_STATE] < SlabState.current) return;
      assigned++;
      if (i32[r + S_STATE] === SlabState.orphan) orphans++;
      const size = i32[r + S_SIZE];
      const inCache = cached.get(slab) ?? 0;
      const remote = this.remoteCount(r);
      remoteBlocks += remote;
      const live = i32[r + S_USED] - inCache - remote;
      liveBlocks += live;
      liveBytes += live * size;
      cachedBytes += (i32[r + S_BUMP] - live) * size;
      if (live === 0 && inCache > 0) emptyButCached++;
    });
    let cachedBlocks = 0;
    for (const count of cached.values()) cachedBlocks += count;
    return {
      name: "tiny",
      liveBlocks,
      liveBytes,
      footprintBytes: superslabs * SUPERSLAB_BYTES,
      cachedBytes,
      detail: {
        superslabs,
        slabsAssigned: assigned,
        slabsEmptyButCached: emptyButCached,
        cachedBlocks,
        orphanSlabs: orphans,
        remoteBlocks,
      },
    };
  }

  /** Its slabs for the heap picture, by SuperSlab (see describe.ts). */
  describe(): MemoryDescription {
    return describeSlabs(this.mem.i32, this.pages, this.kind, this.sources.map((source) => source.name));
  }

  check(level: CheckLevel, problems: CheckProblem[]): void {
    checkTiny(this.checkState(), level, problems);
  }

  /** What check.ts reads of this heap object (cold: built per check). */
  private checkState(): TinyCheckState {
    const { mem, pages, kind, area, owner, cacheOn, countAt, cacheCap, current, partial, full, orphans, sources } = this;
    return {
      mem,
      pages,
      kind,
      area,
      owner,
      cacheOn,
      countAt,
      cacheCap,
      current,
      partial,
      full,
      orphans,
      sources,
      cachedPerSlab: () => this.cachedPerSlab(),
      blockSlab: (ptr) => this.blockSlab(ptr),
      forEachSlab: (visit) => this.forEachSlab(visit),
      remoteCount: (r) => this.remoteCount(r),
    };
  }
}

/** Puts `slab` first in the list of class `cls` whose heads are `heads` (links in the slab records). */
function listPush(i32: Int32Array, heads: Float64Array, cls: number, slab: number): void {
  const first = heads[cls];
  i32[(slab >>> 2) + S_NEXT] = first;
  i32[(slab >>> 2) + S_PREV] = 0;
  if (first !== 0) i32[(first >>> 2) + S_PREV] = slab;
  heads[cls] = slab;
}

/** Takes `slab` out of the list of class `cls`. */
function listRemove(i32: Int32Array, heads: Float64Array, cls: number, slab: number): void {
  const next = i32[(slab >>> 2) + S_NEXT] >>> 0;
  const prev = i32[(slab >>> 2) + S_PREV] >>> 0;
  if (prev !== 0) i32[(prev >>> 2) + S_NEXT] = next;
  else heads[cls] = next;
  if (next !== 0) i32[(next >>> 2) + S_PREV] = prev;
  i32[(slab >>> 2) + S_NEXT] = 0;
  i32[(slab >>> 2) + S_PREV] = 0;
}

function doubleFree(ptr: number): HakmemError {
  return new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} is already free`, ptr);
}

/**
 * A tiny backend factory over the slab sources `slabSources` builds. The
 * ready-made ones (`createTinyBackend`, `tinyBackend`) are assembled in
 * `backends/registry.ts`, which picks the sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { LegacySource } from "../legacy/mod.ts";
 * import { mmapBackend } from "../mmap/mod.ts";
 * import { tinyOver } from "./tiny.ts";
 * // Tiny over the legacy source alone (index 1, as legacy marks its SuperSlabs).
 * const tiny = tinyOver((context) => {
 *   const legacy = new LegacySource(context.mem, context.pages, context.records, context.kind, context.areaWord);
 *   return { all: [legacy, legacy], primary: legacy, reported: [legacy] };
 * });
 * const heap = createHeap({ backends: [tiny, mmapBackend] });
 * heap.free(heap.malloc(100));
 * assert.equal(heap.check("full").ok, true);
 * ```
 */
export function tinyOver(slabSources: SlabSourceFactory, options: TinyCacheOptions = {}): BackendFactory {
  return { name: "tiny", create: (context: BackendContext): Backend => new TinyBackend(context, options, slabSources) };
}
