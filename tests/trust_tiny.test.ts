// Issue 15 (items 1, 4, 8): what an adversarial review broke in tiny and the
// pool's free lists. Alignment as C promises it, a double free from another
// worker refused, and a write after free that can never turn malloc into a
// wild pointer or a block handed out twice.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attachHeap, createHeap, HakmemError, type Heap, type HeapConfig } from "../mod.ts";

const MiB = 1 << 20;

describe("alignment as C's malloc gives it", () => {
  const setups: [string, HeapConfig][] = [
    ["default heap", {}],
    ["tiny cache off", { tinyCache: false }],
    ['slabSource "legacy"', { slabSource: "legacy" }],
    ["debug mode", { debug: true }],
  ];
  for (const [name, config] of setups) {
    test(`${name}: every size up to 4 KiB is 8-aligned, 16-aligned from 16 bytes`, () => {
      const heap = createHeap({ maxBytes: 256 * MiB, ...config });
      const live: number[] = [];
      // Two blocks of each size, so a class's second block (base + size) is checked too.
      for (let size = 1; size <= 4096; size++) {
        for (let copy = 0; copy < 2; copy++) {
          const ptr = heap.malloc(size);
          const alignment = size >= 16 ? 16 : 8;
          if (ptr % alignment !== 0) assert.fail(`${name}: malloc(${size}) = ${ptr}, not ${alignment}-aligned`);
          live.push(ptr);
        }
      }
      for (const ptr of live) heap.free(ptr);
      assert.deepEqual(heap.check("full").problems, []);
    });
  }

  test("Float64Array and BigInt64Array views fit every tiny block", () => {
    const heap = createHeap();
    for (let size = 8; size <= 1024; size += 8) {
      const ptr = heap.malloc(size);
      heap.typed(Float64Array, ptr, size / 8).fill(1.5);
      heap.view(BigInt64Array, ptr, size / 8);
    }
  });
});

/** Two heap objects over one SharedArrayBuffer in this thread: they act as two workers, deterministically. */
function twoWorkers(config: HeapConfig = {}): [Heap, Heap] {
  const memory = new SharedArrayBuffer(4 * MiB, { maxByteLength: 64 * MiB });
  const a = createHeap({ memory, maxBytes: 64 * MiB, ...config });
  const { debug: _debug, ...rest } = config;
  return [a, attachHeap(memory, { maxBytes: 64 * MiB, ...rest })];
}

function code(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (error instanceof HakmemError) return error.code;
    throw error;
  }
  return "no error";
}

function clean(...heaps: Heap[]): void {
  for (const heap of heaps) assert.deepEqual(heap.check("full").problems, []);
}

describe("a double free from another worker is refused", () => {
  for (const tinyCache of [true, false]) {
    const mode = tinyCache ? "cache on" : "cache off";
    test(`${mode}: A frees, then B frees: DOUBLE_FREE, and A never hands the block out twice`, () => {
      const [a, b] = twoWorkers({ tinyCache });
      const keep = a.malloc(40); // the slab stays in use
      const ptr = a.malloc(40);
      a.free(ptr);
      assert.equal(code(() => b.usableSize(ptr)), "INVALID_POINTER", "usableSize of a freed block: a use after free");
      assert.equal(code(() => b.realloc(ptr, 5000)), "INVALID_POINTER", "realloc of a freed block: a use after free");
      assert.equal(code(() => b.realloc(ptr, 40)), "INVALID_POINTER", "realloc in place of a freed block");
      assert.equal(code(() => b.free(ptr)), "DOUBLE_FREE");
      assert.equal(code(() => a.free(ptr)), "DOUBLE_FREE", "and the first worker's own second free");
      clean(a, b);
      const blocks = new Set<number>([keep]);
      for (let i = 0; i < 600; i++) {
        const fresh = a.malloc(40);
        assert.ok(!blocks.has(fresh), `block ${fresh} handed out twice`);
        blocks.add(fresh);
      }
      clean(a, b);
    });

    test(`${mode}: B frees A's block, then either frees it again: DOUBLE_FREE`, () => {
      const [a, b] = twoWorkers({ tinyCache });
      const first = a.malloc(100);
      const second = a.malloc(100);
      b.free(first); // a remote free, legal
      assert.equal(code(() => a.free(first)), "DOUBLE_FREE");
      assert.equal(code(() => b.free(first)), "DOUBLE_FREE");
      b.free(second);
      a.malloc(100); // A collects its remote frees when its slab runs dry; the check holds either way
      assert.equal(code(() => b.free(second)), "DOUBLE_FREE");
      clean(a, b);
    });

    test(`${mode}: a block of a worker that left (its slab orphaned): B's second free is refused`, () => {
      const [a, b] = twoWorkers({ tinyCache });
      a.malloc(64); // the slab stays in use, so it is orphaned rather than released
      const ptr = a.malloc(64);
      a.free(ptr);
      a.detach();
      assert.equal(code(() => b.free(ptr)), "DOUBLE_FREE");
      assert.equal(code(() => b.usableSize(ptr)), "INVALID_POINTER");
      clean(b);
    });
  }
});
