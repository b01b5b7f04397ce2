/**
 * Tiny's memory as the heap picture sees it: one region per slab, grouped by
 * SuperSlab, read from the slab records (layout in `../slab/slab.ts`). Kept
 * beside tiny so the picture needs no knowledge of slab records; reads only.
 * @module
 */

import { KIND_MASK, PAGE_SIZE } from "../../memory/layout.ts";
import type { PageHeap } from "../../memory/page_heap.ts";
import type { MemoryDescription, RegionDescription, RegionGroup } from "../../router/box.ts";
import { CLASS_SIZES } from "../slab/size_classes.ts";
import { S_CAPACITY, S_CLASS, S_STATE, S_SUPERSLAB, S_USED, SLAB_BYTES, SlabState, SS_BASE, SS_CLASS, SS_SOURCE } from "../slab/slab.ts";

/** A slab's state, by SlabState value. */
const STATE_WORDS = ["never used", "empty", "current", "partial", "full", "orphan"];
const SLAB_PAGES = SLAB_BYTES / PAGE_SIZE;

/**
 * Every slab in the page runs of page kind `kind`, grouped by SuperSlab.
 * `sourceNames` names the slab source of each SS_SOURCE index: a group's
 * label is its source's name, and the class a per-class source gave it.
 */
export function describeSlabs(i32: Int32Array, pages: PageHeap, kind: number, sourceNames: readonly string[]): MemoryDescription {
  const groups: RegionGroup[] = [];
  const regions: RegionDescription[] = [];
  let lastSuperSlab = -1;
  pages.forEachRun((first, count, owner) => {
    if ((owner & KIND_MASK) !== kind) return;
    for (let page = first; page < first + count; page += SLAB_PAGES) {
      const slab = pages.ownerOf(page * PAGE_SIZE) - kind;
      const r = slab >>> 2;
      const superslab = i32[r + S_SUPERSLAB];
      if (superslab !== lastSuperSlab) {
        lastSuperSlab = superslab;
        const s = superslab >>> 2;
        const cls = i32[s + SS_CLASS];
        const source = (sourceNames[i32[s + SS_SOURCE]] ?? "unknown source").replace(/_/g, " ");
        groups.push({ base: i32[s + SS_BASE] >>> 0, label: cls >= 0 ? `${source} ${CLASS_SIZES[cls] ?? "?"} B` : source });
      }
      const state = i32[r + S_STATE];
      const active = state >= SlabState.current;
      regions.push({
        base: page * PAGE_SIZE,
        pages: Math.min(SLAB_PAGES, first + count - page),
        sizeClass: active ? i32[r + S_CLASS] : -1,
        used: active ? i32[r + S_USED] : 0,
        capacity: active ? i32[r + S_CAPACITY] : 0,
        state: STATE_WORDS[state] ?? `state ${state}`,
        current: state === SlabState.current,
        group: groups.length - 1,
      });
    }
  });
  return { style: "classes", regionNoun: "slab", classSizes: CLASS_SIZES, groupNoun: "SuperSlab", groups, regions };
}
