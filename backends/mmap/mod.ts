/**
 * The mmap backend: large blocks as whole page runs, freed straight back to
 * the page heap; realloc grows in place when the next pages are free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * const heap = createHeap();
 * const big = heap.malloc(1 << 20); // routed to mmap by the default table
 * assert.equal(heap.usableSize(big), 1048576);
 * heap.free(big);
 * ```
 * @module
 */

export { MmapBackend, mmapBackend } from "./mmap.ts";
