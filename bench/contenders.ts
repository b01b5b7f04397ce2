/**
 * The contenders the benchmarks compare, each behind one small interface:
 * hakmem (default and legacy slab source), every registry backend called
 * directly without the router, `@thi.ng/malloc`, plain `Uint8Array`s left to
 * the garbage collector, and the floor allocator.
 *
 * A backend added to `REGISTRY` appears here as "<name> alone" with no more
 * wiring; a backend added to the default heap shows in "hakmem".
 * @module
 */

import { MemPool } from "@thi.ng/malloc";
import { createHeap, type Heap, type HeapConfig } from "../mod.ts";
import { REGISTRY, type RegistryEntry } from "../backends/registry.ts";
import { resolveOptions } from "../options.ts";
import type { Backend } from "../router/box.ts";
import { buildBackend } from "../testing/contract.ts";
import { Floor, FLOOR_MAX_SIZE } from "./floor.ts";

/** One allocator under test. Created fresh for every run: `setup`, the workload, `teardown`. */
export interface Contender {
  /** The name in tables and charts. */
  readonly name: string;
  /** Builds the allocator with memory up to `maxBytes`. */
  setup(maxBytes: number): void;
  /** A block of at least `size` bytes, or 0 when the allocator is out of memory. */
  malloc(size: number): number;
  /** Gives a block back. */
  free(ptr: number): void;
  /** Resizes a block, keeping its contents; 0 when out of memory (the old block stays). */
  realloc?(ptr: number, size: number): number;
  /** Writes the first and the last byte of the block (what every workload does to a fresh block). */
  touch(ptr: number, size: number): void;
  /** The bytes pointers index into now; null when blocks are separate objects. */
  readonly u8: Uint8Array | null;
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

/** A kind of contender: how to make one, and where it does not run. */
export interface ContenderSpec {
  /** The contender's name. */
  readonly name: string;
  /** "hakmem" for the whole heap, "backend" for a backend alone, "peer" for the others, "floor". */
  readonly kind: "hakmem" | "backend" | "peer" | "floor";
  /** The sizes it serves; it only runs workloads whose sizes lie inside. */
  readonly sizes: { min: number; max: number };
  /** Most live blocks it can hold in reasonable time, and why (workloads above it are skipped). */
  readonly liveBlockLimit?: { blocks: number; reason: string };
  /** A fresh, not yet set up contender. */
  create(): Contender;
}

/** Bytes touched by every workload: a stamp in the first and the last byte of each fresh block. */
const FIRST_STAMP = 0xa5;
const LAST_STAMP = 0x5a;

/** Contenders whose pointers are offsets into one Uint8Array. */
abstract class LinearContender {
  protected bytes: Uint8Array = new Uint8Array(0);

  /** The bytes pointers index into. */
  get u8(): Uint8Array {
    return this.bytes;
  }

  /** Stamps the first and the last byte. */
  touch(ptr: number, size: number): void {
    const bytes = this.bytes;
    bytes[ptr] = FIRST_STAMP;
    bytes[ptr + size - 1] = LAST_STAMP;
  }
}

/** A whole hakmem heap: router and backends, as an application uses it. */
export class HakmemContender extends LinearContender implements Contender {
  /** The contender's name. */
  readonly name: string;
  /** The heap, once set up (tests read it). */
  heap: Heap | null = null;
  private readonly config: HeapConfig;

  /** A contender over `createHeap(config)`. */
  constructor(name: string, config: HeapConfig = {}) {
    super();
    this.name = name;
    this.config = config;
  }

  setup(maxBytes: number): void {
    this.heap = createHeap({ ...this.config, maxBytes });
  }

  /** The heap's bytes now: its default WebAssembly.Memory gets a new buffer when it grows (`u8` is a plain data property there). */
  override get u8(): Uint8Array {
    return this.heap?.u8 ?? this.bytes;
  }

  override touch(ptr: number, size: number): void {
    const bytes = this.heap!.u8; // read after the malloc: it may have grown the memory
    bytes[ptr] = FIRST_STAMP;
    bytes[ptr + size - 1] = LAST_STAMP;
  }

  malloc(size: number): number {
    return this.heap!.malloc(size);
  }

  free(ptr: number): void {
    this.heap!.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    return this.heap!.realloc(ptr, size);
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
    this.bytes = new Uint8Array(0);
  }
}

/** One registry backend called directly, past the router, in a heap of its own (what the router costs shows against "hakmem"). */
export class BackendAloneContender extends LinearContender implements Contender {
  /** The contender's name. */
  readonly name: string;
  /** The heap the backend lives in, once set up. */
  heap: Heap | null = null;
  private backend: Backend | null = null;
  private readonly entry: RegistryEntry;

  /** A contender over registry entry `entry`. */
  constructor(entry: RegistryEntry) {
    super();
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
    this.backend = built.backend;
  }

  /** The heap's bytes now (see {@linkcode HakmemContender.u8}). */
  override get u8(): Uint8Array {
    return this.heap?.u8 ?? this.bytes;
  }

  override touch(ptr: number, size: number): void {
    const bytes = this.heap!.u8;
    bytes[ptr] = FIRST_STAMP;
    bytes[ptr + size - 1] = LAST_STAMP;
  }

  malloc(size: number): number {
    return this.backend!.alloc(size);
  }

  free(ptr: number): void {
    this.backend!.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    const backend = this.backend!;
    if (backend.resizeInPlace && backend.resizeInPlace(ptr, size)) return ptr;
    const fresh = backend.alloc(size);
    if (fresh === 0) return 0;
    const old = backend.usableSize(ptr);
    this.heap!.u8.copyWithin(fresh, ptr, ptr + Math.min(old, size));
    backend.free(ptr);
    return fresh;
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
    this.backend = null;
    this.bytes = new Uint8Array(0);
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

/**
 * `@thi.ng/malloc`'s MemPool: first fit over an address-sorted free list; `free` walks the used list.
 * Its own `realloc` is used as is. In 6.1.150, a realloc that has to move the block leaks the old one
 * (it hands `free` the block's header address, which `free` does not find), so the large workload runs
 * out of memory: that is the library's behaviour, not the harness's.
 */
export class ThingContender extends LinearContender implements Contender {
  /** The contender's name. */
  readonly name = "@thi.ng/malloc";
  private pool: MemPool | null = null;
  private peakTop = 0;

  setup(maxBytes: number): void {
    this.pool = new MemPool({ buf: new ArrayBuffer(maxBytes), ...THING_OPTIONS });
    this.bytes = new Uint8Array(this.pool.buf);
    this.peakTop = (this.pool as unknown as PoolTop).top;
  }

  malloc(size: number): number {
    const pool = this.pool!;
    const ptr = pool.malloc(size);
    // Compaction lowers the top when the highest blocks are freed, so the peak is tracked here (one load; its malloc walks a list anyway).
    const top = (pool as unknown as PoolTop).top;
    if (top > this.peakTop) this.peakTop = top;
    return ptr;
  }

  free(ptr: number): void {
    this.pool!.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    const pool = this.pool!;
    const fresh = pool.realloc(ptr, size);
    const top = (pool as unknown as PoolTop).top;
    if (top > this.peakTop) this.peakTop = top;
    return fresh;
  }

  footprint(): number {
    return (this.pool! as unknown as PoolTop).top; // nothing above the top was ever handed out
  }

  peakFootprint(): number {
    return this.peakTop;
  }

  teardown(): void {
    this.pool = null;
    this.bytes = new Uint8Array(0);
  }
}

/** `new Uint8Array(n)` per block, freed by dropping it; a pointer is a handle into a table of arrays. */
export class GcContender implements Contender {
  /** The contender's name. */
  readonly name = "Uint8Array (GC)";
  /** Blocks are separate objects: there is no one view. */
  readonly u8: Uint8Array | null = null;
  private blocks: (Uint8Array | undefined)[] = [undefined];
  private freeHandles: number[] = [];

  setup(): void {
    this.blocks = [undefined]; // handle 0 is NULL
    this.freeHandles = [];
  }

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

  footprint(): null {
    return null; // the engine's heap holds the blocks; no figure of ours is comparable
  }

  peakFootprint(): null {
    return null;
  }

  teardown(): void {
    this.blocks = [undefined];
    this.freeHandles = [];
  }
}

/** The floor allocator (bench/floor.ts). */
export class FloorContender extends LinearContender implements Contender {
  /** The contender's name. */
  readonly name = "floor";
  private floor: Floor | null = null;

  setup(maxBytes: number): void {
    this.floor = new Floor(maxBytes);
    this.bytes = this.floor.u8;
  }

  malloc(size: number): number {
    return this.floor!.malloc(size);
  }

  free(ptr: number): void {
    this.floor!.free(ptr);
  }

  realloc(ptr: number, size: number): number {
    return this.floor!.realloc(ptr, size);
  }

  footprint(): number {
    return this.floor!.footprint;
  }

  peakFootprint(): number {
    return this.floor!.footprint; // the bump pointer never goes down
  }

  teardown(): void {
    this.floor = null;
    this.bytes = new Uint8Array(0);
  }
}

const ANY_SIZE = { min: 1, max: 2 ** 32 };

/**
 * Every contender, in table order: hakmem, hakmem-legacy, each registry
 * backend alone, `@thi.ng/malloc`, `Uint8Array (GC)`, floor.
 */
export function contenders(): ContenderSpec[] {
  return [
    { name: "hakmem", kind: "hakmem", sizes: ANY_SIZE, create: () => new HakmemContender("hakmem") },
    {
      name: "hakmem-legacy",
      kind: "hakmem",
      sizes: ANY_SIZE,
      create: () => new HakmemContender("hakmem-legacy", { slabSource: "legacy" }),
    },
    ...REGISTRY.map((entry): ContenderSpec => ({
      name: `${entry.name} alone`,
      kind: "backend",
      sizes: entry.sizes,
      create: () => new BackendAloneContender(entry),
    })),
    {
      name: "@thi.ng/malloc",
      kind: "peer",
      sizes: ANY_SIZE,
      liveBlockLimit: { blocks: 10_000, reason: "its free walks the list of used blocks, O(live blocks): hours per round at this many" },
      create: () => new ThingContender(),
    },
    { name: "Uint8Array (GC)", kind: "peer", sizes: ANY_SIZE, create: () => new GcContender() },
    { name: "floor", kind: "floor", sizes: { min: 1, max: FLOOR_MAX_SIZE }, create: () => new FloorContender() },
  ];
}
