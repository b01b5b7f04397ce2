/**
 * Tiny's size classes: 8 .. 1024 bytes in 21 classes, every one a multiple
 * of 16 from 16 up, so blocks are aligned as C's malloc aligns them on
 * wasm32 and x86-64: every block at least 8-aligned (a Float64Array or
 * BigInt64Array view fits any block) and every block of 16 bytes or more
 * 16-aligned (slabs start on page boundaries, and a block's address is its
 * slab's base plus a multiple of its size).
 *
 * ```
 * class size   8 | 16  32  48  64 | 80  96 112 128 | 160 192 224 256 | 320 384 448 512 | 640 768 896 1024
 * step           |      16        |      16        |       32        |       64        |       128
 * ```
 *
 * From 64 up there are four classes per doubling (the step is a quarter of
 * the octave), so rounding wastes at most 20% of a block there and under 8%
 * on average for sizes uniform in 64..1024. Below 64 the 16-byte step is the
 * finest that keeps 16-byte alignment: a request of 17 bytes takes 32, as it
 * does from a C malloc.
 * @module
 */

/**
 * Every class's block size, smallest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLASS_SIZES } from "./size_classes.ts";
 * assert.deepEqual([...CLASS_SIZES.slice(0, 8)], [8, 16, 32, 48, 64, 80, 96, 112]);
 * ```
 */
export const CLASS_SIZES: Int32Array = Int32Array.from([
  8, // the one class under 16 bytes: 8-aligned
  16,
  32,
  48, // step 16
  64,
  80,
  96,
  112,
  128, // step 16
  160,
  192,
  224,
  256, // step 32
  320,
  384,
  448,
  512, // step 64
  640,
  768,
  896,
  1024, // step 128
]);

/**
 * Number of classes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLASS_COUNT } from "./size_classes.ts";
 * assert.equal(CLASS_COUNT, 21);
 * ```
 */
export const CLASS_COUNT: number = CLASS_SIZES.length;

/**
 * Largest size tiny serves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TINY_MAX_SIZE } from "./size_classes.ts";
 * assert.equal(TINY_MAX_SIZE, 1024);
 * ```
 */
export const TINY_MAX_SIZE = 1024;

/**
 * Size (0 .. 1024) → class index: the smallest class that fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLASS_SIZES, SIZE_TO_CLASS } from "./size_classes.ts";
 * assert.equal(CLASS_SIZES[SIZE_TO_CLASS[100]], 112);
 * ```
 */
export const SIZE_TO_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(TINY_MAX_SIZE + 1);
  let cls = 0;
  for (let size = 0; size <= TINY_MAX_SIZE; size++) {
    while (CLASS_SIZES[cls] < size) cls++;
    table[size] = cls;
  }
  return table;
})();

/**
 * The alignment every block of class `cls` has.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classAlignment, SIZE_TO_CLASS } from "./size_classes.ts";
 * assert.equal(classAlignment(SIZE_TO_CLASS[8]), 8);
 * assert.equal(classAlignment(SIZE_TO_CLASS[24]), 32); // 24 rounds up to the 32-byte class
 * assert.equal(classAlignment(SIZE_TO_CLASS[48]), 16); // 48 = 3 × 16
 * ```
 */
export function classAlignment(cls: number): number {
  const size = CLASS_SIZES[cls];
  return size & -size;
}
