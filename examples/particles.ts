/**
 * 100,000 particle records kept off the garbage-collected heap: each particle
 * is a 40-byte block of five float64 fields (x, y, vx, vy, mass) in one heap,
 * its pointer in a table that is itself a block of the heap. The simulation
 * reads and writes them through one Float64Array over the heap's buffer; each
 * step some particles die (free) and others are born (malloc), so blocks are
 * reused in place. The garbage collector sees one ArrayBuffer, not 100,000
 * objects.
 *
 * Run: `deno run examples/particles.ts [count] [steps]` or `bun examples/particles.ts`.
 * @module
 */

import { createHeap, type Heap } from "../mod.ts";
import { Random } from "../testing/random.ts";

// A particle: five float64 fields, 40 bytes (tiny's 40-byte class, 8-byte aligned).
const X = 0; // position, 0 .. 1
const Y = 1;
const VX = 2; // velocity per step
const VY = 3;
const MASS = 4;
const FIELDS = 5;
const PARTICLE_BYTES = FIELDS * Float64Array.BYTES_PER_ELEMENT;

/** What {@linkcode runParticles} is asked to do. */
export interface ParticlesOptions {
  /** Particles alive at any time. Default 100,000. */
  count?: number;
  /** Simulation steps. Default 100. */
  steps?: number;
  /** Share of particles that die and are replaced each step. Default 0.02. */
  turnover?: number;
  /** Seed of the random numbers. Default 1. */
  seed?: number;
  /** Where the report goes. Default console.log. */
  log?: (line: string) => void;
}

/** What the run found. */
export interface ParticlesResult {
  /** The heap the particles live in (still holding them). */
  heap: Heap;
  /** Live particle records at the end. */
  live: number;
  /** Particles born after the first ones (and as many died). */
  born: number;
  /** True when every particle stayed inside the unit square. */
  inside: boolean;
  /** Total mass: every particle has mass 1, so this equals `live`. */
  totalMass: number;
  /** Footprint per live byte. */
  overhead: number;
}

/** Fills the particle at `base` (a float64 index) with a random position and velocity. */
function spawn(f64: Float64Array, base: number, random: Random): void {
  f64[base + X] = random.next();
  f64[base + Y] = random.next();
  f64[base + VX] = (random.next() - 0.5) * 0.01;
  f64[base + VY] = (random.next() - 0.5) * 0.01;
  f64[base + MASS] = 1;
}

/** Runs the simulation and reports the heap. */
export function runParticles(options: ParticlesOptions = {}): ParticlesResult {
  const count = options.count ?? 100_000;
  const steps = options.steps ?? 100;
  const turnover = options.turnover ?? 0.02;
  const log = options.log ?? console.log;
  const random = new Random(options.seed ?? 1);
  const heap = createHeap();

  // The pointer table lives in the heap too: count × 4 bytes, an mmap or pool block.
  const tablePtr = heap.malloc(count * Uint32Array.BYTES_PER_ELEMENT);
  if (tablePtr === 0) throw new Error("no memory for the particle table");
  for (let i = 0; i < count; i++) {
    const ptr = heap.malloc(PARTICLE_BYTES);
    if (ptr === 0) throw new Error("out of memory");
    heap.typed(Uint32Array, tablePtr, count)[i] = ptr;
  }
  // Views over the whole buffer. The heap's default WebAssembly.Memory gets a new
  // buffer when it grows, so they are taken again after allocating (below); over a
  // resizable ArrayBuffer handed in they would stay valid.
  let f64 = new Float64Array(heap.buffer);
  let table = heap.typed(Uint32Array, tablePtr, count);
  for (let i = 0; i < count; i++) spawn(f64, table[i] >>> 3, random);

  let born = 0;
  const started = performance.now();
  for (let step = 0; step < steps; step++) {
    for (let i = 0; i < count; i++) {
      const base = table[i] >>> 3; // byte offset → float64 index (blocks are 8-byte aligned)
      let x = f64[base + X] + f64[base + VX];
      let y = f64[base + Y] + f64[base + VY];
      if (x < 0 || x > 1) {
        f64[base + VX] = -f64[base + VX];
        x = x < 0 ? -x : 2 - x;
      }
      if (y < 0 || y > 1) {
        f64[base + VY] = -f64[base + VY];
        y = y < 0 ? -y : 2 - y;
      }
      f64[base + X] = x;
      f64[base + Y] = y;
    }
    // Some die, as many are born: free and malloc through tiny's cache.
    const deaths = Math.floor(count * turnover);
    for (let n = 0; n < deaths; n++) {
      const i = random.int(count);
      heap.free(table[i]);
      const ptr = heap.malloc(PARTICLE_BYTES);
      if (ptr === 0) throw new Error("out of memory");
      if (f64.buffer !== heap.buffer) {
        f64 = new Float64Array(heap.buffer);
        table = heap.typed(Uint32Array, tablePtr, count);
      }
      table[i] = ptr;
      spawn(f64, ptr >>> 3, random);
      born++;
    }
  }
  const elapsed = performance.now() - started;

  let inside = true;
  let totalMass = 0;
  for (let i = 0; i < count; i++) {
    const base = table[i] >>> 3;
    if (!(f64[base + X] >= 0 && f64[base + X] <= 1 && f64[base + Y] >= 0 && f64[base + Y] <= 1)) inside = false;
    totalMass += f64[base + MASS];
  }
  const stats = heap.stats();
  const tiny = stats.backends.find((backend) => backend.name === "tiny");
  const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(2)} MiB`;
  log(
    `particles: ${count.toLocaleString("en-US")} records of ${PARTICLE_BYTES} bytes, ${steps} steps, ${
      born.toLocaleString("en-US")
    } born and died`,
  );
  log(`  ${(elapsed / steps).toFixed(2)} ms per step (${((elapsed * 1e6) / (steps * count)).toFixed(1)} ns per particle update)`);
  log(
    `  live ${mib(stats.liveBytes)} in ${stats.liveBlocks.toLocaleString("en-US")} blocks (particles and table); footprint ${
      mib(stats.footprintBytes)
    }; overhead ${stats.overhead.toFixed(3)}`,
  );
  log(`  tiny: ${tiny ? mib(tiny.footprintBytes) : "-"} in ${tiny?.detail.superslabs ?? 0} SuperSlabs; all inside the box: ${inside}`);
  log(`  the garbage collector sees one ArrayBuffer of ${mib(stats.memoryBytes)}, not ${count.toLocaleString("en-US")} objects`);
  return { heap, live: stats.liveBlocks - 1, born, inside, totalMass, overhead: stats.overhead };
}

if (import.meta.main) {
  const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
    (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
  runParticles({ count: args[0] ? Number(args[0]) : undefined, steps: args[1] ? Number(args[1]) : undefined });
}
