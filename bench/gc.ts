/**
 * Does a garbage collection undo the compiled hot path? The larson churn
 * (1000 live blocks of 16..1024 B, bench/workloads.ts) runs in chunks, and
 * between chunks, off the clock:
 *
 * - **no GC**: nothing;
 * - **gc()**: a full collection, the working heap alive;
 * - **gc(), other heaps come and go**: another instance of the same contender
 *   is made, used, dropped, then a full collection;
 * - **gc(), no heap alive**: the working heap itself is dropped before the
 *   collection and a fresh one filled after it (nothing of the contender's
 *   lives through the collection: what bench/run.ts did between its runs).
 *
 * Optimized code holds the hidden classes ("maps") of the objects it was
 * compiled for weakly. Only when the last object of a class dies can a full
 * collection clear its map, and then every function compiled against it is
 * thrown away ("embedded weak objects cleared" under V8's --trace-deopt). So
 * the first three should match: a collection while the heap lives costs the
 * heap nothing. The fourth shows the cost where nothing survives.
 * The first three run in rounds interleaved with an anchor instance of each
 * contender kept alive; the fourth runs afterwards, with no anchor.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/gc.ts [--rounds N] [--chunk N] [--chunks N] [--contenders a,b] [--anchored-only] [--quick]
 * bun bench/gc.ts [same flags]
 * deno run -A --v8-flags=--expose-gc,--trace-deopt bench/gc.ts --anchored-only | grep -c "weak objects"   # 0: nothing thrown away
 * ```
 *
 * Figures: median ns per operation (a malloc or a free) of the chunks' own
 * time, collections excluded, and each scenario's ratio to "no GC".
 * @module
 */

import process from "node:process";
import { BASELINE, type Contender, contenders, type ContenderSpec } from "./contenders.ts";
import { median, runtimeInfo } from "./runner.ts";
import { type ChurnTrace, churnTrace } from "./workloads.ts";

const MAX_BYTES = 64 << 20; // larson needs under 2 MiB; the floor takes all of it up front
const BLOCKS = 1000;

/** What happens between two chunks. */
type Scenario = "no GC" | "gc()" | "gc(), other heaps come and go" | "gc(), no heap alive";
const ANCHORED: Scenario[] = ["no GC", "gc()", "gc(), other heaps come and go"];
const UNANCHORED: Scenario = "gc(), no heap alive";

/** A full collection: Bun's, or V8's `gc` when --expose-gc gave it. */
function collector(): (() => void) | undefined {
  // deno-lint-ignore no-explicit-any
  const global = globalThis as any;
  if (global.Bun?.gc) return () => global.Bun.gc(true);
  if (typeof global.gc === "function") return () => global.gc();
  return undefined;
}

/** A set-up contender with its 1000 blocks allocated (through its own loops). */
function filled(spec: ContenderSpec, trace: ChurnTrace, ptrs: Float64Array): Contender {
  const contender = spec.create();
  contender.setup(MAX_BYTES);
  ptrs.fill(0);
  if (spec.loops.slots(contender.allocator, trace.fillSlot, trace.fillSize, ptrs, BLOCKS) !== BLOCKS) {
    throw new Error(`${spec.name}: out of memory filling ${BLOCKS} blocks`);
  }
  return contender;
}

/** Frees what `ptrs` holds and drops the contender. */
function drop(contender: Contender, ptrs: Float64Array): void {
  for (const ptr of ptrs) if (ptr !== 0) contender.allocator.free(ptr);
  contender.teardown();
}

/** One run of `scenario`: `chunks` chunks of `chunk` churn steps; returns ns per operation of the chunks alone. */
function runScenario(spec: ContenderSpec, scenario: Scenario, trace: ChurnTrace, chunk: number, chunks: number, gc: () => void): number {
  const ptrs = new Float64Array(BLOCKS);
  let contender = filled(spec, trace, ptrs);
  // Every scenario starts from a collected heap: else "no GC" inherits the garbage of the runs before it (the floor's
  // buffer of each), and the engine's own collections of it, concurrent or not, land in its chunks.
  gc();
  let milliseconds = 0;
  for (let index = 0; index < chunks; index++) {
    if (index > 0 && scenario !== "no GC") {
      if (scenario === "gc(), other heaps come and go") {
        const otherPtrs = new Float64Array(BLOCKS);
        const other = filled(spec, trace, otherPtrs);
        spec.loops.churn(other.allocator, trace.slot, trace.size, otherPtrs, chunk);
        drop(other, otherPtrs);
      } else if (scenario === UNANCHORED) {
        drop(contender, ptrs);
        gc();
        contender = filled(spec, trace, ptrs);
      }
      if (scenario !== UNANCHORED) gc();
    }
    const from = index * chunk;
    const slotOf = trace.slot.subarray(from, from + chunk);
    const sizeOf = trace.size.subarray(from, from + chunk);
    const start = performance.now();
    const done = spec.loops.churn(contender.allocator, slotOf, sizeOf, ptrs, chunk);
    milliseconds += performance.now() - start;
    if (done !== chunk) throw new Error(`${spec.name}: out of memory in chunk ${index}`);
  }
  drop(contender, ptrs);
  return milliseconds * 1e6 / (chunk * chunks * 2);
}

function flagValue(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

function main(args: string[]): void {
  const gc = collector();
  if (!gc) {
    console.error("no way to collect garbage: on Deno run with --v8-flags=--expose-gc (Bun always has Bun.gc)");
    process.exit(2);
  }
  const quick = args.includes("--quick");
  const rounds = Number(flagValue(args, "--rounds") ?? (quick ? 1 : 5));
  const chunk = Number(flagValue(args, "--chunk") ?? (quick ? 2_000 : 100_000));
  const chunks = Number(flagValue(args, "--chunks") ?? (quick ? 3 : 10));
  const names = (flagValue(args, "--contenders") ?? `hakmem,${BASELINE}`).split(",").map((name) => name.trim());
  const specs = names.map((name) => {
    const spec = contenders().find((candidate) => candidate.name === name);
    if (!spec) {
      throw new Error(`unknown contender ${name}; the contenders are ${contenders().map((candidate) => candidate.name).join(", ")}`);
    }
    return spec;
  });
  const trace = churnTrace(BLOCKS, 16, 1024, chunk * chunks, 1);
  const figures = new Map<string, number[]>();
  const record = (spec: ContenderSpec, scenario: Scenario, nanoseconds: number) => {
    const key = `${spec.name}\u0000${scenario}`;
    figures.set(key, [...(figures.get(key) ?? []), nanoseconds]);
  };

  // Anchored phase: one instance of each contender lives throughout; the scenarios interleave.
  const anchors = specs.map((spec) => filled(spec, trace, new Float64Array(BLOCKS)));
  for (const spec of specs) for (const scenario of ANCHORED) runScenario(spec, scenario, trace, Math.min(chunk, 2_000), 2, gc); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const spec of specs) {
      for (let turn = 0; turn < ANCHORED.length; turn++) {
        const scenario = ANCHORED[(turn + round) % ANCHORED.length];
        record(spec, scenario, runScenario(spec, scenario, trace, chunk, chunks, gc));
      }
    }
  }
  for (const anchor of anchors) anchor.teardown();
  anchors.length = 0;
  gc();

  // Unanchored phase: nothing of the contender lives through a collection.
  const anchoredOnly = args.includes("--anchored-only");
  for (let round = 0; round < (anchoredOnly ? 0 : rounds); round++) {
    for (const spec of specs) record(spec, UNANCHORED, runScenario(spec, UNANCHORED, trace, chunk, chunks, gc));
  }

  const runtime = runtimeInfo();
  const scenarios: Scenario[] = anchoredOnly ? ANCHORED : [...ANCHORED, UNANCHORED];
  console.log(
    `larson churn on ${runtime.name} ${runtime.version}: ${chunks} chunks of ${chunk.toLocaleString("en-US")} steps, ` +
      `ns/op of the chunks (median of ${rounds} round${rounds === 1 ? "" : "s"})${quick ? ", quick mode: means nothing" : ""}`,
  );
  console.log("");
  console.log(`| contender | ${scenarios.join(" | ")} |`);
  console.log(`|---|${scenarios.map(() => "---:").join("|")}|`);
  for (const spec of specs) {
    const base = median(figures.get(`${spec.name}\u0000no GC`)!);
    const cells = scenarios.map((scenario) => {
      const value = median(figures.get(`${spec.name}\u0000${scenario}`)!);
      return scenario === "no GC" ? value.toFixed(1) : `${value.toFixed(1)} (${(value / base).toFixed(2)}×)`;
    });
    console.log(`| ${spec.name} | ${cells.join(" | ")} |`);
  }
}

if (import.meta.main) main(process.argv.slice(2));
