/**
 * A WebAssembly module and JavaScript sharing one heap. The module (WAT in
 * `_list_and_vector.ts`, compiled with the wabt dev dependency) imports its
 * memory and `malloc`/`free`/`calloc`/`realloc` from {@linkcode wasmImports};
 * it builds a linked list of records and a vector grown by `realloc`, the
 * memory grows under it, and JavaScript reads what it built, hands it a
 * block of its own, and frees the vector. A double free from the module is
 * reported through `onError` and the module goes on.
 *
 * The heap owns the memory from offset 0, so the module keeps nothing of its
 * own in linear memory outside the blocks it allocates (no data segments).
 *
 * Run: `deno run examples/wasm_interop.ts [records]` or `bun examples/wasm_interop.ts`.
 * @module
 */

import { createHeap, type Heap } from "../mod.ts";
import { wasmImports } from "../wasm/mod.ts";
import { instantiateListAndVector } from "./_list_and_vector.ts";

const WASM_PAGE = 65536;

/** What {@linkcode runWasmInterop} is asked to do. */
export interface WasmInteropOptions {
  /** Records in the module's list and elements in its vector. Default 100,000. */
  records?: number;
  /** Where the report goes. Default console.log. */
  log?: (line: string) => void;
}

/** What the run found. */
export interface WasmInteropResult {
  /** The shared heap (everything freed). */
  heap: Heap;
  /** Bytes of the memory before and after the module built its structures. */
  memoryBefore: number;
  memoryAfter: number;
  /** Sum of the records' values as JavaScript read them, and as expected. */
  valueSum: number;
  expectedValueSum: number;
  /** The vector's last element as JavaScript read it, and as expected ((n - 1)² as an i32). */
  lastElement: number;
  expectedLastElement: number;
  /** What the module computed over bytes JavaScript wrote, and what it should be. */
  moduleByteSum: number;
  expectedByteSum: number;
  /** Misuse the module made, as reported: "function: code". */
  reported: string[];
}

/** Runs the module over a shared heap and reports. */
export async function runWasmInterop(options: WasmInteropOptions = {}): Promise<WasmInteropResult> {
  const records = options.records ?? 100_000;
  const log = options.log ?? console.log;
  const maximumPages = 16384; // 1 GiB
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maximumPages });
  const memoryBefore = memory.buffer.byteLength; // one WASM page
  const heap = createHeap({ memory, maxBytes: maximumPages * WASM_PAGE });
  const reported: string[] = [];
  const env = wasmImports(heap, { onError: (error, name) => reported.push(`${name}: ${error.code}`) });
  const wasm = await instantiateListAndVector({ ...env });

  // The module builds; the heap grows the memory as it goes.
  const head = wasm.list_build(records, 64);
  const vector = wasm.vec_build(records);
  if (head === 0 || vector === 0) throw new Error("the module ran out of memory");
  const memoryAfter = memory.buffer.byteLength;

  // JavaScript reads the module's records. Views are taken now: the memory grew.
  const view = new DataView(heap.buffer);
  let valueSum = 0;
  let length = 0;
  for (let node = head; node !== 0; node = view.getUint32(node, true)) {
    valueSum += view.getFloat64(node + 8, true);
    length++;
  }
  const expectedValueSum = (1.5 * records * (records - 1)) / 2;
  const [data, elements] = heap.typed(Uint32Array, vector, 2);
  const lastElement = heap.typed(Int32Array, data, elements)[elements - 1];
  const expectedLastElement = Math.imul(records - 1, records - 1);

  // JavaScript hands the module a block of its own.
  const text = new TextEncoder().encode("one heap for JavaScript and WebAssembly");
  const block = heap.malloc(text.length);
  heap.u8.set(text, block);
  const moduleByteSum = wasm.sum_bytes(block, text.length);
  const expectedByteSum = text.reduce((sum, byte) => sum + byte, 0);
  wasm.free_then(block, 0); // the module frees JavaScript's block
  wasm.free_then(block, 0); // ... twice: reported, and the heap is unchanged

  const peak = heap.stats();
  wasm.list_free(head); // the module frees its list
  heap.free(data); // JavaScript frees the module's vector
  heap.free(vector);
  const end = heap.stats();

  const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(2)} MiB`;
  log(
    `wasm interop: a module built ${length.toLocaleString("en-US")} records and a vector of ${elements.toLocaleString("en-US")} elements`,
  );
  log(`  the memory grew from ${mib(memoryBefore)} to ${mib(memoryAfter)} while the module allocated`);
  log(
    `  JavaScript read: value sum ${valueSum} (expected ${expectedValueSum}), last element ${lastElement} (expected ${expectedLastElement})`,
  );
  log(`  the module read JavaScript's bytes: sum ${moduleByteSum} (expected ${expectedByteSum})`);
  log(
    `  at the peak: ${peak.liveBlocks.toLocaleString("en-US")} live blocks, ${mib(peak.liveBytes)} live, overhead ${
      peak.overhead.toFixed(2)
    }`,
  );
  log(`  reported misuse: ${reported.join(", ") || "none"}`);
  log(`  after freeing: ${end.liveBlocks} live blocks, check ${heap.check().ok ? "ok" : "FAILED"}`);
  return {
    heap,
    memoryBefore,
    memoryAfter,
    valueSum,
    expectedValueSum,
    lastElement,
    expectedLastElement,
    moduleByteSum,
    expectedByteSum,
    reported,
  };
}

if (import.meta.main) {
  const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
    (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
  await runWasmInterop({ records: args[0] ? Number(args[0]) : undefined });
}
