/**
 * Assertions for misuse: the call throws a HakmemError with one of the
 * expected codes, or which code (if any) a call answers with. Shared by the
 * contract suite and the project's tests, and exported for tests of a user's
 * own backend.
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

/**
 * The code of the {@linkcode HakmemError} that `call` throws, or `"no error"`
 * when it returns; any other exception is thrown on. For steps that accept
 * several answers (a random test that may or may not meet damage).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { errorCodeOf } from "./expect.ts";
 * const heap = createHeap();
 * const ptr = heap.malloc(32);
 * assert.equal(errorCodeOf(() => heap.free(ptr)), "no error");
 * assert.equal(errorCodeOf(() => heap.free(ptr)), "DOUBLE_FREE");
 * ```
 */
export function errorCodeOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (error instanceof HakmemError) return error.code;
    throw error;
  }
  return "no error";
}
