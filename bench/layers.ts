/**
 * What each layer of the hot path costs: the larson churn (1000 live blocks
 * of 16..1024 B, free one, malloc another in its place, first and last byte
 * written) run through the heap's layers one at a time, beside the floor
 * behind the same API, ns per operation. With `--pool`, the same churn over
 * 64 live blocks of 16 KiB + 1 B..64 KiB (the pool's single-block spans, route
 * 1, its cache tried by the router as tiny's is on route 0) through the
 * heap, router and backend rows and the floor.
 *
 * | row              | what the loop calls                                                                      |
 * | ---------------- | ---------------------------------------------------------------------------------------- |
 * | heap             | `heap.malloc` / `heap.free`: the public API (argument tests, router, backend)             |
 * | router           | `heap.router.alloc` / `heap.router.free`: the same below the argument tests              |
 * | backend          | the backend's `popCached` / `pushCached` after the page map's `ownerOf`, its `alloc`/`free` on a miss |
 * | inline           | the same structures read in the loop itself: page map, slab record test, cache stack     |
 * | inline, no tests | the same without the interior-pointer, double-free and owner tests                       |
 * | floor (API)      | the floor allocator (bench/floor.ts) behind `malloc`/`free`/`u8`                          |
 *
 * Each row runs its own function (every call site sees one allocator), over a
 * fresh heap per run, rounds interleaved; medians and minima of the rounds.
 * The two inline rows read the memory as tiny's slabs and cache page lay it
 * out (backends/slab/slab.ts, backends/tiny/cache_page.ts); they cost what
 * the structures cost without the layers, and hand anything unusual (a full
 * cache, a miss) to tiny as the backend row does. They are one loop with the
 * tests behind a flag (a copy per row would repeat it whole): their difference
 * is what computing the tests costs, the branch around them stays in both.
 *
 * ```sh
 * deno run -A bench/layers.ts [--rounds N] [--quick] [--pool]
 * bun bench/layers.ts [--rounds N] [--quick] [--pool]
 * ```
 *
 * `--quick`: 20,000 steps and one round (proves every row runs and leaves its heap whole).
 * @module
 */

import process from "node:process";
import { createHeap, type Heap } from "../mod.ts";
import { FREE_MARK } from "../backends/slab/blocks.ts";
import { S_BASE, S_BUMP, S_CLASS, S_DIVISOR, S_OWNER, S_SIZE, SLAB_UNIT_SHIFT } from "../backends/slab/slab.ts";
import { SIZE_TO_CLASS } from "../backends/slab/size_classes.ts";
import { P_STACKS, stackShift } from "../backends/tiny/cache_page.ts";
import { KIND_MASK, PAGE_SHIFT, REGION_SHIFT } from "../memory/layout.ts";
import type { Backend } from "../router/box.ts";
import { Floor } from "./floor.ts";
import { median, runtimeInfo } from "./runner.ts";
import { churnTrace } from "./workloads.ts";

/** The two churns: larson's small blocks (tiny, route 0) and the pool's single-block spans (route 1). */
export type LayerSet = "larson" | "pool";
const SETS: Record<LayerSet, { blocks: number; min: number; max: number }> = {
  larson: { blocks: 1000, min: 16, max: 1024 },
  pool: { blocks: 64, min: 16385, max: 65536 },
};
const MAX_BYTES = 512 << 20;
const PAGE_IN_REGION = (1 << (REGION_SHIFT - PAGE_SHIFT)) - 1;
let BLOCKS = SETS.larson.blocks;
let STEPS = 0; // set, with its trace, by measureLayers
let trace = churnTrace(BLOCKS, 16, 1024, STEPS, 1);

/** What the inline rows read of tiny (its private fields, by name: a bench may look inside). */
interface TinyInside {
  readonly i32: Int32Array;
  readonly kind: number;
  readonly owner: number;
  readonly countAt: number;
  readonly cacheCap: Int32Array;
}

function backendOf(heap: Heap, name: string): Backend {
  return heap.router.backends.find((backend) => backend.capabilities.name === name)!;
}

function tinyOf(heap: Heap): Backend {
  return backendOf(heap, "tiny");
}

function fill(malloc: (size: number) => number, ptrs: Float64Array): void {
  for (let i = 0; i < BLOCKS; i++) ptrs[i] = malloc(trace.fillSize[i]);
}

function heapLoop(heap: Heap, ptrs: Float64Array): void {
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    heap.free(ptrs[slot]);
    const ptr = heap.malloc(size);
    ptrs[slot] = ptr;
    const u8 = heap.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

function routerLoop(heap: Heap, ptrs: Float64Array): void {
  const router = heap.router;
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    router.free(ptrs[slot]);
    const ptr = router.alloc(size);
    ptrs[slot] = ptr;
    const u8 = heap.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

function backendLoop(heap: Heap, ptrs: Float64Array): void {
  const tiny = tinyOf(heap);
  const pages = heap.pages;
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    const old = ptrs[slot];
    const entry = pages.ownerOf(old);
    if (!tiny.pushCached!(old, entry)) tiny.free(old, entry);
    let ptr = tiny.popCached!(size);
    if (ptr === 0) ptr = tiny.alloc(size);
    ptrs[slot] = ptr;
    const u8 = heap.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

/** The backend row of the pool set: its own copy, so that its call sites see the pool only. */
function poolBackendLoop(heap: Heap, ptrs: Float64Array): void {
  const pool = backendOf(heap, "pool");
  const pages = heap.pages;
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    const old = ptrs[slot];
    const entry = pages.ownerOf(old);
    if (!pool.pushCached!(old, entry)) pool.free(old, entry);
    let ptr = pool.popCached!(size);
    if (ptr === 0) ptr = pool.alloc(size);
    ptrs[slot] = ptr;
    const u8 = heap.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

/** The inline rows: `tests` false leaves out the interior-pointer, double-free and owner tests. */
function inlineLoop(heap: Heap, ptrs: Float64Array, tests: boolean): void {
  const tiny = tinyOf(heap);
  const inside = tiny as unknown as TinyInside;
  const i32 = inside.i32; // no growth during the loop: the fill took the slabs it needs
  const dir = (heap.pages as unknown as { dir: number }).dir;
  const kind = inside.kind, owner = inside.owner, countAt = inside.countAt, caps = inside.cacheCap;
  const stacks = countAt + P_STACKS, shift = stackShift(caps);
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    const old = ptrs[slot];
    const leaf = i32[dir + (old >>> REGION_SHIFT)];
    const entry = leaf === 0 ? 0 : i32[(leaf >>> 2) + ((old >>> PAGE_SHIFT) & PAGE_IN_REGION)];
    let cached = false;
    if ((entry & KIND_MASK) === kind) {
      const r = (entry - kind) >>> 2;
      let live = true;
      if (tests) {
        const offset = old - (i32[r + S_BASE] >>> 0);
        const index = Math.imul(offset >>> SLAB_UNIT_SHIFT, i32[r + S_DIVISOR]) >>> 20;
        live = index < i32[r + S_BUMP] && index * i32[r + S_SIZE] === offset && i32[r + S_OWNER] === owner &&
          i32[(old >>> 2) + 1] !== (old ^ FREE_MARK);
      }
      const cls = i32[r + S_CLASS];
      const n = i32[countAt + cls];
      if (live && n < caps[cls]) {
        i32[(old >>> 2) + 1] = old ^ FREE_MARK;
        i32[stacks + (cls << shift) + n] = old;
        i32[countAt + cls] = n + 1;
        cached = true;
      }
    }
    if (!cached) tiny.free(old, entry);
    const cls = SIZE_TO_CLASS[size];
    const n = i32[countAt + cls] - 1;
    let ptr: number;
    if (n >= 0) {
      ptr = i32[stacks + (cls << shift) + n] >>> 0;
      i32[countAt + cls] = n;
      i32[(ptr >>> 2) + 1] = 0;
    } else ptr = tiny.alloc(size);
    ptrs[slot] = ptr;
    const u8 = heap.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

function inlineTestedLoop(heap: Heap, ptrs: Float64Array): void {
  inlineLoop(heap, ptrs, true);
}

function inlineUntestedLoop(heap: Heap, ptrs: Float64Array): void {
  inlineLoop(heap, ptrs, false);
}

function floorLoop(floor: Floor, ptrs: Float64Array): void {
  const slotOf = trace.slot, sizeOf = trace.size;
  for (let step = 0; step < STEPS; step++) {
    const slot = slotOf[step], size = sizeOf[step];
    floor.free(ptrs[slot]);
    const ptr = floor.malloc(size);
    ptrs[slot] = ptr;
    const u8 = floor.u8;
    u8[ptr] = 1;
    u8[ptr + size - 1] = 2;
  }
}

/** One row: a fresh allocator, filled, then timed over the churn. Returns ns per operation. */
type Row = { name: string; run: () => number };

function heapRow(name: string, loop: (heap: Heap, ptrs: Float64Array) => void): Row {
  return {
    name,
    run: () => {
      const heap = createHeap({ maxBytes: MAX_BYTES });
      const ptrs = new Float64Array(BLOCKS);
      fill((size) => heap.malloc(size), ptrs);
      heap.free(heap.malloc(4 << 20)); // room up front: the inline rows keep one view for the whole loop
      const start = performance.now();
      loop(heap, ptrs);
      const ns = ((performance.now() - start) * 1e6) / (2 * STEPS);
      const problems = heap.check("full").problems;
      if (problems.length > 0) throw new Error(`${name}: ${problems[0].message}`);
      return ns;
    },
  };
}

const FLOOR_ROW: Row = {
  name: "floor (API)",
  run: () => {
    const floor = new Floor(MAX_BYTES, "plain", MAX_BYTES);
    const ptrs = new Float64Array(BLOCKS);
    fill((size) => floor.malloc(size), ptrs);
    const start = performance.now();
    floorLoop(floor, ptrs);
    return ((performance.now() - start) * 1e6) / (2 * STEPS);
  },
};

const ROWS_OF: Record<LayerSet, Row[]> = {
  larson: [
    heapRow("heap", heapLoop),
    heapRow("router", routerLoop),
    heapRow("backend", backendLoop),
    heapRow("inline", inlineTestedLoop),
    heapRow("inline, no tests", inlineUntestedLoop),
    FLOOR_ROW,
  ],
  pool: [heapRow("heap", heapLoop), heapRow("router", routerLoop), heapRow("backend", poolBackendLoop), FLOOR_ROW],
};
let set: LayerSet = "larson";

/**
 * Every row's ns per operation for `which` churn, `rounds` interleaved rounds of `steps` churn steps (each run
 * checks its heap after). The floor is the last row.
 */
export function measureLayers(
  rounds: number,
  steps: number = 2_000_000,
  which: LayerSet = "larson",
): { names: string[]; times: number[][] } {
  if (steps !== STEPS || which !== set) {
    const { blocks, min, max } = SETS[which];
    set = which;
    BLOCKS = blocks;
    STEPS = steps;
    trace = churnTrace(BLOCKS, min, max, STEPS, 1);
  }
  const ROWS = ROWS_OF[which];
  const times: number[][] = ROWS.map(() => []);
  for (let round = 0; round < rounds; round++) {
    // Interleaved, each round starting one row later.
    for (let i = 0; i < ROWS.length; i++) {
      const row = (i + round) % ROWS.length;
      times[row].push(ROWS[row].run());
    }
  }
  return { names: ROWS.map((row) => row.name), times };
}

function main(): void {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const which: LayerSet = args.includes("--pool") ? "pool" : "larson";
  const at = args.indexOf("--rounds");
  const rounds = at >= 0 ? Number(args[at + 1]) : quick ? 1 : 11;
  const { names, times } = measureLayers(rounds, quick ? 20_000 : 2_000_000, which);
  const floorMedian = median(times[names.length - 1]);
  const floorMin = Math.min(...times[names.length - 1]);
  const info = runtimeInfo();
  const churn = which === "larson" ? "larson" : `the pool's churn (${BLOCKS} live blocks of 16 KiB + 1 B..64 KiB)`;
  console.log(
    `${churn} through each layer, ns per operation: ${info.name} ${info.version}, ${rounds} rounds interleaved, ${STEPS} steps\n`,
  );
  console.log("| row | median | vs floor (API) | minimum | vs floor (API) |");
  console.log("|---|---:|---:|---:|---:|");
  names.forEach((name, i) => {
    const med = median(times[i]);
    const min = Math.min(...times[i]);
    console.log(
      `| ${name} | ${med.toFixed(2)} | ${(floorMedian / med).toFixed(2)}× | ${min.toFixed(2)} | ${(floorMin / min).toFixed(2)}× |`,
    );
  });
}

if (import.meta.main) main();
