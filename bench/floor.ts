/**
 * The floor: the simplest allocator that still reuses memory, the speed
 * hakmem's hot path is measured against. Power-of-two classes, a bump pointer
 * and one intrusive free list per class over a resizable ArrayBuffer; no
 * checks, no routing, no counters, no shared state.
 *
 * ```
 * byte 0          HEADS_BYTES       FIRST_BLOCK
 * ├─ list heads ─┤├─ pad ─┤├─ block ─────────────┤├─ block ──...── bump → end
 *   one Int32 per class     [class index][payload ...]
 *                           4 bytes      the pointer; when free, word 0 = next
 * ```
 *
 * Every block size is a multiple of 16 and the first block starts 4 bytes
 * before a 16-byte boundary, so every payload is 16-byte aligned. A block of
 * class `c` is `16 << c` bytes, header included: a 16-byte request takes a
 * 32-byte block. Classes run from 16 B to 8 MiB, so a 4 MiB request plus its
 * header still fits.
 * @module
 */

const CLASSES = 20; // 16 B << 0 .. 16 B << 19 = 8 MiB
const HEADS_BYTES = CLASSES * 4; // free-list heads, one Int32 per class
const FIRST_BLOCK = 128 - 4; // a block starts 4 bytes before a 16-byte boundary
/** The largest request the floor serves (its largest class minus the header). */
export const FLOOR_MAX_SIZE: number = (16 << (CLASSES - 1)) - 4;

/**
 * The floor allocator. Pointers are byte offsets into {@linkcode Floor.buffer};
 * 0 is NULL.
 *
 * @example
 * ```ts
 * import { Floor } from "./floor.ts";
 * const floor = new Floor(1 << 20);
 * const ptr = floor.malloc(100);
 * floor.u8[ptr] = 1;
 * floor.free(ptr);
 * ```
 */
export class Floor {
  /** The memory (resizable up to the `maxBytes` given). */
  readonly buffer: ArrayBuffer;
  /** Bytes of the memory; tracks growth. */
  readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private bump: number;

  /** A floor over a new resizable ArrayBuffer that grows up to `maxBytes`. */
  constructor(maxBytes: number, initialBytes = 1 << 16) {
    this.buffer = new ArrayBuffer(Math.max(initialBytes, HEADS_BYTES + 128), { maxByteLength: maxBytes });
    this.u8 = new Uint8Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.bump = FIRST_BLOCK;
  }

  /** Bytes of the memory handed out so far (the bump pointer; it never goes down). */
  get footprint(): number {
    return this.bump;
  }

  /** A block of at least `size` bytes (1 .. FLOOR_MAX_SIZE), or 0 when the memory cannot grow. */
  malloc(size: number): number {
    const sizeClass = 32 - Math.clz32((size + 3) >>> 4); // smallest c with 16 << c >= size + 4
    const i32 = this.i32;
    const head = i32[sizeClass];
    if (head !== 0) {
      i32[sizeClass] = i32[head >> 2];
      return head;
    }
    const block = this.bump;
    const end = block + (16 << sizeClass);
    if (end > this.buffer.byteLength && !this.grow(end)) return 0;
    this.bump = end;
    i32[block >> 2] = sizeClass;
    return block + 4;
  }

  /** Gives the block back to its class list. No checks: a bad pointer corrupts the floor. */
  free(ptr: number): void {
    const i32 = this.i32;
    const sizeClass = i32[(ptr >> 2) - 1];
    i32[ptr >> 2] = i32[sizeClass];
    i32[sizeClass] = ptr;
  }

  /** Keeps the block when `size` still fits its class, else moves it. Returns 0 when the memory is full. */
  realloc(ptr: number, size: number): number {
    const capacity = (16 << this.i32[(ptr >> 2) - 1]) - 4;
    if (size <= capacity) return ptr;
    const fresh = this.malloc(size);
    if (fresh === 0) return 0;
    this.u8.copyWithin(fresh, ptr, ptr + capacity);
    this.free(ptr);
    return fresh;
  }

  /** Usable bytes of the block at `ptr`. */
  usableSize(ptr: number): number {
    return (16 << this.i32[(ptr >> 2) - 1]) - 4;
  }

  private grow(end: number): boolean {
    const target = Math.min(Math.max(end, this.buffer.byteLength * 2), this.buffer.maxByteLength);
    if (target < end) return false;
    try {
      this.buffer.resize(target);
    } catch {
      return false;
    }
    return true;
  }
}
