// The heap's limits, as a user meets them (issue 15 items 2 and 10): a
// request that fits below maxBytes succeeds on its first try on every memory
// kind; failed calls are counted alike whatever call and mode; maxBytes
// means what its range says; health().maxBytes tells the real limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import "../debug/mod.ts"; // one case of each test runs in debug mode
import { attachHeap, createHeap, HakmemError, type Heap, type HeapConfig, type MemorySource } from "../mod.ts";
import { LEAF_PAGES, PAGE_SIZE, REGION_PAGES } from "../memory/layout.ts";
import { MIN_MAX_BYTES } from "../core/options.ts";

const MiB = 1 << 20;
const GiB = 1 << 30;

/**
 * The largest block a heap can still hand out when its free pages lie above its last allocated run: every page from
 * there up to maxBytes, less the leaves of the regions still to cover. (Free runs below that run are counted out:
 * the small runs' chunks give theirs back under pressure, but they need not join the top.)
 */
function largestFreshBlock(heap: Heap): number {
  let end = 0;
  heap.pages.forEachRun((page, pages) => end = page + pages);
  const maxPages = heap.health().maxBytes / PAGE_SIZE;
  const regions = Math.ceil(maxPages / REGION_PAGES) - Math.ceil(heap.pages.top / REGION_PAGES);
  return (maxPages - end - regions * LEAF_PAGES) * PAGE_SIZE;
}

describe("limits: no spurious out-of-memory", () => {
  // The heaps of GiB-sized blocks are dropped, not freed: freeing would shrink their resizable ArrayBuffer, which V8
  // does by writing zeros over the dropped tail (seconds for a GiB, and the pages committed). Their pages were never
  // written, so they cost address space only.
  test("a fresh default heap serves malloc(N) on its first try for N from 100 to 1000 MiB", () => {
    for (const mebibytes of [100, 537, 1000]) {
      const heap = createHeap();
      assert.ok(heap.malloc(mebibytes * MiB) > 0, `malloc(${mebibytes} MiB) failed on its first try`);
      assert.ok(heap.check("cheap").ok);
    }
  });

  test("malloc(3000) then malloc(64 MiB) succeeds", () => {
    const heap = createHeap();
    const small = heap.malloc(3000);
    const big = heap.malloc(64 * MiB);
    assert.ok(small > 0 && big > 0, `malloc(64 MiB) after malloc(3000) returned ${big}`);
    assert.ok(heap.check("full").ok);
  });

  test("with maxBytes 4 GiB, malloc(2 GiB) and alignedAlloc(2 ** 31, 1) succeed", () => {
    assert.ok(createHeap({ maxBytes: 4 * GiB }).malloc(2 * GiB) > 0, "malloc(2 GiB) failed");
    const heap = createHeap({ maxBytes: 4 * GiB });
    const aligned = heap.alignedAlloc(2 ** 31, 1);
    assert.equal(aligned, 2 ** 31, "alignedAlloc(2 ** 31, 1): the one such address below 4 GiB");
    assert.ok(heap.check("cheap").ok);
  });

  const kinds: Array<[string, (maxBytes: number) => MemorySource]> = [
    ["resizable ArrayBuffer", (maxBytes) => new ArrayBuffer(64 << 10, { maxByteLength: maxBytes })],
    ["growable SharedArrayBuffer", (maxBytes) => new SharedArrayBuffer(64 << 10, { maxByteLength: maxBytes })],
    ["WebAssembly.Memory", (maxBytes) => new WebAssembly.Memory({ initial: 1, maximum: maxBytes / 65536 })],
    ["shared WebAssembly.Memory", (maxBytes) => new WebAssembly.Memory({ initial: 1, maximum: maxBytes / 65536, shared: true })],
  ];
  for (const [name, make] of kinds) {
    test(`${name}: the largest block that fits below maxBytes succeeds on its first try, one page more fails`, () => {
      for (const maxBytes of [16 * MiB, 64 * MiB]) {
        // A first block leaves the free run at the top longer or shorter than a leaf, which growth must plan with.
        for (const first of [0, 3000, 40000, 300000]) {
          const heap = createHeap({ memory: make(maxBytes), maxBytes });
          if (first > 0) assert.ok(heap.malloc(first) > 0);
          const largest = largestFreshBlock(heap);
          assert.equal(heap.malloc(largest + PAGE_SIZE), 0, `${maxBytes} after ${first}: one page more than fits`);
          assert.ok(heap.malloc(largest) > 0, `${maxBytes} after ${first}: malloc(${largest}), all that is left, failed`);
          assert.ok(heap.check("full").ok);
        }
      }
    });
  }
});

describe("limits: counts", () => {
  for (const debug of [false, true]) {
    test(`every call that returns 0 counts one route failure${debug ? " (debug mode)" : ""}`, () => {
      const heap = createHeap({ maxBytes: 16 * MiB, debug });
      const calls: Array<[string, () => number]> = [
        ["malloc past maxBytes", () => heap.malloc(32 * MiB)],
        ["malloc past 4 GiB", () => heap.malloc(2 ** 40)],
        ["malloc when full", () => heap.malloc(15 * MiB) && heap.malloc(15 * MiB)],
        ["calloc past maxBytes", () => heap.calloc(1, 32 * MiB)],
        ["calloc past the safe integers", () => heap.calloc(2 ** 27, 2 ** 27)],
        ["alignedAlloc(4096) past maxBytes", () => heap.alignedAlloc(4096, 32 * MiB)],
        ["alignedAlloc(65536) past maxBytes", () => heap.alignedAlloc(65536, 32 * MiB)],
        ["realloc past maxBytes", () => heap.realloc(heap.malloc(100), 32 * MiB)],
      ];
      for (const [what, call] of calls) {
        const before = heap.health();
        const result = call();
        const after = heap.health();
        assert.equal(result, 0, what);
        assert.equal(after.routeFailures - before.routeFailures, 1, `${what}: one failure counted`);
      }
      assert.ok(heap.check("full").ok, "the counters still agree with the backends");
    });
  }

  test("alignedAlloc above a page's alignment adds no fallback when memory is free", () => {
    for (const debug of [false, true]) {
      const heap = createHeap({ debug });
      for (const [alignment, size] of [[8192, 100], [65536, 100], [65536, 5000], [1 << 20, 300000]]) {
        const ptr = heap.alignedAlloc(alignment, size);
        assert.ok(ptr > 0 && ptr % alignment === 0);
        heap.free(ptr);
      }
      assert.equal(heap.health().fallbackCount, 0, debug ? "debug mode" : "default mode");
      assert.ok(heap.check("full").ok);
    }
  });

  test("check() refuses a level that is neither cheap nor full", () => {
    const heap = createHeap();
    for (const level of ["bogus", "", "FULL", 1, null]) {
      assert.throws(
        () => heap.check(level as never),
        (error: unknown) => error instanceof HakmemError && error.code === "INVALID_OPTION" && error.message.includes("check level"),
        `check(${JSON.stringify(level)})`,
      );
    }
    assert.ok(heap.check().ok && heap.check("cheap").ok && heap.check("full").ok);
  });
});

describe("limits: maxBytes", () => {
  test("a heap of the least maxBytes serves a block from each built-in backend, without fallback", () => {
    for (const debug of [false, true]) {
      for (const slabSource of ["shared", "legacy", "strict"] as const) {
        const heap = createHeap({ maxBytes: MIN_MAX_BYTES, slabSource, debug });
        const ptrs = [heap.malloc(1), heap.malloc(2000), heap.malloc(300000)];
        assert.ok(ptrs.every((ptr) => ptr > 0), `${slabSource}${debug ? ", debug" : ""}: ${ptrs}`);
        const counters = heap.counters();
        assert.deepEqual([counters.allocs.tiny, counters.allocs.pool, counters.allocs.mmap], [1, 1, 1]);
        assert.equal(heap.health().fallbackCount, 0);
        for (const ptr of ptrs) heap.free(ptr);
        assert.ok(heap.check("full").ok);
      }
    }
  });

  test("a maxBytes below the range is refused, naming the range", () => {
    for (const maxBytes of [65536, 77824, 81920, 86016, MIN_MAX_BYTES - 1]) {
      assert.throws(
        () => createHeap({ maxBytes }),
        (error: unknown) => error instanceof HakmemError && error.code === "INVALID_OPTION" && error.message.includes("1 MiB"),
        `maxBytes ${maxBytes}`,
      );
    }
  });

  test("health().maxBytes of a WebAssembly.Memory is its own maximum when that is lower", () => {
    const cases: Array<[WebAssembly.Memory, number, number]> = [
      [new WebAssembly.Memory({ initial: 2, maximum: 100 }), GiB, 100 * 65536],
      [new WebAssembly.Memory({ initial: 2, maximum: 100, shared: true }), GiB, 100 * 65536],
      [new WebAssembly.Memory({ initial: 2, maximum: 1000 }), 16 * MiB, 16 * MiB],
      [new WebAssembly.Memory({ initial: 2 }), 16 * MiB, 16 * MiB],
    ];
    for (const [memory, maxBytes, expected] of cases) {
      const heap = createHeap({ memory, maxBytes });
      assert.equal(heap.health().maxBytes, expected);
      // The heap plans its growth on it: the memory refuses nothing the heap asks.
      const ptr = heap.malloc(largestFreshBlock(heap));
      assert.ok(ptr > 0);
      assert.ok(memory.buffer.byteLength <= expected);
      assert.ok(heap.check("full").ok);
    }
  });

  test("an attached heap reports the heap's maxBytes, not its own option", () => {
    const memory = new SharedArrayBuffer(MiB, { maxByteLength: 64 * MiB });
    const heap = createHeap({ memory, maxBytes: 8 * MiB });
    const again = attachHeap(memory);
    assert.equal(heap.health().maxBytes, 8 * MiB);
    assert.equal(again.health().maxBytes, 8 * MiB);
    assert.equal(again.malloc(16 * MiB), 0, "the attached heap grows no further than the heap may");
    again.detach();
  });

  const larger: Array<[string, () => MemorySource]> = [
    ["ArrayBuffer", () => new ArrayBuffer(4 * MiB)],
    ["resizable ArrayBuffer", () => new ArrayBuffer(4 * MiB, { maxByteLength: 8 * MiB })],
    ["SharedArrayBuffer", () => new SharedArrayBuffer(4 * MiB)],
    ["WebAssembly.Memory", () => new WebAssembly.Memory({ initial: 64, maximum: 128 })],
  ];
  for (const [name, make] of larger) {
    test(`${name} larger than maxBytes: the heap uses its first maxBytes and says so`, () => {
      const config: HeapConfig = { memory: make(), maxBytes: MiB };
      const heap = createHeap(config);
      const health = heap.health();
      assert.equal(health.maxBytes, MiB);
      assert.equal(health.memoryBytes, 4 * MiB, "memoryBytes: the memory as it is");
      const ptrs: number[] = [];
      for (let ptr = heap.malloc(3000); ptr !== 0; ptr = heap.malloc(3000)) ptrs.push(ptr);
      assert.ok(ptrs.length > 200, "the first MiB serves");
      assert.ok(Math.max(...ptrs) + 3000 <= MiB, "no block past maxBytes");
      assert.equal(heap.stats().pageHeap.topPages * PAGE_SIZE, MiB);
      assert.ok(heap.check("full").ok);
    });
  }
});
