/**
 * A picture of a heap: {@linkcode renderHeapSvg} draws the memory as an SVG
 * image, read-only, from the page map and the backends' records.
 *
 * ```
 * ┌ summary: memory, footprint, live bytes, free runs ──────────────────────┐
 * │ memory map: one cell per page (or per 2^k pages in a large heap), row   │
 * │ by row from offset 0, coloured by owner; a slab or span is filled from  │
 * │ the bottom as far as its blocks are in use                              │
 * │ tiny: one row per SuperSlab, its 8 slabs by class and occupancy         │
 * │ pool: one row per class, its spans by occupancy                         │
 * │ mmap and other backends: their blocks                                   │
 * │ legend                                                                  │
 * └─────────────────────────────────────────────────────────────────────────┘
 * ```
 *
 * Owns nothing of the heap: it reads the page map, tiny's slab records
 * (`backends/slab/slab.ts`) and pool's span records, and writes nothing, so
 * it may run at any time. On a heap shared by workers that allocate while it
 * runs, the picture is a snapshot that may be slightly inconsistent.
 * Pure string building; no dependencies.
 *
 * @example
 * ```ts
 * import { createHeap } from "./mod.ts";
 * import { renderHeapSvg } from "./inspect.ts";
 *
 * const heap = createHeap();
 * for (let i = 0; i < 1000; i++) heap.malloc(48);
 * const svg = renderHeapSvg(heap, { title: "1000 blocks of 48 bytes" });
 * console.log(svg.startsWith("<svg"), svg.includes("tiny")); // true true
 * ```
 * @module
 */

import type { Heap } from "./heap.ts";
import {
  DIR_WORD,
  FOREIGN_ENTRY,
  HEADER_PAGES,
  KIND_MASK,
  LEAF_PAGES,
  MAX_REGIONS,
  PAGE_SHIFT,
  PAGE_SIZE,
  PageKind,
} from "./memory/layout.ts";
import type { Backend } from "./router/box.ts";
import { MmapBackend } from "./backends/mmap/mmap.ts";
import { PoolBackend } from "./backends/pool/pool.ts";
import { POOL_CLASS_COUNT, POOL_CLASS_SIZES, POOL_SPAN_PAGES } from "./backends/pool/pool_classes.ts";
import { TinyBackend } from "./backends/tiny/tiny.ts";
import { CLASS_COUNT, CLASS_SIZES } from "./backends/slab/size_classes.ts";
import {
  S_CAPACITY,
  S_CLASS,
  S_STATE,
  S_SUPERSLAB,
  S_USED,
  slabBase,
  SLABS_PER_SUPERSLAB,
  SlabState,
  SS_BASE,
  SS_CLASS,
  SS_SOURCE,
} from "./backends/slab/slab.ts";

// Pool span record words: the layout pool.ts documents (its R_* constants are private to it).
const POOL_R_CLASS = 0;
const POOL_R_CAPACITY = 2;
const POOL_R_USED = 3;

/** Options of {@linkcode renderHeapSvg}. */
export interface HeapSvgOptions {
  /** Title at the top. Default "hakmem heap". */
  title?: string;
  /** Cells per row of the memory map. Default 64. */
  columns?: number;
  /** Most rows of the memory map: beyond `columns × maxRows` pages, each cell stands for 2^k pages. Default 48. */
  maxRows?: number;
  /** Tiny SuperSlabs drawn one per row; the rest are counted. Default 24. */
  maxSuperSlabs?: number;
  /** Pool spans drawn per class; the rest are counted. Default 12. */
  maxSpansPerClass?: number;
}

// ---- what a page is ---------------------------------------------------------------

/** What owns a page, as the picture groups it. */
const Owner = { free: 0, metadata: 1, mmap: 2, tiny: 3, pool: 4, other: 5, tinyIdle: 6 } as const;

/** One tiny slab as drawn. */
interface SlabInfo {
  state: number;
  cls: number;
  used: number;
  capacity: number;
}

/** One tiny SuperSlab as drawn. */
interface SuperSlabInfo {
  base: number;
  source: number;
  legacyClass: number;
  slabs: SlabInfo[];
}

/** One pool span as drawn. */
interface SpanInfo {
  base: number;
  used: number;
  capacity: number;
}

/** A run of another backend's pages (mmap, or a user backend). */
interface BlockRun {
  base: number;
  pages: number;
  name: string;
}

/** Everything read from the heap, once. */
interface Snapshot {
  top: number;
  owner: Uint8Array; // Owner per page
  used: Float32Array; // fraction of the page's slab or span in use
  cls: Int16Array; // tiny or pool class per page, -1 none
  unit: Int32Array; // first page of the page's slab, span or run: cells of one unit merge in the map
  superslabs: SuperSlabInfo[];
  spans: SpanInfo[][]; // per pool class
  mmapRuns: BlockRun[];
  otherRuns: BlockRun[];
  leafPages: Set<number>;
  base: number; // the heap's first page: the pages below are someone else's (drawn as metadata)
  foreign: number[]; // [first, end) page pairs of foreign runs (grown by someone else; drawn as metadata)
}

function snapshot(heap: Heap): Snapshot {
  const pages = heap.pages;
  const i32 = heap.mem.i32;
  const u32 = heap.mem.u32;
  const top = pages.top;
  const owner = new Uint8Array(top);
  const used = new Float32Array(top);
  const cls = new Int16Array(top).fill(-1);
  const unit = new Int32Array(top).fill(-1); // -1: a free page
  const superslabs: SuperSlabInfo[] = [];
  const spans: SpanInfo[][] = Array.from({ length: POOL_CLASS_COUNT }, () => []);
  const mmapRuns: BlockRun[] = [];
  const otherRuns: BlockRun[] = [];
  const foreign: number[] = [];
  owner.fill(Owner.metadata, 0, pages.first);
  const backendOfKind: Array<Backend | null | undefined> = [];
  const backendOf = (kind: number, page: number): Backend | null => {
    let backend = backendOfKind[kind];
    if (backend === undefined) {
      const index = heap.router.ownerIndex(page * PAGE_SIZE);
      backend = index >= 0 ? heap.router.backends[index] : null;
      backendOfKind[kind] = backend;
    }
    return backend;
  };
  pages.forEachRun((first, count, entry) => {
    const kind = entry & KIND_MASK;
    const end = Math.min(first + count, top);
    unit.fill(first, first, end);
    if (kind === PageKind.metadata) {
      if (entry === FOREIGN_ENTRY) foreign.push(first, end);
      owner.fill(Owner.metadata, first, end);
      used.fill(1, first, end);
      return;
    }
    const backend = backendOf(kind, first);
    if (backend instanceof TinyBackend) {
      const slabs: SlabInfo[] = [];
      let superslab = 0;
      for (let page = first; page < end; page++) {
        const slab = pages.ownerOf(page * PAGE_SIZE) - kind;
        const r = slab >>> 2;
        unit[page] = slab;
        superslab = i32[r + S_SUPERSLAB];
        const state = i32[r + S_STATE];
        if (state >= SlabState.current) {
          owner[page] = Owner.tiny;
          cls[page] = i32[r + S_CLASS];
          used[page] = i32[r + S_USED] / Math.max(1, i32[r + S_CAPACITY]);
        } else {
          owner[page] = Owner.tinyIdle;
        }
      }
      if (superslab !== 0) {
        const s = superslab >>> 2;
        const base = i32[s + SS_BASE] >>> 0;
        for (let index = 0; index < SLABS_PER_SUPERSLAB; index++) {
          const r = (pages.ownerOf(slabBase(base, index)) - kind) >>> 2;
          const state = i32[r + S_STATE];
          const active = state >= SlabState.current;
          slabs.push({
            state,
            cls: active ? i32[r + S_CLASS] : -1,
            used: active ? i32[r + S_USED] : 0,
            capacity: active ? i32[r + S_CAPACITY] : 0,
          });
        }
        superslabs.push({ base, source: i32[s + SS_SOURCE], legacyClass: i32[s + SS_CLASS], slabs });
      }
    } else if (backend instanceof PoolBackend) {
      const r = ((entry & ~KIND_MASK) >>> 0) >>> 2;
      const spanClass = i32[r + POOL_R_CLASS];
      const span = { base: first * PAGE_SIZE, used: i32[r + POOL_R_USED], capacity: i32[r + POOL_R_CAPACITY] };
      owner.fill(Owner.pool, first, end);
      cls.fill(spanClass, first, end);
      used.fill(span.used / Math.max(1, span.capacity), first, end);
      if (spanClass >= 0 && spanClass < POOL_CLASS_COUNT) spans[spanClass].push(span);
    } else {
      const mmap = backend instanceof MmapBackend;
      owner.fill(mmap ? Owner.mmap : Owner.other, first, end);
      used.fill(1, first, end);
      const run = { base: first * PAGE_SIZE, pages: count, name: backend ? backend.capabilities.name : `kind ${kind}` };
      (mmap ? mmapRuns : otherRuns).push(run);
    }
  });
  const leafPages = new Set<number>();
  for (let region = 0; region < MAX_REGIONS; region++) {
    const leaf = u32[heap.mem.header + DIR_WORD + region];
    if (leaf === 0) continue;
    for (let i = 0; i < LEAF_PAGES; i++) leafPages.add((leaf >>> PAGE_SHIFT) + i);
  }
  return { top, owner, used, cls, unit, superslabs, spans, mmapRuns, otherRuns, leafPages, base: pages.first, foreign };
}

// ---- colours ----------------------------------------------------------------------

const FREE_COLOUR = "#ececec";
const METADATA_COLOUR = "#8a8a8a";
const MMAP_COLOUR = "#7d3c98";
const OTHER_COLOUR = "#8d6e63";
const IDLE_FILL = "#ffffff";
const IDLE_STROKE = "#7fb8c2";
const TEXT = "#222222";
const MUTED = "#666666";

/** An sRGB hex colour from hue (degrees), saturation and lightness (0..1). */
function hsl(hue: number, saturation: number, lightness: number): string {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12;
    const value = lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * value).toString(16).padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/** Tiny classes run from teal (16 B) to deep blue (1 KiB). */
function tinyHue(cls: number): number {
  return 165 + (cls / (CLASS_COUNT - 1)) * 65;
}

/** Pool classes run from yellow (1.25 KiB) to red (256 KiB). */
function poolHue(cls: number): number {
  return 50 - (cls / (POOL_CLASS_COUNT - 1)) * 50;
}

/** The colours of a page: [in use, not in use]. */
function pageColours(owner: number, cls: number): [string, string] {
  switch (owner) {
    case Owner.tiny:
      return [hsl(tinyHue(cls), 0.6, 0.4), hsl(tinyHue(cls), 0.55, 0.86)];
    case Owner.pool:
      return [hsl(poolHue(cls), 0.85, 0.47), hsl(poolHue(cls), 0.8, 0.87)];
    case Owner.metadata:
      return [METADATA_COLOUR, METADATA_COLOUR];
    case Owner.mmap:
      return [MMAP_COLOUR, MMAP_COLOUR];
    case Owner.other:
      return [OTHER_COLOUR, OTHER_COLOUR];
    case Owner.tinyIdle:
      return [IDLE_FILL, IDLE_FILL];
    default:
      return [FREE_COLOUR, FREE_COLOUR];
  }
}

// ---- text -------------------------------------------------------------------------

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function bytes(value: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
  return `${shown} ${units[unit]}`;
}

function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Builds the SVG elements, one string each. */
class Canvas {
  readonly parts: string[] = [];

  rect(x: number, y: number, width: number, height: number, fill: string, extra = ""): void {
    this.parts.push(`<rect x="${round(x)}" y="${round(y)}" width="${round(width)}" height="${round(height)}" fill="${fill}"${extra}/>`);
  }

  text(x: number, y: number, content: string, extra = ""): void {
    this.parts.push(`<text x="${round(x)}" y="${round(y)}"${extra}>${escapeXml(content)}</text>`);
  }

  /** Opens a group whose hover title is `title`; close it with {@linkcode Canvas.end}. */
  group(title: string): void {
    this.parts.push(`<g><title>${escapeXml(title)}</title>`);
  }

  end(): void {
    this.parts.push("</g>");
  }
}

function round(value: number): string {
  return String(Math.round(value * 10) / 10);
}

// ---- the picture ------------------------------------------------------------------

const MARGIN = 16;
const CELL = 14;
const GAP = 1;
const LINE = 18;

/**
 * Renders the heap as an SVG image: the memory map by owner and occupancy,
 * tiny's SuperSlabs slab by slab, pool's spans by class, mmap blocks, free
 * space and a legend. Reads the heap and changes nothing. Large heaps are
 * aggregated: a map cell then stands for several pages, drawn as the shares
 * of its owners.
 *
 * @example
 * ```ts
 * import { createHeap } from "./mod.ts";
 * import { renderHeapSvg } from "./inspect.ts";
 *
 * const heap = createHeap();
 * heap.malloc(100); // tiny
 * heap.malloc(40000); // pool
 * heap.malloc(1 << 20); // mmap
 * const svg = renderHeapSvg(heap);
 * console.log(["tiny", "pool", "mmap"].every((name) => svg.includes(name))); // true
 * // Deno: Deno.writeTextFileSync("heap.svg", svg); Node or Bun: fs.writeFileSync("heap.svg", svg)
 * ```
 */
export function renderHeapSvg(heap: Heap, options: HeapSvgOptions = {}): string {
  const stats = heap.stats(); // also brings the views up to date after growth
  const health = heap.health();
  const shot = snapshot(heap);
  const columns = Math.max(8, Math.floor(options.columns ?? 64));
  const maxRows = Math.max(1, Math.floor(options.maxRows ?? 48));
  const width = Math.max(960, MARGIN * 2 + columns * CELL + 90); // room for the offsets right of the map
  const canvas = new Canvas();
  let y = MARGIN;

  // Summary.
  canvas.text(MARGIN, y + 14, options.title ?? "hakmem heap", ` font-size="18" font-weight="bold" fill="${TEXT}"`);
  y += 26;
  const summary = [
    `${health.memory}: ${bytes(stats.memoryBytes)} of at most ${bytes(health.maxBytes)}, ${count(shot.top)} pages of 4 KiB`,
    `footprint ${bytes(stats.footprintBytes)} (peak ${bytes(stats.peakFootprintBytes)}), metadata ${bytes(stats.metadataBytes)}, ` +
    `live ${bytes(stats.liveBytes)} in ${count(stats.liveBlocks)} blocks, overhead ${
      Number.isFinite(stats.overhead) ? stats.overhead.toFixed(2) : "-"
    }`,
    `free ${bytes(stats.freeBytes)} in ${count(stats.pageHeap.freeRuns)} runs (largest ${
      bytes(stats.pageHeap.largestFreeRun * PAGE_SIZE)
    }); ` +
    `backends: ${stats.backends.map((backend) => `${backend.name} ${bytes(backend.footprintBytes)}`).join(", ")}`,
  ];
  for (const line of summary) {
    canvas.text(MARGIN, y + 12, line, ` fill="${TEXT}"`);
    y += LINE;
  }
  y += 6;

  // The memory map.
  let pagesPerCell = 1;
  while (Math.ceil(shot.top / pagesPerCell) > columns * maxRows) pagesPerCell *= 2;
  const cells = Math.ceil(shot.top / pagesPerCell);
  const rows = Math.ceil(cells / columns);
  canvas.text(
    MARGIN,
    y + 12,
    `Memory map: ${
      pagesPerCell === 1 ? "one cell per 4 KiB page" : `one cell per ${pagesPerCell} pages (${bytes(pagesPerCell * PAGE_SIZE)})`
    }, ` +
      `${columns} cells (${bytes(columns * pagesPerCell * PAGE_SIZE)}) per row from offset 0; filled height: blocks in use`,
    ` font-weight="bold" fill="${TEXT}"`,
  );
  y += LINE + 2;
  if (pagesPerCell === 1) drawPageMap(canvas, shot, columns, MARGIN, y);
  else drawAggregateMap(canvas, shot, columns, pagesPerCell, MARGIN, y);
  for (let row = 0; row < rows; row += 8) {
    canvas.text(
      MARGIN + columns * CELL + 4,
      y + row * CELL + 10,
      hex(row * columns * pagesPerCell * PAGE_SIZE),
      ` font-size="9" fill="${MUTED}"`,
    );
  }
  y += rows * CELL + 12;

  y = drawTinyPanel(canvas, shot, options.maxSuperSlabs ?? 24, width, y);
  y = drawPoolPanel(canvas, shot, options.maxSpansPerClass ?? 12, width, y);
  y = drawRunsPanel(canvas, "mmap", shot.mmapRuns, y);
  if (shot.otherRuns.length > 0) y = drawRunsPanel(canvas, "other backends", shot.otherRuns, y);
  y = drawLegend(canvas, width, y);

  const height = Math.ceil(y + MARGIN);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...canvas.parts,
    "</svg>",
    "",
  ].join("\n");
}

/** What one page is, in words (for hover titles). */
function describePage(shot: Snapshot, page: number): string {
  switch (shot.owner[page]) {
    case Owner.metadata:
      if (page < shot.base) return "below the heap's base: not the heap's";
      if (page < shot.base + HEADER_PAGES) return "heap header";
      for (let i = 0; i < shot.foreign.length; i += 2) {
        if (page >= shot.foreign[i] && page < shot.foreign[i + 1]) return "grown by someone else (a foreign run): not the heap's";
      }
      return shot.leafPages.has(page) ? "page-map leaf" : "heap metadata (records, caches)";
    case Owner.tiny:
      return `tiny slab of ${CLASS_SIZES[shot.cls[page]]} B blocks, ${Math.round(shot.used[page] * 100)}% in use`;
    case Owner.tinyIdle:
      return "tiny slab without a class (empty or never used)";
    case Owner.pool:
      return `pool span of ${bytes(POOL_CLASS_SIZES[shot.cls[page]])} blocks, ${Math.round(shot.used[page] * 100)}% in use`;
    case Owner.mmap:
      return "mmap block";
    case Owner.other:
      return "another backend's block";
    default:
      return "free page";
  }
}

/** One cell per page; neighbours in a row that look alike are one rectangle. */
function drawPageMap(canvas: Canvas, shot: Snapshot, columns: number, left: number, top: number): void {
  const { owner, used, cls, unit } = shot;
  for (let start = 0; start < shot.top;) {
    const row = Math.floor(start / columns);
    const rowEnd = Math.min(shot.top, (row + 1) * columns);
    let end = start + 1;
    while (end < rowEnd && unit[end] === unit[start] && owner[end] === owner[start]) end++;
    const x = left + (start - row * columns) * CELL;
    const y = top + row * CELL;
    const width = (end - start) * CELL - GAP;
    const height = CELL - GAP;
    const [full, light] = pageColours(owner[start], cls[start]);
    const what = describePage(shot, start);
    canvas.group(
      end - start === 1
        ? `page ${start} (${hex(start * PAGE_SIZE)}): ${what}`
        : `pages ${start}..${end - 1} (${hex(start * PAGE_SIZE)}): ${what}`,
    );
    if (owner[start] === Owner.tinyIdle) {
      canvas.rect(x + 0.5, y + 0.5, width - 1, height - 1, IDLE_FILL, ` stroke="${IDLE_STROKE}" stroke-dasharray="2 2"`);
    } else {
      canvas.rect(x, y, width, height, light);
      const filled = Math.max(0, Math.min(1, used[start])) * height;
      if (filled > 0 && full !== light) canvas.rect(x, y + height - filled, width, filled, full);
    }
    canvas.end();
    start = end;
  }
}

/** Segment order of an aggregated cell, bottom up. */
const SEGMENTS: Array<{ name: string; colour: string }> = [
  { name: "metadata", colour: METADATA_COLOUR },
  { name: "mmap", colour: MMAP_COLOUR },
  { name: "other", colour: OTHER_COLOUR },
  { name: "tiny in use", colour: hsl(tinyHue(CLASS_COUNT >> 1), 0.6, 0.4) },
  { name: "pool in use", colour: hsl(poolHue(POOL_CLASS_COUNT >> 1), 0.85, 0.47) },
  { name: "tiny not in use", colour: hsl(tinyHue(CLASS_COUNT >> 1), 0.55, 0.86) },
  { name: "pool not in use", colour: hsl(poolHue(POOL_CLASS_COUNT >> 1), 0.8, 0.87) },
  { name: "free", colour: FREE_COLOUR },
];

/** One cell per `pagesPerCell` pages, drawn as the shares of what they hold. */
function drawAggregateMap(canvas: Canvas, shot: Snapshot, columns: number, pagesPerCell: number, left: number, top: number): void {
  const cells = Math.ceil(shot.top / pagesPerCell);
  const shares = new Float64Array(SEGMENTS.length);
  let previous = "";
  let runStart = 0;
  let runShares: number[] = [];
  const flush = (endCell: number) => {
    if (endCell <= runStart) return;
    const row = Math.floor(runStart / columns);
    const x = left + (runStart - row * columns) * CELL;
    const y = top + row * CELL;
    const width = (endCell - runStart) * CELL - GAP;
    const height = CELL - GAP;
    const total = runShares.reduce((sum, share) => sum + share, 0) || 1;
    const firstPage = runStart * pagesPerCell;
    const lastPage = Math.min(shot.top, endCell * pagesPerCell) - 1;
    const words = SEGMENTS.map((segment, index) =>
      runShares[index] > 0 ? `${segment.name} ${Math.round((100 * runShares[index]) / total)}%` : ""
    )
      .filter((word) => word !== "");
    canvas.group(`pages ${firstPage}..${lastPage} (${hex(firstPage * PAGE_SIZE)}): ${words.join(", ")}`);
    let bottom = y + height;
    for (let index = 0; index < SEGMENTS.length; index++) {
      if (runShares[index] <= 0) continue;
      const part = (runShares[index] / total) * height;
      canvas.rect(x, bottom - part, width, part, SEGMENTS[index].colour);
      bottom -= part;
    }
    canvas.end();
  };
  for (let cell = 0; cell < cells; cell++) {
    shares.fill(0);
    const end = Math.min(shot.top, (cell + 1) * pagesPerCell);
    for (let page = cell * pagesPerCell; page < end; page++) {
      const fraction = Math.max(0, Math.min(1, shot.used[page]));
      switch (shot.owner[page]) {
        case Owner.metadata:
          shares[0]++;
          break;
        case Owner.mmap:
          shares[1]++;
          break;
        case Owner.other:
          shares[2]++;
          break;
        case Owner.tiny:
          shares[3] += fraction;
          shares[5] += 1 - fraction;
          break;
        case Owner.tinyIdle:
          shares[5]++;
          break;
        case Owner.pool:
          shares[4] += fraction;
          shares[6] += 1 - fraction;
          break;
        default:
          shares[7]++;
      }
    }
    // Quantized so neighbouring cells that look alike merge into one rectangle.
    const quantized = Array.from(shares, (share) => Math.round((share / (end - cell * pagesPerCell)) * 64));
    const key = quantized.join(",");
    if (key !== previous || cell % columns === 0) {
      flush(cell);
      runStart = cell;
      runShares = quantized;
      previous = key;
    }
  }
  flush(cells);
}

/** One row per SuperSlab: its slabs by class and occupancy. */
function drawTinyPanel(canvas: Canvas, shot: Snapshot, maxRows: number, width: number, top: number): number {
  let y = top;
  const list = shot.superslabs;
  if (list.length === 0) return y;
  let assigned = 0;
  let blocksUsed = 0;
  let blocksCapacity = 0;
  for (const superslab of list) {
    for (const slab of superslab.slabs) {
      if (slab.state < SlabState.current) continue;
      assigned++;
      blocksUsed += slab.used;
      blocksCapacity += slab.capacity;
    }
  }
  canvas.text(
    MARGIN,
    y + 12,
    `tiny: ${list.length} SuperSlabs of ${SLABS_PER_SUPERSLAB} slabs, ${assigned} slabs with a class, ` +
      `${count(blocksUsed)} of ${count(blocksCapacity)} blocks in use (or cached)`,
    ` font-weight="bold" fill="${TEXT}"`,
  );
  y += LINE + 2;
  const label = 150;
  const boxWidth = Math.floor((width - 2 * MARGIN - label) / SLABS_PER_SUPERSLAB);
  const boxHeight = 26;
  for (const superslab of list.slice(0, maxRows)) {
    const source = superslab.source === 1 ? `legacy ${CLASS_SIZES[superslab.legacyClass] ?? "?"} B` : "shared pool";
    canvas.text(MARGIN, y + 17, `${hex(superslab.base)} ${source}`, ` font-size="11" fill="${MUTED}"`);
    superslab.slabs.forEach((slab, index) => {
      const x = MARGIN + label + index * boxWidth;
      const w = boxWidth - 3;
      if (slab.state < SlabState.current) {
        const word = slab.state === SlabState.unused ? "never used" : "empty";
        canvas.group(`slab ${index}: ${word}`);
        canvas.rect(x + 0.5, y + 0.5, w - 1, boxHeight - 1, IDLE_FILL, ` stroke="${IDLE_STROKE}" stroke-dasharray="3 2"`);
        canvas.text(x + 5, y + 17, word, ` font-size="10" fill="${MUTED}"`);
        canvas.end();
        return;
      }
      const hue = tinyHue(slab.cls);
      const fraction = Math.max(0, Math.min(1, slab.used / Math.max(1, slab.capacity)));
      const state = ["unused", "empty", "current", "partial", "full", "orphan"][slab.state] ?? `state ${slab.state}`;
      canvas.group(`slab ${index}: ${CLASS_SIZES[slab.cls]} B blocks, ${slab.used} of ${slab.capacity} in use, ${state}`);
      const outline = slab.state === SlabState.current ? ` stroke="${TEXT}" stroke-width="1.5"` : "";
      canvas.rect(x, y, w, boxHeight, hsl(hue, 0.55, 0.88), outline);
      canvas.rect(x, y + boxHeight - 8, w * fraction, 8, hsl(hue, 0.6, 0.4));
      canvas.text(x + 4, y + 12, `${CLASS_SIZES[slab.cls]} B  ${slab.used}/${slab.capacity}`, ` font-size="10" fill="${TEXT}"`);
      canvas.end();
    });
    y += boxHeight + 4;
  }
  if (list.length > maxRows) {
    canvas.text(MARGIN, y + 12, `… and ${list.length - maxRows} more SuperSlabs (see the memory map)`, ` font-size="11" fill="${MUTED}"`);
    y += LINE;
  }
  return y + 10;
}

/** Each pool class in use with its spans by occupancy, flowing left to right. */
function drawPoolPanel(canvas: Canvas, shot: Snapshot, maxSpans: number, width: number, top: number): number {
  let y = top;
  const classes = shot.spans.map((spans, cls) => ({ cls, spans })).filter((entry) => entry.spans.length > 0);
  if (classes.length === 0) return y;
  const total = classes.reduce((sum, entry) => sum + entry.spans.length, 0);
  canvas.text(MARGIN, y + 12, `pool: ${total} spans in ${classes.length} classes`, ` font-weight="bold" fill="${TEXT}"`);
  y += LINE + 2;
  const label = 84;
  const boxWidth = 50;
  const boxHeight = 22;
  let x = MARGIN;
  for (const { cls, spans } of classes) {
    const shown = Math.min(spans.length, maxSpans);
    const more = spans.length > shown ? 34 : 0;
    const itemWidth = label + shown * boxWidth + more + 14;
    if (x > MARGIN && x + itemWidth > width - MARGIN) {
      x = MARGIN;
      y += boxHeight + 6;
    }
    const used = spans.reduce((sum, span) => sum + span.used, 0);
    const capacity = spans.reduce((sum, span) => sum + span.capacity, 0);
    canvas.text(x, y + 10, `${bytes(POOL_CLASS_SIZES[cls])} × ${spans.length}`, ` font-size="11" fill="${TEXT}"`);
    canvas.text(x, y + 22, `${used} of ${capacity} in use`, ` font-size="9" fill="${MUTED}"`);
    const hue = poolHue(cls);
    spans.slice(0, shown).forEach((span, index) => {
      const boxX = x + label + index * boxWidth;
      const w = boxWidth - 3;
      const fraction = Math.max(0, Math.min(1, span.used / Math.max(1, span.capacity)));
      canvas.group(
        `span at ${hex(span.base)} (${bytes(POOL_SPAN_PAGES[cls] * PAGE_SIZE)}): ${span.used} of ${span.capacity} blocks of ${
          bytes(POOL_CLASS_SIZES[cls])
        } in use`,
      );
      canvas.rect(boxX, y, w, boxHeight, hsl(hue, 0.8, 0.88));
      canvas.rect(boxX, y + boxHeight - 7, w * fraction, 7, hsl(hue, 0.85, 0.47));
      canvas.text(boxX + 4, y + 11, `${span.used}/${span.capacity}`, ` font-size="10" fill="${TEXT}"`);
      canvas.end();
    });
    if (more > 0) canvas.text(x + label + shown * boxWidth + 2, y + 15, `+${spans.length - shown}`, ` font-size="10" fill="${MUTED}"`);
    x += itemWidth;
  }
  return y + boxHeight + 16;
}

/** mmap's (or another backend's) blocks: how many, how big, the largest. */
function drawRunsPanel(canvas: Canvas, title: string, runs: BlockRun[], top: number): number {
  let y = top;
  if (runs.length === 0) return y;
  const pages = runs.reduce((sum, run) => sum + run.pages, 0);
  canvas.text(MARGIN, y + 12, `${title}: ${runs.length} blocks, ${bytes(pages * PAGE_SIZE)}`, ` font-weight="bold" fill="${TEXT}"`);
  y += LINE;
  const largest = [...runs].sort((a, b) => b.pages - a.pages).slice(0, 5);
  const words = largest.map((run) => `${run.name === "mmap" ? "" : `${run.name} `}${bytes(run.pages * PAGE_SIZE)} at ${hex(run.base)}`);
  canvas.text(
    MARGIN,
    y + 12,
    `largest: ${words.join(", ")}${runs.length > largest.length ? ", …" : ""}`,
    ` font-size="11" fill="${MUTED}"`,
  );
  return y + LINE + 10;
}

/** What the colours mean. */
function drawLegend(canvas: Canvas, width: number, top: number): number {
  let y = top;
  canvas.text(MARGIN, y + 12, "Legend", ` font-weight="bold" fill="${TEXT}"`);
  y += LINE;
  const swatches: Array<{ label: string; fill: string; stroke?: string }> = [
    { label: "free page", fill: FREE_COLOUR },
    { label: "metadata (header, page map, records, caches)", fill: METADATA_COLOUR },
    { label: "mmap block", fill: MMAP_COLOUR },
    { label: "tiny slab without a class", fill: IDLE_FILL, stroke: IDLE_STROKE },
    { label: "other backend", fill: OTHER_COLOUR },
  ];
  let x = MARGIN;
  for (const swatch of swatches) {
    const extra = swatch.stroke ? ` stroke="${swatch.stroke}" stroke-dasharray="2 2"` : "";
    const labelWidth = swatch.label.length * 6.5 + 30;
    if (x + labelWidth > width - MARGIN) {
      x = MARGIN;
      y += LINE;
    }
    canvas.rect(x, y + 2, 12, 12, swatch.fill, extra);
    canvas.text(x + 17, y + 12, swatch.label, ` font-size="11" fill="${TEXT}"`);
    x += labelWidth;
  }
  y += LINE + 4;
  y = drawScale(canvas, "tiny class", CLASS_COUNT, (cls) => `${CLASS_SIZES[cls]}`, tinyHue, [0.6, 0.4], [0, 8, 16, CLASS_COUNT - 1], y);
  y = drawScale(
    canvas,
    "pool class",
    POOL_CLASS_COUNT,
    (cls) => bytes(POOL_CLASS_SIZES[cls]).replace(" ", ""),
    poolHue,
    [0.85, 0.47],
    [0, 12, 24, POOL_CLASS_COUNT - 1],
    y,
  );
  const notes = [
    "A slab or span is light where its blocks are free and filled from the bottom (a bar in the panels) as far as blocks are in use;",
    "tiny counts blocks cached by workers as in use. Outlined slab: a worker's current slab. Hover a cell for details.",
  ];
  for (const note of notes) {
    canvas.text(MARGIN, y + 12, note, ` font-size="11" fill="${MUTED}"`);
    y += LINE - 2;
  }
  return y;
}

/** A colour scale of `steps` classes, labelled at `marks`. */
function drawScale(
  canvas: Canvas,
  title: string,
  steps: number,
  label: (cls: number) => string,
  hue: (cls: number) => number,
  [saturation, lightness]: [number, number],
  marks: number[],
  top: number,
): number {
  canvas.text(MARGIN, top + 12, title, ` font-size="11" fill="${TEXT}"`);
  const left = MARGIN + 80;
  const step = 18;
  for (let cls = 0; cls < steps; cls++) canvas.rect(left + cls * step, top + 2, step, 12, hsl(hue(cls), saturation, lightness));
  for (const mark of marks) {
    canvas.text(left + mark * step, top + 27, label(mark), ` font-size="9" fill="${MUTED}"`);
  }
  return top + 34;
}
