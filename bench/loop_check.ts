/**
 * Checks the instrument: does a contender's copy of the loops (bench/loops.ts,
 * loaded per contender by bench/contenders.ts) measure what a hand-written
 * loop over that one allocator measures? Runs the floor behind the heap API
 * three ways on random_mixed_256 and larson, in interleaved rounds:
 *
 * - **hand-written**: the loop below, written for a `Floor` and nothing else;
 * - **its own copy**: `loopsFor("floor (API)")`, as bench/run.ts runs it;
 * - **shared copy**: one more copy of the loops, first run with hakmem,
 *   dlmalloc and the GC contender, then timed with the floor: what the old
 *   single loop measured (its call sites have seen four allocators).
 *
 * "own copy / hand-written" near 1.00 says the harness adds nothing; "shared
 * / own" shows what a polymorphic loop costs the floor.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/loop_check.ts [--rounds N] [--quick]
 * bun bench/loop_check.ts
 * ```
 * @module
 */

import process from "node:process";
import { BASELINE, contenders, loopsFor } from "./contenders.ts";
import { Floor } from "./floor.ts";
import { FIRST_STAMP, LAST_STAMP, type Loops } from "./loops.ts";
import { collectGarbage, median } from "./runner.ts";
import { WORKLOADS } from "./workloads.ts";

const MAX_BYTES = 64 << 20; // both workloads need a few MiB; the floor takes all of it up front

/** random_mixed_256's steps, hand-written for a `Floor`: the loop a user of the floor would write. */
function handSlots(floor: Floor, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    if (size === 0) {
      floor.free(ptrs[slot]);
      ptrs[slot] = 0;
      continue;
    }
    const ptr = floor.malloc(size);
    if (ptr === 0) break;
    const u8 = floor.u8;
    u8[ptr] = FIRST_STAMP;
    u8[ptr + size - 1] = LAST_STAMP;
    ptrs[slot] = ptr;
  }
  return step;
}

/** larson's churn, hand-written for a `Floor`. */
function handChurn(floor: Floor, slotOf: Int32Array, sizeOf: Int32Array, ptrs: Float64Array, steps: number): number {
  let step = 0;
  for (; step < steps; step++) {
    const slot = slotOf[step];
    const size = sizeOf[step];
    floor.free(ptrs[slot]);
    const ptr = floor.malloc(size);
    ptrs[slot] = ptr;
    if (ptr === 0) break;
    const u8 = floor.u8;
    u8[ptr] = FIRST_STAMP;
    u8[ptr + size - 1] = LAST_STAMP;
  }
  return step;
}

/** The loops of `handSlots`/`handChurn` under the Loops names (fill and freeRange are not timed here). */
const HAND: Pick<Loops, "slots" | "churn"> = {
  slots: (allocator, slotOf, sizeOf, ptrs, steps) => handSlots(allocator as Floor, slotOf, sizeOf, ptrs, steps),
  churn: (allocator, slotOf, sizeOf, ptrs, steps) => handChurn(allocator as Floor, slotOf, sizeOf, ptrs, steps),
};

/** One timed run of `workload` over a fresh floor through `loops`: nanoseconds per operation. */
function timeRun(workloadName: string, loops: Pick<Loops, "slots" | "churn">, quick: boolean): number {
  const workload = WORKLOADS.find((candidate) => candidate.name === workloadName)!;
  const floorSpec = contenders().find((spec) => spec.name === BASELINE)!;
  const contender = floorSpec.create();
  contender.setup(MAX_BYTES);
  // The workload's own run() takes the full Loops; the timed call is the only one that differs between the three ways.
  const ownLoops = floorSpec.loops;
  const mixed: Loops = { ...ownLoops, slots: loops.slots, churn: loops.churn };
  const result = workload.run(contender, mixed, quick, 1);
  contender.teardown();
  collectGarbage(); // off the clock, so no run inherits another's garbage
  if (result.failure) throw new Error(`${workloadName}: ${result.failure}`);
  return result.seconds * 1e9 / result.ops;
}

/** A further copy of the loops, made polymorphic: hakmem, dlmalloc and the GC contender run through it first. */
async function sharedCopy(): Promise<Loops> {
  const shared: Loops = await import("./loops.ts?contender=shared-by-several");
  for (const name of ["hakmem", "dlmalloc (WASM)", "Uint8Array (GC)", BASELINE]) {
    const spec = contenders().find((candidate) => candidate.name === name)!;
    for (const workloadName of ["random_mixed_256", "larson"]) {
      const workload = WORKLOADS.find((candidate) => candidate.name === workloadName)!;
      const contender = spec.create();
      contender.setup(workload.maxBytes(true));
      workload.run(contender, shared, true, 1);
      contender.teardown();
    }
  }
  return shared;
}

async function main(args: string[]): Promise<void> {
  const quick = args.includes("--quick");
  const roundsIndex = args.indexOf("--rounds");
  const rounds = roundsIndex >= 0 ? Number(args[roundsIndex + 1]) : quick ? 1 : 7;
  const shared = await sharedCopy();
  const ways: [string, Pick<Loops, "slots" | "churn">][] = [
    ["hand-written", HAND],
    ["its own copy", loopsFor(BASELINE)],
    ["shared copy", shared],
  ];
  // An anchor floor stays alive, so a collection never throws the floor's compiled code away between runs (bench/gc.ts).
  const anchor = new Floor(1 << 20);
  for (const workloadName of ["random_mixed_256", "larson"]) {
    for (const [, loops] of ways) timeRun(workloadName, loops, true); // warm-up
    const figures = ways.map(() => [] as number[]);
    for (let round = 0; round < rounds; round++) {
      for (let turn = 0; turn < ways.length; turn++) {
        const index = (turn + round) % ways.length;
        figures[index].push(timeRun(workloadName, ways[index][1], quick));
      }
    }
    const medians = figures.map(median);
    console.log(`${workloadName}, floor (API), ns/op, median of ${rounds} round(s)${quick ? " (quick: means nothing)" : ""}:`);
    ways.forEach(([name], index) => console.log(`  ${name.padEnd(14)} ${medians[index].toFixed(2)}`));
    console.log(
      `  own copy / hand-written: ${(medians[1] / medians[0]).toFixed(2)}; shared / own copy: ${(medians[2] / medians[1]).toFixed(2)}`,
    );
  }
  anchor.free(anchor.malloc(16));
}

if (import.meta.main) await main(process.argv.slice(2));
