// The heap's entries (malloc, free, calloc, realloc, alignedAlloc,
// usableSize, typed, view): arguments of any type are answered with a
// HakmemError, a memory grown behind the heap's back is noticed at every entry,
// and every call goes through the router once (counted there, exactly).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachHeap, createHeap, type Heap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { PAGE_SIZE, W_COUNTERS, WORKER_SLOT_WORDS, WORKER_TABLE_WORD } from "../memory/layout.ts";

function expectCode(run: () => unknown, code: string, what: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HakmemError, `${what}: threw ${String(error)}, not a HakmemError`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return true;
  });
}

/** Live blocks, footprint and router totals: what a refused call must leave as it was. */
function snapshot(heap: Heap): unknown {
  const stats = heap.stats();
  const counters = heap.counters();
  return [stats.liveBlocks, stats.liveBytes, stats.footprintBytes, counters.totalRoutes, counters.allocs, counters.frees];
}

/** Values that are no number: each would make `>>>` throw a TypeError, or run user code. */
function nonNumbers(calls: { valueOf: number }): Array<[string, unknown]> {
  return [
    ["a BigInt", 64n],
    ["a huge BigInt", 2n ** 70n],
    ["a Symbol", Symbol("size")],
    ["undefined", undefined],
    ["null", null],
    ["a string", "64"],
    ["an object with valueOf", {
      valueOf: () => {
        calls.valueOf++;
        return 64;
      },
    }],
    ["a function", () => 64],
    ["an array", [64]],
    ["a boolean", true],
  ];
}

describe("entries: arguments that are no number", () => {
  test("a size that is no number is INVALID_SIZE at every entry, and nothing changes", () => {
    const heap = createHeap();
    const ptr = heap.malloc(100);
    const before = snapshot(heap);
    const calls = { valueOf: 0 };
    for (const [name, value] of nonNumbers(calls)) {
      const size = value as number;
      expectCode(() => heap.malloc(size), "INVALID_SIZE", `malloc(${name})`);
      expectCode(() => heap.calloc(size, 1), "INVALID_SIZE", `calloc(${name}, 1)`);
      expectCode(() => heap.calloc(1, size), "INVALID_SIZE", `calloc(1, ${name})`);
      expectCode(() => heap.realloc(ptr, size), "INVALID_SIZE", `realloc(ptr, ${name})`);
      expectCode(() => heap.realloc(0, size), "INVALID_SIZE", `realloc(0, ${name})`);
      expectCode(() => heap.alignedAlloc(16, size), "INVALID_SIZE", `alignedAlloc(16, ${name})`);
      expectCode(() => heap.typed(Uint8Array, ptr, size), "INVALID_SIZE", `typed(Uint8Array, ptr, ${name})`);
      expectCode(() => heap.view(Uint8Array, ptr, size), "INVALID_SIZE", `view(Uint8Array, ptr, ${name})`);
    }
    assert.equal(calls.valueOf, 0, "no valueOf of the caller's object ran");
    assert.deepEqual(snapshot(heap), before);
    assert.ok(heap.usableSize(ptr) >= 100, "the block survived");
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("a pointer that is no number is INVALID_POINTER at every entry, and nothing changes", () => {
    const heap = createHeap();
    const ptr = heap.malloc(100);
    const before = snapshot(heap);
    const calls = { valueOf: 0 };
    for (const [name, value] of nonNumbers(calls)) {
      // null and undefined are no number either; only the number 0 is NULL.
      const pointer = value as number;
      expectCode(() => heap.free(pointer), "INVALID_POINTER", `free(${name})`);
      expectCode(() => heap.usableSize(pointer), "INVALID_POINTER", `usableSize(${name})`);
      expectCode(() => heap.realloc(pointer, 10), "INVALID_POINTER", `realloc(${name}, 10)`);
      expectCode(() => heap.typed(Uint8Array, pointer, 1), "INVALID_POINTER", `typed(Uint8Array, ${name}, 1)`);
      expectCode(() => heap.view(Uint8Array, pointer, 1), "INVALID_POINTER", `view(Uint8Array, ${name}, 1)`);
    }
    assert.equal(calls.valueOf, 0, "no valueOf of the caller's object ran");
    assert.deepEqual(snapshot(heap), before);
    heap.free(ptr);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("an alignment that is no number is INVALID_ALIGNMENT", () => {
    const heap = createHeap();
    const before = snapshot(heap);
    for (const [name, value] of nonNumbers({ valueOf: 0 })) {
      expectCode(() => heap.alignedAlloc(value as number, 64), "INVALID_ALIGNMENT", `alignedAlloc(${name}, 64)`);
    }
    assert.deepEqual(snapshot(heap), before);
  });
});

describe("entries: a WebAssembly.Memory grown behind the heap's back", () => {
  /** A heap over a non-shared WebAssembly.Memory with some blocks live, then the memory grown as a module's memory.grow would. */
  function grownHeap(): { heap: Heap; memory: WebAssembly.Memory; live: number[] } {
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 1024 });
    const heap = createHeap({ memory, maxBytes: 1024 * 65536 });
    const live = [heap.malloc(24), heap.malloc(3000), heap.malloc(300000)];
    const before = memory.buffer;
    memory.grow(4); // detaches every view the heap holds
    assert.equal(before.byteLength, 0, "the old buffer is detached");
    return { heap, memory, live };
  }

  test("calloc, malloc and calloc after the growth serve, and every one is counted", () => {
    const { heap, memory, live } = grownHeap();
    const zeroed = heap.calloc(1, 5000); // threw a TypeError (detached buffer)
    const large = heap.malloc(400000); // went uncounted
    const small = heap.calloc(10, 100); // went uncounted
    for (const [ptr, size] of [[zeroed, 5000], [large, 400000], [small, 1000]]) {
      assert.ok(ptr > 0 && ptr + size <= memory.buffer.byteLength, `block ${ptr} of ${size} bytes lies in the memory`);
    }
    assert.ok(new Uint8Array(memory.buffer, zeroed, 5000).every((byte) => byte === 0));
    const counters = heap.counters();
    assert.equal(counters.totalRoutes, 6, "three allocations before the growth, three after");
    assert.deepEqual(heap.check("full").problems, [], "the router's counts agree with the backends");
    for (const ptr of [...live, zeroed, large, small]) heap.free(ptr);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("every other entry notices the growth too", () => {
    const entries: Array<[string, (heap: Heap, live: number[]) => void]> = [
      ["malloc", (heap) => assert.ok(heap.malloc(64) > 0)],
      ["free", (heap, live) => heap.free(live[0])],
      ["free of a pool block", (heap, live) => heap.free(live[1])],
      ["usableSize", (heap, live) => assert.ok(heap.usableSize(live[1]) >= 3000)],
      ["realloc", (heap, live) => assert.ok(heap.realloc(live[0], 2000) > 0)],
      ["alignedAlloc", (heap) => assert.ok(heap.alignedAlloc(4096, 100) > 0)],
      ["typed", (heap, live) => assert.equal(heap.typed(Uint8Array, live[1], 3000).length, 3000)],
      ["view", (heap, live) => assert.equal(heap.view(Uint8Array, live[1], 3000).array.length, 3000)],
      ["counters", (heap) => assert.equal(heap.counters().totalRoutes, 3)],
    ];
    for (const [name, call] of entries) {
      const { heap, live } = grownHeap();
      call(heap, live);
      const report = heap.check("full");
      assert.deepEqual(report.problems, [], `after ${name}`);
    }
  });
});

describe("entries: one path through the router", () => {
  test("nothing above the router calls a backend: every call of every entry goes through the router", () => {
    const heap = createHeap();
    const router = heap.router as unknown as Record<string, (...args: unknown[]) => unknown>;
    let depth = 0; // inside a router method
    const outside: string[] = [];
    for (const name of ["alloc", "allocZeroed", "allocAligned", "free", "usableSize", "resizeInPlace"]) {
      const method = router[name]?.bind(router);
      if (method === undefined) continue;
      router[name] = (...args: unknown[]) => {
        depth++;
        try {
          return method(...args);
        } finally {
          depth--;
        }
      };
    }
    for (const backend of heap.router.backends as unknown as Array<Record<string, (...args: unknown[]) => unknown>>) {
      for (const name of ["alloc", "allocZeroed", "allocAligned", "free", "popCached", "pushCached", "resizeInPlace", "usableSize"]) {
        const method = backend[name]?.bind(backend);
        if (method === undefined) continue;
        backend[name] = (...args: unknown[]) => {
          if (depth === 0) outside.push(`${(backend.capabilities as unknown as { name: string }).name}.${name}`);
          return method(...args);
        };
      }
    }
    const ptrs: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const size of [0, 8, 64, 1000, 3000, 70000, 400000]) {
        ptrs.push(heap.malloc(size), heap.calloc(1, size), heap.alignedAlloc(64, size));
      }
      for (let i = 0; i < ptrs.length; i += 3) ptrs[i] = heap.realloc(ptrs[i], heap.usableSize(ptrs[i]) + 100);
      for (let i = 0; i < ptrs.length; i += 2) heap.free(ptrs[i]);
      ptrs.splice(0, ptrs.length, ...ptrs.filter((_, i) => i % 2 === 1));
    }
    for (const ptr of ptrs) heap.free(ptr);
    assert.deepEqual(outside, [], "backend calls made outside the router");
    assert.equal(heap.stats().liveBlocks, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("logging on takes the same path: the counts are the same with it on and off", () => {
    const run = (verbose: boolean) => {
      const heap = createHeap({ verbose });
      const ptrs = [];
      for (let i = 0; i < 600; i++) ptrs.push(heap.malloc([8, 100, 1000, 3000, 70000, 400000][i % 6]));
      for (let i = 0; i < 600; i += 2) heap.free(ptrs[i]);
      for (let i = 0; i < 300; i++) ptrs.push(heap.malloc(40));
      const { routes, allocs, frees, totalRoutes } = heap.counters();
      assert.deepEqual(heap.check("full").problems, []);
      return { routes, allocs, frees, totalRoutes, tiny: heap.health().backends[0].counters };
    };
    assert.deepEqual(run(true), run(false));
  });
});

describe("entries: route 1's cache (the pool's single-block spans)", () => {
  test("its hits are counted exactly, across the countdown's merges, with logging on and off", () => {
    const run = (verbose: boolean) => {
      const heap = createHeap({ verbose });
      const ptrs: number[] = [];
      for (let i = 0; i < 9000; i++) {
        ptrs.push(heap.malloc(20000 + (i % 7) * 5000)); // single-block classes: from the cache after the first frees
        if (i % 3 === 2) heap.free(ptrs.splice(i % ptrs.length, 1)[0]);
      }
      const { routes, allocs, frees, totalRoutes } = heap.counters();
      assert.equal(routes[1].decisions, 9000);
      assert.equal(allocs.pool, 9000);
      assert.equal(frees.pool, 3000);
      assert.equal(heap.health().backends[1].counters.allocs, 9000, "the pool's own count agrees");
      assert.deepEqual(heap.check("full").problems, []);
      for (const ptr of ptrs) heap.free(ptr);
      return { routes, allocs, frees, totalRoutes, pool: heap.health().backends[1].counters };
    };
    assert.deepEqual(run(true), run(false));
  });

  test("every decision it takes is logged while logging is on", () => {
    const heap = createHeap({ verbose: true });
    const logged: string[] = [];
    heap.router.setSink((decision) => logged.push(`${decision.op} ${decision.backend}`));
    const ptr = heap.malloc(40000);
    heap.free(ptr);
    assert.equal(heap.malloc(40000), ptr, "a cache hit");
    heap.free(ptr);
    assert.deepEqual(logged, ["alloc pool", "free pool", "alloc pool", "free pool"]);
  });

  test("a hit after a module grew the WebAssembly.Memory (the views detached) is served from current views", () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 256 });
    const heap = createHeap({ memory, maxBytes: 256 * 65536 });
    const ptr = heap.malloc(40000);
    heap.free(ptr); // into the cache
    memory.grow(2); // the module's own growth: the heap's views detach
    assert.equal(heap.malloc(40000), ptr);
    heap.free(ptr);
    assert.throws(() => heap.free(ptr), (error) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    assert.deepEqual(heap.check("full").problems, []);
  });
});

describe("entries: counters exact when read", () => {
  test("heap objects of one thread over one memory see each other's counts at once", () => {
    const memory = new SharedArrayBuffer(4 << 20, { maxByteLength: 64 << 20 });
    const a = createHeap({ memory, maxBytes: 64 << 20 });
    const b = attachHeap(memory, { maxBytes: 64 << 20 });
    const ptrs = [];
    for (let i = 0; i < 100; i++) ptrs.push(b.malloc(48));
    assert.equal(a.counters().totalRoutes, 100, "b's counts, read by a");
    assert.deepEqual(a.check("full").problems, [], "a's check sees b's blocks counted");
    for (const ptr of ptrs) a.free(ptr);
    assert.equal(b.counters().frees.tiny, 100);
    assert.deepEqual(b.check("full").problems, []);
  });

  test("a worker's counts reach the memory at least every 4096 decisions, without a read", () => {
    const memory = new SharedArrayBuffer(4 << 20, { maxByteLength: 64 << 20 });
    const heap = createHeap({ memory, maxBytes: 64 << 20 });
    const words = WORKER_TABLE_WORD + heap.workerId * WORKER_SLOT_WORDS + W_COUNTERS;
    const page = new Int32Array(memory)[words] >>> 0;
    assert.ok(page > 0 && page % PAGE_SIZE === 0);
    const decisions = () => new Float64Array(memory, page, 3)[2]; // [fallback tries, failures, route 0's decisions]
    for (let i = 0; i < 5000; i++) heap.free(heap.malloc(32));
    const merged = decisions();
    assert.ok(merged >= 4096 && merged <= 5000, `route 0's decisions in the memory: ${merged}`);
    heap.counters();
    assert.equal(decisions(), 5000, "a read merges the rest");
  });
});
