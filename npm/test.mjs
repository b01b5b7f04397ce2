// The built npm package under Node (20 or later): run `deno run -A npm/build.ts`
// first, then `node --test npm/test.mjs`. Imports the package by its name (a
// package may import itself through its "exports"), so it tests what a Node
// user gets: ES modules, every entry point, the C functions, reports.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createHeap, ErrorCode, HakmemError } from "hakmem";
import { createWasmHeap, wasmImports } from "hakmem/wasm";
import { renderHeapSvg } from "hakmem/inspect";
import { DEBUG_GUARD_BYTES } from "hakmem/debug";
import { createPoolBackend, POOL_MAX_SIZE } from "hakmem/backends/pool";
import { mmapBackend } from "hakmem/backends/mmap";
import { CLASS_SIZES } from "hakmem/backends/tiny";
import { Router } from "hakmem/router";
import { Random } from "hakmem/testing";
import { compileProgram, PROGRAM_NAMES, programInput, runProgram } from "./dist/wasm/c/programs.js";

test("malloc, free, calloc, realloc over the default heap", () => {
  const heap = createHeap();
  const ptr = heap.malloc(24);
  assert.ok(ptr > 0);
  assert.ok(heap.usableSize(ptr) >= 24);
  const record = heap.typed(Float64Array, ptr, 3);
  record[2] = 2.5;
  assert.equal(heap.typed(Float64Array, ptr, 3)[2], 2.5);

  heap.u8.fill(0xff, ptr, ptr + 24);
  heap.free(ptr);
  const zeroed = heap.calloc(3, 8);
  assert.deepEqual(
    [...heap.u8.subarray(zeroed, zeroed + 24)],
    new Array(24).fill(0),
  );

  heap.u8.set([1, 2, 3], zeroed);
  const grown = heap.realloc(zeroed, 100_000);
  assert.deepEqual([...heap.u8.subarray(grown, grown + 3)], [1, 2, 3]);
  assert.equal(heap.realloc(grown, 0), 0);

  const aligned = heap.alignedAlloc(4096, 10);
  assert.equal(aligned % 4096, 0);
  heap.free(aligned);
  assert.equal(heap.stats().liveBlocks, 0);
});

test("stats, health and check report the heap", () => {
  const heap = createHeap();
  const random = new Random(7);
  const live = [];
  for (let i = 0; i < 5000; i++) {
    live.push(heap.malloc(1 + random.int(300_000)));
    if (random.next() < 0.4) {
      heap.free(live.splice(random.int(live.length), 1)[0]);
    }
  }
  const stats = heap.stats();
  assert.equal(stats.liveBlocks, live.length);
  assert.ok(stats.footprintBytes >= stats.liveBytes);
  assert.deepEqual(stats.backends.map((backend) => backend.name), [
    "tiny",
    "pool",
    "mmap",
  ]);
  const health = heap.health();
  assert.equal(health.ready, true);
  assert.equal(health.totalRoutes, 5000);
  assert.deepEqual(heap.check(), { ok: true, level: "full", problems: [] });
  for (const ptr of live) heap.free(ptr);
  assert.equal(heap.stats().liveBlocks, 0);
  assert.ok(heap.trim() >= 0);
});

test("misuse throws a HakmemError with its code and leaves the heap whole", () => {
  const heap = createHeap();
  const ptr = heap.malloc(100);
  heap.free(ptr);
  assert.throws(
    () => heap.free(ptr),
    (error) => error instanceof HakmemError && error.code === ErrorCode.DOUBLE_FREE,
  );
  assert.throws(
    () => heap.malloc(-1),
    (error) => error instanceof HakmemError && error.code === "INVALID_SIZE",
  );
  assert.equal(heap.check().ok, true);
});

test("subpath entry points: backends and routes of one's own", () => {
  assert.equal(CLASS_SIZES[0], 8);
  assert.equal(typeof Router, "function");
  const heap = createHeap({
    backends: [createPoolBackend({ prewarm: [40_000] }), mmapBackend],
    routes: [{ min: 1, max: POOL_MAX_SIZE, backend: "pool" }, {
      min: POOL_MAX_SIZE + 1,
      max: Infinity,
      backend: "mmap",
    }],
  });
  const ptr = heap.malloc(33_000);
  assert.equal(heap.usableSize(ptr), 40_960);
  heap.free(ptr);
  assert.deepEqual(heap.counters().allocs, { pool: 1, mmap: 0 });
});

test("heaps over a SharedArrayBuffer and a WebAssembly.Memory grow on demand", () => {
  const shared = new SharedArrayBuffer(1 << 16, { maxByteLength: 1 << 26 });
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
  for (const source of [shared, memory]) {
    const heap = createHeap({ memory: source, maxBytes: 1 << 26 });
    const blocks = Array.from(
      { length: 200 },
      (_, i) => heap.malloc(1000 + i * 100),
    );
    assert.ok(blocks.every((ptr) => ptr > 0));
    assert.ok(heap.stats().memoryBytes > 1 << 16, "the memory grew");
    for (const ptr of blocks) heap.free(ptr);
    assert.equal(heap.check().ok, true);
  }
});

test("a WASM module's allocator imports and a picture of the heap", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 64 });
  const heap = createHeap({ memory });
  const reported = [];
  const env = wasmImports(heap, {
    onError: (error, name) => reported.push(`${name}:${error.code}`),
  });
  const ptr = env.malloc(100);
  assert.ok(ptr > 0);
  env.free(ptr);
  env.free(ptr);
  assert.deepEqual(reported, ["free:DOUBLE_FREE"]);
  heap.malloc(40_000);
  const svg = renderHeapSvg(heap);
  assert.ok(svg.startsWith("<svg") && svg.includes("pool: 1 spans"));
  assert.equal(heap.inspect(), svg, "importing hakmem/inspect installed heap.inspect()");
});

test("debug mode from the hakmem/debug subpath", () => {
  const heap = createHeap({ debug: true });
  const ptr = heap.malloc(10);
  assert.equal(heap.usableSize(ptr), 10);
  heap.u8[ptr + 10 + DEBUG_GUARD_BYTES - 1] = 1; // the guard's last byte
  assert.throws(() => heap.free(ptr), { name: "HakmemError", code: "BUFFER_OVERFLOW" });
});

test("a heap above a WASM module's data and stack, from its exported memory and __heap_base", () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 });
  const __heap_base = new WebAssembly.Global(
    { value: "i32", mutable: false },
    66576,
  );
  new Uint8Array(memory.buffer).fill(9, 0, 66576); // the module's data and stack
  const heap = createWasmHeap({ memory, __heap_base });
  const ptr = heap.malloc(5000);
  assert.ok(ptr >= 69632);
  assert.ok(
    new Uint8Array(memory.buffer).subarray(0, 66576).every((byte) => byte === 9),
  );
  heap.free(ptr);
  assert.equal(heap.check().ok, true);
});

// The C programs (wasm/c/, built by wasm/c/build.sh) under Node: each on the heap and on its own
// dlmalloc, the same output, the heap whole afterwards. The runner is compiled into dist/ by
// npm/build.ts (no entry point exports it); the .wasm files are read from the repository.

const wasmC = new URL("../wasm/c/", import.meta.url);
for (const name of PROGRAM_NAMES) {
  test(`${name} on the heap prints what it prints on its own dlmalloc`, async () => {
    const input = programInput(name, "test", wasmC);
    const own = await runProgram(
      await compileProgram(name, "dlmalloc", wasmC),
      input,
    );
    const onHeap = await runProgram(
      await compileProgram(name, "hakmem", wasmC),
      input,
    );
    assert.equal(own.exitCode, 0);
    assert.equal(onHeap.exitCode, 0);
    assert.ok(own.stdout.length > 0);
    assert.deepEqual(onHeap.stdout, own.stdout);
    assert.deepEqual(onHeap.heap.check("full").problems, []);
    assert.ok(
      Object.values(onHeap.heap.counters().allocs).reduce(
        (sum, count) => sum + count,
        0,
      ) > 10_000,
    );
  });
}

test("the C shim ships in the package", () => {
  const shim = readFileSync(
    new URL("./dist/wasm/c/hakmem_malloc.c", import.meta.url),
    "utf8",
  );
  assert.match(shim, /import_module\(HAKMEM_IMPORT_MODULE\)/);
  assert.match(
    readFileSync(
      new URL("./dist/wasm/c/hakmem_malloc.h", import.meta.url),
      "utf8",
    ),
    /void \*malloc\(size_t size\);/,
  );
});

test('package.json keeps the side effects of the entries that install themselves (a bundler must not drop `import "hakmem/debug"`)', () => {
  const manifest = JSON.parse(readFileSync(new URL("package.json", import.meta.url), "utf8"));
  assert.deepEqual(manifest.sideEffects, [manifest.exports["./inspect"].default, manifest.exports["./debug"].default]);
});
