// Runs the Box API conformance suite against every backend in the registry.
import { REGISTRY } from "../backends/registry.ts";
import { resolveOptions } from "../core/options.ts";
import { buildBackend, runContractSuite } from "../testing/contract.ts";
import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeBackend } from "./_fakes.ts";

for (const entry of REGISTRY) {
  const options = { ...entry.options };
  runContractSuite({ name: entry.name, factory: entry.factory(resolveOptions(options)), sizes: entry.sizes, options });
}

// The contract heap treats no backend name specially: a backend of the user's that happens to be called "mmap"
// but serves small sizes only is tested like any other (sizes above its range go to the suite's own helper).

test("buildBackend: a small backend named mmap gets the larger sizes served by the suite's helper", () => {
  const { heap, backend } = buildBackend({ name: "small mmap", factory: fakeBackend("mmap", 4096), sizes: { min: 1, max: 4096 } });
  assert.equal(backend.capabilities.maxSize, 4096);
  const ptr = backend.alloc(100);
  assert.ok(ptr > 0 && backend.owns(ptr));
  assert.ok(heap.malloc(1 << 20) > 0, "a size above its range is served by the helper");
  backend.free(ptr);
  assert.equal(heap.check("full").ok, true);
});
