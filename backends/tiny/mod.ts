/**
 * The tiny backend: sizes up to 1 KiB in 21 classes, slabs with intrusive
 * free lists found through the page map, per-worker caches, over a slab
 * source (the shared pool by default, or legacy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * const heap = createHeap({ slabSource: "legacy", tinyCache: false });
 * const ptr = heap.malloc(48);
 * assert.equal(heap.usableSize(ptr), 48);
 * heap.free(ptr);
 * ```
 * @module
 */

export { TinyBackend, tinyOver } from "./tiny.ts";
export type { TinyCacheOptions } from "./tiny.ts";
// The ready-made tiny backends come with their slab sources, which the registry hands in (tiny imports no source).
export { builtinSlabSources, createTinyBackend, tinyBackend } from "../registry.ts";
export type { TinyOptions } from "../registry.ts";
export type { SlabSourceFactory, SlabSources } from "../slab/sources.ts";
export { CLASS_COUNT, CLASS_SIZES, classAlignment, SIZE_TO_CLASS, TINY_MAX_SIZE } from "../slab/size_classes.ts";
export { SLAB_BYTES, SLABS_PER_SUPERSLAB, SUPERSLAB_BYTES } from "../slab/slab.ts";
