/**
 * The heap header: the fixed words at the start of the heap that every
 * worker reads to find the rest of the heap. Owns the layout version.
 *
 * The header sits at the heap's base: byte 0 of the memory, or a page-aligned
 * offset above what a WebAssembly module keeps for itself (its data and
 * stack). Header words are indices from the header's first word (kept in
 * `LinearMemory.header`); everything else (page-map leaves, records, blocks)
 * is addressed by absolute byte offsets, as the pointers handed out are.
 *
 * ```
 * base                                                     base + HEADER_BYTES
 * ├─ words 0..63   identity, page heap, record arena, counters
 * ├─ words 64..    page-map directory: one leaf offset per 4 MiB region
 * ├─ WORKER_TABLE  worker slots (attach, owner ids)
 * └─ BACKEND_AREA  one fixed area per backend kind (its list heads, locks)
 * ```
 *
 * A page map leaf covers one region of REGION_PAGES pages and holds, per page:
 *
 * ```
 * leaf + 0              owner   Uint32 × REGION_PAGES  record byte offset | kind
 * leaf + LEAF_TAG       tag     Int32  × REGION_PAGES  page-run boundary tags
 * leaf + LEAF_NEXT      next    Int32  × REGION_PAGES  free-run list link (first page)
 * leaf + LEAF_PREV      prev    Int32  × REGION_PAGES  free-run list link (first page)
 * leaf + LEAF_FLAGS     flags   Uint8  × REGION_PAGES  PAGE_DIRTY
 * leaf + LEAF_AREA      area    Uint8  × REGION_PAGES  AREA_LARGE or AREA_SMALL (see page_heap.ts)
 * ```
 * @module
 */

/** "HAKM" little-endian: the first word of every heap. */
export const MAGIC = 0x4d4b4148;
/** Bumped whenever any in-memory layout changes; attach refuses other versions. */
export const LAYOUT_VERSION = 6; // 6: a pool span record counts its blocks held in heap objects' block caches (R_CACHED of backends/pool/spans.ts), whose link word is the cache's tag. 5: the pool's area keeps, per shard, a mask of the classes whose empty list holds a span (EMPTY_MASKS of backends/pool/spans.ts). 4: trim() gives whole regions at the top of a memory that cannot shrink back to the memory (H_RESERVE_TOP). 3: pool and tiny blocks carry one free mark (FREE_MARK of backends/slab/blocks.ts; the pool's was 0x5a5a5a5a before this release); tiny has 21 size classes, all 16-aligned from 16 bytes (a slab record's class index means another size); slab and pool span records keep the free block found damaged by a write after free; the heap starts at a base (H_BASE_PAGE) and marks pages it did not grow as foreign; the routing the heap was created with is in the header; pages carry an area (small runs apart from large ones), with free lists of each area. 2: the pool keeps its lists in a table of their own, and full spans in none

export const PAGE_SHIFT = 12; // 4 KiB pages
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const REGION_SHIFT = 22; // 4 MiB per page-map leaf
export const REGION_PAGES = 1 << (REGION_SHIFT - PAGE_SHIFT); // 1024
/** Largest addressable memory: 4 GiB, the limit of a 32-bit WebAssembly memory. */
export const MAX_REGIONS = 1024;
export const MAX_MEMORY_BYTES = MAX_REGIONS * (1 << REGION_SHIFT);

// Leaf layout (byte offsets inside a leaf).
export const LEAF_TAG = REGION_PAGES * 4;
export const LEAF_NEXT = REGION_PAGES * 8;
export const LEAF_PREV = REGION_PAGES * 12;
export const LEAF_FLAGS = REGION_PAGES * 16;
export const LEAF_AREA = REGION_PAGES * 17;
export const LEAF_BYTES = REGION_PAGES * 18;
export const LEAF_PAGES = Math.ceil(LEAF_BYTES / PAGE_SIZE); // 5
/** Page area: pages of large runs (and every page until a small run's chunk claims it). */
export const AREA_LARGE = 0;
/** Page area: pages of the chunks small runs are taken from. */
export const AREA_SMALL = 1;
/** Page flag: the page has been handed out since the memory last grew over it. */
export const PAGE_DIRTY = 1;

// Header words (Int32 index into the memory).
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_PAGE_SHIFT = 2;
export const H_HEADER_PAGES = 3;
export const H_MAX_PAGES = 4; // the most pages the memory may grow to
export const H_TOP_PAGE = 5; // pages covered by the page heap (== memory pages)
export const H_FREE_BITMAP = 6; // bit b set: free-run bucket b holds a run
export const H_FREE_PAGES = 7; // pages in free runs
export const H_USED_PAGES = 8; // pages in allocated runs (metadata included)
export const H_PEAK_USED_PAGES = 9;
export const H_PAGE_LOCK = 10; // page heap lock word
export const H_RECORD_FREE = 11; // record arena: first free record (byte offset), 0 when none
export const H_RECORD_LOCK = 12;
export const H_RECORD_PAGES = 13; // pages held by the record arena
export const H_RECORDS_USED = 14;
export const H_MEMORY_KIND = 15; // 0 ArrayBuffer, 1 SharedArrayBuffer, 2 WebAssembly.Memory
export const H_GROW_COUNT = 16; // memory growths, so other workers notice stale views
export const H_SHRINK_COUNT = 17;
export const H_NEXT_WORKER = 18; // worker slot allocation cursor
export const H_WORKER_LOCK = 19;
export const H_FLAGS = 20; // heap-wide option bits (HEAP_FLAG_*)
export const H_GROW_PAGES = 21; // minimum growth step in pages
export const H_CREATED_LOW = 22; // creation time, to tell heaps apart in reports
export const H_METADATA_PAGES = 23; // header + leaves + record pages
export const H_FREE_BUCKETS = 24; // + bucket (0..31): first free run of the bucket, -1 when none (see page_heap.ts)
export const FREE_BUCKETS = 32;
/**
 * 0, or a page above the top: pages [top, reserve) lie in a memory that cannot shrink, were grown by the heap and
 * given back by trim() (whole 4 MiB regions, their page-map leaves freed). They are the heap's, not foreign, and
 * taken back before the memory grows again.
 */
export const H_RESERVE_TOP = 56;
export const H_BASE_PAGE = 60; // the heap's first page (its header's): the pages below it are not the heap's
export const H_FOREIGN_PAGES = 61; // pages in foreign runs (grown by someone else: never handed out, not footprint)
// Words 57..59: the routing the heap was created with, which every worker attached to it must share (the
// router counters of every worker are read with one layout, and a size must go to one backend whoever allocates).
export const H_TINY_MAX = 57; // the creator's tinyMaxSize: attachHeap follows it
export const H_POOL_MAX = 58; // the creator's poolMaxSize: attachHeap follows it
export const H_ROUTING = 59; // a hash of the backends (names, page kinds) and the routing table
// The free lists of the small area (see page_heap.ts) live in the header area of page kind 0, free pages: the page heap's own.
/** Heap flag: debug mode (guards, poisoning, allocation sites). */
export const HEAP_FLAG_DEBUG = 1;

export const DIR_WORD = 64; // page-map directory: MAX_REGIONS Uint32 leaf byte offsets
export const WORKER_TABLE_WORD = DIR_WORD + MAX_REGIONS;
export const MAX_WORKERS = 64;
export const WORKER_SLOT_WORDS = 4;
// Words of a worker slot.
export const W_STATE = 0; // WORKER_FREE or WORKER_ATTACHED
export const W_GENERATION = 1; // attaches so far of this slot
export const W_ATTACHED_AT = 2; // seconds (low 31 bits of Date.now()/1000) of the last attach
export const W_COUNTERS = 3; // byte offset of the slot's router counters (kept across occupants)
export const WORKER_FREE = 0;
export const WORKER_ATTACHED = 1;
export const BACKEND_AREA_WORD = WORKER_TABLE_WORD + MAX_WORKERS * WORKER_SLOT_WORDS;
/** Words of header space each backend kind owns for its shared state. */
export const BACKEND_AREA_WORDS = 1024;
/** Kinds 0..7: 0 free, 1 metadata, 2..7 backends (see PageKind). */
export const KIND_COUNT = 8;
export const HEADER_WORDS = BACKEND_AREA_WORD + KIND_COUNT * BACKEND_AREA_WORDS;
export const HEADER_PAGES = Math.ceil((HEADER_WORDS * 4) / PAGE_SIZE);
export const HEADER_BYTES = HEADER_PAGES * PAGE_SIZE;

/**
 * The page-map entry of a foreign run: pages inside the heap's span that the
 * heap did not grow (a WebAssembly module's own `memory.grow`). Metadata kind,
 * so no backend owns them, with a record offset no record has (records are
 * 64-byte aligned and lie above the header), so they are told from the heap's
 * own metadata.
 */
export const FOREIGN_ENTRY = 8 | 1;

/** What a page belongs to: the low 3 bits of its page-map entry. */
export const PageKind = {
  free: 0,
  metadata: 1,
  mmap: 2,
  tiny: 3,
  pool: 4,
  user1: 5,
  user2: 6,
  user3: 7,
} as const;
export const KIND_MASK = 7;

/** Bit b set: the small area's free-run bucket b holds a run. */
export const H_SMALL_FREE_BITMAP: number = BACKEND_AREA_WORD;
/** + bucket (0..31): first free run of the small area's bucket, -1 when none. */
export const H_SMALL_FREE_BUCKETS: number = BACKEND_AREA_WORD + 1;

/** The first header word of the shared area that backend `kind` owns. */
export function backendAreaWord(kind: number): number {
  return BACKEND_AREA_WORD + kind * BACKEND_AREA_WORDS;
}
