/**
 * The page map's addressing: where, in the leaf of a page's region, lie its
 * page-map entry (its owner), its boundary tag, its free-list links and its
 * area byte. The page heap (page_heap.ts) reads and writes them; these are
 * the plain functions its hot paths call (both engines inline them), in one
 * place so the check (page_check.ts) computes the same slots.
 * @module
 */

import { LEAF_AREA, LEAF_NEXT, LEAF_PREV, LEAF_TAG, PAGE_SHIFT, REGION_PAGES, REGION_SHIFT } from "./layout.ts";

/** Pages in a region, as a shift. */
export const REGION_PAGE_SHIFT = REGION_SHIFT - PAGE_SHIFT;
/** Mask of a page's index in its region. */
export const PAGE_IN_REGION = REGION_PAGES - 1;
// Word offsets, from a page's page-map entry, of its tag and list links (a leaf starts page-aligned).
/** Words from a page's entry to its tag. */
export const TAG_W = LEAF_TAG >>> 2;
/** Words from a page's entry to its next free-list link. */
export const NEXT_W = LEAF_NEXT >>> 2;
/** Words from a page's entry to its previous free-list link. */
export const PREV_W = LEAF_PREV >>> 2;

/**
 * Word index of `page`'s page-map entry; its tag and links lie TAG_W, NEXT_W
 * and PREV_W words on. A plain function, not a method: the hot paths call it
 * for pages outside the region they already looked up, and both engines
 * inline it.
 */
export function entryOf(u32: Uint32Array, dir: number, page: number): number {
  return (u32[dir + (page >>> REGION_PAGE_SHIFT)] >>> 2) + (page & PAGE_IN_REGION);
}

/** Entry of page `page + pages`, given `page`'s entry `at`: no lookup when both lie in one region. */
export function nextEntryOf(u32: Uint32Array, dir: number, page: number, at: number, pages: number): number {
  return pages >= 0 && (page & PAGE_IN_REGION) + pages < REGION_PAGES ? at + pages : entryOf(u32, dir, page + pages);
}

/** Entry of page `page + pages - 1`, given `page`'s entry `at`: no lookup when both lie in one region. */
export function lastEntryOf(u32: Uint32Array, dir: number, page: number, at: number, pages: number): number {
  return pages > 0 && (page & PAGE_IN_REGION) + pages <= REGION_PAGES ? at + pages - 1 : entryOf(u32, dir, page + pages - 1);
}

/** Byte index of the area of `page`, given its entry `at`: the leaf starts `page & PAGE_IN_REGION` words before the entry. */
export function areaIndex(page: number, at: number): number {
  const inRegion = page & PAGE_IN_REGION;
  return ((at - inRegion) << 2) + LEAF_AREA + inRegion;
}
