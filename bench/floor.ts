/**
 * The floor: the simplest allocator that still reuses memory, the speed
 * hakmem's hot path is measured against. Power-of-two classes, a bump pointer
 * and one intrusive free list per class; no checks, no routing, no counters,
 * no shared state. It runs over any of the memory kinds a heap can live in
 * (bench/memory_kinds.ts compares them); the benchmarks use a plain
 * ArrayBuffer, the fastest to read, replaced by a longer copy when it grows.
 *
 * ```
 * byte 0          80                FLOOR_FIRST_BLOCK (124)
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
 *
 * A `Floor` is "the floor behind the same API": an object whose `malloc`,
 * `free` and `u8` are called as users call a hakmem heap's. The bare floor
 * (bench/floor_bare.ts) runs the same algorithm inline in its loops, with
 * the views in local variables.
 * @module
 */

/** How many size classes: 16 B << 0 .. 16 B << 19 = 8 MiB. */
export const FLOOR_CLASSES = 20;
/** Where the first block starts: past the list heads (one Int32 per class, 80 bytes), 4 bytes before a 16-byte boundary. */
export const FLOOR_FIRST_BLOCK = 128 - 4;
/** The largest request the floor serves (its largest class minus the header). */
export const FLOOR_MAX_SIZE: number = (16 << (FLOOR_CLASSES - 1)) - 4;
const WASM_PAGE = 65536;

/**
 * The memory a floor lives in, and how it grows:
 * - `plain`: an ArrayBuffer, replaced on growth by `transfer(newLength)` (a copy);
 * - `resizable`: a resizable ArrayBuffer, `resize()` in place; the views track it;
 * - `wasm`: a WebAssembly.Memory, `grow()` (the old buffer detaches, the views are rebuilt);
 * - `shared`: a growable SharedArrayBuffer, `grow()` in place.
 *
 * Whatever the kind, the views are fixed-length and rebuilt after every growth, so the hot path reads the same
 * kind of view everywhere and only the memory under it differs.
 */
export type FloorMemoryKind = "plain" | "resizable" | "wasm" | "shared";

/** Every memory kind, in table order. */
export const FLOOR_MEMORY_KINDS: readonly FloorMemoryKind[] = ["plain", "resizable", "wasm", "shared"];

/**
 * The floor allocator. Pointers are byte offsets into {@linkcode Floor.u8};
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
  /** The kind of memory it lives in. */
  readonly kind: FloorMemoryKind;
  /** Bytes of the memory; a data property, replaced whenever the memory grows (as a heap's `u8` is). */
  u8: Uint8Array;
  /** Words of the memory (list heads, headers, next links); replaced with `u8`. The bare loops read it. */
  i32: Int32Array;
  /** The first byte never handed out. The bare loops keep it in a local and write it back before growing. */
  bump: number;
  /** Bytes of memory now. */
  limit: number;
  /** The most bytes the memory may grow to. */
  readonly maxBytes: number;
  private buffer: ArrayBuffer | SharedArrayBuffer;
  private readonly wasmMemory: WebAssembly.Memory | null;

  /** A floor over a new memory of `kind` that grows up to `maxBytes`. */
  constructor(maxBytes: number, kind: FloorMemoryKind = "plain", initialBytes = 1 << 16) {
    this.kind = kind;
    this.maxBytes = kind === "wasm" ? Math.floor(maxBytes / WASM_PAGE) * WASM_PAGE : maxBytes;
    const initial = Math.max(initialBytes, WASM_PAGE);
    this.wasmMemory = null;
    if (kind === "plain") this.buffer = new ArrayBuffer(initial);
    else if (kind === "resizable") this.buffer = new ArrayBuffer(initial, { maxByteLength: maxBytes });
    else if (kind === "shared") this.buffer = new SharedArrayBuffer(initial, { maxByteLength: maxBytes });
    else {
      this.wasmMemory = new WebAssembly.Memory({ initial: Math.ceil(initial / WASM_PAGE), maximum: this.maxBytes / WASM_PAGE });
      this.buffer = this.wasmMemory.buffer;
    }
    this.limit = this.buffer.byteLength;
    this.u8 = new Uint8Array(this.buffer, 0, this.limit);
    this.i32 = new Int32Array(this.buffer, 0, this.limit >>> 2);
    this.bump = FLOOR_FIRST_BLOCK;
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
    if (end > this.limit && !this.grow(end)) return 0;
    this.bump = end;
    this.i32[block >> 2] = sizeClass; // this.i32, not i32: growth may have replaced the views
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

  /** Grows the memory (at least doubling) so that `end` fits, and rebuilds the views; false when it may not. */
  grow(end: number): boolean {
    const target = Math.min(Math.max(end, this.limit * 2), this.maxBytes);
    if (target < end) return false;
    try {
      if (this.kind === "plain") this.buffer = (this.buffer as ArrayBuffer).transfer(target);
      else if (this.kind === "resizable") (this.buffer as ArrayBuffer).resize(target);
      else if (this.kind === "shared") (this.buffer as SharedArrayBuffer).grow(target);
      else {
        const memory = this.wasmMemory!;
        memory.grow(Math.ceil(target / WASM_PAGE) - memory.buffer.byteLength / WASM_PAGE);
        this.buffer = memory.buffer;
      }
    } catch {
      return false;
    }
    this.limit = this.buffer.byteLength;
    this.u8 = new Uint8Array(this.buffer, 0, this.limit);
    this.i32 = new Int32Array(this.buffer, 0, this.limit >>> 2);
    return true;
  }
}
