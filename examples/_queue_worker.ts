// The worker side of examples/shared_queue.ts: attaches to the heap, then
// either produces messages (records allocated in the heap, their pointers
// queued) or consumes them (reads each record, frees it: a remote free).
import { attachHeap } from "../mod.ts";
import { SharedQueue } from "../testing/shared_queue.ts";

/** What the example sends each worker. */
export interface QueueJob {
  role: "producer" | "consumer";
  memory: SharedArrayBuffer;
  queue: SharedArrayBuffer;
  messages: number;
  producerId?: number;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;

scope.onmessage = (event: MessageEvent<QueueJob>) => {
  const job = event.data;
  const heap = attachHeap(job.memory, { maxBytes: 1 << 28 });
  const queue = new SharedQueue(job.queue);
  let sum = 0;
  let count = 0;
  if (job.role === "producer") {
    for (let i = 0; i < job.messages; i++) {
      // A message: [producer, sequence, payload length, payload...] as 32-bit words.
      const words = 3 + (i % 13);
      const ptr = heap.malloc(words * 4);
      const record = heap.typed(Int32Array, ptr, words);
      record[0] = job.producerId ?? 0;
      record[1] = i;
      record[2] = words - 3;
      for (let w = 3; w < words; w++) record[w] = i + w;
      while (!queue.tryPush(ptr, words * 4, 0)) { /* the consumers are behind */ }
      count++;
    }
  } else {
    for (;;) {
      const entry = queue.tryPop();
      if (entry === null) continue;
      const [ptr] = entry;
      if (ptr === 0) break; // end of stream
      const record = heap.typed(Int32Array, ptr, 3);
      sum += record[1];
      heap.free(ptr);
      count++;
    }
  }
  const tiny = heap.health().backends.find((backend) => backend.name === "tiny")!.counters;
  heap.detach();
  scope.postMessage({ role: job.role, count, sum, remoteFrees: tiny.remoteFrees ?? 0, remoteCollected: tiny.remoteCollected ?? 0 });
};
