// renderHeapSvg: well-formed SVG, every backend holding pages drawn with the
// figures its records hold, names escaped, large heaps aggregated, the
// picture following the heap, and the heap left exactly as it was.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap } from "../heap/heap.ts";
import { renderHeapSvg } from "../inspect/mod.ts";
import { mmapBackend } from "../backends/mmap/mod.ts";
import { POOL_CLASS_SIZES, POOL_SPAN_BLOCKS, poolClassOf } from "../backends/pool/mod.ts";
import { FakeBackend, fakeBackend } from "./_fakes.ts";
import type { BackendContext, MemoryDescription } from "../router/box.ts";

const MiB = 1 << 20;

/** Checks tags open and close in order and text holds no raw `<` or `&`; returns the tags seen, by name. */
function assertWellFormed(svg: string): Map<string, number> {
  const seen = new Map<string, number>();
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let match = tag.exec(svg); match !== null; match = tag.exec(svg)) {
    const between = svg.slice(at, match.index);
    assert.ok(!between.includes("<"), `a stray "<" before offset ${match.index}: ${between.slice(0, 80)}`);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(between), `a raw "&" in text: ${between.slice(0, 80)}`);
    at = tag.lastIndex;
    const [, closing, name, , selfClosing] = match;
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else {
      seen.set(name, (seen.get(name) ?? 0) + 1);
      if (!selfClosing) stack.push(name);
    }
  }
  assert.ok(!svg.slice(at).includes("<"), 'a stray "<" after the last tag');
  assert.deepEqual(stack, [], "every element is closed");
  assert.ok(svg.startsWith("<svg "), "the document is one svg element");
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  return seen;
}

/** A heap whose tiny figures are exact: no per-worker cache. */
function exactHeap(): Heap {
  return createHeap({ tinyCache: false, maxBytes: 256 * MiB });
}

describe("inspect: renderHeapSvg", () => {
  test("a fresh heap: well-formed, a map of metadata and free pages, no backend panels", () => {
    const heap = exactHeap();
    const svg = renderHeapSvg(heap);
    const tags = assertWellFormed(svg);
    assert.ok((tags.get("rect") ?? 0) > 2, "the map has cells");
    assert.match(svg, /heap header/);
    assert.match(svg, /free page/);
    assert.doesNotMatch(svg, />tiny: \d/);
    assert.doesNotMatch(svg, />pool: \d/);
    assert.doesNotMatch(svg, />mmap: \d/);
  });

  test("each backend holding pages gets its panel, with the figures of its records", () => {
    const heap = exactHeap();
    const small = Array.from({ length: 10 }, () => heap.malloc(48));
    const mid = [heap.malloc(5000), heap.malloc(5000), heap.malloc(5000)];
    heap.free(mid.pop()!); // used 2, bump mark 3: the picture must show the used count
    const big = heap.malloc(3 * MiB);
    const svg = renderHeapSvg(heap);
    assertWellFormed(svg);
    assert.match(svg, />tiny: 1 SuperSlabs of 8 slabs, 1 slabs with a class, 10 of 170 blocks/);
    assert.match(svg, />48 B {2}10\/170</, "the slab's class, used and capacity");
    const cls = poolClassOf(5000);
    assert.match(svg, />pool: 1 spans in 1 classes</);
    assert.ok(svg.includes(`>2/${POOL_SPAN_BLOCKS[cls]}<`), "the span's used and capacity, read from its record");
    assert.ok(svg.includes(`>${POOL_CLASS_SIZES[cls] / 1024} KiB × 1<`), "the span's class");
    assert.match(svg, />mmap: 1 blocks, 3 MiB</);
    assert.match(svg, /backends: tiny 64 KiB, pool/);
    for (const ptr of [...small, ...mid, big]) heap.free(ptr);
  });

  test("the slab source shows: a legacy SuperSlab serves one class", () => {
    const heap = createHeap({ slabSource: "legacy", tinyCache: false });
    heap.malloc(100);
    const svg = renderHeapSvg(heap);
    assertWellFormed(svg);
    assert.match(svg, /legacy 112 B/);
    assert.doesNotMatch(svg, /shared pool</);
    const shared = exactHeap();
    shared.malloc(100);
    assert.match(renderHeapSvg(shared), /shared pool</);
  });

  test("the picture follows the heap", () => {
    const heap = exactHeap();
    const before = renderHeapSvg(heap);
    const ptr = heap.malloc(64);
    const after = renderHeapSvg(heap);
    assert.notEqual(after, before);
    assert.match(after, />64 B {2}1\/128</);
    heap.malloc(64);
    assert.match(renderHeapSvg(heap), />64 B {2}2\/128</);
    heap.free(ptr);
    assert.match(renderHeapSvg(heap), />64 B {2}1\/128</);
  });

  test("rendering changes nothing: every byte of the memory and every counter stay", () => {
    const heap = createHeap();
    const live: number[] = [];
    for (let i = 0; i < 2000; i++) live.push(heap.malloc(1 + ((i * 7919) % 5000)));
    for (let i = 0; i < live.length; i += 3) heap.free(live[i]);
    // Counters first: a read merges this heap's pending counts into the memory (see Heap.health).
    const counters = JSON.stringify(heap.counters());
    const bytes = heap.u8.slice();
    renderHeapSvg(heap);
    assert.deepEqual(heap.u8, bytes);
    assert.equal(JSON.stringify(heap.counters()), counters);
    assert.deepEqual(heap.check().problems, []);
  });

  test("a large heap is aggregated: cells stand for several pages and the element count stays bounded", () => {
    const heap = createHeap({ maxBytes: 512 * MiB });
    const blocks: number[] = [];
    for (let i = 0; i < 12; i++) blocks.push(heap.malloc(16 * MiB)); // 192 MiB: 49k pages
    for (let i = 0; i < 3000; i++) heap.malloc(24 + (i % 900));
    const svg = renderHeapSvg(heap, { columns: 64, maxRows: 48 });
    const tags = assertWellFormed(svg);
    const pages = heap.stats().pageHeap.topPages;
    assert.ok(pages > 64 * 48, `the heap has more pages (${pages}) than the map has cells`);
    const perCell = Number(/one cell per (\d+) pages/.exec(svg)?.[1]);
    assert.ok(perCell >= 16 && Math.ceil(pages / perCell) <= 64 * 48, `cells of ${perCell} pages fit the map`);
    assert.ok((tags.get("rect") ?? 0) < 64 * 48 * 8 + 2000, `${tags.get("rect")} rectangles`);
    assert.match(svg, /mmap 100%/, "a cell of one mmap block says so");
    assert.match(svg, /tiny in use \d+%/, "cells holding slabs give tiny's share");
  });

  test("a backend of the user's that describes its memory is drawn from its description, with no backend known by name", () => {
    // Its page runs are "chunks" of one class of 4 KiB blocks: the picture draws them as it draws pool's spans.
    class Describing extends FakeBackend {
      describe(): MemoryDescription {
        const regions = (this as unknown as { inner: { describe(): MemoryDescription } }).inner.describe().regions
          .map((region) => ({ ...region, sizeClass: 1, used: 1, capacity: 2, state: "half full" }));
        return { style: "classes", regionNoun: "chunk", classSizes: [64, 4096], regions };
      }
    }
    const heap = createHeap({
      backends: [{ name: "mine", create: (context: BackendContext) => new Describing(context, "mine", 4096) }, mmapBackend],
      routes: [{ min: 1, max: 4096, backend: "mine" }, { min: 4097, max: Infinity, backend: "mmap" }],
    });
    heap.malloc(100);
    heap.malloc(4000);
    const svg = renderHeapSvg(heap);
    assertWellFormed(svg);
    assert.match(svg, />mine: 2 chunks in 1 classes</, "its own panel, from its regions");
    assert.match(svg, />4 KiB × 2</);
    assert.match(svg, /mine chunk of 4 KiB blocks, 50% in use/, "its pages in the map");
    assert.match(svg, />mine class</, "its classes in the legend");
    assert.doesNotMatch(svg, /other backends/, "not drawn as a backend the picture knows nothing of");
  });

  test("a small map option aggregates a small heap too, and names are escaped", () => {
    const heap = createHeap({
      backends: [fakeBackend("mine<&>", 4096), mmapBackend],
      routes: [{ min: 1, max: 4096, backend: "mine<&>" }, { min: 4097, max: Infinity, backend: "mmap" }],
    });
    heap.malloc(100);
    heap.malloc(5000);
    const svg = renderHeapSvg(heap, { columns: 8, maxRows: 2, title: "a <small> & odd heap" });
    assertWellFormed(svg);
    assert.match(svg, /a &lt;small&gt; &amp; odd heap/);
    assert.match(svg, /other backends: 1 blocks/);
    assert.match(svg, /mine&lt;&amp;&gt; 4 KiB/);
    assert.match(svg, /one cell per \d+ pages/);
  });

  test("a heap over a WebAssembly.Memory after it grew", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
    const heap = createHeap({ memory, maxBytes: 256 * 65536 });
    for (let i = 0; i < 100; i++) heap.malloc(2000);
    const svg = renderHeapSvg(heap);
    assertWellFormed(svg);
    const pages = (memory.buffer.byteLength / 4096).toLocaleString("en-US");
    assert.ok(svg.includes(`${pages} pages of 4 KiB`), "the memory as it is after growing");
    assert.ok(memory.buffer.byteLength > 65536);
    assert.match(svg, />WebAssembly.Memory: /);
    assert.match(svg, />pool: \d+ spans/);
  });
});
