/**
 * The page heap: the allocator's "operating system". Hands out runs of 4 KiB
 * pages, takes them back, coalesces free neighbours, grows the memory on
 * demand and shrinks a resizable ArrayBuffer whose top pages are free.
 *
 * Owns: the run boundary tags, the free-run lists, page dirty flags (pages
 * never written since the memory grew over them are zero), page areas
 * (small or large runs) and the page map (the owner of every page), all
 * inside the memory.
 *
 * Boundary tags, per page (in the page-map leaf of the page's region):
 *
 * ```
 * free run of n pages       first: -n   last: -n
 * allocated run of n pages  first: +n   last (n > 1): END_TAG | n
 * any other page            0
 * ```
 *
 * Two areas (in a heap of 64 MiB or more). Small runs (up to 64 pages:
 * pool spans, SuperSlabs, records) are taken from chunks of 256 pages
 * claimed from the low end of the memory; large runs (mmap blocks, of any
 * size) from the rest. Mixed, small runs cut the holes that freed large
 * blocks leave, and a 4 MiB request failed with a quarter of the memory
 * free (bench/fragmentation.ts: from 66% full); apart, none failed below
 * 80%. A page's area is a byte of its leaf; free runs coalesce within an
 * area only, and each area has its own lists. Under pressure (a large run
 * that nothing else can serve) the small area's free runs go back.
 *
 * Each area's free runs sit in 32 lists by length (segregated fits): one list per
 * length of 1..24 pages, then lists of 25..32, 33..64, ... 1025..2048 and
 * 2049 or more pages; a bitmap in the header says which lists hold a run.
 * Allocation takes a run from the shortest list that fits: the head of an
 * exact list, or the first that fits in a list of lengths. Every step is
 * O(1) but that walk (runs of one power-of-two range), so freeing and
 * taking runs costs the same however fragmented the heap is (but for a
 * chunk's claim, rare, which walks the runs). Best fit keeps
 * the long runs long, the top one included, so the top stays free to
 * shrink. The leaves of the regions a growth adds go at the start of the
 * free run at the top, so growth plans exactly what it gets.
 *
 * Files: this one hands out, takes back, coalesces and grows runs (the
 * allocation and free paths, the free-run list operations, growth and
 * shrinking under the lock); page_map.ts computes where a page's entry, tag,
 * links and area lie; free_runs.ts the boundary tag and the lists' and
 * areas' shape; growth.ts the growth and shrink policy; page_check.ts the check.
 *
 * Locking: one lock word (H_PAGE_LOCK) on shared memory. The page heap never
 * calls out while holding it, and callers must not hold their own locks when
 * calling in (lock order: backend locks are released before any page heap
 * call; see docs in README "Lock order").
 * @module
 */

import {
  AREA_LARGE,
  AREA_SMALL,
  DIR_WORD,
  FOREIGN_ENTRY,
  FREE_BUCKETS,
  H_BASE_PAGE,
  H_FOREIGN_PAGES,
  H_FREE_BITMAP,
  H_FREE_BUCKETS,
  H_FREE_PAGES,
  H_GROW_COUNT,
  H_GROW_PAGES,
  H_HEADER_PAGES,
  H_MAX_PAGES,
  H_METADATA_PAGES,
  H_PAGE_LOCK,
  H_PAGE_SHIFT,
  H_PEAK_USED_PAGES,
  H_RESERVE_TOP,
  H_SHRINK_COUNT,
  H_SMALL_FREE_BITMAP,
  H_SMALL_FREE_BUCKETS,
  H_TOP_PAGE,
  H_USED_PAGES,
  KIND_MASK,
  LEAF_AREA,
  LEAF_BYTES,
  LEAF_FLAGS,
  LEAF_NEXT,
  LEAF_PAGES,
  LEAF_PREV,
  LEAF_TAG,
  MAX_REGIONS,
  PAGE_DIRTY,
  PAGE_SHIFT,
  PAGE_SIZE,
  PageKind,
  REGION_PAGES,
  REGION_SHIFT,
} from "./layout.ts";
import { HakmemError } from "../core/errors.ts";
import { type LinearMemory, MemoryKind } from "./linear_memory.ts";
import {
  bucketOf,
  END_TAG,
  EXACT_BUCKETS,
  SMALL_CHUNK_PAGES,
  SMALL_RETURN_PAGES,
  SMALL_RUN_PAGES,
  TWO_AREAS_MIN_PAGES,
} from "./free_runs.ts";
import { MAX_GROW_STEP_PAGES, shrinkThreshold, WASM_SLACK_SHIFT } from "./growth.ts";
import { checkPageHeader, checkPages, type CheckProblem, layoutWordsIntact, type PageCheckState } from "./page_check.ts";
import { areaIndex, entryOf, lastEntryOf, NEXT_W, nextEntryOf, PAGE_IN_REGION, PREV_W, REGION_PAGE_SHIFT, TAG_W } from "./page_map.ts";

/**
 * The page map's shifts for ownerOf, the one page-map read on every free, as literals: Bun inlines no constant a
 * module imports (each read would cost a scope lookup, and its bytecode would keep the free path from inlining).
 * Checked against layout.ts's below, when the module loads.
 */
const enum MapShift {
  region = 22,
  page = 12,
  pageInRegion = 1023,
}
if (MapShift.region !== REGION_SHIFT || MapShift.page !== PAGE_SHIFT || MapShift.pageInRegion !== PAGE_IN_REGION) {
  throw new Error("page_heap.ts: MapShift disagrees with the page map's layout");
}

export type { CheckProblem } from "./page_check.ts";

/** Counters of the page heap, in pages. */
export interface PageHeapStats {
  /** Pages the heap covers (the memory's size in pages). */
  topPages: number;
  /** Pages in allocated runs, metadata included. */
  usedPages: number;
  /** Most pages ever in allocated runs at once. */
  peakUsedPages: number;
  /** Pages in free runs. */
  freePages: number;
  /** Pages of heap metadata: header, page-map leaves and record arena. */
  metadataPages: number;
  /** Free runs. */
  freeRuns: number;
  /** Largest free run, in pages. */
  largestFreeRun: number;
  /** Times the memory grew. */
  growCount: number;
  /** Times the memory shrank. */
  shrinkCount: number;
  /** The heap's first page (its header's): the pages below its base are not the heap's. */
  basePage: number;
  /**
   * Pages the heap did not grow and never hands out: foreign runs inside its
   * span, and memory above its top not yet taken in (a WASM module's own
   * `memory.grow`). Not part of the footprint.
   */
  foreignPages: number;
  /**
   * Pages trim() gave back from the top of a memory that cannot shrink
   * (whole regions, their page-map leaves freed): still in the memory, taken
   * back before it grows again. Not part of the footprint.
   */
  reservePages: number;
}

/** Page runs over a {@linkcode LinearMemory}; all state lives in the memory. */
export class PageHeap {
  /** The memory the page runs are in. */
  readonly mem: LinearMemory;
  /** True for an ArrayBuffer: no other worker, views that never go stale (syncViews does nothing). */
  private readonly unshared: boolean;
  // The memory's views, kept here (rebuilt with the memory's, see LinearMemory.onRefresh).
  private i32!: Int32Array;
  private u32!: Uint32Array;
  private u8!: Uint8Array;
  /** Index of the header's first word (header word `H_X` is `i32[h + H_X]`): the memory's, copied to a plain field. */
  private readonly h: number;
  /** Index of the page-map directory's first word: the leaf of region `r` is at byte `u32[dir + r]`. */
  private readonly dir: number;
  /** The heap's first page: runs, walks and coalescing never reach below it. */
  readonly first: number;
  /** A page a free list named that starts no free run (findFit saw damage), for allocRun to report; -1 when none. */
  private listDamage = -1;

  /** Page runs over a memory whose header is already laid out (format or attach); rebinds its views whenever the memory's are rebuilt. */
  constructor(mem: LinearMemory) {
    this.mem = mem;
    this.h = mem.header;
    this.dir = mem.header + DIR_WORD;
    this.first = mem.base >>> PAGE_SHIFT;
    this.unshared = mem.kind === MemoryKind.arrayBuffer;
    this.bindViews();
    mem.onRefresh(() => this.bindViews());
  }

  /** Takes the memory's current views. */
  private bindViews(): void {
    this.i32 = this.mem.i32;
    this.u32 = this.mem.u32;
    this.u8 = this.mem.u8;
  }

  // ---- per-page metadata (the hot paths read slots off entryOf instead) ---

  /** Word index of `page`'s slot in the leaf array at byte offset `field`. */
  private slot(page: number, field: number): number {
    return entryOf(this.u32, this.dir, page) + (field >>> 2);
  }
  /** Page `page`'s tag: at a run's first page its length (negated when free), at its last page the length with END_TAG. */
  private tag(page: number): number {
    return this.i32[this.slot(page, LEAF_TAG)];
  }
  /** Sets page `page`'s tag. */
  private setTag(page: number, value: number): void {
    this.i32[this.slot(page, LEAF_TAG)] = value;
  }
  /** The next run in page `page`'s free list. */
  private next(page: number): number {
    return this.i32[this.slot(page, LEAF_NEXT)];
  }
  /** The previous run in page `page`'s free list. */
  private prev(page: number): number {
    return this.i32[this.slot(page, LEAF_PREV)];
  }
  /** Byte index, in `u8`, of page `page`'s flags in its region's leaf. */
  private flagsIndex(page: number): number {
    const leaf = this.u32[this.dir + (page >>> REGION_PAGE_SHIFT)];
    return leaf + LEAF_FLAGS + (page & PAGE_IN_REGION);
  }

  /**
   * The page-map entry of the page holding byte `ptr`: a record byte offset
   * plus the owner kind in the low 3 bits; 0 for a free or unmapped page.
   * The caller checks `ptr` is inside the memory.
   */
  ownerOf(ptr: number): number {
    const dir = this.dir;
    const u32 = this.u32;
    const leaf = u32[dir + (ptr >>> MapShift.region)];
    return leaf === 0 ? 0 : u32[(leaf >>> 2) + ((ptr >>> MapShift.page) & MapShift.pageInRegion)];
  }

  /** Sets the page-map entry of `count` pages from `page`. */
  setOwner(page: number, count: number, value: number): void {
    const u32 = this.u32;
    // One directory lookup per region the run crosses: the entries of a region's pages are consecutive words.
    while (count > 0) {
      const first = this.slot(page, 0);
      const n = Math.min(count, REGION_PAGES - (page & PAGE_IN_REGION));
      for (let i = 0; i < n; i++) u32[first + i] = value;
      page += n;
      count -= n;
    }
  }

  /** Pages in the allocated run that starts at `page`, or 0 if none starts there. */
  runPages(page: number): number {
    if (page < this.first || page >= this.top) return 0;
    const tag = this.tag(page);
    return tag > 0 && tag < END_TAG && (this.ownerOf(page * PAGE_SIZE) & KIND_MASK) !== PageKind.free ? tag : 0;
  }

  /** Refreshes the views, asking harder when the header says the heap reaches past them. */
  syncViews(): void {
    if (this.unshared) return; // an ArrayBuffer's views never go stale
    const mem = this.mem;
    if (mem.i32[this.h + H_TOP_PAGE] * PAGE_SIZE > mem.limit) mem.refresh(true);
    else mem.refresh();
  }

  /** The most pages the heap may cover: the header's limit, and this worker's memory's (an attached heap's options may differ). */
  get maxPages(): number {
    return Math.min(this.i32[this.h + H_MAX_PAGES], Math.floor(this.mem.maxBytes / PAGE_SIZE));
  }

  /** The number of pages the heap covers. */
  get top(): number {
    return this.i32[this.h + H_TOP_PAGE];
  }

  // ---- formatting a new heap ----------------------------------------------

  /**
   * Lays out the page heap in a fresh memory: from the base, the header pages
   * and the first leaf (two when they cross a region's end) as one metadata
   * run, the rest of the memory as one free run. With `written`, the memory
   * was handed in and may hold old bytes: its pages count as dirty, so
   * zeroing allocations clear them. Nothing below the base is read or written.
   */
  format(headerPages: number, maxPages: number, growPages: number, written = false): void {
    const h = this.h;
    const i32 = this.i32;
    const first = this.first;
    i32[h + H_PAGE_SHIFT] = PAGE_SHIFT;
    i32[h + H_HEADER_PAGES] = headerPages;
    i32[h + H_BASE_PAGE] = first;
    i32[h + H_MAX_PAGES] = maxPages;
    i32[h + H_GROW_PAGES] = growPages;
    i32[h + H_FREE_BITMAP] = 0;
    i32.fill(-1, h + H_FREE_BUCKETS, h + H_FREE_BUCKETS + FREE_BUCKETS);
    i32[h + H_SMALL_FREE_BITMAP] = 0;
    i32.fill(-1, h + H_SMALL_FREE_BUCKETS, h + H_SMALL_FREE_BUCKETS + FREE_BUCKETS);
    // The leaves of the regions the metadata run touches sit right after the header and describe themselves.
    const metadataEnd = first + PageHeap.startPages(first, headerPages);
    const leaves = (metadataEnd - first - headerPages) / LEAF_PAGES;
    for (let i = 0; i < leaves; i++) {
      const leaf = (first + headerPages + i * LEAF_PAGES) * PAGE_SIZE;
      this.u32[this.dir + (first >>> REGION_PAGE_SHIFT) + i] = leaf;
      this.u8.fill(0, leaf, leaf + LEAF_PAGES * PAGE_SIZE); // a leaf starts zeroed (every page in the large area)
    }
    i32[h + H_TOP_PAGE] = metadataEnd;
    const memoryPages = Math.min(this.mem.byteLength >>> PAGE_SHIFT, maxPages);
    this.writeAllocated(first, metadataEnd - first, PageKind.metadata);
    i32[h + H_METADATA_PAGES] = metadataEnd - first;
    i32[h + H_USED_PAGES] = metadataEnd - first;
    i32[h + H_PEAK_USED_PAGES] = metadataEnd - first;
    this.cover(metadataEnd, memoryPages);
    if (written) {
      for (let page = metadataEnd; page < this.top; page++) this.u8[this.flagsIndex(page)] |= PAGE_DIRTY; // up to what cover() took in
    }
  }

  /** Pages of metadata a heap formatted at page `first` starts with: its header and the leaves right after it. */
  static startPages(first: number, headerPages: number): number {
    let leaves = 1;
    while (((first + headerPages + leaves * LEAF_PAGES - 1) >>> REGION_PAGE_SHIFT) - (first >>> REGION_PAGE_SHIFT) >= leaves) leaves++;
    return headerPages + leaves * LEAF_PAGES;
  }

  // ---- allocation -----------------------------------------------------------

  /**
   * Takes a free run of `pages` pages (best fit by list; the low pages of a
   * longer run), growing the memory if none fits, and marks it owned by
   * `owner` (a page-map entry). With `zero`, any
   * page written before is cleared. Returns the first page, or -1 when the
   * memory cannot grow enough. With `grow` false, -1 wherever the memory
   * would have to grow: a caller holding free pages of its own gives them
   * back first (a WebAssembly.Memory keeps every page it grows for good).
   *
   * Small runs come from the small area, large runs from the large area, so
   * neither cuts the other's free space apart (see the module doc). A small
   * run takes from the large area only when no chunk can be claimed, and a
   * large run that neither its area nor growth can serve gets the small
   * area's free runs back first, so a request that fits never fails for the
   * split.
   */
  allocRun(pages: number, owner: number, zero = false, grow = true): number {
    this.syncViews(); // another worker may have grown the memory
    // A header written over (zeroed, say) would read as a full memory, or send the search through garbage: refuse.
    if (!this.headerIntact()) throw this.damagedHeader();
    this.mem.lock(this.h + H_PAGE_LOCK);
    let page: number;
    if (pages <= SMALL_RUN_PAGES && (owner & KIND_MASK) !== PageKind.mmap) {
      page = this.findFit(pages, AREA_SMALL);
      // A new chunk for the small area; metadata, taken while a heap is made, claims none (a heap of a few pages stays one).
      const chunks = owner !== PageKind.metadata && this.maxPages >= TWO_AREAS_MIN_PAGES;
      if (page < 0 && chunks && this.claimChunk(grow)) page = this.findFit(pages, AREA_SMALL);
      // Without growth, a small run takes no large-area pages where a grown chunk would have served it.
      if (page < 0 && (grow || !chunks)) page = this.findFit(pages, AREA_LARGE);
      if (page < 0 && grow && this.growFor(pages)) page = this.findFit(pages, AREA_LARGE);
    } else {
      page = this.findFit(pages, AREA_LARGE);
      if (page < 0 && grow && this.growFor(pages)) page = this.findFit(pages, AREA_LARGE);
      if (page < 0 && grow && this.returnSmallArea()) {
        // Under pressure the small area's free runs join the large one: what is free is all there is.
        page = this.findFit(pages, AREA_LARGE);
        if (page < 0 && this.growFor(pages)) page = this.findFit(pages, AREA_LARGE);
      }
    }
    if (page >= 0) this.take(page, pages, owner, zero);
    this.mem.unlock(this.h + H_PAGE_LOCK);
    if (this.listDamage !== -1) {
      const damaged = this.listDamage;
      this.listDamage = -1;
      // A run found elsewhere is good; without one, the damage is the answer (not out of memory).
      if (page < 0) {
        throw new HakmemError(
          "CORRUPTED",
          `the page heap's free lists lead to page ${damaged}, which starts no free run of the heap: the page map or the ` +
            `header was written over (check() says where); no pages were taken`,
          damaged,
        );
      }
    }
    return page;
  }

  /** True when the header's layout words are intact ({@linkcode layoutWordsIntact}; the magic number is the heap's, see heap/header.ts). */
  headerIntact(): boolean {
    if (this.mem.i32.length <= this.h + H_HEADER_PAGES) this.mem.refresh(true); // views a module's growth detached
    return layoutWordsIntact(this.mem.i32, this.h);
  }

  /** The error for a header that fails {@linkcode headerIntact}. */
  damagedHeader(): HakmemError {
    const i32 = this.mem.i32;
    const h = this.h;
    return new HakmemError(
      "CORRUPTED",
      `the heap header at ${h * 4} was written over (page shift ${i32[h + H_PAGE_SHIFT]}, header pages ${
        i32[h + H_HEADER_PAGES]
      }): the heap's pages and lists cannot be trusted; check() says what else was hit`,
    );
  }

  /** Gives the allocated run starting at `page` back; returns its page count. */
  freeRun(page: number): number {
    const h = this.h;
    const dir = this.dir;
    this.syncViews(); // another worker may have grown the memory
    if (!this.headerIntact()) throw this.damagedHeader();
    this.mem.lock(this.h + H_PAGE_LOCK);
    const i32 = this.i32; // read after the lock: it may have refreshed the views
    const u32 = this.u32;
    const leaf = u32[dir + (page >>> REGION_PAGE_SHIFT)];
    const at = (leaf >>> 2) + (page & PAGE_IN_REGION); // every slot of the run is read off its entry
    const pages = i32[at + TAG_W];
    if (leaf !== 0 && u32[at] === PageKind.metadata) i32[h + H_METADATA_PAGES] -= pages; // ownerOf's answer
    this.clearAllocated(page, at, pages);
    this.release(page, at, pages);
    if (this.mem.canShrink) {
      const grow = i32[h + H_GROW_PAGES];
      const top = i32[h + H_TOP_PAGE];
      const threshold = Math.max(4 * grow, shrinkThreshold(top));
      // maybeShrink's first test inline, to the same answer: most frees leave no long free run at the top.
      const last = top > this.first ? i32[entryOf(u32, dir, top - 1) + TAG_W] : 0;
      if (last < 0 ? -last > threshold && -last > grow : grow <= 0) this.maybeShrink(threshold, grow);
    }
    this.mem.unlock(this.h + H_PAGE_LOCK);
    return pages;
  }

  /**
   * Grows the allocated run at `page` by `extra` pages in place when the
   * pages after it are free (growing the memory if the run is at the top).
   * Returns false, changing nothing, when it cannot.
   */
  extendRun(page: number, extra: number, zero = false): boolean {
    this.syncViews(); // another worker may have grown the memory
    if (!this.headerIntact()) throw this.damagedHeader();
    this.mem.lock(this.h + H_PAGE_LOCK);
    const pages = this.tag(page);
    const after = page + pages;
    let ok = this.freeRunAt(after) >= extra;
    if (!ok && (after === this.top || (this.freeRunEndsAtTop(after) && this.areaOf(after) === AREA_LARGE))) {
      ok = this.growFor(extra) && this.freeRunAt(after) >= extra;
    }
    if (ok) {
      const owner = this.ownerOf(page * PAGE_SIZE);
      this.take(after, extra, owner, zero);
      // A run's pages lie in one area, its own: pages it grows into from the other area move to it.
      const area = this.areaOf(page);
      if (this.areaOf(after) !== area) this.setArea(after, extra, area);
      // Merge the two allocated runs into one.
      this.clearTags(page, pages);
      this.clearTags(after, extra);
      this.writeTags(page, pages + extra);
    }
    this.mem.unlock(this.h + H_PAGE_LOCK);
    return ok;
  }

  /** Shrinks the allocated run at `page` to `keep` pages, freeing its tail. */
  shrinkRun(page: number, keep: number): void {
    this.syncViews(); // another worker may have grown the memory
    this.mem.lock(this.h + H_PAGE_LOCK);
    const pages = this.tag(page);
    if (keep > 0 && keep < pages) {
      // Only the tail changes: the kept pages keep their owner entries; the tags move, the tail's owners clear.
      const tail = page + keep;
      this.setTag(page + pages - 1, 0);
      this.writeTags(page, keep);
      this.setOwner(tail, pages - keep, 0);
      this.i32[this.h + H_USED_PAGES] -= pages - keep;
      this.release(tail, entryOf(this.u32, this.dir, tail), pages - keep);
    }
    this.mem.unlock(this.h + H_PAGE_LOCK);
  }

  /** Frees the first `head` pages of the allocated run at `page`; the rest stays allocated. */
  dropHead(page: number, head: number): void {
    this.syncViews(); // another worker may have grown the memory
    this.mem.lock(this.h + H_PAGE_LOCK);
    const pages = this.tag(page);
    if (head > 0 && head < pages) {
      const owner = this.ownerOf(page * PAGE_SIZE);
      this.clearAllocated(page, entryOf(this.u32, this.dir, page), pages);
      this.writeAllocated(page + head, pages - head, owner);
      this.i32[this.h + H_USED_PAGES] += pages - head;
      this.release(page, entryOf(this.u32, this.dir, page), head);
    }
    this.mem.unlock(this.h + H_PAGE_LOCK);
  }

  /** Calls `visit(firstPage, pages, owner)` for every allocated run, lowest first. */
  forEachRun(visit: (page: number, pages: number, owner: number) => void): void {
    const top = this.top;
    for (let page = this.first; page < top;) {
      const tag = this.tag(page);
      if (tag === 0 || tag >= END_TAG) return; // broken tags: check() reports them
      if (tag > 0) visit(page, tag, this.ownerOf(page * PAGE_SIZE));
      page += tag < 0 ? -tag : tag;
    }
  }

  /**
   * The allocated runs of kind `kind`, as [first page, page-map entry] pairs,
   * read under the lock: safe while other workers take and free runs (a walk
   * without it may meet tags mid-update and stop short).
   */
  runsOfKind(kind: number): number[] {
    this.syncViews();
    this.mem.lock(this.h + H_PAGE_LOCK);
    const runs: number[] = [];
    this.forEachRun((page, _pages, owner) => {
      if ((owner & KIND_MASK) === kind) runs.push(page, owner);
    });
    this.mem.unlock(this.h + H_PAGE_LOCK);
    return runs;
  }

  /** True when every page from `page` for `count` pages is unwritten (zero). */
  isClean(page: number, count: number): boolean {
    const u8 = this.u8;
    for (let i = 0; i < count; i++) if (u8[this.flagsIndex(page + i)] & PAGE_DIRTY) return false;
    return true;
  }

  /**
   * Gives free pages at the top back: a resizable ArrayBuffer shrinks to its
   * highest used page; a memory that cannot shrink (a WebAssembly.Memory, a
   * growable SharedArrayBuffer) keeps its bytes, but whole 4 MiB regions at
   * its top that hold nothing leave the heap with their page-map leaves (the
   * heap's reserve, taken back before the memory grows again). Returns the
   * bytes the heap's span gave up.
   */
  trimTop(): number {
    this.mem.lock(this.h + H_PAGE_LOCK);
    const before = this.top;
    this.maybeShrink(0, 0);
    if (this.dropLeavesAboveTop()) this.maybeShrink(0, 0);
    if (!this.mem.canShrink) this.giveBackRegions();
    this.mem.unlock(this.h + H_PAGE_LOCK);
    return (before - this.top) * PAGE_SIZE;
  }

  /** Pages the heap gave back at trim() that stay in the memory (see H_RESERVE_TOP): taken back before it grows. */
  get reservePages(): number {
    return Math.max(0, this.i32[this.h + H_RESERVE_TOP] - this.top);
  }

  /**
   * Rebuilds stale views and marks pages the memory grew over without the
   * heap (a WASM module's own `memory.grow`) as a foreign run: they stay the
   * module's, and the heap's own growth goes on above them. The heap grows
   * its memory only with its lock held and takes the new pages in at once,
   * so any pages above its top were grown by someone else.
   */
  adoptGrowth(): void {
    this.mem.lock(this.h + H_PAGE_LOCK);
    this.mem.refresh();
    this.adoptForeign();
    this.mem.unlock(this.h + H_PAGE_LOCK);
  }

  /** adoptGrowth when a WASM module's own growth detached the views (an unshared WebAssembly.Memory); else one test. */
  adoptIfDetached(): void {
    if (this.mem.canDetach && this.mem.u8.length === 0) this.adoptGrowth();
  }

  // ---- internals (called with the lock held) --------------------------------

  /** A free run of `area` of at least `pages` pages from the shortest list that has one (best fit by list), or -1. */
  private findFit(pages: number, area: number): number {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const wanted = bucketOf(pages);
    const buckets = h + (area === AREA_SMALL ? H_SMALL_FREE_BUCKETS : H_FREE_BUCKETS);
    let mask = i32[h + (area === AREA_SMALL ? H_SMALL_FREE_BITMAP : H_FREE_BITMAP)] & (-1 << wanted);
    const u32 = this.u32;
    const top = i32[h + H_TOP_PAGE];
    while (mask !== 0) {
      const bucket = 31 - Math.clz32(mask & -mask);
      const head = i32[buckets + bucket];
      // An exact list holds runs of one length; a longer list's runs all fit. Every page a list names must start a free
      // run, and a list holds fewer runs than the heap has pages: a page map written over (a zeroed leaf links page 0 to
      // itself) ends the search, remembered for allocRun to refuse, instead of looping or handing out live pages.
      if (bucket < EXACT_BUCKETS || bucket > wanted) {
        if (this.listedFreeRun(head, top) >= pages) return head;
        this.listDamage = head;
        return -1;
      }
      for (let page = head, steps = top; page >= 0; steps--) {
        const length = steps > 0 ? this.listedFreeRun(page, top) : 0;
        if (length === 0) {
          this.listDamage = page;
          return -1;
        }
        if (length >= pages) return page;
        page = i32[entryOf(u32, dir, page) + NEXT_W];
      }
      mask &= mask - 1;
    }
    return -1;
  }

  /**
   * Pages of the free run a free list names at `page` (below the top `top`), 0 when no free run starts there: the list
   * was written over (findFit and returnSmallArea then stop, with `listDamage`, rather than loop or hand out live pages).
   */
  private listedFreeRun(page: number, top: number): number {
    if (page < this.first || page >= top) return 0;
    const tag = this.i32[entryOf(this.u32, this.dir, page) + TAG_W];
    return tag < 0 ? -tag : 0;
  }

  /** Pages in the free run starting at `page`, 0 if it is not a free run's start. */
  private freeRunAt(page: number): number {
    if (page >= this.top) return 0;
    const tag = this.tag(page);
    return tag < 0 ? -tag : 0;
  }

  /** True when a free run starts at `page` and reaches the top: growth would extend it. */
  private freeRunEndsAtTop(page: number): boolean {
    const length = this.freeRunAt(page);
    return length > 0 && page + length === this.top;
  }

  /** Allocates `pages` from the free run at `page` (its lowest pages). */
  private take(page: number, pages: number, owner: number, zero: boolean): void {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const u32 = this.u32;
    const u8 = this.u8;
    // Every access below reads its slot off `at` (a page's entry): one directory lookup, not one per access.
    const leaf = u32[dir + (page >>> REGION_PAGE_SHIFT)];
    const inRegion = page & PAGE_IN_REGION;
    const at = (leaf >>> 2) + inRegion;
    const length = -i32[at + TAG_W];
    this.unlinkFree(page, at, length);
    // The free run's two tags need no clearing: the new run's tags and the rest's cover both.
    if (length > pages) this.addFree(page + pages, nextEntryOf(u32, dir, page, at, pages), length - pages);
    i32[h + H_FREE_PAGES] -= pages;
    if (!zero && inRegion + pages <= REGION_PAGES) {
      // The common case inline: one region, whose flags and entries are consecutive.
      const flags = leaf + LEAF_FLAGS + inRegion;
      for (let i = 0; i < pages; i++) {
        u8[flags + i] = PAGE_DIRTY; // the only flag
        u32[at + i] = owner;
      }
    } else {
      this.markTaken(page, pages, owner, zero);
    }
    i32[at + TAG_W] = pages; // the allocated run's tags
    if (pages > 1) i32[lastEntryOf(u32, dir, page, at, pages) + TAG_W] = END_TAG | pages;
    const used = i32[h + H_USED_PAGES] + pages;
    i32[h + H_USED_PAGES] = used;
    if (owner === PageKind.metadata) i32[h + H_METADATA_PAGES] += pages;
    if (used > i32[h + H_PEAK_USED_PAGES]) i32[h + H_PEAK_USED_PAGES] = used;
  }

  /** Marks `pages` pages from `page` written and owned by `owner`, first clearing any written page when `zero`. */
  private markTaken(page: number, pages: number, owner: number, zero: boolean): void {
    const dir = this.dir;
    const u32 = this.u32;
    const u8 = this.u8;
    for (let first = page, left = pages; left > 0;) {
      // A region's flags and entries are consecutive: one directory lookup per region.
      const leaf = u32[dir + (first >>> REGION_PAGE_SHIFT)];
      const inRegion = first & PAGE_IN_REGION;
      const n = left < REGION_PAGES - inRegion ? left : REGION_PAGES - inRegion;
      const flags = leaf + LEAF_FLAGS + inRegion;
      const entries = (leaf >>> 2) + inRegion;
      if (zero) {
        for (let i = 0; i < n; i++) if (u8[flags + i] & PAGE_DIRTY) u8.fill(0, (first + i) * PAGE_SIZE, (first + i + 1) * PAGE_SIZE);
      }
      for (let i = 0; i < n; i++) {
        u8[flags + i] = PAGE_DIRTY; // the only flag
        u32[entries + i] = owner;
      }
      first += n;
      left -= n;
    }
  }

  /** Writes the tags of the free run at `page` (entry `at`) and puts it at the head of its list, in its area's lists. */
  private addFree(page: number, at: number, pages: number): void {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const u32 = this.u32;
    i32[at + TAG_W] = -pages;
    i32[lastEntryOf(u32, dir, page, at, pages) + TAG_W] = -pages;
    const small = this.u8[areaIndex(page, at)] === AREA_SMALL;
    const bucket = bucketOf(pages);
    const list = h + (small ? H_SMALL_FREE_BUCKETS : H_FREE_BUCKETS) + bucket;
    const head = i32[list];
    i32[at + PREV_W] = -1;
    i32[at + NEXT_W] = head;
    if (head >= 0) i32[entryOf(u32, dir, head) + PREV_W] = page;
    i32[list] = page;
    if (head < 0) i32[h + (small ? H_SMALL_FREE_BITMAP : H_FREE_BITMAP)] |= 1 << bucket; // a list that held a run has its bit set already
  }

  /** Takes the free run of `pages` pages at `page` (entry `at`) out of its list (its tags stay). */
  private unlinkFree(page: number, at: number, pages: number): void {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const u32 = this.u32;
    const prev = i32[at + PREV_W];
    const next = i32[at + NEXT_W];
    if (prev >= 0) {
      i32[entryOf(u32, dir, prev) + NEXT_W] = next;
    } else {
      const small = this.u8[areaIndex(page, at)] === AREA_SMALL;
      const bucket = bucketOf(pages);
      i32[h + (small ? H_SMALL_FREE_BUCKETS : H_FREE_BUCKETS) + bucket] = next;
      if (next < 0) i32[h + (small ? H_SMALL_FREE_BITMAP : H_FREE_BITMAP)] &= ~(1 << bucket);
    }
    if (next >= 0) i32[entryOf(u32, dir, next) + PREV_W] = prev;
  }

  /** The area of `page` (AREA_LARGE or AREA_SMALL). */
  private areaOf(page: number): number {
    return this.u8[this.u32[this.dir + (page >>> REGION_PAGE_SHIFT)] + LEAF_AREA + (page & PAGE_IN_REGION)];
  }

  /** Puts `count` pages from `page` in `area`. */
  private setArea(page: number, count: number, area: number): void {
    const u32 = this.u32;
    while (count > 0) {
      const n = Math.min(count, REGION_PAGES - (page & PAGE_IN_REGION));
      const first = u32[this.dir + (page >>> REGION_PAGE_SHIFT)] + LEAF_AREA + (page & PAGE_IN_REGION);
      this.u8.fill(area, first, first + n);
      page += n;
      count -= n;
    }
  }

  /**
   * Gives the small area a chunk: SMALL_CHUNK_PAGES pages from the lowest
   * free run of the large area that holds them (growing the memory if none
   * does and `grow`), or false. Lowest, not best fit: the chunks gather at the bottom of
   * the heap, out of the holes large blocks leave between them (best fit
   * failed the stress at 75% full, lowest at none of six seeds). Claims are
   * rare (153 in 102,000 allocations of the stress), so the walk is cheap.
   */
  private claimChunk(grow = true): boolean {
    let run = this.lowestFit(SMALL_CHUNK_PAGES);
    if (run < 0 && grow && this.growFor(SMALL_CHUNK_PAGES, true)) run = this.findFit(SMALL_CHUNK_PAGES, AREA_LARGE);
    if (run < 0) return false;
    const i32 = this.i32;
    const at = entryOf(this.u32, this.dir, run);
    const length = -i32[at + TAG_W];
    this.unlinkFree(run, at, length);
    this.clearTags(run, length); // release() writes the tags of what the run becomes
    i32[this.h + H_FREE_PAGES] -= length; // release() counts them back
    this.setArea(run, SMALL_CHUNK_PAGES, AREA_SMALL);
    // The chunk first: the pages after it still read as the old run's inner pages, so it joins only small neighbours.
    this.release(run, at, SMALL_CHUNK_PAGES, true);
    if (length > SMALL_CHUNK_PAGES) {
      const rest = run + SMALL_CHUNK_PAGES;
      this.release(rest, entryOf(this.u32, this.dir, rest), length - SMALL_CHUNK_PAGES);
    }
    return true;
  }

  /** The lowest free run of the large area of at least `pages` pages, or -1: a walk over every run from the base. */
  private lowestFit(pages: number): number {
    const top = this.top;
    for (let page = this.first; page < top;) {
      const tag = this.tag(page);
      if (tag < 0 && -tag >= pages && this.areaOf(page) === AREA_LARGE) return page;
      const length = tag < 0 ? -tag : tag;
      if (length <= 0 || length >= END_TAG) return -1; // broken tags: check() reports them
      page += length;
    }
    return -1;
  }

  /** Moves every free run of the small area to the large area. Returns false when there was none. */
  private returnSmallArea(): boolean {
    const h = this.h;
    const i32 = this.i32;
    if (i32[h + H_SMALL_FREE_BITMAP] === 0) return false;
    for (let steps = i32[h + H_TOP_PAGE]; i32[h + H_SMALL_FREE_BITMAP] !== 0; steps--) {
      const bucket = 31 - Math.clz32(i32[h + H_SMALL_FREE_BITMAP] & -i32[h + H_SMALL_FREE_BITMAP]);
      const page = i32[h + H_SMALL_FREE_BUCKETS + bucket];
      if (steps <= 0 || this.listedFreeRun(page, i32[h + H_TOP_PAGE]) === 0) {
        this.listDamage = page; // as findFit: a list naming no free run was written over; allocRun refuses
        return false;
      }
      const at = entryOf(this.u32, this.dir, page);
      const length = -i32[at + TAG_W];
      this.unlinkFree(page, at, length);
      this.clearTags(page, length); // release() writes the tags of the run it joins
      i32[h + H_FREE_PAGES] -= length; // release() counts them back
      this.setArea(page, length, AREA_LARGE);
      this.release(page, at, length);
    }
    return true;
  }

  /**
   * Adds pages [page, page + pages) to the free runs, coalescing with free
   * neighbours of their area. A free run of the small area two chunks long
   * goes back to the large area (and joins its free neighbours there),
   * unless `keepSmall` (a chunk just claimed).
   */
  private release(page: number, at: number, pages: number, keepSmall = false): void {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const u32 = this.u32;
    const u8 = this.u8;
    const area = u8[areaIndex(page, at)];
    let start = page;
    let startAt = at;
    let length = pages;
    // A neighbour's tag next to the freed pages becomes an inner page's (cleared here); its far
    // tag becomes the merged run's (addFree writes it).
    if (page > this.first) {
      const leftLast = (page & PAGE_IN_REGION) !== 0 ? at - 1 : entryOf(u32, dir, page - 1);
      const leftLength = -i32[leftLast + TAG_W];
      if (leftLength > 0 && u8[areaIndex(page - 1, leftLast)] === area) {
        start = page - leftLength;
        startAt = (page & PAGE_IN_REGION) >= leftLength ? at - leftLength : entryOf(u32, dir, start);
        length += leftLength;
        this.unlinkFree(start, startAt, leftLength);
        i32[leftLast + TAG_W] = 0;
      }
    }
    const right = page + pages;
    if (right < i32[h + H_TOP_PAGE]) {
      const rightAt = nextEntryOf(u32, dir, page, at, pages);
      const rightLength = -i32[rightAt + TAG_W];
      if (rightLength > 0 && u8[areaIndex(right, rightAt)] === area) {
        this.unlinkFree(right, rightAt, rightLength);
        i32[rightAt + TAG_W] = 0;
        length += rightLength;
      }
    }
    i32[h + H_FREE_PAGES] += pages;
    if (area === AREA_SMALL && length >= SMALL_RETURN_PAGES && !keepSmall) {
      // Two chunks' worth of free pages: the small area gives them back (so they can join the large area's runs).
      i32[h + H_FREE_PAGES] -= length; // counted again below
      i32[startAt + TAG_W] = 0;
      i32[lastEntryOf(u32, dir, start, startAt, length) + TAG_W] = 0;
      this.setArea(start, length, AREA_LARGE);
      this.release(start, startAt, length);
      return;
    }
    this.addFree(start, startAt, length);
  }

  /**
   * Shrinks the memory to `keep` free top pages when its top free run is
   * longer than `threshold`. With `keep` 0 it also drops page-map leaves at
   * the top that describe only pages above them, and goes on shrinking.
   */
  private maybeShrink(threshold: number, keep: number): void {
    const h = this.h;
    if (!this.mem.canShrink) return;
    const i32 = this.i32;
    for (;;) {
      const top = this.top;
      if (top === this.first) return;
      const last = i32[entryOf(this.u32, this.dir, top - 1) + TAG_W];
      if (last < 0) {
        const length = -last;
        if (length <= threshold || length <= keep) return;
        const start = top - length;
        const newTop = start + keep;
        const at = entryOf(this.u32, this.dir, start);
        this.unlinkFree(start, at, length);
        this.clearTags(start, length);
        if (keep > 0) this.addFree(start, at, keep);
        i32[h + H_FREE_PAGES] -= length - keep;
        i32[h + H_TOP_PAGE] = newTop;
        i32[h + H_SHRINK_COUNT]++;
        this.mem.shrink(newTop * PAGE_SIZE);
        if (keep > 0) return;
      } else if (keep > 0 || !this.dropTopLeaves(top, last)) {
        return;
      }
    }
  }

  /**
   * Frees the page-map leaves (placed low, each a run of its own) of regions
   * that lie wholly at or above the top: they describe no page now. Returns
   * true when it freed any. Called with the lock held.
   */
  private dropLeavesAboveTop(): boolean {
    const dir = this.dir;
    const u32 = this.u32;
    let dropped = false;
    for (let region = 0; region < MAX_REGIONS; region++) {
      const leaf = u32[dir + region];
      if (leaf === 0 || region << REGION_PAGE_SHIFT < this.top) continue;
      const page = leaf >>> PAGE_SHIFT;
      if (page >= this.top || this.tag(page) !== LEAF_PAGES || this.ownerOf(leaf) !== PageKind.metadata) continue;
      u32[dir + region] = 0;
      this.clearAllocated(page, entryOf(u32, dir, page), LEAF_PAGES);
      this.i32[this.h + H_METADATA_PAGES] -= LEAF_PAGES;
      this.release(page, entryOf(u32, dir, page), LEAF_PAGES);
      dropped = true;
    }
    return dropped;
  }

  /**
   * Memory that cannot shrink: lowers the top to the lowest region boundary
   * from which every page up is free or a page-map leaf of a region at or
   * above it, so those regions leave the heap and their leaves are freed
   * (the footprint goes back to what the heap holds). Their pages become the
   * reserve (H_RESERVE_TOP), taken back by reclaimReserve before the memory
   * grows. Keeps at least one page per leaf the regions would need again, so
   * that taking them back always fits. Lock held.
   */
  private giveBackRegions(): void {
    const h = this.h;
    const i32 = this.i32;
    const u32 = this.u32;
    const dir = this.dir;
    const top = this.top;
    const lowest = ((this.first >>> REGION_PAGE_SHIFT) + 1) << REGION_PAGE_SHIFT; // the header's region stays
    if (top <= lowest) return;
    const leafRegion = new Map<number, number>(); // leaf's first page -> its region
    for (let region = 0; region < MAX_REGIONS; region++) {
      if (u32[dir + region] !== 0) leafRegion.set(u32[dir + region] >>> PAGE_SHIFT, region);
    }
    // Walk the runs down from the top: free runs, and leaves of regions no lower than the boundary, may go.
    let best = top;
    let crossed = -1;
    let minLeafRegion = MAX_REGIONS;
    for (let page = top; page > lowest;) {
      const last = this.tag(page - 1);
      let start: number;
      if (last < 0) start = page + last;
      else {
        start = page - (last >= END_TAG ? last - END_TAG : last);
        const region = leafRegion.get(start);
        if (region === undefined || page - start !== LEAF_PAGES || this.ownerOf(start * PAGE_SIZE) !== PageKind.metadata) break;
        minLeafRegion = Math.min(minLeafRegion, region);
      }
      const boundary = Math.max(((start + REGION_PAGES - 1) >>> REGION_PAGE_SHIFT) << REGION_PAGE_SHIFT, lowest);
      if (boundary > minLeafRegion << REGION_PAGE_SHIFT || start < this.first) break;
      const regions = ((top - 1) >>> REGION_PAGE_SHIFT) - (boundary >>> REGION_PAGE_SHIFT) + 1;
      // A leaf must lie wholly on one side of the boundary: one that straddles it rules that boundary out.
      if (last >= 0 && boundary > start && boundary < page) crossed = boundary;
      if (boundary < best && boundary !== crossed && top - boundary >= regions * LEAF_PAGES) best = boundary;
      page = start;
    }
    if (best >= top) return;
    // Free runs above the boundary leave their lists (one that crosses it keeps its part below); leaves above it go
    // with their regions.
    for (let page = top; page > best;) {
      const last = this.tag(page - 1);
      if (last < 0) {
        const start = page + last;
        const at = entryOf(u32, dir, start);
        this.unlinkFree(start, at, -last);
        this.clearTags(start, -last);
        if (start < best) this.addFree(start, at, best - start);
        i32[h + H_FREE_PAGES] -= page - Math.max(start, best);
        page = start;
      } else {
        i32[h + H_USED_PAGES] -= LEAF_PAGES;
        i32[h + H_METADATA_PAGES] -= LEAF_PAGES;
        page -= LEAF_PAGES;
      }
    }
    i32[h + H_TOP_PAGE] = best;
    i32[h + H_RESERVE_TOP] = Math.max(i32[h + H_RESERVE_TOP], top);
    // The regions' leaves that lie below the boundary are freed; the directory forgets them all.
    for (let region = best >>> REGION_PAGE_SHIFT; region < MAX_REGIONS; region++) {
      const leaf = u32[dir + region];
      if (leaf === 0) continue;
      const page = leaf >>> PAGE_SHIFT;
      if (page < best) {
        this.clearAllocated(page, entryOf(u32, dir, page), LEAF_PAGES);
        i32[h + H_METADATA_PAGES] -= LEAF_PAGES;
        u32[dir + region] = 0;
        this.release(page, entryOf(u32, dir, page), LEAF_PAGES);
      } else {
        u32[dir + region] = 0;
      }
    }
  }

  /**
   * Takes the reserve (pages trim() gave back, see giveBackRegions) into the
   * heap again as free pages, with new leaves: before the memory grows, and
   * before pages above the top are taken for foreign. They hold old bytes:
   * marked written. Lock held.
   */
  private reclaimReserve(): void {
    const h = this.h;
    const reserve = this.i32[h + H_RESERVE_TOP];
    const top = this.top;
    if (reserve > top) {
      this.cover(top, reserve);
      const u8 = this.u8;
      for (let page = top; page < this.top; page++) u8[this.flagsIndex(page)] |= PAGE_DIRTY;
    }
    this.i32[h + H_RESERVE_TOP] = 0;
  }

  /** Drops the run of page-map leaves ending at `top` if it describes nothing below it. */
  private dropTopLeaves(top: number, lastTag: number): boolean {
    const h = this.h;
    const dir = this.dir;
    const length = lastTag >= END_TAG ? lastTag - END_TAG : lastTag;
    const start = top - length;
    if (length <= 0 || this.ownerOf(start * PAGE_SIZE) !== PageKind.metadata) return false; // leaves only, not a foreign run
    const u32 = this.u32;
    const regions: number[] = [];
    for (let region = 0; region < MAX_REGIONS; region++) {
      const leafPage = u32[dir + region] >>> PAGE_SHIFT;
      if (u32[dir + region] === 0 || leafPage < start || leafPage >= top) continue;
      if (region << REGION_PAGE_SHIFT < start) return false; // it describes live pages below
      regions.push(region);
    }
    if (regions.length * LEAF_PAGES !== length) return false; // not a run of leaves only
    for (const region of regions) u32[dir + region] = 0;
    const i32 = this.i32;
    i32[h + H_USED_PAGES] -= length;
    i32[h + H_METADATA_PAGES] -= length;
    i32[h + H_TOP_PAGE] = start;
    i32[h + H_SHRINK_COUNT]++;
    this.mem.shrink(start * PAGE_SIZE);
    return true;
  }

  /**
   * Grows the memory so a free run of `pages` exists. Returns false, growing
   * nothing, when it cannot. The plan is exact: {@linkcode PageHeap.cover}
   * puts the new regions' leaves at the start of the free run at the top, so
   * that run, the new pages and nothing else make the run the request gets;
   * a request that fits below the most pages never fails for want of a
   * page or two. A `chunk` (the small area's) is itself room to spare: its
   * pages count toward the step of slack.
   */
  private growFor(pages: number, chunk = false): boolean {
    if (this.listDamage !== -1) return false; // a damaged free list made the search fail: growing would not mend it
    const h = this.h;
    this.mem.refresh();
    // Pages above the top that the heap did not grow (a WASM module's own memory.grow) become a foreign run
    // first: the heap's own growth goes on above them, never inside them.
    if (!this.adoptForeign()) return false;
    const i32 = this.i32;
    const currentTop = this.top;
    const maxPages = this.maxPages;
    const minimal = this.plan(currentTop, pages, 0, maxPages);
    if (minimal < 0) return false;
    // A WebAssembly.Memory never shrinks: it grows by what is needed plus an eighth of the heap's own pages;
    // other memory doubles (see MAX_GROW_STEP_PAGES).
    const heapPages = currentTop - this.first - i32[h + H_FOREIGN_PAGES];
    const slack = this.mem.kind === MemoryKind.wasm ? heapPages >>> WASM_SLACK_SHIFT : currentTop;
    let step = Math.max(i32[h + H_GROW_PAGES], Math.min(slack, MAX_GROW_STEP_PAGES));
    if (chunk) step = Math.max(0, step - pages);
    // The step to spare, or as much of it as lies below the most pages.
    const generous = this.plan(currentTop, pages, step, maxPages);
    const chosen = generous >= 0 ? generous : Math.max(this.fits(currentTop, pages, maxPages), minimal);
    if (!this.mem.grow(chosen * PAGE_SIZE) && (chosen === minimal || !this.mem.grow(minimal * PAGE_SIZE))) return false;
    const memoryPages = Math.min(this.mem.byteLength >>> PAGE_SHIFT, maxPages);
    this.cover(currentTop, memoryPages);
    this.i32[this.h + H_GROW_COUNT]++; // i32 may be stale: growing a WebAssembly.Memory replaces the views
    return true;
  }

  /**
   * The least number of pages to grow the memory to (at most `maxPages`, a
   * whole number of the memory's growth units) so that, after the leaves of
   * the regions it adds, the free run at the top holds `pages` with `spare`
   * pages to spare; -1 when no such size is at most `maxPages`.
   */
  private plan(top: number, pages: number, spare: number, maxPages: number): number {
    const unit = Math.max(1, this.mem.growUnit / PAGE_SIZE);
    let target = top;
    for (;;) {
      // What growing to `target` covers: the engine grows in whole units, the heap covers up to maxPages.
      const covered = Math.min(Math.ceil(target / unit) * unit, maxPages);
      if (this.fits(top, pages + spare, covered) >= 0) return covered;
      const needed = this.runStart(top) + this.leafPagesAtTop(top, covered) + pages + spare;
      if (covered >= maxPages || needed <= target) return -1;
      target = needed;
    }
  }

  /** `covered` when covering the memory up to it leaves a free run of `pages` at the top (see cover), else -1. */
  private fits(top: number, pages: number, covered: number): number {
    return covered - this.runStart(top) - this.leafPagesAtTop(top, covered) >= pages ? covered : -1;
  }

  /**
   * Pages the leaves of the regions from `top` to `newTop` take from the run
   * at the top (see cover): none when no free run is at the top and a free
   * run elsewhere holds them all.
   */
  private leafPagesAtTop(top: number, newTop: number): number {
    const pages = this.leavesNeeded(top, newTop) * LEAF_PAGES;
    return pages > 0 && this.runStart(top) === top && this.findFit(pages, AREA_LARGE) >= 0 ? 0 : pages;
  }

  /** Where the free run of the large area at the top starts: `top` when its last page is in use or small. */
  private runStart(top: number): number {
    const last = top > this.first ? this.i32[entryOf(this.u32, this.dir, top - 1) + TAG_W] : 0;
    return last < 0 && this.areaOf(top - 1) === AREA_LARGE ? top + last : top;
  }

  /** How many regions from `top` up to `target` have no leaf yet: each needs one before its pages can be used. */
  private leavesNeeded(top: number, target: number): number {
    const dir = this.dir;
    let count = 0;
    const u32 = this.u32;
    for (let region = top >>> REGION_PAGE_SHIFT; region <= (target - 1) >>> REGION_PAGE_SHIFT; region++) {
      if (u32[dir + region] === 0) count++;
    }
    return count;
  }

  /**
   * Pages above the top that the heap did not grow (a WASM module's own
   * `memory.grow`, a user's resize) become one foreign run: inside the
   * heap's span, so its own growth can go on above them, never handed out,
   * not counted as used. Their regions' leaves go together in a free run of
   * the large area that holds them all, or failing that in pages grown right
   * above them (a whole number of the memory's growth units). Returns false
   * when those leaves find no room (the memory cannot grow): the heap then
   * cannot grow either, and the pages stay outside it. Called with the lock
   * held.
   */
  private adoptForeign(): boolean {
    this.reclaimReserve(); // the heap's own pages first: they are not foreign
    const top = this.top;
    const maxPages = this.maxPages;
    const end = Math.min(this.mem.byteLength >>> PAGE_SHIFT, maxPages);
    if (end <= top) return true;
    const leaves = this.leavesNeeded(top, end) * LEAF_PAGES;
    if (leaves === 0 || this.findFit(leaves, AREA_LARGE) >= 0) {
      this.cover(top, end, end);
      return true;
    }
    // Grow by the leaves (and the leaves of the pages grown for them), placed right above the foreign pages.
    const unit = Math.max(1, this.mem.growUnit / PAGE_SIZE);
    let target = end;
    for (;;) {
      const covered = Math.min(Math.ceil(target / unit) * unit, maxPages);
      const needed = end + this.leavesNeeded(top, covered) * LEAF_PAGES;
      if (covered >= needed) {
        target = covered;
        break;
      }
      if (covered >= maxPages) return false;
      target = needed;
    }
    if (!this.mem.grow(target * PAGE_SIZE)) return false;
    this.cover(top, Math.min(this.mem.byteLength >>> PAGE_SHIFT, maxPages), end);
    this.i32[this.h + H_GROW_COUNT]++; // i32 may be stale: growing a WebAssembly.Memory replaces the views
    return true;
  }

  /**
   * Makes pages [top, newTop) part of the heap. The leaves of the regions
   * they add go together at the start of the free run at the top, and the
   * rest of that run and the new pages become one free run, so the run at
   * the top only ever grows by what growFor planned. When the last page is
   * in use, the leaves go in a free run elsewhere that holds them all (best
   * fit), so a run ending at the top can grow into the new pages; failing
   * that, at `top`. Regions whose leaves do not fit in those pages (a few
   * pages handed in) are left for a later cover.
   *
   * Pages [top, foreignEnd) are not the heap's (they hold someone else's
   * bytes, see adoptForeign): they become a foreign run, no leaf goes in
   * them, and no free run joins across them: the leaves go in a free run
   * elsewhere or right after them, as adoptForeign planned.
   */
  private cover(top: number, newTop: number, foreignEnd = top): void {
    const h = this.h;
    const dir = this.dir;
    const u32 = this.u32;
    const i32 = this.i32;
    const u8 = this.u8;
    const foreign = foreignEnd > top;
    const start = foreign ? foreignEnd : this.runStart(top);
    while (!foreign && newTop > top && start + this.leavesNeeded(top, newTop) * LEAF_PAGES > newTop) {
      newTop = Math.max(top, ((newTop - 1) >>> REGION_PAGE_SHIFT) << REGION_PAGE_SHIFT);
    }
    if (newTop <= top) return;
    const leaves = this.leavesNeeded(top, newTop) * LEAF_PAGES;
    const leafPages = foreign ? (leaves > 0 && this.findFit(leaves, AREA_LARGE) >= 0 ? 0 : leaves) : this.leafPagesAtTop(top, newTop);
    // Elsewhere: the leaves' run is taken (zeroed, counted as metadata) before the directory names it.
    const elsewhere = leaves > 0 && leafPages === 0 && (foreign || start === top) ? this.findFit(leaves, AREA_LARGE) : -1;
    if (elsewhere >= 0) {
      this.take(elsewhere, leaves, PageKind.metadata, true);
      this.splitLeafRuns(elsewhere, leaves);
    }
    let cursor = elsewhere >= 0 ? elsewhere : start;
    for (let region = top >>> REGION_PAGE_SHIFT; region <= (newTop - 1) >>> REGION_PAGE_SHIFT; region++) {
      if (u32[dir + region] !== 0) continue;
      u32[dir + region] = cursor * PAGE_SIZE;
      u8.fill(0, cursor * PAGE_SIZE, cursor * PAGE_SIZE + LEAF_BYTES); // handed-in memory may hold old bytes
      cursor += LEAF_PAGES;
    }
    if (start < top) {
      // The free run at the top leaves its list: the leaves and the run after them are written anew below.
      const at = entryOf(u32, dir, start);
      this.unlinkFree(start, at, top - start);
      this.clearTags(start, top - start);
      i32[h + H_FREE_PAGES] -= top - start;
    }
    // Forget whatever the leaves said of these pages before a shrink.
    for (let page = top; page < newTop; page++) {
      u32[this.slot(page, 0)] = 0;
      this.setTag(page, 0);
      u8[this.flagsIndex(page)] = 0;
    }
    this.setArea(top, newTop - top, AREA_LARGE);
    i32[h + H_TOP_PAGE] = newTop;
    if (foreign) {
      // Flags stay clear: the heap never hands these pages out, so whether they were written does not matter to it.
      this.writeAllocated(top, foreignEnd - top, FOREIGN_ENTRY);
      i32[h + H_FOREIGN_PAGES] += foreignEnd - top;
    }
    if (elsewhere < 0 && cursor > start) {
      this.writeAllocated(start, cursor - start, PageKind.metadata);
      this.splitLeafRuns(start, cursor - start);
      for (let page = start; page < cursor; page++) u8[this.flagsIndex(page)] = PAGE_DIRTY;
      i32[h + H_USED_PAGES] += cursor - start;
      i32[h + H_METADATA_PAGES] += cursor - start;
      if (i32[h + H_USED_PAGES] > i32[h + H_PEAK_USED_PAGES]) i32[h + H_PEAK_USED_PAGES] = i32[h + H_USED_PAGES];
    }
    const free = elsewhere < 0 ? cursor : start;
    if (newTop > free) this.release(free, entryOf(u32, dir, free), newTop - free);
  }

  /** Makes the allocated run of `pages` leaf pages at `page` one run per leaf: trim() can then free each on its own. */
  private splitLeafRuns(page: number, pages: number): void {
    if (pages <= LEAF_PAGES) return;
    this.clearTags(page, pages);
    for (let leaf = page; leaf < page + pages; leaf += LEAF_PAGES) this.writeTags(leaf, LEAF_PAGES);
  }

  /** Tags an allocated run's first and last pages with its length. */
  private writeTags(page: number, pages: number): void {
    this.setTag(page, pages);
    if (pages > 1) this.setTag(page + pages - 1, END_TAG | pages);
  }

  /** Marks a run allocated to `owner`: its tags and every page's owner. */
  private writeAllocated(page: number, pages: number, owner: number): void {
    this.writeTags(page, pages);
    this.setOwner(page, pages, owner);
  }

  /** Clears a run's end tags when it stops being a run of its own: merged into the run before it, or cut off the top. */
  private clearTags(page: number, pages: number): void {
    this.setTag(page, 0);
    this.setTag(page + pages - 1, 0);
  }

  /** Unmarks the allocated run of `pages` pages at `page` (entry `at`): tags and owners cleared, used pages counted down. */
  private clearAllocated(page: number, at: number, pages: number): void {
    const h = this.h;
    const dir = this.dir;
    const i32 = this.i32;
    const u32 = this.u32;
    i32[at + TAG_W] = 0;
    i32[lastEntryOf(u32, dir, page, at, pages) + TAG_W] = 0;
    if (pages > 0 && (page & PAGE_IN_REGION) + pages <= REGION_PAGES) {
      for (let i = 0; i < pages; i++) u32[at + i] = 0; // one region (most runs): consecutive entries
    } else {
      this.setOwner(page, pages, 0);
    }
    i32[h + H_USED_PAGES] -= pages;
  }

  // ---- reports ---------------------------------------------------------------

  /** Counters, read without a lock (a snapshot that may be slightly stale). */
  stats(): PageHeapStats {
    const h = this.h;
    const i32 = this.i32;
    let runs = 0;
    let largest = 0;
    const most = Math.min(this.top, this.mem.byteLength >>> PAGE_SHIFT); // no more runs than pages, whatever a damaged top says
    for (const buckets of [H_FREE_BUCKETS, H_SMALL_FREE_BUCKETS]) {
      for (let bucket = 0; bucket < FREE_BUCKETS; bucket++) {
        for (let page = i32[h + buckets + bucket]; page >= 0 && runs <= most; page = this.next(page)) {
          runs++;
          largest = Math.max(largest, -this.tag(page));
        }
      }
    }
    return {
      topPages: this.top,
      usedPages: i32[h + H_USED_PAGES],
      peakUsedPages: i32[h + H_PEAK_USED_PAGES],
      freePages: i32[h + H_FREE_PAGES],
      metadataPages: i32[h + H_METADATA_PAGES],
      freeRuns: runs,
      largestFreeRun: largest,
      growCount: i32[h + H_GROW_COUNT],
      shrinkCount: i32[h + H_SHRINK_COUNT],
      basePage: this.first,
      foreignPages: i32[h + H_FOREIGN_PAGES] +
        Math.max(0, Math.min(this.mem.byteLength >>> PAGE_SHIFT, i32[h + H_MAX_PAGES]) - Math.max(this.top, i32[h + H_RESERVE_TOP])),
      reservePages: this.reservePages,
    };
  }

  /**
   * Walks every run from page 0 to the top and checks the tags, the free list
   * and the counters agree, every page-map leaf sits in metadata pages, and
   * every page of a backend's run is marked written (so a zeroing allocation
   * clears it once it is free again). Calls `visit(firstPage, pages, owner)`
   * for each allocated run so backends can check their own pages. Changes
   * nothing. Returns false when the header is too broken to walk the pages
   * (see {@linkcode PageHeap.checkHeader}). The walk is in page_check.ts.
   */
  check(problems: CheckProblem[], visit?: (page: number, pages: number, owner: number) => void): boolean {
    return checkPages(this.checkState(), problems, visit);
  }

  /**
   * The cheap part of {@linkcode PageHeap.check}, constant work whatever the
   * memory holds: the header's fixed words, the top inside the memory, the
   * page counters adding up to the top, the free-list heads against the
   * bitmap, the lock words, and the page-map directory. Returns false when
   * the top or the directory is broken: then no walk over the pages may be
   * trusted to end inside the memory, and the caller must not start one.
   * Without `counters` only what no other worker's operation in flight can
   * make look wrong for a moment is checked (for attaching, which takes no
   * lock): the counters and the free-list heads are left out.
   */
  checkHeader(problems: CheckProblem[], counters = true): boolean {
    return checkPageHeader(this.checkState(), problems, counters);
  }

  /** What page_check.ts reads (cold: built per check). */
  private checkState(): PageCheckState {
    return {
      mem: this.mem,
      h: this.h,
      dir: this.dir,
      first: this.first,
      top: this.top,
      i32: this.i32,
      u32: this.u32,
      u8: this.u8,
      tag: (page) => this.tag(page),
      next: (page) => this.next(page),
      prev: (page) => this.prev(page),
      areaOf: (page) => this.areaOf(page),
      ownerOf: (ptr) => this.ownerOf(ptr),
      flagsIndex: (page) => this.flagsIndex(page),
    };
  }
}
