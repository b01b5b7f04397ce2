/**
 * The real C programs under `wasm/c/programs/` (cfrac and espresso, from
 * mimalloc-bench), built by `wasm/c/build.sh` twice: on a hakmem heap through
 * `hakmem_malloc.c`, and on wasi-libc's own dlmalloc. The tests, the bench and
 * the Node test of the npm build run them through this file.
 *
 * Owns: which inputs each program gets (a small one for tests, a bigger one
 * for the bench), and how one run is set up: compile, instantiate with the
 * WASI runner and, for the hakmem build, a heap made over the module's
 * exported memory above its `__heap_base`, then `_start`.
 * @module
 */

import { readFileSync } from "node:fs";
import type { Heap, HeapConfig } from "../../mod.ts";
import { createWasmHeap, type WasmAllocatorImports, wasmImports } from "../mod.ts";
import { Wasi } from "../wasi.ts";

/** The programs. */
export type ProgramName = "cfrac" | "espresso";
/** The two builds of each program. */
export type Allocator = "hakmem" | "dlmalloc";
/** How big a run: seconds of tests, or a bench's longer run. */
export type InputSize = "test" | "bench";

/** The program names, in the order tests and the bench run them. */
export const PROGRAM_NAMES: readonly ProgramName[] = ["cfrac", "espresso"];

/** Where `bin/` and `programs/` are: this file's directory (the Node test of the npm build passes the repository's). */
const HERE = new URL("./", import.meta.url);

/** What a program is given. */
export interface ProgramInput {
  args: string[];
  files: Record<string, Uint8Array>;
}

/**
 * The input of `name` at `size`.
 *
 * - cfrac factors a number: 31 digits for tests, 35 for the bench (mimalloc-bench uses 44 digits, a far longer run).
 * - espresso minimizes a PLA 20 times over (its mimalloc-bench main loops): the first cubes of
 *   mimalloc-bench's `largest.espresso` (300 for tests, 900 for the bench; all 2,810 make too long
 *   a run), with `-s` so that it prints its input's summary and the cost of its result (its clock
 *   is frozen by {@linkcode runProgram}, so the time it prints is always 0).
 */
export function programInput(name: ProgramName, size: InputSize, directory: URL = HERE): ProgramInput {
  if (name === "cfrac") {
    return { args: ["cfrac", size === "test" ? "1000000000000000000000000000001" : "41757646344123832613190542166099121"], files: {} };
  }
  const cubes = size === "test" ? 300 : 900;
  const text = new TextDecoder().decode(readFileSync(new URL("programs/espresso/largest.espresso", directory)));
  const lines = text.split("\n");
  const header = lines.filter((line) => line.startsWith("."));
  const rows = lines.filter((line) => /^[01-]/.test(line)).slice(0, cubes);
  const pla = [...header.filter((line) => line !== ".e"), ...rows, ".e", ""].join("\n");
  return { args: ["espresso", "-s", "input.pla"], files: { "input.pla": new TextEncoder().encode(pla) } };
}

/** Compiles a program's build (`bin/<name>.<allocator>.wasm`). */
export function compileProgram(name: ProgramName, allocator: Allocator, directory: URL = HERE): Promise<WebAssembly.Module> {
  return WebAssembly.compile(readFileSync(new URL(`bin/${name}.${allocator}.wasm`, directory)));
}

/** What one run gave. */
export interface ProgramResult {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The heap the program ran on (the hakmem build), or null (the dlmalloc build). */
  heap: Heap | null;
  /** Wall time of `_start`, in milliseconds. */
  milliseconds: number;
}

/** Options of {@linkcode runProgram}. */
export interface RunProgramOptions {
  /** Options of the heap the hakmem build runs on (its memory and base are the module's). */
  heap?: Omit<HeapConfig, "memory">;
  /**
   * The "hakmem" import functions the module calls, given the heap's
   * (`wasmImports(() => heap)`) and a function returning the heap once it is
   * made; default the heap's. The bench passes others to measure the call
   * alone; a test wraps the heap's to record the calls.
   */
  imports?: (heapImports: WasmAllocatorImports, heap: () => Heap) => WasmAllocatorImports;
}

/** A module instantiated over a heap in its own memory. */
export interface HeapInstance {
  instance: WebAssembly.Instance;
  /** The heap, in the module's exported memory from its `__heap_base` up. */
  heap: Heap;
}

/**
 * Instantiates a module that imports "hakmem" (a C module linked with
 * hakmem_malloc.c) and exports its memory and `__heap_base`, and makes its
 * heap with `createWasmHeap`: over the exported memory, from `__heap_base`
 * up. The imports must exist at instantiation and the heap only after it (it
 * lives above the module's data), so they are `wasmImports(() => heap)`,
 * which find the heap at their first call; nothing of the module runs in
 * between.
 */
export async function instantiateOnHeap(
  module: WebAssembly.Module,
  otherImports: WebAssembly.Imports = {},
  options: RunProgramOptions = {},
): Promise<HeapInstance> {
  let heap: Heap | undefined = undefined; // made after instantiation; the imports find it at their first call
  const heapImports = wasmImports(() => heap);
  const hakmem = options.imports ? options.imports(heapImports, () => heap!) : heapImports;
  const instance = await WebAssembly.instantiate(module, { ...otherImports, hakmem: { ...hakmem } });
  heap = createWasmHeap(instance, options.heap);
  return { instance, heap };
}

/**
 * Runs one build of a program on `input`, with the WASI runner's clocks
 * frozen at 0: the hakmem build on a heap from {@linkcode instantiateOnHeap},
 * the dlmalloc build as it is.
 */
export async function runProgram(
  module: WebAssembly.Module,
  input: ProgramInput,
  options: RunProgramOptions = {},
): Promise<ProgramResult> {
  const wasi = new Wasi({ args: input.args, files: input.files, clock: () => 0n });
  const usesHeap = WebAssembly.Module.imports(module).some((entry) => entry.module === "hakmem");
  let instance: WebAssembly.Instance;
  let heap: Heap | null = null;
  if (usesHeap) {
    ({ instance, heap } = await instantiateOnHeap(module, wasi.imports(module), options));
  } else {
    instance = await WebAssembly.instantiate(module, wasi.imports(module));
  }
  const started = performance.now();
  const exitCode = wasi.start(instance);
  const milliseconds = performance.now() - started;
  return { exitCode, stdout: wasi.stdout, stderr: wasi.stderr, heap, milliseconds };
}
