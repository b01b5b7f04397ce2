/**
 * The shape of the page heap's free runs: the boundary tag that marks an
 * allocated run's last page, the segregated free-run lists a run of a given
 * length belongs to, and the sizes that keep small runs in an area apart from
 * large ones (see page_heap.ts for why). The list operations themselves stay
 * in the page heap, on its hot path.
 * @module
 */

import { FREE_BUCKETS } from "./layout.ts";

/** Set in the tag of an allocated run's last page (with its length), so a backward walk knows it from a first page. */
export const END_TAG = 1 << 30;
/** Free-run lists of one length each: 1..EXACT_BUCKETS pages. */
export const EXACT_BUCKETS = 24;

/**
 * The free-run list of a run of `pages` pages: exact up to 24 pages, then one
 * per power-of-two range (25..32, 33..64, ...), the last for 2049 or more.
 */
export function bucketOf(pages: number): number {
  if (pages <= EXACT_BUCKETS) return pages - 1;
  return Math.min(FREE_BUCKETS - 1, EXACT_BUCKETS + 27 - Math.clz32(pages - 1));
}

/**
 * Runs of up to this many pages (pool spans, SuperSlabs, records) are small; longer ones are large, and so is every
 * mmap block (the default routes send it nothing smaller, and realloc grows one in place into the pages after it).
 */
export const SMALL_RUN_PAGES = 64;
/** Pages a chunk of the small area claims from the large area at once (1 MiB). */
export const SMALL_CHUNK_PAGES = 256;
/**
 * A free run of the small area this long goes back to the large area. Two
 * chunks, not one: a chunk freed and claimed again by turns would walk the
 * runs (see lowestFit) on every claim.
 */
export const SMALL_RETURN_PAGES = 2 * SMALL_CHUNK_PAGES;
/** A heap that may grow to fewer pages than this (64 MiB) keeps one area: a chunk would take too much of it. */
export const TWO_AREAS_MIN_PAGES = 64 * SMALL_CHUNK_PAGES;
