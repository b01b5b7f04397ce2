/**
 * An allocator experiment: one workload, several configurations of the
 * backends, their routing counters, health and footprint side by side.
 *
 * The workload shifts class: it fills the heap with 32-byte blocks, frees all
 * but one in 512 (so every other tiny slab keeps a survivor), then allocates
 * 200-byte blocks with some mid and large ones among them. Over the shared
 * pool (the default) the slabs emptied by the 32-byte class serve the
 * 200-byte class; over legacy every SuperSlab with a survivor stays with its
 * class, so the new class takes new SuperSlabs. Without tiny's cache the
 * slabs see every block come and go.
 *
 * Run: `deno run examples/backend_swap.ts [blocks]` or `bun examples/backend_swap.ts`.
 * With `--svg` (and `--allow-write` under Deno) it also writes one picture of
 * each heap, `backend_swap_<n>.svg`.
 * @module
 */

import { createHeap, type Heap, type HeapOptions, type HeapStats, type RouterCounters } from "../mod.ts";
import type { BackendHealth } from "../router/box.ts";
import { renderHeapSvg } from "../inspect/mod.ts";
import { Random } from "../testing/random.ts";

/** One configuration to compare. */
export interface Configuration {
  /** Its column title. */
  name: string;
  /** The heap options that make it. */
  options: HeapOptions;
}

/** The configurations compared by default. */
export const CONFIGURATIONS: Configuration[] = [
  { name: "default (shared pool)", options: {} },
  { name: "legacy slab source", options: { slabSource: "legacy" } },
  { name: "tiny cache off", options: { tinyCache: false } },
];

/** What {@linkcode runBackendSwap} is asked to do. */
export interface BackendSwapOptions {
  /** Small blocks in the first phase (the second allocates half as many). Default 200,000. */
  blocks?: number;
  /** The configurations to compare. Default {@linkcode CONFIGURATIONS}. */
  configurations?: Configuration[];
  /** Seed of the random numbers. Default 3. */
  seed?: number;
  /** Where the report goes. Default console.log. */
  log?: (line: string) => void;
  /** Receives each heap's picture, when given. */
  svg?: (index: number, configuration: Configuration, svg: string) => void;
}

/** One configuration's outcome. */
export interface ConfigurationResult {
  /** The configuration. */
  configuration: Configuration;
  /** The heap after the workload (its survivors still live). */
  heap: Heap;
  /** The router's counters. */
  counters: RouterCounters;
  /** Each backend's health. */
  backends: BackendHealth[];
  /** The heap's gauges at the end. */
  stats: HeapStats;
  /** Milliseconds the workload took (for the eye; varies from run to run). */
  milliseconds: number;
  /** True when check() found nothing broken. */
  checkOk: boolean;
}

/** Runs the workload once on a heap built with `options`. */
function workload(options: HeapOptions, blocks: number, seed: number): { heap: Heap; milliseconds: number } {
  const heap = createHeap({ ...options, maxBytes: 1 << 30 });
  const random = new Random(seed);
  const started = performance.now();
  const small = new Float64Array(blocks);
  for (let i = 0; i < blocks; i++) small[i] = heap.malloc(32);
  for (let i = 0; i < blocks; i++) if (i % 512 !== 0) heap.free(small[i]);
  const second = blocks >> 1;
  const kept = new Float64Array(second);
  for (let i = 0; i < second; i++) {
    const roll = random.next();
    const size = roll < 0.98 ? 200 : roll < 0.9995 ? 1100 + random.int(20_000) : 300_000 + random.int(200_000);
    kept[i] = heap.malloc(size);
    if (random.next() < 0.3) {
      // Some churn: free one of the blocks so far.
      const slot = random.int(i + 1);
      if (kept[slot] !== 0) heap.free(kept[slot]);
      kept[slot] = 0;
    }
  }
  return { heap, milliseconds: performance.now() - started };
}

/** Runs every configuration and prints them side by side. */
export function runBackendSwap(options: BackendSwapOptions = {}): ConfigurationResult[] {
  const blocks = options.blocks ?? 200_000;
  const configurations = options.configurations ?? CONFIGURATIONS;
  const log = options.log ?? console.log;
  const results = configurations.map((configuration, index): ConfigurationResult => {
    const { heap, milliseconds } = workload(configuration.options, blocks, options.seed ?? 3);
    options.svg?.(index, configuration, renderHeapSvg(heap, { title: `backend swap: ${configuration.name}` }));
    return {
      configuration,
      heap,
      counters: heap.counters(),
      backends: heap.health().backends,
      stats: heap.stats(),
      milliseconds,
      checkOk: heap.check().ok,
    };
  });
  log(
    `backend swap: ${blocks.toLocaleString("en-US")} blocks of 32 B (1 in 512 kept), then ${
      (blocks >> 1).toLocaleString("en-US")
    } mostly of 200 B`,
  );
  log(table(results));
  return results;
}

const number = (value: number): string => Math.round(value).toLocaleString("en-US");
const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(2)} MiB`;

/** The comparison as text: one row per figure, one column per configuration. */
function table(results: ConfigurationResult[]): string {
  const rows: string[][] = [];
  const section = (title: string) => rows.push([title, ...results.map(() => "")]);
  const row = (label: string, value: (result: ConfigurationResult) => string) => rows.push([`  ${label}`, ...results.map(value)]);

  section("routing");
  results[0].counters.routes.forEach((route, index) => {
    const sizes = `${route.min} .. ${route.max === Infinity ? "∞" : route.max}`;
    row(`${sizes} → ${route.backend}`, (result) => number(result.counters.routes[index]?.decisions ?? 0));
  });
  row("routed", (result) => number(result.counters.totalRoutes));
  row("failures", (result) => number(result.counters.routeFailures));
  row("fallbacks", (result) => number(result.counters.fallbackCount));
  const backendNames = [...new Set(results.flatMap((result) => Object.keys(result.counters.allocs)))];
  for (const name of backendNames) {
    row(`${name} allocs / frees`, (result) => `${number(result.counters.allocs[name] ?? 0)} / ${number(result.counters.frees[name] ?? 0)}`);
  }

  section("health");
  for (const name of backendNames) {
    row(`${name} ready`, (result) => {
      const health = result.backends.find((backend) => backend.name === name);
      return health === undefined ? "-" : health.ready ? (health.reason ? `yes (${health.reason})` : "yes") : `no: ${health.reason ?? "?"}`;
    });
    const counterNames = [
      ...new Set(results.flatMap((result) => Object.keys(result.backends.find((b) => b.name === name)?.counters ?? {}))),
    ];
    for (const counter of counterNames) {
      const values = results.map((result) => result.backends.find((backend) => backend.name === name)?.counters[counter]);
      if (values.every((value) => !value)) continue; // zero or absent everywhere: left out
      row(`${name}.${counter}`, (_result) => {
        const value = values.shift();
        return value === undefined ? "-" : number(value);
      });
    }
  }

  section("memory");
  row("footprint", (result) => mib(result.stats.footprintBytes));
  row("peak footprint", (result) => mib(result.stats.peakFootprintBytes));
  row("live", (result) => `${mib(result.stats.liveBytes)} in ${number(result.stats.liveBlocks)}`);
  row("overhead", (result) => result.stats.overhead.toFixed(2));
  row("tiny SuperSlabs", (result) => number(result.stats.backends.find((backend) => backend.name === "tiny")?.detail.superslabs ?? 0));
  row("check()", (result) => (result.checkOk ? "ok" : "BROKEN"));
  row("time (varies)", (result) => `${result.milliseconds.toFixed(0)} ms`);

  const header = ["", ...results.map((result) => result.configuration.name)];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((cells) => cells[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]))).join("   ").trimEnd();
  return [line(header), line(widths.map((width) => "─".repeat(width))), ...rows.map(line)].join("\n");
}

if (import.meta.main) {
  const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
    (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
  const count = args.find((arg) => /^\d+$/.test(arg));
  const pictures: Array<[string, string]> = [];
  runBackendSwap({
    blocks: count ? Number(count) : undefined,
    svg: args.includes("--svg") ? (index, _configuration, svg) => pictures.push([`backend_swap_${index}.svg`, svg]) : undefined,
  });
  if (pictures.length > 0) {
    const { writeFileSync } = await import("node:fs");
    for (const [name, svg] of pictures) writeFileSync(name, svg);
    console.log(`wrote ${pictures.map(([name]) => name).join(", ")}`);
  }
}
