/**
 * The timed loops of the workloads, and nothing else. Every contender runs its
 * own copy of this module: bench/contenders.ts imports it once per contender
 * under its own URL (`./loops.ts?contender=<name>`), and the engines (V8, and
 * JavaScriptCore) compile each URL as a module of its own, with its own type
 * feedback. So the call sites in a contender's loops only ever see that
 * contender's allocator: each loop is monomorphic, as a user's own loop over
 * one allocator is. (One shared loop for all contenders made every call site
 * megamorphic and pulled every ratio toward 1.) bench/loop_check.ts checks that
 * a copy measures what a hand-written loop does.
 *
 * The loops call the allocator as users call a hakmem heap: `malloc(size)`,
 * `free(ptr)`, `realloc(ptr, size)`, and the bytes through `u8`, read after
 * each malloc since growth may replace it. They write the first and the last
 * byte of every fresh block, so lazily committed memory is paid for by all.
 *
 * bench/floor_bare.ts implements the same functions with the floor allocator
 * written inline: the bare floor.
 * @module
 */

/** An allocator as the loops call it: a hakmem heap, or another allocator behind the same names. */
export interface Allocator {
  /** A block of at least `size` bytes, or 0 when out of memory. */
  malloc(size: number): number;
  /** Gives a block back. */
  free(ptr: number): void;
  /** Resizes a block keeping its contents; 0 when out of memory (the old block stays). */
  realloc?(ptr: number, size: number): number;
  /** The bytes pointers index into now; null when blocks are separate objects (then `touch` writes them). */
  readonly u8: Uint8Array | null;
  /** Writes the first and the last byte of a block, for allocators without one `u8`. */
  touch?(ptr: number, size: number): void;
}

/** The loops every contender has a copy of (the bare floor's lack `resize`: they only malloc and free). */
export interface Loops {
  /** See {@linkcode slots}. */
  slots(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number;
  /** See {@linkcode churn}. */
  churn(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number;
  /** See {@linkcode fill}. */
  fill(allocator: Allocator, size: number, ptrs: Float64Array, from: number, to: number): number;
  /** See {@linkcode freeRange}. */
  freeRange(allocator: Allocator, ptrs: Float64Array, from: number, to: number): void;
  /** See {@linkcode resize}. */
  resize?(allocator: Allocator, action: Uint8Array, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number;
}

/** The byte written first in every fresh block. */
export const FIRST_STAMP = 0xa5;
/** The byte written last in every fresh block. */
export const LAST_STAMP = 0x5a;
/** `resize` action: allocate the slot's block. */
export const ACTION_ALLOC = 0;
/** `resize` action: free the slot's block. */
export const ACTION_FREE = 1;
/** `resize` action: realloc the slot's block. */
export const ACTION_REALLOC = 2;

/**
 * Slot steps: a step whose size is 0 frees the block of `ptrs[slotOf[step]]`,
 * any other mallocs that size into the (empty) slot and writes its first and
 * last byte. Returns the steps done: fewer than `steps` when a malloc failed.
 */
export function slots(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    if (size === 0) {
      allocator.free(ptrs[slot]);
      ptrs[slot] = 0;
      continue;
    }
    const ptr = allocator.malloc(size);
    if (ptr === 0) break;
    const u8 = allocator.u8;
    if (u8 === null) allocator.touch!(ptr, size);
    else {
      u8[ptr] = FIRST_STAMP;
      u8[ptr + size - 1] = LAST_STAMP;
    }
    ptrs[slot] = ptr;
  }
  return step;
}

/**
 * Larson-style churn over full slots: each step frees the block of
 * `ptrs[slotOf[step]]` and mallocs `sizeOf[step]` bytes in its place (two
 * operations), writing its first and last byte. Returns the steps done.
 */
export function churn(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    allocator.free(ptrs[slot]);
    const ptr = allocator.malloc(size);
    ptrs[slot] = ptr;
    if (ptr === 0) break;
    const u8 = allocator.u8;
    if (u8 === null) allocator.touch!(ptr, size);
    else {
      u8[ptr] = FIRST_STAMP;
      u8[ptr + size - 1] = LAST_STAMP;
    }
  }
  return step;
}

/** Mallocs `size` bytes into `ptrs[from]`, `ptrs[from + 1]`, ... up to `to`, writing each; returns the index reached. */
export function fill(allocator: Allocator, size: number, ptrs: Float64Array, from: number, to: number): number {
  let index = from;
  for (; index < to; index++) {
    const ptr = allocator.malloc(size);
    if (ptr === 0) break;
    const u8 = allocator.u8;
    if (u8 === null) allocator.touch!(ptr, size);
    else {
      u8[ptr] = FIRST_STAMP;
      u8[ptr + size - 1] = LAST_STAMP;
    }
    ptrs[index] = ptr;
  }
  return index;
}

/** Frees `ptrs[from]` .. `ptrs[to - 1]` in order and zeroes them. */
export function freeRange(allocator: Allocator, ptrs: Float64Array, from: number, to: number): void {
  for (let index = from; index < to; index++) {
    allocator.free(ptrs[index]);
    ptrs[index] = 0;
  }
}

/**
 * Steps of the large workload: per step an action (ACTION_ALLOC, ACTION_FREE,
 * ACTION_REALLOC) on the slot's block, the size for alloc and realloc; a fresh
 * or moved block gets its first and last byte written. Returns the steps done.
 */
export function resize(
  allocator: Allocator,
  action: Uint8Array,
  slotOf: Int32Array,
  sizeOf: Int32Array,
  ptrs: Float64Array,
  steps: number,
): number {
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const kind = action[step];
    if (kind === ACTION_FREE) {
      allocator.free(ptrs[slot]);
      ptrs[slot] = 0;
      continue;
    }
    const size = sizeOf[step];
    const ptr = kind === ACTION_ALLOC ? allocator.malloc(size) : allocator.realloc!(ptrs[slot], size);
    if (ptr === 0) break;
    const u8 = allocator.u8;
    if (u8 === null) allocator.touch!(ptr, size);
    else {
      u8[ptr] = FIRST_STAMP;
      u8[ptr + size - 1] = LAST_STAMP;
    }
    ptrs[slot] = ptr;
  }
  return step;
}
