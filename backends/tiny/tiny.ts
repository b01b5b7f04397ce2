/**
 * The tiny backend: requests up to 1 KiB in 25 size classes, served from
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
 * Per-worker state (caches, current slabs, partial lists' heads) lives in this
 * object; everything else (slab and SuperSlab records, the sources' lists)
 * lives in the memory.
 * @module
 */

import { describe, HakmemError } from "../../errors.ts";
import { KIND_MASK, PAGE_SHIFT } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { SlabSourceMode } from "../../options.ts";
import type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendHealth,
  BackendStats,
  Capabilities,
  CheckLevel,
  CheckProblem,
  SlabSource,
} from "../../router/box.ts";
import { LegacySource } from "../legacy/legacy.ts";
import { SharedPool } from "../shared_pool/shared_pool.ts";
import { CLASS_COUNT, CLASS_SIZES, SIZE_TO_CLASS, TINY_MAX_SIZE } from "./size_classes.ts";
import {
  blockAddress,
  blockIndex,
  FREE_MARK,
  linkSlot,
  markSlot,
  S_BASE,
  S_BUMP,
  S_CAPACITY,
  S_CLASS,
  S_DIVISOR,
  S_FREE,
  S_INDEX,
  S_NEXT,
  S_OWNER,
  S_PREV,
  S_SIZE,
  S_STATE,
  S_SUPERSLAB,
  S_USED,
  slabBase,
  SLABS_PER_SUPERSLAB,
  SlabState,
  SS_ACTIVE,
  SS_BASE,
  SS_SOURCE,
  SS_UNUSED,
  SUPERSLAB_BYTES,
  SUPERSLAB_PAGES,
} from "./slab.ts";

/** How to build tiny. */
export interface TinyOptions {
  /** Per-worker caches on (default) or off. */
  cache?: boolean;
  /** Most blocks a class's cache holds (further bounded to about 8 KiB of blocks per class). */
  cacheCap?: number;
  /** Slab source: "shared" (default), "strict" shared, or "legacy". */
  slabSource?: SlabSourceMode;
  /** Shared pool's soft cap on SuperSlabs. */
  sharedPoolCap?: number;
  /** Shared pool's LRU of emptied SuperSlabs. */
  sharedPoolLru?: number;
}

/** Most blocks any cache slot array holds per class. */
const MAX_CACHE = 256;
/** A class's cache holds about this many bytes at most, so big classes keep few blocks. */
const CACHE_BYTES_PER_CLASS = 8192;
// Health counters (per worker).
const C_REFILLS = 0;
const C_SPILLS = 1;
const C_ACQUIRED = 2;
const C_RELEASED = 3;
const C_FAILURES = 4;
const COUNTER_NAMES = ["refills", "spills", "slabsAcquired", "slabsReleased", "failures"];

/** Tiny: size classes up to 1 KiB over a slab source. */
export class TinyBackend implements Backend {
  /** Sizes 1..1024; see size_classes.ts for the alignment rule. */
  readonly capabilities: Capabilities;
  private readonly mem: LinearMemory;
  private readonly pages: PageHeap;
  private readonly kind: number;
  /** This worker's id + 1, the owner stamp of its slabs. */
  private readonly owner: number;
  private readonly cacheOn: boolean;
  private readonly cache: Uint32Array;
  private readonly cacheCount: Int32Array;
  private readonly cacheCap: Int32Array;
  private readonly current: Float64Array; // per class: slab record byte offset, 0 none
  private readonly partial: Float64Array; // per class: first slab with freed blocks
  private readonly sources: SlabSource[]; // by SS_SOURCE: 0 shared pool, 1 legacy
  private readonly primary: SlabSource;
  private readonly counters = new Float64Array(COUNTER_NAMES.length);

  constructor(context: BackendContext, options: TinyOptions) {
    this.mem = context.mem;
    this.pages = context.pages;
    this.kind = context.kind;
    this.owner = context.workerId + 1;
    this.cacheOn = options.cache ?? true;
    const cap = Math.min(options.cacheCap ?? 64, MAX_CACHE);
    this.cache = new Uint32Array(CLASS_COUNT * MAX_CACHE);
    this.cacheCount = new Int32Array(CLASS_COUNT);
    this.cacheCap = Int32Array.from(CLASS_SIZES, (size) => Math.max(2, Math.min(cap, Math.floor(CACHE_BYTES_PER_CLASS / size))));
    this.current = new Float64Array(CLASS_COUNT);
    this.partial = new Float64Array(CLASS_COUNT);
    const legacy = new LegacySource(this.mem, this.pages, context.records, this.kind, context.areaWord);
    const mode = options.slabSource ?? "shared";
    const shared = new SharedPool(this.mem, this.pages, context.records, this.kind, context.areaWord, {
      cap: options.sharedPoolCap ?? 4096,
      lru: options.sharedPoolLru ?? 2,
      fallback: mode === "shared" ? legacy : undefined,
    });
    this.sources = [shared, legacy];
    this.primary = mode === "legacy" ? legacy : shared;
    this.capabilities = {
      name: "tiny",
      minSize: 1,
      maxSize: TINY_MAX_SIZE,
      alignment: 4,
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
    const cls = SIZE_TO_CLASS[size];
    if (this.cacheOn) {
      const n = this.cacheCount[cls] - 1;
      if (n >= 0) {
        const ptr = this.cache[cls * MAX_CACHE + n];
        this.cacheCount[cls] = n;
        this.mem.i32[markSlot(ptr)] = 0;
        return ptr;
      }
      return this.refill(cls);
    }
    return this.takeOne(cls);
  }

  /** Cache off: one block from the class's current slab (free list first, then bump). */
  private takeOne(cls: number): number {
    const i32 = this.mem.i32;
    let slab = this.current[cls];
    for (;;) {
      if (slab !== 0) {
        const r = slab >>> 2;
        const head = i32[r + S_FREE];
        if (head !== 0) {
          i32[r + S_FREE] = i32[linkSlot(head)];
          i32[r + S_USED]++;
          i32[markSlot(head)] = 0;
          return head >>> 0;
        }
        const bump = i32[r + S_BUMP];
        if (bump < i32[r + S_CAPACITY]) {
          i32[r + S_BUMP] = bump + 1;
          i32[r + S_USED]++;
          return blockAddress(i32[r + S_BASE] >>> 0, i32[r + S_SIZE], bump);
        }
      }
      slab = this.nextSlab(cls);
      if (slab === 0) return 0;
    }
  }

  /** Cache miss: moves up to half the cap into the cache and returns one block. */
  private refill(cls: number): number {
    const i32 = this.mem.i32;
    const want = (this.cacheCap[cls] + 1) >> 1;
    const cache = this.cache;
    const at = cls * MAX_CACHE;
    let got = 0;
    let slab = this.current[cls];
    this.counters[C_REFILLS]++;
    while (got < want) {
      if (slab === 0 || (i32[(slab >>> 2) + S_FREE] === 0 && i32[(slab >>> 2) + S_BUMP] >= i32[(slab >>> 2) + S_CAPACITY])) {
        slab = this.nextSlab(cls);
        if (slab === 0) break;
      }
      const r = slab >>> 2;
      let head = i32[r + S_FREE];
      let taken = 0;
      while (head !== 0 && got < want) {
        cache[at + got++] = head;
        head = i32[linkSlot(head)];
        taken++;
      }
      i32[r + S_FREE] = head;
      if (got < want) {
        const base = i32[r + S_BASE] >>> 0;
        const size = i32[r + S_SIZE];
        let bump = i32[r + S_BUMP];
        const end = Math.min(i32[r + S_CAPACITY], bump + want - got);
        // Highest address first into the stack, so pops come out ascending.
        for (let index = end - 1; index >= bump; index--) cache[at + got++] = blockAddress(base, size, index);
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
    this.cacheCount[cls] = got - 1;
    const ptr = cache[at + got - 1];
    i32[markSlot(ptr)] = 0;
    return ptr;
  }

  /**
   * The class's current slab is used up: it becomes FULL and the next one is
   * a partial slab of ours, else one from the source. Returns it (CURRENT),
   * or 0 when the source has none.
   */
  private nextSlab(cls: number): number {
    const i32 = this.mem.i32;
    const old = this.current[cls];
    if (old !== 0) {
      const r = old >>> 2;
      if (i32[r + S_USED] === 0) return old; // an empty current slab is still good
      i32[r + S_STATE] = SlabState.full;
      this.current[cls] = 0;
    }
    let slab = this.partial[cls];
    if (slab !== 0) {
      this.unlistPartial(cls, slab);
    } else {
      slab = this.primary.acquire(cls, this.owner);
      if (slab === 0) return 0;
      this.counters[C_ACQUIRED]++;
    }
    i32[(slab >>> 2) + S_STATE] = SlabState.current;
    this.current[cls] = slab;
    return slab;
  }

  // ---- free -------------------------------------------------------------------------

  free(ptr: number, pageEntry?: number): void {
    const i32 = this.mem.i32;
    const entry = pageEntry === undefined ? this.pages.ownerOf(ptr) : pageEntry;
    if ((entry & KIND_MASK) !== this.kind) throw this.notOurs(ptr);
    const r = (entry - this.kind) >>> 2;
    if (!this.isHandedOutBlock(ptr, r)) throw this.badBlock(ptr, r);
    const mark = markSlot(ptr);
    if (i32[mark] === (ptr ^ FREE_MARK) && this.isFree(ptr, r)) throw doubleFree(ptr);
    i32[mark] = ptr ^ FREE_MARK;
    if (this.cacheOn) {
      const cls = i32[r + S_CLASS];
      const n = this.cacheCount[cls];
      if (n < this.cacheCap[cls]) {
        this.cache[cls * MAX_CACHE + n] = ptr;
        this.cacheCount[cls] = n + 1;
        return;
      }
      this.spill(cls);
      this.cache[cls * MAX_CACHE + this.cacheCount[cls]++] = ptr;
      return;
    }
    this.returnToSlab(ptr, r << 2);
  }

  /** Moves the older half of a class's cache back to the slabs. */
  private spill(cls: number): void {
    const n = this.cacheCount[cls];
    const half = Math.max(1, n >> 1);
    const at = cls * MAX_CACHE;
    for (let i = 0; i < half; i++) {
      const ptr = this.cache[at + i];
      this.returnToSlab(ptr, this.pages.ownerOf(ptr) - this.kind);
    }
    this.cache.copyWithin(at, at + half, at + n);
    this.cacheCount[cls] = n - half;
    this.counters[C_SPILLS]++;
  }

  /** Pushes a block on its slab's free list; lists or releases the slab as it changes. */
  private returnToSlab(ptr: number, slab: number): void {
    const i32 = this.mem.i32;
    const r = slab >>> 2;
    i32[linkSlot(ptr)] = i32[r + S_FREE];
    i32[r + S_FREE] = ptr;
    const used = --i32[r + S_USED];
    const state = i32[r + S_STATE];
    if (state === SlabState.current) return;
    const cls = i32[r + S_CLASS];
    if (used === 0) {
      if (state === SlabState.partial) this.unlistPartial(cls, slab);
      this.releaseSlab(slab);
    } else if (state === SlabState.full) {
      i32[r + S_STATE] = SlabState.partial;
      this.listPartial(cls, slab);
    }
  }

  private releaseSlab(slab: number): void {
    const i32 = this.mem.i32;
    const source = this.sources[i32[(i32[(slab >>> 2) + S_SUPERSLAB] >>> 2) + SS_SOURCE]];
    source.release(slab);
    this.counters[C_RELEASED]++;
  }

  private listPartial(cls: number, slab: number): void {
    const i32 = this.mem.i32;
    const first = this.partial[cls];
    i32[(slab >>> 2) + S_NEXT] = first;
    i32[(slab >>> 2) + S_PREV] = 0;
    if (first !== 0) i32[(first >>> 2) + S_PREV] = slab;
    this.partial[cls] = slab;
  }

  private unlistPartial(cls: number, slab: number): void {
    const i32 = this.mem.i32;
    const next = i32[(slab >>> 2) + S_NEXT];
    const prev = i32[(slab >>> 2) + S_PREV];
    if (prev !== 0) i32[(prev >>> 2) + S_NEXT] = next;
    else this.partial[cls] = next;
    if (next !== 0) i32[(next >>> 2) + S_PREV] = prev;
    i32[(slab >>> 2) + S_NEXT] = 0;
    i32[(slab >>> 2) + S_PREV] = 0;
  }

  /** Slow path of the double-free check: is `ptr` on its slab's free list or in our cache? */
  private isFree(ptr: number, r: number): boolean {
    const i32 = this.mem.i32;
    const capacity = i32[r + S_CAPACITY];
    let steps = 0;
    for (let block = i32[r + S_FREE] >>> 0; block !== 0 && steps <= capacity; block = i32[linkSlot(block)] >>> 0, steps++) {
      if (block === ptr) return true;
    }
    const cls = i32[r + S_CLASS];
    const at = cls * MAX_CACHE;
    for (let i = 0; i < this.cacheCount[cls]; i++) if (this.cache[at + i] === ptr) return true;
    return false;
  }

  private notOurs(ptr: number): HakmemError {
    return new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is not in a tiny slab`, ptr);
  }

  /** The error for a pointer inside a tiny slab that is not a live block's start. */
  private badBlock(ptr: number, r: number): HakmemError {
    const i32 = this.mem.i32;
    if (i32[r + S_STATE] < SlabState.current) return doubleFree(ptr);
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
    const i32 = this.mem.i32;
    const offset = ptr - (i32[r + S_BASE] >>> 0);
    const index = blockIndex(offset, i32[r + S_DIVISOR]);
    return index < i32[r + S_BUMP] && index * i32[r + S_SIZE] === offset;
  }

  /** The slab record (byte offset) of a handed-out block's start, or 0. */
  private blockSlab(ptr: number): number {
    const entry = this.pages.ownerOf(ptr);
    if ((entry & KIND_MASK) !== this.kind) return 0;
    const slab = entry - this.kind;
    return this.isHandedOutBlock(ptr, slab >>> 2) ? slab : 0;
  }

  owns(ptr: number): boolean {
    return this.blockSlab(ptr) !== 0;
  }

  usableSize(ptr: number): number {
    const slab = this.blockSlab(ptr);
    if (slab === 0) {
      const entry = this.pages.ownerOf(ptr);
      if ((entry & KIND_MASK) !== this.kind) throw this.notOurs(ptr);
      throw this.badBlock(ptr, (entry - this.kind) >>> 2);
    }
    return this.mem.i32[(slab >>> 2) + S_SIZE];
  }

  resizeInPlace(ptr: number, size: number): boolean {
    const slab = this.blockSlab(ptr);
    return slab !== 0 && size <= TINY_MAX_SIZE && SIZE_TO_CLASS[size] === this.mem.i32[(slab >>> 2) + S_CLASS];
  }

  // ---- maintenance ----------------------------------------------------------------------

  /** Returns every cached block of every class to its slab. */
  flushCaches(): void {
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      const at = cls * MAX_CACHE;
      const n = this.cacheCount[cls];
      this.cacheCount[cls] = 0;
      for (let i = 0; i < n; i++) {
        const ptr = this.cache[at + i];
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
    const before = this.pages.stats().usedPages;
    this.flushCaches();
    const i32 = this.mem.i32;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      const slab = this.current[cls];
      if (slab !== 0 && i32[(slab >>> 2) + S_USED] === 0) {
        this.current[cls] = 0;
        this.releaseSlab(slab);
      }
    }
    for (const source of this.sources) source.trim();
    return Math.max(0, before - this.pages.stats().usedPages) << PAGE_SHIFT;
  }

  /** Calls `visit(superslab, slab)` for every slab of every tiny SuperSlab. */
  private forEachSlab(visit: (superslab: number, slab: number) => void): void {
    this.pages.forEachRun((page, _pages, owner) => {
      if ((owner & KIND_MASK) !== this.kind) return;
      const firstSlab = owner - this.kind;
      const superslab = this.mem.i32[(firstSlab >>> 2) + S_SUPERSLAB];
      for (let i = 0; i < SLABS_PER_SUPERSLAB; i++) {
        visit(superslab, this.pages.ownerOf(slabBase(page << PAGE_SHIFT, i)) - this.kind);
      }
    });
  }

  /** Per slab record, how many of its blocks sit in this worker's cache. */
  private cachedPerSlab(): Map<number, number> {
    const counts = new Map<number, number>();
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      for (let i = 0; i < this.cacheCount[cls]; i++) {
        const slab = this.pages.ownerOf(this.cache[cls * MAX_CACHE + i]) - this.kind;
        counts.set(slab, (counts.get(slab) ?? 0) + 1);
      }
    }
    return counts;
  }

  health(): BackendHealth {
    const counters: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, index) => counters[name] = this.counters[index]);
    const source = this.primary.health();
    for (const [name, value] of Object.entries(source.counters)) counters[`${source.name}.${name}`] = value;
    if (this.primary !== this.sources[1]) {
      for (const [name, value] of Object.entries(this.sources[1].health().counters)) counters[`legacy.${name}`] = value;
    }
    return { name: "tiny", ready: true, reason: source.reason, counters };
  }

  stats(): BackendStats {
    const i32 = this.mem.i32;
    const cached = this.cachedPerSlab();
    let liveBlocks = 0;
    let liveBytes = 0;
    let cachedBytes = 0;
    let superslabs = 0;
    let assigned = 0;
    let emptyButCached = 0;
    this.forEachSlab((_superslab, slab) => {
      const r = slab >>> 2;
      if (i32[r + S_INDEX] === 0) superslabs++;
      if (i32[r + S_STATE] < SlabState.current) return;
      assigned++;
      const size = i32[r + S_SIZE];
      const inCache = cached.get(slab) ?? 0;
      const live = i32[r + S_USED] - inCache;
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
      detail: { superslabs, slabsAssigned: assigned, slabsEmptyButCached: emptyButCached, cachedBlocks },
    };
  }

  check(level: CheckLevel, problems: CheckProblem[]): void {
    const i32 = this.mem.i32;
    const where = "tiny";
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      if (this.cacheCount[cls] < 0 || this.cacheCount[cls] > this.cacheCap[cls]) {
        problems.push({ where, message: `class ${cls} cache holds ${this.cacheCount[cls]} blocks, cap ${this.cacheCap[cls]}` });
      }
      const slab = this.current[cls];
      if (slab !== 0 && (i32[(slab >>> 2) + S_STATE] !== SlabState.current || i32[(slab >>> 2) + S_CLASS] !== cls)) {
        problems.push({
          where,
          message: `class ${cls}'s current slab ${slab} is in state ${i32[(slab >>> 2) + S_STATE]} of class ${i32[(slab >>> 2) + S_CLASS]}`,
        });
      }
    }
    if (level === "full") this.checkSlabs(problems);
    for (const source of this.sources) source.check(problems);
  }

  private checkSlabs(problems: CheckProblem[]): void {
    const i32 = this.mem.i32;
    const where = "tiny";
    const cached = this.cachedPerSlab();
    const cachedBlocks = new Set<number>();
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      for (let i = 0; i < this.cacheCount[cls]; i++) {
        const ptr = this.cache[cls * MAX_CACHE + i];
        if (cachedBlocks.has(ptr)) problems.push({ where, message: `block ${ptr} is twice in class ${cls}'s cache` });
        cachedBlocks.add(ptr);
        const slab = this.blockSlab(ptr);
        if (slab === 0 || i32[(slab >>> 2) + S_CLASS] !== cls) {
          problems.push({ where, message: `cached block ${ptr} is not a block of class ${cls}` });
        }
      }
    }
    const partial = new Set<number>();
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      let steps = 0;
      for (let slab = this.partial[cls]; slab !== 0 && steps < 1 << 20; slab = i32[(slab >>> 2) + S_NEXT], steps++) {
        partial.add(slab);
        if (i32[(slab >>> 2) + S_STATE] !== SlabState.partial || i32[(slab >>> 2) + S_CLASS] !== cls) {
          problems.push({ where, message: `slab ${slab} in class ${cls}'s partial list is in state ${i32[(slab >>> 2) + S_STATE]}` });
        }
      }
    }
    const activePerSuperslab = new Map<number, number>();
    this.forEachSlab((superslab, slab) => {
      const r = slab >>> 2;
      const s = superslab >>> 2;
      const index = i32[r + S_INDEX];
      if (i32[r + S_SUPERSLAB] !== superslab || (i32[r + S_BASE] >>> 0) !== slabBase(i32[s + SS_BASE] >>> 0, index)) {
        problems.push({ where, message: `slab ${slab} does not sit where its SuperSlab ${superslab} says` });
        return;
      }
      const state = i32[r + S_STATE];
      if (state === SlabState.unused && index < i32[s + SS_UNUSED]) {
        problems.push({ where, message: `slab ${slab} is unused below its SuperSlab's unused mark` });
      }
      if (state < SlabState.current) return;
      activePerSuperslab.set(superslab, (activePerSuperslab.get(superslab) ?? 0) + 1);
      const cls = i32[r + S_CLASS];
      const size = i32[r + S_SIZE];
      if (cls < 0 || cls >= CLASS_COUNT || size !== CLASS_SIZES[cls]) {
        problems.push({ where, message: `slab ${slab} has class ${cls} with block size ${size}` });
        return;
      }
      if (state === SlabState.partial && !partial.has(slab)) {
        problems.push({ where, message: `partial slab ${slab} is in no partial list of this worker` });
      }
      const base = i32[r + S_BASE] >>> 0;
      const bump = i32[r + S_BUMP];
      if (bump < 0 || bump > i32[r + S_CAPACITY]) {
        problems.push({ where, message: `slab ${slab} bump ${bump} beyond capacity ${i32[r + S_CAPACITY]}` });
      }
      const seen = new Set<number>();
      let block = i32[r + S_FREE] >>> 0;
      while (block !== 0) {
        const offset = block - base;
        if (offset < 0 || offset >= bump * size || offset % size !== 0) {
          problems.push({ where, message: `slab ${slab}'s free list holds ${block}, not one of its handed-out blocks` });
          break;
        }
        if (seen.has(block)) {
          problems.push({ where, message: `slab ${slab}'s free list has a cycle at ${block}` });
          break;
        }
        if (cachedBlocks.has(block)) problems.push({ where, message: `block ${block} is both cached and on slab ${slab}'s free list` });
        seen.add(block);
        block = i32[linkSlot(block)] >>> 0;
      }
      if (seen.size + i32[r + S_USED] !== bump) {
        problems.push({ where, message: `slab ${slab}: ${seen.size} free + ${i32[r + S_USED]} used != ${bump} handed out` });
      }
      if ((cached.get(slab) ?? 0) > i32[r + S_USED]) {
        problems.push({ where, message: `slab ${slab} has more cached blocks than used ones` });
      }
    });
    this.pages.forEachRun((page, pages, owner) => {
      if ((owner & KIND_MASK) !== this.kind) return;
      if (pages !== SUPERSLAB_PAGES) {
        problems.push({ where, message: `tiny run at page ${page} has ${pages} pages, not ${SUPERSLAB_PAGES}` });
      }
      const superslab = i32[((owner - this.kind) >>> 2) + S_SUPERSLAB];
      const active = activePerSuperslab.get(superslab) ?? 0;
      if (i32[(superslab >>> 2) + SS_ACTIVE] !== active) {
        problems.push({
          where,
          message: `SuperSlab ${superslab} counts ${i32[(superslab >>> 2) + SS_ACTIVE]} active slabs, has ${active}`,
        });
      }
    });
  }
}

function doubleFree(ptr: number): HakmemError {
  return new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} is already free`, ptr);
}

/**
 * Builds a tiny backend factory with these options.
 *
 * @example
 * ```ts
 * import { createHeap } from "../../mod.ts";
 * import { createTinyBackend } from "./tiny.ts";
 * import { mmapBackend } from "../mmap/mod.ts";
 * const heap = createHeap({
 *   backends: [createTinyBackend({ cache: false, slabSource: "legacy" }), mmapBackend],
 *   routes: [{ min: 1, max: 1024, backend: "tiny" }, { min: 1025, max: Infinity, backend: "mmap" }],
 * });
 * heap.free(heap.malloc(100));
 * ```
 */
export function createTinyBackend(options: TinyOptions = {}): BackendFactory {
  return { name: "tiny", create: (context: BackendContext): Backend => new TinyBackend(context, options) };
}

/** Tiny with the default options: caches on, shared pool with legacy fallback. */
export const tinyBackend: BackendFactory = createTinyBackend();
