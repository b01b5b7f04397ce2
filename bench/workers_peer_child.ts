// The peer's worker side of bench/workers.ts: opens the
// @daneren2005/shared-memory-objects heap it is handed (bench/shared_memory_objects.ts)
// and replays the random_mixed trace of tests/worker_child.ts on it: same
// trace (bench/worker_tools.ts), same start flag, same first and last byte
// written, the clock on the loop alone. A worker may be handed one job after another.
import { awaitStart, randomMixedTrace } from "./worker_tools.ts";
import { importPeerHeap, type PeerAllocation, type PeerHeap, type PeerHeapClass, type PeerSharedMemory } from "./shared_memory_objects.ts";

/** What the parent sends. */
export interface PeerJob {
  /** The `data:` URL of the peer's MemoryHeap module (from `loadPeerModule`). */
  url: string;
  /** The heap's buffers, from `heap.getSharedMemory()` in the parent. */
  heap: PeerSharedMemory;
  seed: number;
  ops: number;
  slots: number;
  /** The start flag (bench/worker_tools.ts). */
  start: SharedArrayBuffer;
}

/** What the worker answers. */
export interface PeerReport {
  ops: number;
  /** Seconds of the loop alone. */
  seconds: number;
  errors: string[];
  /** Buffers this worker's heap held at the end (more than it was handed: it had to add some of its own). */
  buffersAfter: number;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
const classes = new Map<string, PeerHeapClass>();

function randomMixed(heap: PeerHeap, job: PeerJob, report: PeerReport): void {
  const { picks, sizes, slots } = randomMixedTrace(job.seed, job.ops, job.slots);
  const held: (PeerAllocation | null)[] = new Array(slots).fill(null);
  const views: Uint8Array[] = heap.buffers.map((buffer) => new Uint8Array(buffer.buf));
  awaitStart(job.start);
  const start = performance.now();
  for (let i = 0; i < picks.length; i++) {
    const slot = picks[i];
    const block = held[slot];
    if (block !== null) {
      block.free();
      held[slot] = null;
    } else {
      const size = sizes[i];
      const fresh = heap.allocUI32((size + 3) >>> 2);
      const position = fresh.bufferPosition;
      const u8 = views[position] ?? (views[position] = new Uint8Array(heap.buffers[position].buf));
      const at = fresh.bufferByteOffset;
      u8[at] = 1;
      u8[at + size - 1] = 2;
      held[slot] = fresh;
    }
  }
  report.seconds = (performance.now() - start) / 1000;
  for (let slot = 0; slot < slots; slot++) held[slot]?.free();
}

scope.onmessage = async (event: MessageEvent<PeerJob>) => {
  const job = event.data;
  const report: PeerReport = { ops: job.ops, seconds: 0, errors: [], buffersAfter: 0 };
  try {
    let MemoryHeap = classes.get(job.url);
    if (MemoryHeap === undefined) {
      MemoryHeap = await importPeerHeap(job.url);
      classes.set(job.url, MemoryHeap);
    }
    const heap = new MemoryHeap(job.heap);
    randomMixed(heap, job, report);
    report.buffersAfter = heap.buffers.length;
  } catch (error) {
    report.errors.push(String((error as Error)?.stack ?? error));
  }
  scope.postMessage(report);
};
