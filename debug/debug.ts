/**
 * Debug mode (`createHeap({ debug: true })`, `HAKMEM_DEBUG=1`): a layer over
 * the heap's `malloc`, `calloc`, `realloc`, `alignedAlloc`, `free` and
 * `usableSize` that catches what the fast paths cannot afford to look for.
 *
 * - Double frees, exactly: a block is accepted by `free` only while its
 *   trailer holds the live tag of its own address, and the first free
 *   replaces that tag, so every later free of the address is refused until
 *   the heap hands the block out again. No marker a live block may hold by
 *   chance, no walk that a write after free can fool.
 * - Writes past a block's end: the block is taken with room for a guard of
 *   at least {@linkcode DEBUG_GUARD_BYTES} bytes after the size asked for;
 *   `free` (and `realloc`, and `check()`) verify it and throw
 *   `BUFFER_OVERFLOW` naming the block, its size and where it was allocated.
 * - Poisoning: freed bytes are filled with {@linkcode DEBUG_POISON_BYTE}, so a
 *   use after free reads garbage that stands out.
 * - Allocation sites: the `site` argument of `malloc`, or else the caller's
 *   line of `new Error().stack` (captured only in debug mode, formatted only
 *   when a report needs it).
 *
 * A block as the backend sees it (`usable` bytes from `ptr`):
 *
 * ```
 * ptr                ptr + size                      ptr + usable - 8        ptr + usable
 * ├─ the user's bytes ─┼─ guard: 0xFD ... (≥ 16 bytes) ─┼─ size (u32) ─┼─ tag (u32) ─┤
 *                                                          └──── trailer ────────────┘
 * live   tag = mix(ptr, size) | 1        freed   tag = mix(ptr, size) & ~1,
 *                                                [ptr, ptr + usable - 8) = 0xDD
 * ```
 *
 * The trailer sits at the end of the backend's usable size, which any worker
 * computes from the page map, and holds the requested size: a free from
 * another worker checks the guard and the tag as well as the allocating
 * worker would. Only the sites live in JavaScript (this worker's `Map`), so
 * a report about a block another worker allocated says so instead of naming
 * the line. `usableSize` in debug mode is the size asked for: writing up to
 * it never touches the guard.
 *
 * Debug mode belongs to the heap, not to one worker: `createHeap` records it
 * in the header (`HEAP_FLAG_DEBUG`) and `attachHeap` follows the header
 * whatever its own options say, so every worker arms and checks blocks alike.
 * `realloc` always moves the block in debug mode, so a stale pointer to the
 * old block is caught at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import "./mod.ts"; // loads debug mode
 * const heap = createHeap({ debug: true });
 * const ptr = heap.malloc(10, "parser.ts:42");
 * heap.u8[ptr + 10] = 1; // one byte past the end
 * assert.throws(() => heap.free(ptr), { name: "HakmemError", code: "BUFFER_OVERFLOW" });
 * ```
 * @module
 */

import { checkSize, describe, HakmemError } from "../core/errors.ts";
import type { CheckLevel, CheckProblem } from "../router/box.ts";

/** Guard bytes at least between a block's requested size and its trailer. */
export const DEBUG_GUARD_BYTES = 16;
/** Bytes of the trailer at the end of every block: the requested size and the tag. */
export const DEBUG_TRAILER_BYTES = 8;
/** Extra bytes debug mode asks the backend for, per block. */
export const DEBUG_OVERHEAD: number = DEBUG_GUARD_BYTES + DEBUG_TRAILER_BYTES;
/** The byte a guard is filled with. */
export const DEBUG_GUARD_BYTE = 0xfd;
/** The byte freed memory is filled with. */
export const DEBUG_POISON_BYTE = 0xdd;

const LIVE_SALT = 0x4c495645; // "LIVE"
/** Freed blocks remembered (address → sites) for double-free reports; the oldest are forgotten first. */
const FREED_REMEMBERED = 4096;
/** This file, as it appears in stack lines: its frames are not the caller's. */
const HERE = new URL(import.meta.url).pathname;

/** Where a block was allocated (or freed): a site given by the caller, or a stack captured then. */
type Site = string | Error;

/** What this worker remembers of a block it allocated. */
interface LiveRecord {
  size: number;
  site: Site;
}

/** What this worker remembers of a block it freed: where it was allocated (a free captures no stack: it would double the cost). */
interface FreedRecord {
  size: number;
  site: Site | undefined;
}

/** The raw (non-debug) heap operations the layer calls, bound to the heap. */
interface RawHeap {
  malloc(size: number, site?: string): number;
  calloc(count: number, size: number): number;
  alignedAlloc(alignment: number, size: number): number;
  free(ptr: number): void;
  usableSize(ptr: number): number;
}

/**
 * What the layer needs of the heap it wraps (a `Heap` is one): its byte view,
 * its memory's limit and the operations it takes over. Declared here so
 * debug mode imports nothing of the heap (debug/mod.ts hands installDebugLayer to the heap; no circle).
 */
export interface DebugTarget extends RawHeap {
  /** The memory's bytes, as they are now (a WebAssembly.Memory may have grown). */
  readonly u8: Uint8Array;
  /** The memory: its most bytes. */
  readonly mem: { readonly maxBytes: number };
  /** Resizes a block; the layer replaces it with one that always moves. */
  realloc(ptr: number, size: number): number;
}

/** The tag of block `ptr` of `size` bytes: odd while live, even once freed (so the two never match). */
function tagOf(ptr: number, size: number, live: boolean): number {
  let h = Math.imul(ptr ^ LIVE_SALT, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ size, 0x85ebca6b);
  h ^= h >>> 13;
  return live ? (h | 1) >>> 0 : (h & ~1) >>> 0;
}

/** Reads a little-endian u32 byte by byte (trailers need not be word aligned under a user backend). */
function read32(u8: Uint8Array, at: number): number {
  return (u8[at] | (u8[at + 1] << 8) | (u8[at + 2] << 16) | (u8[at + 3] << 24)) >>> 0;
}

function write32(u8: Uint8Array, at: number, value: number): void {
  u8[at] = value & 255;
  u8[at + 1] = (value >>> 8) & 255;
  u8[at + 2] = (value >>> 16) & 255;
  u8[at + 3] = value >>> 24;
}

/** The first byte in [from, to) that is not the guard byte, or -1. */
function firstBadGuardByte(u8: Uint8Array, from: number, to: number): number {
  for (let at = from; at < to; at++) if (u8[at] !== DEBUG_GUARD_BYTE) return at;
  return -1;
}

/** A site as text: the caller's stack line for a captured stack. */
function siteText(site: Site | undefined): string {
  if (site === undefined) return "an unknown site (another worker's block)";
  if (typeof site === "string") return site;
  for (const line of (site.stack ?? "").split("\n")) {
    const frame = line.trim();
    if (frame.startsWith("at ") && !frame.includes(HERE)) return frame.slice(3);
  }
  return "an unknown site";
}

/**
 * The debug layer of one heap in one worker. Built by
 * {@linkcode installDebugLayer}; the heap's allocation methods call it.
 */
export class DebugLayer {
  private readonly heap: DebugTarget;
  private readonly raw: RawHeap;
  /** Blocks this worker allocated and has not freed, with their sites. */
  private readonly live = new Map<number, LiveRecord>();
  /** Blocks this worker freed lately, for double-free reports. */
  private readonly freed = new Map<number, FreedRecord>();
  /** Where the trailer of the block {@linkcode DebugLayer.liveBlock} last passed starts. */
  private trailer = 0;

  /** Builds the layer over `heap`, calling `raw` for the heap's own operations. */
  constructor(heap: DebugTarget, raw: RawHeap) {
    this.heap = heap;
    this.raw = raw;
  }

  // ---- allocation -----------------------------------------------------------------

  /** `malloc` with a guard and a trailer; `site` names the caller in reports. */
  malloc(size: number, site?: string): number {
    checkSize(size, "malloc size");
    if (size > this.heap.mem.maxBytes) return this.raw.malloc(size, site); // refused there, and counted as every failure is
    const ptr = this.raw.malloc(size + DEBUG_OVERHEAD, site);
    if (ptr !== 0) this.arm(ptr, size, site ?? new Error());
    return ptr;
  }

  /** `calloc`: the user's bytes are zero, the guard and trailer written after them. */
  calloc(count: number, size: number): number {
    checkSize(count, "calloc count");
    checkSize(size, "calloc size");
    const total = count * size;
    if (!Number.isSafeInteger(total) || total > this.heap.mem.maxBytes) return this.raw.calloc(count, size); // refused and counted there
    const ptr = this.raw.calloc(1, total + DEBUG_OVERHEAD);
    if (ptr !== 0) this.arm(ptr, total, new Error());
    return ptr;
  }

  /** `alignedAlloc`: the heap validates the alignment, the layer adds its room. */
  alignedAlloc(alignment: number, size: number): number {
    // Invalid sizes go to the heap as given, so the errors (and their order) are the heap's.
    if (!Number.isSafeInteger(size) || size < 0 || size > this.heap.mem.maxBytes) return this.raw.alignedAlloc(alignment, size);
    const ptr = this.raw.alignedAlloc(alignment, size + DEBUG_OVERHEAD);
    if (ptr !== 0) this.arm(ptr, size, new Error());
    return ptr;
  }

  /**
   * `realloc` that always moves: the old block is checked (guard, liveness)
   * before anything changes, then copied and freed.
   */
  realloc(ptr: number, size: number): number {
    checkSize(size, "realloc size");
    if (ptr === 0) return this.malloc(size);
    const old = this.liveBlock(ptr, true);
    if (size === 0) {
      this.free(ptr);
      return 0;
    }
    const fresh = this.malloc(size);
    if (fresh === 0) return 0;
    this.heap.u8.copyWithin(fresh, ptr, ptr + Math.min(old, size));
    this.free(ptr);
    return fresh;
  }

  /** Writes the guard and the live trailer of a block the heap just handed out. */
  private arm(ptr: number, size: number, site: Site): void {
    const end = ptr + this.raw.usableSize(ptr) - DEBUG_TRAILER_BYTES;
    const u8 = this.heap.u8; // after the heap's calls: a WebAssembly.Memory may have new views
    u8.fill(DEBUG_GUARD_BYTE, ptr + size, end);
    write32(u8, end, size);
    write32(u8, end + 4, tagOf(ptr, size, true));
    this.live.set(ptr, { size, site });
    this.freed.delete(ptr);
  }

  // ---- free and queries -----------------------------------------------------------

  /**
   * `free` that refuses every double free, and a block whose guard or
   * trailer was overwritten (`BUFFER_OVERFLOW`; the block stays allocated).
   */
  free(ptr: number): void {
    if (ptr === 0) return;
    const size = this.liveBlock(ptr, true, "free");
    const u8 = this.heap.u8;
    const end = this.trailer;
    const record = this.live.get(ptr);
    // Poison first: once the backend has the block, another worker may own it.
    u8.fill(DEBUG_POISON_BYTE, ptr, end);
    write32(u8, end + 4, tagOf(ptr, size, false));
    try {
      this.raw.free(ptr);
    } catch (error) {
      write32(u8, end + 4, tagOf(ptr, size, true)); // the backend refused: the block stays live
      u8.fill(DEBUG_GUARD_BYTE, ptr + size, end);
      throw error;
    }
    this.live.delete(ptr);
    this.freed.set(ptr, { size, site: record?.site });
    if (this.freed.size > FREED_REMEMBERED) this.freed.delete(this.freed.keys().next().value!);
  }

  /** The size asked for: the bytes that may be written without touching the guard. */
  usableSize(ptr: number): number {
    return this.liveBlock(ptr, false, "usableSize");
  }

  /**
   * The requested size of the live block at `ptr`, or throws: the heap's
   * error for a pointer that is no block, `DOUBLE_FREE` (for `free`) or
   * `INVALID_POINTER` (elsewhere) for a freed block, `BUFFER_OVERFLOW` for a
   * broken trailer or, with `guard`, a broken guard.
   */
  private liveBlock(ptr: number, guard: boolean, op = "realloc"): number {
    let usable: number;
    try {
      usable = this.raw.usableSize(ptr);
    } catch (error) {
      // No live block starts here. A block this worker freed is named with
      // its allocation site; otherwise free's own checks tell a double free
      // (a freed page run) from a foreign pointer, and throw, changing nothing.
      const freed = ptr < this.heap.u8.length ? this.freed.get(ptr) : undefined;
      if (freed) {
        const sites = ` (a block of ${freed.size} bytes allocated at ${siteText(freed.site)})`;
        if (op === "free") throw new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} is already free${sites}`, ptr);
        throw new HakmemError("INVALID_POINTER", `${op} of block ${describe(ptr)}, which was freed (a use after free)${sites}`, ptr);
      }
      if (op === "free") this.raw.free(ptr);
      throw error;
    }
    const u8 = this.heap.u8;
    const end = ptr + usable - DEBUG_TRAILER_BYTES;
    this.trailer = end;
    const size = read32(u8, end);
    const tag = read32(u8, end + 4);
    if (tag === tagOf(ptr, size, true) && size <= usable - DEBUG_OVERHEAD) {
      if (guard) {
        const bad = firstBadGuardByte(u8, ptr + size, end);
        if (bad >= 0) throw this.overflow(ptr, size, `byte ${bad - ptr - size} past its end holds 0x${u8[bad].toString(16)}`);
      }
      return size;
    }
    const mine = this.live.get(ptr);
    if (mine !== undefined && !(tag === tagOf(ptr, size, false) && size === mine.size)) {
      throw this.overflow(ptr, mine.size, "its trailer (past the guard) was overwritten");
    }
    const freed = this.freed.get(ptr);
    const sites = freed ? ` (a block of ${freed.size} bytes allocated at ${siteText(freed.site)})` : "";
    if (tag === tagOf(ptr, size, false) || freed) {
      if (op === "free") throw new HakmemError("DOUBLE_FREE", `block ${describe(ptr)} is already free${sites}`, ptr);
      throw new HakmemError("INVALID_POINTER", `${op} of block ${describe(ptr)}, which was freed (a use after free)${sites}`, ptr);
    }
    throw new HakmemError(
      "INVALID_POINTER",
      `pointer ${describe(ptr)} is no live block of this debug heap (never handed out, or freed and overwritten since)`,
      ptr,
    );
  }

  /** The `BUFFER_OVERFLOW` error for block `ptr` of `size` bytes, saying `what` was overwritten. */
  private overflow(ptr: number, size: number, what: string): HakmemError {
    const site = this.live.get(ptr)?.site;
    return new HakmemError(
      "BUFFER_OVERFLOW",
      `block ${describe(ptr)} of ${size} bytes (allocated at ${siteText(site)}) was written past its end: ${what}`,
      ptr,
    );
  }

  // ---- reports ------------------------------------------------------------------------

  /**
   * Appends a problem for every block this worker allocated whose trailer
   * (cheap) or guard (full) was overwritten. Changes nothing. Blocks another
   * worker freed since are no longer this worker's to check.
   */
  check(level: CheckLevel, problems: CheckProblem[]): void {
    for (const ptr of this.live.keys()) {
      try {
        this.liveBlock(ptr, level === "full", "check");
      } catch (error) {
        if (!(error instanceof HakmemError)) throw error;
        if (error.code === "BUFFER_OVERFLOW") problems.push({ where: "debug", message: error.message });
      }
    }
  }
}

/**
 * Puts a debug layer in front of `heap`: its `malloc`, `calloc`, `realloc`,
 * `alignedAlloc`, `free` and `usableSize` go through the layer from now on,
 * which calls the heap's own methods underneath. Called by the heap when it
 * is built in debug mode; returns the layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import "./mod.ts"; // loads debug mode
 * const heap = createHeap({ debug: true }); // installs the layer
 * const ptr = heap.malloc(10);
 * assert.equal(heap.usableSize(ptr), 10);
 * heap.free(ptr);
 * assert.throws(() => heap.free(ptr), { message: /^block/ });
 * ```
 */
export function installDebugLayer(heap: DebugTarget): DebugLayer {
  const layer = new DebugLayer(heap, {
    malloc: heap.malloc.bind(heap),
    calloc: heap.calloc.bind(heap),
    alignedAlloc: heap.alignedAlloc.bind(heap),
    free: heap.free.bind(heap),
    usableSize: heap.usableSize.bind(heap),
  });
  Object.assign(heap, {
    malloc: (size: number, site?: string) => layer.malloc(size, site),
    calloc: (count: number, size: number) => layer.calloc(count, size),
    realloc: (ptr: number, size: number) => layer.realloc(ptr, size),
    alignedAlloc: (alignment: number, size: number) => layer.alignedAlloc(alignment, size),
    free: (ptr: number) => layer.free(ptr),
    usableSize: (ptr: number) => layer.usableSize(ptr),
  });
  return layer;
}
