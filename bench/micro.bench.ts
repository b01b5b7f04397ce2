/**
 * Micro-benchmarks (mitata) of single operations: a malloc + free pair with
 * 256 blocks live, calloc, realloc growth, and the router's cost (a heap's
 * malloc against its backend called directly).
 *
 * ```sh
 * deno run -A bench/micro.bench.ts
 * bun bench/micro.bench.ts
 * ```
 * @module
 */

import process from "node:process";
import { MemPool } from "@thi.ng/malloc";
import { bench, group, run } from "mitata";
import { createHeap } from "../mod.ts";
import { REGISTRY } from "../backends/registry.ts";
import { resolveOptions } from "../core/options.ts";
import { buildBackend } from "../testing/contract.ts";
import { THING_OPTIONS } from "./contenders.ts";
import { Floor } from "./floor.ts";

const MiB = 1 << 20;
const LIVE = 256;

/** An allocator as the micro-benchmarks call it. */
interface Allocator {
  malloc(size: number): number;
  free(ptr: number): void;
}

/**
 * A ring of LIVE blocks: each call frees the oldest and allocates a new one,
 * so an allocator whose free searches its live blocks pays for all of them.
 */
function ringPair(allocator: Allocator, size: number): () => void {
  const ring = new Float64Array(LIVE);
  for (let index = 0; index < LIVE; index++) ring[index] = allocator.malloc(size);
  let next = 0;
  return () => {
    allocator.free(ring[next]);
    ring[next] = allocator.malloc(size);
    next = (next + 1) % LIVE;
  };
}

const heap = createHeap({ maxBytes: 256 * MiB });
const floor = new Floor(256 * MiB);
const pool = new MemPool({ buf: new ArrayBuffer(64 * MiB), ...THING_OPTIONS });

group(`malloc + free, 64 B, ${LIVE} blocks live (oldest freed first)`, () => {
  bench("hakmem", ringPair(heap, 64));
  bench("floor", ringPair(floor, 64));
  bench("@thi.ng/malloc", ringPair(pool, 64));
});

group("calloc 256 B + free", () => {
  bench("hakmem", () => heap.free(heap.calloc(1, 256)));
  bench("floor (malloc + fill)", () => {
    const ptr = floor.malloc(256);
    floor.u8.fill(0, ptr, ptr + 256);
    floor.free(ptr);
  });
  bench("@thi.ng/malloc", () => pool.free(pool.calloc(256)));
});

// @thi.ng/malloc's realloc leaks the old block whenever it moves (6.1.150), so its pool here is its own and
// is reset after each growth instead of freed; the others free. A growth that fails would time nothing: it throws.
const reallocPool = new MemPool({ buf: new ArrayBuffer(16 * MiB), ...THING_OPTIONS });

group("realloc growth 16 B → 64 KiB (doubling) + free", () => {
  const grow = (allocator: Allocator & { realloc(ptr: number, size: number): number }, release: (ptr: number) => void) => () => {
    let ptr = allocator.malloc(16);
    for (let size = 32; size <= 65536; size *= 2) {
      ptr = allocator.realloc(ptr, size);
      if (ptr === 0) throw new Error(`realloc to ${size} failed`);
    }
    release(ptr);
  };
  bench("hakmem", grow(heap, (ptr) => heap.free(ptr)));
  bench("floor", grow(floor, (ptr) => floor.free(ptr)));
  bench("@thi.ng/malloc (reset after each)", grow(reallocPool, () => reallocPool.freeAll()));
});

group("router overhead: malloc + free 64 B, through the heap vs the backend alone", () => {
  bench("hakmem (router)", () => heap.free(heap.malloc(64)));
  for (const entry of REGISTRY) {
    if (entry.sizes.min > 64 || entry.sizes.max < 64) continue;
    const options = { ...entry.options };
    const { backend } = buildBackend(
      { name: entry.name, factory: entry.factory(resolveOptions(options)), sizes: entry.sizes, options },
      256 * MiB,
    );
    bench(`${entry.name} alone`, () => backend.free(backend.alloc(64)));
  }
  bench("floor", () => floor.free(floor.malloc(64)));
});

await run({ colors: process.stdout.isTTY === true }); // plain text when written to a file
