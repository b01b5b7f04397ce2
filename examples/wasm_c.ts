/**
 * A C program and JavaScript sharing one heap. `wasm_c/shapes.c`, compiled
 * with clang and wasi-libc and linked with the heap's C shim
 * (`wasm/c/hakmem_malloc.c`, whose malloc and free call the heap), builds a
 * list of polygons: each a struct in a block of the heap, its corners in a
 * block of their own. It returns the list's head; JavaScript walks the list
 * through the heap (`heap.view`, `heap.typed`), checks each perimeter, hands
 * C a polygon it allocated and filled itself, and frees every block, C's and
 * its own, with `heap.free`.
 *
 * The heap lives in the module's own memory, above the module's data and
 * stack: `createWasmHeap(instance)` makes it from the module's exported
 * `__heap_base` up, after instantiation and before the module runs. The
 * module's "hakmem" imports are needed before that, so they are
 * `wasmImports(() => heap)`, which find the heap at their first call.
 *
 * Run: `deno run --allow-read examples/wasm_c.ts [polygons]` or `bun examples/wasm_c.ts`.
 * The .wasm is committed; `sh wasm/c/build.sh` rebuilds it from the C.
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import type { Heap } from "../mod.ts";
import { createWasmHeap, wasmImports } from "../wasm/mod.ts";

/** The C struct polygon's fields, as shapes.c lays them out (its static asserts pin them). */
const NEXT = 0;
const SIDES = 4;
const PERIMETER = 8;
const POINTS = 16;

/** What the run found. */
export interface WasmCResult {
  /** The shared heap, every block freed. */
  heap: Heap;
  /** Polygons JavaScript read from C's list. */
  polygons: number;
  /** Corners read, over all polygons. */
  corners: number;
  /** Polygons whose perimeter as JavaScript computed it differs from C's (0 expected). */
  mismatches: number;
  /** Whether every corner lay on its circle (radius k for the polygon of k + 2 sides). */
  onCircles: boolean;
  /** C's perimeter of JavaScript's unit square (4 expected). */
  squarePerimeter: number;
  /** Blocks live after JavaScript freed the list (0 expected). */
  liveAfter: number;
}

/** Runs the example: C builds `count` polygons, JavaScript reads and frees them. */
export async function runWasmC(options: { count?: number; log?: (line: string) => void } = {}): Promise<WasmCResult> {
  const count = options.count ?? 1000;
  const log = options.log ?? console.log;
  const module = await WebAssembly.compile(readFileSync(new URL("./wasm_c/shapes.wasm", import.meta.url)));
  let heap: Heap | undefined = undefined; // made after instantiation; the imports find it at their first call
  const instance = await WebAssembly.instantiate(module, { hakmem: { ...wasmImports(() => heap) } });
  heap = createWasmHeap(instance);
  const c = instance.exports as {
    _initialize(): void;
    polygons_build(count: number): number;
    polygon_wrap(points: number, sides: number, next: number): number;
    perimeter_of(points: number, sides: number): number;
    polygons_free(head: number): void;
  };
  c._initialize();

  // C builds the list in blocks of the heap.
  const head = c.polygons_build(count) >>> 0;
  if (head === 0) throw new Error("the module ran out of memory");

  // JavaScript reads it. A view of the whole memory, taken now: the heap grew the memory while C allocated.
  const view = new DataView(heap.buffer);
  let polygons = 0;
  let corners = 0;
  let mismatches = 0;
  let onCircles = true;
  const toFree: number[] = [];
  for (let node = head; node !== 0; node = view.getUint32(node + NEXT, true)) {
    const sides = view.getUint32(node + SIDES, true);
    const points = heap.typed(Float64Array, view.getUint32(node + POINTS, true), 2 * sides);
    let perimeter = 0;
    for (let i = 0; i < sides; i++) {
      const j = (i + 1) % sides;
      const dx = points[2 * j] - points[2 * i];
      const dy = points[2 * j + 1] - points[2 * i + 1];
      perimeter += Math.sqrt(dx * dx + dy * dy);
      const radius = Math.sqrt(points[2 * i] ** 2 + points[2 * i + 1] ** 2);
      if (Math.abs(radius - (sides - 2)) > 1e-9 * sides) onCircles = false;
    }
    if (perimeter !== view.getFloat64(node + PERIMETER, true)) mismatches++;
    polygons++;
    corners += sides;
    toFree.push(node, points.byteOffset);
  }
  const peak = heap.stats();

  // JavaScript allocates a polygon's corners and hands the block to C, which wraps it in a node of its own.
  const square = heap.malloc(8 * 8);
  heap.typed(Float64Array, square, 8).set([0, 0, 1, 0, 1, 1, 0, 1]);
  const squareNode = c.polygon_wrap(square, 4, 0) >>> 0;
  const squarePerimeter = c.perimeter_of(square, 4);

  // JavaScript frees C's blocks; C frees the node around JavaScript's block, and the block with it.
  for (const ptr of toFree) heap.free(ptr);
  c.polygons_free(squareNode);
  const liveAfter = heap.stats().liveBlocks;

  log(`wasm_c: C built ${polygons.toLocaleString("en-US")} polygons (${corners.toLocaleString("en-US")} corners) in the shared heap`);
  log(`  JavaScript read them: ${mismatches} perimeters differ from C's, corners ${onCircles ? "on" : "OFF"} their circles`);
  log(`  at the peak: ${peak.liveBlocks.toLocaleString("en-US")} live blocks, ${(peak.liveBytes / 1024).toFixed(1)} KiB`);
  log(`  C's perimeter of JavaScript's unit square: ${squarePerimeter}`);
  log(`  after freeing: ${liveAfter} live blocks, check ${heap.check("full").ok ? "ok" : "FAILED"}`);
  return { heap, polygons, corners, mismatches, onCircles, squarePerimeter, liveAfter };
}

if (import.meta.main) {
  const argument = process.argv.slice(2).find((arg) => !arg.startsWith("-"));
  await runWasmC({ count: argument === undefined ? undefined : Number(argument) });
}
