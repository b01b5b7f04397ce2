/**
 * Blocks carved from a run of memory: the one place that computes a block's
 * address from its index, its index from its address, the word of its
 * free-list link and the word and value of its free mark. Tiny's slabs and the
 * pool's spans both carve blocks this way (DESIGN.md lesson 1), so a change to
 * the block layout is made here once.
 *
 * ```
 * free block   +0  link: the next free block's byte offset (0 ends the list)
 *              +4  mark: FREE_MARK ^ the block's own offset (a cheap double-free hint;
 *                  0 once the block is handed out)
 * live block   every byte is the user's: no header
 * ```
 *
 * A block's index is one multiply, not a division: the offset is counted in
 * units of 2^unitShift bytes (every block size of the carver is a multiple of
 * that unit) and multiplied by the carver's divisor for the size,
 * `blockDivisor(size, unitShift)`, then shifted down by 20 bits. The carver
 * keeps `offset >>> unitShift` under 2^10 and the divisor under 2^22, so the
 * product stays within 32 bits and the divisor's rounding error stays under
 * one unit.
 * @module
 */

/**
 * Written into a free block's second word, xor its offset: a cheap double-free hint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FREE_MARK, isMarkedFree, markFree } from "./blocks.ts";
 * const i32 = new Int32Array(8);
 * markFree(i32, 16);
 * assert.equal(i32[5], 16 ^ FREE_MARK);
 * assert.ok(isMarkedFree(i32, 16));
 * ```
 */
export const FREE_MARK = 0x5a17f4ee;

/** Word index of the free-list link of the block at byte offset `block`. */
export function linkSlot(block: number): number {
  return block >>> 2;
}

/** Word index of the free mark of the block at byte offset `block`. */
export function markSlot(block: number): number {
  return (block >>> 2) + 1;
}

/**
 * Byte offset of block `index` of a run whose blocks of `size` bytes start at `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blockAddress } from "./blocks.ts";
 * assert.equal(blockAddress(4096, 3, 48), 4096 + 144);
 * ```
 */
export function blockAddress(base: number, index: number, size: number): number {
  return base + index * size;
}

/**
 * The divisor that turns an offset into a block index for blocks of `size`
 * bytes, counted in units of 2^`unitShift` bytes: ceil(2^20 / (size / 2^unitShift)).
 */
export function blockDivisor(size: number, unitShift: number): number {
  return Math.ceil(2 ** (DIVISOR_BITS + unitShift) / size);
}

/**
 * Index of the block holding byte `offset` of a run (offset from the first
 * block), where `divisor` is `blockDivisor(size, unitShift)`: a multiply
 * instead of a division on the free path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blockDivisor, blockIndex } from "./blocks.ts";
 * assert.equal(blockIndex(200, blockDivisor(48, 3), 3), 4); // 200 = 4 × 48 + 8
 * ```
 */
export function blockIndex(offset: number, divisor: number, unitShift: number): number {
  return Math.imul(offset >>> unitShift, divisor) >>> DIVISOR_BITS;
}

/** The fixed-point shift of a divisor: `blockDivisor` is 2^DIVISOR_BITS / (size in units), rounded up. */
export const DIVISOR_BITS = 20;

/** The next free block after free block `block` (its link word), 0 at the end. */
export function readLink(i32: Int32Array, block: number): number {
  return i32[block >>> 2] >>> 0;
}

/** Links free block `block` to `next` (0 ends the list). */
export function writeLink(i32: Int32Array, block: number, next: number): void {
  i32[block >>> 2] = next;
}

/** Marks `block` free: FREE_MARK xor its offset in its second word. */
export function markFree(i32: Int32Array, block: number): void {
  i32[(block >>> 2) + 1] = block ^ FREE_MARK;
}

/** Whether `block` carries its free mark (a live block may hold the value by chance: confirm on the free list). */
export function isMarkedFree(i32: Int32Array, block: number): boolean {
  return i32[(block >>> 2) + 1] === (block ^ FREE_MARK);
}

/** Clears `block`'s free mark as it is handed out, so that its first free is not taken for a double free. */
export function clearMark(i32: Int32Array, block: number): void {
  i32[(block >>> 2) + 1] = 0;
}
