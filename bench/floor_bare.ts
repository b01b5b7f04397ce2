/**
 * The bare floor: the loops of bench/loops.ts with the floor allocator
 * (bench/floor.ts) written inline, its views, bump pointer and limit in local
 * variables. No object is called per operation, so it is the fastest these
 * loops can go over the floor's memory; "floor (API)", the same algorithm
 * behind `malloc`/`free`/`u8`, shows what calling through an object costs.
 *
 * Inline malloc: class from the size, pop the class's list, or cut the block
 * from the bump pointer (growing the memory through `Floor.grow`, then
 * reloading the views). Inline free: read the class from the header, push the
 * block on its list. The floor's state goes back into the `Floor` when a loop
 * ends, so the workload can free what is left through the object.
 *
 * The bare floor only mallocs and frees: there is no `resize` here, so it does
 * not run the large workload.
 * @module
 */

import type { Floor } from "./floor.ts";
import { type Allocator, FIRST_STAMP, LAST_STAMP } from "./loops.ts";

/** {@linkcode import("./loops.ts").slots}, the floor inline. `allocator` must be a `Floor`. */
export function slots(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  const floor = allocator as Floor;
  let i32 = floor.i32, u8 = floor.u8, limit = floor.limit, bump = floor.bump;
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    if (size === 0) {
      const ptr = ptrs[slot];
      const sizeClass = i32[(ptr >> 2) - 1];
      i32[ptr >> 2] = i32[sizeClass];
      i32[sizeClass] = ptr;
      ptrs[slot] = 0;
      continue;
    }
    const sizeClass = 32 - Math.clz32((size + 3) >>> 4);
    let ptr = i32[sizeClass];
    if (ptr !== 0) i32[sizeClass] = i32[ptr >> 2];
    else {
      const end = bump + (16 << sizeClass);
      if (end > limit) {
        if (!floor.grow(end)) break;
        i32 = floor.i32, u8 = floor.u8, limit = floor.limit;
      }
      i32[bump >> 2] = sizeClass;
      ptr = bump + 4;
      bump = end;
    }
    u8[ptr] = FIRST_STAMP;
    u8[ptr + size - 1] = LAST_STAMP;
    ptrs[slot] = ptr;
  }
  floor.bump = bump;
  return step;
}

/** {@linkcode import("./loops.ts").churn}, the floor inline. `allocator` must be a `Floor`. */
export function churn(allocator: Allocator, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  const floor = allocator as Floor;
  let i32 = floor.i32, u8 = floor.u8, limit = floor.limit, bump = floor.bump;
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    const old = ptrs[slot];
    const oldClass = i32[(old >> 2) - 1];
    i32[old >> 2] = i32[oldClass];
    i32[oldClass] = old;
    const sizeClass = 32 - Math.clz32((size + 3) >>> 4);
    let ptr = i32[sizeClass];
    if (ptr !== 0) i32[sizeClass] = i32[ptr >> 2];
    else {
      const end = bump + (16 << sizeClass);
      if (end > limit) {
        if (!floor.grow(end)) {
          ptrs[slot] = 0;
          break;
        }
        i32 = floor.i32, u8 = floor.u8, limit = floor.limit;
      }
      i32[bump >> 2] = sizeClass;
      ptr = bump + 4;
      bump = end;
    }
    u8[ptr] = FIRST_STAMP;
    u8[ptr + size - 1] = LAST_STAMP;
    ptrs[slot] = ptr;
  }
  floor.bump = bump;
  return step;
}

/** {@linkcode import("./loops.ts").fill}, the floor inline. `allocator` must be a `Floor`. */
export function fill(allocator: Allocator, size: number, ptrs: Float64Array, from: number, to: number): number {
  const floor = allocator as Floor;
  let i32 = floor.i32, u8 = floor.u8, limit = floor.limit, bump = floor.bump;
  let index = from;
  for (; index < to; index++) {
    const sizeClass = 32 - Math.clz32((size + 3) >>> 4);
    let ptr = i32[sizeClass];
    if (ptr !== 0) i32[sizeClass] = i32[ptr >> 2];
    else {
      const end = bump + (16 << sizeClass);
      if (end > limit) {
        if (!floor.grow(end)) break;
        i32 = floor.i32, u8 = floor.u8, limit = floor.limit;
      }
      i32[bump >> 2] = sizeClass;
      ptr = bump + 4;
      bump = end;
    }
    u8[ptr] = FIRST_STAMP;
    u8[ptr + size - 1] = LAST_STAMP;
    ptrs[index] = ptr;
  }
  floor.bump = bump;
  return index;
}

/** {@linkcode import("./loops.ts").freeRange}, the floor inline. `allocator` must be a `Floor`. */
export function freeRange(allocator: Allocator, ptrs: Float64Array, from: number, to: number): void {
  const i32 = (allocator as Floor).i32;
  for (let index = from; index < to; index++) {
    const ptr = ptrs[index];
    const sizeClass = i32[(ptr >> 2) - 1];
    i32[ptr >> 2] = i32[sizeClass];
    i32[sizeClass] = ptr;
    ptrs[index] = 0;
  }
}
