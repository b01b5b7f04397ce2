/**
 * The shared SuperSlab pool: one pool of SuperSlabs for every tiny class,
 * tiny's default slab source. A slab takes its class when acquired and loses
 * it when released empty, so memory one class freed serves any other.
 *
 * Acquire, in stages (each counted):
 *   1. hint    the slab this class released last, if still empty
 *   2. empty   any empty slab in the pool
 *   3. unused  a never-used slab of a SuperSlab in the pool
 *   4. lru     a recently emptied SuperSlab from the LRU cache
 *   5. new     a new SuperSlab from the page heap, unless the soft cap is
 *              reached: then fall back to legacy (mode "shared") or give
 *              nothing (mode "strict", so the router's fallback chain runs)
 *
 * Release: the slab goes back EMPTY; a SuperSlab whose slabs are all empty
 * goes to the LRU cache (most recent first) and the oldest beyond its size
 * goes back to the page heap.
 *
 * Shared state lives in tiny's header area (words below). Lock order: the
 * pool lock (SP_LOCK, taken only on shared memory) is never held while
 * calling the page heap or the record arena: a new SuperSlab is built with
 * the lock released, an evicted one destroyed after releasing it.
 * @module
 */

import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { RecordArena } from "../../memory/records.ts";
import type { BackendHealth, CheckProblem, SlabSource } from "../../router/box.ts";
import { CLASS_COUNT } from "../slab/size_classes.ts";
import {
  assignSlab,
  createSuperSlab,
  destroySuperSlab,
  RecordList,
  S_CLASS,
  S_NEXT,
  S_PREV,
  S_STATE,
  S_SUPERSLAB,
  slabOf,
  SLABS_PER_SUPERSLAB,
  SlabState,
  SS_ACTIVE,
  SS_LIST,
  SS_NEXT,
  SS_PREV,
  SS_STAMP,
  SS_UNUSED,
  SUPERSLAB_BYTES,
  takeUnusedSlab,
  unassignSlab,
} from "../slab/slab.ts";

// Words of tiny's header area used by the pool (offsets from the area start).
const SP_LOCK = 64;
const SP_EMPTY = 65; // list of EMPTY slabs (slab links)
const SP_UNUSED = 66; // list of SuperSlabs with UNUSED slabs (SuperSlab links)
const SP_LRU = 67; // list of emptied SuperSlabs, most recent first (SuperSlab links)
const SP_SUPERSLABS = 68; // SuperSlabs held (LRU included)
const SP_LRU_COUNT = 69;
const SP_PEAK = 70; // most SuperSlabs held at once
const SP_STAMP = 71;
const SP_STAGES = 72; // 5 counters: hint, empty, unused, lru, new
const SP_FALLBACKS = 77; // acquisitions passed to legacy at the cap
const SP_CAP_REFUSALS = 78; // acquisitions refused at the cap (strict)
const SP_RELEASES = 79;
const SP_RETURNED = 80; // SuperSlabs given back to the page heap
const SP_FAILURES = 81; // the page heap had no room for a new SuperSlab
const SP_HINTS = 96; // CLASS_COUNT words: per class, the slab it released last

/** SuperSlab list ids in SS_LIST. */
const IN_UNUSED = 1;
const IN_LRU = 2;

const STAGE_NAMES = ["hint", "empty", "unused", "lru", "new"];

/** How the pool behaves at its soft cap. */
export interface SharedPoolConfig {
  /** Soft cap on SuperSlabs (LRU included). */
  cap: number;
  /** Emptied SuperSlabs kept cached. */
  lru: number;
  /** At the cap: pass the request to this source (mode "shared"), or refuse (strict, undefined). */
  fallback?: SlabSource;
}

/**
 * The shared SuperSlab pool, behind the slab-source contract.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { TinyBackend } from "../tiny/mod.ts";
 * const heap = createHeap();
 * heap.malloc(64);
 * const tiny = heap.router.backends.find((backend) => backend instanceof TinyBackend) as TinyBackend;
 * assert.equal(tiny.slabSource.name, "shared_pool");
 * assert.equal(tiny.slabSource.stats().superslabs, 1);
 * ```
 */
export class SharedPool implements SlabSource {
  /** The source's name. */
  readonly name = "shared_pool";
  private readonly mem: LinearMemory;
  private readonly pages: PageHeap;
  private readonly records: RecordArena;
  private readonly kind: number;
  private readonly area: number;
  private readonly config: SharedPoolConfig;
  private readonly empty: RecordList;
  private readonly unused: RecordList;
  private readonly lru: RecordList;

  /** A pool whose lists and counters live at word `area` of the memory, making SuperSlabs of page kind `kind`; every worker builds one over the same words. */
  constructor(mem: LinearMemory, pages: PageHeap, records: RecordArena, kind: number, area: number, config: SharedPoolConfig) {
    this.mem = mem;
    this.pages = pages;
    this.records = records;
    this.kind = kind;
    this.area = area;
    this.config = config;
    this.empty = new RecordList(mem, area + SP_EMPTY, S_NEXT, S_PREV);
    this.unused = new RecordList(mem, area + SP_UNUSED, SS_NEXT, SS_PREV);
    this.lru = new RecordList(mem, area + SP_LRU, SS_NEXT, SS_PREV);
  }

  /** Takes the pool's lock word: workers share its lists. */
  private lock(): void {
    this.mem.lock(this.area + SP_LOCK);
  }

  /** Releases the pool's lock word. */
  private unlock(): void {
    this.mem.unlock(this.area + SP_LOCK);
  }

  acquire(cls: number, owner: number): number {
    this.mem.refresh(); // records of slabs another worker made may lie in memory it grew
    const a = this.area;
    this.lock();
    let i32 = this.mem.i32;
    let slab = 0;
    let stage = 0;
    const hint = i32[a + SP_HINTS + cls];
    // A hint is good while its slab is empty and listed (not inside an LRU SuperSlab).
    if (
      hint !== 0 && i32[(hint >>> 2) + S_STATE] === SlabState.empty && i32[(i32[(hint >>> 2) + S_SUPERSLAB] >>> 2) + SS_LIST] !== IN_LRU
    ) {
      slab = hint;
      this.empty.remove(slab);
    }
    if (slab === 0) {
      stage = 1;
      slab = this.empty.pop();
    }
    if (slab === 0) {
      stage = 2;
      slab = this.takeUnused();
    }
    if (slab === 0) {
      stage = 3;
      const superslab = this.lru.pop();
      if (superslab !== 0) {
        i32[a + SP_LRU_COUNT]--;
        slab = this.revive(superslab);
      }
    }
    if (slab === 0) {
      stage = 4;
      if (i32[a + SP_SUPERSLABS] >= this.config.cap) {
        this.unlock();
        const fallback = this.config.fallback;
        this.mem.add(a + (fallback ? SP_FALLBACKS : SP_CAP_REFUSALS), 1);
        return fallback ? fallback.acquire(cls, owner) : 0;
      }
      i32[a + SP_SUPERSLABS]++; // reserve a place under the cap before building outside the lock
      this.unlock();
      const superslab = createSuperSlab(this.pages, this.records, this.kind, 0, -1);
      this.lock();
      i32 = this.mem.i32;
      if (superslab === 0) {
        i32[a + SP_SUPERSLABS]--;
        i32[a + SP_FAILURES]++;
        this.unlock();
        return 0;
      }
      if (i32[a + SP_SUPERSLABS] > i32[a + SP_PEAK]) i32[a + SP_PEAK] = i32[a + SP_SUPERSLABS];
      i32[(superslab >>> 2) + SS_LIST] = IN_UNUSED;
      this.unused.push(superslab);
      slab = this.takeUnused();
    }
    assignSlab(i32, slab, cls, owner);
    i32[a + SP_STAGES + stage]++;
    this.unlock();
    return slab;
  }

  /** The next never-used slab of the first SuperSlab that has one (lock held). */
  private takeUnused(): number {
    return takeUnusedSlab(this.pages, this.unused, this.kind);
  }

  /** Puts an LRU SuperSlab back in use; returns one of its slabs (lock held). */
  private revive(superslab: number): number {
    const i32 = this.mem.i32;
    const s = superslab >>> 2;
    i32[s + SS_LIST] = 0;
    let taken = 0;
    for (let i = 0; i < i32[s + SS_UNUSED]; i++) {
      const slab = slabOf(this.pages, superslab, i, this.kind);
      if (taken === 0) taken = slab;
      else this.empty.push(slab);
    }
    if (i32[s + SS_UNUSED] < SLABS_PER_SUPERSLAB) {
      i32[s + SS_LIST] = IN_UNUSED;
      this.unused.push(superslab);
    }
    return taken !== 0 ? taken : this.takeUnused();
  }

  release(slab: number): void {
    this.mem.refresh(); // records of slabs another worker made may lie in memory it grew
    const a = this.area;
    this.lock();
    const i32 = this.mem.i32;
    const r = slab >>> 2;
    const superslab = i32[r + S_SUPERSLAB];
    i32[a + SP_HINTS + i32[r + S_CLASS]] = slab;
    unassignSlab(i32, slab);
    this.empty.push(slab);
    i32[a + SP_RELEASES]++;
    let evicted = 0;
    if (i32[(superslab >>> 2) + SS_ACTIVE] === 0) evicted = this.retire(superslab);
    this.unlock();
    if (evicted !== 0) destroySuperSlab(this.pages, this.records, evicted, this.kind);
  }

  /**
   * Moves an emptied SuperSlab to the LRU cache; returns the SuperSlab pushed
   * out of the cache (to destroy once the lock is released), or 0 (lock held).
   */
  private retire(superslab: number): number {
    const i32 = this.mem.i32;
    const a = this.area;
    const s = superslab >>> 2;
    for (let i = 0; i < i32[s + SS_UNUSED]; i++) this.empty.remove(slabOf(this.pages, superslab, i, this.kind));
    if (i32[s + SS_LIST] === IN_UNUSED) this.unused.remove(superslab);
    i32[s + SS_LIST] = IN_LRU;
    i32[s + SS_STAMP] = ++i32[a + SP_STAMP];
    this.lru.push(superslab);
    i32[a + SP_LRU_COUNT]++;
    if (i32[a + SP_LRU_COUNT] <= this.config.lru) return 0;
    return this.evictOldest();
  }

  /** Takes the oldest SuperSlab out of the LRU cache, forgetting hints into it (lock held). */
  private evictOldest(): number {
    const i32 = this.mem.i32;
    const a = this.area;
    const oldest = this.lru.last();
    if (oldest === 0) return 0;
    this.lru.remove(oldest);
    i32[(oldest >>> 2) + SS_LIST] = 0;
    i32[a + SP_LRU_COUNT]--;
    i32[a + SP_SUPERSLABS]--;
    i32[a + SP_RETURNED]++;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      const hint = i32[a + SP_HINTS + cls];
      if (hint !== 0 && i32[(hint >>> 2) + S_SUPERSLAB] === oldest) i32[a + SP_HINTS + cls] = 0;
    }
    return oldest;
  }

  trim(): number {
    let released = 0;
    for (;;) {
      this.lock();
      const victim = this.mem.i32[this.area + SP_LRU_COUNT] > 0 ? this.evictOldest() : 0;
      this.unlock();
      if (victim === 0) return released;
      released += destroySuperSlab(this.pages, this.records, victim, this.kind);
    }
  }

  health(): BackendHealth {
    const i32 = this.mem.i32;
    const a = this.area;
    const counters: Record<string, number> = {
      superslabs: i32[a + SP_SUPERSLABS],
      peakSuperslabs: i32[a + SP_PEAK],
      lruCached: i32[a + SP_LRU_COUNT],
      releases: i32[a + SP_RELEASES],
      returnedToPageHeap: i32[a + SP_RETURNED],
      fallbacksToLegacy: i32[a + SP_FALLBACKS],
      capRefusals: i32[a + SP_CAP_REFUSALS],
      failures: i32[a + SP_FAILURES],
    };
    STAGE_NAMES.forEach((name, index) => counters[`stage_${name}`] = i32[a + SP_STAGES + index]);
    const atCap = i32[a + SP_SUPERSLABS] >= this.config.cap;
    return {
      name: this.name,
      ready: true,
      reason: atCap
        ? `at its soft cap of ${this.config.cap} SuperSlabs (${this.config.fallback ? "falling back to legacy" : "strict: refusing"})`
        : undefined,
      counters,
    };
  }

  stats(): Record<string, number> {
    const i32 = this.mem.i32;
    return {
      superslabs: i32[this.area + SP_SUPERSLABS],
      peakSuperslabs: i32[this.area + SP_PEAK],
      lruCached: i32[this.area + SP_LRU_COUNT],
      emptySlabs: this.empty.count(),
      footprintBytes: i32[this.area + SP_SUPERSLABS] * SUPERSLAB_BYTES,
    };
  }

  check(problems: CheckProblem[]): void {
    const i32 = this.mem.i32;
    const where = "shared_pool";
    // A list longer than the SuperSlabs (or the memory) hold goes round a damaged link.
    const limit = Math.min(i32[this.area + SP_SUPERSLABS], Math.ceil(this.mem.byteLength / SUPERSLAB_BYTES)) * SLABS_PER_SUPERSLAB + 1;
    let n = 0;
    for (let slab = this.empty.first(); slab !== 0; slab = this.empty.next(slab)) {
      if (++n > limit) {
        problems.push({ where, message: "the empty-slab list has a cycle" });
        break;
      }
      if (i32[(slab >>> 2) + S_STATE] !== SlabState.empty) {
        problems.push({ where, message: `slab ${slab} is in the empty list in state ${i32[(slab >>> 2) + S_STATE]}` });
      }
    }
    let lru = 0;
    for (let superslab = this.lru.first(); superslab !== 0 && lru <= limit; superslab = this.lru.next(superslab)) {
      lru++;
      if (i32[(superslab >>> 2) + SS_ACTIVE] !== 0) {
        problems.push({ where, message: `SuperSlab ${superslab} is cached in the LRU with active slabs` });
      }
    }
    if (lru !== i32[this.area + SP_LRU_COUNT]) {
      problems.push({ where, message: `LRU holds ${lru} SuperSlabs, counted ${i32[this.area + SP_LRU_COUNT]}` });
    }
    if (lru > this.config.lru) problems.push({ where, message: `LRU holds ${lru} SuperSlabs, more than its size ${this.config.lru}` });
  }
}
