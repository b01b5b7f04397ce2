/**
 * Tiny's check (its part of `heap.check()`): cheap, this worker's caches and
 * current slabs agree with the slab records; full, every slab of every
 * SuperSlab is walked: its place, class, bump mark, free and remote lists,
 * list membership, the cached blocks of every worker and the SuperSlabs'
 * active counts. Cold code, apart from the backend (tiny.ts) so that the
 * allocation paths read alone.
 * @module
 */

import { describe } from "../../core/errors.ts";
import { KIND_MASK, MAX_WORKERS, PAGE_SHIFT, PAGE_SIZE } from "../../memory/layout.ts";
import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { CheckLevel, CheckProblem, SlabSource } from "../../router/box.ts";
import { blockDivisor, isMarkedFree, readLink } from "../slab/blocks.ts";
import { CLASS_COUNT, CLASS_SIZES } from "../slab/size_classes.ts";
import type { RecordList } from "../slab/slab.ts";
import * as slabs from "../slab/slab.ts";
import { allCachedBlocks, cachePageOf } from "./cache_page.ts";

/** What the check reads of one tiny heap object. */
export interface TinyCheckState {
  /** The heap's memory. */
  readonly mem: LinearMemory;
  /** The page heap, for the SuperSlab runs and the page map. */
  readonly pages: PageHeap;
  /** Tiny's page kind (in the page map entries of its slabs). */
  readonly kind: number;
  /** Word index of tiny's header area. */
  readonly area: number;
  /** This worker's owner id (worker id + 1). */
  readonly owner: number;
  /** Whether this worker caches blocks. */
  readonly cacheOn: boolean;
  /** Word index of this worker's cache counts. */
  readonly countAt: number;
  /** Per class: the cache's cap. */
  readonly cacheCap: Int32Array;
  /** Per class: this worker's current slab, 0 none. */
  readonly current: Float64Array;
  /** Per class: the first of this worker's slabs with freed blocks. */
  readonly partial: Float64Array;
  /** Per class: the first of this worker's used-up slabs. */
  readonly full: Float64Array;
  /** Per class: the shared list of orphaned slabs. */
  readonly orphans: readonly RecordList[];
  /** The slab sources, each checked after tiny. */
  readonly sources: readonly SlabSource[];
  /** Per slab record, how many of its blocks sit in any worker's cache. */
  cachedPerSlab(): Map<number, number>;
  /** The slab record of a handed-out block's start, or 0. */
  blockSlab(ptr: number): number;
  /** Calls `visit(superslab, slab)` for every slab of every tiny SuperSlab. */
  forEachSlab(visit: (superslab: number, slab: number) => void): void;
  /** Blocks waiting on slab `r`'s remote list (record word index). */
  remoteCount(r: number): number;
}

/** Checks tiny at `level`, adding what is wrong to `problems`, then asks each slab source to check itself. */
export function checkTiny(tiny: TinyCheckState, level: CheckLevel, problems: CheckProblem[]): void {
  const i32 = tiny.mem.i32;
  const where = "tiny";
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    const cached = tiny.cacheOn ? i32[tiny.countAt + cls] : 0;
    if (cached < 0 || cached > tiny.cacheCap[cls]) {
      problems.push({ where, message: `class ${cls} cache holds ${cached} blocks, cap ${tiny.cacheCap[cls]}` });
    }
    const slab = tiny.current[cls];
    if (slab !== 0 && (i32[(slab >>> 2) + slabs.S_STATE] !== slabs.SlabState.current || i32[(slab >>> 2) + slabs.S_CLASS] !== cls)) {
      problems.push({
        where,
        message: `class ${cls}'s current slab ${slab} is in state ${i32[(slab >>> 2) + slabs.S_STATE]} of class ${
          i32[(slab >>> 2) + slabs.S_CLASS]
        }`,
      });
    }
  }
  if (level === "full") checkSlabs(tiny, problems);
  for (const source of tiny.sources) source.check(problems);
}

/**
 * Walks every slab: its place in its SuperSlab, class, bump mark, free and
 * remote lists (in bounds, on block boundaries, no cycles, not cached),
 * free + used = handed out, list membership, SuperSlab active counts. Meant
 * for a quiescent heap: other workers' concurrent frees make it racy.
 */
function checkSlabs(tiny: TinyCheckState, problems: CheckProblem[]): void {
  const i32 = tiny.mem.i32;
  const where = "tiny";
  const cached = tiny.cachedPerSlab();
  const cachedBlocks = new Set<number>();
  const all = allCachedBlocks(tiny.mem, tiny.area);
  for (let i = 0; i < all.length; i += 2) {
    const ptr = all[i];
    const cls = all[i + 1];
    if (cachedBlocks.has(ptr)) problems.push({ where, message: `block ${ptr} is cached twice` });
    cachedBlocks.add(ptr);
    const slab = tiny.blockSlab(ptr);
    if (slab === 0 || i32[(slab >>> 2) + slabs.S_CLASS] !== cls) {
      problems.push({ where, message: `cached block ${ptr} is not a block of class ${cls}` });
    }
    if (!isMarkedFree(i32, ptr)) {
      problems.push({ where, message: `cached block ${ptr} lost its free mark (written after free?)` });
    }
  }
  for (let worker = 0; worker < MAX_WORKERS; worker++) {
    const page = cachePageOf(tiny.mem, tiny.area, worker);
    if (page !== 0 && (page % PAGE_SIZE !== 0 || page >= tiny.mem.byteLength)) {
      problems.push({ where, message: `worker ${worker}'s cache page lies at ${describe(page)}, no page of the memory` });
    }
  }
  // No list can hold more slabs than the memory has room for: a longer walk is going round a damaged link.
  const maxSlabs = Math.ceil(tiny.mem.byteLength / slabs.SLAB_BYTES) + 1;
  const listed = new Set<number>();
  const lists: [Float64Array, number][] = [[tiny.partial, slabs.SlabState.partial], [tiny.full, slabs.SlabState.full]];
  for (const [heads, state] of lists) {
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      let steps = 0;
      for (let slab = heads[cls]; slab !== 0 && steps < maxSlabs; slab = i32[(slab >>> 2) + slabs.S_NEXT] >>> 0, steps++) {
        if (listed.has(slab)) {
          problems.push({ where, message: `slab ${slab} is in two of this worker's lists (or a list goes round)` });
          break;
        }
        listed.add(slab);
        if (i32[(slab >>> 2) + slabs.S_STATE] !== state || i32[(slab >>> 2) + slabs.S_CLASS] !== cls) {
          problems.push({ where, message: `slab ${slab} in class ${cls}'s list is in state ${i32[(slab >>> 2) + slabs.S_STATE]}` });
        }
      }
    }
  }
  for (let cls = 0; cls < CLASS_COUNT; cls++) {
    let steps = 0;
    for (let slab = tiny.orphans[cls].first(); slab !== 0; slab = tiny.orphans[cls].next(slab), steps++) {
      if (steps >= maxSlabs) {
        problems.push({ where, message: `class ${cls}'s orphan list holds more slabs than the memory (a cycle)` });
        break;
      }
      if (i32[(slab >>> 2) + slabs.S_STATE] !== slabs.SlabState.orphan || i32[(slab >>> 2) + slabs.S_CLASS] !== cls) {
        problems.push({ where, message: `slab ${slab} in class ${cls}'s orphan list is in state ${i32[(slab >>> 2) + slabs.S_STATE]}` });
      }
    }
  }
  const activePerSuperslab = new Map<number, number>();
  tiny.forEachSlab((superslab, slab) => {
    const r = slab >>> 2;
    const s = superslab >>> 2;
    const index = i32[r + slabs.S_INDEX];
    if (
      i32[r + slabs.S_SUPERSLAB] >>> 0 !== superslab ||
      (i32[r + slabs.S_BASE] >>> 0) !== slabs.slabBase(i32[s + slabs.SS_BASE] >>> 0, index)
    ) {
      problems.push({ where, message: `slab ${slab} does not sit where its SuperSlab ${superslab} says` });
      return;
    }
    const state = i32[r + slabs.S_STATE];
    if (state === slabs.SlabState.unused && index < i32[s + slabs.SS_UNUSED]) {
      problems.push({ where, message: `slab ${slab} is unused below its SuperSlab's unused mark` });
    }
    // Every page of the slab maps to its record.
    const firstPage = (i32[r + slabs.S_BASE] >>> 0) >>> PAGE_SHIFT;
    for (let page = firstPage; page < firstPage + slabs.SLAB_BYTES / PAGE_SIZE; page++) {
      if (tiny.pages.ownerOf(page << PAGE_SHIFT) !== (slab | tiny.kind)) {
        problems.push({ where, message: `page ${page} of slab ${slab} maps to another record` });
      }
    }
    if (state < slabs.SlabState.current) {
      // A slab without a class has nothing handed out, listed or owned.
      if (i32[r + slabs.S_BUMP] !== 0 || i32[r + slabs.S_FREE] !== 0 || i32[r + slabs.S_OWNER] !== 0 || i32[r + slabs.S_REMOTE] !== 0) {
        problems.push({ where, message: `slab ${slab} has no class but holds bump, free, owner or remote state` });
      }
      return;
    }
    activePerSuperslab.set(superslab, (activePerSuperslab.get(superslab) ?? 0) + 1);
    if (i32[r + slabs.S_DAMAGED] !== 0) {
      problems.push({
        where,
        message: `slab ${slab}: free block ${describe(i32[r + slabs.S_DAMAGED] >>> 0)} was written after it was freed (or a link to ` +
          `it was); the slab's free or remote list was cut there and the blocks after it are out of use`,
      });
    }
    const cls = i32[r + slabs.S_CLASS];
    const size = i32[r + slabs.S_SIZE];
    const ours = i32[r + slabs.S_OWNER] === tiny.owner;
    if (cls < 0 || cls >= CLASS_COUNT || size !== CLASS_SIZES[cls]) {
      problems.push({ where, message: `slab ${slab} has class ${cls} with block size ${size}` });
      return;
    }
    if (
      i32[r + slabs.S_CAPACITY] !== Math.floor(slabs.SLAB_BYTES / size) ||
      i32[r + slabs.S_DIVISOR] !== blockDivisor(size, slabs.SLAB_UNIT_SHIFT)
    ) {
      problems.push({ where, message: `slab ${slab}'s capacity or divisor does not match its class ${size}` });
    }
    if (state === slabs.SlabState.current && ours && tiny.current[cls] !== slab) {
      problems.push({ where, message: `slab ${slab} is CURRENT for this worker but not its current slab of class ${size}` });
    }
    if (ours && (state === slabs.SlabState.partial || state === slabs.SlabState.full) && !listed.has(slab)) {
      problems.push({ where, message: `slab ${slab} (state ${state}) is in none of its owner's lists` });
    }
    if (state === slabs.SlabState.orphan && i32[r + slabs.S_OWNER] !== 0) {
      problems.push({ where, message: `orphan slab ${slab} has an owner` });
    }
    const base = i32[r + slabs.S_BASE] >>> 0;
    const bump = i32[r + slabs.S_BUMP];
    if (bump < 0 || bump > i32[r + slabs.S_CAPACITY] || bump * size > slabs.SLAB_BYTES) {
      problems.push({ where, message: `slab ${slab} bump ${bump} beyond capacity ${i32[r + slabs.S_CAPACITY]}` });
      return; // its lists cannot be told from the rest of the memory
    }
    const seen = new Set<number>();
    for (const [list, head] of [["free", i32[r + slabs.S_FREE]], ["remote", i32[r + slabs.S_REMOTE]]] as const) {
      let block = head >>> 0;
      while (block !== 0) {
        const offset = block - base;
        if (offset < 0 || offset >= bump * size || offset % size !== 0) {
          problems.push({ where, message: `slab ${slab}'s ${list} list holds ${block}, not one of its handed-out blocks` });
          break;
        }
        if (seen.has(block)) {
          problems.push({ where, message: `slab ${slab}'s ${list} list has a cycle or repeat at ${block}` });
          break;
        }
        if (cachedBlocks.has(block)) {
          problems.push({ where, message: `block ${block} is both cached and on slab ${slab}'s ${list} list` });
        }
        if (!isMarkedFree(i32, block)) {
          problems.push({
            where,
            message: `free block ${block} on slab ${slab}'s ${list} list lost its free mark (written after free?)`,
          });
        }
        seen.add(block);
        block = readLink(i32, block);
      }
      if (list === "free" && seen.size + i32[r + slabs.S_USED] !== bump) {
        problems.push({ where, message: `slab ${slab}: ${seen.size} free + ${i32[r + slabs.S_USED]} used != ${bump} handed out` });
      }
    }
    const remote = tiny.remoteCount(r);
    if ((cached.get(slab) ?? 0) + remote > i32[r + slabs.S_USED]) {
      problems.push({ where, message: `slab ${slab} has more cached and remote-freed blocks than used ones` });
    }
  });
  tiny.pages.forEachRun((page, pages, owner) => {
    if ((owner & KIND_MASK) !== tiny.kind) return;
    if (pages !== slabs.SUPERSLAB_PAGES) {
      problems.push({ where, message: `tiny run at page ${page} has ${pages} pages, not ${slabs.SUPERSLAB_PAGES}` });
    }
    const superslab = i32[((owner - tiny.kind) >>> 2) + slabs.S_SUPERSLAB] >>> 0;
    const active = activePerSuperslab.get(superslab) ?? 0;
    if (i32[(superslab >>> 2) + slabs.SS_ACTIVE] !== active) {
      problems.push({
        where,
        message: `SuperSlab ${superslab} counts ${i32[(superslab >>> 2) + slabs.SS_ACTIVE]} active slabs, has ${active}`,
      });
    }
  });
}
