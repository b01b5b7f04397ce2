/**
 * What trust costs (mitata): a malloc + free pair of 64 and of 4096 bytes in
 * the default heap (its cheap checks: pointer tests, double-free markers,
 * counters), in a debug heap (guards, trailers, poisoning, sites), and in
 * the backend that serves the size called alone (no router, no heap checks).
 * Also the debug heap with a `site` given, which skips capturing a stack.
 *
 * ```sh
 * deno run -A bench/debug.bench.ts
 * bun bench/debug.bench.ts
 * ```
 * @module
 */

import { bench, group, run } from "mitata";
import { createHeap } from "../mod.ts";
import { REGISTRY } from "../backends/registry.ts";
import { resolveOptions } from "../core/options.ts";
import { buildBackend } from "../testing/contract.ts";
import "../debug/mod.ts"; // debug mode, which this benchmark measures

const MiB = 1 << 20;
/** Calls each pair this often before mitata starts: a pair first optimized inside mitata's loop can run 3× slower (seen on Deno). */
const WARM_UP = 20000;

/** Warms `pair` up, then registers it. */
function pairBench(name: string, pair: () => void): void {
  for (let i = 0; i < WARM_UP; i++) pair();
  bench(name, pair);
}

const heap = createHeap({ maxBytes: 256 * MiB });
const debugHeap = createHeap({ maxBytes: 256 * MiB, debug: true });

for (const size of [64, 4096]) {
  group(`malloc + free, ${size} B`, () => {
    pairBench("default heap", () => heap.free(heap.malloc(size)));
    pairBench("debug heap", () => debugHeap.free(debugHeap.malloc(size)));
    pairBench("debug heap, site given", () => debugHeap.free(debugHeap.malloc(size, "bench")));
    for (const entry of REGISTRY) {
      // Variants (tiny over legacy, without caches) are in micro.bench.ts; here the backend as the default heap has it.
      if (entry.options !== undefined || size < entry.sizes.min || size > entry.sizes.max) continue;
      const { backend } = buildBackend({ name: entry.name, factory: entry.factory(resolveOptions()), sizes: entry.sizes }, 256 * MiB);
      pairBench(`${entry.name} alone`, () => backend.free(backend.alloc(size)));
    }
  });
}

await run();
