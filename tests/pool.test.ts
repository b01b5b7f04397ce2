// The pool backend: its class table, span carving, reuse, trim, prewarm counts and misuse errors
// (the Box contract runs from tests/contract.test.ts through the registry).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { expectHakmemError as expectCode } from "../testing/expect.ts";
import { attachHeap, createHeap, type Heap } from "../mod.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { FREE_MARK } from "../backends/slab/blocks.ts";
import {
  createPoolBackend,
  POOL_CLASS_COUNT,
  POOL_CLASS_SIZES,
  POOL_GRANULE,
  POOL_MAX_SIZE,
  POOL_MIN_SIZE,
  POOL_SINGLE_ABOVE,
  POOL_SPAN_BLOCKS,
  POOL_SPAN_PAGES,
  type PoolBackend,
  poolClassOf,
} from "../backends/pool/mod.ts";
import type { MemorySource } from "../memory/linear_memory.ts";
import { Random } from "../testing/random.ts";
import "../debug/mod.ts"; // one test runs in debug mode

const PAGE = 4096;

interface PoolHeapConfig {
  prewarm?: number[];
  maxBytes?: number;
  memory?: MemorySource;
  debug?: boolean;
}

/** A heap routing 1..256 KiB to the pool and the rest to mmap, and its pool. */
function poolHeap(config: PoolHeapConfig = {}): { heap: Heap; pool: PoolBackend } {
  const heap = createHeap({
    maxBytes: config.maxBytes ?? 64 << 20,
    memory: config.memory,
    debug: config.debug,
    backends: [createPoolBackend({ prewarm: config.prewarm }), mmapBackend],
    routes: [{ min: 1, max: POOL_MAX_SIZE, backend: "pool" }, { min: POOL_MAX_SIZE + 1, max: Infinity, backend: "mmap" }],
    fallbacks: {},
  });
  return { heap, pool: heap.router.backends[0] as PoolBackend };
}

function spanBytes(size: number): number {
  return POOL_SPAN_PAGES[poolClassOf(size)] * PAGE;
}

/** Two heap objects over one unshared memory (a pool heap and one attached to it), and the second's pool. */
function twoHeapObjects() {
  const buffer = new ArrayBuffer(1 << 20, { maxByteLength: 64 << 20 });
  const config = {
    maxBytes: 64 << 20,
    backends: [createPoolBackend(), mmapBackend],
    routes: [{ min: 1, max: POOL_MAX_SIZE, backend: "pool" }, { min: POOL_MAX_SIZE + 1, max: Infinity, backend: "mmap" }],
    fallbacks: {},
  };
  const first = createHeap({ ...config, memory: buffer });
  const second = attachHeap(buffer, config);
  return { buffer, config, first, second, pool: second.router.backends[0] as PoolBackend };
}

function assertClean(heap: Heap, when: string): void {
  // The pool is called directly, past the router, so the router's counters are not expected to match it.
  const problems = heap.check("full").problems.filter((problem) => problem.where !== "router");
  assert.deepEqual(problems, [], `check() after ${when}`);
}

describe("pool class table", () => {
  test("classes are multiples of 256, increasing, ending at 256 KiB", () => {
    assert.equal(POOL_CLASS_SIZES.length, POOL_CLASS_COUNT);
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      assert.equal(POOL_CLASS_SIZES[cls] % POOL_GRANULE, 0, `class ${POOL_CLASS_SIZES[cls]}`);
      if (cls > 0) assert.ok(POOL_CLASS_SIZES[cls] > POOL_CLASS_SIZES[cls - 1]);
    }
    assert.ok(POOL_CLASS_SIZES[0] >= POOL_MIN_SIZE);
    assert.equal(POOL_CLASS_SIZES[POOL_CLASS_COUNT - 1], POOL_MAX_SIZE);
    assert.ok(POOL_CLASS_SIZES.includes(40960), "the seeds' 40 KiB bridge class");
  });

  test("every size maps to the smallest class that fits, with bounded waste", () => {
    let wasteSum = 0;
    let wasteMax = 0;
    for (let size = POOL_MIN_SIZE; size <= POOL_MAX_SIZE; size++) {
      const cls = poolClassOf(size);
      const block = POOL_CLASS_SIZES[cls];
      if (block < size || (cls > 0 && POOL_CLASS_SIZES[cls - 1] >= size)) assert.fail(`size ${size} maps to class ${block}`);
      const waste = (block - size) / block;
      wasteSum += waste;
      if (waste > wasteMax) wasteMax = waste;
    }
    const average = wasteSum / (POOL_MAX_SIZE - POOL_MIN_SIZE + 1);
    assert.ok(average < 0.15, `average waste ${average}`);
    assert.ok(wasteMax < 0.25, `largest waste ${wasteMax}`);
    for (let size = 0; size < POOL_MIN_SIZE; size++) {
      assert.equal(poolClassOf(size), 0, `size ${size} below the range rounds up to the first class`);
    }
  });

  test("spans hold whole blocks with a short tail", () => {
    for (let cls = 0; cls < POOL_CLASS_COUNT; cls++) {
      const size = POOL_CLASS_SIZES[cls];
      const bytes = POOL_SPAN_PAGES[cls] * PAGE;
      const blocks = POOL_SPAN_BLOCKS[cls];
      assert.equal(blocks, Math.floor(bytes / size));
      assert.ok(blocks >= 1);
      if (size > POOL_SINGLE_ABOVE) {
        assert.equal(bytes, size, `class ${size}: one block of exactly its pages`);
      } else {
        assert.ok(blocks >= 4, `class ${size}: ${blocks} blocks in ${bytes} bytes`);
        assert.ok((bytes - blocks * size) * 8 < bytes, `class ${size}: tail of ${bytes - blocks * size} bytes in ${bytes}`);
      }
    }
  });
});

describe("pool backend", () => {
  test("a span is carved into contiguous, distinct blocks inside it", () => {
    const { heap, pool } = poolHeap();
    const size = 5000;
    const cls = poolClassOf(size);
    const blockSize = POOL_CLASS_SIZES[cls];
    const ptrs: number[] = [];
    for (let i = 0; i < POOL_SPAN_BLOCKS[cls]; i++) ptrs.push(pool.alloc(size));
    assert.equal(new Set(ptrs).size, ptrs.length, "distinct");
    assert.equal(ptrs[0] % PAGE, 0, "the first block starts the span, on a page");
    for (let i = 1; i < ptrs.length; i++) assert.equal(ptrs[i], ptrs[i - 1] + blockSize, `block ${i} follows block ${i - 1}`);
    assert.ok(ptrs[ptrs.length - 1] + blockSize <= ptrs[0] + spanBytes(size), "the last block ends inside the span");
    for (const ptr of ptrs) {
      assert.ok(pool.owns(ptr));
      assert.equal(pool.usableSize(ptr), blockSize);
      assert.equal(ptr % POOL_GRANULE, 0);
    }
    assert.equal(pool.stats().detail.spans, 1);
    assert.equal(pool.stats().footprintBytes, spanBytes(size));
    const next = pool.alloc(size);
    assert.ok(next < ptrs[0] || next >= ptrs[0] + spanBytes(size), "a full span sends the next block to a new span");
    assert.equal(pool.stats().detail.spans, 2);
    assert.equal(pool.owns(ptrs[0] + 1), false);
    assertClean(heap, "carving");
  });

  test("freed blocks are handed out again before a new span is taken", () => {
    const { heap, pool } = poolHeap();
    const size = 3000;
    const cls = poolClassOf(size);
    const ptrs: number[] = [];
    for (let i = 0; i < POOL_SPAN_BLOCKS[cls]; i++) ptrs.push(pool.alloc(size)); // one full span
    const footprint = heap.stats().footprintBytes;
    pool.free(ptrs[3]);
    assert.equal(pool.alloc(size), ptrs[3], "the freed block comes back");
    pool.free(ptrs[7]);
    pool.free(ptrs[2]);
    const again = [pool.alloc(size), pool.alloc(size)];
    assert.deepEqual(again.sort((a, b) => a - b), [ptrs[2], ptrs[7]]);
    assert.equal(heap.stats().footprintBytes, footprint, "no new pages were taken");
    assert.equal(pool.stats().detail.spans, 1);
    // A size of the same class reuses the same blocks.
    pool.free(ptrs[5]);
    assert.equal(pool.alloc(POOL_CLASS_SIZES[cls]), ptrs[5]);
    assertClean(heap, "reuse");
  });

  test("empty spans go back to the page heap on trim; a budget of them stays cached until then", () => {
    const { heap, pool } = poolHeap();
    const before = heap.stats();
    const size = 20000;
    const cls = poolClassOf(size);
    const ptrs: number[] = [];
    for (let i = 0; i < 3 * POOL_SPAN_BLOCKS[cls]; i++) ptrs.push(pool.alloc(size));
    const random = new Random(5);
    for (let i = 0; i < 600; i++) {
      const ptr = pool.alloc(1025 + random.int(100000));
      assert.ok(ptr > 0, "the memory holds them all");
      ptrs.push(ptr);
    }
    assert.equal(pool.stats().liveBlocks, ptrs.length);
    const peak = pool.stats().footprintBytes;
    for (let i = ptrs.length - 1; i >= 0; i--) pool.free(ptrs[i]);
    const stats = pool.stats();
    assert.equal(stats.liveBlocks, 0);
    assert.equal(stats.liveBytes, 0);
    assert.ok(stats.detail.spans > 0, "some empty spans stay cached");
    const budget = Math.max(256 * 1024, peak / 2);
    assert.ok(stats.footprintBytes <= budget, `${stats.footprintBytes} bytes of empty spans cached; the budget is ${budget}`);
    assert.ok(stats.footprintBytes > 0);
    assert.equal(stats.cachedBytes, stats.footprintBytes - stats.detail.tailBytes, "every block of a cached span is free");
    assertClean(heap, "freeing everything");
    const released = pool.trim();
    assert.equal(released, stats.footprintBytes, "trim reports the bytes it released");
    assert.equal(pool.stats().footprintBytes, 0);
    assert.equal(pool.stats().detail.spans, 0);
    const after = heap.stats();
    const recordPages = after.pageHeap.metadataPages - before.pageHeap.metadataPages; // records stay with the arena
    assert.equal(after.footprintBytes, before.footprintBytes + recordPages * PAGE, "the heap's footprint is back");
    assert.equal(pool.trim(), 0, "nothing left to release");
    assert.equal(pool.health().counters.spansCreated, pool.health().counters.spansReleased);
    assertClean(heap, "trim");
  });

  test("a single-block class with no span of its own takes a cached bigger block within 25% waste, and no bigger", () => {
    const { heap, pool } = poolHeap();
    const keep = pool.alloc(60000); // so the heap's peak is above what follows
    const block = pool.alloc(24000); // class 24576
    pool.free(block); // cached empty
    const created = pool.health().counters.spansCreated;
    const reused = pool.alloc(20000); // class 20480 has nothing; 24576 <= 1.25 × 20000
    assert.equal(reused, block, "the cached 24 KiB block");
    assert.equal(pool.usableSize(reused), 24576, "it keeps its class");
    assert.equal(pool.health().counters.spansCreated, created, "no new span");
    pool.free(reused);
    const pagesBefore = heap.stats().footprintBytes;
    const released = pool.health().counters.spansReleased;
    const fresh = pool.alloc(19000); // 24576 > 1.25 × 19000: too wasteful
    assert.equal(pool.usableSize(fresh), 20480, "a block of its own class");
    // At the peak, the cached span goes back and the class's new span takes its pages: not one page more.
    assert.equal(fresh, block, "in the given back span's pages");
    assert.equal(pool.health().counters.spansReleased, released + 1);
    assert.equal(pool.health().counters.spansCreated, created + 1);
    assert.equal(heap.stats().footprintBytes, pagesBefore - PAGE, "a page less than the span it replaced");
    for (const ptr of [keep, fresh]) pool.free(ptr);
    assertClean(heap, "bigger blocks");
  });

  test("at the peak with only smaller spans cached, they go back and the new span takes their pages joined with free ones", () => {
    const { heap, pool } = poolHeap();
    const a = pool.alloc(20000); // class 20480: 5 pages
    const b = pool.alloc(20000);
    assert.equal(b, a + spanBytes(20000), "b's pages follow a's");
    pool.free(b);
    heap.trim(); // b's pages go back to the page heap
    pool.free(a); // a is cached, the pages after it are free
    const peak = heap.stats().peakFootprintBytes;
    const created = pool.health().counters.spansCreated;
    const released = pool.health().counters.spansReleased;
    const grown = pool.alloc(40000); // class 40960: 10 pages, past the peak were the cached span kept
    assert.equal(grown, a, "a's pages and the free ones after them");
    assert.equal(pool.usableSize(grown), 40960);
    assert.equal(pool.health().counters.spansReleased, released + 1, "a's span went back");
    assert.equal(pool.health().counters.spansCreated, created + 1);
    assert.equal(heap.stats().peakFootprintBytes, peak, "the peak holds");
    pool.free(grown);
    assertClean(heap, "a's pages joined");
  });

  test("below the peak a class with no cached span of its own takes a new span, keeping the cached bigger one", () => {
    const { heap, pool } = poolHeap();
    const keep = pool.alloc(60000);
    const high = pool.alloc(60000); // raises the peak, then leaves room below it
    pool.free(high);
    pool.free(keep);
    const big = pool.alloc(24000);
    pool.free(big); // cached empty, class 24576
    const created = pool.health().counters.spansCreated;
    const fresh = pool.alloc(19000);
    assert.equal(pool.usableSize(fresh), 20480);
    assert.notEqual(fresh, big, "the cached 24 KiB span stays cached");
    assert.equal(pool.health().counters.spansCreated, created + 1, "a new span");
    assert.equal(pool.alloc(24000), big, "and serves its own class next");
    assertClean(heap, "below the peak");
  });

  test("cached empty spans never raise the peak footprint: a new span past the peak takes their pages", () => {
    const { heap, pool } = poolHeap();
    const small = Array.from({ length: 10 }, () => pool.alloc(20000)); // class 20480: one block, 5 pages each
    const peak = heap.stats().peakFootprintBytes;
    for (const ptr of small) pool.free(ptr);
    assert.equal(pool.stats().detail.spans, 10, "all ten stay cached (within the 256 KiB floor)");
    const big = Array.from({ length: 5 }, () => pool.alloc(60000)); // class 61440: 15 pages, no cached block fits
    assert.equal(pool.stats().liveBlocks, 5);
    assert.ok(pool.stats().detail.spans < 10, "cached spans were given back for the new ones");
    assert.ok(
      heap.stats().peakFootprintBytes <= peak + 25 * PAGE, // the new spans are 75 pages against the cache's 50: 25 are new, and only they
      `peak ${heap.stats().peakFootprintBytes} after, ${peak} before`,
    );
    assert.ok(heap.stats().peakFootprintBytes < peak + 10 * spanBytes(20000), "not the cache plus the new spans");
    for (const ptr of big) pool.free(ptr);
    assertClean(heap, "eviction");
  });

  test("past the peak a small cache stays while it holds at most 1/16 of the live spans' pages", () => {
    const { heap, pool } = poolHeap();
    const small = pool.alloc(20000); // 5 pages, before the big ones: no free pages follow it
    const big = Array.from({ length: 8 }, () => pool.alloc(131072)); // 32 pages each: 256 live pages
    pool.free(small); // cached: 5 pages, under 256 / 16
    const created = pool.health().counters.spansCreated;
    const fresh = pool.alloc(40000); // 10 pages past the peak, no cached span to reshape
    assert.equal(pool.health().counters.spansCreated, created + 1, "a new span");
    assert.equal(pool.health().counters.spansReleased, 0, "the cached span stayed");
    assert.equal(pool.stats().detail.spans, 10);
    assert.equal(pool.alloc(20000), small);
    for (const ptr of [...big, fresh, small]) pool.free(ptr);
    assertClean(heap, "the slack");
  });

  test("alloc/free ping-pong keeps its span instead of thrashing the page heap", () => {
    const { pool } = poolHeap();
    const first = pool.alloc(100000);
    pool.free(first);
    for (let i = 0; i < 100; i++) pool.free(pool.alloc(100000));
    const counters = pool.health().counters;
    assert.equal(counters.spansCreated, 1);
    assert.equal(counters.spansReleased, 0);
  });

  test("resizeInPlace says yes within the class, no across classes", () => {
    const { heap, pool } = poolHeap();
    const ptr = pool.alloc(2100); // class 2560
    assert.equal(pool.resizeInPlace(ptr, 2560), true);
    assert.equal(pool.resizeInPlace(ptr, 2049), true);
    assert.equal(pool.resizeInPlace(ptr, 2561), false);
    assert.equal(pool.resizeInPlace(ptr, 2048), false);
    assert.equal(pool.resizeInPlace(ptr, POOL_MAX_SIZE + 1), false);
    assert.equal(pool.usableSize(ptr), 2560);
    // Through the heap: a realloc within the class keeps the block.
    heap.u8[ptr] = 77;
    assert.equal(heap.realloc(ptr, 2500), ptr);
    const moved = heap.realloc(ptr, 9000);
    assert.notEqual(moved, ptr);
    assert.equal(heap.u8[moved], 77);
    heap.free(moved);
    assertClean(heap, "resize");
  });

  test("misuse is refused with the right code and changes nothing", () => {
    const { heap, pool } = poolHeap();
    const keep = pool.alloc(1300);
    const ptr = pool.alloc(1300); // class 1536
    const big = heap.malloc(1 << 20); // an mmap block
    pool.free(ptr);
    const stats = JSON.stringify(pool.stats());
    const counters = JSON.stringify(pool.health().counters);
    expectCode(() => pool.free(ptr), "DOUBLE_FREE", "second free");
    expectCode(() => pool.free(keep + 256), "INTERIOR_POINTER", "interior pointer");
    expectCode(() => pool.free(keep + 1), "INTERIOR_POINTER", "odd interior pointer");
    expectCode(() => pool.free(keep + 5 * 1536), "INVALID_POINTER", "a block never handed out");
    const cls = poolClassOf(1300);
    const tail = keep + POOL_SPAN_BLOCKS[cls] * POOL_CLASS_SIZES[cls];
    assert.ok(tail < keep + POOL_SPAN_PAGES[cls] * PAGE, "class 1536 spans have a tail");
    expectCode(() => pool.free(tail), "INVALID_POINTER", "the span's tail");
    expectCode(() => pool.free(big), "INVALID_POINTER", "an mmap block");
    expectCode(() => pool.free(8), "INVALID_POINTER", "the header");
    expectCode(() => pool.usableSize(ptr + 1), "INTERIOR_POINTER", "usableSize of an interior pointer");
    expectCode(() => heap.free(ptr), "DOUBLE_FREE", "second free through the heap");
    assert.equal(JSON.stringify(pool.stats()), stats, "stats unchanged");
    assert.equal(JSON.stringify(pool.health().counters), counters, "counters unchanged");
    assert.equal(pool.owns(ptr + 1), false);
    assert.equal(pool.owns(big), false);
    assert.equal(pool.owns(1.5), false);
    assert.equal(pool.alloc(1300), ptr, "the free list is intact: the block comes back once");
    assert.notEqual(pool.alloc(1300), ptr);
    assertClean(heap, "misuse");
  });

  test("a freed single-block span's block is refused as free, in the heap object's cache and in the lists", () => {
    for (const shared of [false, true]) {
      const memory = shared ? new SharedArrayBuffer(1 << 20, { maxByteLength: 64 << 20 }) : undefined;
      const { heap, pool } = poolHeap({ memory });
      const keep = pool.alloc(40000);
      const ptr = pool.alloc(40000); // class 40960: one block per span
      pool.free(ptr);
      const stats = JSON.stringify(pool.stats());
      const counters = JSON.stringify(pool.health().counters);
      const where = shared ? "shared" : "unshared";
      expectCode(() => pool.free(ptr), "DOUBLE_FREE", `second free (${where})`);
      expectCode(() => heap.free(ptr), "DOUBLE_FREE", `second free through the heap (${where})`);
      expectCode(() => pool.usableSize(ptr), "INVALID_POINTER", `usableSize of a freed block (${where})`);
      expectCode(() => pool.resizeInPlace(ptr, 40000), "INVALID_POINTER", `resizeInPlace of a freed block (${where})`);
      assert.equal(JSON.stringify(pool.stats()), stats, "stats unchanged");
      assert.equal(JSON.stringify(pool.health().counters), counters, "counters unchanged");
      assert.equal(pool.alloc(40000), ptr, "the block comes back once");
      assert.notEqual(pool.alloc(40000), ptr);
      pool.free(keep);
      assertClean(heap, `misuse of a freed single-block span (${where})`);
    }
  });

  test("the heap object's cache: counted free in stats and health, emptied by trim, checked by check()", () => {
    const { heap, pool } = poolHeap();
    const ptrs = [40000, 40000, 100000, 20000].map((size) => pool.alloc(size));
    const footprint = pool.stats().footprintBytes;
    for (const ptr of ptrs) pool.free(ptr);
    const stats = pool.stats();
    assert.equal(stats.liveBlocks, 0, "cached blocks are free");
    assert.equal(stats.liveBytes, 0);
    assert.equal(stats.footprintBytes, footprint, "their spans stay");
    assert.equal(stats.cachedBytes, footprint - stats.detail.tailBytes);
    const counters = pool.health().counters;
    assert.equal(counters.allocs, 4);
    assert.equal(counters.frees, 4);
    assertClean(heap, "spans cached");
    const again = pool.alloc(40000);
    assert.ok(ptrs.includes(again), "a cached block comes back");
    assert.equal(pool.health().counters.allocs, 5);
    assert.equal(pool.stats().liveBlocks, 1);
    pool.free(again);
    const released = heap.trim();
    assert.ok(released >= footprint, `trim released ${released} bytes`);
    assert.equal(pool.stats().footprintBytes, 0, "trim empties the cache");
    assert.equal(pool.health().counters.frees, 5);
    assert.equal(pool.health().counters.spansReleased, pool.health().counters.spansCreated);
    assertClean(heap, "trim");
    // A cached span whose record was overwritten is reported.
    const victim = pool.alloc(40000);
    pool.free(victim);
    const entry = heap.pages.ownerOf(victim);
    const record = (entry & ~7) >>> 0;
    const words = new Int32Array(heap.u8.buffer);
    words[(record >>> 2) + 7] = 3; // the record's state word: full
    const problems = heap.check("full").problems.map((problem) => `${problem.where}: ${problem.message}`);
    assert.ok(problems.some((line) => line.startsWith("pool cache")), problems.join("\n"));
    words[(record >>> 2) + 7] = 4; // back to cached
    assertClean(heap, "the record mended");
  });

  test("a heap object's cache is given back by detach, and by reclaim when the object was dropped without it", () => {
    const { buffer, config, first, second, pool } = twoHeapObjects();
    for (const ptr of [40000, 100000].map((size) => first.malloc(size))) first.free(ptr); // two spans in first's cache
    assert.equal(pool.stats().detail.spans, 2);
    assert.equal(pool.stats().liveBlocks, 0, "the other heap object counts them free too");
    assert.deepEqual(second.check("full").problems, [], "and in order");
    second.reclaim(first.workerId); // first was dropped without detach
    assert.equal(pool.stats().detail.spans, 0, "reclaim gave them back");
    assert.deepEqual(second.check("full").problems, []);
    const third = attachHeap(buffer, config);
    third.free(third.malloc(40000));
    assert.equal(pool.stats().detail.spans, 1);
    third.detach();
    assert.equal(pool.stats().detail.spans, 0, "detach gave its cache back");
    assert.ok(second.check("full").ok);
  });

  test("the budget keeps half the span pages cached; past the cache's depth (32 a class) freed spans go to the empty list", () => {
    const { heap, pool } = poolHeap();
    const ptrs = Array.from({ length: 40 }, () => pool.alloc(20000)); // class 20480, 5 pages: 200 pages in all
    for (const ptr of ptrs) pool.free(ptr);
    assert.equal(pool.stats().detail.spans, 20, "half of the 200 span pages stay cached: 20 spans, the rest released");
    assertClean(heap, "the budget");
    // With 640 live pages beside them, all 40 fit the budget: 32 in the cache, 8 on the memory's empty list.
    const big = Array.from({ length: 40 }, () => pool.alloc(65536)); // 16 pages each
    const more = Array.from({ length: 40 }, () => pool.alloc(20000));
    const released = pool.health().counters.spansReleased;
    for (const ptr of more) pool.free(ptr);
    assert.equal(pool.health().counters.spansReleased, released, "none released: the eight past the cache are listed");
    assertClean(heap, "cache and list");
    const created = pool.health().counters.spansCreated;
    const back = Array.from({ length: 40 }, () => pool.alloc(20000));
    assert.equal(pool.health().counters.spansCreated, created, "all 40 come back from the cache and the list");
    for (const ptr of back) assert.ok(more.includes(ptr), `${ptr} is one of the freed blocks`);
    for (const ptr of [...back, ...big]) pool.free(ptr);
    assertClean(heap, "reused");
  });

  test("a live block holding the freed marker by chance is freed normally", () => {
    const { heap, pool } = poolHeap();
    const ptr = pool.alloc(4000);
    const other = pool.alloc(4000);
    heap.typed(Int32Array, ptr, 2)[1] = ptr ^ FREE_MARK; // what a freed block carries at +4
    pool.free(ptr);
    expectCode(() => pool.free(ptr), "DOUBLE_FREE", "then a real double free");
    pool.free(other);
    assertClean(heap, "a marker look-alike");
  });

  test("debug mode catches a double free even when the marker was overwritten", () => {
    const { heap, pool } = poolHeap({ debug: true });
    const keep = pool.alloc(4000);
    const ptr = pool.alloc(4000);
    pool.free(ptr);
    new Int32Array(heap.buffer, ptr, 2)[1] = 0; // a write after free wipes the marker (typed() refuses a freed block)
    expectCode(() => pool.free(ptr), "DOUBLE_FREE", "second free in debug mode");
    const problems = heap.check("full").problems.filter((problem) => problem.where !== "router");
    assert.equal(problems.length, 1, "check reports the write after free");
    assert.match(problems[0].message, /freed marker/);
    pool.free(keep);
  });

  test("stats and health count blocks, bytes and spans", () => {
    const { heap, pool } = poolHeap();
    const a = pool.alloc(1025);
    const b = pool.alloc(40000);
    const c = pool.alloc(262144);
    const stats = pool.stats();
    assert.equal(stats.liveBlocks, 3);
    assert.equal(stats.liveBytes, 1280 + 40960 + 262144);
    assert.equal(stats.footprintBytes, spanBytes(1025) + spanBytes(40000) + spanBytes(262144));
    assert.equal(stats.cachedBytes, (POOL_SPAN_BLOCKS[0] - 1) * 1280 + (POOL_SPAN_BLOCKS[poolClassOf(40000)] - 1) * 40960);
    const counters = pool.health().counters;
    assert.equal(counters.allocs, 3);
    assert.equal(counters.spans, 3);
    pool.free(a);
    pool.free(b);
    pool.free(c);
    assert.equal(pool.health().counters.frees, 3);
    assert.equal(pool.health().counters.failures, 0);
    assertClean(heap, "stats");
  });

  test("exhaustion returns 0 and counts a failure", () => {
    const { heap, pool } = poolHeap({ maxBytes: 1 << 20 });
    const ptrs: number[] = [];
    for (;;) {
      const ptr = pool.alloc(200000);
      if (ptr === 0) break;
      ptrs.push(ptr);
    }
    assert.ok(ptrs.length > 0);
    assert.equal(pool.health().counters.failures, 1);
    assertClean(heap, "exhaustion");
  });

  test("through the heap: aligned allocation, calloc and counters that match the router", () => {
    const { heap, pool } = poolHeap();
    const ptrs: number[] = [];
    for (const alignment of [256, 512, 1024, 2048, 4096]) {
      for (const size of [1100, 3000, 5000, 40000, 100000]) {
        const ptr = heap.alignedAlloc(alignment, size);
        assert.equal(ptr % alignment, 0, `alignedAlloc(${alignment}, ${size}) = ${ptr}`);
        assert.ok(pool.owns(ptr), `alignedAlloc(${alignment}, ${size}) is served by the pool`);
        ptrs.push(ptr);
      }
    }
    heap.u8.fill(255, ptrs[0], ptrs[0] + 1280);
    heap.free(ptrs[0]);
    const zeroed = heap.calloc(1, 1200);
    assert.equal(zeroed, ptrs[0], "the freed block is reused");
    assert.ok(heap.u8.subarray(zeroed, zeroed + 1200).every((byte) => byte === 0), "calloc cleared it");
    ptrs[0] = zeroed;
    assert.deepEqual(heap.check("full").problems, []);
    for (const ptr of ptrs) heap.free(ptr);
    heap.trim();
    assert.equal(pool.stats().footprintBytes, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("works over a WebAssembly.Memory that grows under it", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 512 });
    const { heap, pool } = poolHeap({ memory, maxBytes: 512 * 65536 });
    const ptrs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const ptr = pool.alloc(30000 + i * 100);
      assert.ok(ptr > 0);
      heap.u8[ptr + 1000] = i;
      ptrs.push(ptr);
    }
    assert.ok(memory.buffer.byteLength > 4 << 20, "the memory grew");
    ptrs.forEach((ptr, i) => assert.equal(heap.u8[ptr + 1000], i));
    for (const ptr of ptrs) pool.free(ptr);
    assertClean(heap, "a grown WebAssembly.Memory");
  });

  test("the calls take and release locks on shared memory", () => {
    const memory = new SharedArrayBuffer(1 << 16, { maxByteLength: 64 << 20 });
    const { heap, pool } = poolHeap({ memory, prewarm: [5000] });
    assert.equal(pool.prewarmReport().succeeded, 1);
    const random = new Random(11);
    const live: number[] = [];
    for (let step = 0; step < 3000; step++) {
      if (live.length > 0 && random.next() < 0.45) {
        const index = random.int(live.length);
        pool.free(live[index]);
        live[index] = live[live.length - 1];
        live.pop();
      } else {
        live.push(pool.alloc(1025 + random.int(60000)));
      }
    }
    // A refused free leaves its lock released: the same list serves again.
    const ptr = pool.alloc(5000);
    pool.free(ptr);
    expectCode(() => pool.free(ptr), "DOUBLE_FREE", "double free on shared memory");
    assert.equal(pool.alloc(5000), ptr);
    live.push(ptr);
    assertClean(heap, "shared memory use");
    for (const block of live) pool.free(block);
    assert.ok(pool.trim() > 0);
    assert.equal(pool.stats().footprintBytes, 0);
    assertClean(heap, "shared memory trim");
  });
});

describe("pool: a damaged span record", () => {
  // Words of a span record (backends/pool/spans.ts): class, base, shard, state.
  const DAMAGE: Array<[string, number, number]> = [
    ["class past the last", 0, 200],
    ["class negative", 0, -1],
    ["base off a page", 1, 12345],
    ["base far below", 1, 4096],
    ["shard past the last", 6, 1000],
    ["shard negative", 6, -5],
    ["state unknown", 7, 99],
    ["state of a span being made", 7, 0],
  ];
  for (const [what, word, value] of DAMAGE) {
    test(`${what}: free, usableSize and realloc answer CORRUPTED and change nothing`, () => {
      const heap = createHeap();
      for (const size of [40000, 3000]) { // a single-block span (the router's cache path) and a span of several blocks
        const keep = heap.malloc(size);
        const ptr = heap.malloc(size);
        const at = ((heap.pages.ownerOf(ptr) & ~7) >>> 2) + word;
        const old = heap.mem.i32[at];
        heap.mem.i32[at] = value;
        const before = heap.mem.u8.slice();
        for (
          const [name, call] of [["free", () => heap.free(ptr)], ["usableSize", () => heap.usableSize(ptr)], [
            "realloc",
            () => heap.realloc(ptr, size + 5000),
          ]] as const
        ) {
          const error = expectCode(call, "CORRUPTED", `${name} of a ${size}-byte block`);
          assert.match(error.message, /span record .* is damaged/);
        }
        assert.deepEqual(heap.mem.u8, before, "nothing written");
        heap.mem.i32[at] = old;
        assert.deepEqual(heap.check("full").problems, [], "whole once mended");
        heap.free(ptr);
        heap.free(keep);
      }
      assert.deepEqual(heap.check("full").problems, []);
    });
  }
});

describe("pool: empty spans before growth", () => {
  /**
   * A heap over a WebAssembly.Memory (one page area: 32 MiB) holding 128 or more 32 KiB blocks, a span each, with
   * fewer than a span's pages free; then two neighbouring blocks freed into the heap object's cache. Their 16 pages
   * are within the share the peak rule lets cached spans keep (1/16 of 1,000 pages in spans).
   */
  function filled(prewarm?: number[]): { heap: Heap; pool: PoolBackend; memory: WebAssembly.Memory; pair: number } {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 512 });
    const { heap, pool } = poolHeap({ memory, maxBytes: 32 << 20, prewarm });
    const blocks: number[] = [];
    do blocks.push(heap.malloc(32768)); while (blocks.length < 128 || heap.stats().pageHeap.freePages >= 8);
    const pair = blocks.findIndex((ptr, i) => i > 64 && blocks[i - 1] + 32768 === ptr);
    assert.ok(pair > 0, "two neighbouring blocks");
    heap.free(blocks[pair - 1]);
    heap.free(blocks[pair]);
    return { heap, pool, memory, pair: blocks[pair - 1] };
  }

  test("a span no free run holds takes the pages of cached spans that join, and the memory does not grow", () => {
    const { heap, pool, memory, pair } = filled();
    const length = memory.buffer.byteLength;
    const before = pool.health().counters;
    const ptr = heap.malloc(65536); // 16 pages: only the two cached spans' pages, joined, hold them
    assert.equal(ptr, pair);
    assert.equal(memory.buffer.byteLength, length, "the memory did not grow");
    assert.equal(pool.health().counters.spansReleased - before.spansReleased, 2);
    heap.free(ptr);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("prewarm takes no span back: a heap that prewarms more than is free grows for each span", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 512 });
    const { heap, pool } = poolHeap({ memory, maxBytes: 32 << 20, prewarm: [262144, 262144, 262144, 262144] });
    assert.deepEqual(pool.prewarmReport(), { requested: 4, succeeded: 4, failed: 0 });
    assert.equal(pool.health().counters.spans, 4);
    assert.equal(pool.health().counters.spansReleased, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });
});

describe("pool prewarm", () => {
  test("counts the spans it got", () => {
    const sizes = [40000, 100000, 262144, 2000];
    const { heap, pool } = poolHeap({ prewarm: sizes });
    assert.deepEqual(pool.prewarmReport(), { requested: 4, succeeded: 4, failed: 0 });
    const health = pool.health();
    assert.equal(health.counters.prewarmRequested, 4);
    assert.equal(health.counters.prewarmSucceeded, 4);
    assert.equal(health.counters.prewarmFailed, 0);
    assert.equal(health.reason, undefined);
    assert.equal(pool.stats().detail.spans, 4);
    assert.equal(pool.stats().footprintBytes, sizes.reduce((sum, size) => sum + spanBytes(size), 0));
    // The prewarmed spans serve their classes without taking pages.
    const footprint = heap.stats().footprintBytes;
    const ptrs = sizes.map((size) => pool.alloc(size));
    assert.equal(heap.stats().footprintBytes, footprint);
    assert.equal(pool.health().counters.spansCreated, 4);
    for (const ptr of ptrs) pool.free(ptr);
    assertClean(heap, "prewarm");
  });

  test("counts only successes when the memory cannot hold every span", () => {
    const requested = 8;
    const { heap, pool } = poolHeap({ prewarm: new Array(requested).fill(262144), maxBytes: 1 << 20 });
    const report = pool.prewarmReport();
    assert.equal(report.requested, requested);
    assert.ok(report.succeeded > 0, `got ${report.succeeded}`);
    assert.ok(report.succeeded < requested, `got ${report.succeeded} of ${requested} in 1 MiB`);
    assert.equal(report.failed, requested - report.succeeded);
    // The count is what is held: one 256 KiB span per success.
    assert.equal(pool.stats().detail.spans, report.succeeded);
    assert.equal(pool.stats().footprintBytes, report.succeeded * spanBytes(262144));
    const health = pool.health();
    assert.equal(health.counters.prewarmSucceeded, report.succeeded);
    assert.equal(health.counters.prewarmFailed, report.failed);
    assert.equal(health.ready, true);
    assert.match(health.reason ?? "", new RegExp(`prewarm got ${report.succeeded} of ${requested}`));
    const ptrs: number[] = [];
    for (let i = 0; i < report.succeeded; i++) ptrs.push(pool.alloc(262144));
    assert.ok(ptrs.every((ptr) => ptr > 0), "each prewarmed span serves a block");
    assert.equal(pool.alloc(262144), 0, "and no more fit");
    assertClean(heap, "a partial prewarm");
  });

  test("is done once, by the heap's creator, and seen by an attaching heap", () => {
    const memory = new ArrayBuffer(1 << 16, { maxByteLength: 64 << 20 });
    const { pool } = poolHeap({ memory, prewarm: [9000, 9000] });
    assert.deepEqual(pool.prewarmReport(), { requested: 2, succeeded: 2, failed: 0 });
    const attached = attachHeap(memory, {
      backends: [createPoolBackend({ prewarm: [9000, 9000, 9000] }), mmapBackend],
      routes: [{ min: 1, max: POOL_MAX_SIZE, backend: "pool" }, { min: POOL_MAX_SIZE + 1, max: Infinity, backend: "mmap" }],
      fallbacks: {},
    });
    const again = attached.router.backends[0] as PoolBackend;
    assert.deepEqual(again.prewarmReport(), { requested: 2, succeeded: 2, failed: 0 });
    assert.equal(again.stats().detail.spans, 2);
  });

  test("refuses sizes it cannot serve", () => {
    expectCode(() => createPoolBackend({ prewarm: [0] }), "INVALID_OPTION", "size 0");
    expectCode(() => createPoolBackend({ prewarm: [262145] }), "INVALID_OPTION", "size above the pool");
    expectCode(() => createPoolBackend({ prewarm: [1.5] }), "INVALID_OPTION", "fractional size");
  });
});

describe("pool: the block cache of the multi-block classes (up to 16 KiB)", () => {
  test("a freed block comes back first, counted free while cached, its span keeping it; trim hands it back", () => {
    const { heap, pool } = poolHeap();
    const blocks = [5000, 5000, 5000].map((size) => heap.malloc(size));
    const footprint = pool.stats().footprintBytes;
    heap.free(blocks[1]);
    const record = (heap.pages.ownerOf(blocks[1]) & ~7) >>> 0;
    assert.equal(new Int32Array(heap.u8.buffer)[(record >>> 2) + 12], 1, "the span counts one block cached (R_CACHED)");
    assert.equal(new Int32Array(heap.u8.buffer)[(record >>> 2) + 3], 3, "and still three used (R_USED)");
    assert.equal(pool.stats().liveBlocks, 2, "the cached block counts free");
    assert.equal(pool.health().counters.frees, 1);
    assertClean(heap, "a block cached");
    assert.equal(heap.malloc(5000), blocks[1], "last freed, first handed out");
    heap.free(blocks[2]);
    heap.free(blocks[1]);
    heap.free(blocks[0]);
    assert.equal(pool.stats().liveBlocks, 0);
    assert.equal(pool.stats().footprintBytes, footprint, "cached blocks keep their span");
    assertClean(heap, "every block cached");
    assert.ok(heap.trim() >= spanBytes(5000), "trim hands them back, and the span empties and goes");
    assert.equal(pool.stats().footprintBytes, 0);
    assertClean(heap, "after trim");
  });

  test("a double free, usableSize and realloc of a cached block are refused, and change nothing", () => {
    const { heap, pool } = poolHeap();
    const keep = heap.malloc(3000);
    const ptr = heap.malloc(3000);
    heap.free(ptr);
    const before = heap.u8.slice();
    expectCode(() => heap.free(ptr), "DOUBLE_FREE", "a second free of the cached block");
    expectCode(() => heap.usableSize(ptr), "INVALID_POINTER", "usableSize of the cached block");
    expectCode(() => heap.realloc(ptr, 100), "INVALID_POINTER", "realloc of the cached block");
    assert.deepEqual(heap.u8, before, "the memory is as it was");
    assert.equal(pool.health().counters.frees, 1);
    assertClean(heap, "refused");
    assert.equal(heap.malloc(3000), ptr, "the cached block is still handed out once");
    heap.free(ptr);
    heap.free(keep);
  });

  test("a write after free into a cached block: the malloc that would hand it out says CORRUPTED; check reports it", () => {
    const { heap } = poolHeap();
    const blocks = [12000, 12000].map((size) => heap.malloc(size));
    heap.free(blocks[0]);
    new DataView(heap.u8.buffer).setUint32(blocks[0], 0x41414141, true); // its link word: the cache's tag
    assert.deepEqual(heap.check("full").problems, [], "the block's own words: nothing to see until it is handed out");
    expectCode(() => heap.malloc(12000), "CORRUPTED", "the malloc that would hand out the damaged block");
    const next = heap.malloc(12000);
    assert.ok(next !== 0 && next !== blocks[0], "the next malloc gives another block");
    const problems = heap.check("full").problems.map((problem) => problem.message);
    assert.ok(problems.some((message) => message.includes("written after it was freed")), problems.join("\n"));
  });

  test("the cache holds at most 256 KiB a class (at least two blocks, at most 32): the rest are freed into their spans", () => {
    const { heap, pool } = poolHeap();
    const words = () => new Int32Array(heap.u8.buffer);
    /** Blocks of `ptrs`' spans counted in block caches. */
    const cachedIn = (ptrs: number[]) => {
      const records = new Set(ptrs.map((ptr) => (heap.pages.ownerOf(ptr) & ~7) >>> 0));
      return [...records].reduce((sum, record) => sum + words()[(record >>> 2) + 12], 0);
    };
    const small = Array.from({ length: 40 }, () => heap.malloc(1100)); // class 1280: 204 would fit in 256 KiB, the depth is 32
    const big = Array.from({ length: 20 }, () => heap.malloc(16000)); // class 16384: 16 fit in 256 KiB
    for (const ptr of [...small, ...big]) heap.free(ptr);
    assert.equal(cachedIn(small), 32);
    assert.equal(cachedIn(big), 16);
    assert.equal(pool.stats().liveBlocks, 0);
    assertClean(heap, "caches full");
    assert.equal(heap.malloc(16000), big[15], "the last block the cache took comes back first");
  });

  test("shared memory and debug mode have no block cache: the free goes to the span at once", () => {
    for (const config of [{ memory: new SharedArrayBuffer(1 << 20, { maxByteLength: 64 << 20 }) }, { debug: true }]) {
      const { heap, pool } = poolHeap(config);
      const ptr = heap.malloc(5000);
      heap.free(ptr);
      const record = (heap.pages.ownerOf(ptr) & ~7) >>> 0;
      assert.equal(new Int32Array(heap.u8.buffer)[(record >>> 2) + 12], 0, "no block of the span is cached");
      assert.equal(pool.stats().liveBlocks, 0);
      assertClean(heap, JSON.stringify(Object.keys(config)));
    }
  });

  test("blocks a dropped heap object had cached are found by reclaim; detach hands its own back", () => {
    const { buffer, config, first, second, pool } = twoHeapObjects();
    const keep = first.malloc(5000);
    const cached = [5000, 5000, 2000].map((size) => first.malloc(size));
    for (const ptr of cached) first.free(ptr); // into first's block cache
    assert.equal(pool.stats().liveBlocks, 1, "the other heap object counts them free");
    assert.deepEqual(second.check("full").problems, [], "and in order");
    expectCode(() => second.free(cached[0]), "DOUBLE_FREE", "a free of a block in another object's cache"); // another object's cache: its tag and the span's count say so
    second.reclaim(first.workerId); // first was dropped without detach
    assert.deepEqual(second.check("full").problems, [], "reclaim handed them back");
    second.free(keep);
    assert.ok(second.trim() > 0);
    assert.equal(pool.stats().detail.spans, 0, "every span emptied and went back");
    const third = attachHeap(buffer, config);
    const block = third.malloc(5000);
    third.free(block);
    const record = (second.pages.ownerOf(block) & ~7) >>> 0;
    assert.equal(new Int32Array(buffer)[(record >>> 2) + 12], 1, "cached by third");
    third.detach();
    assert.equal(new Int32Array(buffer)[(record >>> 2) + 12], 0, "detach handed it back");
    assert.ok(second.check("full").ok);
    second.trim();
    assert.equal(pool.stats().detail.spans, 0, "its span emptied");
  });
});
