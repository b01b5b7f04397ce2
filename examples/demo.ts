/**
 * A tour of hakmem in one run: a mixed workload through the default heap,
 * then the routing table with its decision counts, each backend's health,
 * the throughput and the footprint.
 *
 * Run from the repository root with `deno task demo`, `npm run demo` or `bun examples/demo.ts`. It reads the routes and backends
 * from the heap itself, so backends added to the registry show up here
 * without changes. It also saves a picture of the heap, `heap.svg` in the
 * current directory, where it may write: under Deno only when given
 * `--allow-write=heap.svg` (it never asks), under Bun always.
 * @module
 */

import { createHeap } from "../mod.ts";
import { renderHeapSvg } from "../inspect/mod.ts";
import { Random } from "../testing/random.ts";

const OPERATIONS = 200_000;
const SLOTS = 2048;
const SEED = 42;
const MIN_SIZE = 16;
const MAX_SIZE = 1 << 20;

/** A size from 16 B to 1 MiB, log-distributed and skewed toward small sizes as real programs are. */
function nextSize(random: Random): number {
  const r = random.next();
  const size = Math.floor(MIN_SIZE * 2 ** (Math.log2(MAX_SIZE / MIN_SIZE) * r * r));
  return Math.min(MAX_SIZE, Math.max(MIN_SIZE, size));
}

const heap = createHeap();
const random = new Random(SEED);
const slots = new Float64Array(SLOTS); // pointers, 0 when empty
const sizes = new Float64Array(SLOTS);
let mallocs = 0;
let frees = 0;
let failures = 0;
let bytesAsked = 0;

const started = performance.now();
for (let op = 0; op < OPERATIONS; op++) {
  const slot = random.int(SLOTS);
  const ptr = slots[slot];
  if (ptr !== 0) {
    heap.free(ptr);
    slots[slot] = 0;
    frees++;
  } else {
    const size = nextSize(random);
    const fresh = heap.malloc(size);
    if (fresh === 0) {
      failures++;
      continue;
    }
    heap.u8[fresh] = op & 255; // touch the block as a program would
    slots[slot] = fresh;
    sizes[slot] = size;
    mallocs++;
    bytesAsked += size;
  }
}
const elapsedMs = performance.now() - started;

// ---- report ------------------------------------------------------------------

const number = (value: number): string => Math.round(value).toLocaleString("en-US");
const bytes = (value: number): string => {
  const units = ["B", "KiB", "MiB", "GiB"];
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
};
const sizeLabel = (value: number): string => {
  if (value === Infinity) return "∞";
  if (value >= 1 << 20 && value % (1 << 20) === 0) return `${value / (1 << 20)} MiB`;
  return value >= 1024 && value % 1024 === 0 ? `${value / 1024} KiB` : `${number(value)} B`;
};

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    "  " +
    cells.map((cell, column) => (rightAligned[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join("   ").trimEnd();
  return [line(header), line(widths.map((width) => "─".repeat(width))), ...rows.map(line)].join("\n");
}

const liveAtEnd = heap.stats();
const counters = heap.counters();
const health = heap.health();

console.log(
  `hakmem demo: ${number(OPERATIONS)} operations over ${number(SLOTS)} slots, sizes ${sizeLabel(MIN_SIZE)} .. ${
    sizeLabel(MAX_SIZE)
  }, seed ${SEED}`,
);
console.log(`memory: ${health.memory}, may grow to ${bytes(health.maxBytes)}`);
console.log(`${number(mallocs)} mallocs (${bytes(bytesAsked)} asked), ${number(frees)} frees, ${number(failures)} out of memory`);

console.log("\nRouting table");
console.log(table(
  ["sizes", "backend", "decisions", "share"],
  counters.routes.map((route) => [
    `${sizeLabel(route.min)} .. ${sizeLabel(route.max)}`,
    route.backend,
    number(route.decisions),
    counters.totalRoutes === 0 ? "-" : `${((100 * route.decisions) / counters.totalRoutes).toFixed(1)} %`,
  ]),
  [false, false, true, true],
));
console.log(
  `  routed ${number(counters.totalRoutes)}, failures ${number(counters.routeFailures)}, fallbacks ${number(counters.fallbackCount)}`,
);

console.log("\nBackends");
console.log(table(
  ["backend", "ready", "allocs", "frees", "live blocks", "footprint"],
  health.backends.map((backend) => {
    const stats = liveAtEnd.backends.find((entry) => entry.name === backend.name);
    return [
      backend.name,
      backend.ready ? "yes" : `no (${backend.reason ?? "no reason given"})`,
      number(counters.allocs[backend.name] ?? 0),
      number(counters.frees[backend.name] ?? 0),
      stats ? number(stats.liveBlocks) : "-",
      stats ? bytes(stats.footprintBytes) : "-",
    ];
  }),
  [false, false, true, true, true, true],
));
console.log(`  all ready: ${health.ready ? "yes" : "no"}`);
for (const backend of health.backends) {
  // Each backend names its own counters; print them all, wrapped.
  const entries = Object.entries(backend.counters).map(([name, value]) => `${name} ${number(value)}`);
  const lines: string[] = [];
  for (const entry of entries) {
    if (lines.length === 0 || lines[lines.length - 1].length + entry.length > 100) lines.push(entry);
    else lines[lines.length - 1] += `, ${entry}`;
  }
  console.log(`\n  ${backend.name} counters:`);
  for (const line of lines) console.log(`    ${line}`);
}

console.log("\nThroughput");
const seconds = elapsedMs / 1000;
console.log(
  `  ${number(OPERATIONS / seconds)} ops/s (${((elapsedMs * 1e6) / OPERATIONS).toFixed(0)} ns per operation, ${
    elapsedMs.toFixed(1)
  } ms in all)`,
);

console.log("\nFootprint (with the slots still live)");
const footprint: Array<[string, string]> = [
  ["memory", bytes(liveAtEnd.memoryBytes)],
  ["footprint", bytes(liveAtEnd.footprintBytes)],
  ["peak footprint", bytes(liveAtEnd.peakFootprintBytes)],
  ["live bytes", `${bytes(liveAtEnd.liveBytes)} in ${number(liveAtEnd.liveBlocks)} blocks`],
  ["metadata", bytes(liveAtEnd.metadataBytes)],
  ["free pages", bytes(liveAtEnd.freeBytes)],
  ["overhead", `${liveAtEnd.overhead.toFixed(3)} (footprint / live bytes)`],
];
for (const [name, value] of footprint) console.log(`  ${name.padEnd(15)} ${value}`);

console.log("\nPicture");
const picture = renderHeapSvg(heap, { title: `hakmem demo: the heap with ${number(heap.stats().liveBlocks)} blocks live` });
console.log(`  ${await savePicture("heap.svg", picture)}`);

/** Writes the picture where allowed; says what it did. Under Deno it asks for nothing it was not given. */
async function savePicture(path: string, svg: string): Promise<string> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno && deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    return `not saved: run with --allow-write=${path} to get ${path}, a picture of the heap (deno task demo does)`;
  }
  try {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path, svg);
    return `wrote ${path} (${bytes(svg.length)}): the memory map by owner and occupancy, tiny's SuperSlabs, pool's spans, mmap blocks`;
  } catch (error) {
    return `not saved: ${error instanceof Error ? error.message : String(error)}`;
  }
}

for (let slot = 0; slot < SLOTS; slot++) if (slots[slot] !== 0) heap.free(slots[slot]);
const released = heap.trim();
const empty = heap.stats();
const report = heap.check();
console.log(
  `\nAfter freeing every slot and trim(): memory ${bytes(empty.memoryBytes)}, footprint ${bytes(empty.footprintBytes)}, ${
    bytes(released)
  } released by backends`,
);
console.log(`check(): ${report.ok ? "ok" : `${report.problems.length} problems`}`);
for (const problem of report.problems) console.log(`  ${problem.where}: ${problem.message}`);
