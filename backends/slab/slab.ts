/**
 * Slabs and SuperSlabs: the memory layout tiny and its slab sources share.
 *
 * A SuperSlab is one page run of SUPERSLAB_BYTES split into SLABS_PER_SUPERSLAB
 * slabs. Each slab and the SuperSlab have a 64-byte record (from the record
 * arena); every page of a slab carries its slab's record in the page map, so
 * a block finds its slab in O(1) and no block has a header.
 *
 * ```
 * SuperSlab (64 KiB run)                       records (64 B each)
 * ┌────────┬────────┬─────┬────────┐           ┌──────────────┐
 * │ slab 0 │ slab 1 │ ... │ slab 7 │  ──────▶  │ SuperSlab    │ base, unused, active, lists
 * └────────┴────────┴─────┴────────┘           │ slab 0 .. 7  │ class, bump, free, used, owner
 *   8 KiB each                                 └──────────────┘
 *
 * slab: [block 0][block 1]...[block bump-1] | never used (bump area) ...
 *       a free block holds the next free block's offset in its first word
 *       and FREE_MARK ^ its own offset in its second (double-free hint)
 * ```
 *
 * Slab states: UNUSED (never handed out, pages clean), EMPTY (in its source's
 * empty list, no class), CURRENT (a worker allocates from it), PARTIAL (in its
 * owner's list of slabs with freed blocks), FULL (in its owner's list of used-up
 * slabs), ORPHAN (its worker left; in the shared orphan list, adoptable).
 *
 * Only the owner touches a slab's free list, bump mark and used count. Other
 * workers free into S_REMOTE, a list they push onto with one compare-and-swap;
 * the owner takes the whole list with one exchange.
 *
 * A block's address, index, link and free mark are computed in ./blocks.ts,
 * shared with the pool's spans.
 * @module
 */

import type { LinearMemory } from "../../memory/linear_memory.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../memory/layout.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { RecordArena } from "../../memory/records.ts";
import { blockDivisor, blockIndex, DIVISOR_BITS, FREE_MARK } from "./blocks.ts";
import { CLASS_SIZES } from "./size_classes.ts";

/**
 * Bytes in one slab. Small, so a heap with every class in use stays small.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLASS_SIZES } from "./size_classes.ts";
 * import { SLAB_BYTES } from "./slab.ts";
 * assert.equal(Math.floor(SLAB_BYTES / CLASS_SIZES[0]), 1024); // blocks of 8 bytes in a slab
 * ```
 */
export const SLAB_BYTES = 8192;
/**
 * Slabs in one SuperSlab.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SLAB_BYTES, SLABS_PER_SUPERSLAB, SUPERSLAB_BYTES } from "./slab.ts";
 * assert.equal(SLABS_PER_SUPERSLAB * SLAB_BYTES, SUPERSLAB_BYTES);
 * ```
 */
export const SLABS_PER_SUPERSLAB = 8;
/**
 * Bytes in one SuperSlab.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SUPERSLAB_BYTES } from "./slab.ts";
 * assert.equal(SUPERSLAB_BYTES / 1024, 64);
 * ```
 */
export const SUPERSLAB_BYTES = SLAB_BYTES * SLABS_PER_SUPERSLAB;
/** Pages in one SuperSlab. */
export const SUPERSLAB_PAGES = SUPERSLAB_BYTES / PAGE_SIZE;
const SLAB_PAGES = SLAB_BYTES / PAGE_SIZE;

// Slab record words (Int32, from the record's first word). A const enum so that the hot path's reads in this file
// compile to literals under Bun (which inlines no module-scope const of a module with imports); the S_ names below
// are what other files read.
const enum SlabWord {
  base = 0,
  class = 1,
  size = 2,
  bump = 4,
  owner = 7,
  divisor = 14,
}
export const S_BASE = SlabWord.base; // byte offset of the slab's first block
export const S_CLASS = SlabWord.class; // class index while assigned
export const S_SIZE = SlabWord.size; // block size of the class (copied for the hot path); 0 without a class
export const S_CAPACITY = 3; // blocks that fit
export const S_BUMP = SlabWord.bump; // blocks below this index have been handed out at least once
export const S_FREE = 5; // first free block's byte offset, 0 when none
export const S_USED = 6; // blocks out of the slab (live or in a worker's cache)
export const S_OWNER = SlabWord.owner; // owning worker id + 1, 0 when none
export const S_SUPERSLAB = 8; // byte offset of its SuperSlab's record
export const S_NEXT = 9; // list link (record byte offset), 0 = end
export const S_PREV = 10;
export const S_STATE = 11; // SlabState
export const S_REMOTE = 12; // remote-free list head (atomic; multi-worker)
export const S_INDEX = 13; // slab index inside its SuperSlab
export const S_DIVISOR = SlabWord.divisor; // blockDivisor(block size, SLAB_UNIT_SHIFT): offset / size as one multiply (see blocks.ts)
export const S_DAMAGED = 15; // a free block found written after free (its free or remote list was cut there), 0 none

// SuperSlab record words.
export const SS_BASE = 0; // byte offset of the run
export const SS_UNUSED = 1; // slabs below this index have been handed out at least once
export const SS_ACTIVE = 2; // slabs with a class (not EMPTY or UNUSED)
export const SS_SOURCE = 3; // 0 shared pool, 1 legacy
export const SS_CLASS = 4; // legacy: the class it serves
export const SS_NEXT = 5; // list link
export const SS_PREV = 6;
export const SS_LIST = 7; // which list holds it (source-defined), 0 none
export const SS_STAMP = 8; // when it emptied (LRU order)

/** Life stages of a slab. */
export const SlabState = { unused: 0, empty: 1, current: 2, partial: 3, full: 4, orphan: 5 } as const;

/**
 * Block offsets in a slab are counted in 8-byte units for {@linkcode blockIndex}
 * (every class is a multiple of 8): under 2^10 units in a slab, times a
 * divisor of at most 2^20 (the 8-byte class), stays within 32 bits. Exact for
 * every class and every offset below SLAB_BYTES (tested exhaustively).
 */
export const SLAB_UNIT_SHIFT = 3;
const enum Unit {
  shift = SLAB_UNIT_SHIFT, // as a literal for the hot path
}

/**
 * Whether `ptr` starts a block of the slab whose record is at word `r` that
 * was handed out at least once: below the bump mark and on a block boundary
 * (one multiply, see blockIndex).
 */
export function isHandedOut(i32: Int32Array, r: number, ptr: number): boolean {
  const offset = ptr - (i32[r + SlabWord.base] >>> 0);
  const index = blockIndex(offset, i32[r + SlabWord.divisor], Unit.shift);
  return index < i32[r + SlabWord.bump] && index * i32[r + SlabWord.size] === offset;
}

/**
 * The class of the slab at record word `r` when `ptr` starts a block of it
 * that is handed out, not marked free, and the slab is `owner`'s; else -1:
 * the free fast path's whole test of a block, small so that it inlines.
 */
export function liveBlockClass(i32: Int32Array, r: number, ptr: number, owner: number): number {
  // blockIndex and isMarkedFree written out (tests/slab_blocks.test.ts holds them equal): JavaScriptCore inlines five
  // calls deep, and the user's loop, Heap.free, Router.free and pushCached come first.
  const offset = ptr - (i32[r + SlabWord.base] >>> 0);
  const index = Math.imul(offset >>> Unit.shift, i32[r + SlabWord.divisor]) >>> DIVISOR_BITS;
  return index < i32[r + SlabWord.bump] && index * i32[r + SlabWord.size] === offset && i32[r + SlabWord.owner] === owner &&
      i32[(ptr >>> 2) + 1] !== (ptr ^ FREE_MARK)
    ? i32[r + SlabWord.class]
    : -1;
}

/** Byte offset of slab `index` of the SuperSlab at `base`. */
export function slabBase(superslabBase: number, index: number): number {
  return superslabBase + index * SLAB_BYTES;
}

/** Gives an UNUSED or EMPTY slab to class `cls`, owned by worker `owner` (id + 1). */
export function assignSlab(i32: Int32Array, slab: number, cls: number, owner: number): void {
  const r = slab >>> 2;
  const size = CLASS_SIZES[cls];
  i32[r + S_CLASS] = cls;
  i32[r + S_SIZE] = size;
  i32[r + S_DIVISOR] = blockDivisor(size, SLAB_UNIT_SHIFT);
  i32[r + S_CAPACITY] = Math.floor(SLAB_BYTES / size);
  i32[r + S_BUMP] = 0;
  i32[r + S_FREE] = 0;
  i32[r + S_USED] = 0;
  i32[r + S_OWNER] = owner;
  i32[r + S_STATE] = SlabState.current;
  i32[r + S_REMOTE] = 0;
  i32[r + S_DAMAGED] = 0;
  if (i32[r + S_INDEX] >= i32[(i32[r + S_SUPERSLAB] >>> 2) + SS_UNUSED]) {
    i32[(i32[r + S_SUPERSLAB] >>> 2) + SS_UNUSED] = i32[r + S_INDEX] + 1;
  }
  i32[(i32[r + S_SUPERSLAB] >>> 2) + SS_ACTIVE]++;
}

/** Takes a slab back from its class: it becomes EMPTY with no owner. */
export function unassignSlab(i32: Int32Array, slab: number): void {
  const r = slab >>> 2;
  i32[r + S_STATE] = SlabState.empty;
  i32[r + S_SIZE] = 0; // frees into a classless slab fail tiny's block test
  i32[r + S_OWNER] = 0;
  i32[r + S_FREE] = 0;
  i32[r + S_BUMP] = 0;
  i32[r + S_DAMAGED] = 0; // released: whatever the damage cut off was none of its blocks
  i32[(i32[r + S_SUPERSLAB] >>> 2) + SS_ACTIVE]--;
}

/**
 * Builds a SuperSlab: one page run and nine records, the page map pointing
 * each slab's pages to its record. Returns the SuperSlab record, or 0 when
 * the page heap or the record arena is out of memory (nothing is kept then).
 * Takes no lock of the caller's: call it with none held.
 */
export function createSuperSlab(pages: PageHeap, records: RecordArena, kind: number, source: number, cls: number): number {
  const superslab = records.alloc();
  if (superslab === 0) return 0;
  const slabs: number[] = [];
  for (let i = 0; i < SLABS_PER_SUPERSLAB; i++) {
    const slab = records.alloc();
    if (slab === 0) {
      for (const taken of slabs) records.free(taken);
      records.free(superslab);
      return 0;
    }
    slabs.push(slab);
  }
  const first = pages.allocRun(SUPERSLAB_PAGES, superslab | kind);
  if (first < 0) {
    for (const taken of slabs) records.free(taken);
    records.free(superslab);
    return 0;
  }
  const base = first << PAGE_SHIFT;
  const i32 = pages.mem.i32;
  const s = superslab >>> 2;
  i32[s + SS_BASE] = base;
  i32[s + SS_SOURCE] = source;
  i32[s + SS_CLASS] = cls;
  for (let i = 0; i < SLABS_PER_SUPERSLAB; i++) {
    const r = slabs[i] >>> 2;
    i32[r + S_BASE] = slabBase(base, i);
    i32[r + S_SUPERSLAB] = superslab;
    i32[r + S_INDEX] = i;
    pages.setOwner(first + i * SLAB_PAGES, SLAB_PAGES, slabs[i] | kind);
  }
  return superslab;
}

/** The record of slab `index` of a SuperSlab. */
export function slabOf(pages: PageHeap, superslab: number, index: number, kind: number): number {
  return pages.ownerOf(slabBase(pages.mem.i32[(superslab >>> 2) + SS_BASE], index)) - kind;
}

/**
 * The next never-used slab of the first SuperSlab in `list` (SuperSlabs with
 * unused slabs); a SuperSlab leaves the list with its last unused slab.
 * Returns 0 when the list is empty. Called with the source's lock held.
 */
export function takeUnusedSlab(pages: PageHeap, list: RecordList, kind: number): number {
  const superslab = list.first();
  if (superslab === 0) return 0;
  const i32 = pages.mem.i32;
  const s = superslab >>> 2;
  const slab = slabOf(pages, superslab, i32[s + SS_UNUSED], kind);
  if (i32[s + SS_UNUSED] + 1 >= SLABS_PER_SUPERSLAB) {
    list.remove(superslab);
    i32[s + SS_LIST] = 0;
  }
  return slab;
}

/** Returns a SuperSlab's run and records. All its slabs must be EMPTY or UNUSED. */
export function destroySuperSlab(pages: PageHeap, records: RecordArena, superslab: number, kind: number): number {
  const slabs: number[] = [];
  for (let i = 0; i < SLABS_PER_SUPERSLAB; i++) slabs.push(slabOf(pages, superslab, i, kind));
  const base = pages.mem.i32[(superslab >>> 2) + SS_BASE];
  pages.freeRun(base >>> PAGE_SHIFT);
  for (const slab of slabs) records.free(slab);
  records.free(superslab);
  return SUPERSLAB_BYTES;
}

/**
 * Intrusive doubly-linked lists of records whose links sit at words `next`
 * and `prev` of each record; the head is header word `head`. Records are
 * byte offsets, 0 is the end.
 */
export class RecordList {
  private readonly mem: LinearMemory;
  private readonly head: number;
  private readonly nextWord: number;
  private readonly prevWord: number;

  constructor(mem: LinearMemory, head: number, next: number, prev: number) {
    this.mem = mem;
    this.head = head;
    this.nextWord = next;
    this.prevWord = prev;
  }

  /** The first record, 0 when empty. */
  first(): number {
    return this.mem.i32[this.head];
  }

  /** The record after `record`, 0 at the end. */
  next(record: number): number {
    return this.mem.i32[(record >>> 2) + this.nextWord];
  }

  /** Puts `record` first. */
  push(record: number): void {
    const i32 = this.mem.i32;
    const first = i32[this.head];
    i32[(record >>> 2) + this.nextWord] = first;
    i32[(record >>> 2) + this.prevWord] = 0;
    if (first !== 0) i32[(first >>> 2) + this.prevWord] = record;
    i32[this.head] = record;
  }

  /** Takes `record` out of the list. */
  remove(record: number): void {
    const i32 = this.mem.i32;
    const next = i32[(record >>> 2) + this.nextWord];
    const prev = i32[(record >>> 2) + this.prevWord];
    if (prev !== 0) i32[(prev >>> 2) + this.nextWord] = next;
    else i32[this.head] = next;
    if (next !== 0) i32[(next >>> 2) + this.prevWord] = prev;
    i32[(record >>> 2) + this.nextWord] = 0;
    i32[(record >>> 2) + this.prevWord] = 0;
  }

  /** Takes the first record out; 0 when empty. */
  pop(): number {
    const first = this.mem.i32[this.head];
    if (first !== 0) this.remove(first);
    return first;
  }

  /** The last record (walks the list), 0 when empty. */
  last(): number {
    let record = this.first();
    if (record === 0) return 0;
    for (let next = this.next(record); next !== 0; next = this.next(record)) record = next;
    return record;
  }

  /** Counts the records (walks the list, stopping after `limit`). */
  count(limit = 1 << 30): number {
    let n = 0;
    for (let record = this.first(); record !== 0 && n <= limit; record = this.next(record)) n++;
    return n;
  }
}
