// Attaching with other routing options than the creator's (issue 15, item 6).
// Every worker of a heap must route alike: the router counters of all workers
// are read with one layout and added up, and a size must go to one backend
// whoever allocates it. attachHeap follows the creator's tinyMaxSize and
// poolMaxSize (kept in the header) when it is not given them, and refuses with
// INVALID_ROUTE options, backends or routes that differ from the creator's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachHeap, createHeap, type HeapConfig } from "../heap/heap.ts";
import { expectHakmemError as expectCode } from "../testing/expect.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { poolBackend } from "../backends/pool/mod.ts";

const MiB = 1 << 20;

function sharedMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(MiB, { maxByteLength: 64 * MiB });
}

describe("attachHeap and the creator's routing", () => {
  const CREATED_WITH: HeapConfig[] = [{ poolMaxSize: 0 }, { tinyMaxSize: 512 }, { tinyMaxSize: 0, poolMaxSize: 4096 }];

  for (const options of CREATED_WITH) {
    test(`a heap created with ${JSON.stringify(options)}: attachHeap without routing options routes as the creator, counters agree`, () => {
      const memory = sharedMemory();
      const heap = createHeap({ memory, maxBytes: 64 * MiB, ...options });
      const other = attachHeap(memory, { maxBytes: 64 * MiB });
      assert.deepEqual(other.router.routes, heap.router.routes, "the same routing table");
      assert.equal(other.options.tinyMaxSize, heap.options.tinyMaxSize);
      assert.equal(other.options.poolMaxSize, heap.options.poolMaxSize);
      const kept: number[] = [];
      for (const size of [1, 100, 700, 2000, 5000, 300000]) {
        for (const [allocator, freer] of [[heap, other], [other, heap], [other, other]]) {
          const ptr = allocator.malloc(size);
          freer.free(ptr);
          kept.push(allocator.malloc(size));
        }
      }
      assert.deepEqual(heap.check("full").problems, [], "the creator's check");
      assert.deepEqual(other.check("full").problems, [], "the attached heap's check");
      assert.equal(heap.health().totalRoutes, other.health().totalRoutes, "one total, whoever reads it");
      assert.equal(heap.health().totalRoutes, 36);
      for (const ptr of kept) other.free(ptr);
      assert.deepEqual(heap.check("full").problems, []);
      assert.equal(heap.stats().liveBlocks, 0);
    });
  }

  test("routing options given to attachHeap that differ from the creator's: INVALID_ROUTE, and no worker slot taken", () => {
    const memory = sharedMemory();
    const heap = createHeap({ memory, maxBytes: 64 * MiB, tinyMaxSize: 512 });
    const differing: HeapConfig[] = [
      { tinyMaxSize: 1024 },
      { poolMaxSize: 0 },
      { routes: [{ min: 1, max: 512, backend: "tiny" }, { min: 513, max: Infinity, backend: "mmap" }] },
      { backends: [poolBackend, mmapBackend] },
    ];
    for (const config of differing) {
      expectCode(() => attachHeap(memory, { maxBytes: 64 * MiB, ...config }), "INVALID_ROUTE", JSON.stringify(config));
      assert.deepEqual(heap.workers(), [0], `${JSON.stringify(config)} left no slot taken`);
    }
    const same = attachHeap(memory, { maxBytes: 64 * MiB, tinyMaxSize: 512 });
    assert.deepEqual(same.router.routes, heap.router.routes, "the creator's own options are fine");
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("a heap with backends and routes of its own: attachHeap given the same ones attaches, other ones are refused", () => {
    const memory = sharedMemory();
    const config = {
      backends: [poolBackend, mmapBackend],
      routes: [{ min: 1, max: 65536, backend: "pool" }, { min: 65537, max: Infinity, backend: "mmap" }],
    };
    const heap = createHeap({ memory, maxBytes: 64 * MiB, ...config });
    const other = attachHeap(memory, { maxBytes: 64 * MiB, ...config });
    other.free(heap.malloc(1000));
    heap.free(other.malloc(100000));
    assert.deepEqual(other.check("full").problems, []);
    expectCode(() => attachHeap(memory, { maxBytes: 64 * MiB }), "INVALID_ROUTE", "the built-in backends");
    expectCode(
      () =>
        attachHeap(memory, { ...config, routes: [{ min: 1, max: 4096, backend: "pool" }, { min: 4097, max: Infinity, backend: "mmap" }] }),
      "INVALID_ROUTE",
      "other routes",
    );
    expectCode(
      () => attachHeap(memory, { ...config, backends: [mmapBackend, poolBackend] }),
      "INVALID_ROUTE",
      "the backends in another order",
    );
    assert.deepEqual(heap.workers(), [0, 1]);
  });
});
