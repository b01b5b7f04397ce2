/**
 * Real C programs on the heap against the same programs on their own
 * allocator: cfrac and espresso (wasm/c/programs/, from mimalloc-bench), each
 * built with wasi-libc's dlmalloc and with the heap's shim (wasm/c/build.sh),
 * run in this process, interleaved round by round, the median of each kept.
 *
 * Four ways to serve the same program:
 * - `dlmalloc`: its own allocator, compiled into the module (no calls out);
 * - `hakmem`:   the shim's build on a heap, through `wasmImports(() => heap)`,
 *               as a user would run it;
 * - `direct`:   the same heap, its malloc and free called straight (none of
 *               wasmImports' unsigned reads, refresh check and try/catch):
 *               hakmem minus direct is the wrapper's share;
 * - `floor`:    the shim's build on a trivial JavaScript allocator (a header
 *               word, a free list per 16-byte class, a bump pointer): the
 *               cost of calling out of WebAssembly for every malloc and free,
 *               with next to no allocator behind the call.
 * hakmem minus floor is the heap's own time; floor minus dlmalloc is the
 * calls' (and dlmalloc's own time saved).
 *
 * Run: `deno run -A bench/wasm_programs.ts [--rounds 5] [--program cfrac]`
 * or `bun bench/wasm_programs.ts`. Timings on a shared machine are rough.
 * @module
 */

import process from "node:process";
import type { Heap } from "../mod.ts";
import type { WasmAllocatorImports } from "../wasm/mod.ts";
import {
  type Allocator,
  compileProgram,
  type InputSize,
  PROGRAM_NAMES,
  type ProgramInput,
  programInput,
  type ProgramName,
  runProgram,
} from "../wasm/c/programs.ts";

/** The ways a program is served, in the order each round runs them. */
export const MODES = ["dlmalloc", "hakmem", "direct", "floor"] as const;
/** One of {@linkcode MODES}. */
export type Mode = typeof MODES[number];

/** Medians of one program. */
export interface ProgramTimes {
  program: ProgramName;
  /** Median milliseconds of `_start`, by mode. */
  median: Record<Mode, number>;
  /** Blocks the program allocated on the heap in one run (malloc, calloc, realloc and aligned calls that allocated). */
  allocations: number;
}

/** The heap's malloc and free called straight from the module (the programs' pointers and sizes stay below 2 GiB). */
function directImports(heapImports: WasmAllocatorImports, heap: () => Heap): WasmAllocatorImports {
  return { ...heapImports, malloc: (size: number) => heap().malloc(size), free: (ptr: number) => heap().free(ptr) };
}

const FLOOR_CLASSES = 4097; // 16-byte classes up to 64 KiB; bigger blocks are never reused

/**
 * The floor: a trivial allocator over the module's memory above the heap's
 * pages, for the cost of the calls alone. Each block has a 16-byte header
 * whose last word holds its size class; a free block's first word links it
 * into its class's list. Blocks over 64 KiB are bump-allocated and never
 * reused (the programs here have few).
 */
function floorImports(_heapImports: WasmAllocatorImports, heap: () => Heap): WasmAllocatorImports {
  let memory: WebAssembly.Memory | undefined;
  let top = 0;
  let i32: Int32Array<ArrayBufferLike> = new Int32Array(0);
  let u8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  const heads = new Int32Array(FLOOR_CLASSES);
  const bump = (bytes: number): number => {
    if (memory === undefined) {
      // At the first call, once the heap is made: above everything the heap has, so only its memory is borrowed.
      memory = heap().mem.source as WebAssembly.Memory;
      top = memory.buffer.byteLength;
    }
    const ptr = top + 16;
    top = ptr + bytes;
    if (top > memory.buffer.byteLength) {
      memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536) + 256);
      i32 = new Int32Array(memory.buffer);
      u8 = new Uint8Array(memory.buffer);
    }
    return ptr;
  };
  const malloc = (size: number): number => {
    const sizeClass = (size + 15) >>> 4;
    if (sizeClass < FLOOR_CLASSES) {
      const head = heads[sizeClass];
      if (head !== 0) {
        heads[sizeClass] = i32[head >>> 2];
        return head;
      }
    }
    const ptr = bump(sizeClass << 4);
    i32[(ptr - 4) >>> 2] = sizeClass;
    return ptr;
  };
  const free = (ptr: number): void => {
    if (ptr === 0) return;
    const sizeClass = i32[(ptr - 4) >>> 2];
    if (sizeClass >= FLOOR_CLASSES) return;
    i32[ptr >>> 2] = heads[sizeClass];
    heads[sizeClass] = ptr;
  };
  const usable = (ptr: number): number => i32[(ptr - 4) >>> 2] << 4;
  return {
    malloc,
    free,
    calloc: (count: number, size: number) => {
      const ptr = malloc(count * size);
      u8.fill(0, ptr, ptr + count * size);
      return ptr;
    },
    realloc: (ptr: number, size: number) => {
      if (ptr !== 0 && usable(ptr) >= size) return ptr;
      const fresh = malloc(size);
      if (ptr !== 0) {
        u8.copyWithin(fresh, ptr, ptr + usable(ptr));
        free(ptr);
      }
      return fresh;
    },
    aligned_alloc: (_alignment: number, size: number) => malloc(size), // the programs here ask for none above 16
    malloc_usable_size: usable,
  };
}

/** Runs `rounds` interleaved rounds of every mode over each program, and returns the medians. */
export async function benchWasmPrograms(
  options: { rounds?: number; programs?: readonly ProgramName[]; size?: InputSize; log?: (line: string) => void } = {},
): Promise<ProgramTimes[]> {
  const rounds = options.rounds ?? 5;
  const log = options.log ?? console.log;
  const results: ProgramTimes[] = [];
  for (const program of options.programs ?? PROGRAM_NAMES) {
    const input: ProgramInput = programInput(program, options.size ?? "bench");
    const modules: Record<Allocator, WebAssembly.Module> = {
      dlmalloc: await compileProgram(program, "dlmalloc"),
      hakmem: await compileProgram(program, "hakmem"),
    };
    const times: Record<Mode, number[]> = { dlmalloc: [], hakmem: [], direct: [], floor: [] };
    let expected: string | undefined;
    let allocations = 0;
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const result = await runProgram(
          mode === "dlmalloc" ? modules.dlmalloc : modules.hakmem,
          input,
          mode === "floor" ? { imports: floorImports } : mode === "direct" ? { imports: directImports } : {},
        );
        const output = new TextDecoder().decode(result.stdout);
        if (result.exitCode !== 0 || (expected !== undefined && output !== expected)) {
          throw new Error(`${program} on ${mode}: exit code ${result.exitCode}, output differs from the first run's`);
        }
        expected = output;
        times[mode].push(result.milliseconds);
        if (mode === "hakmem" && round === 0) {
          allocations = Object.values(result.heap!.counters().allocs).reduce((sum, count) => sum + count, 0);
        }
      }
    }
    const median = Object.fromEntries(MODES.map((mode) => [mode, medianOf(times[mode])])) as Record<Mode, number>;
    results.push({ program, median, allocations });
    const calls = allocations * 2; // a free for nearly every allocation
    const perCall = (milliseconds: number) => ((milliseconds * 1e6) / calls).toFixed(1);
    log(
      `${program.padEnd(9)} dlmalloc ${median.dlmalloc.toFixed(0).padStart(6)} ms  hakmem ${median.hakmem.toFixed(0).padStart(6)} ms (${
        (median.hakmem / median.dlmalloc).toFixed(2)
      }x)  direct ${median.direct.toFixed(0).padStart(6)} ms (${(median.direct / median.dlmalloc).toFixed(2)}x)  floor ${
        median.floor.toFixed(0).padStart(6)
      } ms (${(median.floor / median.dlmalloc).toFixed(2)}x)\n          ` +
        `${(allocations / 1e6).toFixed(2)}M allocations, about ${(calls / 1e6).toFixed(1)}M calls: a call costs ` +
        `${perCall(median.hakmem - median.floor)} ns more on the heap than on the floor (${
          perCall(median.hakmem - median.direct)
        } ns of it ` +
        `in wasmImports), the floor ${perCall(median.floor - median.dlmalloc)} ns more than dlmalloc`,
    );
  }
  return results;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  let rounds = 5;
  const programs: ProgramName[] = [];
  for (let index = 0; index < args.length; index++) {
    const [flag, inline] = args[index].split("=", 2);
    const value = inline ?? args[++index];
    if (flag === "--rounds") rounds = Number(value);
    else if (flag === "--program" && (PROGRAM_NAMES as readonly string[]).includes(value)) programs.push(value as ProgramName);
    else throw new Error(`usage: bench/wasm_programs.ts [--rounds N] [--program ${PROGRAM_NAMES.join("|")}]...`);
  }
  const runtime = "Bun" in globalThis ? `Bun ${(globalThis as { Bun?: { version: string } }).Bun!.version}` : `Deno ${Deno.version.deno}`;
  console.log(`C programs on the heap vs their own dlmalloc, ${runtime}, median of ${rounds} interleaved rounds`);
  await benchWasmPrograms({ rounds, programs: programs.length > 0 ? programs : undefined });
}
