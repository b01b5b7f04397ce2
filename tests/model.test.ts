// Model-based random tests: long seeded sequences of malloc, calloc, realloc,
// alignedAlloc and free over every size range, checked after every step
// against a reference model (contents, no overlap, zeroed calloc, alignment,
// usable size), with check("full") every CHECK_EVERY steps and at the end.
// Runs over the default heap (caches on and off), the legacy slab source,
// debug mode, a growable SharedArrayBuffer, a WebAssembly.Memory (also one
// a module grows behind the heap's back), and every registry backend alone.
// Some runs also free blocks twice (from a second worker on shared memory)
// and write into freed blocks: see TrustSteps.
//
// Replay or explore: HAKMEM_TEST_SEED=<n> sets the base seed (each run below
// adds its index); every failure message names the seed and the step.
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { attachHeap, createHeap, type Heap, type HeapConfig } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { REGISTRY } from "../backends/registry.ts";
import { resolveOptions } from "../core/options.ts";
import type { Backend, CheckProblem } from "../router/box.ts";
import { buildBackend } from "../testing/contract.ts";
import { Random } from "../testing/random.ts";
import { errorCodeOf } from "../testing/expect.ts";
import "../debug/mod.ts"; // one target runs in debug mode

const MiB = 1 << 20;
const STEPS = 8000;
const CHECK_EVERY = 1000;
/** Live blocks the mix hovers around: many in one phase, few in the next, so slabs and spans empty and are reused. */
const TARGET_LIVE = [400, 40];
const PHASE_STEPS = 2000;

function baseSeed(): number {
  let text: string | undefined;
  try {
    text = process.env.HAKMEM_TEST_SEED;
  } catch {
    text = undefined; // no permission to read the environment: the default seed
  }
  const seed = text === undefined || text.trim() === "" ? 0x5eed : Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`HAKMEM_TEST_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed;
}

const BASE_SEED = baseSeed();

/** What a run drives: a heap through its API, or a backend alone through the Box contract. */
interface Target {
  heap: Heap;
  /** True when the memory is small enough that an allocation may fairly return 0. */
  mayRunOut?: boolean;
  /** Sizes the run asks for. */
  size(random: Random): number;
  malloc(size: number): number;
  calloc(size: number): number;
  /** undefined when the target has no realloc (a backend alone resizes in place or not at all). */
  realloc(ptr: number, size: number): number | undefined;
  /** 0 when the target cannot align. */
  alignedAlloc(alignment: number, size: number): number;
  /** Largest alignment to ask for (0: none). */
  maxAlignmentShift: number;
  free(ptr: number): void;
  usableSize(ptr: number): number;
  /** The alignment every block at `ptr` must have. */
  alignmentOf(ptr: number): number;
  problems(level: "cheap" | "full"): CheckProblem[];
  /** Misuse steps this run takes among the others, if any (see TrustSteps). */
  trust?: TrustSteps;
  /** A WASM module growing the heap's memory itself, when the run has one (see moduleGrowthTarget). */
  moduleGrowth?: ModuleGrowth;
}

/** Growth a module does behind the heap's back: pages the heap must never hand out, nor write. */
interface ModuleGrowth {
  /** Grows the memory as the module would (memory.grow), and writes its new pages. */
  grow(random: Random): void;
  /** The module's range the extent `ptr .. ptr + extent` overlaps, or "". */
  overlaps(ptr: number, extent: number): string;
  /** The first of the module's bytes that changed, or "". */
  changed(): string;
}

/** A heap in a WebAssembly.Memory whose module grows it now and then (a step of its own in runModel). */
function moduleGrowthTarget(): Target {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 8192 });
  const target = heapTarget({ memory });
  const ranges: Array<[number, number]> = [];
  const moduleByte = (at: number) => (at * 13 + 5) & 255;
  /** Sampled bytes of a range: its first and last, and one per 4 KiB page. */
  const samples = (start: number, end: number) => {
    const points = [start, end - 1];
    for (let at = start + 2048; at < end; at += 4096) points.push(at);
    return points;
  };
  target.moduleGrowth = {
    grow(random) {
      const pages = 1 + random.int(3);
      const start = memory.grow(pages) * 65536;
      const end = start + pages * 65536;
      const u8 = new Uint8Array(memory.buffer);
      for (const at of samples(start, end)) u8[at] = moduleByte(at);
      ranges.push([start, end]);
    },
    overlaps(ptr, extent) {
      for (const [start, end] of ranges) if (ptr < end && ptr + extent > start) return `${start}..${end}`;
      return "";
    },
    changed() {
      const u8 = new Uint8Array(memory.buffer);
      for (const [start, end] of ranges) {
        for (const at of samples(start, end)) if (u8[at] !== moduleByte(at)) return `byte ${at} of the module's pages ${start}..${end}`;
      }
      return "";
    },
  };
  return target;
}

/**
 * Misuse steps (issue 15): a live block is freed, then either freed again
 * (by `second`, another worker's heap object on the same shared memory, half
 * the time when there is one), which must be a DOUBLE_FREE with usableSize an
 * INVALID_POINTER; or, with `damage`, eight bytes written over its start (its
 * free-list link and freed mark), after which an allocation may answer
 * CORRUPTED but never a wrong block, and check("full") may report only that
 * damage. Taken with chance TRUST_CHANCE per step.
 */
interface TrustSteps {
  second?: Heap;
  damage: boolean;
}
const TRUST_CHANCE = 0.004;
/** The problems check() reports for damage a write after free did: the only ones a damaged heap may show. */
const DAMAGE_PROBLEM =
  /written after|not one of its handed-out blocks|no handed-out block of the span|free \+ \d+ used !=|free list holds \d+ blocks|router counted/;

/** A size drawn log-uniformly from min..max. */
function logUniform(random: Random, min: number, max: number): number {
  const low = Math.log(Math.max(1, min));
  const value = Math.floor(Math.exp(low + random.next() * (Math.log(max + 1) - low)));
  return Math.min(max, Math.max(min, value));
}

/** Sizes over every range of the default heap: tiny, pool, mmap, and 0. */
function heapSize(random: Random): number {
  const roll = random.next();
  if (roll < 0.02) return 0;
  if (roll < 0.55) return logUniform(random, 1, 1024);
  if (roll < 0.95) return logUniform(random, 1025, 262144);
  return logUniform(random, 262145, 1536 * 1024);
}

function heapTarget(config: HeapConfig): Target {
  const heap = createHeap({ maxBytes: 512 * MiB, ...config });
  const { router } = heap;
  return {
    heap,
    size: heapSize,
    malloc: (size) => heap.malloc(size),
    calloc: (size) => heap.calloc(1, size),
    realloc: (ptr, size) => heap.realloc(ptr, size),
    alignedAlloc: (alignment, size) => heap.alignedAlloc(alignment, size),
    maxAlignmentShift: 20,
    free: (ptr) => heap.free(ptr),
    usableSize: (ptr) => heap.usableSize(ptr),
    alignmentOf: (ptr) => router.backends[router.ownerIndex(ptr)].capabilities.alignment,
    problems: (level) => heap.check(level).problems,
  };
}

/** The heap over a growable SharedArrayBuffer, with a second worker's heap object that frees blocks a second time. */
function sharedTarget(tinyCache: boolean): Target {
  const memory = new SharedArrayBuffer(MiB, { maxByteLength: 512 * MiB });
  const target = heapTarget({ memory, tinyCache });
  return { ...target, trust: { damage: true, second: attachHeap(memory, { maxBytes: 512 * MiB, tinyCache }) } };
}

function backendTarget(entry: (typeof REGISTRY)[number]): Target {
  const options = { ...entry.options };
  const { heap, backend } = buildBackend(
    { name: entry.name, factory: entry.factory(resolveOptions(options)), sizes: entry.sizes, options },
    512 * MiB,
  );
  const min = entry.sizes.min;
  const max = Math.min(entry.sizes.max, 1536 * 1024);
  const b: Backend = backend;
  const caps = b.capabilities;
  return {
    heap,
    size: (random) => logUniform(random, min, max),
    malloc: (size) => b.alloc(size),
    calloc: (size) => b.allocZeroed ? b.allocZeroed(size) : zeroed(heap, b.alloc(size), size),
    realloc: (ptr, size) => b.resizeInPlace?.(ptr, size) ? ptr : undefined,
    alignedAlloc: (alignment, size) => caps.alignedAlloc && b.allocAligned ? b.allocAligned(size, alignment) : 0,
    maxAlignmentShift: caps.alignedAlloc ? 12 : 0,
    free: (ptr) => b.free(ptr),
    usableSize: (ptr) => b.usableSize(ptr),
    alignmentOf: () => caps.alignment,
    // The backend is called past the router, so the router's counters do not match it.
    problems: (level) => heap.check(level).problems.filter((problem) => problem.where !== "router"),
  };
}

function zeroed(heap: Heap, ptr: number, size: number): number {
  if (ptr !== 0) heap.u8.fill(0, ptr, ptr + size);
  return ptr;
}

/** A live block in the model. */
interface Block {
  size: number;
  /** The bytes that must not overlap another block's: the usable size. */
  extent: number;
  /** Seeds the pattern written into it. */
  tag: number;
}

/** Pattern bytes per block: at offsets k × (size - 1) / 7 for k = 0..7, so the first and the last byte too. */
const PATTERN_POINTS = 8;

/** The k-th pattern offset of a block of `size` bytes (size > 0). */
function patternOffset(size: number, k: number): number {
  return Math.floor((k * (size - 1)) / (PATTERN_POINTS - 1));
}

function patternByte(tag: number, offset: number): number {
  return (tag * 131 + offset * 7 + 1) & 255;
}

/** The reference model: live blocks by address, in a sorted array of starts for neighbour checks. */
class Model {
  readonly blocks = new Map<number, Block>();
  private readonly starts: number[] = [];

  private indexOf(ptr: number): number {
    let low = 0;
    let high = this.starts.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.starts[mid] < ptr) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adds a block; returns a description of the block it overlaps, or "". */
  add(ptr: number, block: Block): string {
    const at = this.indexOf(ptr);
    const before = at > 0 ? this.starts[at - 1] : -1;
    const after = at < this.starts.length ? this.starts[at] : -1;
    let overlap = "";
    if (before >= 0 && before + this.blocks.get(before)!.extent > ptr) overlap = `${before}+${this.blocks.get(before)!.extent}`;
    if (after >= 0 && ptr + block.extent > after) overlap = `${after}+${this.blocks.get(after)!.extent}`;
    this.starts.splice(at, 0, ptr);
    this.blocks.set(ptr, block);
    return overlap;
  }

  remove(ptr: number): Block {
    const block = this.blocks.get(ptr)!;
    this.starts.splice(this.indexOf(ptr), 1);
    this.blocks.delete(ptr);
    return block;
  }

  /** The i-th live block's address (in address order). */
  at(index: number): number {
    return this.starts[index];
  }

  get size(): number {
    return this.starts.length;
  }
}

/** Runs `steps` random operations on `target` from `seed`, checking the model after each. */
function runModel(name: string, seed: number, makeTarget: () => Target, steps = STEPS): void {
  const random = new Random(seed);
  const target = makeTarget();
  const model = new Model();
  /** True once a write after free damaged the heap: its problems are then filtered to DAMAGE_PROBLEM's. */
  let damaged = false;
  const problems = (level: "cheap" | "full") =>
    damaged ? target.problems(level).filter((problem) => !DAMAGE_PROBLEM.test(problem.message)) : target.problems(level);
  /** Calls an allocation; after damage, CORRUPTED is a documented answer: then -1 (nothing to place). */
  const allocate = (call: () => number): number => {
    try {
      return call();
    } catch (error) {
      if (damaged && error instanceof HakmemError && error.code === "CORRUPTED") return -1;
      throw error;
    }
  };
  const code = errorCodeOf;
  let step = 0;
  let op = "setup";
  const where = () => `${name}, seed ${seed} (replay: HAKMEM_TEST_SEED=${BASE_SEED}), step ${step}, ${op}`;
  const fail = (message: string): never => assert.fail(`${where()}: ${message}`);

  const write = (ptr: number, block: Block) => {
    if (block.size === 0) return;
    const u8 = target.heap.u8;
    for (let k = 0; k < PATTERN_POINTS; k++) {
      const offset = patternOffset(block.size, k);
      u8[ptr + offset] = patternByte(block.tag, offset);
    }
  };
  const verify = (ptr: number, block: Block, upTo = block.size) => {
    if (block.size === 0) return;
    const u8 = target.heap.u8;
    for (let k = 0; k < PATTERN_POINTS; k++) {
      const offset = patternOffset(block.size, k);
      if (offset >= upTo) continue;
      const expected = patternByte(block.tag, offset);
      if (u8[ptr + offset] !== expected) fail(`block ${ptr} (${block.size} bytes) byte ${offset} is ${u8[ptr + offset]}, not ${expected}`);
    }
  };
  const place = (ptr: number, size: number, alignment: number, zero: boolean) => {
    if (ptr === 0) {
      if (target.mayRunOut) return;
      fail(`got 0 for ${size} bytes with memory to spare`);
    }
    if (model.blocks.has(ptr)) fail(`${ptr} handed out while live`);
    const required = Math.max(alignment, target.alignmentOf(ptr));
    if (ptr % required !== 0) fail(`${ptr} is not aligned to ${required}`);
    const usable = target.usableSize(ptr);
    if (usable < size) fail(`usableSize(${ptr}) = ${usable} < ${size}`);
    if (zero) {
      const u8 = target.heap.u8;
      for (let i = 0; i < size; i++) if (u8[ptr + i] !== 0) fail(`calloc'd block ${ptr} byte ${i} of ${size} is ${u8[ptr + i]}`);
    }
    const block = { size, extent: Math.max(usable, 1), tag: random.int(1 << 30) };
    const foreign = target.moduleGrowth?.overlaps(ptr, block.extent);
    if (foreign) fail(`block ${ptr}+${block.extent} lies in the pages the module grew, ${foreign}`);
    const overlap = model.add(ptr, block);
    if (overlap !== "") fail(`block ${ptr}+${block.extent} overlaps block ${overlap}`);
    write(ptr, block);
  };

  try {
    for (step = 0; step < steps; step++) {
      const roll = random.next();
      const freeChance = model.size / (2 * TARGET_LIVE[Math.floor(step / PHASE_STEPS) % TARGET_LIVE.length]);
      if (roll > 0.995 && roll <= 0.998 && target.moduleGrowth !== undefined) {
        op = "module-side growth";
        target.moduleGrowth.grow(random);
        continue;
      }
      if (roll > 0.998) {
        op = "trim";
        target.heap.trim();
        continue;
      }
      if (target.trust !== undefined && model.size > 0 && roll < TRUST_CHANCE) {
        const ptr = model.at(random.int(model.size));
        const block = model.blocks.get(ptr)!;
        verify(ptr, block);
        op = `free(${ptr}) before misuse`;
        target.free(ptr);
        model.remove(ptr);
        const { second } = target.trust;
        if (!target.trust.damage || block.size < 8 || random.next() < 0.5) {
          const by = second !== undefined && random.next() < 0.5 ? second : target.heap;
          op = `double free of ${ptr} (${block.size} bytes) by ${by === target.heap ? "the same" : "another"} worker`;
          const usable = code(() => by.usableSize(ptr));
          if (usable !== "INVALID_POINTER") fail(`usableSize of the freed block: ${usable}, not INVALID_POINTER`);
          const again = code(() => by.free(ptr));
          if (again !== "DOUBLE_FREE") fail(`the second free: ${again}, not DOUBLE_FREE`);
        } else {
          op = `write after free into ${ptr} (${block.size} bytes)`;
          const view = new DataView(target.heap.buffer);
          view.setUint32(ptr, 0x41414141, true);
          view.setUint32(ptr + 4, 0x41414141, true);
          damaged = true;
        }
        op += ", then check";
        assert.deepEqual(problems("full"), [], where());
        continue;
      }
      if (model.size > 0 && roll < freeChance * 0.75) {
        op = "free";
        const ptr = model.at(random.int(model.size));
        verify(ptr, model.blocks.get(ptr)!);
        target.free(ptr);
        model.remove(ptr);
      } else if (model.size > 0 && roll < freeChance) {
        const ptr = model.at(random.int(model.size));
        const old = model.blocks.get(ptr)!;
        const size = random.next() < 0.3 ? Math.max(0, old.size + random.int(65) - 32) : target.size(random);
        op = `realloc(${ptr}, ${old.size} → ${size})`;
        const moved = allocate(() => target.realloc(ptr, size) ?? -2);
        if (moved === -2) continue; // a backend alone that cannot resize in place: nothing changed
        if (moved === -1) {
          verify(ptr, old); // CORRUPTED from the new block's allocation: the old block is left as it was
          continue;
        }
        if (size === 0 && moved === 0) {
          model.remove(ptr);
          continue;
        }
        if (moved === 0) {
          if (!target.mayRunOut) fail("realloc returned 0 with memory to spare");
          verify(ptr, old); // a failed realloc leaves the old block as it was
          continue;
        }
        verify(moved, old, Math.min(old.size, size)); // the first min(old, new) bytes came along
        model.remove(ptr);
        place(moved, size, 1, false); // and the block gets the pattern of its new size
      } else if (roll < 0.75 || target.maxAlignmentShift === 0) {
        const size = target.size(random);
        const zero = random.next() < 0.25;
        op = `${zero ? "calloc" : "malloc"}(${size})`;
        const ptr = allocate(() => zero ? target.calloc(size) : target.malloc(size));
        if (ptr !== -1) place(ptr, size, 1, zero);
      } else {
        const alignment = 2 ** random.int(target.maxAlignmentShift + 1);
        const size = target.size(random);
        op = `alignedAlloc(${alignment}, ${size})`;
        const ptr = allocate(() => target.alignedAlloc(alignment, size));
        if (ptr !== -1) place(ptr, size, alignment, false);
      }
      op = "verify";
      model.blocks.forEach((block, ptr) => verify(ptr, block));
      if (step % CHECK_EVERY === CHECK_EVERY - 1) {
        op = "check";
        assert.deepEqual(problems("full"), [], where());
        const changed = target.moduleGrowth?.changed();
        if (changed) fail(`the heap wrote ${changed}`);
      }
    }
    op = "check at the end";
    assert.deepEqual(problems("full"), [], where());
    assert.deepEqual(problems("cheap"), [], where());
    op = "freeing everything";
    for (const [ptr, block] of [...model.blocks]) {
      verify(ptr, block);
      target.free(ptr);
      model.remove(ptr);
    }
    // Blocks a damaged free list cut off stay out of use, counted live.
    if (!damaged) assert.equal(target.heap.stats().liveBlocks, 0, `${where()}: live blocks left`);
    target.heap.trim();
    assert.deepEqual(problems("full"), [], `${where()} (after trim)`);
    const changed = target.moduleGrowth?.changed();
    if (changed) fail(`the heap wrote ${changed}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    // An unexpected throw from the heap: name the seed and step too.
    throw new Error(`${where()}: ${(error as Error).stack ?? error}`);
  }
}

const HEAP_RUNS: Array<[string, () => Target]> = [
  ["default heap", () => ({ ...heapTarget({}), trust: { damage: true } })],
  ["default heap, tiny caches off", () => ({ ...heapTarget({ tinyCache: false }), trust: { damage: true } })],
  ["legacy slab source", () => ({ ...heapTarget({ slabSource: "legacy" }), trust: { damage: true } })],
  ["debug mode", () => ({ ...heapTarget({ debug: true }), trust: { damage: false } })],
  ["growable SharedArrayBuffer", () => sharedTarget(true)],
  ["growable SharedArrayBuffer, tiny caches off", () => sharedTarget(false)],
  ["WebAssembly.Memory", () => heapTarget({ memory: new WebAssembly.Memory({ initial: 16, maximum: 8192 }) })],
  ["8 MiB of memory: allocations run out and fail cleanly", () => ({ ...heapTarget({ maxBytes: 8 * MiB }), mayRunOut: true })],
  // Last, so the runs above keep their seeds.
  ["WebAssembly.Memory grown by its module behind the heap's back", moduleGrowthTarget],
];

describe("model: the heap agrees with a reference model over random operations", () => {
  HEAP_RUNS.forEach(([name, make], index) => {
    test(name, () => runModel(name, BASE_SEED + index, make));
  });
});

describe("model: each registry backend alone agrees with the reference model", () => {
  REGISTRY.forEach((entry, index) => {
    test(entry.name, () => runModel(`${entry.name} alone`, BASE_SEED + 100 + index, () => backendTarget(entry)));
  });
});

describe("model: the model catches what it must", () => {
  test("a heap that hands out an overlapping block fails the run, naming the seed", () => {
    let calls = 0;
    const broken = (): Target => {
      const target = heapTarget({});
      const malloc = target.malloc;
      // The third allocation returns the second's address again.
      let last = 0;
      target.malloc = (size) => (++calls === 3 ? last : (last = malloc(size)));
      target.calloc = target.malloc;
      return target;
    };
    assert.throws(() => runModel("broken heap", 1, broken, 50), (error: unknown) => {
      assert.ok(error instanceof assert.AssertionError);
      assert.match(error.message, /seed 1 .*step \d+/);
      assert.match(error.message, /handed out while live|overlaps/);
      return true;
    });
  });
});
