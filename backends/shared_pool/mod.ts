/**
 * The shared SuperSlab pool: tiny's default slab source. One pool of
 * SuperSlabs for every class; a slab takes its class when acquired and loses
 * it when released empty. Staged acquire (hint, empty, unused, LRU, new), an
 * LRU of emptied SuperSlabs, and a soft cap with a policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * const heap = createHeap({ slabSource: "shared", sharedPoolCap: 64 });
 * heap.free(heap.malloc(32));
 * const tiny = heap.health().backends.find((b) => b.name === "tiny")!;
 * assert.equal(tiny.counters["shared_pool.stage_new"], 1);
 * ```
 * @module
 */

export { SharedPool } from "./shared_pool.ts";
export type { SharedPoolConfig } from "./shared_pool.ts";
