// A heap whose own bookkeeping was overwritten (issue 15, item 9): the header,
// a page-map leaf, a slab or span record, the free-list heads, the backends'
// header areas, each with 0xFF, 0x41 and seeded random bytes, on heaps with
// live blocks. check("full") and check("cheap") must answer (no exception, no
// endless walk) with ok false and the damage as problems, and change nothing;
// attachHeap must refuse such memory with a HakmemError of a damage code, or
// attach a heap whose own check() reports the damage; inspect() must refuse
// to draw a heap whose header is damaged. Also: a copy of a heap cut short,
// and a detached ArrayBuffer, given as memory.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachHeap, createHeap, type Heap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { BACKEND_AREA_WORDS, backendAreaWord, DIR_WORD, H_FREE_BUCKETS, H_RECORD_FREE, HEADER_BYTES, PageKind } from "../memory/layout.ts";
import { RECORD_BYTES } from "../memory/records.ts";
import "../inspect/mod.ts"; // heap.inspect()

const MiB = 1 << 20;
const PATTERNS = ["0xFF", "0x41", "random"] as const;
type Pattern = typeof PATTERNS[number] | "0x00";

/** A heap with live and freed blocks of every backend, in memory of `kind`. */
function heapWithBlocks(shared: boolean): { heap: Heap; memory: ArrayBuffer | SharedArrayBuffer; tiny: number; pool: number } {
  const memory = shared ? new SharedArrayBuffer(MiB, { maxByteLength: 64 * MiB }) : new ArrayBuffer(MiB, { maxByteLength: 64 * MiB });
  const heap = createHeap({ memory, maxBytes: 64 * MiB });
  const blocks: number[] = [];
  for (let i = 0; i < 200; i++) blocks.push(heap.malloc((i * 37) % 3000 + 1));
  blocks.push(heap.malloc(300000));
  for (let i = 0; i < 200; i += 3) heap.free(blocks[i]);
  return { heap, memory, tiny: blocks[1], pool: blocks[100] };
}

/** Overwrites bytes [from, to) of `memory` with `pattern` (the random one seeded, so every run writes the same). */
function overwrite(memory: ArrayBuffer | SharedArrayBuffer, from: number, to: number, pattern: Pattern): void {
  const u8 = new Uint8Array(memory, 0, memory.byteLength);
  let seed = 12345;
  for (let i = from; i < to; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    u8[i] = pattern === "0x00" ? 0 : pattern === "0xFF" ? 0xff : pattern === "0x41" ? 0x41 : seed >>> 16 & 255;
  }
}

/** What to overwrite: [name, byte ranges to write over given the heap]. */
const TARGETS: Array<[string, (heap: Heap, tiny: number, pool: number) => Array<[number, number]>]> = [
  ["the header past its magic and version", () => [[8, HEADER_BYTES]]],
  ["the header's page-heap words", () => [[8, DIR_WORD * 4]]],
  ["the page-map leaf of region 0", (heap) => {
    const leaf = heap.mem.u32[DIR_WORD];
    return [[leaf, leaf + 5 * 4096]];
  }],
  ["a tiny slab's record", (heap, tiny) => {
    const record = heap.pages.ownerOf(tiny) & ~7;
    return [[record, record + RECORD_BYTES]];
  }],
  ["a pool span's record", (heap, _tiny, pool) => {
    const record = heap.pages.ownerOf(pool) & ~7;
    return [[record, record + RECORD_BYTES]];
  }],
  [
    "the free-list heads (page runs and records)",
    () => [[H_RECORD_FREE * 4, H_RECORD_FREE * 4 + 4], [H_FREE_BUCKETS * 4, (H_FREE_BUCKETS + 32) * 4]],
  ],
  ["the backends' header areas", () =>
    [PageKind.tiny, PageKind.pool, PageKind.mmap].map((kind): [number, number] => [
      backendAreaWord(kind) * 4,
      (backendAreaWord(kind) + BACKEND_AREA_WORDS) * 4,
    ])],
];

/** The codes attachHeap may answer damaged memory with. */
const DAMAGE_CODES = ["NOT_A_HEAP", "LAYOUT_MISMATCH", "CORRUPTED", "INVALID_MEMORY"];

for (const shared of [false, true]) {
  describe(`a damaged heap (${shared ? "SharedArrayBuffer" : "ArrayBuffer"})`, () => {
    for (const [name, ranges] of TARGETS) {
      test(`${name} overwritten: check() reports it at both levels, attachHeap refuses or reports it`, () => {
        for (const pattern of PATTERNS) {
          const { heap, memory, tiny, pool } = heapWithBlocks(shared);
          assert.equal(heap.check("full").ok, true, "clean before");
          for (const [from, to] of ranges(heap, tiny, pool)) overwrite(memory, from, to, pattern);
          const before = new Uint8Array(memory, 0, memory.byteLength).slice();
          for (const level of ["full", "cheap"] as const) {
            const report = heap.check(level);
            assert.equal(report.ok, false, `${pattern}: check("${level}") saw the damage`);
            assert.ok(report.problems.length > 0, `${pattern}: check("${level}") names problems`);
            for (const problem of report.problems) assert.ok(typeof problem.where === "string" && typeof problem.message === "string");
          }
          assert.deepEqual(new Uint8Array(memory, 0, memory.byteLength), before, `${pattern}: check() changed nothing`);
          let attached: Heap | undefined;
          try {
            attached = attachHeap(memory, { maxBytes: 64 * MiB });
          } catch (error) {
            assert.ok(error instanceof HakmemError, `${pattern}: attachHeap threw ${error}`);
            assert.ok(DAMAGE_CODES.includes(error.code), `${pattern}: attachHeap answered ${error.code}: ${error.message}`);
          }
          if (attached) assert.equal(attached.check("full").ok, false, `${pattern}: the attached heap's check() saw the damage`);
        }
      });
    }
  });
}

describe("the reports of a heap whose header was overwritten", () => {
  test("inspect() refuses to draw it (CORRUPTED); stats(), health() and counters() still answer", () => {
    for (const pattern of PATTERNS) {
      const { heap, memory } = heapWithBlocks(false);
      overwrite(memory, 8, HEADER_BYTES, pattern);
      assert.throws(() => heap.inspect(), (error: unknown) => {
        assert.ok(error instanceof HakmemError, `${pattern}: ${error}`);
        assert.equal(error.code, "CORRUPTED", pattern);
        return true;
      });
      heap.stats();
      heap.health();
      heap.counters();
    }
  });
});

describe("memory that cannot hold the heap it names", () => {
  test("a copy of a heap cut short: INVALID_MEMORY, whatever the length", () => {
    const memory = new ArrayBuffer(MiB, { maxByteLength: 64 * MiB });
    const heap = createHeap({ memory, maxBytes: 64 * MiB });
    for (let i = 0; i < 100; i++) heap.malloc(i * 100 + 1);
    for (const length of [4, 8, 100, 4096, HEADER_BYTES, memory.byteLength / 2, memory.byteLength - 4096]) {
      assert.throws(() => attachHeap(memory.slice(0, length)), (error: unknown) => {
        assert.ok(error instanceof HakmemError, `${length} bytes: ${error}`);
        assert.equal(error.code, "INVALID_MEMORY", `${length} bytes: ${error.message}`);
        return true;
      });
    }
    assert.equal(attachHeap(memory.slice(0)).check("full").ok, true, "a whole copy attaches");
  });

  test("a detached ArrayBuffer: INVALID_MEMORY from createHeap and attachHeap", () => {
    const empty = new ArrayBuffer(MiB);
    empty.transfer();
    const memory = new ArrayBuffer(MiB, { maxByteLength: 4 * MiB });
    createHeap({ memory, maxBytes: 4 * MiB });
    memory.transfer();
    for (const [what, call] of [["createHeap", () => createHeap({ memory: empty })], ["attachHeap", () => attachHeap(memory)]] as const) {
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof HakmemError, `${what}: ${error}`);
        assert.equal(error.code, "INVALID_MEMORY", what);
        return true;
      });
    }
  });
});

/** Every C entry on `heap`: each returns, or throws a HakmemError (returned: the calls that threw something else). */
function callEveryEntry(heap: Heap, blocks: number[]): string[] {
  const calls: Array<[string, () => unknown]> = [];
  for (const size of [1, 100, 1000, 5000, 40000, 300000, 2 * MiB]) calls.push([`malloc(${size})`, () => heap.malloc(size)]);
  calls.push(["calloc(10, 100)", () => heap.calloc(10, 100)], ["alignedAlloc(4096, 5000)", () => heap.alignedAlloc(4096, 5000)]);
  for (const ptr of blocks) {
    calls.push([`usableSize(${ptr})`, () => heap.usableSize(ptr)], [`realloc(${ptr}, 7000)`, () => heap.realloc(ptr, 7000)]);
    calls.push([`free(${ptr})`, () => heap.free(ptr)]);
  }
  calls.push(["trim()", () => heap.trim()], ["stats()", () => heap.stats()], ["health()", () => heap.health()]);
  const wrong: string[] = [];
  for (const [what, call] of calls) {
    try {
      call();
    } catch (error) {
      if (!(error instanceof HakmemError)) wrong.push(`${what}: ${error}`);
    }
  }
  return wrong;
}

for (const shared of [false, true]) {
  describe(`the C API on a damaged heap (${shared ? "SharedArrayBuffer" : "ArrayBuffer"})`, () => {
    const targets: typeof TARGETS = [["the whole memory", (heap) => [[0, heap.mem.byteLength]]], ...TARGETS];
    for (const [name, ranges] of targets) {
      test(`${name} overwritten: every entry returns or throws a HakmemError, none loops for good`, () => {
        for (const pattern of ["0x00", ...PATTERNS] as const) {
          const { heap, memory, tiny, pool } = heapWithBlocks(shared);
          const mmap = heap.malloc(300000), freed = heap.malloc(2000);
          heap.free(freed);
          for (const [from, to] of ranges(heap, tiny, pool)) overwrite(memory, from, to, pattern);
          assert.deepEqual(callEveryEntry(heap, [tiny, pool, mmap, freed, 12345]), [], `${pattern}: only HakmemErrors`);
        }
      });
    }
  });
}

describe("a heap whose header was zeroed (a careless u8.fill(0))", () => {
  test("malloc of every backend, free, usableSize and realloc answer CORRUPTED, not out of memory or a foreign pointer", () => {
    for (const shared of [false, true]) {
      const { heap, memory, tiny, pool } = heapWithBlocks(shared);
      const big = heap.malloc(2 * MiB);
      new Uint8Array(memory, 0, memory.byteLength).fill(0);
      assert.equal(heap.health().ready, false, "health() is not ready");
      const refused = (what: string, call: () => unknown) =>
        assert.throws(call, (error: unknown) => {
          assert.ok(error instanceof HakmemError, `${what}: ${error}`);
          assert.equal(error.code, "CORRUPTED", `${what}: ${error.message}`);
          return true;
        });
      for (const size of [100, 5000, 40000, 300000, 2 * MiB]) refused(`malloc(${size})`, () => heap.malloc(size));
      for (const ptr of [tiny, pool, big]) {
        refused(`free(${ptr})`, () => heap.free(ptr));
        refused(`usableSize(${ptr})`, () => heap.usableSize(ptr));
        refused(`realloc(${ptr})`, () => heap.realloc(ptr, 9000));
      }
      refused("trim()", () => heap.trim());
    }
  });

  test("a zeroed page-map leaf: malloc is CORRUPTED and the WebAssembly.Memory does not grow for it", () => {
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 4096 });
    const heap = createHeap({ memory });
    heap.malloc(300000);
    heap.free(heap.malloc(600000));
    const before = memory.buffer.byteLength;
    const leaf = heap.mem.u32[DIR_WORD];
    new Uint8Array(memory.buffer).fill(0, leaf, leaf + 5 * 4096);
    assert.throws(() => heap.malloc(2 * MiB), (error: unknown) => {
      assert.ok(error instanceof HakmemError, String(error));
      assert.equal(error.code, "CORRUPTED", error.message);
      return true;
    });
    assert.equal(memory.buffer.byteLength, before, "no growth past a damaged free list (it had grown 2.4 MB)");
  });

  test("a tiny slab record zeroed under a live class: its next refill is CORRUPTED (it had looped for good)", () => {
    const heap = createHeap({ memory: new ArrayBuffer(MiB, { maxByteLength: 64 * MiB }), maxBytes: 64 * MiB });
    const first = heap.malloc(100);
    const record = heap.pages.ownerOf(first) & ~7;
    heap.u8.fill(0, record, record + RECORD_BYTES);
    let error: unknown;
    for (let i = 0; i < 10_000 && error === undefined; i++) {
      try {
        heap.malloc(100);
      } catch (thrown) {
        error = thrown;
      }
    }
    assert.ok(error instanceof HakmemError, `a refill of the class refused: ${error}`);
    assert.equal(error.code, "CORRUPTED");
    assert.match(error.message, /slab record .* is damaged/);
  });
});
