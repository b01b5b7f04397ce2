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
 *                      96: page words        128..: the stacks (block offsets)
 * tiny header area     512 + worker: its cache page
 * ```
 * @module
 */

import { describe, HakmemError } from "../../errors.ts";
import { MAX_WORKERS, PAGE_SHIFT, PAGE_SIZE, PageKind } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import { CLASS_COUNT } from "../slab/size_classes.ts";

/** Most blocks a class's cache may hold. */
export const MAX_CACHE = 256;
/** A class's cache holds about this many bytes at most, so big classes keep few blocks. */
export const CACHE_BYTES_PER_CLASS = 32768;
// Cache page words.
/** Per class: blocks in its cache. */
export const P_COUNT = 0;
/** Per class: its cache's cap. */
export const P_CAP = 32;
/** Per class: where its stack starts (words from the page). */
export const P_STACK = 64;
/** The page's size in words. */
export const P_WORDS = 96;
/** The first word of the stacks. */
export const P_STACKS = 128;
/** Tiny's header area word of worker 0's cache page (+ worker id: the byte offset of its page). */
export const T_CACHE_PAGES = 512;

/**
 * Takes (or reuses) worker `workerId`'s cache page and lays out its stacks,
 * one of `cacheCap[cls]` blocks per class, filling `stackAt` with each
 * stack's word index. Returns the word index of the page's counts. A page
 * left by an earlier worker of the same slot is empty (its blocks went back
 * when that worker left).
 */
export function openCachePage(
  mem: LinearMemory,
  pages: PageHeap,
  area: number,
  workerId: number,
  cacheCap: Int32Array,
  stackAt: Int32Array,
): number {
  const stacks = cacheCap.reduce((sum, cap) => sum + cap, 0);
  const words = P_STACKS + stacks;
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
    stackAt[cls] = p + at;
    at += cacheCap[cls];
  }
  return p + P_COUNT;
}

/** Every block in every worker's cache, as [block, class] pairs; `area` is tiny's header area (word index). */
export function allCachedBlocks(mem: LinearMemory, area: number): number[] {
  const i32 = mem.i32;
  const out: number[] = [];
  for (let worker = 0; worker < MAX_WORKERS; worker++) {
    const page = i32[area + T_CACHE_PAGES + worker] >>> 0;
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
