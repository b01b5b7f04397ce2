/**
 * The record arena: fixed 64-byte metadata records (a slab, a SuperSlab, a
 * pool run) carved from metadata pages, with a free list in the memory.
 *
 * A page-map entry is a record's byte offset plus the owner kind, so records
 * are 64-byte aligned and leave the low 3 bits free. Records are zeroed when
 * handed out. Record pages stay with the arena (they are few: one 4 KiB page
 * describes 64 slabs).
 *
 * Lock order: the arena lock is never held while calling the page heap.
 * @module
 */

import { H_RECORD_FREE, H_RECORD_LOCK, H_RECORD_PAGES, H_RECORDS_USED, PAGE_SIZE, PageKind } from "./layout.ts";
import type { PageHeap } from "./page_heap.ts";

/** Bytes in one record. */
export const RECORD_BYTES = 64;
/** Int32 words in one record. */
export const RECORD_WORDS = RECORD_BYTES >> 2;

/** Hands out and takes back metadata records. */
export class RecordArena {
  private readonly pages: PageHeap;

  constructor(pages: PageHeap) {
    this.pages = pages;
  }

  /** A zeroed record's byte offset, or 0 when no page can be had for more. */
  alloc(): number {
    const mem = this.pages.mem;
    const h = mem.header; // the header's first word: its words are indices from it
    mem.refresh(); // records may lie in memory another worker grew
    for (;;) {
      mem.lock(h + H_RECORD_LOCK);
      const i32 = mem.i32;
      const record = i32[h + H_RECORD_FREE];
      if (record !== 0) {
        i32[h + H_RECORD_FREE] = i32[record >>> 2];
        i32[h + H_RECORDS_USED]++;
      }
      mem.unlock(h + H_RECORD_LOCK);
      if (record !== 0) {
        const words = mem.i32;
        for (let word = record >>> 2, end = word + RECORD_WORDS; word < end; word++) words[word] = 0; // fill() costs a runtime call
        return record;
      }
      // Empty: take a page outside the lock, then put its records on the list.
      const page = this.pages.allocRun(1, PageKind.metadata);
      if (page < 0) return 0;
      mem.lock(h + H_RECORD_LOCK);
      const words = mem.i32;
      const base = page * PAGE_SIZE;
      for (let offset = PAGE_SIZE - RECORD_BYTES; offset >= 0; offset -= RECORD_BYTES) {
        words[(base + offset) >>> 2] = words[h + H_RECORD_FREE];
        words[h + H_RECORD_FREE] = base + offset;
      }
      words[h + H_RECORD_PAGES]++;
      mem.unlock(h + H_RECORD_LOCK);
    }
  }

  /** Returns a record to the arena. */
  free(record: number): void {
    const mem = this.pages.mem;
    const h = mem.header; // the header's first word: its words are indices from it
    mem.refresh();
    mem.lock(h + H_RECORD_LOCK);
    const i32 = mem.i32;
    i32[record >>> 2] = i32[h + H_RECORD_FREE];
    i32[h + H_RECORD_FREE] = record;
    i32[h + H_RECORDS_USED]--;
    mem.unlock(h + H_RECORD_LOCK);
  }

  /**
   * Gives back to the page heap every record page whose records are all
   * free. Returns the bytes given back. Walks the free list: for trim(), not
   * for hot paths.
   */
  trim(): number {
    const mem = this.pages.mem;
    const h = mem.header; // the header's first word: its words are indices from it
    mem.refresh();
    mem.lock(h + H_RECORD_LOCK);
    const i32 = mem.i32;
    const freePerPage = new Map<number, number>();
    const kept: number[] = [];
    for (let record = i32[h + H_RECORD_FREE] >>> 0; record !== 0; record = i32[record >>> 2] >>> 0) {
      const page = Math.floor(record / PAGE_SIZE);
      freePerPage.set(page, (freePerPage.get(page) ?? 0) + 1);
    }
    const emptyPages: number[] = [];
    for (const [page, count] of freePerPage) if (count === PAGE_SIZE / RECORD_BYTES) emptyPages.push(page);
    if (emptyPages.length > 0) {
      const empty = new Set(emptyPages);
      for (let record = i32[h + H_RECORD_FREE] >>> 0; record !== 0; record = i32[record >>> 2] >>> 0) {
        if (!empty.has(Math.floor(record / PAGE_SIZE))) kept.push(record);
      }
      let head = 0;
      for (let i = kept.length - 1; i >= 0; i--) {
        i32[kept[i] >>> 2] = head;
        head = kept[i];
      }
      i32[h + H_RECORD_FREE] = head;
      i32[h + H_RECORD_PAGES] -= emptyPages.length;
    }
    mem.unlock(h + H_RECORD_LOCK);
    for (const page of emptyPages) this.pages.freeRun(page); // outside the arena's lock
    return emptyPages.length * PAGE_SIZE;
  }

  /** Records handed out and not yet returned. */
  get used(): number {
    return this.pages.mem.i32[this.pages.mem.header + H_RECORDS_USED];
  }
}
