/**
 * A picture of a heap: {@linkcode renderHeapSvg} draws the memory as an SVG
 * image, read-only, from the page map and the backends' records.
 *
 * ```
 * ┌ summary: memory, footprint, live bytes, free runs ──────────────────────┐
 * │ memory map: one cell per page (or per 2^k pages in a large heap), row   │
 * │ by row from offset 0, coloured by owner; a slab or span is filled from  │
 * │ the bottom as far as its blocks are in use                              │
 * │ tiny (regions in groups): one row per SuperSlab, its slabs by class     │
 * │ pool (regions by class): one row per class, its spans by occupancy      │
 * │ mmap (blocks) and backends that do not describe themselves: their runs  │
 * │ legend                                                                  │
 * └─────────────────────────────────────────────────────────────────────────┘
 * ```
 *
 * Owns nothing of the heap: it reads the page map and asks each backend to
 * describe its memory (the optional Box member `describe()`, see
 * router/box.ts), so it knows no backend's records; it writes nothing, so
 * it may run at any time. On a heap shared by workers that allocate while it
 * runs, the picture is a snapshot that may be slightly inconsistent.
 * Pure string building; no dependencies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { renderHeapSvg } from "./mod.ts";
 *
 * const heap = createHeap();
 * for (let i = 0; i < 1000; i++) heap.malloc(48);
 * const svg = renderHeapSvg(heap, { title: "1000 blocks of 48 bytes" });
 * assert.ok(svg.startsWith("<svg"));
 * assert.ok(svg.includes("tiny"));
 * ```
 * @module
 */

import { describe, HakmemError } from "../core/errors.ts";
import type { CheckProblem } from "../memory/page_heap.ts";
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
} from "../memory/layout.ts";
import type { Backend, MemoryDescription, RegionDescription } from "../router/box.ts";
import type { HeapSvgOptions } from "../heap/picture_options.ts";

export type { HeapSvgOptions };

/**
 * What the picture reads of a heap; a `Heap` is one. Declared here, in the
 * picture's own terms, so the picture imports nothing of the heap (the heap
 * reaches the picture through the hook the "./inspect" subpath installs; no import circle).
 */
export interface HeapToDraw {
  /** The page heap: its pages in use and its runs with their page-map entries. */
  readonly pages: {
    readonly first: number;
    readonly top: number;
    forEachRun(visit: (page: number, pages: number, owner: number) => void): void;
    /** The header's constant-work check (see `PageHeap.checkHeader`): false when the top or the page map cannot be trusted. */
    checkHeader(problems: CheckProblem[], counters: boolean): boolean;
  };
  /** The memory: its words, and where the heap header starts in them. */
  readonly mem: { readonly u32: Uint32Array; readonly header: number };
  /** The router: its backends, and which of them owns an address. */
  readonly router: { readonly backends: readonly Backend[]; ownerIndex(ptr: number): number };
  /** The heap's gauges, as `Heap.stats()` gives them. */
  stats(): {
    memoryBytes: number;
    footprintBytes: number;
    peakFootprintBytes: number;
    metadataBytes: number;
    liveBytes: number;
    liveBlocks: number;
    overhead: number;
    freeBytes: number;
    pageHeap: { freeRuns: number; largestFreeRun: number };
    backends: Array<{ name: string; footprintBytes: number }>;
  };
  /** The heap's memory kind and limit, as `Heap.health()` gives them. */
  health(): { memory: string; maxBytes: number };
}

/** The numeric options of {@linkcode HeapSvgOptions}. */
const NUMBER_OPTIONS = ["columns", "maxRows", "maxSuperSlabs", "maxSpansPerClass"];

/**
 * Throws `INVALID_OPTION` for options that are not an object, name a key no
 * option has (a misspelling would be ignored otherwise), give a title that is
 * no string or a count that is no finite number.
 */
function checkSvgOptions(options: unknown): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new HakmemError("INVALID_OPTION", `picture options must be an object, got ${describe(options)}`, options);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === "title" ? typeof value !== "string" : !NUMBER_OPTIONS.includes(key)) {
      const known = ["title", ...NUMBER_OPTIONS].join(", ");
      throw new HakmemError(
        "INVALID_OPTION",
        `picture option ${JSON.stringify(key)} is unknown or no string; the options are ${known}`,
        key,
      );
    }
    if (key !== "title" && !(typeof value === "number" && Number.isFinite(value))) {
      throw new HakmemError("INVALID_OPTION", `picture option ${key} must be a finite number, got ${describe(value)}`, value);
    }
  }
}

// ---- what a page is ---------------------------------------------------------------

/** What owns a page, as the picture groups it. */
const Owner = { free: 0, metadata: 1, other: 2, described: 3, idle: 4 } as const;

/** The shades of one backend's classes: hues from first to last class, [saturation, lightness] per use. */
interface Palette {
  from: number;
  to: number;
  full: [number, number]; // blocks in use
  light: [number, number]; // a region's free part in the map
  panel: [number, number]; // a region's box in its panel
}

/** Palettes of the backends that describe classes, in router order (the first teal to blue, the second yellow to red). */
const PALETTES: Palette[] = [
  { from: 165, to: 230, full: [0.6, 0.4], light: [0.55, 0.86], panel: [0.55, 0.88] },
  { from: 50, to: 0, full: [0.85, 0.47], light: [0.8, 0.87], panel: [0.8, 0.88] },
  { from: 280, to: 330, full: [0.5, 0.45], light: [0.45, 0.87], panel: [0.45, 0.89] },
  { from: 95, to: 135, full: [0.55, 0.4], light: [0.5, 0.86], panel: [0.5, 0.88] },
];

/** A backend that describes its memory, as drawn. */
interface Family {
  name: string;
  description: MemoryDescription;
  palette: Palette; // for style "classes"
}

/** A run of pages drawn as one block (mmap's, or a run of a backend that does not describe itself). */
interface BlockRun {
  base: number;
  pages: number;
  name: string;
}

/** Everything read from the heap, once. */
interface Snapshot {
  top: number;
  owner: Uint8Array; // Owner per page
  used: Float32Array; // fraction of the page's region in use
  cls: Int16Array; // size class per page, -1 none
  family: Int16Array; // index into families per page, -1 none
  unit: Int32Array; // first page of the page's region or run: cells of one unit merge in the map
  families: Family[];
  otherRuns: BlockRun[];
  leafPages: Set<number>;
  base: number; // the heap's first page: the pages below are someone else's (drawn as metadata)
  foreign: number[]; // [first, end) page pairs of foreign runs (grown by someone else; drawn as metadata)
}

function snapshot(heap: HeapToDraw): Snapshot {
  const pages = heap.pages;
  const u32 = heap.mem.u32;
  const top = pages.top;
  const owner = new Uint8Array(top);
  const used = new Float32Array(top);
  const cls = new Int16Array(top).fill(-1);
  const family = new Int16Array(top).fill(-1);
  const unit = new Int32Array(top).fill(-1); // -1: a free page
  const otherRuns: BlockRun[] = [];
  const foreign: number[] = [];
  const families: Family[] = [];
  const described = new Set<Backend>();
  let palettes = 0;
  for (const backend of heap.router.backends) {
    const description = backend.describe?.();
    if (description === undefined) continue;
    described.add(backend);
    const palette = PALETTES[description.style === "classes" ? palettes++ % PALETTES.length : 0];
    families.push({ name: backend.capabilities.name, description, palette });
  }
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
    if (backend !== null && described.has(backend)) return; // drawn from its description, below
    owner.fill(Owner.other, first, end);
    used.fill(1, first, end);
    otherRuns.push({ base: first * PAGE_SIZE, pages: count, name: backend ? backend.capabilities.name : `kind ${kind}` });
  });
  families.forEach(({ description }, index) => {
    for (const region of description.regions) {
      const first = Math.floor(region.base / PAGE_SIZE);
      const end = Math.min(first + region.pages, top);
      if (first < 0 || first >= end) continue;
      unit.fill(first, first, end);
      family.fill(index, first, end);
      if (description.style === "blocks") {
        owner.fill(Owner.described, first, end);
        used.fill(1, first, end);
      } else if (region.sizeClass < 0) {
        owner.fill(Owner.idle, first, end);
      } else {
        owner.fill(Owner.described, first, end);
        cls.fill(region.sizeClass, first, end);
        used.fill(region.used / Math.max(1, region.capacity), first, end);
      }
    }
  });
  const leafPages = new Set<number>();
  for (let region = 0; region < MAX_REGIONS; region++) {
    const leaf = u32[heap.mem.header + DIR_WORD + region];
    if (leaf === 0) continue;
    for (let i = 0; i < LEAF_PAGES; i++) leafPages.add((leaf >>> PAGE_SHIFT) + i);
  }
  return { top, owner, used, cls, family, unit, families, otherRuns, leafPages, base: pages.first, foreign };
}

// ---- colours ----------------------------------------------------------------------

const FREE_COLOUR = "#ececec";
const METADATA_COLOUR = "#8a8a8a";
const BLOCK_COLOUR = "#7d3c98"; // a backend whose regions are blocks of their own (mmap)
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

/** The hue of class `cls` of a family: its palette from the first class to the last. */
function classHue(family: Family, cls: number): number {
  const { from, to } = family.palette;
  return from + (cls / Math.max(1, family.description.classSizes.length - 1)) * (to - from);
}

/** A family's colour of class `cls` in one of its shades. */
function classColour(family: Family, cls: number, [saturation, lightness]: [number, number]): string {
  return hsl(classHue(family, cls), saturation, lightness);
}

/** The colours of a page: [in use, not in use]. */
function pageColours(shot: Snapshot, page: number): [string, string] {
  switch (shot.owner[page]) {
    case Owner.described: {
      const family = shot.families[shot.family[page]];
      if (family.description.style === "blocks") return [BLOCK_COLOUR, BLOCK_COLOUR];
      return [classColour(family, shot.cls[page], family.palette.full), classColour(family, shot.cls[page], family.palette.light)];
    }
    case Owner.metadata:
      return [METADATA_COLOUR, METADATA_COLOUR];
    case Owner.other:
      return [OTHER_COLOUR, OTHER_COLOUR];
    case Owner.idle:
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

/** A block size in words: bytes up to 1 KiB ("48 B", "1024 B"), else in KiB or MiB. */
function blockSize(size: number): string {
  return size <= 1024 ? `${size} B` : bytes(size);
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
 * import assert from "node:assert/strict";
 * import { createHeap } from "../mod.ts";
 * import { renderHeapSvg } from "./mod.ts";
 *
 * const heap = createHeap();
 * heap.malloc(100); // tiny
 * heap.malloc(40000); // pool
 * heap.malloc(1 << 20); // mmap
 * const svg = renderHeapSvg(heap);
 * assert.ok(["tiny", "pool", "mmap"].every((name) => svg.includes(name)));
 * // Deno: Deno.writeTextFileSync("heap.svg", svg); Node or Bun: fs.writeFileSync("heap.svg", svg)
 * ```
 */
export function renderHeapSvg(heap: HeapToDraw, options: HeapSvgOptions = {}): string {
  checkSvgOptions(options);
  const stats = heap.stats(); // also brings the views up to date after growth
  const damage: CheckProblem[] = [];
  if (!heap.pages.checkHeader(damage, false)) {
    // The picture is sized by the header's top and drawn off the page map: neither can be trusted now.
    const shown = damage.slice(0, 3).map((problem) => `${problem.where}: ${problem.message}`).join("; ");
    throw new HakmemError("CORRUPTED", `the heap's header is damaged (${shown}): there is no picture to draw; check() says what is wrong`);
  }
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

  for (const family of shot.families) {
    const { style, groups } = family.description;
    if (style === "blocks") y = drawRunsPanel(canvas, family.name, blockRuns(family), y);
    else if (groups !== undefined) y = drawGroupPanel(canvas, family, options.maxSuperSlabs ?? 24, width, y);
    else y = drawClassPanel(canvas, family, options.maxSpansPerClass ?? 12, width, y);
  }
  if (shot.otherRuns.length > 0) y = drawRunsPanel(canvas, "other backends", shot.otherRuns, y);
  y = drawLegend(canvas, shot, width, y);

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
    case Owner.described: {
      const { name, description } = shot.families[shot.family[page]];
      if (description.style === "blocks") return `${name} ${description.regionNoun}`;
      const size = description.classSizes[shot.cls[page]];
      return `${name} ${description.regionNoun} of ${blockSize(size)} blocks, ${Math.round(shot.used[page] * 100)}% in use`;
    }
    case Owner.idle: {
      const { name, description } = shot.families[shot.family[page]];
      return `${name} ${description.regionNoun} without a class (empty or never used)`;
    }
    case Owner.other:
      return "another backend's block";
    default:
      return "free page";
  }
}

/** One cell per page; neighbours in a row that look alike are one rectangle. */
function drawPageMap(canvas: Canvas, shot: Snapshot, columns: number, left: number, top: number): void {
  const { owner, used, unit } = shot;
  for (let start = 0; start < shot.top;) {
    const row = Math.floor(start / columns);
    const rowEnd = Math.min(shot.top, (row + 1) * columns);
    let end = start + 1;
    while (end < rowEnd && unit[end] === unit[start] && owner[end] === owner[start]) end++;
    const x = left + (start - row * columns) * CELL;
    const y = top + row * CELL;
    const width = (end - start) * CELL - GAP;
    const height = CELL - GAP;
    const [full, light] = pageColours(shot, start);
    const what = describePage(shot, start);
    canvas.group(
      end - start === 1
        ? `page ${start} (${hex(start * PAGE_SIZE)}): ${what}`
        : `pages ${start}..${end - 1} (${hex(start * PAGE_SIZE)}): ${what}`,
    );
    if (owner[start] === Owner.idle) {
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

/** The segments of an aggregated cell, bottom up, and the segment of each page. */
function segmentsOf(shot: Snapshot): { segments: Array<{ name: string; colour: string }>; segmentOf: (page: number) => [number, number] } {
  const segments: Array<{ name: string; colour: string }> = [{ name: "metadata", colour: METADATA_COLOUR }];
  const blockSegment: number[] = [];
  const inUse: number[] = [];
  const notInUse: number[] = [];
  shot.families.forEach((family, index) => {
    if (family.description.style !== "blocks") return;
    blockSegment[index] = segments.length;
    segments.push({ name: family.name, colour: BLOCK_COLOUR });
  });
  const other = segments.length;
  segments.push({ name: "other", colour: OTHER_COLOUR });
  const classFamilies = shot.families.map((family, index) => ({ family, index })).filter(({ family }) =>
    family.description.style === "classes"
  );
  for (const { family, index } of classFamilies) {
    inUse[index] = segments.length;
    segments.push({
      name: `${family.name} in use`,
      colour: classColour(family, family.description.classSizes.length >> 1, family.palette.full),
    });
  }
  for (const { family, index } of classFamilies) {
    notInUse[index] = segments.length;
    segments.push({
      name: `${family.name} not in use`,
      colour: classColour(family, family.description.classSizes.length >> 1, family.palette.light),
    });
  }
  const free = segments.length;
  segments.push({ name: "free", colour: FREE_COLOUR });
  /** [segment of the part in use, segment of the rest] (the same for a page drawn whole). */
  const segmentOf = (page: number): [number, number] => {
    switch (shot.owner[page]) {
      case Owner.metadata:
        return [0, 0];
      case Owner.other:
        return [other, other];
      case Owner.described: {
        const index = shot.family[page];
        return blockSegment[index] !== undefined ? [blockSegment[index], blockSegment[index]] : [inUse[index], notInUse[index]];
      }
      case Owner.idle:
        return [notInUse[shot.family[page]], notInUse[shot.family[page]]];
      default:
        return [free, free];
    }
  };
  return { segments, segmentOf };
}

/** One cell per `pagesPerCell` pages, drawn as the shares of what they hold. */
function drawAggregateMap(canvas: Canvas, shot: Snapshot, columns: number, pagesPerCell: number, left: number, top: number): void {
  const cells = Math.ceil(shot.top / pagesPerCell);
  const { segments: SEGMENTS, segmentOf } = segmentsOf(shot);
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
      const [inUse, rest] = segmentOf(page);
      if (inUse === rest) {
        shares[inUse]++;
      } else {
        const fraction = Math.max(0, Math.min(1, shot.used[page]));
        shares[inUse] += fraction;
        shares[rest] += 1 - fraction;
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

/** A blocks backend's regions as runs for its panel. */
function blockRuns(family: Family): BlockRun[] {
  return family.description.regions.map((region) => ({ base: region.base, pages: region.pages, name: family.name }));
}

/** One row per group (tiny's SuperSlab): its regions by class and occupancy. */
function drawGroupPanel(canvas: Canvas, family: Family, maxRows: number, width: number, top: number): number {
  let y = top;
  const { description, name } = family;
  const groups = description.groups ?? [];
  if (groups.length === 0) return y;
  const members: RegionDescription[][] = groups.map(() => []);
  for (const region of description.regions) if (region.group !== undefined && members[region.group]) members[region.group].push(region);
  let assigned = 0;
  let blocksUsed = 0;
  let blocksCapacity = 0;
  for (const region of description.regions) {
    if (region.sizeClass < 0) continue;
    assigned++;
    blocksUsed += region.used;
    blocksCapacity += region.capacity;
  }
  const noun = description.regionNoun;
  const perGroup = Math.max(1, ...members.map((list) => list.length));
  canvas.text(
    MARGIN,
    y + 12,
    `${name}: ${groups.length} ${description.groupNoun ?? "group"}s of ${perGroup} ${noun}s, ${assigned} ${noun}s with a class, ` +
      `${count(blocksUsed)} of ${count(blocksCapacity)} blocks in use (or cached)`,
    ` font-weight="bold" fill="${TEXT}"`,
  );
  y += LINE + 2;
  const label = 150;
  const boxWidth = Math.floor((width - 2 * MARGIN - label) / perGroup);
  const boxHeight = 26;
  groups.slice(0, maxRows).forEach((group, groupIndex) => {
    canvas.text(MARGIN, y + 17, `${hex(group.base)} ${group.label}`, ` font-size="11" fill="${MUTED}"`);
    members[groupIndex].forEach((region, index) => {
      const x = MARGIN + label + index * boxWidth;
      const w = boxWidth - 3;
      if (region.sizeClass < 0) {
        canvas.group(`${noun} ${index}: ${region.state}`);
        canvas.rect(x + 0.5, y + 0.5, w - 1, boxHeight - 1, IDLE_FILL, ` stroke="${IDLE_STROKE}" stroke-dasharray="3 2"`);
        canvas.text(x + 5, y + 17, region.state, ` font-size="10" fill="${MUTED}"`);
        canvas.end();
        return;
      }
      const size = blockSize(description.classSizes[region.sizeClass]);
      const fraction = Math.max(0, Math.min(1, region.used / Math.max(1, region.capacity)));
      canvas.group(`${noun} ${index}: ${size} blocks, ${region.used} of ${region.capacity} in use, ${region.state}`);
      const outline = region.current ? ` stroke="${TEXT}" stroke-width="1.5"` : "";
      canvas.rect(x, y, w, boxHeight, classColour(family, region.sizeClass, family.palette.panel), outline);
      canvas.rect(x, y + boxHeight - 8, w * fraction, 8, classColour(family, region.sizeClass, family.palette.full));
      canvas.text(x + 4, y + 12, `${size}  ${region.used}/${region.capacity}`, ` font-size="10" fill="${TEXT}"`);
      canvas.end();
    });
    y += boxHeight + 4;
  });
  if (groups.length > maxRows) {
    canvas.text(
      MARGIN,
      y + 12,
      `… and ${groups.length - maxRows} more ${description.groupNoun ?? "group"}s (see the memory map)`,
      ` font-size="11" fill="${MUTED}"`,
    );
    y += LINE;
  }
  return y + 10;
}

/** Each class in use with its regions (pool's spans) by occupancy, flowing left to right. */
function drawClassPanel(canvas: Canvas, family: Family, maxSpans: number, width: number, top: number): number {
  let y = top;
  const { description, name } = family;
  const byClass: RegionDescription[][] = Array.from({ length: description.classSizes.length }, () => []);
  for (const region of description.regions) {
    if (region.sizeClass >= 0 && region.sizeClass < byClass.length) byClass[region.sizeClass].push(region);
  }
  const classes = byClass.map((spans, cls) => ({ cls, spans })).filter((entry) => entry.spans.length > 0);
  if (classes.length === 0) return y;
  const total = classes.reduce((sum, entry) => sum + entry.spans.length, 0);
  const noun = description.regionNoun;
  canvas.text(MARGIN, y + 12, `${name}: ${total} ${noun}s in ${classes.length} classes`, ` font-weight="bold" fill="${TEXT}"`);
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
    const size = blockSize(description.classSizes[cls]);
    const used = spans.reduce((sum, span) => sum + span.used, 0);
    const capacity = spans.reduce((sum, span) => sum + span.capacity, 0);
    canvas.text(x, y + 10, `${size} × ${spans.length}`, ` font-size="11" fill="${TEXT}"`);
    canvas.text(x, y + 22, `${used} of ${capacity} in use`, ` font-size="9" fill="${MUTED}"`);
    spans.slice(0, shown).forEach((span, index) => {
      const boxX = x + label + index * boxWidth;
      const w = boxWidth - 3;
      const fraction = Math.max(0, Math.min(1, span.used / Math.max(1, span.capacity)));
      canvas.group(
        `${noun} at ${hex(span.base)} (${bytes(span.pages * PAGE_SIZE)}): ${span.used} of ${span.capacity} blocks of ${size} in use`,
      );
      canvas.rect(boxX, y, w, boxHeight, classColour(family, cls, family.palette.panel));
      canvas.rect(boxX, y + boxHeight - 7, w * fraction, 7, classColour(family, cls, family.palette.full));
      canvas.text(boxX + 4, y + 11, `${span.used}/${span.capacity}`, ` font-size="10" fill="${TEXT}"`);
      canvas.end();
    });
    if (more > 0) canvas.text(x + label + shown * boxWidth + 2, y + 15, `+${spans.length - shown}`, ` font-size="10" fill="${MUTED}"`);
    x += itemWidth;
  }
  return y + boxHeight + 16;
}

/** A blocks backend's (mmap's) blocks, or the runs of backends that do not describe themselves: how many, how big, the largest. */
function drawRunsPanel(canvas: Canvas, title: string, runs: BlockRun[], top: number): number {
  let y = top;
  if (runs.length === 0) return y;
  const pages = runs.reduce((sum, run) => sum + run.pages, 0);
  canvas.text(MARGIN, y + 12, `${title}: ${runs.length} blocks, ${bytes(pages * PAGE_SIZE)}`, ` font-weight="bold" fill="${TEXT}"`);
  y += LINE;
  const largest = [...runs].sort((a, b) => b.pages - a.pages).slice(0, 5);
  const words = largest.map((run) => `${run.name === title ? "" : `${run.name} `}${bytes(run.pages * PAGE_SIZE)} at ${hex(run.base)}`);
  canvas.text(
    MARGIN,
    y + 12,
    `largest: ${words.join(", ")}${runs.length > largest.length ? ", …" : ""}`,
    ` font-size="11" fill="${MUTED}"`,
  );
  return y + LINE + 10;
}

/** What the colours mean. */
function drawLegend(canvas: Canvas, shot: Snapshot, width: number, top: number): number {
  let y = top;
  canvas.text(MARGIN, y + 12, "Legend", ` font-weight="bold" fill="${TEXT}"`);
  y += LINE;
  const swatches: Array<{ label: string; fill: string; stroke?: string }> = [
    { label: "free page", fill: FREE_COLOUR },
    { label: "metadata (header, page map, records, caches)", fill: METADATA_COLOUR },
  ];
  for (const { name, description } of shot.families) {
    if (description.style === "blocks") swatches.push({ label: `${name} ${description.regionNoun}`, fill: BLOCK_COLOUR });
  }
  for (const { name, description } of shot.families) {
    if (description.groups !== undefined) {
      swatches.push({ label: `${name} ${description.regionNoun} without a class`, fill: IDLE_FILL, stroke: IDLE_STROKE });
    }
  }
  swatches.push({ label: "other backend", fill: OTHER_COLOUR });
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
  for (const family of shot.families) {
    const sizes = family.description.classSizes;
    if (family.description.style !== "classes" || sizes.length === 0) continue;
    const step = sizes.length > 24 ? 12 : 8; // about four labels on the scale
    const marks = [0, step, 2 * step].filter((mark) => mark < sizes.length - 1).concat(sizes.length - 1);
    y = drawScale(
      canvas,
      `${family.name} class`,
      sizes.length,
      (cls) => (sizes[cls] <= 1024 ? String(sizes[cls]) : bytes(sizes[cls]).replace(" ", "")),
      (cls) => classHue(family, cls),
      family.palette.full,
      marks,
      y,
    );
  }
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
