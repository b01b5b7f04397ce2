/**
 * A small bounded queue of (pointer, size, tag) entries in a
 * SharedArrayBuffer, for handing blocks between workers in tests, examples
 * and benchmarks. One spin lock guards it: simple, and fast enough for that.
 * @module
 */

const LOCK = 0;
const HEAD = 1; // next entry to pop
const TAIL = 2; // next free place
const CAPACITY = 3;
const ENTRIES = 4; // then 3 words per entry

/**
 * A bounded multi-producer, multi-consumer queue over shared memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedQueue } from "./shared_queue.ts";
 * const queue = new SharedQueue(SharedQueue.create(16));
 * queue.tryPush(4096, 64, 7);
 * assert.deepEqual(queue.tryPop(), [4096, 64, 7]);
 * ```
 */
export class SharedQueue {
  private readonly words: Int32Array;

  /** Opens a queue made by {@linkcode SharedQueue.create} (in this or another worker). */
  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
  }

  /** A buffer holding an empty queue of `capacity` entries. */
  static create(capacity: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer((ENTRIES + 3 * capacity) * 4);
    new Int32Array(buffer)[CAPACITY] = capacity;
    return buffer;
  }

  /** Spins until the lock word is taken: it is held for a few stores only. */
  private lock(): void {
    while (Atomics.compareExchange(this.words, LOCK, 0, 1) !== 0) { /* spin: held for a few stores */ }
  }

  /** Releases the lock word. */
  private unlock(): void {
    Atomics.store(this.words, LOCK, 0);
  }

  /** Adds an entry; false when the queue is full. */
  tryPush(ptr: number, size: number, tag: number): boolean {
    const w = this.words;
    this.lock();
    const capacity = w[CAPACITY];
    const ok = w[TAIL] - w[HEAD] < capacity;
    if (ok) {
      const at = ENTRIES + 3 * (w[TAIL] % capacity);
      w[at] = ptr | 0;
      w[at + 1] = size;
      w[at + 2] = tag;
      w[TAIL]++;
    }
    this.unlock();
    return ok;
  }

  /** Takes the oldest entry as [ptr, size, tag], or null when empty. */
  tryPop(): [number, number, number] | null {
    const w = this.words;
    this.lock();
    let entry: [number, number, number] | null = null;
    if (w[HEAD] !== w[TAIL]) {
      const at = ENTRIES + 3 * (w[HEAD] % w[CAPACITY]);
      entry = [w[at] >>> 0, w[at + 1], w[at + 2]];
      w[HEAD]++;
    }
    this.unlock();
    return entry;
  }

  /**
   * Adds `count` entries at once under one lock: the pointers
   * `ptrs[from .. from + count)`, each with `size` and `tag`. Returns how many
   * fit (0 when the queue is full).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SharedQueue } from "./shared_queue.ts";
   * const queue = new SharedQueue(SharedQueue.create(2));
   * assert.equal(queue.tryPushMany(new Float64Array([64, 128, 192]), 0, 3, 64, 1), 2);
   * ```
   */
  tryPushMany(ptrs: Float64Array, from: number, count: number, size: number, tag: number): number {
    const w = this.words;
    this.lock();
    const capacity = w[CAPACITY];
    const pushed = Math.max(0, Math.min(count, capacity - (w[TAIL] - w[HEAD])));
    let tail = w[TAIL];
    for (let i = 0; i < pushed; i++, tail++) {
      const at = ENTRIES + 3 * (tail % capacity);
      w[at] = ptrs[from + i] | 0;
      w[at + 1] = size;
      w[at + 2] = tag;
    }
    w[TAIL] = tail;
    this.unlock();
    return pushed;
  }

  /**
   * Takes up to `ptrs.length` (and `tags.length`) of the oldest entries under one lock, writing
   * their pointers to `ptrs` and their tags to `tags` (sizes are dropped).
   * Returns how many it took (0 when the queue is empty). Allocates nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SharedQueue } from "./shared_queue.ts";
   * const queue = new SharedQueue(SharedQueue.create(8));
   * queue.tryPush(4096, 64, 7);
   * const ptrs = new Float64Array(4), tags = new Int32Array(4);
   * assert.equal(queue.popMany(ptrs, tags), 1);
   * assert.equal(ptrs[0], 4096);
   * assert.equal(tags[0], 7);
   * ```
   */
  popMany(ptrs: Float64Array, tags: Int32Array): number {
    const w = this.words;
    this.lock();
    const capacity = w[CAPACITY];
    const taken = Math.min(ptrs.length, tags.length, w[TAIL] - w[HEAD]);
    let head = w[HEAD];
    for (let i = 0; i < taken; i++, head++) {
      const at = ENTRIES + 3 * (head % capacity);
      ptrs[i] = w[at] >>> 0;
      tags[i] = w[at + 2];
    }
    w[HEAD] = head;
    this.unlock();
    return taken;
  }

  /** Entries waiting. */
  get length(): number {
    return Atomics.load(this.words, TAIL) - Atomics.load(this.words, HEAD);
  }
}
