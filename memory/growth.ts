/**
 * The page heap's growth policy: by how much the memory grows at once (a
 * resizable buffer doubles, a WebAssembly.Memory, which never shrinks, grows
 * by an eighth), and when a free run at the top shrinks it again. The page
 * heap (page_heap.ts) plans and performs the growth under its lock.
 * @module
 */

/**
 * Growth doubles the memory (by at least the heap's `growBytes`, at most
 * this many pages, 64 MiB, at once): resizing a buffer cost about 1.3 ms a
 * call on Bun whatever the size in a scratch loop (3 to 13 µs on Deno).
 * Growing by an eighth took 19 resizes on mid_mixed, doubling takes 6 (+5%
 * on Bun in a same-process A/B, Deno unchanged). Pages grown over and not
 * yet used are not written, so they cost address space, not memory, and the
 * footprint (pages in use) does not change.
 */
export const MAX_GROW_STEP_PAGES = 16384;
/**
 * A WebAssembly.Memory never shrinks, so what it grows by it keeps: it grows
 * by what is needed plus 1/2^WASM_SLACK_SHIFT (an eighth) of the heap's own
 * pages (at least `growBytes`, at most MAX_GROW_STEP_PAGES), which keeps its
 * end within about 1.125x of the heap's peak plus one step, for a few more
 * growths than doubling takes.
 */
export const WASM_SLACK_SHIFT = 3;

/**
 * A free run at the top longer than this shrinks the memory on free: three
 * quarters of the top, so the pages in use must fall to a quarter before the
 * memory shrinks, and a doubling growth is never undone by the next free.
 */
export function shrinkThreshold(top: number): number {
  return top - (top >>> 2);
}
