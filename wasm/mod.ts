/**
 * The WebAssembly interop, a subpath export (`@hakmem/hakmem/wasm`; npm
 * `hakmem/wasm`): {@linkcode wasmImports} gives a module C's allocation
 * functions over a heap in its own memory, {@linkcode createWasmHeap} makes
 * that heap above the module's data and stack (its `__heap_base`),
 * {@linkcode wasmHeapBase} reads where that is and {@linkcode checkWasmBase}
 * verifies a heap made before the module. See wasm/wasm.ts for the calling
 * convention and where the heap starts. The main entry does not load it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { wasmImports } from "./mod.ts"; // the "./wasm" entry
 *
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
 * const heap = createHeap({ memory });
 * const env = wasmImports(heap); // new WebAssembly.Instance(module, { env })
 * const ptr = env.malloc(16);
 * assert.equal(heap.usableSize(ptr) >= 16, true);
 * env.free(ptr);
 * ```
 * @module
 */

export { checkWasmBase, createWasmHeap, wasmHeapBase, wasmImports } from "./wasm.ts";
export type { WasmAllocatorFunction, WasmAllocatorImports, WasmExportsSource, WasmImports, WasmImportsOptions } from "./wasm.ts";
