// The worker side of tests/workers.test.ts and bench/workers.ts: attaches to the
// heap it is handed and runs one of the scripted jobs, then reports. A worker
// may be handed one job after another. With a start flag, the worker prepares
// (attaches, draws its trace), says it is ready, waits for the flag, and
// times its loop alone.
import { attachHeap, type Heap } from "../mod.ts";
import { Random } from "../testing/random.ts";
import { SharedQueue } from "../testing/shared_queue.ts";
import { awaitStart, type RandomMixedTrace, randomMixedTrace } from "../bench/worker_tools.ts";

/** What the parent sends. */
export interface Job {
  kind: "mixed" | "produce" | "consume" | "produce_batch" | "consume_batch" | "random_mixed" | "cpu_only";
  memory: SharedArrayBuffer | WebAssembly.Memory;
  queue: SharedArrayBuffer;
  seed: number;
  ops: number;
  /** "mixed": share of frees handed to another worker through the queue. */
  shareRatio?: number;
  /** "mixed": only sizes of one backend ("tiny", "pool", "mmap"); all by default. */
  only?: string;
  /** "mixed": leave without detaching (the parent reclaims). */
  noDetach?: boolean;
  slots?: number;
  /** "produce_batch" / "consume_batch": blocks allocated, then handed over, per queue operation (default 64). */
  batch?: number;
  /**
   * A start flag (bench/worker_tools.ts `createStartFlag`): the worker adds 1 to
   * its ready count once prepared, waits until the flag is raised, and then
   * times only its loop. Without it, the time counts from the job's arrival.
   */
  start?: SharedArrayBuffer;
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

function randomSize(random: Random, only?: string): number {
  const pick = only === "tiny" ? 0 : only === "pool" ? 0.95 : only === "mmap" ? 0.995 : random.next();
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
      const size = randomSize(random, job.only);
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

const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * The other side of the queue is behind: spin a while, then sleep 50 µs at a
 * time, so that a core shared with it (a busy machine) goes to it instead of
 * to our spinning. Returns the new idle count; progress resets it to 0.
 */
function waitTurn(idle: number): number {
  if (idle >= 128) Atomics.wait(nap, 0, 0, 0.05);
  return idle + 1;
}

function produce(heap: Heap, job: Job, queue: SharedQueue): void {
  for (let op = 0; op < job.ops; op++) {
    const ptr = heap.malloc(64);
    heap.u8[ptr] = 0xab;
    for (let idle = 0; !queue.tryPush(ptr, 64, 0xab);) idle = waitTurn(idle); // the consumer is behind
  }
  for (let idle = 0; !queue.tryPush(0, 0, 0);) idle = waitTurn(idle); // end marker
}

function consume(heap: Heap, report: Report, queue: SharedQueue): void {
  for (let idle = 0;;) {
    // Looking at the length takes no lock: an empty queue is polled without slowing the producer.
    const entry = queue.length === 0 ? null : queue.tryPop();
    if (entry === null) {
      idle = waitTurn(idle);
      continue;
    }
    idle = 0;
    const [ptr, , tag] = entry;
    if (ptr === 0) return;
    if (heap.u8[ptr] !== tag) report.errors.push(`block ${ptr} lost its byte`);
    heap.free(ptr);
    report.received++;
  }
}

/** Allocates `batch` blocks of 64 bytes, then hands them over with one queue operation. */
function produceBatch(heap: Heap, job: Job, queue: SharedQueue): void {
  const batch = job.batch ?? 64;
  const ptrs = new Float64Array(batch);
  for (let done = 0; done < job.ops;) {
    const count = Math.min(batch, job.ops - done);
    for (let i = 0; i < count; i++) ptrs[i] = heap.malloc(64);
    const u8 = heap.u8; // after the mallocs: one of them may have grown the memory
    for (let i = 0; i < count; i++) u8[ptrs[i]] = 0xab;
    for (let pushed = 0, idle = 0; pushed < count;) {
      const more = queue.tryPushMany(ptrs, pushed, count - pushed, 64, 0xab);
      pushed += more;
      idle = more === 0 ? waitTurn(idle) : 0;
    }
    done += count;
  }
  for (let idle = 0; !queue.tryPush(0, 0, 0);) idle = waitTurn(idle); // end marker
}

/** Takes up to `batch` blocks per queue operation and frees them all (every free is remote). */
function consumeBatch(heap: Heap, job: Job, report: Report, queue: SharedQueue): void {
  const batch = job.batch ?? 64;
  const ptrs = new Float64Array(batch);
  const tags = new Int32Array(batch);
  for (let idle = 0;;) {
    const count = queue.length === 0 ? 0 : queue.popMany(ptrs, tags);
    if (count === 0) {
      idle = waitTurn(idle);
      continue;
    }
    idle = 0;
    const u8 = heap.u8;
    for (let i = 0; i < count; i++) {
      const ptr = ptrs[i];
      if (ptr === 0) return; // the end marker comes last
      if (u8[ptr] !== tags[i]) report.errors.push(`block ${ptr} lost its byte`);
      heap.free(ptr);
      report.received++;
    }
  }
}

/** The benchmark's control: `ops` steps of a xorshift, touching no memory, to show how many cores the machine gives. */
function cpuOnly(job: Job, report: Report): void {
  let x = job.seed | 1;
  for (let i = 0; i < job.ops; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  report.passed = x; // used, so the loop cannot be dropped
}

function randomMixed(heap: Heap, trace: RandomMixedTrace): void {
  const { picks, sizes, slots } = trace;
  const ptrs = new Float64Array(slots);
  const u8 = heap.u8;
  for (let i = 0; i < picks.length; i++) {
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
  const trace = job.kind === "random_mixed" ? randomMixedTrace(job.seed, job.ops, job.slots ?? 256) : null;
  if (job.start) awaitStart(job.start);
  const start = performance.now();
  try {
    if (job.kind === "mixed") mixed(heap, job, queue, report);
    else if (job.kind === "produce") produce(heap, job, queue);
    else if (job.kind === "consume") consume(heap, report, queue);
    else if (job.kind === "produce_batch") produceBatch(heap, job, queue);
    else if (job.kind === "consume_batch") consumeBatch(heap, job, report, queue);
    else if (job.kind === "cpu_only") cpuOnly(job, report);
    else randomMixed(heap, trace!);
  } catch (error) {
    report.errors.push(String((error as Error)?.stack ?? error));
  }
  report.seconds = (performance.now() - start) / 1000;
  if (!job.noDetach) heap.detach();
  scope.postMessage(report);
};
