/**
 * The workers benchmark: hakmem with real workers on one heap over a growable
 * SharedArrayBuffer, side by side in one run, in interleaved rounds (round 1
 * runs every scenario, then round 2, ..., each round starting one scenario
 * later), the median reported:
 *
 * - producer → consumer: one worker allocates 64-byte blocks and hands them
 *   through the SharedQueue (testing/shared_queue.ts), the other frees them
 *   all, so every free is remote; pairs per second, one block per queue call
 *   and in batches of 64;
 * - random_mixed (256 slots, sizes 16..1024, first and last byte written):
 *   one worker alone, then two workers each running it at the same time on
 *   one heap; total throughput = total operations / the slowest worker's
 *   seconds (the issue's target: two at least 1.6× one, on two cores);
 * - the same two random_mixed runs on `@daneren2005/shared-memory-objects`
 *   (bench/shared_memory_objects.ts), one heap shared by the workers.
 *
 * Every worker attaches and draws its trace first, then waits on a shared
 * start flag (bench/worker_tools.ts) and times its own loop. Workers are
 * kept across runs (a warm-up pass runs every scenario once at a tenth of the
 * counts first). Each run gets a fresh heap, checked afterwards. A CPU-only
 * control (one worker, then two) shows how many cores the machine actually
 * gave in each round, and every run reports its cores busy (process CPU time
 * over wall time): on a shared machine, two-worker figures mean little
 * without them.
 *
 * ```sh
 * deno run -A bench/workers.ts [--quick] [--rounds N] [--ops N] [--pairs N] [--seed N] [--out bench/out] [--readme]
 * bun bench/workers.ts [same flags]
 * ```
 *
 * Writes `bench/out/workers-<runtime>.json` (`workers-<runtime>-quick.json`
 * with `--quick`); `--readme` then rewrites README.md's benchmark section.
 * @module
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createHeap } from "../mod.ts";
import { SharedQueue } from "../testing/shared_queue.ts";
import type { Job, Report } from "../tests/worker_child.ts";
import { formatRate } from "./report.ts";
import { type MachineInfo, machineInfo, median, type RuntimeInfo, runtimeInfo } from "./runner.ts";
import { importPeerHeap, loadPeerModule, PEER_PACKAGE, type PeerHeapClass } from "./shared_memory_objects.ts";
import { createStartFlag, raiseStartFlag, readyCount } from "./worker_tools.ts";
import type { PeerJob, PeerReport } from "./workers_peer_child.ts";

/** Two workers' total throughput over one worker's that the issue asks for, on two cores. */
export const SCALING_TARGET = 1.6;

/** Slots of random_mixed. */
const SLOTS = 256;
/** Entries of the producer → consumer queue. */
const QUEUE_CAPACITY = 4096;
/** The peer's buffers, made up front: its README says only the main thread may add buffers. */
const PEER_BUFFERS = 8;
/** The peer's buffer size: its largest (pointers keep 20 bits of byte offset). */
const PEER_BUFFER_BYTES = 1 << 20;
const MAX_BYTES = 1 << 30;

/** How to run the workers benchmark. */
export interface WorkersOptions {
  /** Tiny counts, one round, no warm-up. */
  quick?: boolean;
  /** Rounds (default 5; 1 in quick mode). */
  rounds?: number;
  /** random_mixed operations per worker (default 2,000,000; 4,000 in quick mode). */
  ops?: number;
  /** Producer → consumer pairs per run (default 1,000,000; 4,000 in quick mode). */
  pairs?: number;
  /** Blocks per queue call in the batched producer → consumer run (default 64). */
  batch?: number;
  /** Seed of the traces (worker i of a run replays seed + i). */
  seed?: number;
  /** Run the peer (default true; it is skipped with its reason when not installed). */
  peer?: boolean;
  /** Progress lines go here. */
  log?: (line: string) => void;
}

/** One scenario's figures. */
export interface WorkersRow {
  /** Stable id: "pc_single", "pc_batch", "hakmem_1", "hakmem_2", "peer_1", "peer_2". */
  id: string;
  /** What runs. */
  benchmark: string;
  /** The allocator. */
  allocator: string;
  /** Workers running at once. */
  workers: number;
  /** "pairs/s" or "ops/s". */
  unit: string;
  /** "ok"; "failed" when a run went wrong; "skipped" when not run. */
  status: "ok" | "failed" | "skipped";
  /** Why it failed or was skipped. */
  reason?: string;
  /** Median over the rounds (null unless ok). */
  median: number | null;
  /** Each round's figure, in round order. */
  rounds: number[];
  /** Each round's seconds per worker (each worker's own loop). */
  workerSeconds: number[][];
  /**
   * Each round's cores busy: the process's CPU seconds (every thread) over
   * wall seconds, from the start flag to the last answer. About 2 when two
   * workers each had a core of their own; about 1 when they shared one
   * (another program held the other core).
   */
  cores: number[];
  /** Pairs or operations per run, all workers together. */
  units: number;
  /** Median over median of the same allocator with one worker (two-worker random_mixed rows only). */
  twoVsOne: number | null;
  /** hakmem's median over the peer's with as many workers (hakmem random_mixed rows only). */
  vsPeer: number | null;
  /** Scenario figures of the last round (e.g. the peer's buffers at the end). */
  extra: Record<string, number>;
}

/** Everything one run produced; written as bench/out/workers-<runtime>.json. */
export interface WorkersReport {
  /** Always "workers" (tells it apart from bench/run.ts reports). */
  kind: "workers";
  /** The runtime. */
  runtime: RuntimeInfo;
  /** The machine. */
  machine: MachineInfo;
  /** When it ran (ISO 8601). */
  date: string;
  /** True for tiny counts (times mean nothing). */
  quick: boolean;
  /** Rounds run. */
  rounds: number;
  /** Seed of the traces. */
  seed: number;
  /** The counts. */
  counts: { opsPerWorker: number; pairs: number; batch: number; slots: number; peerBuffers: number; peerBufferBytes: number };
  /** 1-, 5- and 15-minute load averages before and after (null where the runtime does not tell). */
  loadAverage: { before: number[] | null; after: number[] | null };
  /** The peer: its version, and why it did not run if it did not. */
  peer: { name: string; version: string | null; reason: string | null };
  /**
   * The issue's target for hakmem's two-vs-one ratio (of the medians), whether
   * this run met it (null when not measured), the ratio round by round, and
   * the same for the CPU-only control: how many cores the machine gave.
   */
  target: {
    twoVsOne: number;
    measured: number | null;
    met: boolean | null;
    roundsTwoVsOne: number[];
    controlTwoVsOne: number | null;
    controlRoundsTwoVsOne: number[];
  };
  /** The scenarios. */
  rows: WorkersRow[];
}

interface RunOutcome {
  units: number;
  workerSeconds: number[];
  cores: number;
  errors: string[];
  extra: Record<string, number>;
}

interface Scenario {
  row: WorkersRow;
  run(ops: number, pairs: number): Promise<RunOutcome>;
}

type Script = "hakmem" | "peer";

const SCRIPTS: Record<Script, URL> = {
  hakmem: new URL("../tests/worker_child.ts", import.meta.url),
  peer: new URL("./workers_peer_child.ts", import.meta.url),
};

/** Workers kept across runs, per script; a worker that failed is replaced. */
class WorkerPool {
  private readonly idle = new Map<Script, Worker[]>();

  take(script: Script, count: number): Worker[] {
    const list = this.idle.get(script) ?? [];
    this.idle.set(script, list);
    while (list.length < count) list.push(new Worker(SCRIPTS[script].href, { type: "module" }));
    return list.slice(0, count);
  }

  discard(script: Script, worker: Worker): void {
    worker.terminate();
    const list = this.idle.get(script) ?? [];
    const index = list.indexOf(worker);
    if (index >= 0) list.splice(index, 1);
  }

  close(): void {
    for (const list of this.idle.values()) for (const worker of list) worker.terminate();
    this.idle.clear();
  }
}

/** The workers' answers, and how many cores the process kept busy from the start flag to the last answer. */
interface Answers<T> {
  answers: T[];
  /** CPU seconds of the whole process (every thread) over wall seconds: about 2 when two workers each had a core. */
  cores: number;
}

/** Runs `messages` on `script` workers from one start flag; answers in order, or the first failure. */
async function runWorkers<T>(pool: WorkerPool, script: Script, messages: ((start: SharedArrayBuffer) => unknown)[]): Promise<Answers<T>> {
  const start = createStartFlag();
  const workers = pool.take(script, messages.length);
  let answered = 0;
  const answers = workers.map((worker, index) =>
    new Promise<T>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<T>) => {
        answered++;
        resolve(event.data);
      };
      worker.onerror = (event: ErrorEvent) => {
        answered++;
        event.preventDefault?.();
        pool.discard(script, worker);
        reject(new Error(`${script} worker failed: ${event.message}`));
      };
      worker.postMessage(messages[index](start));
    })
  );
  // Start when every worker is ready; or at once when one already answered (it failed before its loop).
  while (readyCount(start) < messages.length && answered === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  raiseStartFlag(start);
  try {
    const all = await Promise.all(answers);
    const cpu = process.cpuUsage(cpuBefore);
    return { answers: all, cores: (cpu.user + cpu.system) / 1e3 / (performance.now() - wallBefore) };
  } catch (error) {
    for (const worker of workers) pool.discard(script, worker); // the others may still be running: never hand them another job
    throw error;
  }
}

/** Problems of a hakmem heap after its workers are gone: check("full"), then nothing may stay live after trim. */
function heapProblems(heap: ReturnType<typeof createHeap>): string[] {
  const problems = heap.check("full").problems.map((problem) => JSON.stringify(problem));
  heap.trim();
  const live = heap.stats().liveBlocks;
  if (live !== 0) problems.push(`${live} blocks still live after every worker freed its own and detached`);
  const workers = heap.workers();
  if (workers.length !== 1) problems.push(`workers still attached: ${workers.join(", ")}`);
  return problems;
}

function growableMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(1 << 20, { maxByteLength: MAX_BYTES });
}

function newRow(id: string, benchmark: string, allocator: string, workers: number, unit: string): WorkersRow {
  return {
    id,
    benchmark,
    allocator,
    workers,
    unit,
    status: "ok",
    median: null,
    rounds: [],
    workerSeconds: [],
    cores: [],
    units: 0,
    twoVsOne: null,
    vsPeer: null,
    extra: {},
  };
}

function producerConsumer(pool: WorkerPool, id: string, batch: number, seed: number): Scenario {
  const batched = batch > 1;
  const benchmark = batched
    ? `producer → consumer, 64 B, ${batch} blocks per queue call`
    : "producer → consumer, 64 B, one block per queue call";
  return {
    row: newRow(id, benchmark, "hakmem", 2, "pairs/s"),
    async run(_ops, pairs) {
      const memory = growableMemory();
      const heap = createHeap({ memory, maxBytes: MAX_BYTES });
      const queue = SharedQueue.create(QUEUE_CAPACITY);
      const job = (kind: Job["kind"]) => (start: SharedArrayBuffer): Job => ({ kind, memory, queue, seed, ops: pairs, batch, start });
      const { answers: [producer, consumer], cores } = await runWorkers<Report>(pool, "hakmem", [
        job(batched ? "produce_batch" : "produce"),
        job(batched ? "consume_batch" : "consume"),
      ]);
      const errors = [...producer.errors, ...consumer.errors];
      if (consumer.received !== pairs) errors.push(`the consumer freed ${consumer.received} of ${pairs} blocks`);
      errors.push(...heapProblems(heap));
      return {
        units: pairs,
        workerSeconds: [producer.seconds, consumer.seconds],
        cores,
        errors,
        extra: { growCount: heap.stats().pageHeap.growCount },
      };
    },
  };
}

const RANDOM_MIXED = `random_mixed (${SLOTS} slots, 16..1024 B)`;

const CPU_ONLY = "control: CPU-only loop, no memory touched";
/** xorshift steps of the control per random_mixed operation: about as long a run as hakmem's random_mixed. */
const CPU_STEPS_PER_OP = 24;

/** `workers` hakmem workers, each running `kind` on its own, at once, on one heap. */
function eachOnItsOwn(pool: WorkerPool, workers: number, seed: number, kind: "random_mixed" | "cpu_only"): Scenario {
  const control = kind === "cpu_only";
  return {
    row: control
      ? newRow(`cpu_${workers}`, CPU_ONLY, "none", workers, "steps/s")
      : newRow(`hakmem_${workers}`, RANDOM_MIXED, "hakmem", workers, "ops/s"),
    async run(runOps) {
      const ops = control ? runOps * CPU_STEPS_PER_OP : runOps;
      const memory = growableMemory();
      const heap = createHeap({ memory, maxBytes: MAX_BYTES });
      const queue = SharedQueue.create(1);
      const messages = Array.from({ length: workers }, (_, index) => (start: SharedArrayBuffer): Job => ({
        kind,
        memory,
        queue,
        seed: seed + index,
        ops,
        slots: SLOTS,
        start,
      }));
      const { answers: reports, cores } = await runWorkers<Report>(pool, "hakmem", messages);
      const errors = reports.flatMap((report) => report.errors);
      errors.push(...heapProblems(heap));
      return {
        units: ops * workers,
        workerSeconds: reports.map((report) => report.seconds),
        cores,
        errors,
        extra: control ? {} as Record<string, number> : { peakFootprintBytes: heap.stats().peakFootprintBytes },
      };
    },
  };
}

function peerRandomMixed(pool: WorkerPool, workers: number, seed: number, url: string, MemoryHeap: PeerHeapClass, name: string): Scenario {
  return {
    row: newRow(`peer_${workers}`, RANDOM_MIXED, name, workers, "ops/s"),
    async run(ops) {
      const heap = new MemoryHeap({ bufferSize: PEER_BUFFER_BYTES, initialBuffers: PEER_BUFFERS });
      const shared = heap.getSharedMemory();
      const messages = Array.from({ length: workers }, (_, index) => (start: SharedArrayBuffer): PeerJob => ({
        url,
        heap: shared,
        seed: seed + index,
        ops,
        slots: SLOTS,
        start,
      }));
      const { answers: reports, cores } = await runWorkers<PeerReport>(pool, "peer", messages);
      const errors = reports.flatMap((report) => report.errors);
      // Every block was freed: the used lists of the buffers made up front are empty again.
      const used = heap.buffers.reduce((sum, buffer) => sum + buffer.stats().used.count, 0);
      if (used !== 1) errors.push(`${used - 1} blocks still used after every worker freed its own`); // 1: the heap's own header words
      return {
        units: ops * workers,
        workerSeconds: reports.map((report) => report.seconds),
        cores,
        errors,
        extra: { buffersAfter: Math.max(...reports.map((report) => report.buffersAfter)) },
      };
    },
  };
}

function loadAverage(): number[] | null {
  try {
    const values = loadavg();
    return values.every((value) => value === 0) ? null : values.map((value) => Math.round(value * 100) / 100);
  } catch {
    return null; // Deno without --allow-sys
  }
}

/** Runs the workers benchmark and returns its figures (nothing is written). */
export async function runWorkersBench(options: WorkersOptions = {}): Promise<WorkersReport> {
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 5);
  const ops = options.ops ?? (quick ? 4_000 : 2_000_000);
  const pairs = options.pairs ?? (quick ? 4_000 : 1_000_000);
  const batch = options.batch ?? 64;
  const seed = options.seed ?? 1;
  const log = options.log ?? (() => {});
  const before = loadAverage();
  const pool = new WorkerPool();
  const peer = options.peer === false ? { version: null, url: null, reason: "not asked for (--no-peer)" } : loadPeerModule();
  const peerName = `${PEER_PACKAGE}${peer.version ? ` ${peer.version}` : ""}`;
  try {
    const scenarios: Scenario[] = [
      producerConsumer(pool, "pc_single", 1, seed),
      producerConsumer(pool, "pc_batch", batch, seed),
      eachOnItsOwn(pool, 1, seed, "random_mixed"),
      eachOnItsOwn(pool, 2, seed, "random_mixed"),
      eachOnItsOwn(pool, 1, seed, "cpu_only"),
      eachOnItsOwn(pool, 2, seed, "cpu_only"),
    ];
    const skipped: WorkersRow[] = [];
    if (peer.url !== null) {
      const MemoryHeap = await importPeerHeap(peer.url);
      scenarios.push(peerRandomMixed(pool, 1, seed, peer.url, MemoryHeap, peerName));
      scenarios.push(peerRandomMixed(pool, 2, seed, peer.url, MemoryHeap, peerName));
    } else {
      for (const workers of [1, 2]) {
        skipped.push({ ...newRow(`peer_${workers}`, RANDOM_MIXED, peerName, workers, "ops/s"), status: "skipped", reason: peer.reason! });
      }
    }
    const runOnce = async (scenario: Scenario, runOps: number, runPairs: number, record: boolean) => {
      const row = scenario.row;
      if (row.status !== "ok") return;
      let outcome: RunOutcome;
      try {
        outcome = await scenario.run(runOps, runPairs);
      } catch (error) {
        outcome = { units: 0, workerSeconds: [], cores: 0, errors: [String((error as Error)?.message ?? error)], extra: {} };
      }
      if (outcome.errors.length > 0) {
        row.status = "failed";
        row.reason = outcome.errors.slice(0, 3).join("; ");
        log(`  ${row.id}: failed: ${row.reason}`);
        return;
      }
      if (!record) return;
      const seconds = Math.max(...outcome.workerSeconds);
      row.units = outcome.units;
      row.rounds.push(outcome.units / seconds);
      row.workerSeconds.push(outcome.workerSeconds.map((value) => Math.round(value * 1e6) / 1e6));
      row.cores.push(Math.round(outcome.cores * 100) / 100);
      row.extra = outcome.extra;
      const perWorker = outcome.workerSeconds.map((value) => value.toFixed(3)).join(" s, ");
      log(`  ${row.id}: ${formatRate(outcome.units / seconds)} ${row.unit} (${perWorker} s; ${outcome.cores.toFixed(2)} cores busy)`);
    };
    if (!quick) {
      // A tenth of the counts: enough for every engine tier to compile the loops (a few thousand steps are not, on Bun).
      const warmOps = Math.max(4_000, Math.round(ops / 10)), warmPairs = Math.max(4_000, Math.round(pairs / 10));
      log(`warm-up: every scenario once, ${warmOps.toLocaleString("en-US")} operations, ${warmPairs.toLocaleString("en-US")} pairs`);
      for (const scenario of scenarios) await runOnce(scenario, warmOps, warmPairs, false);
    }
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1} of ${rounds}`);
      for (let step = 0; step < scenarios.length; step++) {
        await runOnce(scenarios[(round + step) % scenarios.length], ops, pairs, true);
      }
    }
    const order = ["pc_single", "pc_batch", "hakmem_1", "hakmem_2", "peer_1", "peer_2", "cpu_1", "cpu_2"];
    const rows = [...scenarios.map((scenario) => scenario.row), ...skipped].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
    for (const row of rows) if (row.status === "ok" && row.rounds.length > 0) row.median = median(row.rounds);
    const find = (id: string) => rows.find((row) => row.id === id && row.median !== null);
    const ratio = (a?: WorkersRow, b?: WorkersRow) => a && b ? a.median! / b.median! : null;
    for (const prefix of ["hakmem", "peer", "cpu"]) {
      const two = find(`${prefix}_2`);
      if (two) two.twoVsOne = ratio(two, find(`${prefix}_1`));
    }
    for (const workers of [1, 2]) {
      const own = find(`hakmem_${workers}`);
      if (own) own.vsPeer = ratio(own, find(`peer_${workers}`));
    }
    const measured = find("hakmem_2")?.twoVsOne ?? null;
    const perRound = (prefix: string) => {
      const one = find(`${prefix}_1`), two = find(`${prefix}_2`);
      if (!one || !two || one.rounds.length !== two.rounds.length) return [];
      return two.rounds.map((rate, round) => Math.round(rate / one.rounds[round] * 100) / 100);
    };
    return {
      kind: "workers",
      runtime: runtimeInfo(),
      machine: machineInfo(),
      date: new Date().toISOString(),
      quick,
      rounds,
      seed,
      counts: { opsPerWorker: ops, pairs, batch, slots: SLOTS, peerBuffers: PEER_BUFFERS, peerBufferBytes: PEER_BUFFER_BYTES },
      loadAverage: { before, after: loadAverage() },
      peer: { name: PEER_PACKAGE, version: peer.version, reason: peer.reason },
      target: {
        twoVsOne: SCALING_TARGET,
        measured,
        met: measured === null ? null : measured >= SCALING_TARGET,
        roundsTwoVsOne: perRound("hakmem"),
        controlTwoVsOne: find("cpu_2")?.twoVsOne ?? null,
        controlRoundsTwoVsOne: perRound("cpu"),
      },
      rows,
    };
  } finally {
    pool.close();
  }
}

function times(value: number | null): string {
  return value === null ? "-" : `${value.toFixed(2)}×`;
}

function spread(row: WorkersRow): string {
  if (row.rounds.length < 2 || row.median === null) return "-";
  return `${((Math.max(...row.rounds) - Math.min(...row.rounds)) / row.median * 100).toFixed(0)}%`;
}

/**
 * The report as markdown: a provenance line, one table (scenario, allocator,
 * workers, median, spread over the rounds as max − min of the median, two
 * vs one, hakmem vs the peer), the target line and notes.
 */
export function formatWorkersReport(report: WorkersReport): string {
  const { runtime, machine } = report;
  const cores = machine.cores > 0 ? `, ${machine.cores} logical cores` : "";
  const load = (values: number[] | null) => values === null ? "?" : values.join(" ");
  const lines = [
    `_${runtime.name} ${runtime.version} (${runtime.engine}) on ${machine.cpu}${cores}, ${machine.platform}; ${
      report.date.slice(0, 10)
    }, ` +
    `seed ${report.seed}${report.quick ? " (quick mode: times mean nothing)" : ""}; load average ${
      load(report.loadAverage.before)
    } before, ` +
    `${load(report.loadAverage.after)} after_`,
    "",
    `Real workers on one heap each run; every worker times its own loop from a shared start flag; two workers' throughput = all ` +
    `operations / the slower worker's seconds. random_mixed: ${report.counts.opsPerWorker.toLocaleString("en-US")} operations per ` +
    `worker; producer → consumer: ${report.counts.pairs.toLocaleString("en-US")} blocks, every free remote. Median of ` +
    `${report.rounds} round${report.rounds === 1 ? "" : "s"}, interleaved; spread = (max − min) / median; cores busy = the process's ` +
    `CPU seconds over wall seconds during a run, lowest..highest over the rounds (about 2 when two workers each had a core).`,
    "",
    "| benchmark | allocator | workers | median | spread | cores busy | two vs one | hakmem vs peer |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  const notes: string[] = [];
  for (const row of report.rows) {
    if (row.status !== "ok") {
      notes.push(`- ${row.allocator}, ${row.workers} worker${row.workers === 1 ? "" : "s"}: ${row.status}, ${row.reason}.`);
      if (row.status === "skipped") continue;
    }
    const workers = row.id.startsWith("pc_") ? "1 + 1" : String(row.workers);
    const figure = row.median === null ? row.status : `${formatRate(row.median)} ${row.unit}`;
    const cores = row.cores.length === 0 ? "-" : `${Math.min(...row.cores).toFixed(1)}..${Math.max(...row.cores).toFixed(1)}`;
    lines.push(
      `| ${row.benchmark} | ${row.allocator} | ${workers} | ${figure} | ${spread(row)} | ${cores} | ${times(row.twoVsOne)} | ${
        times(row.vsPeer)
      } |`,
    );
  }
  const { target } = report;
  const rounds = (values: number[]) => values.length > 1 ? ` (by round: ${values.map((value) => `${value.toFixed(2)}×`).join(", ")})` : "";
  lines.push(
    "",
    `Target: hakmem with two workers at least ${target.twoVsOne}× one worker (two cores): ` +
      (target.measured === null
        ? "not measured."
        : `${times(target.measured)}${rounds(target.roundsTwoVsOne)}, ${target.met ? "met" : "not met"}. ` +
          `The CPU-only control, two vs one: ${times(target.controlTwoVsOne)}${rounds(target.controlRoundsTwoVsOne)}; ` +
          `near 2× when the machine gave both cores, near 1× when another program held one.`),
  );
  const peerRow = report.rows.find((row) => row.id === "peer_2" && row.status === "ok");
  if (peerRow && peerRow.extra.buffersAfter > report.counts.peerBuffers) {
    notes.push(`- ${peerRow.allocator} had to add buffers of its own in a worker (${peerRow.extra.buffersAfter} at the end).`);
  }
  if (notes.length > 0) lines.push("", ...notes);
  return lines.join("\n") + "\n";
}

/** The command line, parsed. */
export interface WorkersArguments extends WorkersOptions {
  /** Output folder. */
  out: string;
  /** Rewrite README.md's benchmark section afterwards. */
  readme: boolean;
}

const USAGE = "usage: bench/workers.ts [--quick] [--rounds N] [--ops N] [--pairs N] [--seed N] [--no-peer] [--out bench/out] [--readme]";

/** Parses the flags; throws with the usage line on anything it does not know. */
export function parseWorkersArguments(args: string[]): WorkersArguments {
  const parsed: WorkersArguments = { out: join("bench", "out"), readme: false };
  for (let index = 0; index < args.length; index++) {
    const [flag, inline] = args[index].split("=", 2) as [string, string | undefined];
    const positive = () => {
      const text = inline ?? args[++index];
      const number = Number(text);
      if (!Number.isSafeInteger(number) || number < 1) {
        throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(text)}\n${USAGE}`);
      }
      return number;
    };
    if (flag === "--quick") parsed.quick = true;
    else if (flag === "--readme") parsed.readme = true;
    else if (flag === "--no-peer") parsed.peer = false;
    else if (flag === "--rounds") parsed.rounds = positive();
    else if (flag === "--ops") parsed.ops = positive();
    else if (flag === "--pairs") parsed.pairs = positive();
    else if (flag === "--seed") parsed.seed = positive();
    else if (flag === "--out") {
      const text = inline ?? args[++index];
      if (text === undefined) throw new Error(`--out needs a folder\n${USAGE}`);
      parsed.out = text;
    } else if (flag === "--help" || flag === "-h") throw new Error(USAGE);
    else throw new Error(`unknown argument ${JSON.stringify(args[index])}\n${USAGE}`);
  }
  return parsed;
}

async function main(args: string[]): Promise<void> {
  const options = parseWorkersArguments(args);
  const report = await runWorkersBench({ ...options, log: (line) => console.error(line) });
  const title = report.runtime.name === "deno" ? "Deno" : report.runtime.name === "bun" ? "Bun" : report.runtime.name;
  console.log(`### Workers: ${title} ${report.runtime.version}\n\n${formatWorkersReport(report)}`);
  mkdirSync(options.out, { recursive: true });
  const path = join(options.out, `workers-${report.runtime.name}${report.quick ? "-quick" : ""}.json`);
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n");
  console.error(`wrote ${path}`);
  if (options.readme) {
    const { updateReadme } = await import("./readme_table.ts");
    console.error(updateReadme(options.out, "README.md"));
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  }
}
