// Debug mode: guards checked on free (BUFFER_OVERFLOW naming the block, its
// size and its site), exact double-free detection even after a write after
// free, poisoning, allocation sites, the requested size kept in the block for
// another worker, the mode recorded in the heap and followed by attachHeap,
// and HAKMEM_DEBUG.
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { expectHakmemError as expectError } from "../testing/expect.ts";
import { attachHeap, createHeap, type Heap } from "../heap/heap.ts";
import { describe as describeValue } from "../core/errors.ts";
import { resetEnvironmentCache } from "../core/options.ts";
import { DEBUG_GUARD_BYTE, DEBUG_GUARD_BYTES, DEBUG_POISON_BYTE, DEBUG_TRAILER_BYTES } from "../debug/mod.ts";

const MiB = 1 << 20;
/** Sizes served by tiny, pool and mmap (and 0). */
const SIZES = [0, 1, 10, 100, 1000, 1001, 5000, 100000, 300000, 2 * MiB];

function debugHeap(memory?: SharedArrayBuffer): Heap {
  return createHeap({ debug: true, maxBytes: 64 * MiB, memory });
}

/** Where the trailer of the block at `ptr` starts: the end of the backend's block, less the trailer. */
function trailerOf(heap: Heap, ptr: number): number {
  return ptr + heap.router.usableSize(ptr) - DEBUG_TRAILER_BYTES;
}

describe("debug mode: guards", () => {
  test("a write one byte past the end is a BUFFER_OVERFLOW at free, naming the block, its size and its site", () => {
    const heap = debugHeap();
    for (const size of SIZES) {
      const ptr = heap.malloc(size, `site-${size}`);
      assert.ok(ptr > 0);
      assert.equal(heap.usableSize(ptr), size, "usableSize is the size asked for");
      heap.u8[ptr + size] = 0;
      const error = expectError(() => heap.free(ptr), "BUFFER_OVERFLOW", `free after writing byte ${size} of ${size}`);
      assert.equal(error.value, ptr);
      assert.ok(error.message.includes(describeValue(ptr)), `the message names the block: ${error.message}`);
      assert.ok(error.message.includes(`of ${size} bytes`), `the message names the size: ${error.message}`);
      assert.ok(error.message.includes(`site-${size}`), `the message names the site: ${error.message}`);
      // The block was not freed, and check() reports it.
      assert.equal(heap.usableSize(ptr), size);
      const problems = heap.check("full").problems;
      assert.equal(problems.length, 1, `check() reports the overflow: ${JSON.stringify(problems)}`);
      assert.equal(problems[0].where, "debug");
      expectError(() => heap.realloc(ptr, size + 10), "BUFFER_OVERFLOW", "realloc of the overflowed block");
      heap.u8[ptr + size] = DEBUG_GUARD_BYTE; // put the guard back: the block frees normally
      heap.free(ptr);
      assert.deepEqual(heap.check("full").problems, []);
    }
    assert.equal(heap.stats().liveBlocks, 0);
  });

  test("the last guard byte and the trailer are checked too", () => {
    const heap = debugHeap();
    for (const size of [10, 5000, 300000]) {
      const ptr = heap.malloc(size);
      const trailer = trailerOf(heap, ptr);
      assert.ok(trailer - (ptr + size) >= DEBUG_GUARD_BYTES, "at least the guard's bytes before the trailer");
      heap.u8[trailer - 1] ^= 1;
      expectError(() => heap.free(ptr), "BUFFER_OVERFLOW", "the guard byte just before the trailer");
      heap.u8[trailer - 1] ^= 1;
      heap.u8[trailer + 5] ^= 0x40; // the tag
      const error = expectError(() => heap.free(ptr), "BUFFER_OVERFLOW", "the trailer's tag");
      assert.match(error.message, /trailer/);
      assert.equal(heap.check("cheap").problems.length, 1, "check('cheap') reads the trailers");
      heap.u8[trailer + 5] ^= 0x40;
      heap.free(ptr);
    }
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("calloc, alignedAlloc and realloc blocks are guarded alike", () => {
    const heap = debugHeap();
    const zeroed = heap.calloc(10, 7);
    assert.ok(heap.u8.subarray(zeroed, zeroed + 70).every((byte) => byte === 0));
    assert.equal(heap.usableSize(zeroed), 70);
    const aligned = heap.alignedAlloc(4096, 100);
    assert.equal(aligned % 4096, 0);
    assert.equal(heap.usableSize(aligned), 100);
    for (const ptr of [zeroed, aligned]) {
      const size = heap.usableSize(ptr);
      heap.u8[ptr + size + 3] = 1;
      expectError(() => heap.free(ptr), "BUFFER_OVERFLOW", `free of ${ptr}`);
      heap.u8[ptr + size + 3] = DEBUG_GUARD_BYTE;
      heap.free(ptr);
    }
    assert.deepEqual(heap.check().problems, []);
  });
});

describe("debug mode: double frees and uses after free", () => {
  test("every double free is caught, even after a write after free wiped the backend's marker and the trailer", () => {
    const heap = debugHeap();
    for (const size of SIZES) {
      const keep = heap.malloc(size); // keeps the slab, span or pages around
      const ptr = heap.malloc(size);
      const end = ptr + heap.router.usableSize(ptr); // the backend's block, trailer included
      heap.free(ptr);
      expectError(() => heap.free(ptr), "DOUBLE_FREE", `second free of ${size} bytes`);
      // A write after free: the backend's freed marker (bytes 4..7) and everything after, trailer included.
      heap.u8.fill(0x11, ptr + 4, end);
      expectError(() => heap.free(ptr), "DOUBLE_FREE", `free after a write after free (${size} bytes)`);
      heap.free(keep);
    }
  });

  test("a double free names where the block was allocated", () => {
    const heap = debugHeap();
    const ptr = heap.malloc(48, "alloc-site");
    heap.free(ptr);
    const error = expectError(() => heap.free(ptr), "DOUBLE_FREE", "second free");
    assert.match(error.message, /48 bytes allocated at alloc-site/, error.message);
  });

  test("without a site, the caller's line is the site", () => {
    const heap = debugHeap();
    const ptr = heap.malloc(24);
    heap.u8[ptr + 24] = 0;
    const error = expectError(() => heap.free(ptr), "BUFFER_OVERFLOW", "overflow");
    assert.match(error.message, /allocated at .*debug\.test\.ts:\d+/, error.message);
    assert.doesNotMatch(error.message, /[/\\]debug\.ts:/, "not a frame of the debug layer");
    const grown = heap.realloc(heap.malloc(8), 16);
    heap.u8[grown + 16] = 0;
    assert.match(expectError(() => heap.free(grown), "BUFFER_OVERFLOW", "realloc'd").message, /debug\.test\.ts/);
  });

  test("a freed block used anywhere but free is INVALID_POINTER", () => {
    const heap = debugHeap();
    for (const size of SIZES) {
      const keep = heap.malloc(size);
      const ptr = heap.malloc(size);
      heap.free(ptr);
      expectError(() => heap.usableSize(ptr), "INVALID_POINTER", "usableSize");
      expectError(() => heap.realloc(ptr, 10), "INVALID_POINTER", "realloc");
      expectError(() => heap.typed(Uint8Array, ptr, 1), "INVALID_POINTER", "typed");
      heap.free(keep);
    }
    assert.deepEqual(heap.check().problems, []);
  });

  test("a block the backend holds free (cached, never handed out) is refused as free", () => {
    const heap = debugHeap();
    const first = heap.malloc(100);
    const cached = first + heap.router.usableSize(first); // refilled into tiny's cache, never returned by malloc
    expectError(() => heap.free(cached), "DOUBLE_FREE", "free of a cached block");
    assert.notEqual(heap.malloc(100), heap.malloc(100));
    assert.deepEqual(heap.check().problems, []);
  });

  test("realloc always moves, keeps the contents, and the old pointer is dead", () => {
    const heap = debugHeap();
    let size = 100;
    let ptr = heap.malloc(size);
    for (const next of [100, 50, 120, 3000, 400000, 100]) {
      for (let i = 0; i < size; i++) heap.u8[ptr + i] = (i * 7 + next) & 255;
      const moved = heap.realloc(ptr, next);
      assert.notEqual(moved, ptr, `realloc to ${next} moved the block`);
      assert.equal(heap.usableSize(moved), next);
      const u8 = heap.u8;
      for (let i = 0; i < Math.min(size, next); i++) {
        if (u8[moved + i] !== ((i * 7 + next) & 255)) assert.fail(`byte ${i} lost in realloc to ${next}`);
      }
      expectError(() => heap.free(ptr), "DOUBLE_FREE", "the old pointer");
      ptr = moved;
      size = next;
    }
    heap.free(ptr);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.deepEqual(heap.check().problems, []);
  });
});

describe("debug mode: poisoning", () => {
  test("freed bytes are filled with the poison byte", () => {
    const heap = debugHeap();
    for (const size of [40, 5000, 300000]) {
      const keep = heap.malloc(size);
      const ptr = heap.malloc(size);
      heap.u8.fill(0x42, ptr, ptr + size);
      heap.free(ptr);
      // The backend keeps its free-list link in the first 8 bytes; the rest is poison up to the trailer.
      const u8 = heap.u8;
      for (let i = 8; i < size; i++) {
        if (u8[ptr + i] !== DEBUG_POISON_BYTE) assert.fail(`byte ${i} of a freed ${size}-byte block is ${u8[ptr + i]}`);
      }
      heap.free(keep);
    }
  });
});

describe("debug mode: across workers", () => {
  test("another heap on the same memory sees the requested size and checks the guard", () => {
    const memory = new SharedArrayBuffer(MiB, { maxByteLength: 64 * MiB });
    const heap = debugHeap(memory);
    const other = attachHeap(memory, { maxBytes: 64 * MiB });
    assert.equal(other.options.debug, true, "the attached heap follows the heap's mode");
    for (const size of [10, 5000, 300000]) {
      const ptr = heap.malloc(size);
      assert.equal(other.usableSize(ptr), size, "the size is read from the block");
      heap.u8[ptr + size + 1] = 7;
      const error = expectError(() => other.free(ptr), "BUFFER_OVERFLOW", "a free from the other worker");
      assert.ok(error.message.includes(`of ${size} bytes`), error.message);
      heap.u8[ptr + size + 1] = DEBUG_GUARD_BYTE;
      other.free(ptr);
      expectError(() => heap.free(ptr), "DOUBLE_FREE", "a free by the first worker after the other freed it");
    }
    assert.deepEqual(heap.check().problems, [], "blocks another worker freed are not reported");
    assert.deepEqual(other.check().problems, []);
  });

  test("debug mode is the heap's: attachHeap follows the header, not its options", () => {
    const plain = new SharedArrayBuffer(MiB, { maxByteLength: 16 * MiB });
    createHeap({ memory: plain, maxBytes: 16 * MiB });
    const attached = attachHeap(plain, { maxBytes: 16 * MiB, debug: true });
    assert.equal(attached.options.debug, false);
    const ptr = attached.malloc(10);
    assert.ok(attached.usableSize(ptr) > 10, "no debug layer: the class size");
  });
});

describe("debug mode: HAKMEM_DEBUG", () => {
  test("HAKMEM_DEBUG=1 turns debug mode on for a heap without the option", () => {
    const saved = process.env.HAKMEM_DEBUG;
    try {
      process.env.HAKMEM_DEBUG = "1";
      resetEnvironmentCache();
      const heap = createHeap();
      assert.equal(heap.options.debug, true);
      const ptr = heap.malloc(10);
      assert.equal(heap.usableSize(ptr), 10);
      assert.equal(createHeap({ debug: false }).options.debug, false, "the option beats the environment");
    } finally {
      if (saved === undefined) delete process.env.HAKMEM_DEBUG;
      else process.env.HAKMEM_DEBUG = saved;
      resetEnvironmentCache();
    }
  });
});
