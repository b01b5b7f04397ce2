/**
 * The pool's size classes and span geometry: which class a size rounds to,
 * and how many pages a span of each class takes and how many blocks it holds.
 *
 * Classes are the powers of two from 2 KiB to 256 KiB with three bridge
 * classes between each pair, a quarter of the lower power apart (the seeds'
 * ACE rounding with its 40 KiB bridge class):
 *
 * ```
 * 1280 1536 1792 2048 │ 2560 3072 3584 4096 │ 5120 ... 8192 │ ... │ 163840 196608 229376 262144
 *  └── 1 KiB × 5/4, 6/4, 7/4, 8/4 ──┘   └ 2 KiB × 5/4 .. 8/4 ┘
 * ```
 *
 * Every class is a multiple of 256, so every block of a span that starts on
 * a page boundary is 256-byte aligned. A size rounds up to at most 5/4 of
 * the power of two below it, so no request wastes 20% or more of its block.
 *
 * The lookup is one load: `CLASS_OF_UNIT[(size + 255) >>> 8]`, a byte per
 * 256-byte unit of size (sizes 0..1280 all map to the first class).
 * @module
 */

import { PAGE_SIZE } from "../../memory/layout.ts";

/**
 * Smallest size the pool serves exactly (smaller sizes round up to the first class).
 *
 * @example
 * ```ts
 * import { POOL_MAX_SIZE, POOL_MIN_SIZE } from "./pool_classes.ts";
 * console.log(POOL_MIN_SIZE, POOL_MAX_SIZE); // 1025 262144
 * ```
 */
export const POOL_MIN_SIZE = 1025;
/**
 * Largest size the pool serves: its last class.
 *
 * @example
 * ```ts
 * import { POOL_MAX_SIZE } from "./pool_classes.ts";
 * console.log(POOL_MAX_SIZE / 1024); // 256
 * ```
 */
export const POOL_MAX_SIZE = 262144;
/**
 * Every class is a multiple of this (and so is every block's offset in its span).
 *
 * @example
 * ```ts
 * import { POOL_CLASS_SIZES, POOL_GRANULE } from "./pool_classes.ts";
 * console.log(POOL_CLASS_SIZES.every((size) => size % POOL_GRANULE === 0)); // true
 * ```
 */
export const POOL_GRANULE = 256;

const GRANULE_SHIFT = 8; // log2(POOL_GRANULE)
const BRIDGES = 4; // classes per power of two: 5/4, 6/4, 7/4, 8/4 of the power below
const MIN_SPAN_BYTES = 64 * 1024; // a span of a small class is at least this big
const MAX_SPAN_BYTES = 256 * 1024; // a span holds fewer than TARGET_BLOCKS blocks rather than grow past this
const TARGET_BLOCKS = 8; // blocks a span aims to hold
const TAIL_FRACTION = 8; // the unused tail of a span is under 1/TAIL_FRACTION of it

function buildClasses(): number[] {
  const sizes: number[] = [];
  for (let power = 1024; power < POOL_MAX_SIZE; power *= 2) {
    for (let step = 1; step <= BRIDGES; step++) sizes.push(power + (power / BRIDGES) * step);
  }
  return sizes;
}

/**
 * Block size of each class, smallest first.
 *
 * @example
 * ```ts
 * import { POOL_CLASS_SIZES } from "./pool_classes.ts";
 * console.log([...POOL_CLASS_SIZES.slice(0, 4)]); // [ 1280, 1536, 1792, 2048 ]
 * ```
 */
export const POOL_CLASS_SIZES: Int32Array = Int32Array.from(buildClasses());
/**
 * Number of classes.
 *
 * @example
 * ```ts
 * import { POOL_CLASS_COUNT } from "./pool_classes.ts";
 * console.log(POOL_CLASS_COUNT); // 32
 * ```
 */
export const POOL_CLASS_COUNT: number = POOL_CLASS_SIZES.length;

/** Class index by 256-byte unit of size: `CLASS_OF_UNIT[(size + 255) >>> 8]`. */
const CLASS_OF_UNIT: Uint8Array = (() => {
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
 * import { POOL_CLASS_SIZES, poolClassOf } from "./pool_classes.ts";
 * console.log(POOL_CLASS_SIZES[poolClassOf(33000)]); // 40960
 * ```
 */
export function poolClassOf(size: number): number {
  return CLASS_OF_UNIT[(size + POOL_GRANULE - 1) >>> GRANULE_SHIFT];
}

/** Pages of a span: the smallest run holding its target blocks with a short tail. */
function spanPagesFor(size: number): number {
  const blocks = Math.max(1, Math.min(TARGET_BLOCKS, Math.floor(MAX_SPAN_BYTES / size)));
  let pages = Math.ceil(Math.max(MIN_SPAN_BYTES, blocks * size) / PAGE_SIZE);
  while (((pages * PAGE_SIZE) % size) * TAIL_FRACTION >= pages * PAGE_SIZE) pages++;
  return pages;
}

/**
 * Pages in one span of each class.
 *
 * @example
 * ```ts
 * import { poolClassOf, POOL_SPAN_BLOCKS, POOL_SPAN_PAGES } from "./pool_classes.ts";
 * const cls = poolClassOf(40000);
 * console.log(POOL_SPAN_PAGES[cls], POOL_SPAN_BLOCKS[cls]); // 60 6
 * ```
 */
export const POOL_SPAN_PAGES: Int32Array = POOL_CLASS_SIZES.map(spanPagesFor);
/**
 * Blocks in one span of each class.
 *
 * @example
 * ```ts
 * import { POOL_CLASS_SIZES, POOL_SPAN_BLOCKS } from "./pool_classes.ts";
 * console.log(POOL_SPAN_BLOCKS[0], POOL_CLASS_SIZES[0]); // 51 1280
 * ```
 */
export const POOL_SPAN_BLOCKS: Int32Array = POOL_CLASS_SIZES.map((size, index) => Math.floor((POOL_SPAN_PAGES[index] * PAGE_SIZE) / size));
