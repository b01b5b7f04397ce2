/**
 * One assertion for misuse: the call throws a HakmemError with one of the
 * expected codes. Shared by the contract suite and the project's tests, and
 * exported for tests of a user's own backend.
 * @module
 */

import assert from "node:assert/strict";
import { type ErrorCode, HakmemError } from "../core/errors.ts";

/**
 * Asserts `fn` throws a {@linkcode HakmemError} whose code is `code` (or one
 * of `code`); returns the error for further checks of its message.
 *
 * @example
 * ```ts
 * import { createHeap } from "../mod.ts";
 * import { expectHakmemError } from "./expect.ts";
 * const heap = createHeap();
 * expectHakmemError(() => heap.malloc(-1), "INVALID_SIZE", "malloc(-1)");
 * ```
 */
export function expectHakmemError(fn: () => unknown, code: ErrorCode | readonly ErrorCode[], what: string): HakmemError {
  const codes: readonly string[] = typeof code === "string" ? [code] : code;
  let caught: HakmemError | undefined;
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HakmemError, `${what}: threw ${error}, not a HakmemError`);
    assert.ok(codes.includes(error.code), `${what}: code ${error.code} (${error.message}), expected ${codes.join(" or ")}`);
    caught = error;
    return true;
  }, `${what} did not throw`);
  return caught!;
}
