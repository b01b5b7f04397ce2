/**
 * The legacy slab source: SuperSlabs dedicated to one tiny class each, with
 * per-class lists. Tiny's fallback when the shared pool reaches its soft cap,
 * and a swappable source of its own (`slabSource: "legacy"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * const heap = createHeap({ slabSource: "legacy" });
 * heap.free(heap.malloc(32));
 * const tiny = heap.health().backends.find((b) => b.name === "tiny")!;
 * assert.equal(tiny.counters["legacy.created"], 1);
 * ```
 * @module
 */

export { LegacySource } from "./legacy.ts";
