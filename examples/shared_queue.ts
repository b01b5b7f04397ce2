/**
 * A queue shared by workers: producers allocate message records in one heap
 * over a growable SharedArrayBuffer and pass their pointers through a shared
 * queue; consumers read each record and free it. Every free is a remote
 * free (one compare-and-swap onto the producer's slab); the producers take
 * those blocks back when their slabs run dry.
 *
 * Run: `deno run --allow-read examples/shared_queue.ts` or `bun examples/shared_queue.ts`.
 * @module
 */

import { createHeap } from "../mod.ts";
import { SharedQueue } from "../testing/shared_queue.ts";
import type { QueueJob } from "./_queue_worker.ts";

/** What {@linkcode runSharedQueue} reports. */
export interface SharedQueueResult {
  /** Messages produced and consumed. */
  messages: number;
  /** Sum of the sequence numbers the consumers read (checks nothing was lost). */
  sequenceSum: number;
  /** Remote frees the consumers made. */
  remoteFrees: number;
  /** Live blocks after every worker left (0 when nothing leaked). */
  liveBlocks: number;
  /** Problems check() found afterwards. */
  problems: string[];
  /** Milliseconds the whole exchange took. */
  milliseconds: number;
}

/** Runs `producers` producers and `consumers` consumers over one heap, `messages` per producer. */
export async function runSharedQueue(producers = 2, consumers = 2, messages = 50_000): Promise<SharedQueueResult> {
  const memory = new SharedArrayBuffer(1 << 20, { maxByteLength: 1 << 28 });
  const heap = createHeap({ memory, maxBytes: 1 << 28 });
  const queue = SharedQueue.create(1 << 14);
  const workers: Worker[] = [];
  const start = performance.now();
  const run = (job: QueueJob) =>
    new Promise<{ role: string; count: number; sum: number; remoteFrees: number }>((resolve, reject) => {
      const worker = new Worker(new URL("./_queue_worker.ts", import.meta.url).href, { type: "module" });
      workers.push(worker);
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(new Error((event as ErrorEvent).message));
      worker.postMessage(job);
    });
  try {
    const consuming = Array.from({ length: consumers }, () => run({ role: "consumer", memory, queue, messages }));
    const produced = await Promise.all(
      Array.from({ length: producers }, (_, id) => run({ role: "producer", memory, queue, messages, producerId: id })),
    );
    const sender = new SharedQueue(queue);
    for (let i = 0; i < consumers; i++) while (!sender.tryPush(0, 0, 0)) { /* wait for room */ }
    const consumed = await Promise.all(consuming);
    heap.trim();
    return {
      messages: produced.reduce((sum, r) => sum + r.count, 0),
      sequenceSum: consumed.reduce((sum, r) => sum + r.sum, 0),
      remoteFrees: consumed.reduce((sum, r) => sum + r.remoteFrees, 0),
      liveBlocks: heap.stats().liveBlocks,
      problems: heap.check().problems.map((problem) => `${problem.where}: ${problem.message}`),
      milliseconds: performance.now() - start,
    };
  } finally {
    for (const worker of workers) worker.terminate();
  }
}

// deno-lint-ignore no-explicit-any
if ((import.meta as any).main) {
  const result = await runSharedQueue();
  console.log(`${result.messages} messages through ${2} producers and ${2} consumers in ${result.milliseconds.toFixed(0)} ms`);
  console.log(
    `remote frees ${result.remoteFrees}, live blocks afterwards ${result.liveBlocks}, check: ${
      result.problems.length === 0 ? "ok" : result.problems.join("; ")
    }`,
  );
}
