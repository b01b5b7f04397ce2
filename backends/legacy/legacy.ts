/**
 * The legacy slab source: SuperSlabs dedicated to one class each, with
 * per-class lists (the design before the shared pool). Memory one class
 * frees can only serve that class; a SuperSlab whose slabs are all empty
 * goes straight back to the page heap.
 *
 * Per class, in tiny's header area: a list of EMPTY slabs and a list of
 * SuperSlabs with never-used slabs. Acquire order: an empty slab of the
 * class, then an unused slab of one of its SuperSlabs, then a new SuperSlab.
 *
 * Lock order: the legacy lock (LG_LOCK, shared memory only) is never held
 * while calling the page heap or the record arena.
 * @module
 */

import type { LinearMemory } from "../../memory/linear_memory.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { RecordArena } from "../../memory/records.ts";
import type { BackendHealth, CheckProblem, SlabSource } from "../../router/box.ts";
import { CLASS_COUNT } from "../slab/size_classes.ts";
import {
  assignSlab,
  createSuperSlab,
  destroySuperSlab,
  RecordList,
  S_CLASS,
  S_NEXT,
  S_PREV,
  S_STATE,
  S_SUPERSLAB,
  slabOf,
  SLABS_PER_SUPERSLAB,
  SlabState,
  SS_ACTIVE,
  SS_CLASS,
  SS_LIST,
  SS_NEXT,
  SS_PREV,
  SS_UNUSED,
  SUPERSLAB_BYTES,
  takeUnusedSlab,
  unassignSlab,
} from "../slab/slab.ts";

// Words of tiny's header area used by legacy (offsets from the area start).
const LG_LOCK = 256;
const LG_SUPERSLABS = 257;
const LG_PEAK = 258;
const LG_CREATED = 259;
const LG_RETURNED = 260;
const LG_ACQUIRES = 261;
const LG_RELEASES = 262;
const LG_FAILURES = 263;
const LG_CLASSES = 288; // per class: [empty-slab list, unused-SuperSlab list]
const IN_UNUSED = 1;

/**
 * Per-class SuperSlabs, behind the slab-source contract.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../../mod.ts";
 * const heap = createHeap({ slabSource: "legacy" });
 * heap.free(heap.malloc(24));
 * const tiny = heap.health().backends.find((backend) => backend.name === "tiny")!;
 * assert.equal(tiny.counters["legacy.acquires"], 1);
 * ```
 */
export class LegacySource implements SlabSource {
  /** The source's name. */
  readonly name = "legacy";
  private readonly mem: LinearMemory;
  private readonly pages: PageHeap;
  private readonly records: RecordArena;
  private readonly kind: number;
  private readonly area: number;
  private readonly empty: RecordList[] = [];
  private readonly unused: RecordList[] = [];

  /** A source whose lists and counters live at word `area` of the memory, making SuperSlabs of page kind `kind`; every worker builds one over the same words. */
  constructor(mem: LinearMemory, pages: PageHeap, records: RecordArena, kind: number, area: number) {
    this.mem = mem;
    this.pages = pages;
    this.records = records;
    this.kind = kind;
    this.area = area;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      this.empty.push(new RecordList(mem, area + LG_CLASSES + 2 * cls, S_NEXT, S_PREV));
      this.unused.push(new RecordList(mem, area + LG_CLASSES + 2 * cls + 1, SS_NEXT, SS_PREV));
    }
  }

  /** Takes the source's lock word: workers share its lists. */
  private lock(): void {
    this.mem.lock(this.area + LG_LOCK);
  }

  /** Releases the source's lock word. */
  private unlock(): void {
    this.mem.unlock(this.area + LG_LOCK);
  }

  acquire(cls: number, owner: number): number {
    this.mem.refresh(); // records of slabs another worker made may lie in memory it grew
    const a = this.area;
    this.lock();
    let slab = this.empty[cls].pop() || this.takeUnused(cls);
    if (slab === 0) {
      this.unlock();
      const superslab = createSuperSlab(this.pages, this.records, this.kind, 1, cls);
      this.lock();
      const i32 = this.mem.i32;
      if (superslab === 0) {
        i32[a + LG_FAILURES]++;
        this.unlock();
        return 0;
      }
      i32[a + LG_SUPERSLABS]++;
      i32[a + LG_CREATED]++;
      if (i32[a + LG_SUPERSLABS] > i32[a + LG_PEAK]) i32[a + LG_PEAK] = i32[a + LG_SUPERSLABS];
      i32[(superslab >>> 2) + SS_LIST] = IN_UNUSED;
      this.unused[cls].push(superslab);
      slab = this.takeUnused(cls);
    }
    const i32 = this.mem.i32;
    assignSlab(i32, slab, cls, owner);
    i32[a + LG_ACQUIRES]++;
    this.unlock();
    return slab;
  }

  /** The next never-used slab of a SuperSlab dedicated to `cls`, or 0 when none has one. Called with the lock held. */
  private takeUnused(cls: number): number {
    return takeUnusedSlab(this.pages, this.unused[cls], this.kind);
  }

  release(slab: number): void {
    this.mem.refresh(); // records of slabs another worker made may lie in memory it grew
    const a = this.area;
    this.lock();
    const i32 = this.mem.i32;
    const r = slab >>> 2;
    const cls = i32[r + S_CLASS];
    const superslab = i32[r + S_SUPERSLAB];
    const s = superslab >>> 2;
    unassignSlab(i32, slab);
    i32[a + LG_RELEASES]++;
    let dead = 0;
    if (i32[s + SS_ACTIVE] === 0) {
      // The whole SuperSlab is empty: unlist its slabs and give it back.
      for (let i = 0; i < i32[s + SS_UNUSED]; i++) {
        const other = slabOf(this.pages, superslab, i, this.kind);
        if (other !== slab) this.empty[cls].remove(other);
      }
      if (i32[s + SS_LIST] === IN_UNUSED) this.unused[cls].remove(superslab);
      i32[a + LG_SUPERSLABS]--;
      i32[a + LG_RETURNED]++;
      dead = superslab;
    } else {
      this.empty[cls].push(slab);
    }
    this.unlock();
    if (dead !== 0) destroySuperSlab(this.pages, this.records, dead, this.kind);
  }

  /** Nothing is cached: empty SuperSlabs went back at once. */
  trim(): number {
    return 0;
  }

  health(): BackendHealth {
    const i32 = this.mem.i32;
    const a = this.area;
    return {
      name: this.name,
      ready: true,
      counters: {
        superslabs: i32[a + LG_SUPERSLABS],
        peakSuperslabs: i32[a + LG_PEAK],
        created: i32[a + LG_CREATED],
        returnedToPageHeap: i32[a + LG_RETURNED],
        acquires: i32[a + LG_ACQUIRES],
        releases: i32[a + LG_RELEASES],
        failures: i32[a + LG_FAILURES],
      },
    };
  }

  stats(): Record<string, number> {
    const i32 = this.mem.i32;
    let emptySlabs = 0;
    for (const list of this.empty) emptySlabs += list.count();
    return {
      superslabs: i32[this.area + LG_SUPERSLABS],
      peakSuperslabs: i32[this.area + LG_PEAK],
      emptySlabs,
      footprintBytes: i32[this.area + LG_SUPERSLABS] * SUPERSLAB_BYTES,
    };
  }

  check(problems: CheckProblem[]): void {
    const i32 = this.mem.i32;
    // A list longer than the SuperSlabs (or the memory) hold goes round a damaged link.
    const limit = Math.min(i32[this.area + LG_SUPERSLABS], Math.ceil(this.mem.byteLength / SUPERSLAB_BYTES)) * SLABS_PER_SUPERSLAB + 1;
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      let n = 0;
      for (let slab = this.empty[cls].first(); slab !== 0; slab = this.empty[cls].next(slab)) {
        if (++n > limit) {
          problems.push({ where: "legacy", message: `class ${cls}: the empty-slab list has a cycle` });
          break;
        }
        const r = slab >>> 2;
        if (i32[r + S_STATE] !== SlabState.empty) {
          problems.push({ where: "legacy", message: `slab ${slab} is in class ${cls}'s empty list in state ${i32[r + S_STATE]}` });
        }
        if (i32[(i32[r + S_SUPERSLAB] >>> 2) + SS_CLASS] !== cls) {
          problems.push({ where: "legacy", message: `slab ${slab} of another class's SuperSlab is in class ${cls}'s list` });
        }
      }
    }
  }
}
