/**
 * The benchmark harness: runs every workload on every contender that fits it,
 * in interleaved rounds (round 1 runs every contender, then round 2, ...,
 * each round starting one contender later, so drift and the garbage of the
 * previous run hit all alike), and gathers the figures with the runtime and
 * the machine they came from.
 *
 * Call sites: every contender runs its own copy of the timed loops
 * (bench/loops.ts, one module instance per contender), so every call in them
 * is monomorphic, as in a program that uses one allocator. A warm-up pass
 * (every contender once, tiny counts) compiles them before the first timed
 * round.
 *
 * Anchors: the warm-up's instance of each contender stays alive until the
 * workload is done. Optimized code holds the hidden classes ("maps") of the
 * allocator's objects weakly; when the last instance of a contender dies, a
 * full collection clears them and throws away every function compiled against
 * them ("embedded weak objects cleared" under V8's --trace-deopt), so every
 * run would start cold. A program keeps its heap alive, so one live instance
 * per contender measures what it sees (bench/gc.ts shows both cases).
 * @module
 */

import { readFileSync } from "node:fs";
import { arch, cpus, platform } from "node:os";
import { type Contender, contenders, type ContenderSpec } from "./contenders.ts";
import { formatRate } from "./report.ts";
import { type ExtraColumn, type Workload, WORKLOADS } from "./workloads.ts";

/** One contender's figures on one workload. */
export interface ContenderFigures {
  /** The contender. */
  contender: string;
  /** Its kind: "hakmem", "backend", "peer" or "floor". */
  kind: string;
  /** "ok"; "failed" when a run stopped early (out of memory); "skipped" when it was not run. */
  status: "ok" | "failed" | "skipped";
  /** Why it failed or was skipped. */
  reason?: string;
  /** Median over the rounds of operations per second (null unless ok). */
  opsPerSecond: number | null;
  /** Operations per second of each round, in round order. */
  roundsOpsPerSecond: number[];
  /** Operations per run. */
  ops: number;
  /** Median seconds per run. */
  seconds: number | null;
  /** Peak footprint in bytes (the largest over the rounds); null when not measurable. */
  peakFootprintBytes: number | null;
  /** Peak footprint / peak live requested bytes; null when not measurable. */
  overhead: number | null;
  /** Most requested bytes live at once. */
  peakLiveBytes: number;
  /** Most blocks live at once. */
  peakLiveBlocks: number;
  /** The workload's own figures (last round). */
  extra: Record<string, number | null>;
}

/** One workload's figures over every contender. */
export interface WorkloadFigures {
  /** The workload. */
  name: string;
  /** What it does, with its counts. */
  description: string;
  /** When it ran (ISO 8601). */
  date: string;
  /** Rounds run. */
  rounds: number;
  /** True for tiny counts (times mean nothing). */
  quick: boolean;
  /** Extra figures shown as columns. */
  extraColumns: ExtraColumn[];
  /** One entry per contender, in contender order. */
  results: ContenderFigures[];
}

/** The runtime the figures came from. */
export interface RuntimeInfo {
  /** "deno", "bun" or "node". */
  name: string;
  /** Its version. */
  version: string;
  /** Its JavaScript engine and version. */
  engine: string;
}

/** The machine the figures came from. */
export interface MachineInfo {
  /** CPU model (from /proc/cpuinfo when readable). */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** Operating system and architecture. */
  platform: string;
}

/** Everything one run of the suite produced; written as bench/out/<runtime>.json. */
export interface BenchReport {
  /** The runtime. */
  runtime: RuntimeInfo;
  /** The machine. */
  machine: MachineInfo;
  /** When the report was last written (ISO 8601). */
  date: string;
  /** The seed every trace came from. */
  seed: number;
  /** True for tiny counts. */
  quick: boolean;
  /** The workloads, in suite order. */
  workloads: WorkloadFigures[];
}

/** How to run the suite. */
export interface RunOptions {
  /** Tiny counts, one round. */
  quick?: boolean;
  /** Rounds per workload (default 5; 1 in quick mode). */
  rounds?: number;
  /** Workload names to run (default all). */
  workloads?: string[];
  /** Seed of every trace (default 1). */
  seed?: number;
  /** Contender names to run (default all). */
  contenders?: string[];
  /** Keep one instance of each contender alive through the workload (default true; see the module doc). */
  anchors?: boolean;
  /** Progress lines go here. */
  log?: (line: string) => void;
}

/** The name, version and engine of the runtime this runs on. */
export function runtimeInfo(): RuntimeInfo {
  // deno-lint-ignore no-explicit-any
  const global = globalThis as any;
  if (global.Bun) return { name: "bun", version: String(global.Bun.version), engine: "JavaScriptCore" };
  if (global.Deno) return { name: "deno", version: String(global.Deno.version.deno), engine: `V8 ${global.Deno.version.v8}` };
  const versions = global.process?.versions ?? {};
  return { name: "node", version: String(versions.node ?? "unknown"), engine: `V8 ${versions.v8 ?? "unknown"}` };
}

/** The CPU model, core count and platform, as far as the runtime lets us read them. */
export function machineInfo(): MachineInfo {
  let cpu = "";
  let cores = 0;
  try {
    const text = readFileSync("/proc/cpuinfo", "utf8");
    cpu = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? "";
    cores = (text.match(/^processor\s*:/gm) ?? []).length;
  } catch {
    // Not Linux, or not allowed to read: ask the os module instead.
  }
  try {
    const list = cpus();
    if (!cpu) cpu = list[0]?.model ?? "";
    if (!cores) cores = list.length;
  } catch {
    // Not allowed (Deno without --allow-sys).
  }
  let where = "";
  try {
    where = `${platform()} ${arch()}`;
  } catch {
    where = "unknown";
  }
  return { cpu: cpu || "unknown", cores, platform: where };
}

/** Collects garbage between runs where the runtime exposes it (Bun always; Deno and Node with --expose-gc). */
export function collectGarbage(): void {
  // deno-lint-ignore no-explicit-any
  const global = globalThis as any;
  if (global.Bun?.gc) global.Bun.gc(true);
  else if (typeof global.gc === "function") global.gc();
}

/** Why `spec` does not run `workload` in this mode, or undefined when it does. */
export function whyNotRun(spec: ContenderSpec, workload: Workload, quick: boolean): string | undefined {
  if (workload.sizes.min < spec.sizes.min || workload.sizes.max > spec.sizes.max) {
    return `serves ${spec.sizes.min}..${spec.sizes.max} B; the workload asks ${workload.sizes.min}..${workload.sizes.max} B`;
  }
  if (workload.usesRealloc && !spec.loops.resize) return "its loops only malloc and free (no realloc)";
  const limit = spec.liveBlockLimit;
  if (limit && workload.liveBlocks(quick) > limit.blocks) {
    return `${workload.liveBlocks(quick).toLocaleString("en-US")} live blocks: ${limit.reason}`;
  }
  return undefined;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs one workload over `specs` and returns its figures. */
export function runWorkload(workload: Workload, specs: ContenderSpec[], options: RunOptions = {}): WorkloadFigures {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 5);
  const seed = options.seed ?? 1;
  const log = options.log ?? (() => {});
  const figures: ContenderFigures[] = specs.map((spec) => ({
    contender: spec.name,
    kind: spec.kind,
    status: "ok",
    opsPerSecond: null,
    roundsOpsPerSecond: [],
    ops: 0,
    seconds: null,
    peakFootprintBytes: null,
    overhead: null,
    peakLiveBytes: 0,
    peakLiveBlocks: 0,
    extra: {},
  }));
  const seconds: number[][] = specs.map(() => []);
  const running: number[] = [];
  specs.forEach((spec, index) => {
    const reason = whyNotRun(spec, workload, quick);
    if (reason === undefined) running.push(index);
    else Object.assign(figures[index], { status: "skipped", reason });
  });

  // Warm-up: every contender through its loops once, compiled before the clock runs; the instance stays as the anchor.
  const anchors: Contender[] = [];
  if (!quick) {
    for (const index of running) {
      if (whyNotRun(specs[index], workload, true) !== undefined) continue;
      const contender = specs[index].create();
      contender.setup(workload.maxBytes(true));
      workload.run(contender, specs[index].loops, true, seed);
      if (options.anchors ?? true) anchors.push(contender);
      else contender.teardown();
    }
    collectGarbage();
  }

  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < running.length; turn++) {
      const index = running[(turn + round) % running.length];
      const entry = figures[index];
      if (entry.status !== "ok") continue;
      const contender = specs[index].create();
      contender.setup(workload.maxBytes(quick));
      const result = workload.run(contender, specs[index].loops, quick, seed);
      contender.teardown();
      collectGarbage();
      entry.ops = result.ops;
      entry.peakLiveBytes = result.peakLiveBytes;
      entry.peakLiveBlocks = result.peakLiveBlocks;
      entry.extra = result.extra;
      if (result.peakFootprintBytes !== null) entry.peakFootprintBytes = Math.max(entry.peakFootprintBytes ?? 0, result.peakFootprintBytes);
      if (result.failure) {
        entry.status = "failed";
        entry.reason = result.failure;
        log(`  ${workload.name} round ${round + 1}: ${entry.contender} failed: ${result.failure}`);
        continue;
      }
      entry.roundsOpsPerSecond.push(result.ops / result.seconds);
      seconds[index].push(result.seconds);
      log(`  ${workload.name} round ${round + 1}: ${entry.contender} ${formatRate(result.ops / result.seconds)} ops/s`);
    }
  }

  for (const anchor of anchors) anchor.teardown();
  for (const [index, entry] of figures.entries()) {
    if (entry.status === "ok" && entry.roundsOpsPerSecond.length > 0) {
      entry.opsPerSecond = median(entry.roundsOpsPerSecond);
      entry.seconds = median(seconds[index]);
    }
    if (entry.peakFootprintBytes !== null && entry.peakLiveBytes > 0) entry.overhead = entry.peakFootprintBytes / entry.peakLiveBytes;
  }
  return {
    name: workload.name,
    description: workload.describe(quick),
    date: new Date().toISOString(),
    rounds,
    quick,
    extraColumns: workload.extraColumns,
    results: figures,
  };
}

/** Runs the suite (the workloads asked for, every contender) and returns the report. */
export function runBench(options: RunOptions = {}): BenchReport {
  const names = options.workloads;
  const unknown = (names ?? []).filter((name) => !WORKLOADS.some((workload) => workload.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown workload ${unknown.join(", ")}; the workloads are ${WORKLOADS.map((w) => w.name).join(", ")}`);
  }
  const chosen = names ? WORKLOADS.filter((workload) => names.includes(workload.name)) : WORKLOADS;
  const all = contenders();
  const unknownContenders = (options.contenders ?? []).filter((name) => !all.some((spec) => spec.name === name));
  if (unknownContenders.length > 0) {
    throw new Error(`unknown contender ${unknownContenders.join(", ")}; the contenders are ${all.map((spec) => spec.name).join(", ")}`);
  }
  const specs = options.contenders ? all.filter((spec) => options.contenders!.includes(spec.name)) : all;
  const workloads = chosen.map((workload) => {
    options.log?.(`${workload.name}: ${workload.describe(options.quick ?? false)}`);
    return runWorkload(workload, specs, options);
  });
  return {
    runtime: runtimeInfo(),
    machine: machineInfo(),
    date: new Date().toISOString(),
    seed: options.seed ?? 1,
    quick: options.quick ?? false,
    workloads,
  };
}
