// The page heap: page runs, best fit by list, coalescing, growth and shrinking, dirty
// pages, the page map, and a seeded random run checked against a model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DIR_WORD, HEADER_PAGES, KIND_MASK, LEAF_PAGES, PAGE_SIZE, PageKind, REGION_PAGES } from "../memory/layout.ts";
import { LinearMemory } from "../memory/linear_memory.ts";
import { type CheckProblem, PageHeap } from "../memory/page_heap.ts";
import { createHeap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { Random } from "../testing/random.ts";

/** The first page after the header and the first page-map leaf. */
const BASE = HEADER_PAGES + LEAF_PAGES;
const MiB = 1 << 20;
const OWNER = PageKind.mmap;

/** A page-map entry as a backend would write it: a record offset plus a kind. */
function entry(id: number, kind: number = PageKind.mmap): number {
  return (id << 6) | kind;
}

function makePageHeap(initialBytes: number, maxBytes: number, growPages = 16, shared = false): { mem: LinearMemory; pages: PageHeap } {
  const buffer = shared
    ? new SharedArrayBuffer(initialBytes, { maxByteLength: maxBytes })
    : new ArrayBuffer(initialBytes, { maxByteLength: maxBytes });
  const mem = new LinearMemory(buffer, maxBytes);
  const pages = new PageHeap(mem);
  pages.format(HEADER_PAGES, maxBytes / PAGE_SIZE, growPages);
  return { mem, pages };
}

function assertClean(pages: PageHeap, when: string): void {
  const problems: CheckProblem[] = [];
  pages.check(problems);
  assert.deepEqual(problems, [], `check() after ${when}`);
}

function leafOf(mem: LinearMemory, region: number): number {
  return mem.u32[DIR_WORD + region];
}

describe("page heap: runs", () => {
  test("a fresh heap is one metadata run and one free run", () => {
    const { pages } = makePageHeap(64 << 10, MiB);
    const stats = pages.stats();
    assert.equal(stats.topPages, 16);
    assert.equal(stats.usedPages, BASE);
    assert.equal(stats.metadataPages, BASE);
    assert.equal(stats.freePages, 16 - BASE);
    assert.equal(stats.freeRuns, 1);
    assert.equal(pages.ownerOf(0) & KIND_MASK, PageKind.metadata);
    assert.equal(pages.ownerOf((BASE - 1) * PAGE_SIZE) & KIND_MASK, PageKind.metadata);
    assert.equal(pages.ownerOf(BASE * PAGE_SIZE), 0);
    assertClean(pages, "format");
  });

  test("allocRun takes a run from the shortest free list that fits (best fit), not the lowest", () => {
    const { pages } = makePageHeap(MiB, MiB);
    const [a, , b, , c, , d] = [3, 1, 2, 1, 5, 1, 2, 1].map((count) => pages.allocRun(count, OWNER)); // the last keeps d off the free top
    assert.deepEqual([a, b, c, d], [BASE, BASE + 4, BASE + 7, BASE + 13]);
    pages.freeRun(a); // 3 pages, lowest
    pages.freeRun(d); // 2 pages, highest below the top
    assert.equal(pages.allocRun(2, OWNER), d, "the run of exactly 2, though a lower one fits");
    assert.equal(pages.allocRun(2, OWNER), a, "then the 3-page run: the shortest that fits");
    assert.equal(pages.allocRun(1, OWNER), a + 2, "the rest of it");
    pages.freeRun(c);
    assert.equal(pages.allocRun(4, OWNER), c, "a run longer than asked is split: its low pages are taken");
    assert.equal(pages.allocRun(1, OWNER), c + 4);
    assertClean(pages, "best fit");
  });

  test("a freed run coalesces with a free left, right or both neighbours", () => {
    const { pages } = makePageHeap(MiB, MiB);
    const [a, b, c, d, e, f] = Array.from({ length: 6 }, () => pages.allocRun(2, OWNER));
    const rest = pages.allocRun(256 - BASE - 12, OWNER); // no free pages above: only our runs count
    assert.ok(rest > 0);
    assert.equal(pages.stats().freeRuns, 0);

    pages.freeRun(b);
    assert.deepEqual([pages.stats().freeRuns, pages.stats().largestFreeRun], [1, 2]);
    pages.freeRun(a); // b to its right
    assert.deepEqual([pages.stats().freeRuns, pages.stats().largestFreeRun], [1, 4], "coalesced right");
    assertClean(pages, "right coalescing");
    pages.freeRun(d);
    pages.freeRun(e); // d to its left
    assert.deepEqual([pages.stats().freeRuns, pages.stats().largestFreeRun], [2, 4], "coalesced left");
    assertClean(pages, "left coalescing");
    pages.freeRun(c); // a..b to its left, d..e to its right
    assert.deepEqual([pages.stats().freeRuns, pages.stats().largestFreeRun], [1, 10], "coalesced both ways");
    assert.equal(pages.stats().freePages, 10);
    assertClean(pages, "coalescing both ways");
    assert.equal(pages.allocRun(10, OWNER), a, "the merged run is one run");
    assert.equal(pages.runPages(a), 10);
    assert.equal(pages.runPages(f), 2);
  });

  test("freed runs go to the list their length names, whatever order they are freed in", () => {
    const { pages } = makePageHeap(MiB, MiB);
    const runs = Array.from({ length: 41 }, () => pages.allocRun(1, OWNER));
    const odd = runs.filter((_, index) => index % 2 === 1); // every hole between two allocated pages
    const random = new Random(11);
    const order = [...odd];
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const page of order) {
      pages.freeRun(page);
      assertClean(pages, `freeing page ${page}`); // check() matches the lists against the runs
    }
    assert.equal(pages.stats().freeRuns, odd.length + 1, "the holes and the free top");
    const refilled = odd.map(() => pages.allocRun(1, OWNER));
    assert.deepEqual(refilled.sort((x, y) => x - y), odd, "every hole once, before the top is cut");
    assertClean(pages, "refilling the holes");
  });

  test("the page map says who owns every page of a run", () => {
    const { mem, pages } = makePageHeap(MiB, MiB);
    const owner = entry(5, PageKind.tiny);
    const page = pages.allocRun(3, owner);
    for (let offset = 0; offset < 3 * PAGE_SIZE; offset += 1000) assert.equal(pages.ownerOf(page * PAGE_SIZE + offset), owner);
    assert.equal(pages.ownerOf((page + 3) * PAGE_SIZE), 0, "the page after the run is free");
    assert.equal(pages.ownerOf(8) & KIND_MASK, PageKind.metadata, "the header is metadata");
    assert.equal(pages.ownerOf(512 * MiB), 0, "a region without a leaf has no owner");
    pages.setOwner(page + 1, 2, entry(9, PageKind.pool));
    assert.equal(pages.ownerOf(page * PAGE_SIZE), owner);
    assert.equal(pages.ownerOf((page + 1) * PAGE_SIZE), entry(9, PageKind.pool));
    assert.equal(pages.ownerOf((page + 2) * PAGE_SIZE + 4095), entry(9, PageKind.pool));
    pages.setOwner(page + 1, 2, owner);
    assert.equal(pages.runPages(page), 3);
    assert.equal(pages.runPages(page + 1), 0, "no run starts inside a run");
    assert.equal(pages.runPages(page + 3), 0, "no run starts on a free page");
    assert.equal(pages.runPages(mem.byteLength / PAGE_SIZE), 0, "none past the top");
    assert.equal(pages.freeRun(page), 3);
    for (let i = 0; i < 3; i++) assert.equal(pages.ownerOf((page + i) * PAGE_SIZE), 0, "freed pages have no owner");
    let visited = 0;
    pages.forEachRun((_page, count, runOwner) => {
      visited++;
      assert.equal(runOwner & KIND_MASK, PageKind.metadata);
      assert.equal(count, BASE);
    });
    assert.equal(visited, 1, "only the metadata run is left");
    assertClean(pages, "page map");
  });
});

describe("page heap: resizing runs", () => {
  test("extendRun grows into free pages after the run and refuses when they are taken", () => {
    const { pages } = makePageHeap(MiB, MiB);
    const a = pages.allocRun(2, OWNER);
    const b = pages.allocRun(3, OWNER);
    const c = pages.allocRun(1, OWNER);
    pages.freeRun(b);
    const used = pages.stats().usedPages;
    assert.equal(pages.extendRun(a, 2), true);
    assert.equal(pages.runPages(a), 4);
    assert.equal(pages.ownerOf((a + 3) * PAGE_SIZE), OWNER);
    assert.equal(pages.stats().usedPages, used + 2);
    assert.equal(pages.stats().freeRuns, 2, "one page left between a and c, and the top");
    assertClean(pages, "extending into part of a free run");
    assert.equal(pages.extendRun(a, 2), false, "only one free page before c");
    assert.equal(pages.runPages(a), 4, "a refused extension changes nothing");
    assert.equal(pages.extendRun(a, 1), true);
    assert.equal(pages.runPages(a), 5);
    assert.equal(pages.extendRun(a, 1), false, "c is next");
    assert.equal(pages.runPages(c), 1);
    assertClean(pages, "extendRun");
  });

  test("extendRun at the top grows the memory", () => {
    const { mem, pages } = makePageHeap(64 << 10, 4 * MiB);
    const top = pages.allocRun(16 - BASE, OWNER); // ends at the top of the memory
    assert.equal(top + 16 - BASE, pages.top);
    assert.equal(pages.extendRun(top, 100), true);
    assert.equal(pages.runPages(top), 116 - BASE);
    assert.ok(mem.byteLength >= (top + 116 - BASE) * PAGE_SIZE);
    assertClean(pages, "extending at the top");
    assert.equal(pages.extendRun(top, 4 * 256), false, "past maxBytes");
    assert.equal(pages.runPages(top), 116 - BASE);
    assertClean(pages, "a refused extension");
  });

  test("extendRun with zero clears pages written before", () => {
    const { mem, pages } = makePageHeap(MiB, MiB);
    const a = pages.allocRun(1, OWNER);
    const b = pages.allocRun(2, OWNER);
    pages.allocRun(1, OWNER);
    mem.u8.fill(0xab, b * PAGE_SIZE, (b + 2) * PAGE_SIZE);
    pages.freeRun(b);
    assert.equal(pages.extendRun(a, 2, true), true);
    assert.ok(mem.u8.subarray(b * PAGE_SIZE, (b + 2) * PAGE_SIZE).every((byte) => byte === 0));
  });

  test("shrinkRun frees the tail and dropHead frees the head", () => {
    const { pages } = makePageHeap(MiB, MiB);
    const left = pages.allocRun(1, OWNER);
    const run = pages.allocRun(8, entry(3));
    const right = pages.allocRun(1, OWNER);
    const used = pages.stats().usedPages;

    pages.shrinkRun(run, 8);
    pages.shrinkRun(run, 0);
    assert.equal(pages.runPages(run), 8, "keeping all or nothing changes nothing");
    pages.shrinkRun(run, 5);
    assert.equal(pages.runPages(run), 5);
    assert.equal(pages.ownerOf((run + 4) * PAGE_SIZE), entry(3));
    assert.equal(pages.ownerOf((run + 5) * PAGE_SIZE), 0);
    assert.equal(pages.stats().usedPages, used - 3);
    assertClean(pages, "shrinkRun");

    pages.freeRun(left);
    pages.dropHead(run, 2);
    assert.equal(pages.runPages(run), 0, "the run no longer starts there");
    assert.equal(pages.runPages(run + 2), 3);
    assert.equal(pages.ownerOf((run + 2) * PAGE_SIZE), entry(3), "the rest keeps its owner");
    assert.equal(pages.ownerOf(run * PAGE_SIZE), 0);
    assert.equal(pages.stats().usedPages, used - 3 - 1 - 2);
    assertClean(pages, "dropHead"); // the dropped head coalesced with the freed left run
    assert.equal(pages.allocRun(3, OWNER), left, "left and the head are one free run");
    assert.equal(pages.runPages(right), 1);
  });
});

describe("page heap: growing and shrinking the memory", () => {
  test("grows on demand up to maxBytes, then returns -1 and changes nothing", () => {
    const { mem, pages } = makePageHeap(64 << 10, MiB);
    const first = pages.allocRun(100, OWNER);
    assert.ok(first >= BASE);
    assert.ok(mem.byteLength >= (first + 100) * PAGE_SIZE, "the memory grew");
    assert.ok(pages.stats().growCount >= 1);
    let allocated = 100;
    for (;;) {
      const page = pages.allocRun(10, OWNER);
      if (page < 0) break;
      allocated += 10;
      assert.ok(mem.byteLength <= MiB);
    }
    assert.ok(allocated >= 256 - BASE - 10, `only ${allocated} pages fit in 1 MiB`);
    assert.equal(mem.byteLength, MiB);
    const before = pages.stats();
    assert.equal(pages.allocRun(300, OWNER), -1);
    assert.equal(pages.allocRun(10, OWNER), -1);
    assert.deepEqual(pages.stats(), before);
    assertClean(pages, "exhaustion");
  });

  test("allocRun without growth takes only free runs the memory has, and -1 changes nothing", () => {
    const { mem, pages } = makePageHeap(256 << 10, MiB);
    const free = pages.stats().freePages; // 64 pages less the header and the first leaf
    assert.ok(pages.allocRun(free - 8, OWNER, false, false) >= BASE, "a free run that fits");
    const before = pages.stats();
    assert.equal(pages.allocRun(9, OWNER, false, false), -1, "more than is free");
    assert.equal(mem.byteLength, 256 << 10, "not grown");
    assert.deepEqual(pages.stats(), before);
    assert.ok(pages.allocRun(8, OWNER, false, false) >= BASE, "what is free");
    assert.ok(pages.allocRun(9, OWNER) >= 0, "with growth it fits");
    assert.ok(mem.byteLength > 256 << 10);
    assertClean(pages, "allocRun without growth");
  });

  test("growth doubles the memory, so a heap grown page by page resizes a logarithmic number of times", () => {
    const { mem, pages } = makePageHeap(64 << 10, 256 * MiB, 16);
    const runs: number[] = [];
    for (let i = 0; i < 4000; i++) runs.push(pages.allocRun(1, OWNER)); // 16 MiB, one page at a time
    const { growCount, topPages } = pages.stats();
    assert.ok(growCount <= 10, `${growCount} resizes for 4000 pages`); // an eighth at a time took over 30
    assert.ok(topPages <= 2 * (4000 + 64), `the memory is at most about twice what is used (${topPages} pages)`);
    assert.equal(mem.byteLength, topPages * PAGE_SIZE);
    // Freeing the top half leaves half the memory free: no shrink (the next growth would undo it). Shrinking
    // below a quarter in use is the test below.
    for (const run of runs.splice(2000)) pages.freeRun(run);
    assert.ok(pages.stats().largestFreeRun > topPages / 4, "a free run at the top of over a quarter of the memory");
    assert.equal(pages.stats().shrinkCount, 0, "half free: kept");
    assert.equal(mem.byteLength, topPages * PAGE_SIZE);
    assertClean(pages, "growth");
  });

  test("a resizable ArrayBuffer shrinks when its top pages are free, and trimTop shrinks it fully", () => {
    const { mem, pages } = makePageHeap(64 << 10, 16 * MiB, 16);
    const low = pages.allocRun(1, OWNER);
    const big = pages.allocRun(512, OWNER);
    const grown = mem.byteLength;
    assert.ok(grown >= (big + 512) * PAGE_SIZE);
    pages.freeRun(big);
    assert.ok(mem.byteLength < grown, "freeing the top run shrank the memory");
    assert.ok(pages.stats().shrinkCount >= 1);
    assert.equal(mem.byteLength, pages.top * PAGE_SIZE);
    assert.ok(pages.stats().freePages <= 16, "at most the growth step stays free at the top");
    assertClean(pages, "shrinking on free");
    const released = pages.trimTop();
    assert.ok(released > 0);
    assert.equal(pages.top, low + 1, "nothing free is left at the top");
    assert.equal(mem.byteLength, (low + 1) * PAGE_SIZE);
    assert.equal(pages.trimTop(), 0, "nothing more to give back");
    assertClean(pages, "trimTop");
    assert.ok(pages.allocRun(4, OWNER) > low, "the memory grows again");
    assertClean(pages, "growing after a trim");
  });

  test("a growable SharedArrayBuffer never shrinks", () => {
    const { mem, pages } = makePageHeap(64 << 10, 16 * MiB, 16, true);
    const big = pages.allocRun(512, OWNER);
    const grown = mem.byteLength;
    pages.freeRun(big);
    assert.equal(pages.trimTop(), 0);
    assert.equal(mem.byteLength, grown);
    assertClean(pages, "freeing in a SharedArrayBuffer");
  });

  test("leaves for regions above 4 MiB are made on growth and dropped by trimTop", () => {
    const { mem, pages } = makePageHeap(64 << 10, 16 * MiB, 16);
    assert.equal(leafOf(mem, 1), 0);
    const run = pages.allocRun(REGION_PAGES + 76, entry(7));
    assert.ok(mem.byteLength > 4 * MiB);
    assert.notEqual(leafOf(mem, 1), 0, "region 1 has a leaf");
    assert.equal(pages.stats().metadataPages, BASE + LEAF_PAGES);
    const last = (run + REGION_PAGES + 75) * PAGE_SIZE;
    assert.ok(last >= 4 * MiB);
    assert.equal(pages.ownerOf(last), entry(7), "pages above 4 MiB are in the page map");
    assertClean(pages, "growing past 4 MiB");

    pages.freeRun(run);
    pages.trimTop();
    assert.equal(leafOf(mem, 1), 0, "the leaf of region 1 is dropped");
    assert.equal(pages.stats().metadataPages, BASE);
    assert.ok(mem.byteLength < 4 * MiB);
    assertClean(pages, "trimming below 4 MiB");

    const again = pages.allocRun(2 * REGION_PAGES + 10, entry(8));
    assert.ok(again >= 0);
    assert.notEqual(leafOf(mem, 1), 0);
    assert.notEqual(leafOf(mem, 2), 0);
    assert.equal(pages.ownerOf((again + 2 * REGION_PAGES + 9) * PAGE_SIZE), entry(8));
    assertClean(pages, "growing past 8 MiB");
    pages.freeRun(again);
    pages.trimTop();
    assert.equal(leafOf(mem, 1), 0);
    assert.equal(leafOf(mem, 2), 0);
    assertClean(pages, "trimming again");
  });
});

describe("page heap: trim on memory that cannot shrink", () => {
  function makeWasmPageHeap(maxBytes: number): { mem: LinearMemory; pages: PageHeap; memory: WebAssembly.Memory } {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: maxBytes / 65536 });
    const mem = new LinearMemory(memory, maxBytes);
    const pages = new PageHeap(mem);
    pages.format(HEADER_PAGES, maxBytes / PAGE_SIZE, 16);
    return { mem, pages, memory };
  }

  test("whole regions at the top leave the heap with their leaves, and come back before the memory grows", () => {
    const { mem, pages, memory } = makeWasmPageHeap(64 * MiB);
    const start = pages.stats().usedPages;
    const low = pages.allocRun(8, OWNER);
    const runs = Array.from({ length: 40 }, () => pages.allocRun(300, OWNER)); // 12,000 pages: regions 0..2
    assert.ok(pages.top > 2 * REGION_PAGES && leafOf(mem, 2) !== 0);
    for (const run of runs) mem.u8.fill(0xab, run * PAGE_SIZE, (run + 300) * PAGE_SIZE);
    for (const run of runs) pages.freeRun(run);
    const bytes = memory.buffer.byteLength;
    const top = pages.top;
    const released = pages.trimTop();
    assert.equal(pages.top, REGION_PAGES, "the top goes down to the first region boundary above what is used");
    assert.equal(released, (top - REGION_PAGES) * PAGE_SIZE);
    assert.equal(leafOf(mem, 1), 0, "region 1's leaf is freed");
    assert.equal(leafOf(mem, 2), 0);
    assert.equal(pages.stats().usedPages, start + 8, "the footprint is back to what is allocated");
    assert.equal(pages.stats().reservePages, top - REGION_PAGES);
    assert.equal(pages.stats().foreignPages, 0, "the pages given back are the heap's, not foreign");
    assert.equal(memory.buffer.byteLength, bytes, "a WebAssembly.Memory keeps its bytes");
    assert.equal(pages.stats().shrinkCount, 0, "and shrinkCount counts only the memory's own shrinking");
    assertClean(pages, "giving regions back");
    assert.equal(pages.trimTop(), 0, "nothing more to give back");

    // Growth takes the reserve back first: no memory.grow for what fits in it, and its pages count as written.
    const again = pages.allocRun(2 * REGION_PAGES, OWNER, true);
    assert.ok(again >= 0);
    assert.equal(memory.buffer.byteLength, bytes, "the reserve served the growth");
    assert.equal(pages.stats().reservePages, 0);
    assert.notEqual(leafOf(mem, 1), 0);
    assert.ok(
      mem.u8.subarray(again * PAGE_SIZE, (again + 2 * REGION_PAGES) * PAGE_SIZE).every((byte) => byte === 0),
      "a zeroed run from the reserve is zero, though the reserve held old bytes",
    );
    assertClean(pages, "taking the reserve back");
    pages.freeRun(again);
    pages.freeRun(low);
    pages.trimTop();
    assert.equal(pages.stats().usedPages, start);
    assertClean(pages, "trimming again");
  });

  test("memory a module grows after a trim is foreign above the reserve, and the reserve stays the heap's", () => {
    const { mem, pages, memory } = makeWasmPageHeap(64 * MiB);
    const run = pages.allocRun(3 * REGION_PAGES, OWNER);
    pages.freeRun(run);
    pages.trimTop();
    const reserve = pages.stats().reservePages;
    assert.ok(reserve > 0);
    const end = memory.buffer.byteLength / PAGE_SIZE;
    memory.grow(2); // the module's own growth: 32 pages
    mem.refresh();
    pages.adoptGrowth();
    assert.equal(pages.stats().reservePages, 0);
    assert.equal(pages.stats().foreignPages, 32, "only the module's pages are foreign");
    assert.equal(pages.top, end + 32);
    assert.equal(pages.ownerOf((end - 1) * PAGE_SIZE), 0, "the last reserve page is a free page of the heap");
    assertClean(pages, "a module's growth after a trim");
    const big = pages.allocRun(reserve - 40, OWNER);
    assert.ok(big >= 0 && big + reserve - 40 <= end, "the reserve serves the heap below the module's pages");
    assertClean(pages, "allocating from the reclaimed reserve");
  });

  test("a heap over the default memory is back to its starting footprint after a million small blocks and trim()", () => {
    const heap = createHeap({ maxBytes: 256 * MiB });
    const start = heap.stats().footprintBytes;
    const ptrs = new Float64Array(1_000_000);
    for (let i = 0; i < ptrs.length; i++) ptrs[i] = heap.malloc(16);
    for (let i = 0; i < ptrs.length; i++) heap.free(ptrs[i]);
    heap.trim();
    assert.equal(heap.stats().footprintBytes, start);
    assert.ok(heap.stats().pageHeap.reservePages > 0);
    assert.deepEqual(heap.check("full").problems, []);
    const last = ptrs[ptrs.length - 1]; // in a region given back
    assert.ok(last >= heap.stats().pageHeap.topPages * PAGE_SIZE);
    assert.throws(() => heap.free(last), (error: unknown) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    assert.deepEqual(heap.check("full").problems, [], "the refused free changed nothing");
    for (let i = 0; i < ptrs.length; i++) ptrs[i] = heap.malloc(16);
    assert.deepEqual(heap.check("full").problems, [], "the same million again, from the reserve");
    for (let i = 0; i < ptrs.length; i++) heap.free(ptrs[i]);
    heap.trim();
    assert.ok(heap.stats().footprintBytes - start <= LEAF_PAGES * PAGE_SIZE, "at most a leaf above the start the second time");
    assert.deepEqual(heap.check("full").problems, []);
  });
});

describe("page heap: dirty pages", () => {
  test("pages never written are clean; allocated pages are dirty, also after they are freed", () => {
    const { mem, pages } = makePageHeap(64 << 10, 4 * MiB);
    const page = pages.allocRun(40, OWNER); // grows: the new pages were never written
    assert.ok(pages.isClean(page + 40, pages.top - page - 40), "the rest of the growth is clean");
    assert.equal(pages.isClean(page, 1), false);
    assert.equal(pages.isClean(page + 39, 1), false);
    mem.u8.fill(0xcd, page * PAGE_SIZE, (page + 40) * PAGE_SIZE);
    pages.allocRun(1, OWNER); // keeps the run from being the top
    pages.freeRun(page);
    assert.equal(pages.isClean(page, 40), false, "freed pages keep their data");
    const again = pages.allocRun(40, OWNER, true);
    assert.equal(again, page);
    assert.ok(mem.u8.subarray(page * PAGE_SIZE, (page + 40) * PAGE_SIZE).every((byte) => byte === 0), "zero clears written pages");
  });

  test("pages given back to the engine are clean when the memory grows over them again", () => {
    const { mem, pages } = makePageHeap(64 << 10, 4 * MiB, 16);
    const page = pages.allocRun(64, OWNER);
    mem.u8.fill(0xee, page * PAGE_SIZE, (page + 64) * PAGE_SIZE);
    pages.freeRun(page);
    pages.trimTop();
    assert.ok(pages.top <= page);
    const small = pages.allocRun(1, OWNER); // grows by at least the growth step
    assert.equal(small, page);
    assert.ok(pages.top > page + 1);
    assert.ok(pages.isClean(page + 1, pages.top - page - 1));
    assert.ok(mem.u8.subarray((page + 1) * PAGE_SIZE, pages.top * PAGE_SIZE).every((byte) => byte === 0));
  });

  test("calloc through mmap returns zeros from fresh pages and from reused ones", () => {
    const heap = createHeap({ backends: [mmapBackend], maxBytes: 64 * MiB });
    const size = 256 << 10;
    const fresh = heap.calloc(1, size);
    assert.ok(fresh > 0);
    assert.ok(heap.u8.subarray(fresh, fresh + size).every((byte) => byte === 0));
    assert.equal(heap.pages.isClean(fresh / PAGE_SIZE, size / PAGE_SIZE), false, "handed out: dirty now");
    heap.u8.fill(0x5a, fresh, fresh + size);
    const guard = heap.malloc(1); // keeps the freed run inside the memory
    heap.free(fresh);
    const reused = heap.calloc(size / 8, 8);
    assert.equal(reused, fresh, "the same pages");
    assert.ok(heap.u8.subarray(reused, reused + size).every((byte) => byte === 0), "written pages were cleared");
    heap.free(reused);
    heap.free(guard);
    assert.ok(heap.check().ok);
  });
});

describe("page heap: random runs against a model", () => {
  test("2000 seeded steps of alloc and free keep check() clean and agree with the model", () => {
    const maxBytes = 16 * MiB;
    const { mem, pages } = makePageHeap(64 << 10, maxBytes, 16);
    const random = new Random(20240601);
    const owned = new Map<number, number>(); // page -> page-map entry, for our runs
    const live: Array<{ page: number; count: number; owner: number }> = [];
    let livePages = 0;
    let nextId = 1;
    let exhausted = 0;
    const maxPages = maxBytes / PAGE_SIZE;

    const isMetadata = (page: number) => (pages.ownerOf(page * PAGE_SIZE) & KIND_MASK) === PageKind.metadata && !owned.has(page);
    // The free runs the model sees: [first page, length] between our runs and metadata.
    const freeRuns = (): Array<[number, number]> => {
      const runs: Array<[number, number]> = [];
      let start = -1;
      for (let page = 0; page <= pages.top; page++) {
        const taken = page === pages.top || owned.has(page) || isMetadata(page);
        if (taken && start >= 0) {
          runs.push([start, page - start]);
          start = -1;
        } else if (!taken && start < 0) start = page;
      }
      return runs;
    };
    // The page heap's list of a run length (see page_heap.ts): exact to 24 pages, then by powers of two.
    const listOf = (length: number) => length <= 24 ? length - 1 : Math.min(31, 24 + 27 - Math.clz32(length - 1));
    // Best fit by list: the fitting runs in the shortest list that holds one.
    const expectedFits = (count: number): Set<number> => {
      const fits = freeRuns().filter(([, length]) => length >= count);
      const best = Math.min(...fits.map(([, length]) => listOf(length)));
      return new Set(fits.filter(([, length]) => listOf(length) === best).map(([page]) => page));
    };

    for (let step = 0; step < 2000; step++) {
      const allocate = live.length === 0 || (livePages < 2000 && random.next() < 0.55);
      if (allocate) {
        const count = random.next() < 0.03 ? 200 + random.int(800) : 1 + random.int(32);
        const owner = entry(nextId++ & 0xffff);
        const expected = expectedFits(count);
        const page = pages.allocRun(count, owner);
        if (page < 0) {
          // Only when neither a free run nor growth up to maxBytes can hold it.
          let topFree = 0;
          while (topFree < pages.top && !owned.has(pages.top - 1 - topFree) && !isMetadata(pages.top - 1 - topFree)) topFree++;
          assert.equal(expected.size, 0, `step ${step}: allocRun(${count}) failed though a run fits`);
          assert.ok(maxPages - pages.top + topFree < count + 4 * LEAF_PAGES, `step ${step}: allocRun(${count}) failed below maxBytes`);
          exhausted++;
          continue;
        }
        if (expected.size > 0) assert.ok(expected.has(page), `step ${step}: allocRun(${count}) took ${page}, not a best fit`);
        for (let i = 0; i < count; i++) {
          assert.ok(!owned.has(page + i), `step ${step}: page ${page + i} handed out twice`);
          owned.set(page + i, owner);
        }
        live.push({ page, count, owner });
        livePages += count;
      } else {
        const index = random.int(live.length);
        const { page, count } = live[index];
        live[index] = live[live.length - 1];
        live.pop();
        assert.equal(pages.freeRun(page), count, `step ${step}: freeRun returns the run's pages`);
        for (let i = 0; i < count; i++) owned.delete(page + i);
        livePages -= count;
      }
      assertClean(pages, `step ${step}`);
      const stats = pages.stats();
      assert.equal(stats.usedPages, livePages + stats.metadataPages, `step ${step}: used pages`);
      assert.equal(stats.usedPages + stats.freePages, stats.topPages, `step ${step}: every page is used or free`);
      assert.equal(mem.byteLength, stats.topPages * PAGE_SIZE, `step ${step}: the heap covers the memory`);
      for (const run of live) assert.equal(pages.runPages(run.page), run.count, `step ${step}: run at ${run.page}`);
      if (step % 100 === 99) {
        for (let page = 0; page < pages.top; page++) {
          const found = pages.ownerOf(page * PAGE_SIZE);
          const expected = owned.get(page) ?? (isMetadata(page) ? found : 0);
          assert.equal(found, expected, `step ${step}: owner of page ${page}`);
        }
      }
    }
    assert.ok(pages.stats().growCount > 0 && pages.stats().shrinkCount > 0, "the run grew and shrank the memory");
    assert.ok(exhausted < 20, `${exhausted} allocations found the memory full`);
    for (const run of live) pages.freeRun(run.page);
    pages.trimTop();
    assert.equal(pages.stats().usedPages, pages.stats().metadataPages);
    assertClean(pages, "freeing everything");
  });
});

describe("page heap: small and large areas", () => {
  // Two areas from a heap that may grow to 64 MiB: a 256 MiB heap costs address space only.
  const SMALL = entry(1, PageKind.pool);
  const LARGE = entry(2, PageKind.mmap);

  test("small runs fill their chunk and leave the hole of a freed large run whole", () => {
    const { pages } = makePageHeap(64 << 10, 256 * MiB, 16);
    const first = pages.allocRun(8, SMALL); // claims a chunk
    const hole = pages.allocRun(300, LARGE);
    const keep = pages.allocRun(300, LARGE); // keeps the hole off the top
    pages.freeRun(hole);
    const small: number[] = [];
    for (let i = 0; i < 30; i++) small.push(pages.allocRun(8, SMALL)); // 240 pages: the rest of the chunk
    for (const page of small) assert.ok(page >= first && page < first + 256, `small run at ${page} lies outside the chunk at ${first}`);
    assert.equal(pages.allocRun(300, LARGE), hole, "the freed large run's pages are whole again");
    assertClean(pages, "small runs beside a large hole");
    for (const page of small) pages.freeRun(page);
    pages.freeRun(first);
    pages.freeRun(hole);
    pages.freeRun(keep);
    assertClean(pages, "freeing everything");
  });

  test("without growth a small run takes no large-area pages where a grown chunk would serve it", () => {
    const { mem, pages } = makePageHeap(64 << 10, 256 * MiB, 16);
    pages.freeRun(pages.allocRun(300, LARGE)); // 300 large-area pages, free, less than a chunk beside the rest
    const length = mem.byteLength;
    const before = pages.stats();
    assert.equal(pages.allocRun(8, SMALL, false, false), -1, "a chunk would need growth");
    assert.equal(mem.byteLength, length);
    assert.deepEqual(pages.stats(), before);
    assert.ok(pages.allocRun(8, SMALL) >= 0);
    assertClean(pages, "a small run without growth");
  });

  test("a chunk grown for counts toward the growth's slack: the memory grows by a chunk, not a chunk and a step", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const mem = new LinearMemory(memory, 256 * MiB);
    const pages = new PageHeap(mem);
    pages.format(HEADER_PAGES, (256 * MiB) / PAGE_SIZE, 16);
    // Fill the memory to 8 MiB with large runs, then ask for a small run: the small area claims a chunk by growth.
    while (pages.top * PAGE_SIZE < 8 * MiB) assert.ok(pages.allocRun(64 + 1, LARGE) >= 0);
    while (pages.stats().freePages >= 65) assert.ok(pages.allocRun(65, LARGE) >= 0);
    const top = pages.top;
    assert.ok(pages.allocRun(8, SMALL) >= 0);
    // A step would be an eighth of the heap (256 pages here) on top of the chunk's 256.
    assert.ok(pages.top - top <= 256 + 16, `grew ${pages.top - top} pages for a chunk from ${top}`);
    assertClean(pages, "a chunk grown for");
  });

  test("a large run that needs the small area's free pages gets them", () => {
    const maxBytes = 64 * MiB;
    const { pages } = makePageHeap(64 << 10, maxBytes, 16);
    pages.freeRun(pages.allocRun(8, SMALL)); // the chunk stays, free, in the small area
    const left = maxBytes / PAGE_SIZE - pages.stats().usedPages - (maxBytes / (4 * MiB) - 1) * LEAF_PAGES;
    const all = pages.allocRun(left, LARGE);
    assert.ok(all >= 0, `allocRun(${left}): every page left`);
    assert.equal(pages.stats().freePages, 0);
    assertClean(pages, "the small area given back");
  });

  test("3000 seeded steps of small and large runs keep check() clean and hand no page out twice", () => {
    const { pages } = makePageHeap(64 << 10, 256 * MiB, 16);
    const random = new Random(15);
    const owned = new Set<number>();
    const live: Array<{ page: number; count: number }> = [];
    let livePages = 0;
    for (let step = 0; step < 3000; step++) {
      if (live.length === 0 || (livePages < 40000 && random.next() < 0.55)) { // at most about 60% of the pages live
        const count = random.next() < 0.7 ? 1 + random.int(64) : 65 + random.int(960);
        const page = pages.allocRun(count, count <= 64 ? SMALL : LARGE);
        assert.ok(page >= 0, `step ${step}: allocRun(${count})`);
        for (let i = 0; i < count; i++) {
          assert.ok(!owned.has(page + i), `step ${step}: page ${page + i} handed out twice`);
          owned.add(page + i);
        }
        live.push({ page, count });
        livePages += count;
      } else {
        const index = random.int(live.length);
        const { page, count } = live[index];
        live[index] = live[live.length - 1];
        live.pop();
        assert.equal(pages.freeRun(page), count);
        for (let i = 0; i < count; i++) owned.delete(page + i);
        livePages -= count;
      }
      if (step % 500 === 499) assertClean(pages, `step ${step}`);
    }
    for (const { page } of live) pages.freeRun(page);
    assert.equal(pages.stats().usedPages, pages.stats().metadataPages);
    assertClean(pages, "freeing everything");
  });
});
