/**
 * The heap header's format: laying out a new heap at the memory's base,
 * verifying the header of a heap being attached (magic, layout version, a
 * copy cut short, damage), and the routing every worker must share (the
 * creator's size limits and a hash of its backends and routes).
 * @module
 */

import { HakmemError } from "../core/errors.ts";
import type { ResolvedOptions } from "../core/options.ts";
import {
  H_BASE_PAGE,
  H_FLAGS,
  H_HEADER_PAGES,
  H_MAGIC,
  H_MAX_PAGES,
  H_MEMORY_KIND,
  H_PAGE_SHIFT,
  H_POOL_MAX,
  H_TINY_MAX,
  H_TOP_PAGE,
  H_VERSION,
  HEADER_PAGES,
  HEAP_FLAG_DEBUG,
  LAYOUT_VERSION,
  MAGIC,
  MAX_MEMORY_BYTES,
  PAGE_SHIFT,
  PAGE_SIZE,
} from "../memory/layout.ts";
import type { LinearMemory } from "../memory/linear_memory.ts";
import { type CheckProblem, PageHeap } from "../memory/page_heap.ts";
import type { Backend } from "../router/box.ts";
import type { Router } from "../router/router.ts";
import type { HeapConfig } from "./config.ts";
import { checkWorkerTable } from "./workers.ts";

/** Lays out a new heap at the memory's base; memory `handedIn` by the user may hold old bytes. */
export function formatHeader(mem: LinearMemory, pages: PageHeap, options: ResolvedOptions, handedIn: boolean): void {
  const minimum = mem.base + PageHeap.startPages(mem.base / PAGE_SIZE, HEADER_PAGES) * PAGE_SIZE;
  if (mem.byteLength < minimum && !mem.grow(minimum)) {
    throw new HakmemError(
      "INVALID_MEMORY",
      mem.base === 0
        ? `memory of ${mem.byteLength} bytes cannot hold a heap (needs ${minimum}) and cannot grow`
        : `memory of ${mem.byteLength} bytes cannot hold a heap at base ${mem.base} (needs ${minimum} bytes) and cannot grow that far`,
      mem.byteLength,
    );
  }
  if (mem.byteLength % PAGE_SIZE !== 0) {
    throw new HakmemError(
      "INVALID_MEMORY",
      `memory size ${mem.byteLength} is not a multiple of the page size ${PAGE_SIZE}`,
      mem.byteLength,
    );
  }
  const i32 = mem.i32;
  const h = mem.header;
  i32.fill(0, h, h + ((HEADER_PAGES * PAGE_SIZE) >> 2));
  i32[h + H_VERSION] = LAYOUT_VERSION;
  i32[h + H_PAGE_SHIFT] = PAGE_SHIFT;
  i32[h + H_HEADER_PAGES] = HEADER_PAGES;
  i32[h + H_MEMORY_KIND] = mem.kind;
  const maxPages = Math.floor(mem.maxBytes / PAGE_SIZE);
  pages.format(HEADER_PAGES, maxPages, Math.max(1, Math.ceil(options.growBytes / PAGE_SIZE)), handedIn);
  i32[h + H_FLAGS] = options.debug ? HEAP_FLAG_DEBUG : 0;
  i32[h + H_TINY_MAX] = options.tinyMaxSize;
  i32[h + H_POOL_MAX] = options.poolMaxSize;
  // The magic goes last: a heap is only a heap once it is whole.
  Atomics.store(i32, h + H_MAGIC, MAGIC);
}

/**
 * Refuses memory that holds no heap this hakmem can attach to: no magic
 * number (`NOT_A_HEAP`), another layout version (`LAYOUT_MISMATCH`), a copy
 * cut short (`INVALID_MEMORY`), or a header whose top, page map, locks or
 * worker table were overwritten (`CORRUPTED`): attaching would read and write
 * through them before anything else could notice.
 */
export function verifyHeader(mem: LinearMemory, pages: PageHeap): void {
  mem.refresh(true); // another thread may have grown a shared WebAssembly.Memory
  const h = mem.header;
  const magic = mem.byteLength >= mem.base + 4 ? Atomics.load(mem.i32, h + H_MAGIC) : 0;
  if (magic !== MAGIC) {
    throw new HakmemError(
      "NOT_A_HEAP",
      mem.base === 0
        ? "this memory holds no hakmem heap (no magic number at offset 0; a heap made at a base is attached with the same option base)"
        : `this memory holds no hakmem heap at base ${mem.base} (no magic number there)`,
    );
  }
  const version = mem.byteLength >= mem.base + 8 ? mem.i32[h + H_VERSION] : LAYOUT_VERSION; // too short to say: cut short, below
  if (version !== LAYOUT_VERSION) {
    throw new HakmemError(
      "LAYOUT_MISMATCH",
      `this heap has layout version ${version}; this hakmem reads version ${LAYOUT_VERSION}`,
      version,
    );
  }
  const i32 = mem.i32;
  const top = mem.byteLength >= mem.base + HEADER_PAGES * PAGE_SIZE ? i32[h + H_TOP_PAGE] : 0;
  // Cut short, not overwritten: the fixed words are right and the top is one a heap can have, past the end of this memory.
  // A shared memory another worker is growing right now may show this worker its old size: look again before calling it cut.
  const cut = i32[h + H_PAGE_SHIFT] === PAGE_SHIFT && i32[h + H_HEADER_PAGES] === HEADER_PAGES && top <= i32[h + H_MAX_PAGES] &&
    top * PAGE_SIZE <= MAX_MEMORY_BYTES && top * PAGE_SIZE > mem.byteLength && !(mem.refresh(true) && top * PAGE_SIZE <= mem.byteLength);
  if (mem.byteLength < mem.base + HEADER_PAGES * PAGE_SIZE || cut) {
    throw new HakmemError(
      "INVALID_MEMORY",
      `this memory of ${mem.byteLength} bytes holds the start of a heap of ${
        top > 0 ? top * PAGE_SIZE : mem.base + HEADER_PAGES * PAGE_SIZE + " or more"
      } bytes: a copy cut short?`,
      mem.byteLength,
    );
  }
  if (mem.i32[h + H_BASE_PAGE] * PAGE_SIZE !== mem.base) {
    throw new HakmemError("CORRUPTED", `the heap at base ${mem.base} says it starts at page ${mem.i32[h + H_BASE_PAGE]}`, mem.base);
  }
  const problems: CheckProblem[] = [];
  pages.checkHeader(problems, false);
  checkWorkerTable(mem, problems);
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).map((problem) => `${problem.where}: ${problem.message}`).join("; ");
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    throw new HakmemError("CORRUPTED", `this heap's header is damaged (${count}: ${shown}); it cannot be attached`);
  }
}

/**
 * The routing options of a heap being attached: `tinyMaxSize` and
 * `poolMaxSize` are the creator's, read from the header, whatever the
 * environment says; given in `config` with another value, the attach is
 * refused (`INVALID_ROUTE`), as a worker routing sizes elsewhere would make
 * every worker misread the others' counters.
 */
export function followRouting(mem: LinearMemory, config: HeapConfig, options: ResolvedOptions): ResolvedOptions {
  const tinyMaxSize = mem.i32[mem.header + H_TINY_MAX];
  const poolMaxSize = mem.i32[mem.header + H_POOL_MAX];
  if (!(tinyMaxSize >= 0 && tinyMaxSize <= 1024 && poolMaxSize >= 0 && poolMaxSize <= 262144)) {
    throw new HakmemError(
      "CORRUPTED",
      `this heap's header says tinyMaxSize ${tinyMaxSize} and poolMaxSize ${poolMaxSize}; it cannot be attached`,
    );
  }
  for (const [name, value] of [["tinyMaxSize", tinyMaxSize], ["poolMaxSize", poolMaxSize]] as const) {
    if (config[name] !== undefined && config[name] !== value) {
      throw new HakmemError(
        "INVALID_ROUTE",
        `this heap was created with ${name} ${value}, attachHeap was given ${
          config[name]
        }: every worker of a heap routes alike (leave the option out to follow the heap)`,
        config[name],
      );
    }
  }
  return { ...options, tinyMaxSize, poolMaxSize };
}

/** A 32-bit hash (FNV-1a) of the backends' names and page kinds and of the routing table, in order. */
export function routingHash(router: Router, routed: Array<{ backend: Backend; kind: number }>): number {
  const text = routed.map(({ backend, kind }) => `${backend.capabilities.name}:${kind}`).join(",") + "|" +
    router.routes.map((route) => `${route.min}-${route.max}-${route.backend}`).join(",");
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}
