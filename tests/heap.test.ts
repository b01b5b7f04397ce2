// The Heap API: C semantics, every misuse with its error code (the heap stays
// whole after each), realloc, aligned allocation, reports, heaps over every
// kind of memory growing with views kept correct, and attaching.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { expectHakmemError as expectCode } from "../testing/expect.ts";
import { HakmemError } from "../core/errors.ts";
import { attachHeap, createHeap, type Heap, type HeapConfig } from "../heap/heap.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { LAYOUT_VERSION, PAGE_SIZE } from "../memory/layout.ts";
import type { MemorySource } from "../memory/linear_memory.ts";
import { Random } from "../testing/random.ts";
import { fakeBackend } from "./_fakes.ts";

const MiB = 1 << 20;

/** A heap whose every size goes to mmap, so block sizes and codes are exact. */
function mmapHeap(config: HeapConfig = {}): Heap {
  return createHeap({ maxBytes: 256 * MiB, initialBytes: MiB, ...config, backends: [mmapBackend] });
}

/** A heap with a small page-run backend for 1..4096 and mmap above: two owners to move between. */
function twoBackendHeap(): Heap {
  return createHeap({
    maxBytes: 256 * MiB,
    initialBytes: MiB,
    backends: [fakeBackend("small", 4096), mmapBackend],
    routes: [{ min: 1, max: 4096, backend: "small" }, { min: 4097, max: Infinity, backend: "mmap" }],
    fallbacks: { small: ["mmap"] },
  });
}

/** The figures a misuse must leave as they were. */
function snapshot(heap: Heap): unknown {
  const stats = heap.stats();
  const counters = heap.router.counters();
  return {
    liveBlocks: stats.liveBlocks,
    liveBytes: stats.liveBytes,
    footprint: stats.footprintBytes,
    free: stats.freeBytes,
    allocs: counters.allocs,
    frees: counters.frees,
  };
}

function fill(heap: Heap, ptr: number, length: number, seed: number): void {
  const u8 = heap.u8;
  for (let i = 0; i < length; i++) u8[ptr + i] = (seed + i * 31) & 255;
}

function assertFilled(heap: Heap, ptr: number, length: number, seed: number, what: string): void {
  const u8 = heap.u8;
  for (let i = 0; i < length; i++) {
    if (u8[ptr + i] !== ((seed + i * 31) & 255)) assert.fail(`${what}: byte ${i} of ${ptr} is ${u8[ptr + i]}`);
  }
}

describe("heap: C semantics", () => {
  test("malloc returns distinct usable blocks; malloc(0) is a unique block", () => {
    const heap = createHeap();
    const zeroA = heap.malloc(0);
    const zeroB = heap.malloc(0);
    assert.ok(zeroA > 0 && zeroB > 0 && zeroA !== zeroB);
    const sizes = [1, 7, 64, 1000, 5000, 100000, 3 * MiB];
    const ptrs = sizes.map((size, index) => {
      const ptr = heap.malloc(size);
      assert.ok(ptr > 0, `malloc(${size})`);
      assert.ok(heap.usableSize(ptr) >= size);
      fill(heap, ptr, size, index);
      return ptr;
    });
    sizes.forEach((size, index) => assertFilled(heap, ptrs[index], size, index, `block of ${size}`));
    for (const ptr of [zeroA, zeroB, ...ptrs]) heap.free(ptr);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.ok(heap.check().ok);
  });

  test("malloc returns 0 when out of memory and never throws for it", () => {
    for (const memory of [undefined, new ArrayBuffer(MiB), new SharedArrayBuffer(MiB)]) {
      const heap = createHeap({ maxBytes: MiB, memory });
      assert.equal(heap.malloc(2 * MiB), 0);
      assert.equal(heap.malloc(2 ** 32), 0, "above every memory");
      assert.equal(heap.malloc(Number.MAX_SAFE_INTEGER), 0);
      const ptrs: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const ptr = heap.malloc(16384);
        if (ptr === 0) break;
        ptrs.push(ptr);
      }
      assert.ok(ptrs.length > 10 && ptrs.length < 1000, `${ptrs.length} blocks of 16 KiB in 1 MiB`);
      assert.equal(heap.malloc(16384), 0);
      assert.equal(heap.calloc(1, 16384), 0);
      assert.equal(heap.alignedAlloc(65536, 16384), 0);
      assert.ok(heap.check().ok, "exhaustion leaves the heap whole");
      for (const ptr of ptrs) heap.free(ptr);
      assert.ok(heap.malloc(16384) > 0, "usable again");
    }
  });

  test("free(0) does nothing", () => {
    const heap = createHeap();
    const ptr = heap.malloc(100);
    const before = snapshot(heap);
    heap.free(0);
    assert.deepEqual(snapshot(heap), before);
    heap.free(ptr);
    assert.ok(heap.check().ok);
  });

  test("calloc returns zeroed memory, and 0 when count * size overflows", () => {
    const heap = createHeap();
    const dirty = heap.malloc(64 * 1024);
    heap.u8.fill(0xff, dirty, dirty + 64 * 1024);
    heap.free(dirty);
    for (const [count, size] of [[1, 1], [10, 100], [1000, 64], [1, 64 * 1024], [3, 400000]]) {
      const ptr = heap.calloc(count, size);
      assert.ok(ptr > 0, `calloc(${count}, ${size})`);
      assert.ok(heap.usableSize(ptr) >= count * size);
      assert.ok(heap.u8.subarray(ptr, ptr + count * size).every((byte) => byte === 0), `calloc(${count}, ${size}) is zeroed`);
      heap.u8.fill(0xff, ptr, ptr + count * size);
      heap.free(ptr);
    }
    const before = snapshot(heap);
    assert.equal(heap.calloc(2 ** 27, 2 ** 27), 0, "2^54 is past the safe integers");
    assert.equal(heap.calloc(Number.MAX_SAFE_INTEGER, 2), 0);
    assert.equal(heap.calloc(2 ** 26, 2 ** 26), 0, "2^52 bytes fit no memory");
    assert.deepEqual(snapshot(heap), before);
    const empty = heap.calloc(0, 16);
    assert.ok(empty > 0, "calloc of 0 bytes is a unique block, like malloc(0)");
    heap.free(empty);
    assert.ok(heap.check().ok);
  });

  test("realloc(0, size) allocates and realloc(ptr, 0) frees", () => {
    const heap = createHeap();
    const ptr = heap.realloc(0, 300);
    assert.ok(ptr > 0 && heap.usableSize(ptr) >= 300);
    assert.equal(heap.stats().liveBlocks, 1);
    assert.equal(heap.realloc(ptr, 0), 0);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.ok(heap.check().ok);
  });

  test("realloc keeps the contents when the block moves between backends", () => {
    const heap = twoBackendHeap();
    const owner = (ptr: number) => heap.router.backends[heap.router.ownerIndex(ptr)].capabilities.name;
    let ptr = heap.malloc(1000);
    fill(heap, ptr, 1000, 3);
    assert.equal(owner(ptr), "small");
    ptr = heap.realloc(ptr, 100000);
    assert.equal(owner(ptr), "mmap");
    assertFilled(heap, ptr, 1000, 3, "small → mmap");
    fill(heap, ptr, 100000, 9);
    ptr = heap.realloc(ptr, 2000);
    assert.equal(owner(ptr), "small");
    assertFilled(heap, ptr, 2000, 9, "mmap → small");
    assert.equal(heap.stats().liveBlocks, 1, "the old blocks were freed");
    heap.free(ptr);
    assert.ok(heap.check().ok);
  });

  test("realloc grows an mmap block in place when the next pages are free, and moves it when not", () => {
    const heap = mmapHeap();
    const ptr = heap.malloc(2 * PAGE_SIZE);
    fill(heap, ptr, 2 * PAGE_SIZE, 1);
    assert.equal(heap.realloc(ptr, 8 * PAGE_SIZE - 5), ptr, "grown in place");
    assert.equal(heap.usableSize(ptr), 8 * PAGE_SIZE);
    assertFilled(heap, ptr, 2 * PAGE_SIZE, 1, "in place");
    assert.equal(heap.realloc(ptr, 8 * PAGE_SIZE - 100), ptr, "a small shrink keeps the block");
    const blocker = heap.malloc(PAGE_SIZE);
    assert.equal(blocker, ptr + 8 * PAGE_SIZE, "the next pages are taken now");
    fill(heap, ptr, 8 * PAGE_SIZE, 2);
    const moved = heap.realloc(ptr, 20 * PAGE_SIZE);
    assert.notEqual(moved, ptr);
    assert.equal(heap.usableSize(moved), 20 * PAGE_SIZE);
    assertFilled(heap, moved, 8 * PAGE_SIZE, 2, "moved");
    expectCode(() => heap.usableSize(ptr), "INVALID_POINTER", "the old block is gone");
    assert.equal(heap.realloc(moved, PAGE_SIZE), moved, "shrinks in place by freeing the tail");
    assert.equal(heap.usableSize(moved), PAGE_SIZE);
    assertFilled(heap, moved, PAGE_SIZE, 2, "shrunk");
    heap.free(moved);
    heap.free(blocker);
    assert.ok(heap.check().ok);
  });

  test("realloc grows the memory in place when the block is at the top", () => {
    const heap = mmapHeap({ maxBytes: 64 * MiB, initialBytes: 64 << 10 });
    const ptr = heap.malloc(PAGE_SIZE);
    const before = heap.stats().memoryBytes;
    assert.equal(heap.realloc(ptr, 2 * MiB), ptr);
    assert.ok(heap.stats().memoryBytes > before);
    heap.u8[ptr + 2 * MiB - 1] = 1;
    heap.free(ptr);
    assert.ok(heap.check().ok);
  });

  test("realloc that cannot get memory returns 0 and keeps the old block", () => {
    const heap = mmapHeap({ maxBytes: MiB });
    const ptr = heap.malloc(1000);
    fill(heap, ptr, 1000, 5);
    assert.equal(heap.realloc(ptr, 4 * MiB), 0);
    assertFilled(heap, ptr, 1000, 5, "after a failed realloc");
    assert.ok(heap.usableSize(ptr) >= 1000);
    heap.free(ptr);
    assert.ok(heap.check().ok);
  });

  test("alignedAlloc honours every alignment from 1 to 2^20", () => {
    const heap = createHeap({ maxBytes: 512 * MiB });
    const live: Array<[number, number]> = [];
    for (let shift = 0; shift <= 20; shift++) {
      const alignment = 2 ** shift;
      for (const size of [1, 24, 1000, 5000, 70000]) {
        const ptr = heap.alignedAlloc(alignment, size);
        assert.ok(ptr > 0, `alignedAlloc(${alignment}, ${size})`);
        assert.equal(ptr % alignment, 0, `alignedAlloc(${alignment}, ${size}) = ${ptr}`);
        assert.ok(heap.usableSize(ptr) >= size, `usableSize of alignedAlloc(${alignment}, ${size})`);
        heap.u8[ptr] = shift;
        heap.u8[ptr + size - 1] = shift;
        live.push([ptr, size]);
      }
    }
    const sorted = [...live].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1][0] + sorted[i - 1][1] <= sorted[i][0], "aligned blocks overlap");
    assert.ok(heap.check().ok);
    for (const [ptr] of live) heap.free(ptr);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.ok(heap.check().ok);
  });

  test("usableSize is at least the size asked for, and exact pages for mmap", () => {
    const heap = createHeap();
    for (const size of [1, 100, 1024, 1025, 4096, 65536, 300000]) {
      const ptr = heap.malloc(size);
      assert.ok(heap.usableSize(ptr) >= size);
      heap.free(ptr);
    }
    const mmap = mmapHeap();
    const ptr = mmap.malloc(5000);
    assert.equal(mmap.usableSize(ptr), 2 * PAGE_SIZE);
    mmap.free(ptr);
  });

  test("stats report footprint, live bytes and overhead", () => {
    const heap = mmapHeap();
    const fresh = heap.stats();
    assert.equal(fresh.liveBlocks, 0);
    assert.equal(fresh.liveBytes, 0);
    assert.equal(fresh.overhead, Infinity);
    assert.equal(fresh.footprintBytes, fresh.metadataBytes, "only metadata");
    assert.equal(fresh.memoryBytes, fresh.footprintBytes + fresh.freeBytes);
    const a = heap.malloc(10000);
    const b = heap.malloc(PAGE_SIZE);
    const stats = heap.stats();
    assert.equal(stats.liveBlocks, 2);
    assert.equal(stats.liveBytes, 4 * PAGE_SIZE);
    assert.equal(stats.footprintBytes, fresh.footprintBytes + 4 * PAGE_SIZE);
    assert.equal(stats.memoryBytes, stats.footprintBytes + stats.freeBytes);
    assert.equal(stats.overhead, stats.footprintBytes / stats.liveBytes);
    assert.ok(stats.peakFootprintBytes >= stats.footprintBytes);
    assert.deepEqual(stats.backends.map((backend) => [backend.name, backend.liveBlocks, backend.liveBytes]), [["mmap", 2, 4 * PAGE_SIZE]]);
    heap.free(a);
    const after = heap.stats();
    assert.equal(after.liveBytes, PAGE_SIZE);
    assert.equal(after.footprintBytes, fresh.footprintBytes + PAGE_SIZE);
    assert.equal(after.peakFootprintBytes, stats.peakFootprintBytes, "the peak stays");
    heap.free(b);
  });

  test("trim gives the free top of a resizable ArrayBuffer back", () => {
    // Only a resizable ArrayBuffer shrinks (the default WebAssembly.Memory never does).
    const heap = mmapHeap({ maxBytes: 64 * MiB, memory: new ArrayBuffer(64 << 10, { maxByteLength: 64 * MiB }) });
    const small = heap.malloc(100);
    const big = heap.malloc(8 * MiB);
    assert.ok(heap.stats().memoryBytes > 8 * MiB);
    heap.free(big);
    const released = heap.trim();
    assert.ok(released >= 0);
    const stats = heap.stats();
    assert.ok(stats.memoryBytes < MiB, `memory is ${stats.memoryBytes} bytes after trim`);
    assert.equal(stats.memoryBytes, stats.footprintBytes + stats.freeBytes);
    assert.ok(heap.check().ok);
    const again = heap.malloc(2 * MiB);
    assert.ok(again > 0, "grows again after a trim");
    heap.free(again);
    heap.free(small);
    assert.ok(heap.check().ok);
  });

  test("a random mix of malloc, calloc, realloc and free keeps contents and check() clean", () => {
    const heap = twoBackendHeap();
    const random = new Random(99);
    const live = new Map<number, { size: number; seed: number }>();
    for (let step = 0; step < 1500; step++) {
      const roll = random.next();
      if (live.size > 0 && roll < 0.35) {
        const ptr = [...live.keys()][random.int(live.size)];
        const { size, seed } = live.get(ptr)!;
        assertFilled(heap, ptr, size, seed, `step ${step}`);
        heap.free(ptr);
        live.delete(ptr);
      } else if (live.size > 0 && roll < 0.55) {
        const ptr = [...live.keys()][random.int(live.size)];
        const { size, seed } = live.get(ptr)!;
        const next = 1 + random.int(random.next() < 0.8 ? 6000 : 300000);
        const moved = heap.realloc(ptr, next);
        assert.ok(moved > 0);
        assertFilled(heap, moved, Math.min(size, next), seed, `step ${step}: realloc ${size} → ${next}`);
        live.delete(ptr);
        fill(heap, moved, next, step);
        live.set(moved, { size: next, seed: step });
      } else {
        const size = 1 + random.int(random.next() < 0.8 ? 6000 : 300000);
        const ptr = roll < 0.65 ? heap.calloc(1, size) : heap.malloc(size);
        assert.ok(ptr > 0);
        if (roll < 0.65) assert.ok(heap.u8.subarray(ptr, ptr + size).every((byte) => byte === 0), `step ${step}: calloc`);
        fill(heap, ptr, size, step);
        live.set(ptr, { size, seed: step });
      }
      if (step % 100 === 0) assert.deepEqual(heap.check().problems, [], `step ${step}`);
    }
    assert.equal(heap.stats().liveBlocks, live.size);
    for (const ptr of live.keys()) heap.free(ptr);
    assert.deepEqual(heap.check().problems, []);
  });
});

describe("heap: misuse throws a HakmemError and leaves the heap whole", () => {
  const heaps: Array<[string, () => Heap]> = [["mmap only", () => mmapHeap()], ["two backends", twoBackendHeap]];
  for (const [name, make] of heaps) {
    test(`bad sizes (${name})`, () => {
      const heap = make();
      const ptr = heap.malloc(100);
      const before = snapshot(heap);
      const bad = [NaN, Infinity, -Infinity, -1, -4096, 1.5, 2 ** 53, "10" as unknown as number];
      for (const size of bad) {
        expectCode(() => heap.malloc(size), "INVALID_SIZE", `malloc(${String(size)})`);
        expectCode(() => heap.calloc(size, 1), "INVALID_SIZE", `calloc(${String(size)}, 1)`);
        expectCode(() => heap.calloc(1, size), "INVALID_SIZE", `calloc(1, ${String(size)})`);
        expectCode(() => heap.realloc(ptr, size), "INVALID_SIZE", `realloc(ptr, ${String(size)})`);
        expectCode(() => heap.realloc(0, size), "INVALID_SIZE", `realloc(0, ${String(size)})`);
        expectCode(() => heap.alignedAlloc(16, size), "INVALID_SIZE", `alignedAlloc(16, ${String(size)})`);
      }
      assert.deepEqual(snapshot(heap), before);
      assert.ok(heap.usableSize(ptr) >= 100, "the block survived");
      assert.deepEqual(heap.check().problems, []);
    });

    test(`bad alignments (${name})`, () => {
      const heap = make();
      const before = snapshot(heap);
      for (const alignment of [0, 3, 6, 12, 100, 4097, -8, 1.5, NaN, Infinity, 2 ** 32, 2 ** 40]) {
        expectCode(() => heap.alignedAlloc(alignment, 64), "INVALID_ALIGNMENT", `alignedAlloc(${alignment}, 64)`);
      }
      assert.deepEqual(snapshot(heap), before);
      assert.deepEqual(heap.check().problems, []);
    });

    test(`pointers the heap never returned (${name})`, () => {
      const heap = make();
      const ptr = heap.malloc(100);
      const before = snapshot(heap);
      const end = heap.stats().memoryBytes;
      const foreign = [8, PAGE_SIZE * 3, end, end + PAGE_SIZE, 2 ** 31, 2 ** 32 - PAGE_SIZE, 2 ** 32, -1, -PAGE_SIZE, 1.5, NaN, Infinity];
      for (const bad of foreign) {
        expectCode(() => heap.free(bad), "INVALID_POINTER", `free(${bad})`);
        expectCode(() => heap.usableSize(bad), "INVALID_POINTER", `usableSize(${bad})`);
        expectCode(() => heap.realloc(bad, 10), "INVALID_POINTER", `realloc(${bad}, 10)`);
      }
      expectCode(() => heap.usableSize(0), "INVALID_POINTER", "usableSize(0)");
      // A free page that was never handed out.
      const untouched = heap.stats().memoryBytes - PAGE_SIZE;
      assert.equal(heap.pages.ownerOf(untouched), 0, "the last page is free");
      expectCode(() => heap.free(untouched), "INVALID_POINTER", "free of a never-used page");
      assert.deepEqual(snapshot(heap), before);
      assert.deepEqual(heap.check().problems, []);
      heap.free(ptr);
    });

    test(`interior pointers (${name})`, () => {
      const heap = make();
      const small = heap.malloc(100);
      const large = heap.malloc(3 * PAGE_SIZE);
      const before = snapshot(heap);
      for (const bad of [small + 1, small + 64, large + 8, large + PAGE_SIZE, large + 2 * PAGE_SIZE, large + 3 * PAGE_SIZE - 1]) {
        expectCode(() => heap.free(bad), "INTERIOR_POINTER", `free(${bad})`);
        expectCode(() => heap.realloc(bad, 10), "INTERIOR_POINTER", `realloc(${bad}, 10)`);
        expectCode(() => heap.usableSize(bad), "INTERIOR_POINTER", `usableSize(${bad})`);
      }
      assert.deepEqual(snapshot(heap), before);
      assert.deepEqual(heap.check().problems, []);
      heap.free(small);
      heap.free(large);
    });

    test(`double frees (${name})`, () => {
      const heap = make();
      const keep = heap.malloc(100);
      const small = heap.malloc(100);
      const large = heap.malloc(3 * PAGE_SIZE);
      const above = heap.malloc(PAGE_SIZE); // keeps the freed blocks inside the memory
      heap.free(small);
      heap.free(large);
      const before = snapshot(heap);
      expectCode(() => heap.free(small), "DOUBLE_FREE", "second free of a small block");
      expectCode(() => heap.free(large), "DOUBLE_FREE", "second free of a large block");
      assert.deepEqual(snapshot(heap), before);
      assert.deepEqual(heap.check().problems, []);
      heap.free(keep);
      heap.free(above);
      assert.deepEqual(heap.check().problems, []);
    });
  }
});

/** Each kind of memory a heap can live in, made fresh, growing to 64 MiB. */
const MEMORY_KINDS: Array<{ name: string; make: () => MemorySource | undefined; kind: string }> = [
  { name: "WebAssembly.Memory (the default)", make: () => undefined, kind: "WebAssembly.Memory" },
  { name: "resizable ArrayBuffer", make: () => new ArrayBuffer(64 << 10, { maxByteLength: 64 * MiB }), kind: "ArrayBuffer" },
  {
    name: "growable SharedArrayBuffer",
    make: () => new SharedArrayBuffer(64 << 10, { maxByteLength: 64 * MiB }),
    kind: "SharedArrayBuffer",
  },
  { name: "WebAssembly.Memory", make: () => new WebAssembly.Memory({ initial: 1, maximum: 1024 }), kind: "WebAssembly.Memory" },
  {
    name: "shared WebAssembly.Memory",
    make: () => new WebAssembly.Memory({ initial: 1, maximum: 1024, shared: true }),
    kind: "WebAssembly.Memory",
  },
];

describe("heap: every kind of memory grows and keeps views correct", () => {
  for (const { name, make, kind } of MEMORY_KINDS) {
    test(name, () => {
      const memory = make();
      const heap = createHeap({ memory, maxBytes: 64 * MiB });
      assert.equal(heap.health().memory, kind);
      const count = 500;
      const ptr = heap.malloc(count * 8);
      const view = heap.view(Float64Array, ptr, count);
      for (let i = 0; i < count; i++) view.array[i] = i * 1.5 + 0.25;
      const bytes = heap.malloc(3000);
      fill(heap, bytes, 3000, 77);
      const startBytes = heap.stats().memoryBytes;
      const big: number[] = [];
      for (let round = 0; round < 5; round++) {
        const block = heap.malloc(4 * MiB);
        assert.ok(block > 0, `4 MiB block ${round}`);
        heap.u8[block] = round + 1;
        heap.u8[block + 4 * MiB - 1] = round + 1;
        big.push(block);
      }
      assert.ok(heap.stats().memoryBytes > startBytes && heap.stats().memoryBytes >= 20 * MiB, "the memory grew");
      assert.equal(view.array.length, count);
      for (let i = 0; i < count; i++) assert.equal(view.array[i], i * 1.5 + 0.25, `element ${i} after growth`);
      assertFilled(heap, bytes, 3000, 77, "bytes after growth");
      assert.equal(heap.typed(Float64Array, ptr, count)[count - 1], (count - 1) * 1.5 + 0.25, "a fresh typed view");
      big.forEach((block, round) => {
        assert.equal(heap.u8[block], round + 1);
        assert.equal(heap.u8[block + 4 * MiB - 1], round + 1);
      });
      view.array[0] = -1;
      assert.equal(heap.typed(Float64Array, ptr, 1)[0], -1, "writes through the view land in the heap");
      assert.deepEqual(heap.check().problems, []);
      for (const block of big) heap.free(block);
      heap.free(ptr);
      heap.free(bytes);
      heap.trim();
      assert.equal(heap.stats().liveBlocks, 0);
      assert.deepEqual(heap.check().problems, []);
    });
  }

  test("a WebAssembly.Memory grown from outside is noticed by refresh(), and its pages stay the grower's", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 64 });
    const heap = createHeap({ memory, maxBytes: 64 * 65536 });
    const ptr = heap.malloc(100);
    const view = heap.view(Uint8Array, ptr, 100);
    view.array[99] = 42;
    const before = heap.stats();
    const grownAt = memory.grow(8) * 65536; // the WASM module's own memory.grow
    heap.refresh();
    const after = heap.stats();
    assert.equal(after.memoryBytes, before.memoryBytes + 8 * 65536);
    assert.equal(after.freeBytes, before.freeBytes, "the module's pages are not free pages of the heap");
    assert.equal(after.pageHeap.foreignPages, (8 * 65536) / 4096);
    assert.equal(after.footprintBytes, before.footprintBytes, "nor its footprint");
    assert.equal(view.array[99], 42);
    assert.deepEqual(heap.check().problems, []);
    const big = heap.malloc(400000);
    assert.ok(big > 0 && big + 400000 <= memory.buffer.byteLength);
    assert.ok(big >= grownAt + 8 * 65536, `the block at ${big} lies above the module's pages`);
    heap.free(big);
    heap.free(ptr);
    assert.deepEqual(heap.check().problems, []);
  });
});

describe("heap: attaching", () => {
  for (const { name, make } of MEMORY_KINDS.slice(1)) {
    test(`attachHeap finds the blocks of a heap in a ${name}`, () => {
      const memory = make()!;
      const heap = createHeap({ memory, maxBytes: 64 * MiB });
      const sizes = [10, 5000, 300000, 2 * MiB];
      const ptrs = sizes.map((size) => heap.malloc(size));
      fill(heap, ptrs[1], 5000, 4);
      const again = attachHeap(memory, { maxBytes: 64 * MiB });
      ptrs.forEach((ptr, index) => assert.equal(again.usableSize(ptr), heap.usableSize(ptr), `block of ${sizes[index]}`));
      assertFilled(again, ptrs[1], 5000, 4, "through the attached heap");
      const mine = again.malloc(1000);
      assert.ok(mine > 0 && !ptrs.includes(mine));
      assert.equal(heap.usableSize(mine), again.usableSize(mine), "the creator sees the new block");
      assert.deepEqual(again.check().problems, []);
    });
  }

  test("an attach that fails after taking a worker slot gives the slot back", () => {
    const memory = new SharedArrayBuffer(1 << 20, { maxByteLength: 64 * MiB });
    const heap = createHeap({ memory, maxBytes: 64 * MiB });
    const badRoutes = { routes: [{ min: 1, max: 100, backend: "nobody" }] };
    for (let i = 0; i < 70; i++) { // more attempts than there are worker slots (64)
      assert.throws(
        () => attachHeap(memory, badRoutes),
        (error: unknown) => error instanceof HakmemError && error.code === "INVALID_ROUTE",
      );
    }
    assert.deepEqual(heap.workers(), [0], "no slot is left taken");
    const again = attachHeap(memory, { maxBytes: 64 * MiB });
    assert.equal(again.workerId, 1, "the next attach gets the first free slot");
    again.free(again.malloc(100));
    again.detach();
    assert.ok(heap.check().ok);
  });

  test("attachHeap finds the blocks of a heap in a resizable ArrayBuffer", () => {
    const memory = new ArrayBuffer(64 << 10, { maxByteLength: 64 * MiB });
    const heap = createHeap({ memory });
    const ptr = heap.malloc(100);
    const big = heap.malloc(MiB);
    const again = attachHeap(memory);
    assert.equal(again.usableSize(ptr), heap.usableSize(ptr));
    assert.equal(again.usableSize(big), heap.usableSize(big));
    expectCode(() => again.free(ptr + 1), "INTERIOR_POINTER", "interior pointer through the attached heap");
  });

  test("attachHeap on memory that holds no heap throws NOT_A_HEAP", () => {
    const zeroed = new ArrayBuffer(MiB);
    expectCode(() => attachHeap(zeroed), "NOT_A_HEAP", "zeroed memory");
    const noise = new Uint8Array(MiB);
    const random = new Random(5);
    for (let i = 0; i < noise.length; i++) noise[i] = random.int(256);
    expectCode(() => attachHeap(noise.buffer), "NOT_A_HEAP", "random memory");
    expectCode(() => attachHeap(new ArrayBuffer(16)), "NOT_A_HEAP", "memory smaller than a header");
    expectCode(() => attachHeap(new WebAssembly.Memory({ initial: 1 })), "NOT_A_HEAP", "a fresh WebAssembly.Memory");
  });

  test("attachHeap on a heap of another layout version throws LAYOUT_MISMATCH", () => {
    const memory = new SharedArrayBuffer(64 << 10, { maxByteLength: 16 * MiB });
    createHeap({ memory });
    const words = new Int32Array(memory);
    assert.equal(words[1], LAYOUT_VERSION);
    words[1] = LAYOUT_VERSION + 1;
    assert.throws(() => attachHeap(memory), (error: unknown) => {
      assert.ok(error instanceof HakmemError);
      assert.equal(error.code, "LAYOUT_MISMATCH");
      assert.equal(error.value, LAYOUT_VERSION + 1);
      return true;
    });
  });

  test("a heap made in memory that held other bytes does not trust them", () => {
    for (const memory of [new ArrayBuffer(6 * MiB, { maxByteLength: 16 * MiB }), new SharedArrayBuffer(6 * MiB)]) {
      new Uint8Array(memory).fill(0xfa); // page-map entries of this pattern would name the mmap kind
      const heap = createHeap({ memory, backends: [mmapBackend] });
      assert.deepEqual(heap.check().problems, []);
      for (const size of [100, 100000, 5 * MiB]) {
        const ptr = heap.calloc(1, size);
        assert.ok(ptr > 0);
        assert.ok(heap.u8.subarray(ptr, ptr + size).every((byte) => byte === 0), `calloc(1, ${size}) over old bytes is zeroed`);
      }
      const end = heap.stats().memoryBytes;
      expectCode(() => heap.free(end + PAGE_SIZE), "INVALID_POINTER", "free past the memory");
      expectCode(() => heap.free(2 * end + PAGE_SIZE), "INVALID_POINTER", "free far past the memory");
      assert.deepEqual(heap.check().problems, []);
    }
  });

  test("initialBytes is rounded up to whole pages of the default WebAssembly.Memory (64 KiB)", () => {
    const heap = createHeap({ initialBytes: 100000 });
    assert.equal(heap.stats().memoryBytes, 2 * 65536);
    const capped = createHeap({ initialBytes: 1100000, maxBytes: 1100000 });
    assert.equal(capped.stats().memoryBytes, 16 * 65536, "no more than maxBytes (rounded down to whole pages)");
    assert.ok(capped.malloc(4000) > 0);
    assert.equal(capped.stats().memoryBytes % PAGE_SIZE, 0);
  });

  test("a heap cannot live in something that is not memory", () => {
    expectCode(() => createHeap({ memory: {} as unknown as ArrayBuffer }), "INVALID_MEMORY", "a plain object");
    expectCode(() => createHeap({ memory: new ArrayBuffer(4096) }), "INVALID_MEMORY", "too small to grow");
    expectCode(() => createHeap({ memory: new ArrayBuffer(70000) }), "INVALID_MEMORY", "not whole pages");
  });
});
