/**
 * What both worker sides of bench/workers.ts share (tests/worker_child.ts for
 * hakmem, bench/workers_peer_child.ts for the peer): the start flag that lets
 * every worker of a run start its loop at once, and the random_mixed trace,
 * drawn before any clock starts so each allocator replays the same steps.
 * @module
 */

import { Random } from "../testing/random.ts";

const START_RAISED = 0; // Int32 word: 0 until the parent says go
const START_READY = 1; // Int32 word: workers prepared and waiting

/** A start flag: lowered, nobody ready. Hand it to the workers of one run. */
export function createStartFlag(): SharedArrayBuffer {
  return new SharedArrayBuffer(8);
}

/** Workers that are prepared and waiting on `flag`. */
export function readyCount(flag: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(flag), START_READY);
}

/** Raises `flag`: every worker waiting on it starts its loop. */
export function raiseStartFlag(flag: SharedArrayBuffer): void {
  const words = new Int32Array(flag);
  Atomics.store(words, START_RAISED, 1);
  Atomics.notify(words, START_RAISED);
}

/** The worker's side (a worker only: it blocks): says it is ready, then waits until `flag` is raised. */
export function awaitStart(flag: SharedArrayBuffer): void {
  const words = new Int32Array(flag);
  Atomics.add(words, START_READY, 1);
  while (Atomics.load(words, START_RAISED) === 0) Atomics.wait(words, START_RAISED, 0);
}

/** The random_mixed trace: which slot each step touches, and the size it allocates there when the slot is empty. */
export interface RandomMixedTrace {
  /** Slot of each step. */
  picks: Int32Array;
  /** Size of each step, 16..1024 (used when the slot is empty; a full slot is freed). */
  sizes: Int32Array;
  /** Slots. */
  slots: number;
}

/** Draws the random_mixed trace of `ops` steps over `slots` slots from `seed`. */
export function randomMixedTrace(seed: number, ops: number, slots: number): RandomMixedTrace {
  const random = new Random(seed);
  const picks = new Int32Array(ops);
  const sizes = new Int32Array(ops);
  for (let i = 0; i < ops; i++) {
    picks[i] = random.int(slots);
    sizes[i] = 16 + random.int(1009);
  }
  return { picks, sizes, slots };
}
