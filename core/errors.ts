/**
 * The one error class hakmem throws, and every code it can carry.
 *
 * Exhaustion is never an error: `malloc` returns 0 when the memory is full.
 * Misuse is: a bad size, a bad pointer, a heap of another layout. Each such
 * call throws a {@linkcode HakmemError} before it changes anything, so the heap
 * stays consistent and the caller may go on using it.
 * @module
 */

/**
 * Every code a {@linkcode HakmemError} can carry, with what it means.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ErrorCode } from "./errors.ts";
 * assert.equal(ErrorCode.DOUBLE_FREE, "DOUBLE_FREE");
 * ```
 */
export const ErrorCode = {
  /** A size or count that is not a non-negative safe integer (NaN, Infinity, negative, fractional); or a typed view longer than its block. */
  INVALID_SIZE: "INVALID_SIZE",
  /** An alignment that is not a power of two from 1 to 2^31; or a typed view whose element size the block's address is not a multiple of. */
  INVALID_ALIGNMENT: "INVALID_ALIGNMENT",
  /** A pointer that is not a non-negative integer, lies outside every block the heap handed out, or names a freed block (anywhere but `free`). */
  INVALID_POINTER: "INVALID_POINTER",
  /** A pointer into the middle of a block rather than to its start. */
  INTERIOR_POINTER: "INTERIOR_POINTER",
  /** A block freed a second time. */
  DOUBLE_FREE: "DOUBLE_FREE",
  /** Debug mode: bytes past the end of a block (its guard, or its trailer) were overwritten. */
  BUFFER_OVERFLOW: "BUFFER_OVERFLOW",
  /** The memory holds no hakmem heap (wrong magic number). */
  NOT_A_HEAP: "NOT_A_HEAP",
  /** The memory holds a hakmem heap of another layout version. */
  LAYOUT_MISMATCH: "LAYOUT_MISMATCH",
  /** An option with a value outside its documented range. */
  INVALID_OPTION: "INVALID_OPTION",
  /** A routing table with a gap, an overlap, or a size a backend cannot serve. */
  INVALID_ROUTE: "INVALID_ROUTE",
  /** The memory cannot hold a heap (too small, not growable where growth is needed). */
  INVALID_MEMORY: "INVALID_MEMORY",
  /** A worker slot problem: no slot free, or an operation on a detached heap. */
  WORKER: "WORKER",
  /** An argument of another kind than the call takes, where no code above names it: a view's constructor that is no typed array constructor. */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** The heap's own bookkeeping was found damaged (a free-list link, a header or record overwritten by a stray write); the message names where. */
  CORRUPTED: "CORRUPTED",
} as const;

/** One of the values of {@linkcode ErrorCode}. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/**
 * The error hakmem throws for misuse. `code` says which misuse; `value` is the
 * offending input (a size, a pointer, an alignment) when there is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap, HakmemError } from "../mod.ts";
 * const heap = createHeap();
 * assert.throws(() => heap.malloc(-1), (error) => error instanceof HakmemError && error.code === "INVALID_SIZE");
 * ```
 */
export class HakmemError extends Error {
  /** Which misuse this is. */
  readonly code: ErrorCode;
  /** The value that was given, when one was. */
  readonly value: unknown;

  /** Builds an error with a code, a message and the offending value. */
  constructor(code: ErrorCode, message: string, value?: unknown) {
    super(message);
    this.name = "HakmemError";
    this.code = code;
    this.value = value;
  }
}

/** Formats a value for an error message: numbers as given, others by type. */
export function describe(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) && value > 0xffff ? `${value} (0x${value.toString(16)})` : String(value);
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value === "object" ? (value === null ? "null" : "an object") : String(value);
}

/**
 * Throws `INVALID_SIZE` unless `size` is a non-negative safe integer; `what`
 * names the argument in the message ("malloc size", "calloc count").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSize } from "./errors.ts";
 * checkSize(24, "malloc size"); // fine
 * assert.throws(() => checkSize(1.5, "malloc size"), { message: "malloc size must be a non-negative safe integer, got 1.5" });
 * ```
 */
export function checkSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new HakmemError("INVALID_SIZE", `${what} must be a non-negative safe integer, got ${describe(size)}`, size);
  }
}
