/**
 * The page heap's check: walks every run from the heap's first page to the
 * top against the boundary tags, the free-run lists of both areas, the
 * header's counters and the page-map directory (see `PageHeap.check` and
 * `PageHeap.checkHeader`, which call in here). Reads only; cold code, apart
 * from the page heap so that its allocation paths read alone.
 * @module
 */

import * as layout from "./layout.ts";
import type { LinearMemory } from "./linear_memory.ts";
import { bucketOf, END_TAG } from "./free_runs.ts";
import { REGION_PAGE_SHIFT } from "./page_map.ts";

/** One problem found by a check, in words a person can act on. */
export interface CheckProblem {
  /** Which part of the heap the problem is in. */
  where: string;
  /** What is wrong. */
  message: string;
}

/** What the check reads of a page heap: its memory, views and header words, and its per-page readers. */
export interface PageCheckState {
  /** The memory the page runs are in. */
  readonly mem: LinearMemory;
  /** Index of the header's first word. */
  readonly h: number;
  /** Index of the page-map directory's first word. */
  readonly dir: number;
  /** The heap's first page. */
  readonly first: number;
  /** The number of pages the heap covers. */
  readonly top: number;
  /** The memory's words. */
  readonly i32: Int32Array;
  /** The memory's words, unsigned. */
  readonly u32: Uint32Array;
  /** The memory's bytes. */
  readonly u8: Uint8Array;
  /** Page `page`'s boundary tag. */
  tag(page: number): number;
  /** The next run in page `page`'s free list. */
  next(page: number): number;
  /** The previous run in page `page`'s free list. */
  prev(page: number): number;
  /** Page `page`'s area. */
  areaOf(page: number): number;
  /** The page-map entry of the page holding byte `ptr`. */
  ownerOf(ptr: number): number;
  /** Byte index of page `page`'s flags. */
  flagsIndex(page: number): number;
}

/**
 * Walks every run from page 0 to the top and checks the tags, the free list
 * and the counters agree, every page-map leaf sits in metadata pages, and
 * every page of a backend's run is marked written (so a zeroing allocation
 * clears it once it is free again). Calls `visit(firstPage, pages, owner)`
 * for each allocated run so backends can check their own pages. Changes
 * nothing. Returns false when the header is too broken to walk the pages
 * (see {@linkcode checkPageHeader}).
 */
export function checkPages(
  heap: PageCheckState,
  problems: CheckProblem[],
  visit?: (page: number, pages: number, owner: number) => void,
): boolean {
  const h = heap.h;
  const i32 = heap.i32;
  const top = heap.top;
  const where = "page heap";
  if (!checkPageHeader(heap, problems)) return false; // without a sound top and directory no walk can be trusted to end
  let used = 0;
  let free = 0;
  let metadata = 0;
  let foreign = 0;
  if (i32[h + layout.H_BASE_PAGE] !== heap.first) {
    problems.push({
      where,
      message: `the header says the heap starts at page ${i32[h + layout.H_BASE_PAGE]}, not at its base page ${heap.first}`,
    });
  }
  const freeStarts: number[] = [];
  let previousFree = false;
  for (let page = heap.first; page < top;) {
    const tag = heap.tag(page);
    if (tag < 0) {
      const pages = -tag;
      if (page + pages > top || heap.tag(page + pages - 1) !== tag) {
        problems.push({ where, message: `free run at page ${page} has broken tags` });
        return true;
      }
      const area = heap.areaOf(page);
      if (previousFree && heap.areaOf(page - 1) === area) {
        problems.push({ where, message: `free runs at page ${page} and before it were not coalesced` });
      }
      for (let i = 0; i < pages; i++) {
        if (heap.ownerOf((page + i) * layout.PAGE_SIZE) !== 0) {
          problems.push({ where, message: `free page ${page + i} still has an owner` });
          break;
        }
      }
      checkArea(heap, problems, page, pages, "free");
      freeStarts.push(page);
      free += pages;
      previousFree = true;
      page += pages;
    } else if (tag > 0 && tag < END_TAG) {
      const pages = tag;
      if (page + pages > top || (pages > 1 && heap.tag(page + pages - 1) !== (END_TAG | pages))) {
        problems.push({ where, message: `allocated run at page ${page} has broken tags` });
        return true;
      }
      const owner = heap.ownerOf(page * layout.PAGE_SIZE);
      const kind = owner & layout.KIND_MASK;
      if (kind === layout.PageKind.free) problems.push({ where, message: `allocated run at page ${page} has no owner` });
      for (let i = 1; i < pages; i++) {
        // Pages of one run may carry different records (a SuperSlab's slabs), never another kind.
        if ((heap.ownerOf((page + i) * layout.PAGE_SIZE) & layout.KIND_MASK) !== kind) {
          problems.push({ where, message: `page ${page + i} of the run at ${page} has an owner of another kind` });
          break;
        }
      }
      checkArea(heap, problems, page, pages, "allocated");
      if (owner === layout.FOREIGN_ENTRY) foreign += pages;
      else if (kind === layout.PageKind.metadata) metadata += pages;
      else if (kind !== layout.PageKind.free && !allDirty(heap, page, pages)) {
        problems.push({
          where,
          message: `run at page ${page} (kind ${kind}) has pages marked never written: calloc would not clear them`,
        });
      }
      visit?.(page, pages, owner);
      if (owner !== layout.FOREIGN_ENTRY) used += pages; // pages the heap did not grow are not its footprint
      previousFree = false;
      page += pages;
    } else {
      problems.push({ where, message: `page ${page} starts no run (tag ${tag})` });
      return true;
    }
  }
  checkFreeLists(heap, problems, new Set(freeStarts));
  if (used !== i32[h + layout.H_USED_PAGES]) {
    problems.push({ where, message: `used pages counted ${i32[h + layout.H_USED_PAGES]}, found ${used}` });
  }
  if (free !== i32[h + layout.H_FREE_PAGES]) {
    problems.push({ where, message: `free pages counted ${i32[h + layout.H_FREE_PAGES]}, found ${free}` });
  }
  if (foreign !== i32[h + layout.H_FOREIGN_PAGES]) {
    problems.push({ where, message: `foreign pages counted ${i32[h + layout.H_FOREIGN_PAGES]}, found ${foreign} in foreign runs` });
  }
  if (i32[h + layout.H_PEAK_USED_PAGES] < used) {
    problems.push({ where, message: `peak used pages ${i32[h + layout.H_PEAK_USED_PAGES]} is below the ${used} used now` });
  }
  // Every metadata run is counted where it is taken (header, leaves, records, per-worker pages).
  const counted = i32[h + layout.H_METADATA_PAGES];
  if (counted !== metadata) problems.push({ where, message: `metadata pages counted ${counted}, ${metadata} found in metadata runs` });
  return true;
}

/**
 * The cheap part of {@linkcode checkPages}, constant work whatever the
 * memory holds: the header's fixed words, the top inside the memory, the
 * page counters adding up to the top, the free-list heads against the
 * bitmap, the lock words, and the page-map directory. Returns false when
 * the top or the directory is broken: then no walk over the pages may be
 * trusted to end inside the memory, and the caller must not start one.
 * Without `counters` only what no other worker's operation in flight can
 * make look wrong for a moment is checked (for attaching, which takes no
 * lock): the counters and the free-list heads are left out.
 */
/**
 * True when the header at word `h` still holds the two words the page heap lays out and no operation changes: the page
 * shift and the header pages (a zeroed or overwritten header fails it). check() reports them; the page heap tests them
 * before each run operation.
 */
export function layoutWordsIntact(i32: Int32Array, h: number): boolean {
  return i32[h + layout.H_PAGE_SHIFT] === layout.PAGE_SHIFT && i32[h + layout.H_HEADER_PAGES] === layout.HEADER_PAGES;
}

export function checkPageHeader(heap: PageCheckState, problems: CheckProblem[], counters = true): boolean {
  const h = heap.h;
  const i32 = heap.i32;
  const where = "heap header";
  const first = heap.first; // the pages below the base are not the heap's
  // Attaching (no `counters`) takes no lock: another worker may be growing the memory and the heap right now, past what this
  // worker's buffer shows, so the top and the leaves are bounded by the most the memory may ever hold, not by its size now.
  const memoryPages = counters
    ? heap.mem.byteLength >>> layout.PAGE_SHIFT
    : Math.min(i32[h + layout.H_MAX_PAGES] >>> 0, layout.MAX_MEMORY_BYTES / layout.PAGE_SIZE);
  const top = i32[h + layout.H_TOP_PAGE];
  if (!layoutWordsIntact(i32, h)) {
    problems.push({
      where,
      message: `page shift ${i32[h + layout.H_PAGE_SHIFT]} and header pages ${i32[h + layout.H_HEADER_PAGES]} are not this layout's`,
    });
  }
  for (
    const [word, name] of [[h + layout.H_PAGE_LOCK, "page heap"], [h + layout.H_RECORD_LOCK, "record arena"], [
      h + layout.H_WORKER_LOCK,
      "worker table",
    ]] as const
  ) {
    // A lock word is 0 (free), 1 (held) or 2 (held, waiters): anything else was written over, and taking it would spin forever.
    if (i32[word] < 0 || i32[word] > 2) problems.push({ where, message: `the ${name} lock word holds ${i32[word]}` });
  }
  if (!(top >= first + layout.HEADER_PAGES + layout.LEAF_PAGES && top <= memoryPages)) {
    problems.push({ where, message: `top page ${top} lies outside the memory's ${memoryPages} pages` });
    return false;
  }
  if (top > i32[h + layout.H_MAX_PAGES]) {
    problems.push({ where, message: `top page ${top} lies past the most pages, ${i32[h + layout.H_MAX_PAGES]}` });
  }
  const reserve = i32[h + layout.H_RESERVE_TOP];
  if (reserve !== 0 && !(reserve > top && reserve <= memoryPages && reserve <= i32[h + layout.H_MAX_PAGES])) {
    problems.push({
      where,
      message: `the reserve given back at trim ends at page ${reserve}, not between the top ${top} and the memory's end`,
    });
  }
  const record = i32[h + layout.H_RECORD_FREE] >>> 0;
  if (record % 64 !== 0 || record >= top * layout.PAGE_SIZE) {
    problems.push({ where, message: `the record arena's free list starts at ${record}, which is no record of the heap` });
  }
  if (!counters) return checkDirectory(heap, problems, top, memoryPages);
  const used = i32[h + layout.H_USED_PAGES];
  const free = i32[h + layout.H_FREE_PAGES];
  const metadata = i32[h + layout.H_METADATA_PAGES];
  const foreign = i32[h + layout.H_FOREIGN_PAGES];
  if (used < 0 || free < 0 || foreign < 0 || used + free + foreign !== top - first) {
    problems.push({
      where,
      message: `used pages ${used}, free pages ${free} and foreign pages ${foreign} do not add up to the ${top - first} pages of the heap`,
    });
  }
  if (metadata < layout.HEADER_PAGES + layout.LEAF_PAGES || metadata > used) {
    problems.push({
      where,
      message: `metadata pages ${metadata} are not between a header's ${layout.HEADER_PAGES + layout.LEAF_PAGES} and the ${used} used`,
    });
  }
  for (
    const [buckets, bitmap, area] of [[layout.H_FREE_BUCKETS, layout.H_FREE_BITMAP, ""], [
      layout.H_SMALL_FREE_BUCKETS,
      layout.H_SMALL_FREE_BITMAP,
      "small area ",
    ]] as const
  ) {
    // Both areas' lists (see allocRun): each head a page of the heap or -1, each bitmap bit set exactly for a list that holds a run.
    for (let bucket = 0; bucket < layout.FREE_BUCKETS; bucket++) {
      const head = i32[h + buckets + bucket];
      if (head < -1 || (head >= 0 && head < first) || head >= top) {
        problems.push({ where, message: `${area}free list ${bucket} starts at page ${head}, outside the heap` });
      } else if (((i32[h + bitmap] >>> bucket) & 1) !== (head >= 0 ? 1 : 0)) {
        problems.push({ where, message: `${area}bitmap bit ${bucket} says ${head >= 0 ? "empty" : "non-empty"}, the list is not` });
      }
    }
  }
  return checkDirectory(heap, problems, top, 0);
}

/** Checks every page of the run of `pages` at `page` lies in one area, a known one. */
function checkArea(heap: PageCheckState, problems: CheckProblem[], page: number, pages: number, what: string): void {
  const area = heap.areaOf(page);
  if (area !== layout.AREA_LARGE && area !== layout.AREA_SMALL) {
    problems.push({ where: "page heap", message: `${what} run at page ${page} has area ${area}, which is none` });
    return;
  }
  for (let i = 1; i < pages; i++) {
    if (heap.areaOf(page + i) !== area) {
      problems.push({ where: "page heap", message: `${what} run at page ${page} has pages in both areas` });
      return;
    }
  }
}

/**
 * Checks the free-run lists of both areas against the free runs the tags
 * show (`starts`): each run in exactly one list, the list its length and
 * area name, with good back links, and the bitmaps marking the lists that
 * hold runs.
 */
function checkFreeLists(heap: PageCheckState, problems: CheckProblem[], starts: Set<number>): void {
  const listed = new Set<number>();
  checkAreaLists(heap, problems, starts, listed, layout.AREA_LARGE);
  checkAreaLists(heap, problems, starts, listed, layout.AREA_SMALL);
  if (listed.size !== starts.size) {
    problems.push({ where: "page heap free lists", message: `the lists hold ${listed.size} runs, the pages ${starts.size}` });
  }
}

/** Checks one area's free-run lists against the free runs the tags show (`starts`), adding each run it meets to `listed`. */
function checkAreaLists(heap: PageCheckState, problems: CheckProblem[], starts: Set<number>, listed: Set<number>, area: number): void {
  const h = heap.h;
  const i32 = heap.i32;
  const where = area === layout.AREA_SMALL ? "page heap free lists (small area)" : "page heap free lists";
  for (let bucket = 0; bucket < layout.FREE_BUCKETS; bucket++) {
    const head = i32[h + (area === layout.AREA_SMALL ? layout.H_SMALL_FREE_BUCKETS : layout.H_FREE_BUCKETS) + bucket]; // the bitmap was checked against it with the header
    let before = -1;
    for (let page = head; page >= 0; page = heap.next(page)) {
      if (!starts.has(page) || listed.has(page)) {
        problems.push({
          where,
          message: `list ${bucket} holds page ${page}, ${listed.has(page) ? "listed before" : "which starts no free run"}`,
        });
        return;
      }
      listed.add(page);
      if (bucketOf(-heap.tag(page)) !== bucket) {
        problems.push({ where, message: `run of ${-heap.tag(page)} pages at ${page} is in list ${bucket}` });
      }
      if (heap.areaOf(page) !== area) problems.push({ where, message: `run at ${page} is listed in the other area's lists` });
      if (heap.prev(page) !== before) problems.push({ where, message: `back link of page ${page} is wrong` });
      before = page;
    }
  }
}

/**
 * Checks the page-map directory: every region below the top has a leaf, and
 * every leaf lies whole in metadata pages below the top. Returns false when
 * a region lacks its leaf.
 */
function checkDirectory(heap: PageCheckState, problems: CheckProblem[], top: number, racingBound: number): boolean {
  // With a `racingBound` (attaching, which takes no lock) another worker may be growing the heap right now: it writes a
  // new leaf's directory word, then marks the leaf's pages, then moves the top. So a leaf is only required to lie below
  // that bound (the most pages the memory may hold), and its pages' owners are not read; check() runs on a quiet heap,
  // with no such bound, and reads all of it.
  const exact = racingBound === 0;
  const bound = exact ? top : racingBound;
  const dir = heap.dir;
  const u32 = heap.u32;
  const where = "page map";
  const regions = (top + layout.REGION_PAGES - 1) >>> REGION_PAGE_SHIFT;
  const firstRegion = heap.first >>> REGION_PAGE_SHIFT; // regions wholly below the base need no leaf
  let whole = true;
  for (let region = 0; region < layout.MAX_REGIONS; region++) {
    const leaf = u32[dir + region];
    if (leaf === 0) {
      if (region < regions && region >= firstRegion) {
        problems.push({ where, message: `region ${region} (pages ${region * layout.REGION_PAGES}..) is below the top but has no leaf` });
        whole = false;
      }
      continue;
    }
    const first = leaf >>> layout.PAGE_SHIFT;
    if (leaf % layout.PAGE_SIZE !== 0 || first < heap.first || first + layout.LEAF_PAGES > bound) {
      problems.push({ where, message: `leaf of region ${region} at byte ${leaf} is not in whole pages below the top` });
      if (region < regions) whole = false;
      continue;
    }
    for (let i = 0; exact && i < layout.LEAF_PAGES; i++) {
      // The leaf of region 0 describes itself; any other leaf lies in a region whose leaf was checked first, or in region 0.
      if ((first + i) >>> REGION_PAGE_SHIFT > region && u32[dir + ((first + i) >>> REGION_PAGE_SHIFT)] === 0) break;
      if ((heap.ownerOf((first + i) * layout.PAGE_SIZE) & layout.KIND_MASK) !== layout.PageKind.metadata) {
        problems.push({ where, message: `leaf of region ${region} lies in page ${first + i}, which is not a metadata page` });
        break;
      }
    }
  }
  return whole;
}

/** True when every page from `page` for `count` pages is marked written. */
function allDirty(heap: PageCheckState, page: number, count: number): boolean {
  const u8 = heap.u8;
  for (let i = 0; i < count; i++) if ((u8[heap.flagsIndex(page + i)] & layout.PAGE_DIRTY) === 0) return false;
  return true;
}
