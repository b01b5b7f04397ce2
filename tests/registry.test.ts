// The registry's promise: a backend added to it with a default route is built
// into a default heap and routed there, in list order, with fallbacks to the
// routed backends after it, without more wiring (no list of names elsewhere).
import assert from "node:assert/strict";
import { test } from "node:test";
import { REGISTRY } from "../backends/registry.ts";
import { createHeap } from "../heap/heap.ts";
import { fakeBackend } from "./_fakes.ts";

test("a registry entry with a default route is routed by a default heap, between those around it", () => {
  const at = REGISTRY.findIndex((entry) => entry.name === "mmap");
  REGISTRY.splice(at, 0, {
    name: "mid",
    factory: () => fakeBackend("mid", 1 << 20),
    sizes: { min: 1, max: 1 << 20 },
    defaultRoute: () => 1 << 20,
  });
  try {
    const heap = createHeap();
    assert.deepEqual(heap.router.routes.map((route) => route.backend), ["tiny", "pool", "mid", "mmap"]);
    assert.deepEqual(heap.router.routes[2], { min: (256 << 10) + 1, max: 1 << 20, backend: "mid" });
    const ptr = heap.malloc(512 << 10);
    assert.equal(heap.router.backends[heap.router.ownerIndex(ptr)].capabilities.name, "mid");
    heap.free(ptr);
    assert.equal(heap.check("full").ok, true);
  } finally {
    REGISTRY.splice(at, 1);
  }
  assert.deepEqual(createHeap().router.routes.map((route) => route.backend), ["tiny", "pool", "mmap"], "the registry as it was");
});
