/**
 * Tiny's cache pages: each worker's per-class caches of free blocks live in a
 * page of the memory of its own, so a worker that leaves or is terminated
 * gives every cached block back. This file owns the page's layout, where the
 * heap header keeps each worker's page, opening (or reusing) a page, and
 * reading every worker's cached blocks (for stats and check). The push and
 * pop of the hot path stay in tiny.ts, over the word indexes opened here.
 *
 * ```
 * cache page (words)   0: count per class   32: cap per class
 *                      64: stack start per class (words from the page)
 *                      96: page words        128..: the stacks (block offsets), class c's at
 *                                                  128 + c × stride (the largest cap rounded up to a power of two)
 * tiny header area     512 + worker: its cache page
 * ```
 *
 * The stride makes a stack's word one shift from the class, so the hot path
 * needs no table of stack starts (the P_STACK words still say where each
 * starts, for the readers here).
 * @module
 */

import { describe, HakmemError } from "../../core/errors.ts";
import { MAX_WORKERS, PAGE_SHIFT, PAGE_SIZE, PageKind } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import { CLASS_COUNT, CLASS_SIZES } from "../slab/size_classes.ts";

/** Most blocks a class's cache may hold. */
const MAX_CACHE = 256;
/** A class's cache holds about this many bytes at most, so big classes keep few blocks. */
const CACHE_BYTES_PER_CLASS = 32768;
// Cache page words, from the page's first word.
const P_COUNT = 0; // per class: blocks in its cache
const P_CAP = 32; // per class: its cache's cap
const P_STACK = 64; // per class: where its stack starts (words from the page)
const P_WORDS = 96; // the page's size in words
/** The first word of the stacks, from the page's first word (its counts). */
export const P_STACKS = 128;
/** Tiny's header area word of worker 0's cache page (+ worker id: the byte offset of its page, 0 none). */
const T_CACHE_PAGES = 512;

/** Per class, the cap of its cache: `cacheCap` blocks (default 64, at most 256), at most about 32 KiB of blocks, at least 2. */
export function cacheCaps(cacheCap: number | undefined): Int32Array {
  const cap = Math.min(cacheCap ?? 64, MAX_CACHE);
  return Int32Array.from(CLASS_SIZES, (size) => Math.max(2, Math.min(cap, Math.floor(CACHE_BYTES_PER_CLASS / size))));
}

/** Byte offset of worker `workerId`'s cache page as the header says (0 none; unchecked: a damaged word reads as it is). */
export function cachePageOf(mem: LinearMemory, area: number, workerId: number): number {
  return mem.i32[area + T_CACHE_PAGES + workerId] >>> 0;
}

/** Whether worker `workerId`'s cache of class `cls` holds `ptr` (another worker's: read, never changed). */
export function inWorkerCache(mem: LinearMemory, area: number, workerId: number, cls: number, ptr: number): boolean {
  const i32 = mem.i32;
  const page = cachePageOf(mem, area, workerId);
  if (page === 0) return false;
  const p = page >>> 2;
  const at = p + i32[p + P_STACK + cls];
  const n = Math.min(i32[p + P_COUNT + cls], i32[p + P_CAP + cls]);
  for (let i = 0; i < n; i++) if (mem.u32[at + i] === ptr) return true;
  return false;
}

/** Empties worker `workerId`'s caches (a worker that left), calling `giveBack(ptr)` for every block they held. */
export function emptyWorkerCache(mem: LinearMemory, area: number, workerId: number, giveBack: (ptr: number) => void): void {
  const page = cachePageOf(mem, area, workerId);
  if (page === 0) return;
  const i32 = mem.i32;
  const p = page >>> 2;
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    const n = i32[p + P_COUNT + cls];
    const at = p + i32[p + P_STACK + cls];
    for (let i = 0; i < n; i++) giveBack(mem.u32[at + i]);
    i32[p + P_COUNT + cls] = 0;
  }
}

/** log2 of the words between two classes' stacks: the largest cap, rounded up to a power of two. */
export function stackShift(cacheCap: Int32Array): number {
  return 32 - Math.clz32(Math.max(...cacheCap) - 1);
}

/**
 * Takes (or reuses) worker `workerId`'s cache page and lays out its stacks,
 * one per class, `1 << stackShift(cacheCap)` words apart (class c's at
 * the returned word + P_STACKS + c × stride). Returns the word index of the
 * page's counts. A page left by an earlier worker of the same slot is empty (its
 * blocks went back when that worker left).
 */
export function openCachePage(
  mem: LinearMemory,
  pages: PageHeap,
  area: number,
  workerId: number,
  cacheCap: Int32Array,
): number {
  const stride = 1 << stackShift(cacheCap);
  const words = P_STACKS + CLASS_COUNT * stride;
  const slot = area + T_CACHE_PAGES + workerId;
  let page = mem.i32[slot] >>> 0;
  if (page % PAGE_SIZE !== 0 || page >= mem.byteLength) {
    throw new HakmemError("CORRUPTED", `tiny's cache page of worker ${workerId} lies at ${describe(page)}, no page of the memory`, page);
  }
  if (page !== 0 && mem.i32[(page >>> 2) + P_WORDS] < words) {
    pages.freeRun(page >>> PAGE_SHIFT);
    page = 0;
  }
  if (page === 0) {
    const first = pages.allocRun(Math.ceil((words * 4) / PAGE_SIZE), PageKind.metadata, true);
    if (first < 0) throw new HakmemError("INVALID_MEMORY", "no memory left for this worker's tiny cache page");
    page = first << PAGE_SHIFT;
    mem.i32[(page >>> 2) + P_WORDS] = words;
    Atomics.store(mem.i32, slot, page | 0);
  }
  const p = page >>> 2;
  const i32 = mem.i32;
  let at = P_STACKS;
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    i32[p + P_COUNT + cls] = 0;
    i32[p + P_CAP + cls] = cacheCap[cls];
    i32[p + P_STACK + cls] = at;
    at += stride;
  }
  return p + P_COUNT;
}

/** Every block in every worker's cache, as [block, class] pairs; `area` is tiny's header area (word index). */
export function allCachedBlocks(mem: LinearMemory, area: number): number[] {
  const i32 = mem.i32;
  const out: number[] = [];
  for (let worker = 0; worker < MAX_WORKERS; worker++) {
    const page = cachePageOf(mem, area, worker);
    if (page === 0 || page % PAGE_SIZE !== 0 || page >= mem.byteLength) continue; // a damaged offset: check() reports it
    const p = page >>> 2;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      // Counts and stack starts read as no cache could hold them (damage) are read no further than a cache reaches.
      const at = p + i32[p + P_STACK + cls];
      const count = Math.min(Math.max(i32[p + P_COUNT + cls], 0), MAX_CACHE);
      if (at < p || at + count > mem.u32.length) continue;
      for (let i = 0; i < count; i++) out.push(mem.u32[at + i], cls);
    }
  }
  return out;
}
