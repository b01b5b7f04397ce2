/**
 * Fragmentation stress: how full a heap gets before a request fails. Random
 * sizes from 1 B to 4 MiB (70% up to 1 KiB, 23% up to 256 KiB, 7% up to
 * 4 MiB) are allocated and freed at random, with up to 4000 live blocks, in a
 * 1 GiB heap. The figure is the fill (live requested bytes over `maxBytes`)
 * at the first request that fails; a heap whose large runs and small spans
 * cut each other's free space apart fails while much of it is free.
 *
 * Run: `deno run -A bench/fragmentation.ts` or `bun bench/fragmentation.ts`
 * (flags: `--seed N` (default 1), `--steps N` (default 200000), `--live N`
 * (default 4000), `--max-mib N` (default 1024)). tests/fragmentation.test.ts
 * runs a smaller, seeded version and asserts no failure below 80%.
 * @module
 */

import { createHeap, type HeapConfig } from "../mod.ts";
import { Random } from "../testing/random.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** What one stress run is asked to do. */
export interface FragmentationConfig {
  /** The seed of the sizes and choices. */
  seed: number;
  /** Allocation and free steps. */
  steps: number;
  /** Most live blocks at once. */
  maxLive: number;
  /** The heap's `maxBytes`. */
  maxBytes: number;
  /** Largest size of the third band (4 MiB in the full stress). */
  largest?: number;
  /** Heap options besides `maxBytes`. */
  heap?: HeapConfig;
}

/** What one stress run saw. */
export interface FragmentationResult {
  /** Live requested bytes over maxBytes at the first failed request, or -1 when none failed. */
  firstFailureFill: number;
  /** The size of the first failed request (0 when none failed). */
  firstFailureSize: number;
  /** Free bytes inside the memory at the first failure (0 when none failed). */
  firstFailureFreeBytes: number;
  /** Requests that failed. */
  failures: number;
  /**
   * Failed requests made before the fill first reached `threshold` (0.8): while live bytes had stayed under it.
   * (Once a heap was fuller, what it freed since may lie scattered, and a later failure below the threshold says less.)
   */
  failuresBelowThreshold: number;
  /** Highest fill reached. */
  peakFill: number;
  /** Allocations made. */
  allocations: number;
  /** True when the heap's full check passed at the end. */
  checkOk: boolean;
}

/** A size from the stress's bands: 70% 1..1024, 23% 1025..256 KiB, 7% 256 KiB + 1 .. `largest`. */
export function stressSize(random: Random, largest = 4 * MiB): number {
  const band = random.next();
  if (band < 0.7) return 1 + random.int(1024);
  if (band < 0.93) return 1025 + random.int(256 * KiB - 1024);
  return 256 * KiB + 1 + random.int(largest - 256 * KiB);
}

/**
 * Runs the stress: each step allocates (while under `maxLive`, with
 * probability 0.6) or frees a random live block. A failed allocation is
 * counted, with the fill at that moment; the run goes on.
 */
export function runFragmentation(config: FragmentationConfig, threshold = 0.8): FragmentationResult {
  const heap = createHeap({ ...config.heap, maxBytes: config.maxBytes });
  const random = new Random(config.seed);
  const ptrs = new Float64Array(config.maxLive);
  const sizes = new Float64Array(config.maxLive);
  let live = 0;
  let liveBytes = 0;
  const result: FragmentationResult = {
    firstFailureFill: -1,
    firstFailureSize: 0,
    firstFailureFreeBytes: 0,
    failures: 0,
    failuresBelowThreshold: 0,
    peakFill: 0,
    allocations: 0,
    checkOk: false,
  };
  for (let step = 0; step < config.steps; step++) {
    if (live < config.maxLive && (live === 0 || random.next() < 0.6)) {
      const size = stressSize(random, config.largest);
      const ptr = heap.malloc(size);
      if (ptr === 0) {
        const fill = liveBytes / config.maxBytes;
        if (result.failures === 0) {
          result.firstFailureFill = fill;
          result.firstFailureSize = size;
          result.firstFailureFreeBytes = heap.stats().freeBytes + (heap.health().maxBytes - heap.stats().memoryBytes);
        }
        result.failures++;
        if (result.peakFill < threshold) result.failuresBelowThreshold++;
        continue;
      }
      ptrs[live] = ptr;
      sizes[live] = size;
      live++;
      liveBytes += size;
      result.allocations++;
      result.peakFill = Math.max(result.peakFill, liveBytes / config.maxBytes);
    } else {
      const index = random.int(live);
      heap.free(ptrs[index]);
      liveBytes -= sizes[index];
      live--;
      ptrs[index] = ptrs[live];
      sizes[index] = sizes[live];
    }
  }
  result.checkOk = heap.check("full").ok;
  // The heap is dropped, not freed and trimmed: shrinking a resizable ArrayBuffer of a GiB takes V8 seconds (it
  // writes zeros over the dropped tail), and the pages of the blocks were never written.
  return result;
}

function flag(name: string, fallback: number): number {
  // deno-lint-ignore no-explicit-any
  const runtime = globalThis as any;
  const args: string[] = runtime.Deno?.args ?? runtime.process?.argv?.slice(2) ?? [];
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

if (import.meta.main) {
  const config: FragmentationConfig = {
    seed: flag("seed", 1),
    steps: flag("steps", 200_000),
    maxLive: flag("live", 4000),
    maxBytes: flag("max-mib", 1024) * MiB,
  };
  const result = runFragmentation(config);
  const percent = (fill: number) => `${(fill * 100).toFixed(1)}%`;
  console.log(
    `fragmentation (seed ${config.seed}, ${config.steps} steps, up to ${config.maxLive} live, maxBytes ${config.maxBytes / MiB} MiB):`,
  );
  if (result.failures === 0) {
    console.log(`  no request failed; peak fill ${percent(result.peakFill)}`);
  } else {
    console.log(
      `  first failure at fill ${percent(result.firstFailureFill)} (a request of ${result.firstFailureSize} bytes, ${
        (result.firstFailureFreeBytes / MiB).toFixed(1)
      } MiB free or still growable); ${result.failures} failures, ${result.failuresBelowThreshold} before the fill first reached 80%; peak fill ${
        percent(result.peakFill)
      }`,
    );
  }
  console.log(`  check: ${result.checkOk ? "ok" : "FAILED"}`);
}
