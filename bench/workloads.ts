/**
 * The benchmark workloads: what each one allocates and frees, replayed
 * exactly from a seed. Random choices are drawn before the clock starts (one
 * trace per workload, seed and mode, shared by every contender), so the timed
 * loop holds only the allocator calls, the two byte writes per fresh block,
 * and the typed-array reads of the trace. The timed loops themselves live in
 * bench/loops.ts, of which each contender runs its own copy (passed in).
 *
 * Each run ends by freeing whatever is still live, outside the clock, so a
 * contender that checks itself is checked at rest.
 * @module
 */

import { Random } from "../testing/random.ts";
import type { Contender } from "./contenders.ts";
import { ACTION_ALLOC, ACTION_FREE, ACTION_REALLOC, type Loops } from "./loops.ts";

/** What one run of a workload on one contender measured. */
export interface WorkloadResult {
  /** Allocator calls made in the timed part (malloc, free, realloc). */
  ops: number;
  /** Seconds the timed part took. */
  seconds: number;
  /** Most requested bytes live at once. */
  peakLiveBytes: number;
  /** Most blocks live at once. */
  peakLiveBlocks: number;
  /** The contender's peak footprint in bytes; null when not measurable. */
  peakFootprintBytes: number | null;
  /** Figures particular to the workload (see {@linkcode Workload.extraColumns}). */
  extra: Record<string, number | null>;
  /** Why the run stopped early (out of memory), when it did. */
  failure?: string;
}

/** An extra figure a workload reports, shown as a column. */
export interface ExtraColumn {
  /** Key in {@linkcode WorkloadResult.extra}. */
  key: string;
  /** Column heading. */
  label: string;
}

/** One workload. `quick` selects tiny counts (proves it runs; times mean nothing). */
export interface Workload {
  /** The workload's name (`--workload` selects by it). */
  readonly name: string;
  /** Smallest and largest size it requests (a backend alone runs it only when they fit its range). */
  readonly sizes: { min: number; max: number };
  /** True when it calls realloc. */
  readonly usesRealloc: boolean;
  /** Extra figures shown as columns (bytes). */
  readonly extraColumns: ExtraColumn[];
  /** One line saying what it does, with its counts. */
  describe(quick: boolean): string;
  /** Most blocks live at once. */
  liveBlocks(quick: boolean): number;
  /** Memory to give each contender. */
  maxBytes(quick: boolean): number;
  /** Runs once on a contender that is set up, through the contender's own `loops`; frees everything it allocated before returning. */
  run(contender: Contender, loops: Loops, quick: boolean, seed: number): WorkloadResult;
}

const KiB = 1024;
const MiB = 1024 * KiB;

function now(): number {
  return performance.now();
}

function outOfMemory(done: number, total: number, what: string): string {
  return `out of memory after ${done} of ${total} ${what}`;
}

/**
 * The end of a replayed trace, once its loop stopped at `step` of `steps`:
 * the time since `start`, the peak footprint, then (off the clock) every
 * block still held in `ptrs` freed.
 */
function endOfTrace(
  contender: Contender,
  ptrs: Float64Array,
  start: number,
  step: number,
  steps: number,
  trace: { peakLiveBytes: number; peakLiveBlocks: number },
): WorkloadResult {
  const seconds = (now() - start) / 1000;
  const peakFootprintBytes = contender.peakFootprint();
  const allocator = contender.allocator;
  for (const ptr of ptrs) if (ptr !== 0) allocator.free(ptr);
  return {
    ops: step,
    seconds,
    peakLiveBytes: trace.peakLiveBytes,
    peakLiveBlocks: trace.peakLiveBlocks,
    peakFootprintBytes,
    extra: {},
    failure: step < steps ? outOfMemory(step, steps, "steps") : undefined,
  };
}

// ---- slot workloads: random_mixed_256, random_mixed_8192, mid_mixed -----------------

/** A replayable slot trace: per step the slot, and the size to allocate (0: free the slot's block). */
interface SlotTrace {
  slot: Int32Array;
  size: Int32Array;
  peakLiveBytes: number;
  peakLiveBlocks: number;
}

const traces = new Map<string, unknown>();

/** The trace for `key`, built once per process. */
function cached<T>(key: string, build: () => T): T {
  let trace = traces.get(key) as T | undefined;
  if (trace === undefined) {
    trace = build();
    traces.set(key, trace);
  }
  return trace;
}

function slotTrace(slots: number, minSize: number, maxSize: number, steps: number, seed: number): SlotTrace {
  const random = new Random(seed);
  const slot = new Int32Array(steps);
  const size = new Int32Array(steps);
  const held = new Int32Array(slots);
  let live = 0, blocks = 0, peakLiveBytes = 0, peakLiveBlocks = 0;
  for (let step = 0; step < steps; step++) {
    const index = random.int(slots);
    slot[step] = index;
    if (held[index] !== 0) {
      live -= held[index];
      blocks--;
      held[index] = 0;
      continue;
    }
    const bytes = minSize + random.int(maxSize - minSize + 1);
    size[step] = bytes;
    held[index] = bytes;
    live += bytes;
    blocks++;
    if (live > peakLiveBytes) peakLiveBytes = live;
    if (blocks > peakLiveBlocks) peakLiveBlocks = blocks;
  }
  return { slot, size, peakLiveBytes, peakLiveBlocks };
}

interface SlotSpec {
  name: string;
  slots: number;
  minSize: number;
  maxSize: number;
  steps: number;
  quickSteps: number;
  quickSlots: number;
}

function slotWorkload(spec: SlotSpec): Workload {
  const slotsOf = (quick: boolean) => quick ? spec.quickSlots : spec.slots;
  const stepsOf = (quick: boolean) => quick ? spec.quickSteps : spec.steps;
  return {
    name: spec.name,
    sizes: { min: spec.minSize, max: spec.maxSize },
    usesRealloc: false,
    extraColumns: [],
    describe: (quick) => {
      const sizes = `${formatExactSize(spec.minSize)}..${formatExactSize(spec.maxSize)}`;
      const steps = stepsOf(quick).toLocaleString("en-US");
      return `${slotsOf(quick)} slots; each step picks a random slot and frees its block, or, when empty, allocates ${sizes} ` +
        `and writes its first and last byte. ${steps} steps.`;
    },
    liveBlocks: slotsOf,
    maxBytes: (quick) => quick ? 64 * MiB : 512 * MiB,
    run(contender, loops, quick, seed) {
      const slots = slotsOf(quick);
      const steps = stepsOf(quick);
      const trace = cached(`${spec.name}/${quick}/${seed}`, () => slotTrace(slots, spec.minSize, spec.maxSize, steps, seed));
      const ptrs = new Float64Array(slots);
      const start = now();
      const step = loops.slots(contender.allocator, trace.slot, trace.size, ptrs, steps);
      return endOfTrace(contender, ptrs, start, step, steps, trace);
    },
  };
}

// ---- larson: churn over full slots ---------------------------------------------------

/** A replayable churn (larson; bench/gc.ts too): the sizes that fill every slot first, then per step the slot to free and the size to malloc in its place. */
export interface ChurnTrace {
  /** Slot of each first allocation (0, 1, 2, ...), for `Loops.slots`. */
  fillSlot: Int32Array;
  /** Size of each first allocation. */
  fillSize: Int32Array;
  /** Per step, the slot whose block is freed and replaced. */
  slot: Int32Array;
  /** Per step, the size allocated in its place. */
  size: Int32Array;
  /** Most requested bytes live at once. */
  peakLiveBytes: number;
  /** Blocks live (always all of them). */
  peakLiveBlocks: number;
}

/** The churn of `blocks` blocks of `minSize`..`maxSize` bytes over `steps` steps, drawn from `seed`. */
export function churnTrace(blocks: number, minSize: number, maxSize: number, steps: number, seed: number): ChurnTrace {
  const random = new Random(seed);
  const fillSlot = new Int32Array(blocks);
  const fillSize = new Int32Array(blocks);
  let live = 0;
  for (let slot = 0; slot < blocks; slot++) {
    fillSlot[slot] = slot;
    fillSize[slot] = minSize + random.int(maxSize - minSize + 1);
    live += fillSize[slot];
  }
  const held = fillSize.slice();
  const slot = new Int32Array(steps);
  const size = new Int32Array(steps);
  let peakLiveBytes = live;
  for (let step = 0; step < steps; step++) {
    const index = random.int(blocks);
    const bytes = minSize + random.int(maxSize - minSize + 1);
    slot[step] = index;
    size[step] = bytes;
    live += bytes - held[index];
    held[index] = bytes;
    if (live > peakLiveBytes) peakLiveBytes = live;
  }
  return { fillSlot, fillSize, slot, size, peakLiveBytes, peakLiveBlocks: blocks };
}

function larsonWorkload(): Workload {
  const blocks = 1000;
  const minSize = 16;
  const maxSize = 1024;
  const stepsOf = (quick: boolean) => quick ? 2_000 : 2_000_000;
  return {
    name: "larson",
    sizes: { min: minSize, max: maxSize },
    usesRealloc: false,
    extraColumns: [],
    describe: (quick) =>
      `Larson-style churn: ${blocks} live blocks of ${minSize}..${maxSize} B (allocated before the clock); each step frees a random ` +
      `one and allocates a new random size in its place, writing its first and last byte. ${stepsOf(quick).toLocaleString("en-US")} steps.`,
    liveBlocks: () => blocks,
    maxBytes: (quick) => quick ? 64 * MiB : 512 * MiB,
    run(contender, loops, quick, seed) {
      const steps = stepsOf(quick);
      const trace = cached(`larson/${quick}/${seed}`, () => churnTrace(blocks, minSize, maxSize, steps, seed));
      const ptrs = new Float64Array(blocks);
      const allocator = contender.allocator;
      const filled = loops.slots(allocator, trace.fillSlot, trace.fillSize, ptrs, blocks);
      let step = 0;
      const start = now();
      if (filled === blocks) step = loops.churn(allocator, trace.slot, trace.size, ptrs, steps);
      const result = endOfTrace(contender, ptrs, start, step, steps, trace);
      if (filled < blocks) result.failure = outOfMemory(filled, blocks, "blocks of the first fill");
      return { ...result, ops: step * 2 };
    },
  };
}

// ---- scaling ----------------------------------------------------------------------

function scalingWorkload(): Workload {
  const countOf = (quick: boolean) => quick ? 2_000 : 1_000_000;
  const size = 16;
  return {
    name: "scaling",
    sizes: { min: size, max: size },
    usesRealloc: false,
    extraColumns: [{ key: "afterTrimMinusStart", label: "after free+trim − start" }],
    describe: (quick) =>
      `${countOf(quick).toLocaleString("en-US")} blocks of ${size} B, then all freed in allocation order; then trim. ` +
      "Target: overhead ≤ 1.05, and after free+trim back to the starting footprint.",
    liveBlocks: countOf,
    maxBytes: (quick) => quick ? 64 * MiB : 512 * MiB,
    run(contender, loops, quick) {
      const count = countOf(quick);
      const ptrs = new Float64Array(count);
      const footprintStart = contender.footprint();
      const allocator = contender.allocator;
      const start = now();
      const made = loops.fill(allocator, size, ptrs, 0, count);
      loops.freeRange(allocator, ptrs, 0, made);
      const seconds = (now() - start) / 1000;
      const peakFootprintBytes = contender.peakFootprint();
      const footprintAfterFree = contender.footprint();
      contender.trim?.();
      const footprintAfterTrim = contender.footprint();
      return {
        ops: made * 2,
        seconds,
        peakLiveBytes: made * size,
        peakLiveBlocks: made,
        peakFootprintBytes,
        extra: {
          footprintStart,
          footprintAfterFree,
          footprintAfterTrim,
          afterTrimMinusStart: footprintStart === null || footprintAfterTrim === null ? null : footprintAfterTrim - footprintStart,
        },
        failure: made < count ? outOfMemory(made, count, "blocks") : undefined,
      };
    },
  };
}

// ---- large: 256 KiB .. 4 MiB with realloc growth ------------------------------------

const LARGE_MIN = 256 * KiB;
const LARGE_MAX = 4 * MiB;

interface LargeTrace {
  action: Uint8Array;
  slot: Int32Array;
  size: Int32Array;
  peakLiveBytes: number;
  peakLiveBlocks: number;
}

function largeTrace(slots: number, steps: number, seed: number): LargeTrace {
  const random = new Random(seed);
  const action = new Uint8Array(steps);
  const slot = new Int32Array(steps);
  const size = new Int32Array(steps);
  const held = new Int32Array(slots);
  let live = 0, blocks = 0, peakLiveBytes = 0, peakLiveBlocks = 0;
  for (let step = 0; step < steps; step++) {
    const index = random.int(slots);
    slot[step] = index;
    const old = held[index];
    if (old === 0) {
      const bytes = LARGE_MIN + random.int(LARGE_MAX - LARGE_MIN + 1);
      action[step] = ACTION_ALLOC;
      size[step] = held[index] = bytes;
      live += bytes;
      blocks++;
    } else if (random.next() < 0.5 && Math.floor(old * 1.5) <= LARGE_MAX) {
      const bytes = Math.floor(old * 1.5);
      action[step] = ACTION_REALLOC;
      size[step] = held[index] = bytes;
      live += bytes - old;
    } else {
      action[step] = ACTION_FREE;
      held[index] = 0;
      live -= old;
      blocks--;
    }
    if (live > peakLiveBytes) peakLiveBytes = live;
    if (blocks > peakLiveBlocks) peakLiveBlocks = blocks;
  }
  return { action, slot, size, peakLiveBytes, peakLiveBlocks };
}

function largeWorkload(): Workload {
  const slotsOf = (quick: boolean) => quick ? 4 : 64;
  const stepsOf = (quick: boolean) => quick ? 40 : 10_000;
  return {
    name: "large",
    sizes: { min: LARGE_MIN, max: LARGE_MAX },
    usesRealloc: true,
    extraColumns: [],
    describe: (quick) =>
      `${slotsOf(quick)} slots of ${formatSize(LARGE_MIN)}..${formatSize(LARGE_MAX)} blocks; a full slot is freed, or (half the time, ` +
      `while it stays ≤ ${formatSize(LARGE_MAX)}) grown 1.5× by realloc. ${stepsOf(quick).toLocaleString("en-US")} steps.`,
    liveBlocks: slotsOf,
    maxBytes: (quick) => quick ? 256 * MiB : 2048 * MiB,
    run(contender, loops, quick, seed) {
      const slots = slotsOf(quick);
      const steps = stepsOf(quick);
      const trace = cached(`large/${quick}/${seed}`, () => largeTrace(slots, steps, seed));
      const ptrs = new Float64Array(slots);
      const start = now();
      const step = loops.resize!(contender.allocator, trace.action, trace.slot, trace.size, ptrs, steps);
      return endOfTrace(contender, ptrs, start, step, steps, trace);
    },
  };
}

// ---- phase_change --------------------------------------------------------------------

function phaseChangeWorkload(): Workload {
  const smallCountOf = (quick: boolean) => quick ? 4_000 : 400_000;
  const bigCountOf = (quick: boolean) => quick ? 2_000 : 200_000;
  const smallSize = 32;
  const bigSize = 256;
  return {
    name: "phase_change",
    sizes: { min: smallSize, max: bigSize },
    usesRealloc: false,
    extraColumns: [],
    describe: (quick) =>
      `${smallCountOf(quick).toLocaleString("en-US")} blocks of ${smallSize} B, the first 90% freed in allocation order, then ` +
      `${bigCountOf(quick).toLocaleString("en-US")} blocks of ${bigSize} B: does memory freed by one size class serve another?`,
    liveBlocks: (quick) => smallCountOf(quick),
    maxBytes: (quick) => quick ? 64 * MiB : 512 * MiB,
    run(contender, loops, quick) {
      const smallCount = smallCountOf(quick);
      const freedCount = Math.floor(smallCount * 0.9);
      const bigCount = bigCountOf(quick);
      const total = smallCount + bigCount;
      const ptrs = new Float64Array(total);
      const allocator = contender.allocator;
      let freed = 0;
      const start = now();
      let made = loops.fill(allocator, smallSize, ptrs, 0, smallCount);
      if (made === smallCount) {
        loops.freeRange(allocator, ptrs, 0, freedCount);
        freed = freedCount;
        made = loops.fill(allocator, bigSize, ptrs, smallCount, total);
      }
      const seconds = (now() - start) / 1000;
      const peakFootprintBytes = contender.peakFootprint();
      for (const ptr of ptrs) if (ptr !== 0) allocator.free(ptr);
      const madeBig = Math.max(0, made - smallCount);
      const smallLive = Math.min(made, smallCount);
      return {
        ops: made + freed,
        seconds,
        peakLiveBytes: Math.max(smallLive * smallSize, (smallLive - freed) * smallSize + madeBig * bigSize),
        peakLiveBlocks: Math.max(smallLive, smallLive - freed + madeBig),
        peakFootprintBytes,
        extra: {},
        failure: made < total ? outOfMemory(made, total, "allocations") : undefined,
      };
    },
  };
}

/** Bytes as the tables print them: "16 B", "64 KiB", "4 MiB", "1.5 GiB". */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1);
  return `${text} ${units[unit]}`;
}

/** A request size, exact: "64 KiB" when it is whole KiB or MiB, else "1025 B". */
function formatExactSize(bytes: number): string {
  return bytes % 1024 === 0 ? formatSize(bytes) : `${bytes} B`;
}

/** Every workload, in table order. */
export const WORKLOADS: readonly Workload[] = [
  slotWorkload({ name: "random_mixed_256", slots: 256, minSize: 16, maxSize: 1024, steps: 2_000_000, quickSteps: 2_000, quickSlots: 256 }),
  slotWorkload({
    name: "random_mixed_8192",
    slots: 8192,
    minSize: 16,
    maxSize: 1024,
    steps: 2_000_000,
    quickSteps: 4_000,
    quickSlots: 8192,
  }),
  larsonWorkload(),
  scalingWorkload(),
  // Sizes start just above 1 KiB, tiny's largest, so the whole workload is mid-sized (and the pool alone can run it).
  slotWorkload({
    name: "mid_mixed",
    slots: 256,
    minSize: 1 * KiB + 1,
    maxSize: 64 * KiB,
    steps: 500_000,
    quickSteps: 1_000,
    quickSlots: 256,
  }),
  largeWorkload(),
  phaseChangeWorkload(),
];
