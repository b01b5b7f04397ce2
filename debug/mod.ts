/**
 * Debug mode, a subpath export (`@hakmem/hakmem/debug`; npm `hakmem/debug`):
 * exact double-free detection, guards after every block checked on `free`,
 * `realloc` and `check()`, poisoned freed bytes, and allocation sites in
 * reports (see debug/debug.ts for how).
 *
 * The main entry does not load it. Importing this module installs it, and a
 * heap is then put in debug mode by `createHeap({ debug: true })` or
 * `HAKMEM_DEBUG=1`; `attachHeap` follows a heap created in debug mode.
 * Without this import each of those throws a `HakmemError` with code
 * `INVALID_OPTION` whose message names the import to add (before anything
 * is created or any worker slot taken). Import it once, before creating or
 * attaching the heap, in every worker that uses a debug-mode heap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { DEBUG_OVERHEAD } from "./mod.ts"; // the "./debug" entry: importing it loads debug mode
 *
 * const heap = createHeap({ debug: true });
 * const ptr = heap.malloc(10);
 * assert.equal(heap.usableSize(ptr), 10); // the guard and the trailer lie beyond
 * assert.equal(DEBUG_OVERHEAD, 24);
 * heap.u8[ptr + 10] = 1; // one byte past the end
 * assert.throws(() => heap.free(ptr), { name: "HakmemError", code: "BUFFER_OVERFLOW" });
 * ```
 * @module
 */

import { installDebug } from "../heap/heap.ts";
import { installDebugLayer } from "./debug.ts";

export { DEBUG_GUARD_BYTE, DEBUG_GUARD_BYTES, DEBUG_OVERHEAD, DEBUG_POISON_BYTE, DEBUG_TRAILER_BYTES } from "./debug.ts";

installDebug(installDebugLayer);
