/**
 * The worker-slot table in the heap header: which workers are attached
 * (one slot each, slot 0 the creator's), claiming and releasing a slot, and
 * each slot's router counter page, kept across the slot's occupants so the
 * totals survive a worker that leaves. All of it lives in the memory, so
 * every worker reads the same table.
 * @module
 */

import { describe, HakmemError } from "../core/errors.ts";
import {
  H_WORKER_LOCK,
  MAX_WORKERS,
  PAGE_SIZE,
  PageKind,
  W_ATTACHED_AT,
  W_COUNTERS,
  W_GENERATION,
  W_STATE,
  WORKER_ATTACHED,
  WORKER_FREE,
  WORKER_SLOT_WORDS,
  WORKER_TABLE_WORD,
} from "../memory/layout.ts";
import type { LinearMemory } from "../memory/linear_memory.ts";
import type { CheckProblem, PageHeap } from "../memory/page_heap.ts";

/** Takes the lowest free worker slot (slot 0 is the creator's). */
export function claimWorkerSlot(mem: LinearMemory): number {
  const i32 = mem.i32;
  mem.lock(mem.header + H_WORKER_LOCK);
  let id = -1;
  for (let slot = 0; slot < MAX_WORKERS; slot++) {
    const at = mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS;
    if (i32[at + W_STATE] === WORKER_FREE) {
      i32[at + W_STATE] = WORKER_ATTACHED;
      i32[at + W_GENERATION]++;
      i32[at + W_ATTACHED_AT] = Math.floor(Date.now() / 1000) & 0x7fffffff;
      id = slot;
      break;
    }
  }
  mem.unlock(mem.header + H_WORKER_LOCK);
  if (id < 0) throw new HakmemError("WORKER", `all ${MAX_WORKERS} worker slots are taken; detach() or reclaim() one first`);
  return id;
}

/** This slot's router counter page (kept across the slot's occupants, so totals survive). */
export function counterPage(mem: LinearMemory, pages: PageHeap, workerId: number): number {
  const word = mem.header + WORKER_TABLE_WORD + workerId * WORKER_SLOT_WORDS + W_COUNTERS;
  let offset = mem.i32[word] >>> 0;
  if (offset === 0) {
    const page = pages.allocRun(1, PageKind.metadata, true);
    if (page < 0) throw new HakmemError("INVALID_MEMORY", "no memory left for this worker's counters");
    offset = page * PAGE_SIZE;
    Atomics.store(mem.i32, word, offset | 0);
  }
  return offset;
}

/** Byte offset of slot `slot`'s router counters (0 when it has none yet). */
export function slotCounterOffset(mem: LinearMemory, slot: number): number {
  return Atomics.load(mem.i32, mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_COUNTERS) >>> 0;
}

/**
 * Byte offsets of every slot's router counters. An offset that is no page
 * of the memory (a damaged worker table, which check() reports) is left
 * out, so the reports still answer.
 */
export function counterOffsets(mem: LinearMemory): number[] {
  mem.refresh(); // views a WASM module's growth detached, or short of another worker's growth
  const offsets: number[] = [];
  for (let slot = 0; slot < MAX_WORKERS; slot++) {
    const offset = Atomics.load(mem.i32, mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_COUNTERS) >>> 0;
    if (offset !== 0 && offset % PAGE_SIZE === 0 && offset + PAGE_SIZE <= mem.byteLength) offsets.push(offset);
  }
  return offsets;
}

/** Ids of the workers attached to this heap now (this one included). */
export function attachedWorkers(mem: LinearMemory): number[] {
  const ids: number[] = [];
  for (let slot = 0; slot < MAX_WORKERS; slot++) {
    if (Atomics.load(mem.i32, mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS + W_STATE) === WORKER_ATTACHED) {
      ids.push(slot);
    }
  }
  return ids;
}

/** Marks worker `workerId`'s slot in the header's table free, for the next worker that attaches. */
export function releaseSlot(mem: LinearMemory, workerId: number): void {
  Atomics.store(mem.i32, mem.header + WORKER_TABLE_WORD + workerId * WORKER_SLOT_WORDS + W_STATE, WORKER_FREE);
}

/**
 * Checks every worker slot: its state is free or attached, and its router
 * counters (kept across the slot's occupants) lie in a page of the memory.
 */
export function checkWorkerTable(mem: LinearMemory, problems: CheckProblem[]): void {
  const i32 = mem.i32;
  const where = "worker table";
  for (let slot = 0; slot < MAX_WORKERS; slot++) {
    const at = mem.header + WORKER_TABLE_WORD + slot * WORKER_SLOT_WORDS;
    const state = i32[at + W_STATE];
    const counters = i32[at + W_COUNTERS] >>> 0;
    if (state !== WORKER_FREE && state !== WORKER_ATTACHED) problems.push({ where, message: `worker slot ${slot} is in state ${state}` });
    if (counters % PAGE_SIZE !== 0 || counters + PAGE_SIZE > mem.byteLength) {
      problems.push({ where, message: `worker slot ${slot}'s counters lie at ${describe(counters)}, no page of the memory` });
    }
  }
}
