/**
 * The mmap backend: large blocks as whole page runs from the page heap, freed
 * straight back. A block is its run: it starts on a page boundary, its usable
 * size is its pages, and the page heap's boundary tags are its only header.
 * Realloc grows in place when the pages after the run are free, and shrinks
 * in place by freeing the tail.
 *
 * Shared state (its area of the header): live blocks, live pages, peak pages,
 * allocations, frees, failures. All page work goes through the page heap's
 * lock; this backend holds no lock of its own.
 * @module
 */

import { describe, HakmemError } from "../../core/errors.ts";
import { KIND_MASK, PAGE_SHIFT, PAGE_SIZE } from "../../memory/layout.ts";
import type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendHealth,
  BackendStats,
  Capabilities,
  CheckLevel,
  CheckProblem,
  MemoryDescription,
  RegionDescription,
} from "../../router/box.ts";

// Words of the shared area, from its first word.
const LIVE_BLOCKS = 0; // blocks allocated and not freed
const LIVE_PAGES = 1; // pages in those blocks
const PEAK_PAGES = 2; // most live pages at once
const ALLOCS = 3; // blocks handed out
const FREES = 4; // blocks taken back
const FAILURES = 5; // allocations the page heap could not serve

/**
 * Page runs for large blocks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { MmapBackend, mmapBackend } from "./mmap.ts";
 * const heap = createHeap({ backends: [mmapBackend] });
 * const backend = heap.router.backends[0];
 * assert.ok(backend instanceof MmapBackend);
 * assert.equal(backend.capabilities.alignment, 4096);
 * ```
 */
export class MmapBackend implements Backend {
  /** Serves any size, page aligned, and any power-of-two alignment. */
  readonly capabilities: Capabilities;
  private readonly context: BackendContext;
  private readonly area: number;

  /** A backend over the context's page heap; its counters live at the context's area in the memory. */
  constructor(context: BackendContext) {
    this.context = context;
    this.area = context.areaWord;
    this.capabilities = {
      name: "mmap",
      minSize: 1,
      maxSize: Infinity, // any size: beyond the memory it returns 0
      alignment: PAGE_SIZE,
      sharedMemorySafe: true,
      alignedAlloc: true,
    };
  }

  alloc(size: number): number {
    return this.allocPages(pagesFor(size), false);
  }

  allocZeroed(size: number): number {
    return this.allocPages(pagesFor(size), true);
  }

  allocAligned(size: number, alignment: number): number {
    if (alignment <= PAGE_SIZE) return this.alloc(size);
    const pages = pagesFor(size);
    const slack = alignment / PAGE_SIZE - 1;
    const ptr = this.allocPages(pages + slack, false);
    if (ptr === 0) return 0;
    const aligned = Math.ceil(ptr / alignment) * alignment;
    const head = (aligned - ptr) >>> PAGE_SHIFT;
    const heap = this.context.pages;
    const page = ptr >>> PAGE_SHIFT;
    if (head + pages < pages + slack) heap.shrinkRun(page, head + pages);
    if (head > 0) heap.dropHead(page, head);
    this.context.mem.add(this.area + LIVE_PAGES, -slack);
    return aligned;
  }

  /** A run of `pages` pages (zeroed when `zero`), counted, as a byte offset; 0 when the page heap has no room. */
  private allocPages(pages: number, zero: boolean): number {
    const { pages: heap, mem, kind } = this.context;
    const page = heap.allocRun(pages, kind, zero);
    if (page < 0) {
      mem.add(this.area + FAILURES, 1);
      return 0;
    }
    mem.add(this.area + LIVE_BLOCKS, 1);
    mem.add(this.area + LIVE_PAGES, pages);
    mem.add(this.area + ALLOCS, 1);
    const i32 = mem.i32;
    if (i32[this.area + LIVE_PAGES] > i32[this.area + PEAK_PAGES]) i32[this.area + PEAK_PAGES] = i32[this.area + LIVE_PAGES];
    return page * PAGE_SIZE;
  }

  /** The run's page count, or throws for a pointer that starts no live block here. */
  private blockPages(ptr: number): number {
    const { pages: heap, kind } = this.context;
    const owner = heap.ownerOf(ptr);
    if ((owner & KIND_MASK) !== kind) {
      if (owner === 0 && (ptr & (PAGE_SIZE - 1)) === 0) {
        throw new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} is not allocated: freed already, or never handed out`, ptr);
      }
      throw new HakmemError("INVALID_POINTER", `pointer ${describe(ptr)} is not in an mmap block`, ptr);
    }
    const pages = (ptr & (PAGE_SIZE - 1)) === 0 ? heap.runPages(ptr >>> PAGE_SHIFT) : 0;
    if (pages === 0) {
      throw new HakmemError("INTERIOR_POINTER", `pointer ${describe(ptr)} points inside an mmap block, not at its start`, ptr);
    }
    return pages;
  }

  free(ptr: number, _pageEntry?: number): void {
    const pages = this.blockPages(ptr);
    const { pages: heap, mem } = this.context;
    heap.freeRun(ptr >>> PAGE_SHIFT);
    mem.add(this.area + LIVE_BLOCKS, -1);
    mem.add(this.area + LIVE_PAGES, -pages);
    mem.add(this.area + FREES, 1);
  }

  resizeInPlace(ptr: number, size: number): boolean {
    const pages = this.blockPages(ptr);
    const wanted = pagesFor(size);
    const { pages: heap, mem } = this.context;
    const page = ptr >>> PAGE_SHIFT;
    if (wanted < pages) heap.shrinkRun(page, wanted);
    else if (wanted > pages && !heap.extendRun(page, wanted - pages)) return false;
    mem.add(this.area + LIVE_PAGES, wanted - pages);
    const i32 = mem.i32;
    if (i32[this.area + LIVE_PAGES] > i32[this.area + PEAK_PAGES]) i32[this.area + PEAK_PAGES] = i32[this.area + LIVE_PAGES];
    return true;
  }

  owns(ptr: number): boolean {
    const { pages: heap, kind } = this.context;
    return (heap.ownerOf(ptr) & KIND_MASK) === kind && (ptr & (PAGE_SIZE - 1)) === 0 && heap.runPages(ptr >>> PAGE_SHIFT) > 0;
  }

  usableSize(ptr: number): number {
    return this.blockPages(ptr) * PAGE_SIZE;
  }

  health(): BackendHealth {
    const i32 = this.context.mem.i32;
    const a = this.area;
    return {
      name: "mmap",
      ready: true,
      counters: { allocs: i32[a + ALLOCS], frees: i32[a + FREES], failures: i32[a + FAILURES], liveBlocks: i32[a + LIVE_BLOCKS] },
    };
  }

  stats(): BackendStats {
    const i32 = this.context.mem.i32;
    const a = this.area;
    const bytes = i32[a + LIVE_PAGES] * PAGE_SIZE;
    return {
      name: "mmap",
      liveBlocks: i32[a + LIVE_BLOCKS],
      liveBytes: bytes,
      footprintBytes: bytes,
      cachedBytes: 0,
      detail: { peakBytes: i32[a + PEAK_PAGES] * PAGE_SIZE },
    };
  }

  /** Nothing is cached: freed runs went back at once. */
  trim(): number {
    return 0;
  }

  /**
   * Cheap: the counters agree with each other (live = allocs - frees, the
   * peak is at least what is live, every block at least a page). Full: also
   * walks the page heap's runs: the runs of this kind are the live blocks,
   * each page mapped to this kind alone (mmap pages carry no record).
   */
  check(level: CheckLevel, problems: CheckProblem[]): void {
    const { pages: heap, kind, mem } = this.context;
    const i32 = mem.i32;
    const a = this.area;
    const where = "mmap";
    const live = i32[a + LIVE_BLOCKS];
    const livePages = i32[a + LIVE_PAGES];
    if (((i32[a + ALLOCS] - i32[a + FREES]) | 0) !== live) {
      problems.push({ where, message: `${i32[a + ALLOCS]} allocs - ${i32[a + FREES]} frees != ${live} live blocks` });
    }
    if (live < 0 || livePages < live) problems.push({ where, message: `${live} live blocks in ${livePages} live pages` });
    if (i32[a + PEAK_PAGES] < livePages) problems.push({ where, message: `peak pages ${i32[a + PEAK_PAGES]} below the ${livePages} live` });
    if (level !== "full") return;
    let blocks = 0;
    let pages = 0;
    heap.forEachRun((page, count, owner) => {
      if ((owner & KIND_MASK) !== kind) return;
      blocks++;
      pages += count;
      for (let i = 0; i < count; i++) {
        const entry = heap.ownerOf((page + i) * PAGE_SIZE);
        if (entry !== kind) {
          problems.push({
            where,
            message: `page ${page + i} of the block at page ${page} maps to ${describe(entry)}, not to mmap (${kind})`,
          });
          break;
        }
      }
    });
    if (blocks !== live) problems.push({ where, message: `live blocks counted ${live}, runs found ${blocks}` });
    if (pages !== livePages) problems.push({ where, message: `live pages counted ${livePages}, found ${pages}` });
  }

  /** Its blocks for the heap picture: every page run of its kind is one block. */
  describe(): MemoryDescription {
    const { pages: heap, kind } = this.context;
    const regions: RegionDescription[] = [];
    heap.forEachRun((page, count, owner) => {
      if ((owner & KIND_MASK) !== kind) return;
      regions.push({ base: page * PAGE_SIZE, pages: count, sizeClass: -1, used: 1, capacity: 1, state: "in use" });
    });
    return { style: "blocks", regionNoun: "block", classSizes: [], regions };
  }
}

function pagesFor(size: number): number {
  return Math.max(1, Math.ceil(size / PAGE_SIZE));
}

/**
 * Builds the mmap backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * import { mmapBackend } from "./mmap.ts";
 * const heap = createHeap({ backends: [mmapBackend] }); // every size as whole pages
 * assert.equal(heap.usableSize(heap.malloc(10)), 4096);
 * ```
 */
export const mmapBackend: BackendFactory = {
  name: "mmap",
  create: (context: BackendContext): Backend => new MmapBackend(context),
};
