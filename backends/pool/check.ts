/**
 * The pool's check (its part of `heap.check()`): cheap, the counters of its
 * area and list table agree; full, every listed span, every span run of the
 * page heap in no list, every span's free list and this heap object's cache
 * of single-block spans are walked against the records. Cold code, apart
 * from the backend (pool.ts) so that the allocation paths read alone.
 * @module
 */

import { describe } from "../../core/errors.ts";
import { KIND_MASK, PAGE_SHIFT, PAGE_SIZE, PageKind } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import { RECORD_BYTES } from "../../memory/records.ts";
import type { CheckLevel, CheckProblem } from "../../router/box.ts";
import { isMarkedFree, readLink } from "../slab/blocks.ts";
import { POOL_CLASS_COUNT, POOL_CLASS_SIZES, POOL_SPAN_BLOCKS, POOL_SPAN_PAGES } from "./pool_classes.ts";
import * as span from "./spans.ts";

/** What the check reads of one pool heap object. */
export interface PoolCheckState {
  /** The heap's memory. */
  readonly mem: LinearMemory;
  /** The page heap, for the span runs and the page map. */
  readonly pages: PageHeap;
  /** The pool's page kind (in the page map entries of its spans). */
  readonly kind: number;
  /** Word index of the pool's shared area. */
  readonly area: number;
  /** Word index of the list table. */
  readonly table: number;
  /** This heap object's cache: span records per class slot. */
  readonly cacheRecords: Uint32Array;
  /** This heap object's cache: the cached spans' blocks. */
  readonly cacheBlocks: Uint32Array;
  /** This heap object's cache: spans per class. */
  readonly cacheCount: Int32Array;
  /** Pages of the spans in this heap object's cache, as counted. */
  readonly cachedPages: number;
  /** This heap object's block cache: blocks per class slot. */
  readonly blockCache: Uint32Array;
  /** This heap object's block cache: their span records. */
  readonly blockRecords: Uint32Array;
  /** This heap object's block cache: blocks per class. */
  readonly blockCount: Int32Array;
  /** This heap object's tag, the link word of the blocks in its block cache. */
  readonly tag: number;
}

/**
 * Checks the pool at `level`, adding what is wrong to `problems`.
 * Reads without locks: run it while no other worker allocates.
 */
export function checkPool(pool: PoolCheckState, level: CheckLevel, problems: CheckProblem[]): void {
  const where = "pool";
  const i32 = pool.mem.i32;
  const a = pool.area;
  if (i32[a + span.PREWARM_SUCCEEDED] + i32[a + span.PREWARM_FAILED] !== i32[a + span.PREWARM_REQUESTED]) {
    problems.push({
      where,
      message: `prewarm counted ${i32[a + span.PREWARM_SUCCEEDED]} got and ${i32[a + span.PREWARM_FAILED]} failed of ${
        i32[a + span.PREWARM_REQUESTED]
      }`,
    });
  }
  let counted = 0;
  let spanPages = 0;
  for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
    for (let shard = 0; shard < span.POOL_SHARDS; shard++) {
      const list = span.listWord(pool.table, cls, shard);
      const spans = i32[list + span.L_SPANS];
      const masked = (i32[a + span.EMPTY_MASKS + 2 * shard + (cls >>> 5)] & (1 << (cls & 31))) !== 0;
      if (masked !== (i32[list + span.L_EMPTY] !== 0)) {
        problems.push({
          where,
          message: `class ${POOL_CLASS_SIZES[cls]} shard ${shard}: ` +
            (masked
              ? "its bit in the empty mask is set, and its empty list is empty"
              : "its empty list holds spans its bit in the empty mask does not show"),
        });
      }
      const live = (i32[list + span.L_ALLOCS] - i32[list + span.L_FREES]) | 0;
      counted += spans;
      spanPages += spans * POOL_SPAN_PAGES[cls];
      if (spans < 0 || live < 0 || live > spans * POOL_SPAN_BLOCKS[cls]) {
        problems.push({ where, message: `class ${POOL_CLASS_SIZES[cls]} shard ${shard}: ${live} live blocks in ${spans} spans` });
      }
    }
  }
  const held = (i32[a + span.SPANS_CREATED] - i32[a + span.SPANS_RELEASED]) | 0;
  if (held !== counted) {
    problems.push({
      where,
      message: `${i32[a + span.SPANS_CREATED]} spans created - ${i32[a + span.SPANS_RELEASED]} released != ${counted} counted by the lists`,
    });
  }
  if (spanPages !== i32[a + span.SPAN_PAGES]) {
    problems.push({ where, message: `pages in spans counted ${i32[a + span.SPAN_PAGES]}, the lists' spans hold ${spanPages}` });
  }
  if (level === "full") checkSpans(pool, problems);
}

/**
 * Walks the partial and empty lists of every class and shard, then the page
 * heap's pool runs: those in no list must be full spans.
 */
function checkSpans(pool: PoolCheckState, problems: CheckProblem[]): void {
  const seen = new Set<number>();
  const spansOf = new Int32Array(span.LIST_COUNT);
  const usedOf = new Int32Array(span.LIST_COUNT);
  let emptyPages = 0;
  for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
    for (let shard = 0; shard < span.POOL_SHARDS; shard++) {
      const list = span.listWord(pool.table, cls, shard);
      for (const state of [span.S_PARTIAL, span.S_EMPTY]) {
        const where = `pool class ${POOL_CLASS_SIZES[cls]} shard ${shard} ${span.STATE_NAMES[state]} list`;
        let prev = 0;
        for (let record = pool.mem.u32[list + state]; record !== 0; record = pool.mem.u32[(record >>> 2) + span.R_NEXT]) {
          if (
            record % RECORD_BYTES !== 0 || record + RECORD_BYTES > pool.mem.byteLength ||
            (pool.pages.ownerOf(record) & KIND_MASK) !== PageKind.metadata
          ) {
            problems.push({ where, message: `holds ${describe(record)}, which is no record` });
            break;
          }
          if (seen.has(record)) {
            problems.push({ where, message: `reaches span record ${describe(record)} a second time (listed twice, or a cycle)` });
            break;
          }
          seen.add(record);
          spansOf[cls * span.POOL_SHARDS + shard]++;
          usedOf[cls * span.POOL_SHARDS + shard] += liveIn(pool, record);
          if (state === span.S_EMPTY) emptyPages += POOL_SPAN_PAGES[cls];
          checkSpan(pool, record, cls, shard, state, state === span.S_PARTIAL ? prev : 0, where, problems); // the empty list links forwards only
          prev = record;
        }
      }
    }
  }
  pool.pages.forEachRun((page, _pages, owner) => {
    if ((owner & KIND_MASK) !== pool.kind) return;
    const record = span.recordOf(owner);
    if (pool.mem.u32[(record >>> 2) + span.R_BASE] !== page * PAGE_SIZE) {
      problems.push({ where: "pool", message: `run at page ${page} maps to span record ${describe(record)}, which starts elsewhere` });
      return;
    }
    if (seen.has(record)) return;
    const i32 = pool.mem.i32;
    const cls = i32[(record >>> 2) + span.R_CLASS];
    const shard = i32[(record >>> 2) + span.R_SHARD];
    if (!(cls >= 0 && cls < POOL_CLASS_COUNT && shard >= 0 && shard < span.POOL_SHARDS)) {
      problems.push({ where: "pool", message: `span at page ${page} says class ${cls} shard ${shard}` });
      return;
    }
    const where = `pool class ${POOL_CLASS_SIZES[cls]} shard ${shard}, span at page ${page} in no list`;
    // In no list: full, or a single-block span in a heap object's cache (its block counted free).
    const state = i32[(record >>> 2) + span.R_STATE] === span.S_CACHED && POOL_SPAN_BLOCKS[cls] === 1 ? span.S_CACHED : span.S_FULL;
    spansOf[cls * span.POOL_SHARDS + shard]++;
    if (state === span.S_FULL) usedOf[cls * span.POOL_SHARDS + shard] += liveIn(pool, record);
    checkSpan(pool, record, cls, shard, state, 0, where, problems);
  });
  for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
    for (let shard = 0; shard < span.POOL_SHARDS; shard++) {
      const list = span.listWord(pool.table, cls, shard);
      const i32 = pool.mem.i32;
      const where = `pool class ${POOL_CLASS_SIZES[cls]} shard ${shard}`;
      const spans = spansOf[cls * span.POOL_SHARDS + shard];
      if (spans !== i32[list + span.L_SPANS]) {
        problems.push({ where, message: `spans counted ${i32[list + span.L_SPANS]}, found ${spans}` });
      }
      const live = (i32[list + span.L_ALLOCS] - i32[list + span.L_FREES]) | 0;
      const used = usedOf[cls * span.POOL_SHARDS + shard];
      if (used !== live) problems.push({ where, message: `live blocks counted ${live}, the spans hold ${used}` });
    }
  }
  let cachedPages = 0;
  for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
    for (let slot = cls * span.CACHE_SLOTS; slot < cls * span.CACHE_SLOTS + pool.cacheCount[cls]; slot++) {
      const r = pool.cacheRecords[slot] >>> 2;
      const i32 = pool.mem.i32;
      cachedPages += POOL_SPAN_PAGES[cls];
      if (
        i32[r + span.R_STATE] !== span.S_CACHED || i32[r + span.R_CLASS] !== cls ||
        pool.mem.u32[r + span.R_BASE] !== pool.cacheBlocks[slot]
      ) {
        problems.push({
          where: `pool cache, class ${POOL_CLASS_SIZES[cls]}`,
          message: `holds span record ${describe(pool.cacheRecords[slot])} (block ${describe(pool.cacheBlocks[slot])}), which is ${
            span.STATE_NAMES[i32[r + span.R_STATE]] ?? `in state ${i32[r + span.R_STATE]}`
          }, class ${i32[r + span.R_CLASS]}, block ${describe(pool.mem.u32[r + span.R_BASE])}`,
        });
      }
    }
  }
  const cachedOf = new Map<number, number>();
  for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
    for (let slot = cls * span.CACHE_SLOTS; slot < cls * span.CACHE_SLOTS + pool.blockCount[cls]; slot++) {
      const { i32, u32 } = pool.mem;
      const record = pool.blockRecords[slot];
      const block = pool.blockCache[slot];
      const r = record >>> 2;
      cachedOf.set(record, (cachedOf.get(record) ?? 0) + 1);
      const offset = block - u32[r + span.R_BASE];
      if (
        i32[r + span.R_CLASS] !== cls || (pool.pages.ownerOf(block) & ~KIND_MASK) !== record || offset % POOL_CLASS_SIZES[cls] !== 0
      ) {
        // (Its free marker and tag are the block's own words: a write after free there is found when the block is handed out.)
        problems.push({
          where: `pool block cache, class ${POOL_CLASS_SIZES[cls]}`,
          message: `holds block ${describe(block)} of span record ${describe(record)}, which is no block of the class in it`,
        });
      }
    }
  }
  for (const [record, count] of cachedOf) {
    if (count > pool.mem.i32[(record >>> 2) + span.R_CACHED]) {
      problems.push({
        where: "pool block cache",
        message: `holds ${count} blocks of span record ${describe(record)}, which counts ${
          pool.mem.i32[(record >>> 2) + span.R_CACHED]
        } cached`,
      });
    }
  }
  if (cachedPages !== pool.cachedPages) {
    problems.push({ where: "pool cache", message: `pages counted ${pool.cachedPages}, the cache holds ${cachedPages}` });
  }
  if (emptyPages !== pool.mem.i32[pool.area + span.EMPTY_PAGES]) {
    problems.push({
      where: "pool",
      message: `pages in empty spans counted ${pool.mem.i32[pool.area + span.EMPTY_PAGES]}, listed ${emptyPages}`,
    });
  }
}

/** Blocks of the span at `record` in use by the program: those handed out, less those in heap objects' block caches. */
function liveIn(pool: PoolCheckState, record: number): number {
  const i32 = pool.mem.i32;
  return i32[(record >>> 2) + span.R_USED] - i32[(record >>> 2) + span.R_CACHED];
}

/** Checks one listed span: its record, its pages, its free list. */
function checkSpan(
  pool: PoolCheckState,
  record: number,
  cls: number,
  shard: number,
  state: number,
  prev: number,
  where: string,
  problems: CheckProblem[],
): void {
  const { i32, u32 } = pool.mem;
  const r = record >>> 2;
  const here = `${where}, span record ${describe(record)}`;
  const fail = (message: string) => problems.push({ where: here, message });
  const base = u32[r + span.R_BASE];
  const capacity = i32[r + span.R_CAPACITY];
  const used = i32[r + span.R_USED];
  const bump = i32[r + span.R_BUMP];
  if (i32[r + span.R_CLASS] !== cls || i32[r + span.R_SHARD] !== shard) {
    fail(`says class ${i32[r + span.R_CLASS]} shard ${i32[r + span.R_SHARD]}`);
  }
  if (i32[r + span.R_STATE] !== state) {
    fail(`says it is ${span.STATE_NAMES[i32[r + span.R_STATE]] ?? `in state ${i32[r + span.R_STATE]}`}`);
  }
  if (u32[r + span.R_PREV] !== prev) fail(`back link ${describe(u32[r + span.R_PREV])}, expected ${describe(prev)}`);
  if (capacity !== POOL_SPAN_BLOCKS[cls]) fail(`capacity ${capacity}, the class holds ${POOL_SPAN_BLOCKS[cls]}`);
  if (!(used >= 0 && used <= bump && bump <= capacity)) fail(`used ${used}, bump ${bump}, capacity ${capacity} out of order`);
  if (state === span.S_PARTIAL && (used >= capacity || used === 0)) fail(`is listed partial with ${used} of ${capacity} blocks used`);
  if ((state === span.S_FULL || state === span.S_CACHED) && used !== capacity) {
    fail(`is in no list with ${used} of ${capacity} blocks used (only full and cached spans are)`);
  }
  if (state === span.S_EMPTY && used !== 0) fail(`is listed empty with ${used} blocks used`);
  const cached = i32[r + span.R_CACHED];
  if (!(cached >= 0 && cached <= used) || (cached !== 0 && capacity <= 1)) {
    fail(`counts ${cached} blocks in block caches, with ${used} of ${capacity} handed out`);
  }
  if (i32[r + span.R_DAMAGED] !== 0) {
    fail(
      `free block ${describe(i32[r + span.R_DAMAGED] >>> 0)} was written after it was freed (or a link to it was); ` +
        `the span's free list was cut there and its free blocks are out of use`,
    );
  }
  const pages = POOL_SPAN_PAGES[cls];
  if (base % PAGE_SIZE !== 0 || pool.pages.runPages(base >>> PAGE_SHIFT) !== pages) {
    fail(`base ${describe(base)} does not start a run of ${pages} pages`);
    return;
  }
  const entry = (record | pool.kind) >>> 0;
  for (let page = 0; page < pages; page++) {
    const owner = pool.pages.ownerOf(base + page * PAGE_SIZE);
    if (owner !== entry) {
      fail(`page ${(base >>> PAGE_SHIFT) + page} maps to ${describe(owner)}, not to its record`);
      break;
    }
  }
  let count = 0;
  for (let block = u32[r + span.R_FREE]; block !== 0; block = readLink(i32, block)) {
    // Bounded by the class's blocks, not the record's capacity: the record may be what was damaged.
    if (count++ > POOL_SPAN_BLOCKS[cls]) {
      fail("free list runs past the capacity (a cycle)");
      return;
    }
    const index = block >= base ? span.spanBlockIndex(block - base, cls) : -1;
    if (index < 0 || index >= bump) {
      fail(`free list holds ${describe(block)}, which is no handed-out block of the span`);
      return;
    }
    if (!isMarkedFree(i32, block)) fail(`free block ${describe(block)} lost its freed marker (written after free?)`);
  }
  if (count !== bump - used) {
    fail(`free list holds ${count} blocks; capacity ${capacity} - used ${used} - never used ${capacity - bump} = ${bump - used}`);
  }
}
