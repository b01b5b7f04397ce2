/**
 * The conformance suite of the Box API, run against every backend in the
 * registry and exported so a user's own backend can be held to it.
 *
 * It registers `node:test` tests (Deno, Bun and Node run them). The backend
 * is built inside a heap of its own whose table routes the backend's size
 * range to it (and anything larger to mmap), then called directly through
 * the contract.
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap, type HeapConfig } from "../heap.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import type { Backend, BackendFactory } from "../router/box.ts";
import { Random } from "./random.ts";
import { expectHakmemError as expectCode } from "./expect.ts";

/** What the contract suite runs against. */
export interface ContractTarget {
  /** The name shown in the test titles. */
  name: string;
  /** The backend under test. */
  factory: BackendFactory;
  /** Sizes to exercise (within the backend's capabilities). */
  sizes: { min: number; max: number };
  /** Heap options for the heap the backend lives in (e.g. a slab source). */
  options?: Omit<HeapConfig, "backends" | "routes" | "fallbacks" | "memory">;
  /** Cases to skip, by case name, each with the reason. */
  skip?: Record<string, string>;
}

/** A backend under test, in its own heap. */
export interface BackendUnderTest {
  /** The heap it lives in. */
  heap: Heap;
  /** The backend, reached directly. */
  backend: Backend;
}

/**
 * Builds `target`'s backend in a heap of its own (memory up to `maxBytes`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildBackend } from "./contract.ts";
 * import { mmapBackend } from "../backends/mmap/mod.ts";
 * const { backend } = buildBackend({ name: "mmap", factory: mmapBackend, sizes: { min: 1, max: 1 << 20 } });
 * const ptr = backend.alloc(5000);
 * assert.equal(backend.usableSize(ptr), 8192);
 * assert.ok(backend.owns(ptr));
 * backend.free(ptr);
 * ```
 */
export function buildBackend(target: ContractTarget, maxBytes = 64 << 20): BackendUnderTest {
  const name = target.factory.name;
  const alone = name === "mmap";
  const heap = createHeap({
    ...target.options,
    maxBytes,
    backends: alone ? [target.factory] : [target.factory, mmapBackend],
    routes: alone ? [{ min: 1, max: Infinity, backend: name }] : [
      { min: 1, max: target.sizes.max, backend: name },
      { min: target.sizes.max + 1, max: Infinity, backend: "mmap" },
    ],
    fallbacks: {},
  });
  return { heap, backend: heap.router.backends[0] };
}

function assertClean(heap: Heap, when: string): void {
  // The backend is called directly here, past the router, so the router's
  // counters are not expected to match it.
  const problems = heap.check("full").problems.filter((problem) => problem.where !== "router");
  assert.deepEqual(problems, [], `check() after ${when}`);
}

/**
 * Registers the conformance tests for `target`.
 *
 * @example
 * ```ts ignore
 * import { runContractSuite } from "@hakmem/hakmem/testing";
 * import { myBackend } from "./my_backend.ts";
 * runContractSuite({ name: "mine", factory: myBackend, sizes: { min: 1, max: 4096 } });
 * ```
 */
export function runContractSuite(target: ContractTarget): void {
  const skip = target.skip ?? {};
  const { min, max } = target.sizes;
  const sizesToTry = [
    ...new Set([min, min + 1, Math.floor((min + max) / 2), max - 1, max].filter((size) => size >= min && size <= max && size > 0)),
  ];
  const run = (name: string, body: () => void) => {
    if (skip[name]) test(`${name} (skipped: ${skip[name]})`, { skip: skip[name] }, () => {});
    else test(name, body);
  };

  describe(`Box contract: ${target.name}`, () => {
    run("capabilities are well formed", () => {
      const { backend } = buildBackend(target);
      const caps = backend.capabilities;
      assert.equal(typeof caps.name, "string");
      assert.ok(caps.minSize >= 1 && caps.minSize <= caps.maxSize, "minSize within 1..maxSize");
      assert.ok(caps.alignment >= 1 && (caps.alignment & (caps.alignment - 1)) === 0, "alignment is a power of two");
      assert.ok(caps.maxSize >= max, `maxSize ${caps.maxSize} covers the tested sizes up to ${max}`);
    });

    run("alloc returns aligned, owned blocks of at least the size", () => {
      const { heap, backend } = buildBackend(target);
      const align = backend.capabilities.alignment;
      for (const size of sizesToTry) {
        const ptr = backend.alloc(size);
        assert.ok(ptr > 0, `alloc(${size}) returned ${ptr}`);
        assert.equal(ptr % align, 0, `alloc(${size}) = ${ptr} is not aligned to ${align}`);
        assert.ok(backend.usableSize(ptr) >= size, `usableSize(${ptr}) < ${size}`);
        assert.ok(backend.owns(ptr), `owns(${ptr}) after alloc`);
        backend.free(ptr);
      }
      assertClean(heap, "alloc/free");
    });

    run("live blocks never overlap and keep their contents", () => {
      const { heap, backend } = buildBackend(target);
      const random = new Random(7);
      const live = new Map<number, number>();
      const u8 = () => heap.u8;
      for (let step = 0; step < 400; step++) {
        if (live.size > 0 && random.next() < 0.4) {
          const ptr = [...live.keys()][random.int(live.size)];
          const size = live.get(ptr)!;
          const bytes = u8();
          for (let i = 0; i < size; i += Math.max(1, size >> 4)) {
            assert.equal(bytes[ptr + i], (ptr + i * 7) & 255, `block ${ptr} byte ${i} changed`);
          }
          backend.free(ptr);
          live.delete(ptr);
        } else {
          const size = min + random.int(Math.min(max, min + 70000) - min + 1);
          const ptr = backend.alloc(size);
          assert.ok(ptr > 0);
          for (const [other, otherSize] of live) {
            assert.ok(ptr + size <= other || other + otherSize <= ptr, `${ptr}+${size} overlaps ${other}+${otherSize}`);
          }
          const bytes = u8();
          for (let i = 0; i < size; i += Math.max(1, size >> 4)) bytes[ptr + i] = (ptr + i * 7) & 255;
          live.set(ptr, size);
        }
      }
      assert.equal(backend.stats().liveBlocks, live.size, "stats().liveBlocks counts the live blocks");
      assertClean(heap, "random use");
      for (const ptr of live.keys()) backend.free(ptr);
      assert.equal(backend.stats().liveBlocks, 0);
      assertClean(heap, "freeing everything");
    });

    run("a pointer it does not own is refused and nothing changes", () => {
      const { heap, backend } = buildBackend(target);
      const ptr = backend.alloc(min);
      assert.equal(backend.owns(8), false, "the header is not a block");
      expectCode(() => backend.free(8), ["INVALID_POINTER"], "free(8)");
      assertClean(heap, "a foreign free");
      backend.free(ptr);
    });

    run("an interior pointer is refused", () => {
      const { heap, backend } = buildBackend(target);
      const ptr = backend.alloc(Math.max(min, 64));
      expectCode(() => backend.free(ptr + 1), ["INTERIOR_POINTER", "INVALID_POINTER"], "free(ptr + 1)");
      assertClean(heap, "an interior free");
      backend.free(ptr);
    });

    run("a double free is detected", () => {
      const { heap, backend } = buildBackend(target);
      const keep = backend.alloc(min); // keeps the slab or run alive
      const ptr = backend.alloc(min);
      backend.free(ptr);
      expectCode(() => backend.free(ptr), ["DOUBLE_FREE"], "second free");
      assertClean(heap, "a double free");
      backend.free(keep);
    });

    run("exhaustion returns 0, never throws, and the heap stays whole", () => {
      const { heap, backend } = buildBackend(target, 4 << 20);
      const size = Math.max(min, Math.min(max, 4096));
      const ptrs: number[] = [];
      for (let i = 0; i < 100000; i++) {
        const ptr = backend.alloc(size);
        if (ptr === 0) break;
        ptrs.push(ptr);
      }
      assert.ok(ptrs.length > 0 && ptrs.length < 100000, `allocated ${ptrs.length} blocks of ${size} in 4 MiB`);
      assert.equal(backend.alloc(size), 0, "still exhausted");
      assertClean(heap, "exhaustion");
      for (const ptr of ptrs) backend.free(ptr);
      assert.ok(backend.alloc(size) > 0, "memory is usable again after frees");
      assertClean(heap, "recovery");
    });

    run("trim gives empty memory back to the page heap", () => {
      const { heap, backend } = buildBackend(target);
      const before = heap.stats().footprintBytes;
      const ptrs: number[] = [];
      for (let i = 0; i < 200; i++) ptrs.push(backend.alloc(Math.min(max, Math.max(min, 512 + i * 64))));
      assert.ok(heap.stats().footprintBytes > before);
      for (const ptr of ptrs) backend.free(ptr);
      const released = backend.trim();
      assert.ok(released >= 0);
      heap.trim();
      const after = heap.stats();
      assert.equal(backend.stats().liveBlocks, 0);
      assert.ok(after.footprintBytes - before <= 1 << 20, `footprint ${after.footprintBytes} back near ${before}`);
      assertClean(heap, "trim");
    });

    run("health and stats report readiness and counts", () => {
      const { backend } = buildBackend(target);
      const health = backend.health();
      assert.equal(health.ready, true);
      assert.equal(health.name, backend.capabilities.name);
      const ptr = backend.alloc(min);
      const stats = backend.stats();
      assert.equal(stats.liveBlocks, 1);
      assert.ok(stats.liveBytes >= min);
      assert.ok(stats.footprintBytes >= stats.liveBytes);
      backend.free(ptr);
      assert.equal(backend.stats().liveBlocks, 0);
    });
  });
}
