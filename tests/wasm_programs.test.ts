// Real C programs on the heap: cfrac and espresso (from mimalloc-bench,
// unmodified), compiled with clang and wasi-libc by wasm/c/build.sh twice,
// once linked with the heap's shim (wasm/c/hakmem_malloc.c) and once on
// wasi-libc's own dlmalloc, run by the WASI runner (wasm/wasi.ts). Both builds
// of a program must print the same bytes, and the heap must check clean
// afterwards. Also: what each C allocation function of the shim asks of the
// heap's imports (bin/shim_test.wasm), and that the shim's build links no
// allocator of its own.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import wabtInit from "wabt";
import { runWasmC } from "../examples/wasm_c.ts";
import { benchWasmPrograms, MODES } from "../bench/wasm_programs.ts";
import type { WasmAllocatorImports } from "../wasm/mod.ts";
import { compileProgram, instantiateOnHeap, PROGRAM_NAMES, programInput, runProgram } from "../wasm/c/programs.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Lines a correct run prints (the rest must match the dlmalloc build byte for byte). */
const EXPECTED = {
  cfrac: /^1000000000000000000000000000001 = 238726100234882610021101 \* 4188901\n$/,
  espresso:
    /^# espresso -s input\.pla\n# UC Berkeley, Espresso Version #2\.3[\s\S]*# ESPRESSO\tTime was 0\.000 sec, cost is c=42\(42\) in=489 out=120 tot=609\n$/,
};

describe("real C programs on the heap", () => {
  for (const name of PROGRAM_NAMES) {
    test(`${name}: the same output on the heap as on its own dlmalloc, and a heap that checks afterwards`, async () => {
      const input = programInput(name, "test");
      const own = await runProgram(await compileProgram(name, "dlmalloc"), input);
      const onHeap = await runProgram(await compileProgram(name, "hakmem"), input);
      assert.equal(own.exitCode, 0, decode(own.stderr));
      assert.equal(onHeap.exitCode, 0, decode(onHeap.stderr));
      assert.match(decode(own.stdout), EXPECTED[name]);
      assert.deepEqual(onHeap.stdout, own.stdout, "byte-identical standard output");
      assert.deepEqual(onHeap.stderr, own.stderr);
      const heap = onHeap.heap!;
      assert.deepEqual(heap.check("full").problems, []);
      const allocations = Object.values(heap.counters().allocs).reduce((sum, count) => sum + count, 0);
      assert.ok(allocations > 10_000, `${name} allocated on the heap (${allocations} blocks)`);
      assert.equal(own.heap, null);
    });
  }

  test("C++: libc++'s new and delete go to the heap through the shim", async () => {
    const module = await WebAssembly.compile(readFileSync(new URL("../wasm/c/bin/cxx_check.hakmem.wasm", import.meta.url)));
    assert.ok(WebAssembly.Module.imports(module).some((entry) => entry.module === "hakmem" && entry.name === "malloc"));
    const result = await runProgram(module, { args: ["cxx_check"], files: {} });
    assert.equal(result.exitCode, 0, decode(result.stderr));
    assert.equal(decode(result.stdout), "997 keys, 20000 values, sum 199990000, last square 998001\n");
    const heap = result.heap!;
    assert.ok(Object.values(heap.counters().allocs).reduce((sum, count) => sum + count, 0) > 2000, "the containers allocated on the heap");
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("the shim's build imports the heap's functions and links no allocator of its own; the dlmalloc build does", async () => {
    const wabt = await wabtInit();
    const text = (file: string) => wabt.readWasm(readFileSync(new URL(`../wasm/c/bin/${file}`, import.meta.url)), {}).toText({});
    for (const name of PROGRAM_NAMES) {
      const shim = await compileProgram(name, "hakmem");
      const imported = WebAssembly.Module.imports(shim).filter((entry) => entry.module === "hakmem").map((entry) => entry.name);
      assert.ok(imported.includes("malloc") && imported.includes("free"), `${name} imports hakmem.malloc and hakmem.free`);
      const exported = WebAssembly.Module.exports(shim).map((entry) => entry.name);
      assert.ok(exported.includes("__heap_base") && exported.includes("memory"));
      const own = await compileProgram(name, "dlmalloc");
      assert.deepEqual(WebAssembly.Module.imports(own).filter((entry) => entry.module === "hakmem"), []);
      // dlmalloc takes memory with sbrk, the only memory.grow in wasi-libc: the shim's build has none.
      assert.ok(text(`${name}.dlmalloc.wasm`).includes("memory.grow"));
      assert.ok(!text(`${name}.hakmem.wasm`).includes("memory.grow"), `${name}.hakmem.wasm grows no memory itself`);
    }
    assert.ok(!text("cxx_check.hakmem.wasm").includes("memory.grow"), "nor does the C++ program");
  });
});

/** The shim's test module over a heap, every call it makes into the heap's imports recorded as "name(arguments)". */
async function shimModule(maxBytes?: number) {
  const module = await WebAssembly.compile(readFileSync(new URL("../wasm/c/bin/shim_test.wasm", import.meta.url)));
  const calls: string[] = [];
  const recording = (heapImports: WasmAllocatorImports): WasmAllocatorImports => {
    const wrapped = {} as Record<string, (...args: number[]) => number | void>;
    for (const [name, call] of Object.entries(heapImports) as [string, (...args: number[]) => number | void][]) {
      wrapped[name] = (...args: number[]) => {
        calls.push(`${name}(${args.join(", ")})`);
        return call(...args);
      };
    }
    return wrapped as unknown as WasmAllocatorImports;
  };
  const { instance, heap } = await instantiateOnHeap(module, {}, {
    heap: maxBytes === undefined ? {} : { maxBytes },
    imports: recording,
  });
  const exports = instance.exports as Record<string, (...args: number[]) => number> & { _initialize: () => void };
  exports._initialize();
  calls.length = 0; // what start-up allocated is not the test's
  const c = (name: string, ...args: number[]) => exports[`test_${name}`](...args) >>> 0;
  return { c, calls, heap };
}

const ENOMEM = 48; // wasi-libc's errno values
const EINVAL = 28;

describe("the C shim (wasm/c/hakmem_malloc.c)", () => {
  test("malloc: requests below 16 bytes ask for 16, every block is 16-aligned, one call each", async () => {
    const { c, calls, heap } = await shimModule();
    const blocks = [0, 1, 15, 16, 17, 100, 5000].map((size) => c("malloc", size));
    assert.deepEqual(calls, ["malloc(16)", "malloc(16)", "malloc(16)", "malloc(16)", "malloc(17)", "malloc(100)", "malloc(5000)"]);
    for (const ptr of blocks) {
      assert.ok(ptr !== 0 && ptr % 16 === 0, `${ptr} is 16-aligned`);
      assert.ok(heap.usableSize(ptr) >= 16);
    }
    calls.length = 0;
    c("free", 0);
    assert.deepEqual(calls, [], "free(NULL) makes no call");
    for (const ptr of blocks) c("free", ptr);
    assert.equal(calls.length, blocks.length);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("calloc: one zeroing call into the heap; an overflowing product fails with ENOMEM without a call", async () => {
    const { c, calls, heap } = await shimModule();
    const dirty = c("malloc", 48);
    heap.u8.fill(0xff, dirty, dirty + 48);
    c("free", dirty);
    calls.length = 0;
    const ptr = c("calloc", 3, 16);
    assert.deepEqual(calls, ["calloc(1, 48)"]);
    assert.deepEqual([...heap.u8.subarray(ptr, ptr + 48)], new Array(48).fill(0));
    calls.length = 0;
    c("calloc", 1, 3);
    c("calloc", 0, 0);
    assert.deepEqual(calls, ["calloc(1, 16)", "calloc(1, 16)"], "below 16 bytes asks for 16");
    calls.length = 0;
    c("clear_errno");
    assert.equal(c("calloc", 0x10000, 0x10001), 0);
    assert.equal(c("errno"), ENOMEM);
    assert.deepEqual(calls, [], "no call for an overflowing product");
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("realloc: realloc(NULL, n) is malloc, realloc(p, 0) frees and returns NULL, contents kept as it grows", async () => {
    const { c, calls, heap } = await shimModule();
    const ptr = c("realloc", 0, 5);
    assert.deepEqual(calls, ["malloc(16)"]);
    heap.u8.set([1, 2, 3, 4, 5], ptr);
    const grown = c("realloc", ptr, 3000);
    assert.deepEqual([...heap.u8.subarray(grown, grown + 5)], [1, 2, 3, 4, 5]);
    assert.equal(calls[1], `realloc(${ptr}, 3000)`);
    calls.length = 0;
    assert.equal(c("realloc", grown, 0), 0);
    assert.deepEqual(calls, [`free(${grown})`]);
    assert.equal(heap.stats().liveBlocks, 0);
  });

  test("aligned_alloc, memalign, posix_memalign: small alignments are plain malloc, bad ones EINVAL", async () => {
    const { c, calls, heap } = await shimModule();
    const small = c("aligned_alloc", 8, 20);
    assert.deepEqual(calls, ["malloc(20)"], "blocks are 16-aligned: no aligned call needed");
    const big = c("aligned_alloc", 4096, 100);
    assert.equal(calls[1], "aligned_alloc(4096, 100)");
    assert.equal(big % 4096, 0);
    const viaMemalign = c("memalign", 64, 10);
    assert.equal(viaMemalign % 64, 0);
    calls.length = 0;
    c("clear_errno");
    assert.equal(c("aligned_alloc", 24, 100), 0);
    assert.equal(c("errno"), EINVAL);
    assert.equal(c("aligned_alloc", 0, 100), 0);
    assert.deepEqual(calls, [], "a bad alignment makes no call");

    assert.equal(c("posix_memalign", 2, 8), EINVAL, "below sizeof(void *)");
    assert.equal(c("posix_memalign", 48, 8), EINVAL, "not a power of two");
    assert.equal(c("posix_memalign_result"), 0, "the result is untouched on failure");
    assert.equal(c("posix_memalign", 256, 1000), 0);
    const viaPosix = c("posix_memalign_result");
    assert.ok(viaPosix !== 0 && viaPosix % 256 === 0);
    assert.ok(c("malloc_usable_size", viaPosix) >= 1000);
    assert.equal(c("malloc_usable_size", 0), 0);
    for (const ptr of [small, big, viaMemalign, viaPosix]) c("free", ptr);
    assert.equal(heap.stats().liveBlocks, 0);
    assert.deepEqual(heap.check("full").problems, []);
  });

  test("wasi-libc's own names (__libc_malloc, __libc_calloc, __libc_free) are the heap's too", async () => {
    const { c, calls, heap } = await shimModule();
    const ptr = c("libc_malloc", 3);
    const zeroed = c("libc_calloc", 2, 40);
    c("libc_free", ptr);
    c("libc_free", zeroed);
    assert.deepEqual(calls, ["malloc(16)", "calloc(1, 80)", `free(${ptr})`, `free(${zeroed})`]);
    assert.equal(heap.stats().liveBlocks, 0);
  });

  test("out of memory: NULL and errno ENOMEM, the heap whole", async () => {
    const { c, heap } = await shimModule(8 << 20);
    c("clear_errno");
    assert.equal(c("malloc", 64 << 20), 0);
    assert.equal(c("errno"), ENOMEM);
    c("clear_errno");
    const ptr = c("malloc", 100);
    assert.equal(c("realloc", ptr, 64 << 20), 0);
    assert.equal(c("errno"), ENOMEM);
    assert.ok(heap.usableSize(ptr) >= 100, "the old block stays");
    c("free", ptr);
    assert.deepEqual(heap.check("full").problems, []);
  });
});

describe("examples/wasm_c.ts", () => {
  test("C builds a list of polygons in the heap, JavaScript reads and frees it, C frees a block JavaScript allocated", async () => {
    const lines: string[] = [];
    const result = await runWasmC({ count: 40, log: (line) => lines.push(line) });
    assert.equal(result.polygons, 40);
    assert.equal(result.corners, (3 + 42) * 40 / 2, "3, 4, ..., 42 corners");
    assert.equal(result.mismatches, 0, "JavaScript computes each perimeter as C did, from the corners C wrote");
    assert.ok(result.onCircles);
    assert.equal(result.squarePerimeter, 4);
    assert.equal(result.liveAfter, 0);
    assert.deepEqual(result.heap.check("full").problems, []);
    assert.match(lines.join("\n"), /C built 40 polygons \(900 corners\)[\s\S]*after freeing: 0 live blocks, check ok/);
  });
});

describe("bench/wasm_programs.ts", () => {
  test("runs every program in every mode, the outputs checked against each other, and reports each", async () => {
    const lines: string[] = [];
    const results = await benchWasmPrograms({ rounds: 1, size: "test", log: (line) => lines.push(line) });
    assert.deepEqual(results.map((result) => result.program), [...PROGRAM_NAMES]);
    for (const result of results) {
      assert.deepEqual(Object.keys(result.median), [...MODES]);
      assert.ok(Object.values(result.median).every((milliseconds) => milliseconds > 0));
      assert.ok(result.allocations > 10_000);
    }
    assert.equal(lines.length, PROGRAM_NAMES.length);
    assert.match(lines[0], /^cfrac +dlmalloc +\d+ ms +hakmem +\d+ ms \(\d+\.\d\dx\)/);
  });
});
