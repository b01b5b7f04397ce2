// The benchmark suite runs: every workload in quick mode on every contender (no timing asserted),
// the floor allocator keeps blocks apart, and the report, chart and README section are produced.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { REGISTRY } from "../backends/registry.ts";
import {
  BackendAloneContender,
  type Contender,
  contenders,
  type ContenderSpec,
  FloorContender,
  HakmemContender,
  loopsFor,
} from "../bench/contenders.ts";
import { Floor, FLOOR_MEMORY_KINDS } from "../bench/floor.ts";
import type { Loops } from "../bench/loops.ts";
import { measureLayers } from "../bench/layers.ts";
import { formatSection, replaceSection } from "../bench/readme_table.ts";
import { formatReport, renderSvg } from "../bench/report.ts";
import { runBench, runWorkload, whyNotRun } from "../bench/runner.ts";
import { type Workload, WORKLOADS } from "../bench/workloads.ts";
import { Random } from "../testing/random.ts";

function heapOf(contender: Contender) {
  return contender instanceof HakmemContender || contender instanceof BackendAloneContender ? contender.heap : null;
}

describe("bench: every workload runs on every contender (quick mode)", () => {
  for (const workload of WORKLOADS) {
    for (const spec of contenders()) {
      const reason = whyNotRun(spec, workload, true);
      if (reason !== undefined) {
        test(`${workload.name} on ${spec.name} (skipped: ${reason})`, { skip: reason }, () => {});
        continue;
      }
      test(`${workload.name} on ${spec.name}`, () => {
        const contender = spec.create();
        contender.setup(workload.maxBytes(true));
        const result = workload.run(contender, spec.loops, true, 1);
        assert.equal(result.failure, undefined, `${spec.name} stopped early`);
        assert.ok(result.ops > 0, "operations were counted");
        assert.ok(result.seconds >= 0);
        assert.ok(result.peakLiveBytes > 0 && result.peakLiveBlocks > 0, "peak live figures are positive");
        if (spec.kind === "hakmem" || spec.kind === "backend") {
          const heap = heapOf(contender)!;
          assert.deepEqual(contender.check!(), [], "check() is clean after the workload");
          assert.ok(result.peakFootprintBytes! > 0, "peak footprint is positive");
          assert.ok(result.peakFootprintBytes! >= heap.stats().footprintBytes, "the peak is at least the footprint now");
          assert.ok(contender.footprint()! > 0, "footprint is positive");
          assert.equal(heap.stats().liveBlocks, 0, "the workload freed everything it allocated");
        }
        if (spec.kind === "floor" || spec.name === "@thi.ng/malloc" || spec.name === "dlmalloc (WASM)") {
          assert.ok(result.peakFootprintBytes! >= result.peakLiveBytes, "a footprint holds at least the live bytes");
        }
        contender.teardown();
      });
    }
  }

  test("scaling reports its footprint after free and trim", () => {
    const scaling = WORKLOADS.find((workload) => workload.name === "scaling")!;
    const contender = new HakmemContender("hakmem");
    contender.setup(scaling.maxBytes(true));
    const result = scaling.run(contender, loopsFor("hakmem"), true, 1);
    for (const key of ["footprintStart", "footprintAfterFree", "footprintAfterTrim", "afterTrimMinusStart"]) {
      assert.equal(typeof result.extra[key], "number", key);
    }
    assert.equal(result.extra.afterTrimMinusStart, result.extra.footprintAfterTrim! - result.extra.footprintStart!);
    assert.ok(result.extra.footprintAfterTrim! <= result.extra.footprintAfterFree!, "trim never adds footprint");
  });
});

describe("bench: contenders", () => {
  test("every registry entry is a 'backend alone' contender", () => {
    const names = contenders().map((spec) => spec.name);
    for (const entry of REGISTRY) assert.ok(names.includes(`${entry.name} alone`), `${entry.name} alone is missing`);
    for (const name of ["hakmem", "hakmem-legacy", "dlmalloc (WASM)", "@thi.ng/malloc", "Uint8Array (GC)", "floor (API)", "floor (bare)"]) {
      assert.ok(names.includes(name), name);
    }
  });

  test("a backend alone only runs workloads whose sizes fit its range", () => {
    const spec = {
      name: "narrow",
      kind: "backend" as const,
      sizes: { min: 1, max: 1024 },
      loops: loopsFor("hakmem"),
      create: () => new HakmemContender("narrow"),
    };
    const fits = WORKLOADS.filter((workload) => whyNotRun(spec, workload, true) === undefined).map((workload) => workload.name);
    assert.deepEqual(fits.sort(), ["larson", "phase_change", "random_mixed_256", "random_mixed_8192", "scaling"]);
  });

  test("every contender has its own copy of the loops, except the bare floor, whose loops are the floor inline", () => {
    const specs = contenders();
    const copies = new Set(specs.map((spec) => spec.loops));
    assert.equal(copies.size, specs.length, "no two contenders share a loops module");
    assert.notEqual(loopsFor("hakmem").slots, loopsFor("floor (API)").slots, "separate copies are separate functions");
    assert.equal(loopsFor("floor (bare)").resize, undefined, "the bare floor does not realloc");
    assert.throws(() => loopsFor("no such contender"), /no loops copy/);
  });
});

describe("bench: the runner", () => {
  /** A floor contender that counts its instances set up and not yet torn down, and a workload that records that count per run. */
  function counted() {
    let alive = 0;
    const seen: { quick: boolean; alive: number }[] = [];
    const spec: ContenderSpec = {
      name: "counted",
      kind: "floor",
      sizes: { min: 1, max: 1024 },
      loops: loopsFor("floor (API)"),
      create: () => {
        const inner = new FloorContender("counted");
        return {
          name: "counted",
          get allocator() {
            return inner.allocator;
          },
          setup(maxBytes: number) {
            alive++;
            inner.setup(maxBytes);
          },
          footprint: () => inner.footprint(),
          peakFootprint: () => inner.peakFootprint(),
          teardown() {
            alive--;
            inner.teardown();
          },
        };
      },
    };
    const workload: Workload = {
      name: "counting",
      sizes: { min: 16, max: 16 },
      usesRealloc: false,
      extraColumns: [],
      describe: () => "counts live instances",
      liveBlocks: () => 1,
      maxBytes: () => 1 << 20,
      run(contender, loops, quick) {
        seen.push({ quick, alive });
        const ptrs = new Float64Array(1);
        loops.fill(contender.allocator, 16, ptrs, 0, 1);
        loops.freeRange(contender.allocator, ptrs, 0, 1);
        return { ops: 2, seconds: 1e-6, peakLiveBytes: 16, peakLiveBlocks: 1, peakFootprintBytes: contender.peakFootprint(), extra: {} };
      },
    };
    return { spec, workload, seen, alive: () => alive };
  }

  test("the warm-up instance of each contender stays alive through the timed runs (the anchor), then goes", () => {
    const { spec, workload, seen, alive } = counted();
    runWorkload(workload, [spec], { rounds: 2 });
    assert.deepEqual(seen, [{ quick: true, alive: 1 }, { quick: false, alive: 2 }, { quick: false, alive: 2 }]);
    assert.equal(alive(), 0, "every instance torn down at the end");
  });

  test("without anchors each timed run's instance is the only one", () => {
    const { spec, workload, seen, alive } = counted();
    runWorkload(workload, [spec], { rounds: 2, anchors: false });
    assert.deepEqual(seen, [{ quick: true, alive: 1 }, { quick: false, alive: 1 }, { quick: false, alive: 1 }]);
    assert.equal(alive(), 0);
  });

  test("--contenders picks contenders by name and refuses unknown ones", () => {
    const report = runBench({ quick: true, workloads: ["larson"], contenders: ["hakmem", "floor (API)"] });
    assert.deepEqual(report.workloads[0].results.map((entry) => entry.contender), ["hakmem", "floor (API)"]);
    assert.throws(() => runBench({ quick: true, workloads: ["larson"], contenders: ["nobody"] }), /unknown contender nobody/);
  });
});

describe("bench: the floor allocator", () => {
  test("live blocks never overlap, keep their bytes, and freed blocks are reused", () => {
    const floor = new Floor(64 << 20);
    const random = new Random(3);
    const live = new Map<number, number>();
    for (let step = 0; step < 3000; step++) {
      if (live.size > 0 && random.next() < 0.45) {
        const ptr = [...live.keys()][random.int(live.size)];
        const size = live.get(ptr)!;
        assert.equal(floor.u8[ptr], ptr & 255, "first byte kept");
        if (size > 1) assert.equal(floor.u8[ptr + size - 1], (ptr >> 3) & 255, "last byte kept");
        floor.free(ptr);
        live.delete(ptr);
      } else {
        const size = 1 + random.int(random.next() < 0.9 ? 1024 : 300_000);
        const ptr = floor.malloc(size);
        assert.ok(ptr > 0);
        assert.equal(ptr % 16, 0, "payloads are 16-byte aligned");
        assert.ok(floor.usableSize(ptr) >= size);
        for (const [other, otherSize] of live) {
          assert.ok(ptr + size <= other || other + otherSize <= ptr, `${ptr}+${size} overlaps ${other}`);
        }
        floor.u8[ptr + size - 1] = (ptr >> 3) & 255;
        floor.u8[ptr] = ptr & 255;
        live.set(ptr, size);
      }
    }
    const a = floor.malloc(100);
    floor.free(a);
    assert.equal(floor.malloc(90), a, "a freed block serves the next request of its class");
  });

  test("it grows over every memory kind, keeping what the blocks hold", () => {
    for (const kind of FLOOR_MEMORY_KINDS) {
      const floor = new Floor(8 << 20, kind, 1 << 16);
      const ptrs: number[] = [];
      for (let index = 0; index < 3000; index++) {
        const ptr = floor.malloc(1000);
        assert.ok(ptr > 0, `${kind}: block ${index}`);
        floor.u8[ptr] = index & 255;
        ptrs.push(ptr);
      }
      assert.ok(floor.limit > 1 << 20 && floor.u8.length === floor.limit, `${kind}: the memory grew and the views with it`);
      ptrs.forEach((ptr, index) => assert.equal(floor.u8[ptr], index & 255, `${kind}: block ${index} kept its byte`));
      assert.equal(floor.malloc(4 << 20), 0, `${kind}: past its maxBytes`);
    }
  });

  test("the bare floor's loops hand out exactly the blocks the floor's methods do", () => {
    const random = new Random(5);
    const steps = 5000;
    const slotOf = new Int32Array(steps);
    const sizeOf = new Int32Array(steps);
    const held = new Uint8Array(64);
    for (let step = 0; step < steps; step++) {
      const slot = random.int(64);
      slotOf[step] = slot;
      sizeOf[step] = held[slot] ? 0 : 1 + random.int(3000);
      held[slot] ^= 1;
    }
    const churnSizes = sizeOf.map(() => 1 + random.int(3000));
    const run = (loops: Loops) => {
      const floor = new Floor(64 << 20, "plain", 1 << 16); // small at first: the loops must grow it
      const ptrs = new Float64Array(64);
      assert.equal(loops.slots(floor, slotOf, sizeOf, ptrs, steps), steps);
      loops.fill(floor, 1, ptrs, 0, 64);
      assert.equal(loops.churn(floor, slotOf, churnSizes, ptrs, steps), steps);
      const after = ptrs.slice();
      loops.freeRange(floor, ptrs, 0, 64);
      return { after, bump: floor.bump, heads: floor.i32.slice(0, 20), bytes: floor.u8.slice(0, floor.bump) };
    };
    const api = run(loopsFor("floor (API)"));
    const bare = run(loopsFor("floor (bare)"));
    assert.deepEqual(bare.after, api.after);
    assert.equal(bare.bump, api.bump);
    assert.deepEqual(bare.heads, api.heads);
    assert.deepEqual(bare.bytes, api.bytes, "the same headers, links and stamps");
  });

  test("realloc keeps the contents and returns 0 when the memory is full", () => {
    const floor = new Floor(1 << 20);
    const ptr = floor.malloc(10);
    floor.u8.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ptr);
    const moved = floor.realloc(ptr, 5000);
    assert.deepEqual([...floor.u8.subarray(moved, moved + 10)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(floor.realloc(moved, 2 << 20), 0, "past the memory's limit");
    assert.equal(floor.malloc(2 << 20), 0);
  });
});

describe("bench: reports", () => {
  const report = runBench({ quick: true, workloads: ["random_mixed_256", "scaling"] });

  test("the report names the runtime and machine and has a row per contender", () => {
    assert.ok(["deno", "bun", "node"].includes(report.runtime.name));
    assert.ok(report.runtime.version.length > 0);
    assert.equal(report.workloads.length, 2);
    const figures = report.workloads[0];
    assert.equal(figures.results.length, contenders().length);
    const hakmem = figures.results.find((entry) => entry.contender === "hakmem")!;
    assert.equal(hakmem.status, "ok");
    assert.ok(hakmem.opsPerSecond! > 0 && hakmem.overhead! > 0);
    assert.equal(figures.results.find((entry) => entry.contender === "Uint8Array (GC)")!.peakFootprintBytes, null);
  });

  test("tables, chart and README section are produced from it", () => {
    const markdown = formatReport(report);
    assert.match(markdown, /### random_mixed_256/);
    assert.match(markdown, /\| hakmem \| /);
    assert.match(markdown, /after free\+trim − start/);
    const svg = renderSvg(report);
    assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
    assert.ok(svg.includes("@thi.ng/malloc"));
    const readme = "# x\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n\nafter\n";
    const replaced = replaceSection(readme, formatSection([{ ...report, quick: false }]))!;
    assert.ok(!replaced.includes("old") && replaced.includes("| hakmem |") && replaced.endsWith("<!-- bench:end -->\n\nafter\n"));
    assert.equal(replaceSection("no markers", "x"), undefined);
  });
});

describe("bench/layers.ts", () => {
  test("every layer's row runs the churn and leaves its heap whole (each run checks it)", () => {
    const { names, times } = measureLayers(1, 20_000);
    assert.deepEqual(names, ["heap", "router", "backend", "inline", "inline, no tests", "floor (API)"]);
    for (const [i, row] of times.entries()) assert.ok(row.length === 1 && row[0] > 0, names[i]);
  });

  test("--pool: the pool's churn through the heap, the router and the pool's cache, beside the floor", () => {
    const { names, times } = measureLayers(1, 20_000, "pool");
    assert.deepEqual(names, ["heap", "router", "backend", "floor (API)"]);
    for (const [i, row] of times.entries()) assert.ok(row.length === 1 && row[0] > 0, names[i]);
  });
});
