// The shared SuperSlab pool: class reassignment, the acquire stages in order,
// the LRU of emptied SuperSlabs, both soft-cap policies and their counters.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap, type HeapOptions } from "../mod.ts";
import { SLAB_BYTES, SLABS_PER_SUPERSLAB, SUPERSLAB_BYTES } from "../backends/slab/slab.ts";

function counters(heap: Heap): Record<string, number> {
  return heap.health().backends.find((backend) => backend.name === "tiny")!.counters;
}

function stages(heap: Heap): number[] {
  const c = counters(heap);
  return ["hint", "empty", "unused", "lru", "new"].map((name) => c[`shared_pool.stage_${name}`]);
}

/** A heap without caches, so every free reaches its slab at once. */
function heapWith(options: HeapOptions = {}): Heap {
  return createHeap({ tinyCache: false, ...options });
}

/** Fills exactly one slab of `size`-byte blocks; returns them. */
function fillSlab(heap: Heap, size: number): number[] {
  return Array.from({ length: Math.floor(SLAB_BYTES / size) }, () => heap.malloc(size));
}

function clean(heap: Heap): void {
  assert.deepEqual(heap.check("full").problems, []);
}

describe("shared pool", () => {
  test("a slab released by one class serves another", () => {
    const heap = heapWith();
    const a = fillSlab(heap, 1024); // slab 0, class 1024, now full
    heap.malloc(1024); // current moves to slab 1; slab 0 is FULL
    for (const ptr of a) heap.free(ptr); // slab 0 empties and goes back to the pool
    const slabStart = a[0];
    const b = heap.malloc(64); // a new class takes the freed slab
    assert.equal(b, slabStart, "class 64 got the slab class 1024 gave back");
    assert.equal(heap.usableSize(b), 64);
    clean(heap);
  });

  test("acquire goes hint → empty → unused → lru → new", () => {
    const heap = heapWith({ sharedPoolLru: 1 });
    assert.deepEqual(stages(heap), [0, 0, 0, 0, 0]);
    const first = fillSlab(heap, 512);
    assert.deepEqual(stages(heap), [0, 0, 0, 0, 1], "the first slab needs a new SuperSlab");
    heap.malloc(512); // next slab of the same SuperSlab: unused stage
    assert.deepEqual(stages(heap), [0, 0, 1, 0, 1]);
    for (const ptr of first) heap.free(ptr); // the full slab empties: class 512's hint
    heap.malloc(256); // class 256 takes the empty slab (not its own hint): empty stage
    assert.deepEqual(stages(heap), [0, 1, 1, 0, 1]);
    // Empty a slab of class 64 while it is not current, then class 64 asks again: hint.
    const small = fillSlab(heap, 1024);
    heap.malloc(1024);
    for (const ptr of small) heap.free(ptr);
    const before = stages(heap);
    fillSlab(heap, 1024); // the current 1024 slab runs out, then the hint serves
    const after = stages(heap);
    assert.equal(after[0], before[0] + 1, `hint stage used (${before} → ${after})`);
    clean(heap);
  });

  test("an emptied SuperSlab waits in the LRU, then goes back to the page heap", () => {
    const heap = heapWith({ sharedPoolLru: 1 });
    const c = () => counters(heap);
    const blocks: number[] = [];
    for (let i = 0; i < SLABS_PER_SUPERSLAB * (SLAB_BYTES / 1024); i++) blocks.push(heap.malloc(1024));
    const extra = heap.malloc(1024); // second SuperSlab
    assert.equal(c()["shared_pool.superslabs"], 2);
    for (const ptr of blocks) heap.free(ptr);
    assert.equal(c()["shared_pool.lruCached"], 1, "the first SuperSlab is cached, not returned");
    assert.equal(c()["shared_pool.returnedToPageHeap"], 0);
    heap.malloc(1024);
    assert.ok(c()["shared_pool.stage_lru"] === 0, "the current slab still had room");
    heap.free(extra);
    heap.trim();
    assert.equal(c()["shared_pool.lruCached"], 0);
    assert.ok(c()["shared_pool.returnedToPageHeap"] >= 1, "trim returns cached SuperSlabs");
    clean(heap);
  });

  test("the LRU keeps only its size; the oldest goes back at once", () => {
    const heap = heapWith({ sharedPoolLru: 1 });
    const perSuperslab = SLABS_PER_SUPERSLAB * (SLAB_BYTES / 1024);
    const groups = [0, 1, 2].map(() => Array.from({ length: perSuperslab }, () => heap.malloc(1024)));
    heap.malloc(1024); // a fourth SuperSlab holds the current slab
    assert.equal(counters(heap)["shared_pool.superslabs"], 4);
    for (const group of groups) for (const ptr of group) heap.free(ptr);
    const c = counters(heap);
    assert.equal(c["shared_pool.lruCached"], 1);
    assert.equal(c["shared_pool.returnedToPageHeap"], 2);
    assert.equal(c["shared_pool.superslabs"], 2);
    // The cached one is reused before a new SuperSlab is taken.
    for (let i = 0; i < perSuperslab; i++) heap.malloc(1024);
    assert.ok(counters(heap)["shared_pool.stage_lru"] >= 1);
    clean(heap);
  });

  test("soft cap, shared policy: falls back to legacy, counted", () => {
    const heap = heapWith({ sharedPoolCap: 1, slabSource: "shared" });
    const perSuperslab = SLABS_PER_SUPERSLAB * (SLAB_BYTES / 1024);
    const ptrs = Array.from({ length: perSuperslab + 1 }, () => heap.malloc(1024));
    assert.ok(ptrs.every((ptr) => ptr !== 0));
    const c = counters(heap);
    assert.equal(c["shared_pool.fallbacksToLegacy"], 1);
    assert.equal(c["legacy.created"], 1, "legacy built the SuperSlab past the cap");
    assert.match(heap.health().backends.find((backend) => backend.name === "tiny")!.reason ?? "", /soft cap/);
    for (const ptr of ptrs) heap.free(ptr);
    heap.trim(); // the legacy slab is current until trimmed
    clean(heap);
    assert.equal(counters(heap)["legacy.returnedToPageHeap"], 1, "the legacy slab went back to legacy");
  });

  test("soft cap, strict policy: tiny refuses and the router falls back, counted", () => {
    const heap = heapWith({ sharedPoolCap: 1, slabSource: "strict" });
    const perSuperslab = SLABS_PER_SUPERSLAB * (SLAB_BYTES / 1024);
    const ptrs = Array.from({ length: perSuperslab + 1 }, () => heap.malloc(1024));
    const last = ptrs[ptrs.length - 1];
    assert.ok(last !== 0);
    assert.equal(counters(heap)["shared_pool.capRefusals"], 1);
    assert.equal(counters(heap)["legacy.created"], 0);
    const routed = heap.router.counters();
    assert.equal(routed.fallbackCount, 1, "one fallback past tiny");
    assert.equal(routed.allocs.pool, 1, "pool served the refused request");
    assert.equal(heap.health().fallbackCount, 1);
    for (const ptr of ptrs) heap.free(ptr);
    clean(heap);
  });

  test("legacy alone keeps SuperSlabs per class: freed memory does not serve another class", () => {
    const shared = heapWith({ slabSource: "shared" });
    const legacy = heapWith({ slabSource: "legacy" });
    for (const heap of [shared, legacy]) {
      const a = fillSlab(heap, 1024);
      heap.malloc(1024);
      for (const ptr of a) heap.free(ptr);
      heap.malloc(64);
    }
    assert.equal(counters(shared)["shared_pool.superslabs"], 1);
    assert.equal(counters(legacy)["legacy.superslabs"], 2, "class 64 needed a SuperSlab of its own");
    assert.equal(legacy.stats().backends.find((b) => b.name === "tiny")!.footprintBytes, 2 * SUPERSLAB_BYTES);
    clean(shared);
    clean(legacy);
  });
});
