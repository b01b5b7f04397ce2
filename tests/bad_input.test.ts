// Every bad input at every public entry point: sizes, counts, alignments and
// pointers given to malloc, calloc, realloc, alignedAlloc, usableSize, free,
// typed and view, in the default mode and in debug mode; attachHeap on memory
// that holds no heap of this layout; createHeap with invalid options. Each
// gets its documented error code (docs/errors.md) or C-style return, and the
// heap is unchanged and check() clean afterwards.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { expectHakmemError as expectCode } from "../testing/expect.ts";
import { attachHeap, createHeap, type Heap, type HeapConfig } from "../heap/heap.ts";
import { type ErrorCode, HakmemError } from "../core/errors.ts";
import { OPTION_TABLE } from "../core/options.ts";
import { HEADER_BYTES, KIND_MASK, LAYOUT_VERSION, PAGE_SIZE, PageKind } from "../memory/layout.ts";
import { SLAB_BYTES } from "../backends/slab/slab.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import type { BackendContext } from "../router/box.ts";
import { FakeBackend } from "./_fakes.ts";
import { createPoolBackend } from "../backends/pool/mod.ts";
import { createTinyBackend } from "../backends/tiny/mod.ts";
import { wasmImports } from "../wasm/mod.ts";
import "../debug/mod.ts"; // debug mode, which half of these tests run in
import "../inspect/mod.ts"; // heap.inspect()

const MiB = 1 << 20;

/** A user backend whose blocks are only 4-aligned: page runs handed out 4 bytes past their start. */
class FourOffBackend extends FakeBackend {
  constructor(context: BackendContext) {
    super(context, "fourOff", Infinity);
    Object.assign(this, { capabilities: { ...this.capabilities, alignment: 4 } });
  }
  override alloc(size: number): number {
    const ptr = super.alloc(size + 4);
    return ptr === 0 ? 0 : ptr + 4;
  }
  override free(ptr: number): void {
    super.free(ptr - 4);
  }
  override owns(ptr: number): boolean {
    return super.owns(ptr - 4);
  }
  override usableSize(ptr: number): number {
    return super.usableSize(ptr - 4) - 4;
  }
}

/** The figures a refused call must leave as they were. */
function snapshot(heap: Heap): unknown {
  const stats = heap.stats();
  const counters = heap.counters();
  return {
    liveBlocks: stats.liveBlocks,
    liveBytes: stats.liveBytes,
    footprint: stats.footprintBytes,
    allocs: counters.allocs,
    frees: counters.frees,
  };
}

/** Runs `body`, then asserts the heap's figures did not move and check() is clean. */
function unchanged(heap: Heap, what: string, body: () => void): void {
  const before = snapshot(heap);
  body();
  assert.deepEqual(snapshot(heap), before, `${what} changed the heap`);
  assert.deepEqual(heap.check("full").problems, [], `check() after ${what}`);
}

const show = (value: unknown) => typeof value === "string" ? JSON.stringify(value) : String(value);

const BAD_SIZES = [NaN, Infinity, -Infinity, -1, -0.5, 1.5, 2 ** 53, Number.MAX_VALUE, "10", undefined, null] as unknown as number[];
/** Valid sizes no memory can hold: the C answer is 0. */
const HUGE_SIZES = [2 ** 40, 2 ** 32, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER];
const BAD_ALIGNMENTS = [0, 3, 6, 100, 4097, -8, 1.5, NaN, Infinity, 2 ** 32, 2 ** 53, "16"] as unknown as number[];

/** A heap with one live block of each backend and a block above them that keeps freed pages inside the memory. */
interface Fixture {
  heap: Heap;
  tiny: number;
  pool: number;
  mmap: number;
}

function fixture(debug: boolean): Fixture {
  const heap = createHeap({ maxBytes: 64 * MiB, debug });
  const tiny = heap.malloc(100);
  const pool = heap.malloc(5000);
  const mmap = heap.malloc(3 * PAGE_SIZE + 1);
  heap.malloc(MiB); // above the others
  return { heap, tiny, pool, mmap };
}

/** Pointers that name no block: [description, pointer, code]. */
function foreignPointers(heap: Heap): Array<[string, number, ErrorCode]> {
  const end = heap.stats().memoryBytes;
  return [
    ["8 (in the header)", 8, "INVALID_POINTER"],
    ["inside the header", HEADER_BYTES - PAGE_SIZE, "INVALID_POINTER"],
    ["the end of the memory", end, "INVALID_POINTER"],
    ["past the end", end + 3 * PAGE_SIZE, "INVALID_POINTER"],
    ["2^31", 2 ** 31, "INVALID_POINTER"],
    ["2^32", 2 ** 32, "INVALID_POINTER"],
    ["2^40", 2 ** 40, "INVALID_POINTER"],
    ["-4", -4, "INVALID_POINTER"],
    ["1.5", 1.5, "INVALID_POINTER"],
    ["NaN", NaN, "INVALID_POINTER"],
    ["Infinity", Infinity, "INVALID_POINTER"],
    ["a string", "4096" as unknown as number, "INVALID_POINTER"],
  ];
}

for (const debug of [false, true]) {
  const mode = debug ? "debug mode" : "default mode";

  describe(`bad input (${mode}): sizes and counts`, () => {
    test("malloc, calloc, realloc, alignedAlloc, typed and view refuse a size that is no size", () => {
      const { heap, tiny } = fixture(debug);
      for (const size of BAD_SIZES) {
        unchanged(heap, `sizes ${show(size)}`, () => {
          expectCode(() => heap.malloc(size), "INVALID_SIZE", `malloc(${show(size)})`);
          expectCode(() => heap.calloc(size, 1), "INVALID_SIZE", `calloc(${show(size)}, 1)`);
          expectCode(() => heap.calloc(1, size), "INVALID_SIZE", `calloc(1, ${show(size)})`);
          expectCode(() => heap.realloc(tiny, size), "INVALID_SIZE", `realloc(ptr, ${show(size)})`);
          expectCode(() => heap.realloc(0, size), "INVALID_SIZE", `realloc(0, ${show(size)})`);
          expectCode(() => heap.alignedAlloc(16, size), "INVALID_SIZE", `alignedAlloc(16, ${show(size)})`);
          expectCode(() => heap.typed(Uint8Array, tiny, size), "INVALID_SIZE", `typed(Uint8Array, ptr, ${show(size)})`);
          expectCode(() => heap.view(Uint8Array, tiny, size), "INVALID_SIZE", `view(Uint8Array, ptr, ${show(size)})`);
        });
      }
      assert.ok(heap.usableSize(tiny) >= 100, "the block survived");
    });

    test("sizes above every memory return 0 (C's NULL), and realloc keeps the old block", () => {
      const { heap, tiny, pool, mmap } = fixture(debug);
      heap.u8[mmap] = 42;
      for (const size of HUGE_SIZES) {
        unchanged(heap, `size ${size}`, () => {
          assert.equal(heap.malloc(size), 0, `malloc(${size})`);
          assert.equal(heap.calloc(size, 1), 0, `calloc(${size}, 1)`);
          assert.equal(heap.calloc(1, size), 0, `calloc(1, ${size})`);
          assert.equal(heap.alignedAlloc(16, size), 0, `alignedAlloc(16, ${size})`);
          assert.equal(heap.alignedAlloc(1 << 20, size), 0, `alignedAlloc(2^20, ${size})`);
          for (const ptr of [tiny, pool, mmap]) assert.equal(heap.realloc(ptr, size), 0, `realloc(${ptr}, ${size})`);
        });
      }
      unchanged(heap, "calloc overflow", () => {
        assert.equal(heap.calloc(2 ** 27, 2 ** 27), 0, "2^54 bytes: past the safe integers");
        assert.equal(heap.calloc(Number.MAX_SAFE_INTEGER, 2), 0);
        assert.equal(heap.calloc(2 ** 26, 2 ** 26), 0, "2^52 bytes");
      });
      assert.equal(heap.u8[mmap], 42, "the old block kept its contents");
    });

    test("typed and view refuse more elements than the block holds", () => {
      const { heap, tiny, pool } = fixture(debug);
      const usable = heap.usableSize(tiny);
      assert.equal(heap.typed(Uint8Array, tiny, usable).length, usable, "exactly the usable size is fine");
      unchanged(heap, "views too long", () => {
        expectCode(() => heap.typed(Uint8Array, tiny, usable + 1), "INVALID_SIZE", "one byte more");
        expectCode(() => heap.typed(Float64Array, pool, 5000), "INVALID_SIZE", "40000 bytes of a 5000-byte block");
        expectCode(() => heap.view(Uint32Array, tiny, 2 ** 40), "INVALID_SIZE", "2^40 elements");
      });
    });
  });

  describe(`bad input (${mode}): alignments`, () => {
    test("alignedAlloc refuses alignments that are not powers of two from 1 to 2^31", () => {
      const { heap } = fixture(debug);
      for (const alignment of BAD_ALIGNMENTS) {
        unchanged(heap, `alignment ${show(alignment)}`, () => {
          expectCode(() => heap.alignedAlloc(alignment, 64), "INVALID_ALIGNMENT", `alignedAlloc(${show(alignment)}, 64)`);
          expectCode(
            () => heap.alignedAlloc(alignment, NaN),
            "INVALID_ALIGNMENT",
            `alignedAlloc(${show(alignment)}, NaN): alignment first`,
          );
        });
      }
      unchanged(
        heap,
        "alignment 2^31",
        () => assert.equal(heap.alignedAlloc(2 ** 31, 1), 0, "a valid alignment no memory of 64 MiB can honour"),
      );
    });

    test("typed and view refuse a block not aligned to the element size", () => {
      // Every built-in block is 8-aligned: a user backend whose blocks sit 4 bytes past a page start makes the misaligned block.
      const heap = createHeap({
        maxBytes: 64 * MiB,
        debug,
        backends: [{ name: "fourOff", create: (context) => new FourOffBackend(context) }],
        routes: [{ min: 1, max: Infinity, backend: "fourOff" }],
        fallbacks: {},
      });
      const odd = heap.malloc(20);
      assert.equal(odd % 8, 4, "a block 4 bytes off an 8-byte boundary");
      assert.equal(heap.typed(Int32Array, odd, 1).length, 1, "4-byte elements fit");
      unchanged(heap, "misaligned views", () => {
        expectCode(() => heap.typed(Float64Array, odd, 1), "INVALID_ALIGNMENT", "a Float64Array on a 4-aligned block");
        expectCode(() => heap.view(BigInt64Array, odd, 1), "INVALID_ALIGNMENT", "a BigInt64Array view on a 4-aligned block");
      });
    });
  });

  describe(`bad input (${mode}): pointers`, () => {
    test("pointer 0: free does nothing, realloc allocates, the others refuse it", () => {
      const { heap } = fixture(debug);
      unchanged(heap, "pointer 0", () => {
        heap.free(0);
        heap.free(-0);
        expectCode(() => heap.usableSize(0), "INVALID_POINTER", "usableSize(0)");
        expectCode(() => heap.typed(Uint8Array, 0, 1), "INVALID_POINTER", "typed(0)");
        expectCode(() => heap.view(Uint8Array, 0, 1), "INVALID_POINTER", "view(0)");
      });
      const ptr = heap.realloc(0, 10);
      assert.ok(ptr > 0 && heap.usableSize(ptr) >= 10, "realloc(0, 10) is malloc(10)");
      heap.free(ptr);
    });

    test("pointers the heap never handed out", () => {
      const { heap } = fixture(debug);
      for (const [what, ptr, code] of foreignPointers(heap)) {
        unchanged(heap, `pointer ${what}`, () => {
          expectCode(() => heap.free(ptr), code, `free(${what})`);
          expectCode(() => heap.usableSize(ptr), code, `usableSize(${what})`);
          expectCode(() => heap.realloc(ptr, 10), code, `realloc(${what}, 10)`);
          expectCode(() => heap.typed(Uint8Array, ptr, 1), code, `typed(${what})`);
          expectCode(() => heap.view(Uint8Array, ptr, 1), code, `view(${what})`);
        });
      }
      // A free page the heap never used, and a tiny block never handed out.
      let untouched = heap.stats().memoryBytes - PAGE_SIZE;
      while (heap.pages.ownerOf(untouched) !== 0 || !heap.pages.isClean(untouched / PAGE_SIZE, 1)) untouched -= PAGE_SIZE;
      assert.ok(untouched > 0, "a free page never written");
      unchanged(heap, "a never-used page", () => expectCode(() => heap.free(untouched), "INVALID_POINTER", "free of a never-used page"));
    });

    test(
      "a pointer into a tiny slab no block was ever carved from: INVALID_POINTER",
      () => {
        const heap = createHeap({ maxBytes: 64 * MiB, debug });
        const first = heap.malloc(100); // the first block of slab 0 of a new SuperSlab
        const unused = first + 3 * SLAB_BYTES; // slab 3 of the same SuperSlab: never handed out
        assert.equal(heap.pages.ownerOf(unused) & KIND_MASK, PageKind.tiny);
        unchanged(heap, "a never-used slab", () => {
          expectCode(() => heap.free(unused), "INVALID_POINTER", "free");
          expectCode(() => heap.usableSize(unused), "INVALID_POINTER", "usableSize");
        });
      },
    );

    test(
      "a tiny block in the cache, never handed out: free says it is free already, usableSize INVALID_POINTER",
      () => {
        const heap = createHeap({ maxBytes: 64 * MiB, debug });
        const first = heap.malloc(100);
        const next = first + heap.router.usableSize(first); // the next block of the class, refilled into the cache
        unchanged(heap, "a cached block never handed out", () => {
          // A cached block is a free block: the heap cannot tell it was never handed out.
          expectCode(() => heap.free(next), "DOUBLE_FREE", "free");
          expectCode(() => heap.usableSize(next), "INVALID_POINTER", "usableSize");
        });
        assert.notEqual(heap.malloc(100), heap.malloc(100), "two allocations, two blocks");
      },
    );

    test("interior pointers", () => {
      const { heap, tiny, pool, mmap } = fixture(debug);
      const interior: Array<[string, number]> = [
        ["tiny + 1", tiny + 1],
        ["tiny + 4", tiny + 4],
        ["tiny + 64", tiny + 64],
        ["pool + 256", pool + 256],
        ["pool + 4999", pool + 4999],
        ["mmap + 8", mmap + 8],
        ["mmap + a page", mmap + PAGE_SIZE],
      ];
      for (const [what, ptr] of interior) {
        unchanged(heap, what, () => {
          expectCode(() => heap.free(ptr), "INTERIOR_POINTER", `free(${what})`);
          expectCode(() => heap.usableSize(ptr), "INTERIOR_POINTER", `usableSize(${what})`);
          expectCode(() => heap.realloc(ptr, 10), "INTERIOR_POINTER", `realloc(${what}, 10)`);
          expectCode(() => heap.typed(Uint8Array, ptr, 1), "INTERIOR_POINTER", `typed(${what})`);
          expectCode(() => heap.view(Uint8Array, ptr, 1), "INTERIOR_POINTER", `view(${what})`);
        });
      }
    });

    for (const kind of ["tiny", "pool", "mmap"] as const) {
      test(`a freed ${kind} block: free says DOUBLE_FREE`, () => {
        const blocks = fixture(debug);
        const { heap } = blocks;
        const ptr = blocks[kind];
        heap.free(ptr);
        unchanged(heap, `a second free of the ${kind} block`, () => expectCode(() => heap.free(ptr), "DOUBLE_FREE", "second free"));
        unchanged(heap, "a third", () => expectCode(() => heap.free(ptr), "DOUBLE_FREE", "third free"));
      });
      test(
        `a freed ${kind} block: usableSize, realloc, typed and view say INVALID_POINTER`,
        () => {
          const blocks = fixture(debug);
          const { heap } = blocks;
          const ptr = blocks[kind];
          heap.free(ptr);
          unchanged(heap, `uses of the freed ${kind} block`, () => {
            expectCode(() => heap.usableSize(ptr), "INVALID_POINTER", "usableSize");
            for (const size of [1, 100, 5000, 300000]) {
              expectCode(() => heap.realloc(ptr, size), "INVALID_POINTER", `realloc(ptr, ${size})`);
            }
            expectCode(() => heap.typed(Uint8Array, ptr, 1), "INVALID_POINTER", "typed");
            expectCode(() => heap.view(Uint8Array, ptr, 1), "INVALID_POINTER", "view");
          });
        },
      );
    }

    test("a realloc of a freed block never leaves a new block behind", () => {
      // Whatever code the backend gives, the block realloc took for the move is given back.
      const { heap, tiny } = fixture(debug);
      heap.free(tiny);
      const before = heap.stats();
      assert.throws(() => heap.realloc(tiny, 300000), HakmemError);
      const after = heap.stats();
      assert.deepEqual([after.liveBlocks, after.liveBytes, after.footprintBytes], [
        before.liveBlocks,
        before.liveBytes,
        before.footprintBytes,
      ]);
      assert.deepEqual(heap.check("full").problems, [], "check() after the refused realloc (its counters may count a refused move)");
    });

    test("blocks freed before trim(): DOUBLE_FREE while their pages are in the memory, INVALID_POINTER once given back", () => {
      for (const keepTop of [true, false]) {
        // A resizable ArrayBuffer, the kind that trim() shrinks (the default WebAssembly.Memory never shrinks).
        const memory = new ArrayBuffer(64 << 10, { maxByteLength: 64 * MiB });
        const heap = createHeap({ maxBytes: 64 * MiB, debug, memory });
        const ptrs = [heap.malloc(100), heap.malloc(5000), heap.malloc(300000)];
        if (keepTop) heap.malloc(MiB);
        for (const ptr of ptrs) heap.free(ptr);
        heap.trim();
        const end = heap.stats().memoryBytes;
        for (const ptr of ptrs) {
          const code = ptr < end ? "DOUBLE_FREE" : "INVALID_POINTER";
          if (keepTop) assert.equal(code, "DOUBLE_FREE", "the block above keeps the pages inside the memory");
          unchanged(
            heap,
            `free after trim (${keepTop ? "kept" : "shrunk"})`,
            () => expectCode(() => heap.free(ptr), code, `free(${ptr}) after trim`),
          );
          unchanged(
            heap,
            "usableSize after trim",
            () => expectCode(() => heap.usableSize(ptr), "INVALID_POINTER", `usableSize(${ptr}) after trim`),
          );
        }
        if (!keepTop) assert.ok(ptrs.some((ptr) => ptr >= end), "the memory shrank below some of them");
      }
    });
  });
}

describe("bad input: attaching", () => {
  test("memory that holds no heap: NOT_A_HEAP", () => {
    expectCode(() => attachHeap(new ArrayBuffer(MiB)), "NOT_A_HEAP", "zeroed memory");
    expectCode(() => attachHeap(new SharedArrayBuffer(MiB)), "NOT_A_HEAP", "a zeroed SharedArrayBuffer");
    expectCode(() => attachHeap(new ArrayBuffer(16)), "NOT_A_HEAP", "memory smaller than a header");
    expectCode(() => attachHeap(new WebAssembly.Memory({ initial: 1 })), "NOT_A_HEAP", "a fresh WebAssembly.Memory");
  });

  test("a heap of another layout version: LAYOUT_MISMATCH, for older and newer alike", () => {
    for (const version of [LAYOUT_VERSION - 1, LAYOUT_VERSION + 1, 0, -1]) {
      const memory = new SharedArrayBuffer(MiB, { maxByteLength: 16 * MiB });
      createHeap({ memory, maxBytes: 16 * MiB });
      new Int32Array(memory)[1] = version;
      assert.throws(() => attachHeap(memory, { maxBytes: 16 * MiB }), (error: unknown) => {
        assert.ok(error instanceof HakmemError);
        assert.equal(error.code, "LAYOUT_MISMATCH");
        assert.equal(error.value, version);
        return true;
      });
    }
  });

  test("not memory at all: INVALID_MEMORY; options that are not an object: INVALID_OPTION", () => {
    for (const memory of [{}, 5, "x", null, new Uint8Array(MiB)]) {
      expectCode(() => attachHeap(memory as unknown as ArrayBuffer), "INVALID_MEMORY", `attachHeap(${show(memory)})`);
    }
    expectCode(() => attachHeap(new ArrayBuffer(MiB), null as unknown as HeapConfig), "INVALID_OPTION", "attachHeap(memory, null)");
  });
});

describe("bad input: createHeap options", () => {
  /** For each option, values outside its range. */
  const BAD_VALUES: Record<string, unknown[]> = {
    maxBytes: [-1, 0, 1000, 2 ** 40, 1.5, NaN, "1"],
    initialBytes: [-1, 1.5, 2 ** 40, NaN],
    growBytes: [0, 4095, 2 ** 31, 1.5],
    tinyMaxSize: [-1, 1025, 1.5, NaN],
    poolMaxSize: [-1, 262145, 1.5],
    tinyCache: [1, "yes", null],
    tinyCacheCap: [0, 65537, 1.5],
    slabSource: ["fast", 1, ""],
    sharedPoolCap: [0, 2 ** 21, 1.5],
    sharedPoolLru: [-1, 65, 1.5],
    poolPrewarm: [[0], [262145], [1.5], "4096", 4096],
    debug: [1, "true", null],
    verbose: [1, "yes"],
    logRing: [0, 2 ** 21, 1.5],
  };

  test("every option has bad values to try", () => {
    assert.deepEqual(Object.keys(BAD_VALUES).sort(), Object.keys(OPTION_TABLE).sort());
  });

  test("each option outside its range: INVALID_OPTION naming it", () => {
    for (const [name, values] of Object.entries(BAD_VALUES)) {
      for (const value of values) {
        assert.throws(() => createHeap({ [name]: value } as HeapConfig), (error: unknown) => {
          assert.ok(error instanceof HakmemError, `${name} = ${show(value)}: ${error}`);
          assert.equal(error.code, "INVALID_OPTION", `${name} = ${show(value)}`);
          assert.ok(error.message.includes(name), `the message names ${name}: ${error.message}`);
          return true;
        });
      }
    }
  });

  test("options that contradict each other: INVALID_OPTION", () => {
    expectCode(() => createHeap({ initialBytes: 2 * MiB, maxBytes: MiB }), "INVALID_OPTION", "initialBytes above maxBytes");
    expectCode(() => createHeap({ tinyMaxSize: 1024, poolMaxSize: 512 }), "INVALID_OPTION", "poolMaxSize below tinyMaxSize");
  });

  test("a configuration of the wrong shape: INVALID_OPTION or INVALID_ROUTE, never a TypeError", () => {
    for (const config of [null, 5, "x", [], true]) {
      expectCode(() => createHeap(config as unknown as HeapConfig), "INVALID_OPTION", `createHeap(${show(config)})`);
    }
    expectCode(() => createHeap({ backends: "x" as never }), "INVALID_OPTION", "backends not an array");
    expectCode(() => createHeap({ backends: [{}] as never }), "INVALID_OPTION", "a backend that is no factory");
    expectCode(() => createHeap({ routes: "x" as never }), "INVALID_ROUTE", "routes not an array");
    expectCode(() => createHeap({ fallbacks: 5 as never }), "INVALID_ROUTE", "fallbacks not an object");
    expectCode(() => createHeap({ fallbacks: { tiny: ["nowhere"] } }), "INVALID_ROUTE", "a fallback to an unknown backend");
    expectCode(
      () =>
        createHeap({
          backends: [mmapBackend],
          routes: [{ min: 1, max: 100, backend: "mmap" }, { min: 200, max: Infinity, backend: "mmap" }],
        }),
      "INVALID_ROUTE",
      "a routing table with a gap",
    );
    expectCode(() => createHeap({ memory: {} as never }), "INVALID_MEMORY", "memory that is not memory");
    expectCode(() => createHeap({ memory: new ArrayBuffer(4096) }), "INVALID_MEMORY", "memory too small that cannot grow");
  });
});

describe("bad input: every kind of value at every entry point that takes a shape", () => {
  /** One of each kind of value a caller may pass by mistake. */
  const ANYTHING: Array<[string, unknown]> = [
    ["undefined", undefined],
    ["null", null],
    ["NaN", NaN],
    ["a string", "x"],
    ["an object", {}],
    ["a BigInt", 5n],
    ["a Symbol", Symbol("s")],
    ["a function", () => 1],
    ["-5", -5],
    ["2^60", 2 ** 60],
    ["an array", [1]],
    ["true", true],
  ];
  const code = (call: () => unknown, expected: ErrorCode, what: string) => expectCode(call, expected, what);

  test("typed and view: a constructor that is no typed array constructor is INVALID_ARGUMENT; a pointer of another type INVALID_POINTER", () => {
    const { heap, tiny } = fixture(false);
    unchanged(heap, "bad constructors", () => {
      for (
        const [what, value] of [...ANYTHING, ["DataView", DataView], ["Array", Array], ["a class", class {}]] as Array<[string, unknown]>
      ) {
        code(() => heap.typed(value as never, tiny, 1), "INVALID_ARGUMENT", `typed(${what}, ptr, 1)`);
        code(() => heap.view(value as never, tiny, 1), "INVALID_ARGUMENT", `view(${what}, ptr, 1)`);
      }
      for (const [what, value] of ANYTHING.filter(([, value]) => typeof value !== "number")) {
        code(() => heap.typed(Uint8Array, value as never, 1), "INVALID_POINTER", `typed(Uint8Array, ${what}, 1)`);
        code(() => heap.view(Uint8Array, value as never, 1), "INVALID_POINTER", `view(Uint8Array, ${what}, 1)`);
      }
    });
  });

  test("inspect and check: options of the wrong shape are INVALID_OPTION", () => {
    const { heap } = fixture(false);
    unchanged(heap, "bad report options", () => {
      for (const [what, value] of ANYTHING) {
        if (value !== undefined && !(typeof value === "object" && value !== null && !Array.isArray(value))) {
          code(() => heap.inspect(value as never), "INVALID_OPTION", `inspect(${what})`);
        }
        if (typeof value !== "string" && value !== undefined) {
          code(() => heap.inspect({ title: value as never }), "INVALID_OPTION", `title ${what}`);
        }
        if (!(typeof value === "number" && Number.isFinite(value)) && value !== undefined) {
          for (const key of ["columns", "maxRows", "maxSuperSlabs", "maxSpansPerClass"]) {
            code(() => heap.inspect({ [key]: value } as never), "INVALID_OPTION", `${key} ${what}`);
          }
        }
        if (value !== undefined) code(() => heap.check(value as never), "INVALID_OPTION", `check(${what})`);
      }
      code(() => heap.inspect({ colums: 8 } as never), "INVALID_OPTION", "a misspelt picture option");
      assert.ok(heap.inspect({ title: "t", columns: 16 }).startsWith("<svg"), "good options still draw");
    });
  });

  test("createHeap: option values of every other kind (BigInt and Symbol too) are INVALID_OPTION naming the option", () => {
    for (const key of Object.keys(OPTION_TABLE)) {
      for (const [what, value] of [["a BigInt", 5n], ["a Symbol", Symbol("s")], ["a function", () => 1], ["[5n]", [5n]]] as const) {
        assert.throws(() => createHeap({ [key]: value } as HeapConfig), (error: unknown) => {
          assert.ok(error instanceof HakmemError, `${key} = ${what}: ${error}`);
          assert.equal(error.code, "INVALID_OPTION", `${key} = ${what}`);
          assert.ok(error.message.includes(key), error.message);
          return true;
        });
      }
    }
  });

  test("createHeap: misshaped routes and fallbacks are INVALID_ROUTE, misshaped backends INVALID_OPTION, other memory INVALID_MEMORY", () => {
    for (const [what, value] of ANYTHING) {
      if (typeof value !== "object" || value === null) {
        code(() => createHeap({ routes: [value] as never }), "INVALID_ROUTE", `routes [${what}]`);
        code(() => createHeap({ backends: [value] as never }), "INVALID_OPTION", `backends [${what}]`);
      }
      if (value !== undefined) {
        if (typeof value !== "number") {
          code(
            () => createHeap({ routes: [{ min: value, max: Infinity, backend: "mmap" }] as never }),
            "INVALID_ROUTE",
            `route min ${what}`,
          );
        }
        code(() => createHeap({ routes: [{ min: 1, max: Infinity, backend: value }] as never }), "INVALID_ROUTE", `route backend ${what}`);
        if (!Array.isArray(value)) {
          code(() => createHeap({ fallbacks: { tiny: value } as never }), "INVALID_ROUTE", `fallbacks { tiny: ${what} }`);
        }
        code(() => createHeap({ fallbacks: { tiny: [value] } as never }), "INVALID_ROUTE", `fallbacks { tiny: [${what}] }`);
        code(() => createHeap({ memory: value as never }), "INVALID_MEMORY", `memory ${what}`);
        code(() => attachHeap(value as never), "INVALID_MEMORY", `attachHeap(${what})`);
        code(
          () => createHeap({ backends: [{ name: value, create: () => mmapBackend.create }] as never }),
          "INVALID_OPTION",
          `name ${what}`,
        );
      }
      if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) {
        code(() => attachHeap(new ArrayBuffer(MiB), value as never), "INVALID_OPTION", `attachHeap(memory, ${what})`);
      }
      code(() => createHeap({ backends: [{ name: "mine", create: () => value }] as never }), "INVALID_OPTION", `create() gives ${what}`);
    }
  });

  test("attachHeap with a backend factory that makes no backend: INVALID_OPTION, and the worker slot is given back", () => {
    const memory = new SharedArrayBuffer(MiB, { maxByteLength: 16 * MiB });
    const heap = createHeap({ memory, maxBytes: 16 * MiB });
    for (const made of [null, undefined, {}, 5]) {
      const broken = { name: "mmap", create: () => made } as never;
      code(() => attachHeap(memory, { maxBytes: 16 * MiB, backends: [broken] }), "INVALID_OPTION", `create() gives ${show(made)}`);
      assert.deepEqual(heap.workers(), [0], "no slot stays taken");
    }
    assert.deepEqual(heap.check("full").problems, []);
  });
});

describe("bad input: the factories and wasmImports", () => {
  const OTHERS: Array<[string, unknown]> = [["null", null], ["NaN", NaN], ["a string", "x"], ["a BigInt", 5n], ["a Symbol", Symbol("s")], [
    "true",
    true,
  ]];

  test("createTinyBackend and createPoolBackend: options that are no object, or values of another kind, are INVALID_OPTION", () => {
    for (const [what, value] of OTHERS) {
      expectCode(() => createTinyBackend(value as never), "INVALID_OPTION", `createTinyBackend(${what})`);
      expectCode(() => createPoolBackend(value as never), "INVALID_OPTION", `createPoolBackend(${what})`);
      if (!Array.isArray(value)) expectCode(() => createPoolBackend({ prewarm: value as never }), "INVALID_OPTION", `prewarm ${what}`);
      for (const name of ["cache", "cacheCap", "slabSource", "sharedPoolCap", "sharedPoolLru"]) {
        if (name === "cache" && typeof value === "boolean") continue; // a good value for this one
        expectCode(() => createTinyBackend({ [name]: value }), "INVALID_OPTION", `tiny ${name} ${what}`);
      }
    }
    expectCode(() => createTinyBackend({ cacheCap: 0 }), "INVALID_OPTION", "a cache cap of 0");
  });

  test("wasmImports: no heap is INVALID_ARGUMENT, options of the wrong shape INVALID_OPTION", () => {
    const heap = createHeap({ memory: new WebAssembly.Memory({ initial: 16, maximum: 256 }), maxBytes: 16 * MiB });
    for (const [what, value] of [...OTHERS, ["undefined", undefined], ["an object", {}]] as Array<[string, unknown]>) {
      expectCode(() => wasmImports(value as never), "INVALID_ARGUMENT", `wasmImports(${what})`);
      if (value !== undefined) expectCode(() => wasmImports(heap, { onError: value as never }), "INVALID_OPTION", `onError ${what}`);
    }
    expectCode(() => wasmImports(heap, null as never), "INVALID_OPTION", "wasmImports(heap, null)");
    assert.deepEqual(heap.check("full").problems, []);
  });
});
