// Every example in examples/, run with small sizes through the function it
// exports: each must do what its header says and leave a heap that checks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runParticles } from "../examples/particles.ts";
import { runWasmInterop } from "../examples/wasm_interop.ts";
import { CONFIGURATIONS, runBackendSwap } from "../examples/backend_swap.ts";
import { runSharedQueue } from "../examples/shared_queue.ts";

describe("examples", () => {
  test("particles: records off the garbage-collected heap, reused as they die and are born", () => {
    const lines: string[] = [];
    const result = runParticles({ count: 3000, steps: 20, turnover: 0.05, log: (line) => lines.push(line) });
    assert.equal(result.live, 3000);
    assert.equal(result.born, 20 * 150);
    assert.equal(result.totalMass, 3000, "every record still holds its mass");
    assert.ok(result.inside, "every particle stayed in the box");
    assert.deepEqual(result.heap.check().problems, []);
    assert.match(lines.join("\n"), /not 3,000 objects/);
  });

  test("wasm interop: the module's structures read by JavaScript, misuse reported, everything freed", async () => {
    const lines: string[] = [];
    const result = await runWasmInterop({ records: 4000, log: (line) => lines.push(line) });
    assert.ok(result.memoryAfter > result.memoryBefore, "the memory grew while the module allocated");
    assert.equal(result.valueSum, result.expectedValueSum);
    assert.equal(result.lastElement, result.expectedLastElement);
    assert.equal(result.moduleByteSum, result.expectedByteSum);
    assert.deepEqual(result.reported, ["free: DOUBLE_FREE"]);
    assert.equal(result.heap.stats().liveBlocks, 0);
    assert.deepEqual(result.heap.check().problems, []);
    assert.match(lines.join("\n"), /check ok/);
  });

  test("backend swap: same routing in every configuration; the shared pool reuses what legacy cannot", () => {
    const lines: string[] = [];
    const pictures: string[] = [];
    const results = runBackendSwap({
      blocks: 20_000,
      log: (line) => lines.push(line),
      svg: (_index, _configuration, svg) => pictures.push(svg),
    });
    assert.deepEqual(results.map((result) => result.configuration.name), CONFIGURATIONS.map((configuration) => configuration.name));
    for (const result of results) {
      assert.ok(result.checkOk, `${result.configuration.name}: check()`);
      assert.deepEqual(result.counters.routes, results[0].counters.routes, "routing does not depend on the backends' configuration");
      assert.equal(result.counters.routeFailures, 0);
    }
    const superslabs = results.map((result) => result.stats.backends.find((backend) => backend.name === "tiny")!.detail.superslabs);
    const [shared, legacy, uncached] = superslabs;
    assert.ok(
      shared < legacy,
      `slabs emptied by one class serve another in the shared pool (${shared} SuperSlabs) but not in legacy (${legacy})`,
    );
    assert.equal(uncached, shared, "the cache changes when blocks move, not which slabs exist");
    const table = lines.join("\n");
    for (const configuration of CONFIGURATIONS) {
      assert.ok(table.includes(configuration.name), `the table has a column for ${configuration.name}`);
    }
    assert.match(table, /tiny\.legacy\.created/);
    assert.equal(pictures.length, CONFIGURATIONS.length);
    assert.match(pictures[1], /legacy 32 B/, "the legacy heap's picture shows SuperSlabs dedicated to a class");
  });
  test("a queue shared by workers: every message consumed, every free remote, nothing leaked", async () => {
    const producers = 2;
    const messages = 5000;
    const result = await runSharedQueue(producers, 2, messages);
    assert.equal(result.messages, producers * messages);
    assert.equal(result.sequenceSum, producers * (messages * (messages - 1)) / 2, "every sequence number arrived once");
    assert.ok(result.remoteFrees > 0);
    assert.equal(result.liveBlocks, 0);
    assert.deepEqual(result.problems, []);
  });
});
