/**
 * The pool's two limits on cached empty spans (see pool.ts for the whole
 * rule): the budget, how many pages empty spans may hold at all, and the
 * peak rule, how far they may raise the heap's peak footprint before a new
 * span makes room by reshaping or giving back cached ones. The numbers and
 * the measurements behind them live here; the pool applies them.
 * @module
 */

/** Cached empty spans may always hold this many pages (256 KiB), whatever the budget. */
const EMPTY_FLOOR_PAGES = 64;
/** Beyond the floor, cached empty spans hold at most 1/EMPTY_SHARE of the pages in spans (measured on mid_mixed: 8 kept 1.28x peak live without the peak rule; with it, 2 gave the same 1.14x as 8 and a third more speed). */
const EMPTY_SHARE = 2;

/**
 * Past the heap's peak, cached empty spans may still hold up to
 * 1/PEAK_SLACK_SHARE of the pages of live spans before they make room for a
 * new span. Measured on mid_mixed (a scratch A/B, not in the repository: two
 * seeds, seven interleaved rounds in one process, both engines), with empty
 * spans given back before the memory grows (pool.ts, newSpan): 1/32, 1.18x
 * peak live and a memory 1.29x its peak
 * footprint; 1/16, 1.20x, 1.10x and 11-14% faster (fewer first touches of
 * fresh pages, which cost about 10 µs each on the 2-core VM measured); 1/12,
 * 1.22x, 1.25x; 1/8, 1.25x, 1.18x. Without that give-back, 1/16 had ended the
 * memory at 1.6x its peak.
 */
const PEAK_SLACK_SHARE = 16;

/** Whether empty spans holding `emptyPages` pages stay within the budget, with `spanPages` pages in spans. */
export function emptyWithinBudget(emptyPages: number, spanPages: number): boolean {
  return emptyPages <= EMPTY_FLOOR_PAGES || emptyPages * EMPTY_SHARE <= spanPages;
}

/**
 * Whether cached empty spans holding `cachedPages` pages have spent the peak
 * rule's slack, with `spanPages` pages in spans (cached ones included): past
 * the heap's peak, a new span then makes room instead of growing the heap.
 */
export function peakSlackSpent(cachedPages: number, spanPages: number): boolean {
  return cachedPages * PEAK_SLACK_SHARE > spanPages - cachedPages;
}
