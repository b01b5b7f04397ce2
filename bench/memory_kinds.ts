/**
 * What the kind of memory costs: the hot path of the floor (behind the heap
 * API, and bare) and of a hakmem heap over each kind a heap can live in, and
 * what growing each kind costs. Figures for the README's memory-kind table.
 *
 * Hot path: larson (1000 live blocks of 16..1024 B, churned) and
 * random_mixed_256 (bench/workloads.ts), ns per operation. Typed arrays over
 * different kinds of buffer are different hidden classes to the engine, so
 * code that has seen two kinds is polymorphic: each kind is measured in a
 * child process of its own (`--child <kind>`, one round per child), the rounds
 * interleaved over the kinds, medians taken here.
 *
 * Growth: 1 MiB → 256 MiB by doubling, a byte written in every 4 KiB page
 * after each step (so a copying growth has real pages to copy): the time in
 * the growth calls alone (`resize`, `grow`, `WebAssembly.Memory.grow`,
 * `ArrayBuffer.prototype.transfer`), median over the rounds.
 *
 * | kind        | memory                                              | hakmem given                              | growth                    |
 * | ----------- | --------------------------------------------------- | ----------------------------------------- | ------------------------- |
 * | `plain`     | `new ArrayBuffer(n)`                                | 64 MiB up front (a plain buffer cannot grow in place) | `transfer(2n)`: a copy |
 * | `resizable` | `new ArrayBuffer(n, { maxByteLength })`             | a resizable buffer                        | `resize(2n)` in place     |
 * | `wasm`      | `new WebAssembly.Memory({ initial, maximum })`      | its default memory (a WebAssembly.Memory) | `grow(pages)`; views rebuilt |
 * | `shared`    | `new SharedArrayBuffer(n, { maxByteLength })`       | a growable SharedArrayBuffer (its shared-memory paths: locks, atomics) | `grow(2n)` in place |
 *
 * ```sh
 * deno run -A bench/memory_kinds.ts [--rounds N] [--quick]
 * bun bench/memory_kinds.ts [--rounds N] [--quick]
 * ```
 * @module
 */

import { spawnSync } from "node:child_process";
import process from "node:process";
import { createHeap, type Heap, type MemorySource } from "../mod.ts";
import { loopsFor } from "./contenders.ts";
import { Floor, FLOOR_MEMORY_KINDS, type FloorMemoryKind } from "./floor.ts";
import type { Allocator, Loops } from "./loops.ts";
import { median, runtimeInfo } from "./runner.ts";
import { churnTrace } from "./workloads.ts";
import { Random } from "../testing/random.ts";

const MiB = 1 << 20;
const MAX_BYTES = 256 * MiB;
const PLAIN_HAKMEM_BYTES = 64 * MiB;
const BLOCKS = 1000;
const SLOTS = 256;

/** The allocators measured over each kind. */
const ALLOCATORS = ["floor (API)", "floor (bare)", "hakmem"] as const;
type AllocatorName = typeof ALLOCATORS[number];
const WORKLOADS = ["larson", "random_mixed_256"] as const;
type WorkloadName = typeof WORKLOADS[number];

/** Fresh memory of `kind` for a hakmem heap (a plain buffer cannot grow in place, so it gets its room up front). */
function heapMemory(kind: FloorMemoryKind): MemorySource {
  if (kind === "plain") return new ArrayBuffer(PLAIN_HAKMEM_BYTES);
  if (kind === "resizable") return new ArrayBuffer(MiB, { maxByteLength: MAX_BYTES });
  if (kind === "shared") return new SharedArrayBuffer(MiB, { maxByteLength: MAX_BYTES });
  return new WebAssembly.Memory({ initial: MiB / 65536, maximum: MAX_BYTES / 65536 });
}

/** A fresh allocator of `name` over memory of `kind`. */
function makeAllocator(name: AllocatorName, kind: FloorMemoryKind): Allocator {
  if (name === "hakmem") {
    // Over "wasm", the heap's own default memory (a WebAssembly.Memory only it grows: `u8` a plain data property), as a
    // user gets it; a memory handed in keeps its `u8` a getter, since a module may grow it behind the heap's back.
    if (kind === "wasm") return createHeap({ initialBytes: MiB, maxBytes: MAX_BYTES });
    return createHeap({ memory: heapMemory(kind), maxBytes: kind === "plain" ? PLAIN_HAKMEM_BYTES : MAX_BYTES });
  }
  return new Floor(MAX_BYTES, kind);
}

/** The random_mixed_256 steps (a size of 0 frees the slot's block). */
function slotTrace(steps: number): { slot: Int32Array; size: Int32Array } {
  const random = new Random(1);
  const slot = new Int32Array(steps);
  const size = new Int32Array(steps);
  const held = new Uint8Array(SLOTS);
  for (let step = 0; step < steps; step++) {
    const index = random.int(SLOTS);
    slot[step] = index;
    size[step] = held[index] ? 0 : 16 + random.int(1009);
    held[index] ^= 1;
  }
  return { slot, size };
}

/** One run of `workload` on a fresh `name` over `kind`: ns per operation. */
function timeRun(name: AllocatorName, kind: FloorMemoryKind, workload: WorkloadName, steps: number): number {
  const allocator = makeAllocator(name, kind);
  const loops: Loops = loopsFor(name);
  let ops: number;
  let milliseconds: number;
  if (workload === "larson") {
    const trace = churnTrace(BLOCKS, 16, 1024, steps, 1);
    const ptrs = new Float64Array(BLOCKS);
    loops.slots(allocator, trace.fillSlot, trace.fillSize, ptrs, BLOCKS);
    const start = performance.now();
    const done = loops.churn(allocator, trace.slot, trace.size, ptrs, steps);
    milliseconds = performance.now() - start;
    if (done !== steps) throw new Error(`${name} over ${kind}: out of memory`);
    ops = steps * 2;
  } else {
    const trace = slotTrace(steps);
    const ptrs = new Float64Array(SLOTS);
    const start = performance.now();
    const done = loops.slots(allocator, trace.slot, trace.size, ptrs, steps);
    milliseconds = performance.now() - start;
    if (done !== steps) throw new Error(`${name} over ${kind}: out of memory`);
    ops = steps;
  }
  if (name === "hakmem" && !(allocator as Heap).check("full").ok) throw new Error(`hakmem over ${kind}: check failed`);
  return milliseconds * 1e6 / ops;
}

/** The child: every allocator over `kind`, warmed up, then one timed run each; prints one JSON line. */
function child(kind: FloorMemoryKind, steps: number): void {
  // Anchors: one live instance of each allocator, so no collection throws compiled code away (bench/gc.ts).
  const anchors = ALLOCATORS.map((name) => makeAllocator(name, kind));
  for (const name of ALLOCATORS) for (const workload of WORKLOADS) timeRun(name, kind, workload, Math.min(steps, 200_000));
  const figures: Record<string, number> = {};
  for (const workload of WORKLOADS) for (const name of ALLOCATORS) figures[`${workload}/${name}`] = timeRun(name, kind, workload, steps);
  anchors.length = 0;
  console.log(JSON.stringify(figures));
}

/** Milliseconds spent in the growth calls of 1 MiB → `maxBytes` by doubling, every page written after each step. */
function growthMilliseconds(kind: FloorMemoryKind, maxBytes: number): number {
  let spent = 0;
  const touch = (buffer: ArrayBufferLike, from: number) => {
    const bytes = new Uint8Array(buffer);
    for (let offset = from; offset < bytes.length; offset += 4096) bytes[offset] = 1;
  };
  if (kind === "wasm") {
    const memory = new WebAssembly.Memory({ initial: MiB / 65536, maximum: maxBytes / 65536 });
    touch(memory.buffer, 0);
    for (let bytes = MiB; bytes < maxBytes; bytes *= 2) {
      const start = performance.now();
      memory.grow(bytes / 65536);
      spent += performance.now() - start;
      touch(memory.buffer, bytes);
    }
    return spent;
  }
  let buffer: ArrayBuffer | SharedArrayBuffer = kind === "plain"
    ? new ArrayBuffer(MiB)
    : kind === "resizable"
    ? new ArrayBuffer(MiB, { maxByteLength: maxBytes })
    : new SharedArrayBuffer(MiB, { maxByteLength: maxBytes });
  touch(buffer, 0);
  for (let bytes = MiB; bytes < maxBytes; bytes *= 2) {
    const start = performance.now();
    if (kind === "plain") buffer = (buffer as ArrayBuffer).transfer(bytes * 2);
    else if (kind === "resizable") (buffer as ArrayBuffer).resize(bytes * 2);
    else (buffer as SharedArrayBuffer).grow(bytes * 2);
    spent += performance.now() - start;
    touch(buffer, bytes);
  }
  return spent;
}

/** The command that runs this file again in this runtime, as a child measuring `kind`. */
function childCommand(kind: FloorMemoryKind, steps: number): string[] {
  const script = new URL(import.meta.url).pathname;
  const runtime = runtimeInfo().name;
  const prefix = runtime === "deno" ? ["run", "-A"] : [];
  return [...prefix, script, "--child", kind, "--steps", String(steps)];
}

function flagValue(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

function main(args: string[]): void {
  const quick = args.includes("--quick");
  const steps = Number(flagValue(args, "--steps") ?? (quick ? 4_000 : 1_000_000));
  const childKind = flagValue(args, "--child") as FloorMemoryKind | undefined;
  if (childKind !== undefined) return child(childKind, steps);

  const rounds = Number(flagValue(args, "--rounds") ?? (quick ? 1 : 5));
  const hot = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < FLOOR_MEMORY_KINDS.length; turn++) {
      const kind = FLOOR_MEMORY_KINDS[(turn + round) % FLOOR_MEMORY_KINDS.length];
      const result = spawnSync(process.execPath, childCommand(kind, steps), { encoding: "utf8" });
      if (result.status !== 0) throw new Error(`child for ${kind} failed (${result.status}):\n${result.stderr}`);
      const figures = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
      for (const [key, value] of Object.entries(figures)) hot.set(`${kind}/${key}`, [...(hot.get(`${kind}/${key}`) ?? []), value]);
    }
  }
  const growth = new Map<FloorMemoryKind, number[]>();
  const growthMax = quick ? 16 * MiB : MAX_BYTES;
  for (let round = 0; round < rounds; round++) {
    for (const kind of FLOOR_MEMORY_KINDS) growth.set(kind, [...(growth.get(kind) ?? []), growthMilliseconds(kind, growthMax)]);
  }

  const runtime = runtimeInfo();
  const mode = quick ? " (quick mode: means nothing)" : "";
  const lines = [`Memory kinds on ${runtime.name} ${runtime.version}, median of ${rounds} round(s)${mode}.`];
  for (const workload of WORKLOADS) {
    lines.push("", `${workload}, ns/op (${steps.toLocaleString("en-US")} steps; ratio to the same allocator over a plain ArrayBuffer)`, "");
    lines.push(`| memory | ${ALLOCATORS.join(" | ")} |`, `|---|${ALLOCATORS.map(() => "---:").join("|")}|`);
    for (const kind of FLOOR_MEMORY_KINDS) {
      const cells = ALLOCATORS.map((name) => {
        const value = median(hot.get(`${kind}/${workload}/${name}`)!);
        const plain = median(hot.get(`plain/${workload}/${name}`)!);
        return `${value.toFixed(1)} (${(value / plain).toFixed(2)}×)`;
      });
      lines.push(`| ${kind} | ${cells.join(" | ")} |`);
    }
  }
  lines.push("", `growth 1 MiB → ${growthMax / MiB} MiB by doubling, every page written: ms in the growth calls`, "");
  lines.push("| memory | how | ms |", "|---|---|---:|");
  const how: Record<FloorMemoryKind, string> = {
    plain: "`ArrayBuffer.prototype.transfer` (copies)",
    resizable: "`ArrayBuffer.prototype.resize`",
    wasm: "`WebAssembly.Memory.prototype.grow`",
    shared: "`SharedArrayBuffer.prototype.grow`",
  };
  for (const kind of FLOOR_MEMORY_KINDS) lines.push(`| ${kind} | ${how[kind]} | ${median(growth.get(kind)!).toFixed(2)} |`);
  console.log(lines.join("\n"));
}

if (import.meta.main) main(process.argv.slice(2));
