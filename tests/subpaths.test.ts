// The optional parts are subpath exports the main entry does not load: without
// the "./inspect" import `heap.inspect()` refuses, without the "./debug" import
// a heap in debug mode (by option, by HAKMEM_DEBUG, or attached to one created
// in it) is refused, each with INVALID_OPTION naming the import to add, before
// anything is created; with the import each works. Bun runs every test file in
// one process, so another file may have loaded the parts already: each test
// takes the hook away itself and puts it back afterwards.
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { attachHeap, createHeap, installDebug, installPicture } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { resetEnvironmentCache } from "../core/options.ts";
import { renderHeapSvg } from "../inspect/inspect.ts";
import { installDebugLayer } from "../debug/debug.ts";

/** Runs `body` with the part taken away, then installs it again (as importing its subpath does). */
function without(part: "inspect" | "debug", body: () => void): void {
  if (part === "inspect") installPicture(undefined);
  else installDebug(undefined);
  try {
    body();
  } finally {
    if (part === "inspect") installPicture(renderHeapSvg);
    else installDebug(installDebugLayer);
  }
}

/** Asserts `call` throws INVALID_OPTION whose message names the import `specifier`. */
function refusesNaming(call: () => unknown, specifier: string): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof HakmemError);
    assert.equal(error.code, "INVALID_OPTION");
    assert.ok(error.message.includes(`import "${specifier}"`), error.message);
    return true;
  });
}

describe("subpaths: the picture", () => {
  test("heap.inspect() without the ./inspect import names it, and the heap is untouched", () => {
    const heap = createHeap();
    const ptr = heap.malloc(100);
    without("inspect", () => refusesNaming(() => heap.inspect(), "@hakmem/hakmem/inspect"));
    assert.ok(heap.check("full").ok);
    assert.equal(heap.inspect(), renderHeapSvg(heap), "installed again, inspect() draws the picture renderHeapSvg draws");
    heap.free(ptr);
  });
});

describe("subpaths: debug mode", () => {
  test("createHeap({ debug: true }) without the ./debug import names it, and memory handed in is not formatted", () => {
    const memory = new ArrayBuffer(1 << 20, { maxByteLength: 16 << 20 });
    without("debug", () => refusesNaming(() => createHeap({ memory, debug: true }), "@hakmem/hakmem/debug"));
    assert.ok(new Uint8Array(memory).every((byte) => byte === 0), "nothing was written");
    assert.equal(createHeap({ memory, debug: true }).options.debug, true, "installed again, debug mode works");
  });

  test("HAKMEM_DEBUG=1 without the ./debug import is refused the same way", () => {
    const saved = process.env.HAKMEM_DEBUG;
    try {
      process.env.HAKMEM_DEBUG = "1";
      resetEnvironmentCache();
      without("debug", () => {
        refusesNaming(() => createHeap(), "@hakmem/hakmem/debug");
        assert.equal(createHeap({ debug: false }).options.debug, false, "the option beats the environment: no debug mode asked for");
      });
    } finally {
      if (saved === undefined) delete process.env.HAKMEM_DEBUG;
      else process.env.HAKMEM_DEBUG = saved;
      resetEnvironmentCache();
    }
  });

  test("attaching to a heap created in debug mode without the ./debug import is refused before a worker slot is taken", () => {
    const memory = new SharedArrayBuffer(1 << 20, { maxByteLength: 16 << 20 });
    const heap = createHeap({ memory, debug: true });
    const ptr = heap.malloc(10);
    without("debug", () => refusesNaming(() => attachHeap(memory), "@hakmem/hakmem/debug"));
    assert.deepEqual(heap.workers(), [heap.workerId], "no slot was taken");
    const attached = attachHeap(memory);
    assert.equal(attached.options.debug, true);
    attached.free(ptr);
    attached.detach();
    assert.ok(heap.check("full").ok);
  });

  test("a plain heap needs no ./debug import, and attaching to it neither", () => {
    const memory = new ArrayBuffer(1 << 20, { maxByteLength: 16 << 20 });
    without("debug", () => {
      const heap = createHeap({ memory });
      heap.free(heap.malloc(10));
      assert.equal(attachHeap(memory).options.debug, false);
      assert.equal(attachHeap(memory, { debug: true }).options.debug, false, "an attach follows the heap, whatever its option says");
    });
  });
});
