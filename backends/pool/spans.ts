/**
 * The pool's spans as memory holds them: the words of its shared area, of
 * each class × shard entry of its list table, and of a span record; the span
 * states; where a span's blocks start (through ../slab/blocks.ts, which
 * computes every block's address, link and free mark). The pool backend
 * (pool.ts) pictures the layout; its check (check.ts) reads the same words.
 * @module
 */

import { blockDivisor, blockIndex } from "../slab/blocks.ts";
import { KIND_MASK, PAGE_SIZE } from "../../memory/layout.ts";
import { POOL_CLASS_COUNT, POOL_CLASS_SIZES, POOL_GRANULE } from "./pool_classes.ts";

/**
 * Free-list shards per class; a worker uses shard `workerId & (POOL_SHARDS - 1)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_SHARDS } from "./spans.ts";
 * assert.equal(POOL_SHARDS, 4);
 * ```
 */
export const POOL_SHARDS = 4;

// Words of the shared area, from its first word.
export const FAILURES = 0; // allocations that could get no new span
export const PREWARM_REQUESTED = 1; // spans prewarm asked for
export const PREWARM_SUCCEEDED = 2; // spans prewarm got
export const PREWARM_FAILED = 3; // spans prewarm could not get
export const SPANS_CREATED = 4; // spans taken from the page heap, ever
export const SPANS_RELEASED = 5; // spans given back to the page heap, ever
export const TABLE = 6; // byte offset of the list table
export const SPAN_PAGES = 7; // pages in spans now
export const EMPTY_PAGES = 8; // pages in cached empty spans now
/**
 * Two words per shard from here: bit `c & 31` of word `2 × shard + (c >>> 5)` is set while class c's empty list of
 * the shard holds a span (changed with that list, under its lock; atomically on shared memory, where the lists of one
 * shard share the word). A class with an empty span is one mask look-up away, not a walk over every class's list.
 */
export const EMPTY_MASKS = 9;
/** Words of the shared area in use. */
export const AREA_USED = EMPTY_MASKS + 2 * POOL_SHARDS;

// Words of one list entry (one per class and shard) in the list table.
export const L_LOCK = 0; // lock word (shared memory only)
export const L_PARTIAL = 1; // first span with a block to hand out and one in use (record byte offset, 0 none)
export const L_EMPTY = 2; // first span with every block free
export const L_ALLOCS = 3; // blocks handed out (wraps at 2^32)
export const L_FREES = 4; // blocks taken back (wraps at 2^32)
export const L_SPANS = 5; // spans of the class and shard: listed, and full ones in no list
export const LIST_WORDS = 6;
export const LIST_COUNT = POOL_CLASS_COUNT * POOL_SHARDS;
export const TABLE_PAGES = Math.ceil((LIST_COUNT * LIST_WORDS * 4) / PAGE_SIZE);

// Words of a span record.
export const R_CLASS = 0; // class index
export const R_BASE = 1; // byte offset of the span's first page
export const R_CAPACITY = 2; // blocks the span holds
export const R_USED = 3; // blocks handed out and not freed
export const R_BUMP = 4; // blocks below this index have been handed out at least once
export const R_FREE = 5; // first free block (byte offset), 0 when none
export const R_SHARD = 6; // the shard whose lists hold the span
export const R_STATE = 7; // S_PARTIAL, S_FULL or S_EMPTY (0 while being created or released)
export const R_NEXT = 8; // next record in its list, 0 at the end
export const R_PREV = 9; // previous record in the partial list, 0 at its head (and in the empty list, a stack)
export const R_CACHER = 10; // while cached: the worker slot of the heap object whose cache holds the span
export const R_DAMAGED = 11; // a free block found written after free (the free list was cut there), 0 none
export const R_CACHED = 12; // blocks of a multi-block span held in heap objects' block caches: counted in R_USED, freed in the list's counts

// Span states (R_STATE). A partial or empty span is in the list of that name; a full one in none.
export const S_PARTIAL = L_PARTIAL;
export const S_EMPTY = L_EMPTY;
export const S_FULL = 3;
/** A single-block span whose block is free, held in a heap object's cache (unshared memory): in no list, its block counted free. */
export const S_CACHED = 4;
export const STATE_NAMES: Record<number, string> = { [S_PARTIAL]: "partial", [S_FULL]: "full", [S_EMPTY]: "empty", [S_CACHED]: "cached" };

/** Depth of the heap object's cache, per class (unshared memory only). */
export const CACHE_SLOTS = 32;
/**
 * A multi-block class's cache holds at most this many bytes of blocks (and at least two blocks, at most CACHE_SLOTS):
 * blocks in a cache keep their spans from emptying.
 */
export const BLOCK_CACHE_BYTES = 262144;
/**
 * The link word of a block in a heap object's block cache: `(workerId << 1) | 1`. A free list's links are block
 * addresses (multiples of 256) or 0, so no link is odd.
 */
export function cacheTag(workerId: number): number {
  return (workerId << 1) | 1;
}
if (POOL_CLASS_COUNT > 64) throw new Error("the cache's class mask has 64 bits"); // two 32-bit words

/**
 * A span's block offsets are counted in POOL_GRANULE (256-byte) units for
 * blockIndex: a span's offsets are under 2^18, so under 2^10 units, and the
 * divisor's rounding stays below one part in 1024 of the smallest step.
 */
const UNIT_SHIFT = 8;
if (POOL_GRANULE !== 1 << UNIT_SHIFT) throw new Error("the pool's block index counts in units of POOL_GRANULE");

/** Per class: the divisor that makes a block index one multiply (see blocks.ts). */
const UNIT_DIVISORS: Int32Array = POOL_CLASS_SIZES.map((size) => blockDivisor(size, UNIT_SHIFT));

/** Index of the block of class `cls` starting `offset` bytes into its span, or -1 when none starts there. */
export function spanBlockIndex(offset: number, cls: number): number {
  const index = blockIndex(offset, UNIT_DIVISORS[cls], UNIT_SHIFT);
  return offset >= 0 && index * POOL_CLASS_SIZES[cls] === offset ? index : -1;
}

/** The record byte offset of a page-map entry. */
export function recordOf(entry: number): number {
  return (entry & ~KIND_MASK) >>> 0;
}

/** Word index of the list entry of class `cls` and shard `shard` in the list table at word `table`. */
export function listWord(table: number, cls: number, shard: number): number {
  return table + (cls * POOL_SHARDS + shard) * LIST_WORDS;
}
