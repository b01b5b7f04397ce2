/**
 * Tiny's size classes: 16 .. 1024 bytes, four classes per doubling (the
 * step is a quarter of the octave), so rounding wastes at most 20% of a
 * block and under 8% on average for sizes uniform in 16..1024.
 *
 * A block's alignment is the largest power of two dividing its class size
 * (slabs start on page boundaries): 4 for 20 and 28, 8 for 24, 40 and 56, 16
 * or more for the rest. So a size that is a multiple of 8 (or 16) always gets
 * an 8- (or 16-) aligned block.
 * @module
 */

/**
 * Every class's block size, smallest first.
 *
 * @example
 * ```ts
 * import { CLASS_SIZES } from "./size_classes.ts";
 * console.log([...CLASS_SIZES.slice(0, 8)]); // [ 16, 20, 24, 28, 32, 40, 48, 56 ]
 * ```
 */
export const CLASS_SIZES: Int32Array = Int32Array.from([
  16,
  20,
  24,
  28, // step 4
  32,
  40,
  48,
  56, // step 8
  64,
  80,
  96,
  112, // step 16
  128,
  160,
  192,
  224, // step 32
  256,
  320,
  384,
  448, // step 64
  512,
  640,
  768,
  896, // step 128
  1024,
]);

/**
 * Number of classes.
 *
 * @example
 * ```ts
 * import { CLASS_COUNT } from "./size_classes.ts";
 * console.log(CLASS_COUNT); // 25
 * ```
 */
export const CLASS_COUNT: number = CLASS_SIZES.length;

/**
 * Largest size tiny serves.
 *
 * @example
 * ```ts
 * import { TINY_MAX_SIZE } from "./size_classes.ts";
 * console.log(TINY_MAX_SIZE); // 1024
 * ```
 */
export const TINY_MAX_SIZE = 1024;

/**
 * Size (0 .. 1024) → class index: the smallest class that fits.
 *
 * @example
 * ```ts
 * import { CLASS_SIZES, SIZE_TO_CLASS } from "./size_classes.ts";
 * console.log(CLASS_SIZES[SIZE_TO_CLASS[100]]); // 112
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
 * import { classAlignment, SIZE_TO_CLASS } from "./size_classes.ts";
 * console.log(classAlignment(SIZE_TO_CLASS[24]), classAlignment(SIZE_TO_CLASS[100])); // 8 16
 * ```
 */
export function classAlignment(cls: number): number {
  const size = CLASS_SIZES[cls];
  return size & -size;
}
