// Issue 15 (items 1, 4, 8): what an adversarial review broke in tiny and the
// pool's free lists. Alignment as C promises it, a double free from another
// worker refused, and a write after free that can never turn malloc into a
// wild pointer or a block handed out twice.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type HeapConfig } from "../mod.ts";

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
