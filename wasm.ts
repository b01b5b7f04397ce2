/**
 * The allocator a WebAssembly module imports: `malloc`, `free`, `calloc`,
 * `realloc`, `aligned_alloc` and `malloc_usable_size` with their C
 * signatures, served by a heap that lives in the module's own
 * `WebAssembly.Memory`, so the module and JavaScript share one heap: a block
 * the module allocates, JavaScript may read and free, and the other way round.
 *
 * Owns: the C calling convention at the boundary (i32 in, i32 out, 0 for
 * failure, unsigned pointers and sizes) and what a misuse coming from the
 * module does.
 *
 * The heap owns the memory from offset 0: its header and first page-map leaf
 * take the first 60 KiB. The module must keep no data of its own in linear
 * memory outside the blocks it allocates: no data segments, no stack or
 * globals placed in memory by its toolchain. A module that needs static data
 * allocates it at start-up. (C toolchains place data and a stack at fixed
 * low addresses; such modules need a heap that starts above them, which this
 * version does not offer.)
 *
 * Misuse from the module (freeing a pointer the heap never handed out, a
 * double free, an interior pointer) is reported through `onError` when one is
 * given, and the call then returns as a failed C call does (`free` returns,
 * the others return 0): the heap is unchanged, because every such check runs
 * before anything is changed. Without `onError` the HakmemError is thrown: it
 * unwinds through the module's frames to the JavaScript that called into it,
 * as C's `abort()` on a bad free would end the program. The module stopped in
 * the middle of a function then, so treat that instance as dead.
 *
 * Growth: the heap grows the memory when it needs to (`memory.grow`), and the
 * module sees the new pages at once. JavaScript views taken before are stale
 * afterwards: read `heap.u8` or `heap.buffer` again, or keep a
 * `heap.view(...)`. When the module grows the memory itself (`memory.grow`),
 * the imports take the new pages in at the module's next allocator call;
 * JavaScript that uses the heap before that calls `heap.refresh()` first.
 *
 * @example A module's imports
 * ```ts
 * import { createHeap } from "./mod.ts";
 * import { wasmImports } from "./wasm.ts";
 *
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
 * const heap = createHeap({ memory });
 * const env = wasmImports(heap, { onError: (error, name) => console.error(`${name}: ${error.message}`) });
 * // new WebAssembly.Instance(module, { env }) for a module importing env.memory, env.malloc, env.free, ...
 * const ptr = env.malloc(32); // what the module's call does
 * heap.u8[ptr] = 7; // JavaScript sees the same bytes
 * env.free(ptr);
 * env.free(ptr); // a double free: reported, and the heap is unchanged
 * console.log(heap.check().ok); // true
 * ```
 * @module
 */

import { describe, HakmemError } from "./errors.ts";
import type { Heap } from "./heap.ts";

/** The names of the functions {@linkcode wasmImports} provides. */
export type WasmAllocatorFunction = "malloc" | "free" | "calloc" | "realloc" | "aligned_alloc" | "malloc_usable_size";

/** Options of {@linkcode wasmImports}. */
export interface WasmImportsOptions {
  /**
   * Receives each misuse from the module (a bad or double free, an interior
   * pointer) with the name of the function it called; the call then returns 0
   * (`free` returns nothing). Without it, the error is thrown through the
   * module's frames. Errors that are not HakmemErrors are always thrown.
   */
  onError?: (error: HakmemError, name: WasmAllocatorFunction) => void;
}

/**
 * The imports a WASM module's allocator needs, all i32 in and i32 out as C
 * declares them on wasm32. Pointers and sizes arrive as signed i32 and are
 * read unsigned; a pointer above 2 GiB returns as a negative i32 with the
 * same bits. Every function returns 0 (NULL) when it fails.
 */
export interface WasmImports {
  /** The heap's memory, for a module that imports its memory under the same namespace. */
  readonly memory: WebAssembly.Memory;
  /** `void *malloc(size_t size)`: a block of at least `size` bytes, or 0. */
  malloc(size: number): number;
  /** `void free(void *ptr)`: `free(0)` does nothing. */
  free(ptr: number): void;
  /** `void *calloc(size_t count, size_t size)`: zeroed, 0 when the product overflows or memory is full. */
  calloc(count: number, size: number): number;
  /** `void *realloc(void *ptr, size_t size)`: `realloc(0, n)` is malloc; `realloc(p, 0)` frees and returns 0; on failure the old block stays. */
  realloc(ptr: number, size: number): number;
  /** `void *aligned_alloc(size_t alignment, size_t size)`: 0 for an alignment that is not a power of two. */
  aligned_alloc(alignment: number, size: number): number;
  /** `size_t malloc_usable_size(void *ptr)`: the block's usable bytes; 0 for `ptr` 0. */
  malloc_usable_size(ptr: number): number;
}

/**
 * Builds the allocator imports for a WASM module over `heap`, which must live
 * in a `WebAssembly.Memory` (the one the module imports). Throws
 * `INVALID_MEMORY` for a heap over any other memory.
 *
 * @example
 * ```ts
 * import { createHeap } from "./mod.ts";
 * import { wasmImports } from "./wasm.ts";
 *
 * const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 1, maximum: 64 }) });
 * const env = wasmImports(heap);
 * const ptr = env.aligned_alloc(64, 100);
 * console.log(ptr % 64, env.malloc_usable_size(ptr) >= 100); // 0 true
 * console.log(env.aligned_alloc(3, 100)); // 0: not a power of two
 * env.free(ptr);
 * ```
 */
export function wasmImports(heap: Heap, options: WasmImportsOptions = {}): WasmImports {
  if (typeof heap !== "object" || heap === null || !(heap.mem?.source !== undefined)) {
    throw new HakmemError("INVALID_ARGUMENT", `wasmImports needs a heap, got ${describe(heap)}`, heap);
  }
  if (typeof options !== "object" || options === null || (options.onError !== undefined && typeof options.onError !== "function")) {
    throw new HakmemError("INVALID_OPTION", "wasmImports options must be an object whose onError, if given, is a function", options);
  }
  const memory = heap.mem.source;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new HakmemError("INVALID_MEMORY", "wasmImports needs a heap over a WebAssembly.Memory (the memory the module imports)");
  }
  const onError = options.onError;
  const mem = heap.mem;
  /**
   * The module may have grown the memory itself (memory.grow): that detaches
   * the buffer the heap's views look at. Take the growth in before the heap
   * reads a view (one load when nothing changed).
   */
  const current = (): void => {
    if (mem.u8.length === 0) heap.refresh();
  };
  /** A misuse: handed to onError (the call then fails with 0), or thrown. */
  const misuse = (error: unknown, name: WasmAllocatorFunction): number => {
    if (onError === undefined || !(error instanceof HakmemError)) throw error;
    onError(error, name);
    return 0;
  };
  return {
    memory,
    malloc(size: number): number {
      current();
      return heap.malloc(size >>> 0);
    },
    free(ptr: number): void {
      current();
      try {
        heap.free(ptr >>> 0);
      } catch (error) {
        misuse(error, "free");
      }
    },
    calloc(count: number, size: number): number {
      current();
      return heap.calloc(count >>> 0, size >>> 0);
    },
    realloc(ptr: number, size: number): number {
      current();
      try {
        return heap.realloc(ptr >>> 0, size >>> 0);
      } catch (error) {
        return misuse(error, "realloc");
      }
    },
    aligned_alloc(alignment: number, size: number): number {
      const unsigned = alignment >>> 0;
      // C: an alignment the implementation does not support makes aligned_alloc return NULL.
      if (unsigned === 0 || (unsigned & (unsigned - 1)) !== 0) return 0;
      current();
      return heap.alignedAlloc(unsigned, size >>> 0);
    },
    malloc_usable_size(ptr: number): number {
      if (ptr === 0) return 0;
      current();
      try {
        return heap.usableSize(ptr >>> 0);
      } catch (error) {
        return misuse(error, "malloc_usable_size");
      }
    },
  };
}
