// Where the page heap's two areas and exact growth plans (issue 15 items 2, 3) meet a heap that starts at a base and
// memory a WASM module grows behind the heap's back (issue 16): the small area's lists are header words of the heap at
// its base, chunks and growth never take a foreign page, and a request that fits still succeeds on its first try.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap } from "../mod.ts";
import { type CheckProblem, PageHeap } from "../memory/page_heap.ts";
import { LinearMemory } from "../memory/linear_memory.ts";
import { FOREIGN_ENTRY, H_SMALL_FREE_BITMAP, HEADER_PAGES, LEAF_PAGES, PAGE_SIZE, PageKind, REGION_PAGES } from "../memory/layout.ts";

const MiB = 1 << 20;
const WASM_PAGE = 65536;

/** Every block's pages, as [first page, end page) of its run, must miss every foreign run of the heap. */
function foreignRuns(heap: Heap): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  heap.pages.forEachRun((page, pages, owner) => {
    if (owner === FOREIGN_ENTRY) runs.push([page, page + pages]);
  });
  return runs;
}

describe("areas at a base", () => {
  for (const kind of ["ArrayBuffer", "WebAssembly.Memory"] as const) {
    test(`${kind}: a heap at a base with both areas keeps the small area's lists in its own header, not below the base`, () => {
      const base = 6 * MiB + 3 * PAGE_SIZE;
      const maxBytes = 128 * MiB; // two areas from 64 MiB
      const memory = kind === "ArrayBuffer"
        ? new ArrayBuffer(base + 64 * 1024, { maxByteLength: maxBytes })
        : new WebAssembly.Memory({ initial: Math.ceil((base + 64 * 1024) / WASM_PAGE), maximum: maxBytes / WASM_PAGE });
      const buffer = () => memory instanceof WebAssembly.Memory ? memory.buffer : memory;
      const pattern = (at: number) => (at * 13 + 5) & 255;
      const below = new Uint8Array(buffer());
      for (let at = 0; at < base; at++) below[at] = pattern(at);
      const heap = createHeap({ memory, base, maxBytes });
      const small: number[] = [];
      const large: number[] = [];
      for (let i = 0; i < 60; i++) {
        small.push(heap.malloc(9000)); // pool spans: small runs, from a chunk
        large.push(heap.malloc(300000 + i * PAGE_SIZE)); // mmap blocks: large runs
      }
      for (const ptr of [...small, ...large]) assert.ok(ptr >= base, `block ${ptr} lies below the base ${base}`);
      // The pool's spans lie in chunks of 1 MiB, apart from the large blocks between them.
      const chunkStart = Math.min(...small) - (Math.min(...small) % PAGE_SIZE);
      for (const ptr of small) assert.ok(ptr - chunkStart < 2 * MiB, `span block ${ptr} is not in the first chunks at ${chunkStart}`);
      for (const ptr of large.filter((_, i) => i % 2 === 0)) heap.free(ptr);
      for (const ptr of small) heap.free(ptr);
      heap.trim();
      assert.deepEqual(heap.check("full").problems, []);
      assert.deepEqual(heap.check("cheap").problems, []);
      const h = heap.mem.header;
      assert.equal(heap.mem.i32[h + H_SMALL_FREE_BITMAP] !== 0, true, "the small area's free runs are listed in the heap's header");
      const after = new Uint8Array(buffer());
      for (let at = 0; at < base; at++) if (after[at] !== pattern(at)) assert.fail(`byte ${at} below the base changed`);
      for (const ptr of large.filter((_, i) => i % 2 === 1)) heap.free(ptr);
      assert.deepEqual(heap.check("full").problems, []);
    });
  }

  test("WebAssembly.Memory at a base: the largest block that fits below maxBytes succeeds on its first try, one page more fails", () => {
    for (const maxBytes of [16 * MiB, 128 * MiB]) {
      for (const base of [5 * MiB + 3 * PAGE_SIZE, 4 * MiB - 2 * PAGE_SIZE]) {
        for (const first of [0, 3000, 40000]) {
          const memory = new WebAssembly.Memory({ initial: Math.ceil((base + PAGE_SIZE) / WASM_PAGE), maximum: maxBytes / WASM_PAGE });
          const heap = createHeap({ memory, base, maxBytes });
          if (first > 0) assert.ok(heap.malloc(first) > 0);
          let end = 0;
          heap.pages.forEachRun((page, pages) => end = page + pages);
          const maxPages = heap.health().maxBytes / PAGE_SIZE;
          const regions = Math.ceil(maxPages / REGION_PAGES) - Math.ceil(heap.pages.top / REGION_PAGES);
          const largest = (maxPages - end - regions * LEAF_PAGES) * PAGE_SIZE;
          const what = `maxBytes ${maxBytes}, base ${base}, after ${first}`;
          assert.equal(heap.malloc(largest + PAGE_SIZE), 0, `${what}: one page more than fits`);
          const ptr = heap.malloc(largest);
          assert.ok(ptr >= base, `${what}: malloc(${largest}), all that is left, failed`);
          assert.deepEqual(heap.check("full").problems, []);
        }
      }
    }
  });
});

describe("areas beside foreign pages", () => {
  test("pages a module grows beside the small area stay foreign: no chunk, span or block is taken from them", () => {
    const maxBytes = 256 * MiB; // two areas; the blocks below never hold more than about 100 MiB
    const memory = new WebAssembly.Memory({ initial: 1, maximum: maxBytes / WASM_PAGE });
    const heap = createHeap({ memory, base: 2 * WASM_PAGE, maxBytes });
    const blocks: Array<[number, number]> = [];
    const taken: Array<[number, number]> = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 60; i++) {
        const size = [24, 900, 9000, 60000, 300000, MiB][i % 6];
        const ptr = heap.malloc(size);
        assert.ok(ptr > 0, `round ${round}: malloc(${size})`);
        blocks.push([ptr, size]);
      }
      for (let i = round % 2; i < blocks.length; i += 3) {
        if (blocks[i][0] !== 0) heap.free(blocks[i][0]);
        blocks[i][0] = 0;
      }
      const at = memory.grow(7) * WASM_PAGE; // the module's own pages, between the heap's growths
      new Uint8Array(memory.buffer).fill(0x3c, at, at + 7 * WASM_PAGE);
      taken.push([at, at + 7 * WASM_PAGE]);
    }
    for (let i = 0; i < 150; i++) {
      const size = [9000, 40000, MiB][i % 3];
      const ptr = heap.malloc(size);
      assert.ok(ptr > 0);
      blocks.push([ptr, size]);
    }
    for (const [ptr, size] of blocks) {
      if (ptr === 0) continue;
      for (const [start, end] of taken) assert.ok(ptr + size <= start || ptr >= end, `block ${ptr} lies in the module's ${start}..${end}`);
    }
    const stats = heap.stats();
    assert.equal(stats.pageHeap.foreignPages, (5 * 7 * WASM_PAGE) / PAGE_SIZE, "every page the module grew is foreign");
    assert.equal(foreignRuns(heap).length, 5);
    assert.deepEqual(heap.check("full").problems, []);
    const u8 = new Uint8Array(memory.buffer);
    for (const [start, end] of taken) for (let at = start; at < end; at++) if (u8[at] !== 0x3c) assert.fail(`module byte ${at} changed`);
    for (const [ptr] of blocks) if (ptr !== 0) heap.free(ptr);
    assert.deepEqual(heap.check("full").problems, []);
    assert.equal(heap.stats().liveBlocks, 0);
  });
});

describe("growth that needs no new leaf", () => {
  test("with the last page in use and a free run of 2049 pages or more elsewhere, growth leaves that run whole", () => {
    // A resizable ArrayBuffer whose leaves outlive a shrink: growing back into their regions needs no leaf.
    const maxBytes = 256 * MiB;
    const mem = new LinearMemory(new ArrayBuffer(64 << 10, { maxByteLength: maxBytes }), maxBytes);
    const pages = new PageHeap(mem);
    pages.format(HEADER_PAGES, maxBytes / PAGE_SIZE, 16);
    const LARGE = 2 * 64 + PageKind.mmap; // a page-map entry as the mmap backend writes one: a record offset plus the kind
    const clean = (when: string) => {
      const problems: CheckProblem[] = [];
      pages.check(problems);
      assert.deepEqual(problems, [], `check() after ${when}`);
    };
    const hole = pages.allocRun(2100, LARGE);
    const keep = pages.allocRun(1, LARGE);
    const high = pages.allocRun(6000, LARGE);
    pages.freeRun(high); // the memory shrinks; the leaves of the regions above stay
    const spare = pages.stats().freePages;
    if (spare > 0) assert.ok(pages.allocRun(spare, LARGE) >= 0); // the last page in use
    pages.freeRun(hole); // 2100 free pages: the longest free list
    clean("the setup");
    const grown = pages.allocRun(3000, LARGE);
    assert.ok(grown > keep, `allocRun(3000) grew the memory: ${grown}`);
    clean("growth with no new leaf"); // a zero-page take of the long run wrote 0 over its first tag
  });
});
