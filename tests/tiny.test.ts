// Tiny: the class table, a slab's life, caches on and off, trim, and the
// scaling figure's footprint bounds.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, HakmemError, type Heap } from "../mod.ts";
import { CLASS_COUNT, CLASS_SIZES, classAlignment, SIZE_TO_CLASS, TINY_MAX_SIZE } from "../backends/slab/size_classes.ts";
import { blockDivisor, blockIndex, isMarkedFree, markFree } from "../backends/slab/blocks.ts";
import {
  assignSlab,
  isHandedOut,
  liveBlockClass,
  S_BASE,
  S_BUMP,
  S_CLASS,
  S_OWNER,
  SLAB_BYTES,
  SLAB_UNIT_SHIFT,
  SUPERSLAB_BYTES,
} from "../backends/slab/slab.ts";
import type { Backend } from "../router/box.ts";

function tinyOf(heap: Heap): Backend {
  return heap.router.backends.find((backend) => backend.capabilities.name === "tiny")!;
}

function counter(heap: Heap, name: string): number {
  return heap.health().backends.find((backend) => backend.name === "tiny")!.counters[name];
}

function clean(heap: Heap): void {
  assert.deepEqual(heap.check("full").problems, []);
}

describe("tiny size classes", () => {
  test("every size 1..1024 maps to the smallest class that fits", () => {
    for (let size = 1; size <= TINY_MAX_SIZE; size++) {
      const cls = SIZE_TO_CLASS[size];
      assert.ok(CLASS_SIZES[cls] >= size, `size ${size} → class ${CLASS_SIZES[cls]}`);
      if (cls > 0) assert.ok(CLASS_SIZES[cls - 1] < size, `size ${size} fits the smaller class ${CLASS_SIZES[cls - 1]}`);
    }
    assert.equal(SIZE_TO_CLASS[0], 0);
    assert.equal(CLASS_SIZES[CLASS_COUNT - 1], 1024);
  });

  test("classes rise strictly and every block is aligned as C's malloc aligns it", () => {
    for (let cls = 1; cls < CLASS_COUNT; cls++) assert.ok(CLASS_SIZES[cls] > CLASS_SIZES[cls - 1]);
    for (const size of CLASS_SIZES) assert.ok(size === 8 || size % 16 === 0, `class ${size} is 8 or a multiple of 16`);
    for (let size = 1; size <= TINY_MAX_SIZE; size++) {
      const alignment = classAlignment(SIZE_TO_CLASS[size]);
      assert.ok(alignment >= (size > 8 ? 16 : 8), `size ${size} gets alignment ${alignment}`);
    }
  });

  test("rounding waste: average under 9% for 16..1024, never over 20% from 64 up", () => {
    let total = 0;
    let worst = 0;
    for (let size = 16; size <= 1024; size++) {
      const block = CLASS_SIZES[SIZE_TO_CLASS[size]];
      const waste = (block - size) / block;
      total += waste;
      if (size >= 64) worst = Math.max(worst, waste);
    }
    const average = total / (1024 - 16 + 1);
    assert.ok(average < 0.09, `average waste ${average}`);
    assert.ok(worst <= 0.2, `worst waste ${worst}`);
  });

  test("the block index by multiplication is exact for every class and offset", () => {
    for (const size of CLASS_SIZES) {
      const divisor = blockDivisor(size, SLAB_UNIT_SHIFT);
      for (let offset = 0; offset < SLAB_BYTES; offset++) {
        if (blockIndex(offset, divisor, SLAB_UNIT_SHIFT) !== Math.floor(offset / size)) assert.fail(`offset ${offset} / ${size}`);
      }
    }
  });

  test("the free path's one-call block test agrees with the block module's tests, every class and offset", () => {
    // liveBlockClass writes blockIndex and isMarkedFree out (JavaScriptCore's inlining depth): it must answer as they do.
    const base = 8192;
    const i32 = new Int32Array((base + SLAB_BYTES) / 4 + 64);
    const r = 16; // the record at word 16, below the slab
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      i32.fill(0);
      i32[r + S_BASE] = base;
      assignSlab(i32, r << 2, cls, 3);
      const size = CLASS_SIZES[cls];
      const blocks = Math.floor(SLAB_BYTES / size);
      i32[r + S_BUMP] = Math.max(1, blocks >> 1);
      for (let block = 0; block < i32[r + S_BUMP]; block += 3) markFree(i32, base + block * size);
      for (let offset = -8; offset < SLAB_BYTES; offset += 4) {
        const ptr = base + offset;
        for (const owner of [3, 4]) {
          const expected = isHandedOut(i32, r, ptr) && i32[r + S_OWNER] === owner && !isMarkedFree(i32, ptr) ? i32[r + S_CLASS] : -1;
          if (liveBlockClass(i32, r, ptr, owner) !== expected) assert.fail(`class ${cls}, offset ${offset}, owner ${owner}`);
        }
      }
    }
  });

  test("blocks really are aligned in a heap", () => {
    const heap = createHeap();
    for (let size = 1; size <= 1024; size += 7) {
      const ptr = heap.malloc(size);
      assert.equal(ptr % classAlignment(SIZE_TO_CLASS[size]), 0, `malloc(${size}) = ${ptr}`);
      assert.equal(heap.usableSize(ptr), CLASS_SIZES[SIZE_TO_CLASS[size]]);
    }
  });
});

describe("a slab's life (cache off)", () => {
  test("bump, free list first, then bump again", () => {
    const heap = createHeap({ tinyCache: false });
    const a = heap.malloc(64);
    const b = heap.malloc(64);
    const c = heap.malloc(64);
    assert.equal(b, a + 64, "bump hands out consecutive blocks");
    assert.equal(c, b + 64);
    heap.free(b);
    assert.equal(heap.malloc(64), b, "a freed block is reused before the bump area");
    assert.equal(heap.malloc(64), c + 64, "then the bump area goes on");
    clean(heap);
  });

  test("a full slab gives way to a new one, and an emptied slab goes back to the source", () => {
    const heap = createHeap({ tinyCache: false });
    const perSlab = SLAB_BYTES / 1024;
    const first = Array.from({ length: perSlab }, () => heap.malloc(1024));
    const next = heap.malloc(1024);
    assert.ok(next >= first[0] + SLAB_BYTES || next < first[0], "the ninth block comes from another slab");
    const released = counter(heap, "slabsReleased");
    for (const ptr of first) heap.free(ptr);
    assert.equal(counter(heap, "slabsReleased"), released + 1, "the emptied (full, not current) slab is released at once");
    clean(heap);
  });

  test("reuse order: a slab with freed blocks before a new slab", () => {
    const heap = createHeap({ tinyCache: false });
    const perSlab = SLAB_BYTES / 512;
    const firstSlab = Array.from({ length: perSlab }, () => heap.malloc(512));
    const secondSlab = Array.from({ length: perSlab }, () => heap.malloc(512)); // current slab now full
    heap.free(firstSlab[3]); // first slab becomes partial
    const acquired = counter(heap, "slabsAcquired");
    assert.equal(heap.malloc(512), firstSlab[3], "the partial slab's freed block comes first");
    assert.equal(counter(heap, "slabsAcquired"), acquired, "no new slab was taken");
    assert.ok(secondSlab.length === perSlab);
    clean(heap);
  });

  test("frees of blocks never handed out, interior pointers and double frees are refused", () => {
    const heap = createHeap({ tinyCache: false });
    const a = heap.malloc(100);
    const b = heap.malloc(100);
    assert.throws(() => heap.free(a + 4), (error: unknown) => error instanceof HakmemError && error.code === "INTERIOR_POINTER");
    assert.throws(() => heap.free(b + 112 * 5), (error: unknown) => error instanceof HakmemError && error.code === "INVALID_POINTER");
    heap.free(a);
    assert.throws(() => heap.free(a), (error: unknown) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    clean(heap);
    heap.free(b);
    assert.throws(() => heap.free(b), (error: unknown) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    clean(heap);
  });
});

describe("per-worker caches", () => {
  test("frees go to the cache; the slab is seen empty but for cached blocks; trim releases it", () => {
    const heap = createHeap();
    const blockPages = () => heap.stats().footprintBytes - heap.stats().metadataBytes; // the record page stays
    const before = blockPages();
    const ptrs = Array.from({ length: 20 }, () => heap.malloc(48));
    for (const ptr of ptrs) heap.free(ptr);
    const tiny = tinyOf(heap).stats();
    assert.equal(tiny.liveBlocks, 0);
    assert.equal(tiny.detail.slabsEmptyButCached, 1, "one slab holds only cached blocks");
    assert.ok(tiny.detail.cachedBlocks > 0);
    heap.trim();
    const after = tinyOf(heap).stats();
    assert.equal(after.detail.cachedBlocks, 0, "trim flushed the cache");
    assert.equal(after.detail.slabsAssigned, 0, "and released the slab");
    assert.equal(blockPages(), before, "the SuperSlab went back to the page heap");
    clean(heap);
  });

  test("a cached block is handed out again first (LIFO)", () => {
    const heap = createHeap();
    const a = heap.malloc(200);
    heap.free(a);
    assert.equal(heap.malloc(200), a);
  });

  test("a double free into the cache is caught", () => {
    const heap = createHeap();
    const keep = heap.malloc(32);
    const a = heap.malloc(32);
    heap.free(a);
    assert.throws(() => heap.free(a), (error: unknown) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    clean(heap);
    heap.free(keep);
  });

  test("caches spill to the slabs when full, and stay consistent", () => {
    const heap = createHeap({ tinyCacheCap: 8 });
    const ptrs = Array.from({ length: 200 }, () => heap.malloc(24));
    for (const ptr of ptrs) heap.free(ptr);
    assert.ok(counter(heap, "spills") > 0);
    assert.ok(tinyOf(heap).stats().detail.cachedBlocks <= 8);
    clean(heap);
  });

  test("caches off and on give the same blocks back to the page heap", () => {
    for (const tinyCache of [false, true]) {
      const heap = createHeap({ tinyCache });
      const start = heap.stats().footprintBytes;
      const ptrs: number[] = [];
      for (let i = 0; i < 5000; i++) ptrs.push(heap.malloc(16 + (i % 1000)));
      for (const ptr of ptrs) heap.free(ptr);
      heap.trim();
      assert.equal(tinyOf(heap).stats().footprintBytes, 0, `cache ${tinyCache}: tiny holds nothing after trim`);
      assert.ok(heap.stats().footprintBytes <= start + SUPERSLAB_BYTES);
      clean(heap);
    }
  });
});

describe("scaling footprint", () => {
  test("1,000,000 blocks of 16 bytes: peak footprint near live bytes, back after trim", () => {
    // A memory that shrinks gives its top pages back to the engine (the default WebAssembly.Memory, which cannot,
    // gives whole regions back to the memory instead: tests/page_heap.test.ts).
    const heap = createHeap({ memory: new ArrayBuffer(64 << 10, { maxByteLength: 1 << 30 }) });
    const start = heap.stats().footprintBytes;
    const count = 1_000_000;
    const ptrs = new Float64Array(count);
    for (let i = 0; i < count; i++) ptrs[i] = heap.malloc(16);
    const live = count * 16;
    const peak = heap.stats().footprintBytes - start;
    assert.ok(peak <= live * 1.05, `footprint ${peak} for ${live} live bytes`);
    for (let i = 0; i < count; i++) heap.free(ptrs[i]);
    heap.trim();
    // The whole footprint, metadata included: record pages and page-map leaves go back too.
    assert.equal(heap.stats().footprintBytes, start, "back to the start");
    clean(heap);
  });
});

describe("tiny check()", () => {
  test("a write into a free block is reported, and a slab page mapping elsewhere too", () => {
    for (const tinyCache of [false, true]) {
      const heap = createHeap({ tinyCache });
      const keep = heap.malloc(64);
      const ptr = heap.malloc(64);
      heap.free(ptr);
      assert.deepEqual(heap.check().problems, []);
      heap.u8[ptr + 5] ^= 0xff; // a use after free hits the free mark
      assert.ok(heap.check().problems.some((problem) => /lost its free mark/.test(problem.message)), `cache ${tinyCache}`);
      heap.u8[ptr + 5] ^= 0xff;
      assert.deepEqual(heap.check().problems, []);
      heap.free(keep);
    }
  });
});
