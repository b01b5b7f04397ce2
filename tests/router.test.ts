// The router: table validation at construction, routing by size, exact
// counters (fallbacks and failures included), the decision log and health.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { backendAreaWord, PageKind } from "../memory/layout.ts";
import { RecordArena } from "../memory/records.ts";
import type { Route, RouteDecision } from "../router/router.ts";
import { Router } from "../router/router.ts";
import { FakeBackend, fakeBackend } from "./_fakes.ts";

const SMALL_MAX = 4096;
const MEDIUM_MAX = 65536;

/** small 1..4096, medium 4097..65536, mmap above; fallbacks small → medium → mmap, medium → mmap. */
function threeWayHeap(extra: { logRing?: number; fallbacks?: Record<string, string[]>; maxBytes?: number } = {}): Heap {
  return createHeap({
    maxBytes: extra.maxBytes ?? 64 << 20,
    logRing: extra.logRing,
    backends: [fakeBackend("small", SMALL_MAX), fakeBackend("medium", MEDIUM_MAX), mmapBackend],
    routes: [
      { min: 1, max: SMALL_MAX, backend: "small" },
      { min: SMALL_MAX + 1, max: MEDIUM_MAX, backend: "medium" },
      { min: MEDIUM_MAX + 1, max: Infinity, backend: "mmap" },
    ],
    fallbacks: extra.fallbacks ?? { small: ["medium", "mmap"], medium: ["mmap"] },
  });
}

function fake(heap: Heap, name: string): FakeBackend {
  const backend = heap.router.backends.find((entry) => entry.capabilities.name === name);
  assert.ok(backend instanceof FakeBackend, `no fake backend ${name}`);
  return backend;
}

function nameOf(heap: Heap, ptr: number): string {
  return heap.router.backends[heap.router.ownerIndex(ptr)].capabilities.name;
}

function expectRouteError(build: () => unknown, mention: string): void {
  assert.throws(build, (error: unknown) => {
    assert.ok(error instanceof HakmemError, `threw ${error}, not a HakmemError`);
    assert.equal(error.code, "INVALID_ROUTE");
    assert.ok(error.message.includes(mention), `message ${JSON.stringify(error.message)} does not mention ${JSON.stringify(mention)}`);
    return true;
  });
}

describe("router: table validation at construction", () => {
  const backends = [fakeBackend("small", SMALL_MAX), mmapBackend];
  const build = (routes: Route[], fallbacks: Record<string, string[]> = {}) => createHeap({ backends, routes, fallbacks });

  test("a valid table builds", () => {
    const heap = build([{ min: SMALL_MAX + 1, max: Infinity, backend: "mmap" }, { min: 1, max: SMALL_MAX, backend: "small" }]);
    assert.deepEqual(heap.router.routes.map((route) => route.backend), ["small", "mmap"], "routes are sorted by size");
  });

  test("a gap is rejected", () => {
    expectRouteError(() => build([{ min: 1, max: 100, backend: "small" }, { min: 200, max: Infinity, backend: "mmap" }]), "101..199");
    expectRouteError(() => build([{ min: 2, max: Infinity, backend: "mmap" }]), "1..1");
  });

  test("a table that stops before Infinity is rejected", () => {
    expectRouteError(() => build([{ min: 1, max: SMALL_MAX, backend: "small" }]), `${SMALL_MAX + 1} up`);
  });

  test("an overlap is rejected", () => {
    expectRouteError(() => build([{ min: 1, max: 100, backend: "small" }, { min: 50, max: Infinity, backend: "mmap" }]), "overlaps");
    expectRouteError(() => build([{ min: 0, max: Infinity, backend: "mmap" }]), "overlaps");
  });

  test("an unknown backend is rejected", () => {
    expectRouteError(() => build([{ min: 1, max: 100, backend: "small" }, { min: 101, max: Infinity, backend: "nope" }]), '"nope"');
  });

  test("a route beyond the backend's maxSize is rejected", () => {
    expectRouteError(() => build([{ min: 1, max: Infinity, backend: "small" }]), `at most ${SMALL_MAX}`);
    expectRouteError(
      () => build([{ min: 1, max: SMALL_MAX + 1, backend: "small" }, { min: SMALL_MAX + 2, max: Infinity, backend: "mmap" }]),
      `at most ${SMALL_MAX}`,
    );
  });

  test("an empty table is rejected", () => {
    expectRouteError(() => build([]), "no routes");
  });

  test("bounds that are not integers, or reversed, are rejected", () => {
    expectRouteError(() => build([{ min: 1, max: 10.5, backend: "small" }, { min: 11, max: Infinity, backend: "mmap" }]), "not a range");
    expectRouteError(() => build([{ min: 1, max: NaN, backend: "mmap" }]), "not a range");
    expectRouteError(() => build([{ min: 1.5, max: Infinity, backend: "mmap" }]), "not a range");
    expectRouteError(() => build([{ min: 1, max: 0, backend: "small" }, { min: 1, max: Infinity, backend: "mmap" }]), "not a range");
  });

  test("a backend that falls back to itself is rejected", () => {
    const routes = [{ min: 1, max: SMALL_MAX, backend: "small" }, { min: SMALL_MAX + 1, max: Infinity, backend: "mmap" }];
    expectRouteError(() => build(routes, { small: ["small"] }), "own fallback");
  });

  test("a fallback naming an unknown backend is rejected", () => {
    const routes = [{ min: 1, max: SMALL_MAX, backend: "small" }, { min: SMALL_MAX + 1, max: Infinity, backend: "mmap" }];
    expectRouteError(() => build(routes, { small: ["pool"] }), '"pool"');
    expectRouteError(() => build(routes, { nope: ["mmap"] }), '"nope"');
  });

  test("two backends with one name or one page kind are rejected", () => {
    const base = createHeap({ backends: [mmapBackend] });
    const records = new RecordArena(base.pages);
    const context = (kind: number) => ({
      mem: base.mem,
      pages: base.pages,
      records,
      kind,
      areaWord: backendAreaWord(kind),
      workerId: 0,
      fresh: false,
      debug: false,
    });
    const routes = [{ min: 1, max: Infinity, backend: "mmap" }];
    const one = new FakeBackend(context(PageKind.user1), "x", SMALL_MAX);
    const two = new FakeBackend(context(PageKind.user2), "x", SMALL_MAX);
    const mmap = mmapBackend.create(context(PageKind.mmap));
    expectRouteError(
      () =>
        new Router({
          backends: [{ backend: one, kind: 5 }, { backend: two, kind: 6 }, { backend: mmap, kind: 2 }],
          routes,
          pages: base.pages,
        }),
      "named",
    );
    const other = new FakeBackend(context(PageKind.user2), "y", SMALL_MAX);
    expectRouteError(
      () =>
        new Router({
          backends: [{ backend: one, kind: 5 }, { backend: other, kind: 5 }, { backend: mmap, kind: 2 }],
          routes,
          pages: base.pages,
        }),
      "kind 5",
    );
    expectRouteError(() => new Router({ backends: [{ backend: mmap, kind: 1 }], routes, pages: base.pages }), "kinds are 2..7");
    const router = new Router({ backends: [{ backend: mmap, kind: PageKind.mmap }], routes, pages: base.pages });
    assert.equal(router.routes.length, 1, "the same parts with a valid table build");
  });
});

describe("router: routing by size", () => {
  test("each size goes to the backend of its route", () => {
    const heap = threeWayHeap();
    const cases: Array<[number, string]> = [
      [0, "small"],
      [1, "small"],
      [SMALL_MAX, "small"],
      [SMALL_MAX + 1, "medium"],
      [MEDIUM_MAX, "medium"],
      [MEDIUM_MAX + 1, "mmap"],
      [1 << 20, "mmap"],
    ];
    for (const [size, expected] of cases) {
      const ptr = heap.malloc(size);
      assert.ok(ptr > 0);
      assert.equal(nameOf(heap, ptr), expected, `size ${size}`);
      assert.ok(heap.usableSize(ptr) >= size);
      assert.equal(heap.router.routes[heap.router.routeOf(size)].backend, expected, `routeOf(${size})`);
      heap.free(ptr);
    }
    assert.ok(heap.check().ok);
  });

  test("sizes above the direct table are routed by the table too", () => {
    const heap = createHeap({
      backends: [fakeBackend("a", 100000), fakeBackend("b", 200000), mmapBackend],
      routes: [
        { min: 1, max: 100000, backend: "a" },
        { min: 100001, max: 200000, backend: "b" },
        { min: 200001, max: Infinity, backend: "mmap" },
      ],
      fallbacks: {},
    });
    const names = (size: number) => heap.router.routes[heap.router.routeOf(size)].backend;
    assert.deepEqual([names(65536), names(65537), names(100000), names(100001), names(200000), names(200001), names(2 ** 40)], [
      "a",
      "a",
      "a",
      "b",
      "b",
      "mmap",
      "mmap",
    ]);
  });
});

describe("router: counters", () => {
  test("decisions per route, allocs and frees per backend are exact", () => {
    const heap = threeWayHeap();
    const sizes = [1, 10, 100, 4096, 5000, 20000, 65536, 70000, 1 << 20];
    const ptrs = sizes.map((size) => heap.malloc(size));
    const counters = heap.router.counters();
    assert.deepEqual(counters.routes.map((route) => route.decisions), [4, 3, 2]);
    assert.equal(counters.totalRoutes, 9);
    assert.deepEqual(counters.allocs, { small: 4, medium: 3, mmap: 2 });
    assert.deepEqual(counters.frees, { small: 0, medium: 0, mmap: 0 });
    assert.equal(counters.fallbackCount, 0);
    assert.equal(counters.routeFailures, 0);
    heap.free(ptrs[0]);
    heap.free(ptrs[4]);
    heap.free(ptrs[8]);
    assert.deepEqual(heap.router.counters().frees, { small: 1, medium: 1, mmap: 1 });
    assert.deepEqual(heap.router.counters().allocs, { small: 4, medium: 3, mmap: 2 }, "frees do not change allocs");
    assert.equal(fake(heap, "small").health().counters.allocs, 4, "the backend's own count agrees");
    assert.ok(heap.check().ok, "the router's counts agree with the backends' live blocks");
    heap.router.resetCounters();
    const reset = heap.router.counters();
    assert.equal(reset.totalRoutes, 0);
    assert.deepEqual(reset.allocs, { small: 0, medium: 0, mmap: 0 });
    assert.deepEqual(reset.frees, { small: 0, medium: 0, mmap: 0 });
  });

  test("tiny's cache hits are counted as the first route's decisions and frees, with logging on or off", () => {
    const heap = createHeap();
    const rounds = 300; // enough to pass through refills, cache hits and spills
    const ptrs: number[] = [];
    for (let i = 0; i < rounds; i++) ptrs.push(heap.malloc(16 + (i % 7) * 100));
    for (let i = 0; i < rounds; i += 2) heap.free(ptrs[i]);
    for (let i = 0; i < rounds; i += 2) ptrs[i] = heap.malloc(16 + (i % 7) * 100); // from the cache
    let counters = heap.router.counters();
    assert.equal(counters.routes[0].decisions, rounds + rounds / 2);
    assert.equal(counters.allocs.tiny, rounds + rounds / 2);
    assert.equal(counters.frees.tiny, rounds / 2);
    heap.router.setVerbose(true);
    const logged = heap.malloc(64);
    heap.free(logged);
    const ring = heap.router.recentDecisions();
    assert.equal(ring.length, 2, "a cache hit and a cache push are decisions the log sees");
    heap.router.setVerbose(false);
    for (const ptr of ptrs) heap.free(ptr);
    counters = heap.router.counters();
    assert.equal(counters.allocs.tiny, rounds + rounds / 2 + 1);
    assert.equal(counters.frees.tiny, counters.allocs.tiny);
    assert.ok(heap.check().ok, "the router's counts agree with tiny's live blocks");
  });

  test("the second route's backend at its own call site: decisions, frees and fallbacks counted", () => {
    const heap = threeWayHeap();
    const medium = fake(heap, "medium");
    const ptrs = [5000, 20000, 65536].map((size) => heap.malloc(size));
    assert.equal(medium.asked, 3);
    let counters = heap.router.counters();
    assert.deepEqual(counters.routes.map((route) => route.decisions), [0, 3, 0]);
    assert.deepEqual(counters.allocs, { small: 0, medium: 3, mmap: 0 });
    medium.refusing = true;
    const fallen = heap.malloc(6000);
    assert.equal(nameOf(heap, fallen), "mmap");
    counters = heap.router.counters();
    assert.equal(counters.routes[1].decisions, 4, "the refused request counts once, for its route");
    assert.equal(counters.fallbackCount, 1);
    assert.deepEqual(counters.allocs, { small: 0, medium: 3, mmap: 1 });
    for (const ptr of [...ptrs, fallen]) heap.free(ptr);
    assert.deepEqual(heap.router.counters().frees, { small: 0, medium: 3, mmap: 1 });
    assert.throws(() => heap.free(ptrs[0]), HakmemError, "a second free is refused");
    assert.deepEqual(heap.router.counters().frees, { small: 0, medium: 3, mmap: 1 }, "and counts nothing");
    heap.router.setVerbose(true);
    medium.refusing = false;
    heap.free(heap.malloc(7000));
    assert.deepEqual(heap.router.recentDecisions().map((decision) => decision.op), ["alloc", "free"], "logging sees them");
    heap.router.setVerbose(false);
    const noFallback = threeWayHeap({ fallbacks: {} });
    fake(noFallback, "medium").refusing = true;
    assert.equal(noFallback.malloc(5000), 0);
    assert.equal(noFallback.router.counters().routeFailures, 1);
    assert.ok(heap.check().ok && noFallback.check().ok);
  });

  test("a backend that returns 0 falls back, and the fallback is counted", () => {
    const heap = threeWayHeap();
    const small = fake(heap, "small");
    small.refusing = true;
    const ptr = heap.malloc(100);
    assert.ok(ptr > 0);
    assert.equal(nameOf(heap, ptr), "medium", "the first backend of the chain served it");
    let counters = heap.router.counters();
    assert.equal(counters.totalRoutes, 1);
    assert.equal(counters.routes[0].decisions, 1, "the decision counts for the route asked");
    assert.equal(counters.fallbackCount, 1);
    assert.equal(counters.routeFailures, 0);
    assert.deepEqual(counters.allocs, { small: 0, medium: 1, mmap: 0 }, "allocs count who served");
    assert.equal(small.asked, 1);

    fake(heap, "medium").refusing = true;
    const second = heap.malloc(200);
    assert.equal(nameOf(heap, second), "mmap");
    counters = heap.router.counters();
    assert.equal(counters.fallbackCount, 3, "medium then mmap were tried");
    assert.deepEqual(counters.allocs, { small: 0, medium: 1, mmap: 1 });

    heap.free(ptr);
    heap.free(second);
    assert.deepEqual(heap.router.counters().frees, { small: 0, medium: 1, mmap: 1 }, "frees go to the owner, not the route");
    assert.ok(heap.check().ok);
  });

  test("a fallback that cannot serve the size is skipped without counting a try", () => {
    const heap = threeWayHeap({ fallbacks: { medium: ["small", "mmap"] } });
    fake(heap, "medium").refusing = true;
    const ptr = heap.malloc(10000); // small serves at most 4096
    assert.equal(nameOf(heap, ptr), "mmap");
    const counters = heap.router.counters();
    assert.equal(counters.fallbackCount, 1);
    assert.equal(fake(heap, "small").asked, 0, "small was not asked");
    assert.deepEqual(counters.allocs, { small: 0, medium: 0, mmap: 1 });
    heap.free(ptr);
  });

  test("when every backend refuses, malloc returns 0 and the failure is counted", () => {
    const heap = threeWayHeap({ fallbacks: { small: ["medium"] } });
    fake(heap, "small").refusing = true;
    fake(heap, "medium").refusing = true;
    assert.equal(heap.malloc(64), 0);
    const counters = heap.router.counters();
    assert.equal(counters.totalRoutes, 1);
    assert.equal(counters.routeFailures, 1);
    assert.equal(counters.fallbackCount, 1);
    assert.deepEqual(counters.allocs, { small: 0, medium: 0, mmap: 0 });
    const health = heap.router.health();
    assert.equal(health.routeFailures, 1);
    assert.ok(heap.check().ok);
  });

  test("a backend with no fallback fails at once when it returns 0", () => {
    const heap = threeWayHeap({ fallbacks: {} });
    fake(heap, "small").refusing = true;
    assert.equal(heap.malloc(1), 0);
    assert.equal(heap.router.counters().fallbackCount, 0);
    assert.equal(heap.router.counters().routeFailures, 1);
  });

  test("mmap exhaustion is a counted failure, not an exception", () => {
    const heap = createHeap({ backends: [mmapBackend], maxBytes: 1 << 20 });
    assert.equal(heap.malloc(2 << 20), 0);
    assert.equal(heap.router.counters().routeFailures, 1);
    assert.equal(heap.health().backends[0].counters.failures, 1);
    assert.ok(heap.check().ok);
  });

  test("calloc and alignedAlloc are counted like malloc", () => {
    const heap = threeWayHeap();
    const zeroed = heap.calloc(10, 10);
    const aligned = heap.alignedAlloc(64, 100);
    const large = heap.calloc(1, 1 << 20);
    const counters = heap.router.counters();
    assert.equal(counters.totalRoutes, 3);
    assert.deepEqual(counters.allocs, { small: 2, medium: 0, mmap: 1 });
    for (const ptr of [zeroed, aligned, large]) heap.free(ptr);
    assert.ok(heap.check().ok);
  });
});

describe("router: decision log", () => {
  test("logging is off by default and the ring stays empty", () => {
    const heap = threeWayHeap();
    const seen: RouteDecision[] = [];
    heap.router.setSink((decision) => seen.push(decision));
    heap.free(heap.malloc(10));
    assert.equal(heap.router.isVerbose, false);
    assert.deepEqual(heap.router.recentDecisions(), []);
    assert.deepEqual(seen, [], "the sink hears nothing while logging is off");
  });

  test("setVerbose(true) logs allocations, frees, fallbacks and failures to the ring", () => {
    const heap = threeWayHeap();
    heap.router.setVerbose(true);
    const a = heap.malloc(100, "parser");
    const b = heap.malloc(100000);
    fake(heap, "small").refusing = true;
    const c = heap.malloc(50, "fallback site");
    heap.free(a);
    const log = heap.router.recentDecisions();
    assert.deepEqual(log, [
      { op: "alloc", size: 100, backend: "small", ptr: a, fallback: false, site: "parser" },
      { op: "alloc", size: 100000, backend: "mmap", ptr: b, fallback: false },
      { op: "alloc", size: 50, backend: "medium", ptr: c, fallback: true, site: "fallback site" },
      { op: "free", size: 0, backend: "small", ptr: a, fallback: false },
    ]);
    const heap2 = threeWayHeap({ fallbacks: {} });
    heap2.router.setVerbose(true);
    fake(heap2, "small").refusing = true;
    assert.equal(heap2.malloc(8, "doomed"), 0);
    assert.deepEqual(heap2.router.recentDecisions(), [{ op: "alloc", size: 8, backend: "", ptr: 0, fallback: false, site: "doomed" }]);
    heap.router.setVerbose(false);
    heap.free(b);
    assert.equal(heap.router.recentDecisions().length, 4, "nothing logged once it is off again");
  });

  test("the ring keeps the last logRing decisions, oldest dropped", () => {
    const heap = threeWayHeap({ logRing: 4 });
    heap.router.setVerbose(true);
    const ptrs = [];
    for (let size = 1; size <= 10; size++) ptrs.push(heap.malloc(size));
    const log = heap.router.recentDecisions();
    assert.equal(log.length, 4);
    assert.deepEqual(log.map((decision) => decision.size), [7, 8, 9, 10]);
    assert.deepEqual(log.map((decision) => decision.ptr), ptrs.slice(6));
    for (const ptr of ptrs) heap.free(ptr);
    assert.deepEqual(heap.router.recentDecisions().map((decision) => decision.ptr), ptrs.slice(6));
  });

  test("the verbose option turns logging on from the start", () => {
    const heap = createHeap({ backends: [mmapBackend], verbose: true, logRing: 2 });
    assert.equal(heap.router.isVerbose, true);
    heap.free(heap.malloc(1));
    assert.deepEqual(heap.router.recentDecisions().map((decision) => decision.op), ["alloc", "free"]);
  });

  test("the sink receives every decision with its site", () => {
    const heap = threeWayHeap({ logRing: 2 });
    const seen: RouteDecision[] = [];
    heap.router.setSink((decision) => seen.push(decision));
    heap.router.setVerbose(true);
    const ptrs = [heap.malloc(10, "a"), heap.malloc(20000, "b"), heap.malloc(300000, "c")];
    heap.free(ptrs[1]);
    assert.deepEqual(seen.map((decision) => [decision.op, decision.backend, decision.size, decision.site]), [
      ["alloc", "small", 10, "a"],
      ["alloc", "medium", 20000, "b"],
      ["alloc", "mmap", 300000, "c"],
      ["free", "medium", 0, undefined],
    ]);
    assert.deepEqual(seen.map((decision) => decision.ptr), [...ptrs, ptrs[1]]);
    assert.equal(heap.router.recentDecisions().length, 2, "the ring is bounded; the sink saw all");
    heap.router.setSink(undefined);
    heap.free(ptrs[0]);
    assert.equal(seen.length, 4, "a removed sink hears nothing");
  });
});

describe("router: health", () => {
  test("health reports each backend ready and the totals", () => {
    const heap = threeWayHeap();
    const fresh = heap.router.health();
    assert.equal(fresh.ready, true);
    assert.deepEqual(fresh.backends.map((backend) => [backend.name, backend.ready]), [["small", true], ["medium", true], ["mmap", true]]);
    assert.deepEqual([fresh.totalRoutes, fresh.routeFailures, fresh.fallbackCount], [0, 0, 0]);
    fake(heap, "small").refusing = true;
    const ptrs = [heap.malloc(10), heap.malloc(10000), heap.malloc(1 << 20)];
    const health = heap.health();
    assert.deepEqual([health.totalRoutes, health.routeFailures, health.fallbackCount], [3, 0, 1]);
    assert.equal(health.memory, "WebAssembly.Memory", "the default memory");
    assert.ok(health.memoryBytes > 0 && health.memoryBytes <= health.maxBytes);
    const byName = Object.fromEntries(health.backends.map((backend) => [backend.name, backend.counters]));
    assert.equal(byName.medium.allocs, 2);
    assert.equal(byName.mmap.allocs, 1);
    assert.equal(byName.small.allocs, 0);
    assert.equal(JSON.parse(JSON.stringify(health)).totalRoutes, 3, "health is plain data");
    for (const ptr of ptrs) heap.free(ptr);
    assert.equal(heap.health().backends.find((backend) => backend.name === "medium")!.counters.frees, 2);
  });
});
