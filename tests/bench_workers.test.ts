// The workers benchmark runs: every scenario in quick mode on real workers (no timing asserted),
// the heaps come back clean, the peer runs or says why not, and its tables reach the README section.
// Also the batched queue calls the batched producer and consumer use.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatSection, replaceSection } from "../bench/readme_table.ts";
import { loadPeerModule } from "../bench/shared_memory_objects.ts";
import { formatWorkersReport, parseWorkersArguments, runWorkersBench, SCALING_TARGET } from "../bench/workers.ts";
import { SharedQueue } from "../testing/shared_queue.ts";

const TINY = { quick: true, ops: 1_000, pairs: 1_000, batch: 16 };

describe("bench: workers (quick mode, real workers)", () => {
  test("every scenario runs, every heap is clean afterwards, and the report has its figures", async () => {
    const report = await runWorkersBench(TINY);
    assert.equal(report.kind, "workers");
    assert.ok(["deno", "bun", "node"].includes(report.runtime.name));
    assert.equal(report.quick, true);
    assert.equal(report.rounds, 1);
    assert.deepEqual(report.counts.opsPerWorker, TINY.ops);
    const ids = report.rows.map((row) => row.id);
    assert.deepEqual(ids, ["pc_single", "pc_batch", "hakmem_1", "hakmem_2", "peer_1", "peer_2", "cpu_1", "cpu_2"]);
    const peerInstalled = loadPeerModule().url !== null;
    for (const row of report.rows) {
      if (row.id.startsWith("peer_") && !peerInstalled) {
        assert.equal(row.status, "skipped");
        assert.match(row.reason!, /shared-memory-objects/);
        continue;
      }
      // A run that left a block live, a worker attached or a check problem would be "failed" here.
      assert.equal(row.status, "ok", `${row.id}: ${row.reason}`);
      assert.equal(row.rounds.length, 1, row.id);
      assert.ok(row.median! > 0, `${row.id} has a rate`);
      assert.equal(row.workerSeconds[0].length, row.id.startsWith("pc_") ? 2 : row.workers, `${row.id}: one time per worker`);
      assert.equal(row.cores.length, 1);
    }
    const row = (id: string) => report.rows.find((entry) => entry.id === id)!;
    assert.equal(row("pc_single").units, TINY.pairs);
    assert.equal(row("hakmem_2").units, 2 * TINY.ops, "two workers, each its own operations");
    assert.equal(row("hakmem_2").twoVsOne, row("hakmem_2").median! / row("hakmem_1").median!);
    assert.equal(row("hakmem_1").twoVsOne, null);
    assert.equal(report.target.twoVsOne, SCALING_TARGET);
    assert.equal(report.target.measured, row("hakmem_2").twoVsOne);
    if (peerInstalled) {
      assert.equal(row("hakmem_1").vsPeer, row("hakmem_1").median! / row("peer_1").median!);
      assert.ok(row("peer_2").extra.buffersAfter >= report.counts.peerBuffers);
    }

    const markdown = formatWorkersReport(report);
    assert.match(markdown, /\| benchmark \| allocator \| workers \| median \|/);
    assert.match(markdown, /\| random_mixed \(256 slots, 16\.\.1024 B\) \| hakmem \| 2 \| /);
    assert.match(markdown, /quick mode/);
    assert.match(markdown, /Target: hakmem with two workers at least 1\.6× one worker/);
    const readme = "# x\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n";
    const replaced = replaceSection(readme, formatSection([], [{ ...report, quick: false }]))!;
    assert.ok(replaced.includes("### Workers: ") && replaced.includes("| hakmem | 1 + 1 |") && !replaced.includes("old"));
  });

  test("without the peer its rows are skipped with the reason", async () => {
    const report = await runWorkersBench({ ...TINY, ops: 200, pairs: 200, peer: false });
    for (const id of ["peer_1", "peer_2"]) {
      const row = report.rows.find((entry) => entry.id === id)!;
      assert.equal(row.status, "skipped");
      assert.equal(row.median, null);
    }
    assert.equal(report.rows.find((entry) => entry.id === "hakmem_1")!.vsPeer, null);
    assert.match(formatWorkersReport(report), /skipped, not asked for/);
  });

  test("flags", () => {
    assert.deepEqual(parseWorkersArguments(["--quick", "--rounds", "3", "--ops=10", "--no-peer"]), {
      out: "bench/out",
      readme: false,
      quick: true,
      rounds: 3,
      ops: 10,
      peer: false,
    });
    assert.throws(() => parseWorkersArguments(["--rounds", "0"]), /positive integer/);
    assert.throws(() => parseWorkersArguments(["--what"]), /unknown argument/);
  });
});

describe("SharedQueue: batched calls", () => {
  test("tryPushMany takes what fits, popMany hands back in order across the wrap-around", () => {
    const queue = new SharedQueue(SharedQueue.create(5));
    const ptrs = new Float64Array([8, 16, 24, 32, 40, 48, 56]);
    assert.equal(queue.tryPushMany(ptrs, 0, 3, 64, 1), 3);
    const out = new Float64Array(2), tags = new Int32Array(2);
    assert.equal(queue.popMany(out, tags), 2);
    assert.deepEqual([...out], [8, 16]);
    assert.equal(queue.tryPushMany(ptrs, 3, 4, 64, 2), 4, "wraps past the end of the ring");
    assert.equal(queue.tryPushMany(ptrs, 0, 1, 64, 3), 0, "full");
    assert.equal(queue.length, 5);
    const all = new Float64Array(8), allTags = new Int32Array(8);
    assert.equal(queue.popMany(all, allTags), 5);
    assert.deepEqual([...all.subarray(0, 5)], [24, 32, 40, 48, 56]);
    assert.deepEqual([...allTags.subarray(0, 5)], [1, 2, 2, 2, 2]);
    assert.equal(queue.popMany(all, allTags), 0, "empty");
    queue.tryPush(0xffff_fff0, 8, 9);
    assert.equal(queue.popMany(all, allTags), 1);
    assert.equal(all[0], 0xffff_fff0, "pointers above 2 GiB come back unsigned");
  });
});
