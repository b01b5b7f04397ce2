/**
 * A heap for a WebAssembly module, and the allocator the module imports:
 * `malloc`, `free`, `calloc`, `realloc`, `aligned_alloc` and
 * `malloc_usable_size` with their C signatures, served by a heap that lives
 * in the module's own `WebAssembly.Memory`, so the module and JavaScript
 * share one heap: a block the module allocates, JavaScript may read and free,
 * and the other way round.
 *
 * Owns: the C calling convention at the boundary (i32 in, i32 out, 0 for
 * failure, unsigned pointers and sizes), where the heap starts in a module's
 * memory, and what a misuse coming from the module does.
 *
 * Where the heap starts: a C toolchain (wasm-ld) puts the module's data from
 * offset 1024 and its stack after it (or the stack first, with
 * `--stack-first`), and marks the first free byte with the global
 * `__heap_base`. The heap starts there (its `base`, rounded up to a page)
 * and never reads or writes below it:
 *
 * - Exported memory (the module defines it): instantiate, then
 *   {@linkcode createWasmHeap}`(instance)` before calling into the module
 *   (before `_start`). It reads `memory` and `__heap_base` from the exports
 *   (link with `-Wl,--export=__heap_base`). The imports can be made before
 *   the heap: give {@linkcode wasmImports} a function that returns it.
 * - Imported memory (`--import-memory`): the heap is made before the module
 *   exists, so give `createHeap({ memory, base })` a base you know lies above
 *   the module's data and stack (for example its `--initial-memory` layout,
 *   or `__heap_base` read from a first instantiation). Data segments are
 *   written at instantiation, over whatever lies below the base only; after
 *   instantiating, {@linkcode checkWasmBase} verifies the module's
 *   `__heap_base`, when it exports it, is at or below the heap's base and that
 *   the header is still whole.
 * - A module with no data of its own may leave the heap at base 0.
 *
 * Pages the module grows for itself (`memory.grow`, `sbrk`) stay the
 * module's: the heap notices them at its next call, marks them as a foreign
 * run it never hands out, and grows on above them.
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
 * Growth: the heap grows the memory when it needs to (`memory.grow`), by
 * what it needs plus an eighth of its own size (a WebAssembly.Memory never
 * shrinks, so it does not double), and the module sees the new pages at once.
 * JavaScript views taken before are stale afterwards: read `heap.u8` or
 * `heap.buffer` again, or keep a `heap.view(...)`. Every heap call notices a
 * growth the module did itself (its views went detached) and catches up.
 *
 * @example A module's imports
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { wasmImports } from "./mod.ts";
 *
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
 * const heap = createHeap({ memory });
 * const reported: string[] = [];
 * const env = wasmImports(heap, { onError: (error, name) => reported.push(`${name}: ${error.code}`) });
 * // new WebAssembly.Instance(module, { env }) for a module importing env.memory, env.malloc, env.free, ...
 * const ptr = env.malloc(32); // what the module's call does
 * heap.u8[ptr] = 7; // JavaScript sees the same bytes
 * env.free(ptr);
 * env.free(ptr); // a double free: reported, and the heap is unchanged
 * assert.deepEqual(reported, ["free: DOUBLE_FREE"]);
 * assert.ok(heap.check().ok);
 * ```
 * @module
 */

import { describe, HakmemError } from "../core/errors.ts";
import { createHeap, type Heap, type HeapConfig } from "../heap/heap.ts";
import { H_MAGIC, MAGIC, PAGE_SIZE } from "../memory/layout.ts";

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
export interface WasmImports extends WasmAllocatorImports {
  /** The heap's memory, for a module that imports its memory under the same namespace. */
  readonly memory: WebAssembly.Memory;
}

/**
 * The allocator functions alone: what {@linkcode wasmImports} gives when
 * handed a function for a heap made later (the module exports its memory, so
 * it imports none).
 */
export interface WasmAllocatorImports {
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
 * in a `WebAssembly.Memory` (the one the module imports or exports). Throws
 * `INVALID_MEMORY` for a heap over any other memory.
 *
 * `heap` may be a function returning the heap, for a module that exports its
 * memory: the imports are needed to instantiate it, the heap only after (see
 * {@linkcode createWasmHeap}). The function is called at each import call
 * until it returns a heap, which is then kept; a call before that throws
 * `INVALID_MEMORY`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { wasmImports } from "./mod.ts";
 *
 * const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 1, maximum: 64 }) });
 * const env = wasmImports(heap);
 * const ptr = env.aligned_alloc(64, 100);
 * assert.equal(ptr % 64, 0);
 * assert.ok(env.malloc_usable_size(ptr) >= 100);
 * assert.equal(env.aligned_alloc(3, 100), 0); // not a power of two
 * env.free(ptr);
 * ```
 */
export function wasmImports(heap: Heap, options?: WasmImportsOptions): WasmImports;
/** For a module that exports its memory: `heap` returns the heap once it is made (undefined before), and the allocator functions come alone, with no memory. See {@linkcode createWasmHeap}. */
export function wasmImports(heap: () => Heap | undefined, options?: WasmImportsOptions): WasmAllocatorImports;
export function wasmImports(heap: Heap | (() => Heap | undefined), options: WasmImportsOptions = {}): WasmAllocatorImports {
  if (typeof heap !== "function" && (typeof heap !== "object" || heap === null || heap.mem?.source === undefined)) {
    throw new HakmemError("INVALID_ARGUMENT", `wasmImports needs a heap, got ${describe(heap)}`, heap);
  }
  if (typeof options !== "object" || options === null || (options.onError !== undefined && typeof options.onError !== "function")) {
    throw new HakmemError("INVALID_OPTION", "wasmImports options must be an object whose onError, if given, is a function", options);
  }
  const getHeap = typeof heap === "function" ? heap : undefined;
  let bound: Heap | undefined = typeof heap === "function" ? undefined : checkWasmHeap(heap);
  const onError = options.onError;
  /** The heap, once the getter gives one. */
  const bind = (): Heap => {
    const found = getHeap?.();
    if (found === undefined) {
      throw new HakmemError(
        "INVALID_MEMORY",
        "the module called its allocator before its heap was made: call createWasmHeap(instance) first",
      );
    }
    bound = checkWasmHeap(found);
    return bound;
  };
  /**
   * The heap. The module may have grown the memory itself (memory.grow), which detaches the buffer the heap's views
   * look at: the heap's entries notice that on their own (a detached view reads as an empty cache and as a page no
   * backend owns, and those paths refresh the views first), so the imports add no test of their own.
   */
  const current = (): Heap => bound ?? bind();
  /** A misuse: handed to onError (the call then fails with 0), or thrown. */
  const misuse = (error: unknown, name: WasmAllocatorFunction): number => {
    if (onError === undefined || !(error instanceof HakmemError)) throw error;
    onError(error, name);
    return 0;
  };
  const functions: WasmAllocatorImports = {
    malloc(size: number): number {
      return current().malloc(size >>> 0);
    },
    free(ptr: number): void {
      const heap = current();
      try {
        heap.free(ptr >>> 0);
      } catch (error) {
        misuse(error, "free");
      }
    },
    calloc(count: number, size: number): number {
      return current().calloc(count >>> 0, size >>> 0);
    },
    realloc(ptr: number, size: number): number {
      const heap = current();
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
      return current().alignedAlloc(unsigned, size >>> 0);
    },
    malloc_usable_size(ptr: number): number {
      if (ptr === 0) return 0;
      const heap = current();
      try {
        return heap.usableSize(ptr >>> 0);
      } catch (error) {
        return misuse(error, "malloc_usable_size");
      }
    },
  };
  if (bound === undefined) return functions;
  const withMemory: WasmImports = { memory: bound.mem.source as WebAssembly.Memory, ...functions };
  return withMemory;
}

/** `heap`, when it lives in a WebAssembly.Memory; throws `INVALID_MEMORY` otherwise. */
function checkWasmHeap(heap: Heap): Heap {
  if (!(heap?.mem?.source instanceof WebAssembly.Memory)) {
    throw new HakmemError(
      "INVALID_MEMORY",
      "wasmImports needs a heap over a WebAssembly.Memory (the memory the module imports or exports)",
    );
  }
  return heap;
}

/** A WebAssembly instance, or its exports. */
export type WasmExportsSource = WebAssembly.Instance | WebAssembly.Exports;

function exportsOf(source: WasmExportsSource): WebAssembly.Exports {
  if (source instanceof WebAssembly.Instance) return source.exports;
  if (typeof source !== "object" || source === null) {
    throw new HakmemError("INVALID_MEMORY", `expected a WebAssembly instance or its exports, got ${describe(source)}`, source);
  }
  return source;
}

/**
 * The module's `__heap_base` (the first byte above its data and stack, as
 * wasm-ld places them), from its exports; undefined when it does not export
 * it (link with `-Wl,--export=__heap_base`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wasmHeapBase } from "./mod.ts";
 * const __heap_base = new WebAssembly.Global({ value: "i32", mutable: false }, 70000);
 * assert.equal(wasmHeapBase({ __heap_base }), 70000);
 * assert.equal(wasmHeapBase({}), undefined);
 * ```
 */
export function wasmHeapBase(source: WasmExportsSource): number | undefined {
  const global = exportsOf(source).__heap_base;
  if (!(global instanceof WebAssembly.Global)) return undefined;
  const value = global.value;
  return typeof value === "number" ? value >>> 0 : undefined; // an i32 global: read unsigned
}

/**
 * Creates a heap in the memory a module exports, above the module's data and
 * stack: its base is the module's exported `__heap_base` (rounded up to a
 * page), or `config.base`, which may not lie below `__heap_base`. Call it
 * after instantiating and before calling into the module (`_start`). Throws
 * `INVALID_MEMORY` when the exports hold no `memory`, or when neither
 * `__heap_base` nor `config.base` says where the module's own data ends;
 * `INVALID_OPTION` for a `config.base` below `__heap_base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createWasmHeap } from "./mod.ts";
 * // What a module linked by wasm-ld with -Wl,--export=__heap_base exports: its memory, and where its data and stack end.
 * const exports = {
 *   memory: new WebAssembly.Memory({ initial: 2, maximum: 256 }),
 *   __heap_base: new WebAssembly.Global({ value: "i32", mutable: false }, 66576),
 * };
 * const heap = createWasmHeap(exports, { maxBytes: 256 * 65536 });
 * assert.ok(heap.malloc(100) >= 69632);
 * assert.equal(heap.stats().pageHeap.basePage, 17);
 * ```
 */
export function createWasmHeap(source: WasmExportsSource, config: Omit<HeapConfig, "memory"> = {}): Heap {
  const exports = exportsOf(source);
  const memory = exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new HakmemError(
      "INVALID_MEMORY",
      "the module exports no memory (exports.memory); for a module that imports its memory, use createHeap({ memory, base }) before instantiating",
    );
  }
  const moduleBase = wasmHeapBase(exports);
  const base = config.base ?? moduleBase;
  if (base === undefined) {
    throw new HakmemError(
      "INVALID_MEMORY",
      "the module exports no __heap_base (link with -Wl,--export=__heap_base), so where its data and stack end is unknown: pass option base",
    );
  }
  if (moduleBase !== undefined && typeof base === "number" && base < moduleBase) {
    throw new HakmemError(
      "INVALID_OPTION",
      `option base ${base} lies below the module's __heap_base ${moduleBase}: the heap would overwrite its data or stack`,
      base,
    );
  }
  return createHeap({ ...config, memory, base });
}

/**
 * After instantiating a module over a heap made before it (an imported
 * memory): checks the module's `__heap_base`, when it exports it, lies at or
 * below the heap's base, and that the heap's header is still whole (the data
 * segments did not land on it). Throws `INVALID_MEMORY` when either fails:
 * the module's data and the heap overlap, and neither can be trusted.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * import { checkWasmBase } from "./mod.ts";
 * const memory = new WebAssembly.Memory({ initial: 4, maximum: 256 });
 * const heap = createHeap({ memory, base: 65536, maxBytes: 256 * 65536 });
 * // ... new WebAssembly.Instance(module, { env: { memory, ...wasmImports(heap) } }) ...
 * const __heap_base = new WebAssembly.Global({ value: "i32", mutable: false }, 5000);
 * checkWasmBase(heap, { __heap_base }); // the module's data ends below the heap: fine
 * ```
 */
export function checkWasmBase(heap: Heap, source: WasmExportsSource): void {
  checkWasmHeap(heap);
  const moduleBase = wasmHeapBase(source);
  const base = heap.mem.base;
  if (moduleBase !== undefined && moduleBase > base) {
    throw new HakmemError(
      "INVALID_MEMORY",
      `the module's __heap_base ${moduleBase} lies above the heap's base ${base}: its data or stack overlap the heap (make the heap at base ${
        Math.ceil(moduleBase / PAGE_SIZE) * PAGE_SIZE
      } or above)`,
      moduleBase,
    );
  }
  heap.refresh();
  if (Atomics.load(heap.mem.i32, heap.mem.header + H_MAGIC) !== MAGIC || !heap.check("cheap").ok) {
    throw new HakmemError(
      "INVALID_MEMORY",
      `the heap's header at base ${base} was overwritten (by the module's data segments?): make the heap higher`,
    );
  }
}
