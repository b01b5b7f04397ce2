/**
 * The contenders the benchmarks compare: hakmem (default and legacy slab
 * source), every registry backend called directly without the router,
 * wasi-libc's dlmalloc compiled to WASM, `@thi.ng/malloc`, plain `Uint8Array`s
 * left to the garbage collector, and the floor allocator, both behind the
 * heap's API and bare. Each one's `allocator` answers to the names a hakmem
 * heap does (`malloc`, `free`, `realloc`, `u8`): hakmem's is the heap itself,
 * the others' the thinnest object that gives those names. Each contender gets
 * its own copy of the timed loops (bench/loops.ts), loaded here.
 *
 * A backend added to `REGISTRY` appears here as "<name> alone" with no more
 * wiring; a backend added to the default heap shows in "hakmem".
 * @module
 */

import { readFileSync } from "node:fs";
import { MemPool } from "@thi.ng/malloc";
import { createHeap, type Heap, type HeapConfig } from "../mod.ts";
import { REGISTRY, type RegistryEntry } from "../backends/registry.ts";
import { resolveOptions } from "../core/options.ts";
import type { Backend } from "../router/box.ts";
import { buildBackend } from "../testing/contract.ts";
import { Floor, FLOOR_MAX_SIZE } from "./floor.ts";
import * as BARE_FLOOR_LOOPS from "./floor_bare.ts";
import { type Allocator, FIRST_STAMP, LAST_STAMP, type Loops } from "./loops.ts";
import { BASELINE_NAME } from "./report.ts";

/** One allocator under test. Created fresh for every run: `setup`, the workload, `teardown`. */
export interface Contender {
  /** The name in tables and charts. */
  readonly name: string;
  /** Builds the allocator with memory up to `maxBytes`. */
  setup(maxBytes: number): void;
  /** What the loops call once set up: the heap itself for hakmem, the same names in front of the others. */
  readonly allocator: Allocator;
  /** Bytes the allocator holds now; null when not measurable. */
  footprint(): number | null;
  /** Most bytes it held at once since `setup`; null when not measurable. */
  peakFootprint(): number | null;
  /** Gives cached and empty memory back, where the allocator can. */
  trim?(): void;
  /** Broken invariants, where the allocator can check itself (empty when clean). */
  check?(): string[];
  /** Drops the allocator. */
  teardown(): void;
}

/** A kind of contender: how to make one, its own copy of the loops, and where it does not run. */
export interface ContenderSpec {
  /** The contender's name. */
  readonly name: string;
  /** "hakmem" for the whole heap, "backend" for a backend alone, "peer" for the others, "floor". */
  readonly kind: "hakmem" | "backend" | "peer" | "floor";
  /** The sizes it serves; it only runs workloads whose sizes lie inside. */
  readonly sizes: { min: number; max: number };
  /** Most live blocks it can hold in reasonable time, and why (workloads above it are skipped). */
  readonly liveBlockLimit?: { blocks: number; reason: string };
  /** Its own copy of the timed loops (see bench/loops.ts), so every call site in them sees only this contender. */
  readonly loops: Loops;
  /** A fresh, not yet set up contender. */
  create(): Contender;
}

/** The allocator of a contender that is not set up: calling it is a harness bug, said as such. */
const NOT_SET_UP: Allocator = {
  u8: null,
  malloc: () => {
    throw new Error("contender used before setup()");
  },
  free: () => {
    throw new Error("contender used before setup()");
  },
};

/** A whole hakmem heap: router and backends, as an application uses it. The loops call the heap itself. */
export class HakmemContender implements Contender {
  /** The contender's name. */
  readonly name: string;
  /** The heap, once set up (tests read it). */
  heap: Heap | null = null;
  private readonly config: HeapConfig;

  /** A contender over `createHeap(config)`. */
  constructor(name: string, config: HeapConfig = {}) {
    this.name = name;
    this.config = config;
  }

  get allocator(): Allocator {
    return this.heap ?? NOT_SET_UP;
  }

  setup(maxBytes: number): void {
    this.heap = createHeap({ ...this.config, maxBytes });
  }

  footprint(): number {
    return this.heap!.stats().footprintBytes;
  }

  peakFootprint(): number {
    return this.heap!.stats().peakFootprintBytes;
  }

  trim(): void {
    this.heap!.trim();
  }

  check(): string[] {
    return this.heap!.check("full").problems.map((problem) => `${problem.where}: ${problem.message}`);
  }

  teardown(): void {
    this.heap = null;
  }
}

/** A backend called past the router under the heap's names: `malloc` is its `alloc`, `u8` the heap's. */
class BackendAllocator implements Allocator {
  constructor(private readonly heap: Heap, private readonly backend: Backend) {}

  get u8(): Uint8Array {
    return this.heap.u8;
  }

  malloc(size: number): number {
    return this.backend.alloc(size);
  }

  free(ptr: number): void {
    this.backend.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    const backend = this.backend;
    if (backend.resizeInPlace && backend.resizeInPlace(ptr, size)) return ptr;
    const fresh = backend.alloc(size);
    if (fresh === 0) return 0;
    const old = backend.usableSize(ptr);
    this.heap.u8.copyWithin(fresh, ptr, ptr + Math.min(old, size));
    backend.free(ptr);
    return fresh;
  }
}

/** One registry backend called directly, past the router, in a heap of its own (what the router costs shows against "hakmem"). */
export class BackendAloneContender implements Contender {
  /** The contender's name. */
  readonly name: string;
  /** The heap the backend lives in, once set up. */
  heap: Heap | null = null;
  allocator: Allocator = NOT_SET_UP;
  private readonly entry: RegistryEntry;

  /** A contender over registry entry `entry`. */
  constructor(entry: RegistryEntry) {
    this.entry = entry;
    this.name = `${entry.name} alone`;
  }

  setup(maxBytes: number): void {
    const options = { ...this.entry.options };
    const built = buildBackend({
      name: this.entry.name,
      factory: this.entry.factory(resolveOptions(options)),
      sizes: this.entry.sizes,
      options,
    }, maxBytes);
    this.heap = built.heap;
    this.allocator = new BackendAllocator(built.heap, built.backend);
  }

  footprint(): number {
    return this.heap!.stats().footprintBytes;
  }

  peakFootprint(): number {
    return this.heap!.stats().peakFootprintBytes;
  }

  trim(): void {
    this.heap!.trim();
  }

  check(): string[] {
    // Called past the router, so the router's counters are not expected to match the backend.
    return this.heap!.check("full").problems.filter((problem) => problem.where !== "router").map((problem) =>
      `${problem.where}: ${problem.message}`
    );
  }

  teardown(): void {
    this.heap = null;
    this.allocator = NOT_SET_UP;
  }
}

/**
 * Options of the `@thi.ng/malloc` contender: the library's defaults, stated.
 * Neighbouring free blocks are merged on every free (`compact`), blocks are
 * split when reused (`split`). Measured on random_mixed_256, turning
 * compaction off made it 23× slower (first fit walks an ever longer list of
 * unmerged fragments) and 5× larger, so the defaults are its fair showing.
 * Its buffer cannot grow, so it is made `maxBytes` long.
 */
export const THING_OPTIONS = { compact: true, split: true } as const;

/** The part of MemPool's state the benchmark reads: its top (TypeScript marks it protected; it is a plain getter over the pool's state words). */
interface PoolTop {
  readonly top: number;
}

/** MemPool under the heap's names, tracking its top's peak (compaction lowers the top when the highest blocks are freed). */
class ThingAllocator implements Allocator {
  /** Most bytes below the top at once. */
  peakTop: number;
  readonly u8: Uint8Array;

  constructor(readonly pool: MemPool) {
    this.u8 = new Uint8Array(pool.buf); // its own u8 is protected; a view of the same bytes
    this.peakTop = (pool as unknown as PoolTop).top;
  }

  malloc(size: number): number {
    const pool = this.pool;
    const ptr = pool.malloc(size);
    const top = (pool as unknown as PoolTop).top; // one load; its malloc walks a list anyway
    if (top > this.peakTop) this.peakTop = top;
    return ptr;
  }

  free(ptr: number): void {
    this.pool.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    const pool = this.pool;
    const fresh = pool.realloc(ptr, size);
    const top = (pool as unknown as PoolTop).top;
    if (top > this.peakTop) this.peakTop = top;
    return fresh;
  }
}

/**
 * `@thi.ng/malloc`'s MemPool: first fit over an address-sorted free list; `free` walks the used list.
 * Its own `realloc` is used as is. In 6.1.150, a realloc that has to move the block leaks the old one
 * (it hands `free` the block's header address, which `free` does not find), so the large workload runs
 * out of memory: that is the library's behaviour, not the harness's.
 */
export class ThingContender implements Contender {
  /** The contender's name. */
  readonly name = "@thi.ng/malloc";
  private thing: ThingAllocator | null = null;

  get allocator(): Allocator {
    return this.thing ?? NOT_SET_UP;
  }

  setup(maxBytes: number): void {
    this.thing = new ThingAllocator(new MemPool({ buf: new ArrayBuffer(maxBytes), ...THING_OPTIONS }));
  }

  footprint(): number {
    return (this.thing!.pool as unknown as PoolTop).top; // nothing above the top was ever handed out
  }

  peakFootprint(): number {
    return this.thing!.peakTop;
  }

  teardown(): void {
    this.thing = null;
  }
}

/** `new Uint8Array(n)` per block, freed by dropping it; a pointer is a handle into a table of arrays. */
class GcAllocator implements Allocator {
  /** Blocks are separate objects: there is no one view (the loops call `touch`). */
  readonly u8: Uint8Array | null = null;
  private readonly blocks: (Uint8Array | undefined)[] = [undefined]; // handle 0 is NULL
  private readonly freeHandles: number[] = [];

  malloc(size: number): number {
    const block = new Uint8Array(size);
    const handle = this.freeHandles.pop();
    if (handle === undefined) {
      this.blocks.push(block);
      return this.blocks.length - 1;
    }
    this.blocks[handle] = block;
    return handle;
  }

  free(handle: number): void {
    this.blocks[handle] = undefined;
    this.freeHandles.push(handle);
  }

  realloc(handle: number, size: number): number {
    const old = this.blocks[handle]!;
    const block = new Uint8Array(size);
    block.set(size >= old.length ? old : old.subarray(0, size));
    this.blocks[handle] = block;
    return handle;
  }

  touch(handle: number, size: number): void {
    const block = this.blocks[handle]!;
    block[0] = FIRST_STAMP;
    block[size - 1] = LAST_STAMP;
  }
}

/** `new Uint8Array(n)` per block, left to the garbage collector. */
export class GcContender implements Contender {
  /** The contender's name. */
  readonly name = "Uint8Array (GC)";
  allocator: Allocator = NOT_SET_UP;

  setup(): void {
    this.allocator = new GcAllocator();
  }

  footprint(): null {
    return null; // the engine's heap holds the blocks; no figure of ours is comparable
  }

  peakFootprint(): null {
    return null;
  }

  teardown(): void {
    this.allocator = NOT_SET_UP;
  }
}

/** wasi-libc's dlmalloc for wasm32 (bench/wasm/build.sh), compiled once per process; it imports nothing. */
const DLMALLOC_MODULE = new WebAssembly.Module(readFileSync(new URL("./wasm/dlmalloc.wasm", import.meta.url)));

/** What bench/wasm/dlmalloc.c exports. */
interface DlmallocExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  realloc(ptr: number, size: number): number;
  memory_bytes(): number;
}

/**
 * dlmalloc called from JavaScript through its exports, as a user of a WASM malloc would. Its memory's old
 * buffer detaches whenever dlmalloc grows it, so `u8` is rebuilt after a malloc or realloc that left it empty.
 * Pointers past 2 GiB come back from WASM as negative i32: `>>> 0` makes them offsets again.
 */
class DlmallocAllocator implements Allocator {
  u8: Uint8Array;
  private readonly memory: WebAssembly.Memory;
  private readonly mallocExport: (size: number) => number;
  private readonly freeExport: (ptr: number) => void;
  private readonly reallocExport: (ptr: number, size: number) => number;

  constructor(readonly exports: DlmallocExports) {
    this.memory = exports.memory;
    this.mallocExport = exports.malloc;
    this.freeExport = exports.free;
    this.reallocExport = exports.realloc;
    this.u8 = new Uint8Array(this.memory.buffer);
  }

  malloc(size: number): number {
    const ptr = this.mallocExport(size) >>> 0;
    if (this.u8.byteLength === 0) this.u8 = new Uint8Array(this.memory.buffer);
    return ptr;
  }

  free(ptr: number): void {
    this.freeExport(ptr);
  }

  realloc(ptr: number, size: number): number {
    const fresh = this.reallocExport(ptr, size) >>> 0;
    if (this.u8.byteLength === 0) this.u8 = new Uint8Array(this.memory.buffer);
    return fresh;
  }
}

/**
 * wasi-libc's dlmalloc compiled to wasm32: a fresh instance (a fresh memory) per run. Its footprint is the
 * memory's size, which only grows: its 64 KiB stack and static data (one page) included.
 */
export class DlmallocContender implements Contender {
  /** The contender's name. */
  readonly name = "dlmalloc (WASM)";
  private dlmalloc: DlmallocAllocator | null = null;

  get allocator(): Allocator {
    return this.dlmalloc ?? NOT_SET_UP;
  }

  setup(): void {
    const instance = new WebAssembly.Instance(DLMALLOC_MODULE, {});
    this.dlmalloc = new DlmallocAllocator(instance.exports as unknown as DlmallocExports);
  }

  footprint(): number {
    return this.dlmalloc!.exports.memory_bytes();
  }

  peakFootprint(): number {
    return this.dlmalloc!.exports.memory_bytes(); // WASM memory never shrinks
  }

  teardown(): void {
    this.dlmalloc = null;
  }
}

/**
 * The floor allocator (bench/floor.ts) over a plain ArrayBuffer of the workload's `maxBytes`, made up front (the
 * system commits its pages as they are first written, as for thi.ng's buffer): it never grows, so no copy of a
 * growth is in its figures. The same contender serves "floor (API)", whose loops call the `Floor` object, and
 * "floor (bare)", whose loops (bench/floor_bare.ts) run it inline.
 */
export class FloorContender implements Contender {
  /** The contender's name. */
  readonly name: string;
  private floor: Floor | null = null;

  /** A floor contender named `name`. */
  constructor(name: string) {
    this.name = name;
  }

  get allocator(): Allocator {
    return this.floor ?? NOT_SET_UP;
  }

  setup(maxBytes: number): void {
    this.floor = new Floor(maxBytes, "plain", maxBytes);
  }

  footprint(): number {
    return this.floor!.footprint;
  }

  peakFootprint(): number {
    return this.floor!.footprint; // the bump pointer never goes down
  }

  teardown(): void {
    this.floor = null;
  }
}

const ANY_SIZE = { min: 1, max: 2 ** 32 };

/** The contender every ratio in the tables is taken against: the floor called as users call a heap. */
export const BASELINE: string = BASELINE_NAME;
/** The bare floor: its loops run the floor inline (bench/floor_bare.ts). */
export const BARE_FLOOR = "floor (bare)";

/**
 * A copy of bench/loops.ts of its own for `name`: the same source under another URL is another module to the
 * engine, compiled and profiled apart, so its call sites see only that contender's allocator.
 */
async function loadLoops(name: string): Promise<Loops> {
  return await import(`./loops.ts?contender=${encodeURIComponent(name)}`);
}

const LOOP_NAMES = [
  "hakmem",
  "hakmem-legacy",
  ...REGISTRY.map((entry) => `${entry.name} alone`),
  "dlmalloc (WASM)",
  "@thi.ng/malloc",
  "Uint8Array (GC)",
  BASELINE,
];
const LOOPS = new Map<string, Loops>();
for (const name of LOOP_NAMES) LOOPS.set(name, await loadLoops(name));

/** The loops copy of contender `name`; the bare floor's are bench/floor_bare.ts. Throws for a name with no copy. */
export function loopsFor(name: string): Loops {
  if (name === BARE_FLOOR) return BARE_FLOOR_LOOPS;
  const loops = LOOPS.get(name);
  if (loops === undefined) throw new Error(`no loops copy for ${JSON.stringify(name)}; the copies are ${LOOP_NAMES.join(", ")}`);
  return loops;
}

/**
 * Every contender, in table order: hakmem, hakmem-legacy, each registry backend alone, dlmalloc (WASM),
 * `@thi.ng/malloc`, `Uint8Array (GC)`, floor (API), floor (bare).
 */
export function contenders(): ContenderSpec[] {
  return [
    { name: "hakmem", kind: "hakmem", sizes: ANY_SIZE, loops: loopsFor("hakmem"), create: () => new HakmemContender("hakmem") },
    {
      name: "hakmem-legacy",
      kind: "hakmem",
      sizes: ANY_SIZE,
      loops: loopsFor("hakmem-legacy"),
      create: () => new HakmemContender("hakmem-legacy", { slabSource: "legacy" }),
    },
    ...REGISTRY.map((entry): ContenderSpec => ({
      name: `${entry.name} alone`,
      kind: "backend",
      sizes: entry.sizes,
      loops: loopsFor(`${entry.name} alone`),
      create: () => new BackendAloneContender(entry),
    })),
    { name: "dlmalloc (WASM)", kind: "peer", sizes: ANY_SIZE, loops: loopsFor("dlmalloc (WASM)"), create: () => new DlmallocContender() },
    {
      name: "@thi.ng/malloc",
      kind: "peer",
      sizes: ANY_SIZE,
      liveBlockLimit: { blocks: 10_000, reason: "its free walks the list of used blocks, O(live blocks): hours per round at this many" },
      loops: loopsFor("@thi.ng/malloc"),
      create: () => new ThingContender(),
    },
    { name: "Uint8Array (GC)", kind: "peer", sizes: ANY_SIZE, loops: loopsFor("Uint8Array (GC)"), create: () => new GcContender() },
    {
      name: BASELINE,
      kind: "floor",
      sizes: { min: 1, max: FLOOR_MAX_SIZE },
      loops: loopsFor(BASELINE),
      create: () => new FloorContender(BASELINE),
    },
    {
      name: BARE_FLOOR,
      kind: "floor",
      sizes: { min: 1, max: FLOOR_MAX_SIZE },
      loops: loopsFor(BARE_FLOOR),
      create: () => new FloorContender(BARE_FLOOR),
    },
  ];
}
