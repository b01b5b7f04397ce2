// Many workers, one heap: real workers on a growable SharedArrayBuffer (and a
// shared WebAssembly.Memory), remote frees through a shared queue, detach and
// reclaim, producer/consumer with growth under way.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachHeap, createHeap, HakmemError, type Heap } from "../mod.ts";
import { SharedQueue } from "../testing/shared_queue.ts";
import { SUPERSLAB_BYTES } from "../backends/slab/slab.ts";
import type { Job, Report } from "./worker_child.ts";

// deno-lint-ignore no-explicit-any
const runtime = globalThis as any;
const envOps = Number(runtime.Deno?.env?.get?.("HAKMEM_WORKER_OPS") ?? runtime.process?.env?.HAKMEM_WORKER_OPS ?? "");
/** Operations per worker in the big test (1,000,000 by default; HAKMEM_WORKER_OPS overrides). */
const OPS = Number.isFinite(envOps) && envOps > 0 ? envOps : 1_000_000;

function run(job: Job, keepAlive = false): Promise<{ report: Report; worker: Worker }> {
  const worker = new Worker(new URL("./worker_child.ts", import.meta.url).href, { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<Report>) => {
      if (!keepAlive) worker.terminate();
      resolve({ report: event.data, worker });
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`worker failed: ${(event as ErrorEvent).message}`));
    };
    worker.postMessage(job);
  });
}

function growableShared(initial: number): SharedArrayBuffer {
  return new SharedArrayBuffer(initial, { maxByteLength: 1 << 30 });
}

/** Frees whatever is still in the queue after the workers are done. */
function drain(heap: Heap, queue: SharedQueue): number {
  let freed = 0;
  for (let entry = queue.tryPop(); entry !== null; entry = queue.tryPop()) {
    const [ptr, size, tag] = entry;
    assert.equal(heap.u8[ptr], tag, `handed-over block ${ptr} kept its pattern`);
    assert.equal(heap.u8[ptr + size - 1], tag ^ 0xff);
    heap.free(ptr);
    freed++;
  }
  return freed;
}

function clean(heap: Heap): void {
  assert.deepEqual(heap.check("full").problems, []);
}

describe("workers", () => {
  test(`four workers, ${OPS} random operations each, blocks freed by other workers`, { timeout: 300_000 }, async () => {
    const memory = growableShared(1 << 20);
    const heap = createHeap({ memory, maxBytes: 1 << 30 });
    const start = heap.stats().footprintBytes - heap.stats().metadataBytes;
    const queueBuffer = SharedQueue.create(4096);
    const results = await Promise.all(
      [1, 2, 3, 4].map((seed) => run({ kind: "mixed", memory, queue: queueBuffer, seed, ops: OPS, shareRatio: 0.2 })),
    );
    const reports = results.map((result) => result.report);
    for (const report of reports) assert.deepEqual(report.errors, [], `worker ${report.workerId}`);
    assert.ok(reports.every((report) => report.workerId >= 1), "the workers got slots of their own (slot 0 is the creator's)");
    const remote = reports.reduce((sum, report) => sum + report.received, 0);
    assert.ok(remote > 1000, `blocks freed by a worker other than their allocator: ${remote}`);
    drain(heap, new SharedQueue(queueBuffer));
    assert.deepEqual(heap.workers(), [0], "every worker detached");
    clean(heap);
    assert.ok(heap.stats().pageHeap.growCount > 0, "the memory grew while the workers ran");
    heap.trim();
    const after = heap.stats();
    assert.equal(after.liveBlocks, 0);
    // Back near the start. Metadata stays: each slot keeps its cache and counter
    // pages, and record pages stay with the record arena.
    const blocksAfter = after.footprintBytes - after.metadataBytes;
    assert.ok(blocksAfter - start <= SUPERSLAB_BYTES, `footprint outside metadata ${blocksAfter} vs ${start} at the start`);
    assert.ok(after.metadataBytes <= 1 << 20, `metadata ${after.metadataBytes}`);
    const counters = heap.counters();
    assert.equal(
      counters.allocs.tiny + counters.allocs.pool + counters.allocs.mmap,
      counters.frees.tiny + counters.frees.pool + counters.frees.mmap,
    );
    assert.ok(counters.totalRoutes > OPS, "counters of every worker are merged");
  });

  test(
    "four workers on pool sizes only: shards, cached spans, blocks of bigger classes and eviction under locks",
    { timeout: 300_000 },
    async () => {
      const memory = growableShared(1 << 20);
      const heap = createHeap({ memory, maxBytes: 1 << 30 });
      const queueBuffer = SharedQueue.create(4096);
      const ops = Math.min(OPS, 200_000);
      const results = await Promise.all(
        [5, 6, 7, 8].map((seed) => run({ kind: "mixed", memory, queue: queueBuffer, seed, ops, shareRatio: 0.2, only: "pool" })),
      );
      for (const { report } of results) assert.deepEqual(report.errors, [], `worker ${report.workerId}`);
      assert.ok(results.reduce((sum, { report }) => sum + report.received, 0) > 100, "blocks freed by another worker");
      drain(heap, new SharedQueue(queueBuffer));
      clean(heap);
      const counters = heap.counters();
      assert.ok(counters.allocs.pool > ops, "the pool served them");
      assert.equal(counters.allocs.pool, counters.frees.pool);
      heap.trim();
      const pool = heap.stats().backends.find((entry) => entry.name === "pool")!;
      assert.equal(pool.liveBlocks, 0);
      assert.equal(pool.footprintBytes, 0, "trim gave every cached span back");
      clean(heap);
    },
  );

  test("producer and consumer: every free is remote, and the memory grows meanwhile", { timeout: 300_000 }, async () => {
    const memory = growableShared(64 * 1024);
    const heap = createHeap({ memory, maxBytes: 1 << 30 });
    const queueBuffer = SharedQueue.create(1 << 16);
    const ops = Math.min(OPS, 300_000);
    const [producer, consumer] = await Promise.all([
      run({ kind: "produce", memory, queue: queueBuffer, seed: 1, ops }),
      run({ kind: "consume", memory, queue: queueBuffer, seed: 2, ops }),
    ]);
    assert.deepEqual(producer.report.errors, []);
    assert.deepEqual(consumer.report.errors, []);
    assert.equal(consumer.report.received, ops);
    assert.ok(heap.stats().pageHeap.growCount > 0);
    clean(heap);
    heap.trim();
    assert.equal(heap.stats().liveBlocks, 0);
    clean(heap);
  });

  test("a double free from another worker: the worker's free is refused with DOUBLE_FREE", { timeout: 300_000 }, async () => {
    const memory = growableShared(1 << 20);
    const heap = createHeap({ memory, maxBytes: 1 << 30 });
    const keep = heap.malloc(48); // the slab stays in use
    const ptr = heap.malloc(48);
    heap.u8[ptr] = 0x5c;
    heap.free(ptr); // into this worker's cache
    const queueBuffer = SharedQueue.create(16);
    const queue = new SharedQueue(queueBuffer);
    assert.ok(queue.tryPush(ptr, 48, 0x5c) && queue.tryPush(0, 0, 0));
    const { report } = await run({ kind: "consume", memory, queue: queueBuffer, seed: 1, ops: 1 });
    assert.equal(report.errors.length, 1, "the consumer's free of the freed block threw");
    assert.match(report.errors[0], /is already free/, "a DOUBLE_FREE (the stack of the HakmemError)");
    assert.equal(report.received, 0);
    const blocks = new Set([keep]);
    for (let i = 0; i < 300; i++) {
      const fresh = heap.malloc(48);
      assert.ok(!blocks.has(fresh), `block ${fresh} handed out twice`);
      blocks.add(fresh);
    }
    clean(heap);
  });

  test("a worker terminated without detaching is reclaimed by another", { timeout: 300_000 }, async () => {
    const memory = growableShared(1 << 20);
    const heap = createHeap({ memory, maxBytes: 1 << 30 });
    const queueBuffer = SharedQueue.create(4096);
    const { report, worker } = await run({ kind: "mixed", memory, queue: queueBuffer, seed: 9, ops: 20_000, noDetach: true }, true);
    worker.terminate();
    assert.deepEqual(report.errors, []);
    assert.deepEqual(heap.workers(), [0, report.workerId], "the terminated worker still holds its slot");
    // Its last router counts never reached the memory: while its slot is attached, check() does not hold them against the backends.
    clean(heap);
    drain(heap, new SharedQueue(queueBuffer));
    heap.reclaim(report.workerId);
    assert.deepEqual(heap.workers(), [0]);
    clean(heap);
    heap.trim();
    assert.equal(heap.stats().liveBlocks, 0, "its cached blocks came back");
    assert.equal(heap.stats().backends.find((b) => b.name === "tiny")!.detail.superslabs, 0, "and its slabs went back");
    assert.throws(() => heap.reclaim(report.workerId), (error: unknown) => error instanceof HakmemError && error.code === "WORKER");
  });

  test("two workers on a shared WebAssembly.Memory", { timeout: 300_000 }, async () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 4096, shared: true });
    const heap = createHeap({ memory, maxBytes: 4096 * 65536 });
    const queueBuffer = SharedQueue.create(4096);
    const results = await Promise.all(
      [5, 6].map((seed) => run({ kind: "mixed", memory, queue: queueBuffer, seed, ops: Math.min(OPS, 100_000) })),
    );
    for (const { report } of results) assert.deepEqual(report.errors, []);
    drain(heap, new SharedQueue(queueBuffer));
    clean(heap);
    assert.ok(memory.buffer.byteLength > 4 * 65536, "it grew");
  });

  test("orphaned slabs are adopted: blocks of a detached worker stay valid and are freed by others", () => {
    const memory = growableShared(1 << 20);
    const a = createHeap({ memory, maxBytes: 1 << 30 });
    const b = attachHeap(memory, { maxBytes: 1 << 30 });
    const ptrs = Array.from({ length: 100 }, (_, i) => b.malloc(40 + (i % 3)));
    for (const ptr of ptrs) b.u8[ptr] = 7;
    b.detach();
    assert.throws(() => b.malloc(8), (error: unknown) => error instanceof HakmemError && error.code === "WORKER");
    const tiny = a.stats().backends.find((backend) => backend.name === "tiny")!;
    assert.ok(tiny.detail.orphanSlabs >= 1, "b's slab is an orphan");
    for (const ptr of ptrs.slice(0, 50)) a.free(ptr); // remote frees onto the orphan
    const fresh = a.malloc(40); // a adopts the orphan and collects its remote frees
    const adopted = a.health().backends.find((backend) => backend.name === "tiny")!.counters.orphansAdopted;
    assert.equal(adopted, 1, "a adopted the orphaned slab of class 40");
    assert.equal(Math.floor(fresh / 8192), Math.floor(ptrs[0] / 8192), "and allocates from it");
    for (const ptr of ptrs.slice(50)) a.free(ptr);
    a.free(fresh);
    clean(a);
    a.trim();
    assert.equal(a.stats().liveBlocks, 0);
  });
});
