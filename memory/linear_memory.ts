/**
 * The linear memory a heap lives in, and the typed views over it.
 *
 * Owns: which kind of memory it is, growing and shrinking it, and keeping the
 * views current. A resizable `ArrayBuffer` keeps its views valid across
 * growth (they track the length). A growable `SharedArrayBuffer` gets
 * fixed-length views, rebuilt when its length changed (length-tracking views
 * of a growable SharedArrayBuffer are many times slower in V8). A
 * `WebAssembly.Memory` hands out a new buffer on every growth, so its views
 * are rebuilt too, and every listener is told.
 *
 * Also owns where the heap starts in the memory (its base): the bytes below
 * belong to someone else (a WebAssembly module's data and stack), and every
 * header word index is taken from {@linkcode LinearMemory.header}.
 * @module
 */

import { HakmemError } from "../core/errors.ts";
import { H_TOP_PAGE, PAGE_SIZE } from "./layout.ts";

/**
 * Memory a heap can live in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap, type MemorySource } from "../mod.ts";
 * const sources: MemorySource[] = [
 *   new ArrayBuffer(1 << 20, { maxByteLength: 16 << 20 }),
 *   new SharedArrayBuffer(1 << 20, { maxByteLength: 16 << 20 }),
 *   new WebAssembly.Memory({ initial: 16, maximum: 256 }),
 * ];
 * const kinds = sources.map((memory) => createHeap({ memory, maxBytes: 16 << 20 }).health().memory);
 * assert.deepEqual(kinds, ["ArrayBuffer", "SharedArrayBuffer", "WebAssembly.Memory"]);
 * ```
 */
export type MemorySource = ArrayBuffer | SharedArrayBuffer | WebAssembly.Memory;

/** Memory kinds as stored in the header. */
export const MemoryKind = { arrayBuffer: 0, sharedArrayBuffer: 1, wasm: 2 } as const;

const WASM_PAGE = 65536;

/**
 * The memory and its views. Hot paths read `u8`, `i32` and `u32` straight off
 * this object; after {@linkcode LinearMemory.refresh} they are the new views.
 */
export class LinearMemory {
  /** Bytes of the memory. */
  u8: Uint8Array;
  /** The memory as 32-bit words (header, records, free-list links). */
  i32: Int32Array;
  /** The memory as unsigned words (page-map entries, pointers above 2 GiB). */
  u32: Uint32Array;
  /**
   * Bytes the views cover now: an offset at or past it needs {@linkcode
   * LinearMemory.refresh} first (another worker or a WASM module may have
   * grown the memory). A plain field, cheap to test on the hot path.
   */
  limit = 0;
  /** The object the user handed in. */
  readonly source: MemorySource;
  /** 0 ArrayBuffer, 1 SharedArrayBuffer, 2 WebAssembly.Memory. */
  readonly kind: number;
  /** True when other workers may touch the memory at the same time. */
  readonly shared: boolean;
  /** The most bytes this memory may grow to. */
  readonly maxBytes: number;
  /**
   * True for a non-shared WebAssembly.Memory: a `memory.grow` anywhere (the
   * module's own) detaches its buffer, and every view over it then reads as
   * empty. Entries test this plain field first, so other memory pays no view
   * length read.
   */
  readonly canDetach: boolean;
  /** Byte offset where the heap starts (its header): the bytes below are not the heap's. A multiple of the page size. */
  readonly base: number;
  /**
   * Index, in `i32`/`u32`, of the header's first word: header word `H_X` is
   * `i32[header + H_X]`. A plain field, read once per call on hot paths.
   */
  readonly header: number;
  /** Bytes the memory grows by at a time: 64 KiB for a WebAssembly.Memory, one byte otherwise. */
  readonly growUnit: number;
  /** Called after the views were rebuilt (WebAssembly.Memory growth). */
  private readonly listeners: Array<() => void> = [];
  private buffer: ArrayBuffer | SharedArrayBuffer;

  /** Wraps `source` for a heap starting at byte `base`, growing to at most `maxBytes` (less when the buffer's own limit is lower). Throws INVALID_MEMORY for anything but the three memory kinds. */
  constructor(source: MemorySource, maxBytes: number, base = 0) {
    this.source = source;
    this.base = base;
    this.header = base >>> 2;
    if (source instanceof WebAssembly.Memory) {
      this.kind = MemoryKind.wasm;
      this.buffer = source.buffer;
      this.shared = typeof SharedArrayBuffer !== "undefined" && source.buffer instanceof SharedArrayBuffer;
    } else if (typeof SharedArrayBuffer !== "undefined" && source instanceof SharedArrayBuffer) {
      this.kind = MemoryKind.sharedArrayBuffer;
      this.buffer = source;
      this.shared = true;
    } else if (source instanceof ArrayBuffer) {
      this.kind = MemoryKind.arrayBuffer;
      this.buffer = source;
      this.shared = false;
    } else {
      throw new HakmemError("INVALID_MEMORY", "memory must be an ArrayBuffer, a SharedArrayBuffer or a WebAssembly.Memory", source);
    }
    this.canDetach = this.kind === MemoryKind.wasm && !this.shared;
    const limit = this.kind === MemoryKind.wasm ? wasmLimit(source as WebAssembly.Memory, this.shared, maxBytes) : growLimit(this.buffer);
    this.maxBytes = Math.min(maxBytes, limit);
    this.growUnit = this.kind === MemoryKind.wasm ? WASM_PAGE : 1;
    this.canShrink = this.kind === MemoryKind.arrayBuffer && (this.buffer as ArrayBuffer).resizable;
    this.u8 = this.i32 = this.u32 = undefined as never;
    this.makeViews();
  }

  /** Builds the views over the buffer's current bytes (a growable buffer's length-tracking views for an ArrayBuffer, fixed ones otherwise). */
  private makeViews(): void {
    const buffer = this.buffer;
    this.limit = buffer.byteLength;
    if (this.kind === MemoryKind.arrayBuffer) {
      this.u8 = new Uint8Array(buffer);
      this.i32 = new Int32Array(buffer);
      this.u32 = new Uint32Array(buffer);
    } else {
      const length = buffer.byteLength;
      this.u8 = new Uint8Array(buffer, 0, length);
      this.i32 = new Int32Array(buffer, 0, length >>> 2);
      this.u32 = new Uint32Array(buffer, 0, length >>> 2);
    }
  }

  /** Current size in bytes. */
  get byteLength(): number {
    return this.buffer.byteLength;
  }

  /** The buffer the views look at now. */
  get currentBuffer(): ArrayBuffer | SharedArrayBuffer {
    return this.buffer;
  }

  /** Registers a callback run after the views were rebuilt. */
  onRefresh(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Rebuilds the views if the memory grew since they were made (here, by
   * another worker, or by a WASM module's own `memory.grow`). Returns true
   * when the views changed. `force` also asks a shared WebAssembly.Memory for
   * its newest length (for an offset known to lie in the memory).
   */
  refresh(force = false): boolean {
    if (this.kind === MemoryKind.arrayBuffer) return false;
    // An unshared WebAssembly.Memory detaches its old buffer whenever it grows: views that still have a length are
    // current, and the `buffer` getter (15-19 ns on both engines) is not asked.
    if (this.canDetach && this.u8.length !== 0) return false;
    let buffer = this.kind === MemoryKind.wasm ? (this.source as WebAssembly.Memory).buffer : this.buffer;
    if (buffer === this.buffer && this.u8.byteLength === buffer.byteLength) {
      // A shared WebAssembly.Memory grown by another thread may still hand
      // this one its old buffer until it is told: grow(0) tells it.
      if (!force || this.kind !== MemoryKind.wasm || !this.shared) return false;
      (this.source as WebAssembly.Memory).grow(0);
      buffer = (this.source as WebAssembly.Memory).buffer;
      if (buffer.byteLength === this.u8.byteLength) return false;
    }
    this.buffer = buffer;
    this.makeViews();
    for (const listener of this.listeners) listener();
    return true;
  }

  /**
   * Grows the memory to at least `bytes` (a multiple of the page size).
   * Returns false, changing nothing, when the memory cannot grow that far.
   */
  grow(bytes: number): boolean {
    this.refresh();
    if (bytes <= this.byteLength) return true;
    if (bytes > this.maxBytes) return false;
    try {
      if (this.kind === MemoryKind.wasm) {
        const memory = this.source as WebAssembly.Memory;
        const pages = Math.ceil((bytes - memory.buffer.byteLength) / WASM_PAGE);
        memory.grow(pages);
        this.refresh();
      } else if (this.kind === MemoryKind.sharedArrayBuffer) {
        (this.buffer as SharedArrayBuffer).grow(bytes);
        this.refresh();
      } else {
        (this.buffer as ArrayBuffer).resize(bytes);
        this.limit = bytes;
      }
    } catch {
      return false; // the engine refused (no more memory, or past the memory's own maximum)
    }
    return this.byteLength >= bytes;
  }

  /**
   * Takes the lock in word `index` (a header word: `header + H_X`; shared memory only; a private
   * heap has no one to race), then makes sure the views cover the whole heap:
   * another worker may have grown the memory before handing the lock over,
   * and what the lock guards may lie in the new part. Read views off this
   * object again after locking.
   */
  lock(index: number): void {
    if (!this.shared) return;
    lockWord(this.i32, index);
    if (this.i32[this.header + H_TOP_PAGE] * PAGE_SIZE > this.limit) this.refresh(true);
  }

  /** Releases the lock in word `index` (shared memory only). */
  unlock(index: number): void {
    if (this.shared) unlockWord(this.i32, index);
  }

  /** Adds `delta` to word `index`: atomically on shared memory, plainly otherwise. */
  add(index: number, delta: number): void {
    if (this.shared) Atomics.add(this.i32, index, delta);
    else this.i32[index] += delta;
  }

  /** True when {@linkcode LinearMemory.shrink} can give bytes back (a resizable ArrayBuffer; read once, it never changes). */
  readonly canShrink: boolean;

  /** Shrinks a resizable ArrayBuffer to `bytes`. Returns false where the kind cannot shrink. */
  shrink(bytes: number): boolean {
    if (!this.canShrink || bytes >= this.byteLength) return false;
    (this.buffer as ArrayBuffer).resize(bytes);
    this.limit = bytes;
    return true;
  }
}

/** The most bytes a buffer can grow to (its own length when it cannot grow). */
function growLimit(buffer: ArrayBuffer | SharedArrayBuffer): number {
  if (buffer instanceof ArrayBuffer) return buffer.resizable ? buffer.maxByteLength : buffer.byteLength;
  return buffer.growable ? buffer.maxByteLength : buffer.byteLength;
}

/**
 * The memory a heap gets when it is given none: a WebAssembly.Memory of
 * `initialBytes` growing to `maxBytes`, both in whole 64 KiB WebAssembly
 * pages (initial rounded up, at most the maximum; the maximum rounded down).
 * Its views run at full speed (typed arrays over a resizable ArrayBuffer cost
 * about 1.5x per access) and it grows without copying; it never shrinks, and
 * every growth gives it a new buffer (views made before are detached).
 *
 * @example
 * ```ts
 * import { defaultMemory } from "./linear_memory.ts";
 * const memory = defaultMemory(100000, 1 << 20);
 * console.log(memory.buffer.byteLength); // 131072
 * ```
 */
export function defaultMemory(initialBytes: number, maxBytes: number): WebAssembly.Memory {
  const maximum = Math.max(1, Math.floor(maxBytes / WASM_PAGE));
  const initial = Math.min(maximum, Math.max(1, Math.ceil(initialBytes / WASM_PAGE)));
  return new WebAssembly.Memory({ initial, maximum });
}

/** Each WebAssembly.Memory's own maximum in bytes, once learnt (it never changes). */
const wasmMaximums = new WeakMap<WebAssembly.Memory, number>();

/**
 * The most bytes `memory` may grow to, as far as it matters below `maxBytes`:
 * its own maximum when that is lower, else `maxBytes`. The JavaScript API
 * does not expose a memory's maximum, but instantiating a module that
 * imports it with a declared maximum succeeds exactly when the memory's own
 * maximum is at most that: one probe at `maxBytes`, and a binary search over
 * its 64 KiB pages only when the memory's maximum is lower (17 probes at
 * most, once per memory). Where modules cannot be compiled, `maxBytes`.
 */
function wasmLimit(memory: WebAssembly.Memory, shared: boolean, maxBytes: number): number {
  let maximum = wasmMaximums.get(memory);
  if (maximum === undefined) {
    const wanted = Math.min(Math.floor(maxBytes / WASM_PAGE), MAX_WASM_PAGES);
    if (!importsWithMaximum(memory, shared, wanted)) return maxBytes; // its maximum is higher, or it has none
    let low = memory.buffer.byteLength / WASM_PAGE; // a memory's maximum is at least its size
    let high = wanted;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (importsWithMaximum(memory, shared, middle)) high = middle;
      else low = middle + 1;
    }
    maximum = low * WASM_PAGE;
    wasmMaximums.set(memory, maximum);
  }
  return Math.min(maxBytes, maximum);
}

/** Pages of the largest 32-bit WebAssembly memory (4 GiB). */
const MAX_WASM_PAGES = 65536;

/** True when a module importing a memory of at most `pages` pages accepts `memory` (its maximum is at most that). */
function importsWithMaximum(memory: WebAssembly.Memory, shared: boolean, pages: number): boolean {
  // The module: magic, version, and an import section holding one memory "m"."m" with limits (0, pages).
  const limits = [shared ? 3 : 1, 0, ...leb128(pages)];
  const entry = [1, 0x6d, 1, 0x6d, 2, ...limits];
  const section = [1, ...entry];
  const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, ...leb128(section.length), ...section]);
  try {
    new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { m: memory } });
    return true;
  } catch {
    return false; // a link error: the memory's maximum is higher, or it has none (or modules cannot be compiled here)
  }
}

/** `value` as unsigned LEB128 bytes, as WebAssembly encodes limits. */
function leb128(value: number): number[] {
  const bytes: number[] = [];
  do {
    const low = value & 0x7f;
    value >>>= 7;
    bytes.push(value !== 0 ? low | 0x80 : low);
  } while (value !== 0);
  return bytes;
}

/** Rounds a byte count up to whole pages. */
export function roundToPages(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}

const canBlock: boolean = (() => {
  // A browser's main thread may not block in Atomics.wait; workers and servers may.
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
})();

/**
 * Takes the lock in word `index` of `i32` (0 free, 1 held, 2 held with
 * waiters). Only called on shared memory: a private heap has no one to race.
 */
export function lockWord(i32: Int32Array, index: number): void {
  let state = Atomics.compareExchange(i32, index, 0, 1);
  if (state === 0) return;
  if (state !== 1 && state !== 2) throw damagedLock(index, state); // no holder would ever release it: waiting would be for good
  for (let spin = 0; spin < 64; spin++) {
    if (Atomics.load(i32, index) === 0) {
      state = Atomics.compareExchange(i32, index, 0, 1);
      if (state === 0) return;
    }
  }
  // Contended: announce a waiter and sleep until the holder notifies.
  for (let seen = Atomics.exchange(i32, index, 2); seen !== 0; seen = Atomics.exchange(i32, index, 2)) {
    if (seen !== 1 && seen !== 2) {
      Atomics.store(i32, index, seen); // as it was, for check() to report
      throw damagedLock(index, seen);
    }
    if (canBlock) Atomics.wait(i32, index, 2, 1);
  }
}

/** The error for a lock word holding what no lock state is (0 free, 1 held, 2 held with waiters): it was written over. */
function damagedLock(index: number, value: number): HakmemError {
  return new HakmemError(
    "CORRUPTED",
    `the lock at byte ${index * 4} holds ${value}, which no lock state is: the heap's metadata was written over (check() says ` +
      `where); nothing was done under it`,
    index * 4,
  );
}

/** Releases the lock in word `index`, waking one waiter if there is one. */
export function unlockWord(i32: Int32Array, index: number): void {
  if (Atomics.exchange(i32, index, 0) === 2) Atomics.notify(i32, index, 1);
}
