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
import { attachHeap, createHeap, type Heap, type HeapConfig } from "../heap/heap.ts";
import { PAGE_SIZE } from "../memory/layout.ts";
import { MmapBackend } from "../backends/mmap/mod.ts";
import type { Backend, BackendContext, BackendFactory } from "../router/box.ts";
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
  const heap = createHeap({ ...heapConfig(target), maxBytes });
  return { heap, backend: heap.router.backends[0] };
}

/** The heap configuration the backend under test lives in: it serves its sizes, the helper below the larger ones. */
function heapConfig(target: ContractTarget): HeapConfig {
  return {
    ...target.options,
    backends: [target.factory, aboveBackend],
    routes: [
      { min: 1, max: target.sizes.max, backend: target.factory.name },
      { min: target.sizes.max + 1, max: Infinity, backend: ABOVE },
    ],
    fallbacks: {},
  };
}

/** The name of the helper that serves the sizes above the tested range: one no backend under test has. */
const ABOVE = "contract: sizes above the tested range";

/** The helper: mmap's whole page runs under its own name (and so its own page kind), whatever backend is tested. */
const aboveBackend: BackendFactory = {
  name: ABOVE,
  create: (context: BackendContext): Backend => {
    const inner = new MmapBackend(context);
    return {
      capabilities: { ...inner.capabilities, name: ABOVE },
      alloc: (size) => inner.alloc(size),
      free: (ptr) => inner.free(ptr),
      owns: (ptr) => inner.owns(ptr),
      usableSize: (ptr) => inner.usableSize(ptr),
      health: () => ({ ...inner.health(), name: ABOVE }),
      stats: () => ({ ...inner.stats(), name: ABOVE }),
      trim: () => inner.trim(),
      check: (level, problems) => inner.check(level, problems),
    };
  },
};

/** The backend under test in a heap, and in a second worker's heap attached to the same memory. */
function buildPair(target: ContractTarget): BackendUnderTest & { other: Heap; otherBackend: Backend } {
  const memory = new ArrayBuffer(1 << 20, { maxByteLength: 64 << 20 });
  const config = heapConfig(target);
  const heap = createHeap({ ...config, memory });
  const other = attachHeap(memory, config);
  return { heap, backend: heap.router.backends[0], other, otherBackend: other.router.backends[0] };
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

    // The optional members: each one the backend declares is held to its contract (router/box.ts).
    const probe = buildBackend(target).backend;
    const optional = (name: string, declared: boolean, body: () => void) => {
      if (declared) run(name, body);
      else test(`${name} (skipped: not declared by this backend)`, { skip: "not declared" }, () => {});
    };

    optional("allocZeroed returns zeroed, aligned, owned blocks, even over memory used before", probe.allocZeroed !== undefined, () => {
      const { heap, backend } = buildBackend(target);
      const align = backend.capabilities.alignment;
      for (const size of sizesToTry) {
        const dirty = backend.alloc(size);
        heap.u8.fill(0xab, dirty, dirty + size);
        backend.free(dirty);
        const ptr = backend.allocZeroed!(size);
        assert.ok(ptr > 0, `allocZeroed(${size}) returned ${ptr}`);
        assert.equal(ptr % align, 0, `allocZeroed(${size}) = ${ptr} is not aligned to ${align}`);
        assert.ok(backend.owns(ptr) && backend.usableSize(ptr) >= size, `allocZeroed(${size}) = ${ptr} is owned and big enough`);
        const bytes = heap.u8;
        for (let i = 0; i < size; i++) {
          if (bytes[ptr + i] !== 0) assert.fail(`allocZeroed(${size}) = ${ptr}: byte ${i} is ${bytes[ptr + i]}`);
        }
        backend.free(ptr);
      }
      assertClean(heap, "allocZeroed");
    });

    optional(
      "allocAligned honours every alignment up to a page",
      probe.allocAligned !== undefined && probe.capabilities.alignedAlloc,
      () => {
        const { heap, backend } = buildBackend(target);
        for (let alignment = backend.capabilities.alignment; alignment <= PAGE_SIZE; alignment *= 2) {
          for (const size of [min, Math.floor((min + Math.min(max, 1 << 16)) / 2)]) {
            const ptr = backend.allocAligned!(size, alignment);
            assert.ok(ptr > 0, `allocAligned(${size}, ${alignment}) returned ${ptr}`);
            assert.equal(ptr % alignment, 0, `allocAligned(${size}, ${alignment}) = ${ptr}`);
            assert.ok(backend.owns(ptr) && backend.usableSize(ptr) >= size);
            backend.free(ptr);
          }
        }
        assertClean(heap, "allocAligned");
      },
    );

    optional("resizeInPlace keeps the contents, or says no and changes nothing", probe.resizeInPlace !== undefined, () => {
      const { heap, backend } = buildBackend(target);
      for (const size of sizesToTry) {
        const ptr = backend.alloc(size);
        const usable = backend.usableSize(ptr);
        assert.equal(backend.resizeInPlace!(ptr, usable), true, "a block always fits its own usable size");
        let kept = size;
        for (let i = 0; i < size; i++) heap.u8[ptr + i] = (i * 13) & 255;
        for (const wanted of [Math.max(min, size >> 1), size + 1, Math.min(max, size * 2), max]) {
          const before = backend.usableSize(ptr);
          if (backend.resizeInPlace!(ptr, wanted)) {
            assert.ok(backend.usableSize(ptr) >= wanted, `resized to ${wanted}: usableSize ${backend.usableSize(ptr)}`);
            kept = Math.min(kept, wanted);
          } else {
            assert.equal(backend.usableSize(ptr), before, `a refused resize to ${wanted} changes nothing`);
          }
          const bytes = heap.u8;
          for (let i = 0; i < kept; i++) if (bytes[ptr + i] !== ((i * 13) & 255)) assert.fail(`byte ${i} changed by resizing to ${wanted}`);
        }
        backend.free(ptr);
      }
      assertClean(heap, "resizeInPlace");
    });

    optional("pushCached takes a block into the front cache and popCached hands it back", probe.pushCached !== undefined, () => {
      assert.ok(probe.popCached !== undefined, "a backend with pushCached has popCached too");
      const { heap, backend } = buildBackend(target);
      const ptr = backend.alloc(min);
      const live = backend.stats().liveBlocks;
      if (backend.pushCached!(ptr, heap.pages.ownerOf(ptr))) {
        assert.equal(backend.popCached!(min), ptr, "the block cached last comes back first");
      } else {
        const again = backend.popCached!(min);
        assert.ok(again === 0 || backend.owns(again), "an off or full cache hands out 0 or one of its blocks");
        if (again !== 0) backend.free(again);
      }
      assert.equal(backend.stats().liveBlocks, live, "caching is not freeing");
      backend.free(ptr);
      assertClean(heap, "the front cache");
    });

    const workerBlocks = (heap: Heap, backend: Backend): Map<number, number> => {
      const kept = new Map<number, number>();
      for (let i = 0; i < 60; i++) {
        const size = sizesToTry[i % sizesToTry.length];
        const ptr = backend.alloc(size);
        assert.ok(ptr > 0);
        if (i % 3 === 0) backend.free(ptr);
        else {
          heap.u8.fill(i & 255, ptr, ptr + Math.min(size, 64));
          kept.set(ptr, i);
        }
      }
      return kept;
    };
    const adoptAndFree = (heap: Heap, backend: Backend, kept: Map<number, number>, sizes: Map<number, number>) => {
      for (const [ptr, i] of kept) {
        const size = sizesToTry[i % sizesToTry.length];
        for (let at = 0; at < Math.min(size, 64); at++) assert.equal(heap.u8[ptr + at], i & 255, `block ${ptr} kept its contents`);
        assert.ok(backend.owns(ptr), `block ${ptr} is still a block`);
        backend.free(ptr);
      }
      assert.equal(backend.stats().liveBlocks, sizes.size, "every block of the worker that left was freed");
    };

    optional("detach: a worker that leaves hands its blocks over; another frees them", probe.detach !== undefined, () => {
      const { heap, backend, other, otherBackend } = buildPair(target);
      const own = new Map([[backend.alloc(min), min]]);
      const kept = workerBlocks(other, otherBackend);
      other.detach(); // calls the backend's detach
      assertClean(heap, "detach");
      adoptAndFree(heap, backend, kept, own);
      for (const ptr of own.keys()) backend.free(ptr);
      assertClean(heap, "freeing the detached worker's blocks");
    });

    optional("reclaim: what a terminated worker held is taken back; another frees its blocks", probe.reclaim !== undefined, () => {
      const { heap, backend, other, otherBackend } = buildPair(target);
      const own = new Map([[backend.alloc(min), min]]);
      const kept = workerBlocks(other, otherBackend);
      heap.reclaim(other.workerId); // calls the backend's reclaim
      assertClean(heap, "reclaim");
      adoptAndFree(heap, backend, kept, own);
      for (const ptr of own.keys()) backend.free(ptr);
      assertClean(heap, "freeing the reclaimed worker's blocks");
    });

    optional("describe: its regions lie in its own pages, in order, and hold its live blocks", probe.describe !== undefined, () => {
      const { heap, backend } = buildBackend(target);
      const ptrs = sizesToTry.map((size) => backend.alloc(size));
      const stats = JSON.stringify(backend.stats());
      const description = backend.describe!();
      assert.equal(JSON.stringify(backend.stats()), stats, "describe changes nothing");
      assertClean(heap, "describe");
      let end = 0;
      let used = 0;
      for (const region of description.regions) {
        assert.ok(region.base % PAGE_SIZE === 0 && region.base >= end && region.pages >= 1, `region at ${region.base} in address order`);
        end = region.base + region.pages * PAGE_SIZE;
        assert.equal(heap.router.ownerIndex(region.base), 0, `region at ${region.base} lies in the backend's pages`);
        assert.ok(region.sizeClass >= -1 && region.sizeClass < description.classSizes.length, `class ${region.sizeClass}`);
        assert.ok(region.used >= 0 && region.used <= region.capacity, `${region.used} of ${region.capacity} in use`);
        if (region.group !== undefined) {
          assert.ok(region.group >= 0 && region.group < (description.groups?.length ?? 0), "its group exists");
        }
        used += region.used;
      }
      assert.ok(used >= ptrs.length, `${used} blocks in use in the regions, ${ptrs.length} allocated`);
      ptrs.forEach((ptr, index) => {
        const region = description.regions.find((region) => region.base <= ptr && ptr < region.base + region.pages * PAGE_SIZE);
        assert.ok(region !== undefined, `block ${ptr} lies in a region`);
        if (description.style === "classes") {
          assert.ok(description.classSizes[region.sizeClass] >= sizesToTry[index], `block ${ptr}'s region has a class that fits it`);
        }
        backend.free(ptr);
      });
      assertClean(heap, "freeing after describe");
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
