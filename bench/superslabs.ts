/**
 * Peak SuperSlab count and peak footprint of tiny over the shared pool and
 * over legacy, on the random mixed workload with 256 slots (16..1024 B,
 * 2,000,000 steps, seed 1): the figure the shared-pool issue asks for beside
 * the footprint. Run: `deno run bench/superslabs.ts` or `bun bench/superslabs.ts`.
 * @module
 */

import { createHeap } from "../mod.ts";
import { Random } from "../testing/random.ts";

for (const slabSource of ["shared", "legacy"] as const) {
  const heap = createHeap({ slabSource });
  const random = new Random(1);
  const slots = new Float64Array(256);
  for (let step = 0; step < 2_000_000; step++) {
    const slot = random.int(256);
    if (slots[slot] !== 0) {
      heap.free(slots[slot]);
      slots[slot] = 0;
    } else {
      slots[slot] = heap.malloc(16 + random.int(1009));
    }
  }
  const counters = heap.health().backends.find((backend) => backend.name === "tiny")!.counters;
  const peak = slabSource === "shared" ? counters["shared_pool.peakSuperslabs"] : counters["legacy.peakSuperslabs"];
  console.log(`${slabSource}: peak SuperSlabs ${peak}, peak footprint ${heap.stats().peakFootprintBytes} bytes`);
}
