// check() finds what it claims to: each invariant the page heap, mmap and
// pool checks added for issue 8 is broken by hand (one word of the memory)
// and must be reported, then mended and must be clean again. check() itself
// changes nothing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap } from "../heap/heap.ts";
import {
  backendAreaWord,
  DIR_WORD,
  H_METADATA_PAGES,
  H_PEAK_USED_PAGES,
  H_USED_PAGES,
  LEAF_FLAGS,
  PAGE_DIRTY,
  PAGE_SHIFT,
  PAGE_SIZE,
  PageKind,
} from "../memory/layout.ts";

const MiB = 1 << 20;

/** Breaks the memory with `corrupt`, expects a problem matching `pattern` at `level`, mends it, expects none. */
function expectFound(heap: Heap, level: "cheap" | "full", pattern: RegExp, corrupt: () => () => void): void {
  assert.deepEqual(heap.check(level).problems, [], "clean before");
  const mend = corrupt();
  const before = heap.mem.u8.slice();
  const problems = heap.check(level).problems;
  assert.deepEqual(heap.mem.u8, before, "check() changed nothing");
  assert.ok(problems.some((problem) => pattern.test(problem.message)), `expected ${pattern}, got ${JSON.stringify(problems)}`);
  mend();
  assert.deepEqual(heap.check(level).problems, [], "clean after mending");
}

/** Adds `delta` to word `index`; returns the mend. */
function bump(heap: Heap, index: number, delta: number): () => () => void {
  return () => {
    heap.mem.i32[index] += delta;
    return () => heap.mem.i32[index] -= delta;
  };
}

function heapWithBlocks(): { heap: Heap; tiny: number; pool: number; mmap: number } {
  const heap = createHeap({ maxBytes: 64 * MiB });
  return { heap, tiny: heap.malloc(100), pool: heap.malloc(5000), mmap: heap.malloc(300000) };
}

describe("check(): the page heap", () => {
  test("a backend's page marked never written is reported (calloc would not clear it)", () => {
    const { heap, mmap } = heapWithBlocks();
    const page = (mmap >>> PAGE_SHIFT) + 1;
    const flags = heap.mem.u32[DIR_WORD + (page >>> 10)] + LEAF_FLAGS + (page & 1023);
    expectFound(heap, "full", /never written/, () => {
      heap.mem.u8[flags] &= ~PAGE_DIRTY;
      return () => heap.mem.u8[flags] |= PAGE_DIRTY;
    });
  });

  test("metadata pages counted wrong, a peak below the pages in use, a stray leaf", () => {
    const { heap } = heapWithBlocks();
    expectFound(heap, "full", /metadata pages counted/, bump(heap, H_METADATA_PAGES, 1));
    expectFound(
      heap,
      "full",
      /peak used pages/,
      bump(heap, H_PEAK_USED_PAGES, -heap.mem.i32[H_PEAK_USED_PAGES] + heap.mem.i32[H_USED_PAGES] - 1),
    );
    expectFound(heap, "full", /leaf of region 7/, () => {
      heap.mem.u32[DIR_WORD + 7] = 12345; // no page boundary, far from any metadata
      return () => heap.mem.u32[DIR_WORD + 7] = 0;
    });
  });
});

describe("check(): mmap", () => {
  const area = backendAreaWord(PageKind.mmap);

  test("cheap: allocs - frees must be the live blocks", () => {
    const { heap } = heapWithBlocks();
    expectFound(heap, "cheap", /allocs - .* frees != 1 live blocks/, bump(heap, area + 3, 1));
  });

  test("full: every page of an mmap block maps to the mmap kind alone", () => {
    const { heap, mmap } = heapWithBlocks();
    const page = (mmap >>> PAGE_SHIFT) + 2;
    expectFound(heap, "full", /maps to .*not to mmap/, () => {
      heap.pages.setOwner(page, 1, 64 | PageKind.mmap); // a record offset where mmap keeps none
      return () => heap.pages.setOwner(page, 1, PageKind.mmap);
    });
  });
});

describe("check(): pool", () => {
  const area = backendAreaWord(PageKind.pool);

  test("cheap: spans created - released must be the spans in the lists", () => {
    const { heap } = heapWithBlocks();
    expectFound(heap, "cheap", /spans created .* released != 1 counted by the lists/, bump(heap, area + 4, 1));
  });

  test("full: the empty mask says what the empty lists hold, a bit set or cleared by hand is found", () => {
    const { heap, pool } = heapWithBlocks();
    const masks = area + 9; // EMPTY_MASKS: shard 0's two words
    expectFound(heap, "full", /bit in the empty mask is set, and its empty list is empty/, bump(heap, masks + 1, 1 << 3));
    heap.free(pool); // into the heap object's block cache: its span still counts it
    assert.equal(heap.mem.i32[masks], 0);
    heap.trim(); // the block cache flushed: the span empties, and trim gives it back
    heap.free(heap.malloc(5000)); // a new span of class 5120 (index 8), cached block again
    // The cache flushed by hand (a private method: the test looks inside), so that only the span's empty list changes.
    (heap.router.backends.find((backend) => backend.capabilities.name === "pool") as unknown as { flushBlocks(): void }).flushBlocks();
    assert.equal(heap.mem.i32[masks], 1 << 8, "flushed, the span empties into the empty list of class 5120");
    expectFound(heap, "full", /its empty list holds spans its bit in the empty mask does not show/, bump(heap, masks, -(1 << 8)));
  });

  test("full: a span record whose base is not its run, and a record outside the metadata pages", () => {
    const { heap, pool } = heapWithBlocks();
    const record = (heap.pages.ownerOf(pool) & ~7) >>> 0;
    expectFound(heap, "full", /starts elsewhere|does not start a run/, bump(heap, (record >>> 2) + 1, PAGE_SIZE));
    assert.equal(heap.usableSize(pool), 5120);
  });

  test("usableSize and realloc refuse a freed pool block", () => {
    const { heap, pool } = heapWithBlocks();
    const keep = heap.malloc(5000);
    heap.free(pool);
    assert.throws(() => heap.usableSize(pool), /is free: used after it was freed/);
    assert.throws(() => heap.realloc(pool, 5001), /is free: used after it was freed/);
    heap.free(keep);
    assert.deepEqual(heap.check().problems, []);
  });
});
