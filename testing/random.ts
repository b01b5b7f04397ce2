/**
 * A small seeded random number generator (mulberry32), so that tests and
 * benchmarks replay exactly from a printed seed.
 * @module
 */

/**
 * Deterministic pseudo-random numbers from a 32-bit seed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random } from "./random.ts";
 * const random = new Random(42);
 * assert.ok(random.int(10) < 10);
 * ```
 */
export class Random {
  private state: number;

  /** Starts the sequence at `seed`. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
