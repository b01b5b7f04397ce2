// The worker side of tests/workers.test.ts and bench/workers.ts: attaches to the
// heap it is handed and runs one of the scripted jobs, then reports.
import { attachHeap, type Heap } from "../mod.ts";
import { Random } from "../testing/random.ts";
import { SharedQueue } from "../testing/shared_queue.ts";

/** What the parent sends. */
export interface Job {
  kind: "mixed" | "produce" | "consume" | "random_mixed";
  memory: SharedArrayBuffer | WebAssembly.Memory;
  queue: SharedArrayBuffer;
  seed: number;
  ops: number;
  /** "mixed": share of frees handed to another worker through the queue. */
  shareRatio?: number;
  /** "mixed": leave without detaching (the parent reclaims). */
  noDetach?: boolean;
  slots?: number;
}

/** What the worker answers. */
export interface Report {
  workerId: number;
  ops: number;
  seconds: number;
  errors: string[];
  passed: number;
  received: number;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;

/** Writes the owner's pattern at the start, end and every 4 KiB of the block. */
function stamp(u8: Uint8Array, ptr: number, size: number, tag: number): void {
  u8[ptr] = tag;
  u8[ptr + size - 1] = tag ^ 0xff;
  for (let at = 4096; at < size - 1; at += 4096) u8[ptr + at] = tag;
  if (size >= 8) {
    u8[ptr + 1] = size & 255;
    u8[ptr + 2] = (size >>> 8) & 255;
    u8[ptr + 3] = (size >>> 16) & 255;
  }
}

/** Checks the pattern; returns an error text or "". */
function verify(u8: Uint8Array, ptr: number, size: number, tag: number): string {
  if (u8[ptr] !== tag || u8[ptr + size - 1] !== (tag ^ 0xff)) return `block ${ptr} (${size} B, owner tag ${tag}) was overwritten`;
  for (let at = 4096; at < size - 1; at += 4096) if (u8[ptr + at] !== tag) return `block ${ptr} overwritten at +${at}`;
  if (size >= 8 && (u8[ptr + 1] | (u8[ptr + 2] << 8) | (u8[ptr + 3] << 16)) !== size) return `block ${ptr} size stamp changed`;
  return "";
}

function randomSize(random: Random): number {
  const pick = random.next();
  if (pick < 0.9) return 8 + random.int(1017); // tiny
  if (pick < 0.99) return 1025 + random.int(64 * 1024); // pool
  return 256 * 1024 + random.int(768 * 1024); // mmap
}

function mixed(heap: Heap, job: Job, queue: SharedQueue, report: Report): void {
  const random = new Random(job.seed);
  const slots = job.slots ?? 512;
  const ptrs = new Float64Array(slots);
  const sizes = new Int32Array(slots);
  const tag = (heap.workerId * 37 + 11) & 255;
  for (let op = 0; op < job.ops; op++) {
    // Take in a block another worker handed over, check it, free it (a remote free).
    if ((op & 7) === 0) {
      const entry = queue.tryPop();
      if (entry !== null) {
        const [ptr, size, otherTag] = entry;
        const error = verify(heap.u8, ptr, size, otherTag);
        if (error) report.errors.push(error);
        heap.free(ptr);
        report.received++;
      }
    }
    const slot = random.int(slots);
    if (ptrs[slot] !== 0) {
      const ptr = ptrs[slot];
      const error = verify(heap.u8, ptr, sizes[slot], tag);
      if (error) report.errors.push(error);
      if (random.next() < (job.shareRatio ?? 0.1) && queue.tryPush(ptr, sizes[slot], tag)) {
        // handed over: the other side frees it
      } else {
        heap.free(ptr);
      }
      ptrs[slot] = 0;
    } else {
      const size = randomSize(random);
      const ptr = heap.malloc(size);
      if (ptr === 0) {
        report.errors.push(`malloc(${size}) returned 0`);
        continue;
      }
      stamp(heap.u8, ptr, size, tag);
      ptrs[slot] = ptr;
      sizes[slot] = size;
    }
    if (report.errors.length > 10) break;
  }
  for (let slot = 0; slot < slots; slot++) if (ptrs[slot] !== 0) heap.free(ptrs[slot]);
}

function produce(heap: Heap, job: Job, queue: SharedQueue): void {
  for (let op = 0; op < job.ops; op++) {
    const ptr = heap.malloc(64);
    heap.u8[ptr] = 0xab;
    while (!queue.tryPush(ptr, 64, 0xab)) { /* the consumer is behind: wait */ }
  }
  while (!queue.tryPush(0, 0, 0)) { /* end marker */ }
}

function consume(heap: Heap, report: Report, queue: SharedQueue): void {
  for (;;) {
    const entry = queue.tryPop();
    if (entry === null) continue;
    const [ptr, , tag] = entry;
    if (ptr === 0) return;
    if (heap.u8[ptr] !== tag) report.errors.push(`block ${ptr} lost its byte`);
    heap.free(ptr);
    report.received++;
  }
}

function randomMixed(heap: Heap, job: Job): void {
  const random = new Random(job.seed);
  const slots = job.slots ?? 256;
  const ptrs = new Float64Array(slots);
  const picks = new Int32Array(job.ops);
  const sizes = new Int32Array(job.ops);
  for (let i = 0; i < job.ops; i++) {
    picks[i] = random.int(slots);
    sizes[i] = 16 + random.int(1009);
  }
  const u8 = heap.u8;
  for (let i = 0; i < job.ops; i++) {
    const slot = picks[i];
    const ptr = ptrs[slot];
    if (ptr !== 0) {
      heap.free(ptr);
      ptrs[slot] = 0;
    } else {
      const size = sizes[i];
      const fresh = heap.malloc(size);
      u8[fresh] = 1;
      u8[fresh + size - 1] = 2;
      ptrs[slot] = fresh;
    }
  }
  for (let slot = 0; slot < slots; slot++) if (ptrs[slot] !== 0) heap.free(ptrs[slot]);
}

scope.onmessage = (event: MessageEvent<Job>) => {
  const job = event.data;
  const heap = attachHeap(job.memory, { maxBytes: 1 << 30 });
  const queue = new SharedQueue(job.queue);
  const report: Report = { workerId: heap.workerId, ops: job.ops, seconds: 0, errors: [], passed: 0, received: 0 };
  const start = performance.now();
  try {
    if (job.kind === "mixed") mixed(heap, job, queue, report);
    else if (job.kind === "produce") produce(heap, job, queue);
    else if (job.kind === "consume") consume(heap, report, queue);
    else randomMixed(heap, job);
  } catch (error) {
    report.errors.push(String((error as Error)?.stack ?? error));
  }
  report.seconds = (performance.now() - start) / 1000;
  if (!job.noDetach) heap.detach();
  scope.postMessage(report);
};
