/**
 * The pool's size classes and span geometry: which class a size rounds to,
 * and how many pages a span of each class takes and how many blocks it holds.
 *
 * Up to 16 KiB the classes are the powers of two with three bridge classes
 * between each pair, a quarter of the lower power apart (the seeds' ACE
 * rounding); spans of these classes hold several blocks. Above 16 KiB the
 * bridges are whole pages (then two, then four pages apart), and a span is
 * one block of exactly its pages: no span holds free room for a block nobody
 * asked for, and the waste of a big block is what its class rounds up.
 *
 * ```
 * 1280 1536 1792 2048 │ 2560 ... 4096 │ ... │ 10240 12288 14336 16384 │ 20480 24576 ... 65536 │ 73728 ... 131072 │ 147456 ... 262144
 *  └ 1 KiB × 5/4 .. 8/4 ┘                     └ 8 KiB × 5/4 .. 8/4 ──┘   └ every 4 KiB ─────┘   └ every 8 KiB ─┘    └ every 16 KiB ┘
 * ```
 *
 * Every class is a multiple of 256, so every block of a span that starts on
 * a page boundary is 256-byte aligned. A size rounds up to at most 5/4 of
 * the class below it, so no request wastes 20% or more of its block.
 *
 * The lookup is one load: `POOL_CLASS_OF_UNIT[(size + 255) >>> 8]`, a byte per
 * 256-byte unit of size (sizes 0..1280 all map to the first class).
 * @module
 */

import { PAGE_SIZE } from "../../memory/layout.ts";

/**
 * Smallest size the pool serves exactly (smaller sizes round up to the first class).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_MAX_SIZE, POOL_MIN_SIZE } from "./pool_classes.ts";
 * assert.equal(POOL_MIN_SIZE, 1025);
 * assert.equal(POOL_MAX_SIZE, 262144);
 * ```
 */
export const POOL_MIN_SIZE = 1025;
/**
 * Largest size the pool serves: its last class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_MAX_SIZE } from "./pool_classes.ts";
 * assert.equal(POOL_MAX_SIZE / 1024, 256);
 * ```
 */
export const POOL_MAX_SIZE = 262144;
/**
 * Every class is a multiple of this (and so is every block's offset in its span).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_SIZES, POOL_GRANULE } from "./pool_classes.ts";
 * assert.ok(POOL_CLASS_SIZES.every((size) => size % POOL_GRANULE === 0));
 * ```
 */
export const POOL_GRANULE = 256;

const GRANULE_SHIFT = 8; // log2(POOL_GRANULE)
const BRIDGES = 4; // classes per power of two up to 16 KiB: 5/4, 6/4, 7/4, 8/4 of the power below
/**
 * Classes above this hold one block per span, a whole number of pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_SIZES, POOL_SINGLE_ABOVE, POOL_SPAN_BLOCKS } from "./pool_classes.ts";
 * assert.ok(POOL_CLASS_SIZES.every((size, cls) => (size > POOL_SINGLE_ABOVE) === (POOL_SPAN_BLOCKS[cls] === 1)));
 * ```
 */
export const POOL_SINGLE_ABOVE = 16384;
const MIN_SPAN_BYTES = 32 * 1024; // a span of a small class is at least this big
const TARGET_BLOCKS = 4; // blocks a span of a small class aims to hold
const TAIL_FRACTION = 8; // the unused tail of a span is under 1/TAIL_FRACTION of it
/** Above POOL_SINGLE_ABOVE: [up to, step] of the page-multiple classes. */
const PAGE_STEPS = [[65536, 4096], [131072, 8192], [POOL_MAX_SIZE, 16384]];

function buildClasses(): number[] {
  const sizes: number[] = [];
  for (let power = 1024; power < POOL_SINGLE_ABOVE; power *= 2) {
    for (let step = 1; step <= BRIDGES; step++) sizes.push(power + (power / BRIDGES) * step);
  }
  let size = POOL_SINGLE_ABOVE;
  for (const [upTo, step] of PAGE_STEPS) {
    for (size += step; size <= upTo; size += step) sizes.push(size);
    size -= step;
  }
  return sizes;
}

/**
 * Block size of each class, smallest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_SIZES } from "./pool_classes.ts";
 * assert.deepEqual([...POOL_CLASS_SIZES.slice(0, 4)], [1280, 1536, 1792, 2048]);
 * ```
 */
export const POOL_CLASS_SIZES: Int32Array = Int32Array.from(buildClasses());
/**
 * Number of classes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_COUNT } from "./pool_classes.ts";
 * assert.equal(POOL_CLASS_COUNT, 44);
 * ```
 */
export const POOL_CLASS_COUNT: number = POOL_CLASS_SIZES.length;

/**
 * Class index by 256-byte unit of size: `POOL_CLASS_OF_UNIT[(size + 255) >>> 8]` for a size up to
 * {@linkcode POOL_MAX_SIZE} ({@linkcode poolClassOf} reads it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_OF_UNIT, poolClassOf } from "./pool_classes.ts";
 * assert.equal(POOL_CLASS_OF_UNIT[(40000 + 255) >>> 8], poolClassOf(40000));
 * ```
 */
export const POOL_CLASS_OF_UNIT: Uint8Array = (() => {
  const table = new Uint8Array((POOL_MAX_SIZE >>> GRANULE_SHIFT) + 1);
  let index = 0;
  for (let unit = 0; unit < table.length; unit++) {
    while (POOL_CLASS_SIZES[index] < unit * POOL_GRANULE) index++;
    table[unit] = index;
  }
  return table;
})();

/**
 * The class a size rounds up to: the smallest class of at least `size`
 * bytes. `size` must be an integer from 0 to {@linkcode POOL_MAX_SIZE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_SIZES, poolClassOf } from "./pool_classes.ts";
 * assert.equal(POOL_CLASS_SIZES[poolClassOf(33000)], 36864); // 9 pages: above 16 KiB the classes are 4 KiB apart
 * ```
 */
export function poolClassOf(size: number): number {
  return POOL_CLASS_OF_UNIT[(size + POOL_GRANULE - 1) >>> GRANULE_SHIFT];
}

/** Pages of a span: one block above POOL_SINGLE_ABOVE, else the smallest run holding its target blocks with a short tail. */
function spanPagesFor(size: number): number {
  if (size > POOL_SINGLE_ABOVE) return size / PAGE_SIZE;
  let pages = Math.ceil(Math.max(MIN_SPAN_BYTES, TARGET_BLOCKS * size) / PAGE_SIZE);
  while (((pages * PAGE_SIZE) % size) * TAIL_FRACTION >= pages * PAGE_SIZE) pages++;
  return pages;
}

/**
 * Pages in one span of each class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { poolClassOf, POOL_SPAN_BLOCKS, POOL_SPAN_PAGES } from "./pool_classes.ts";
 * const cls = poolClassOf(40000);
 * assert.equal(POOL_SPAN_PAGES[cls], 10);
 * assert.equal(POOL_SPAN_BLOCKS[cls], 1);
 * ```
 */
export const POOL_SPAN_PAGES: Int32Array = POOL_CLASS_SIZES.map(spanPagesFor);
/**
 * Blocks in one span of each class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POOL_CLASS_SIZES, POOL_SPAN_BLOCKS } from "./pool_classes.ts";
 * assert.equal(POOL_SPAN_BLOCKS[0], 25); // a span of 8 pages (32 KiB) holds 25 blocks of 1280 bytes
 * assert.equal(POOL_CLASS_SIZES[0], 1280);
 * ```
 */
export const POOL_SPAN_BLOCKS: Int32Array = POOL_CLASS_SIZES.map((size, index) => Math.floor((POOL_SPAN_PAGES[index] * PAGE_SIZE) / size));
