// A real WebAssembly module (WAT compiled with wabt) allocating through
// wasmImports: it builds a linked list and a growable vector in the shared
// heap, the memory grows under it, JavaScript reads and frees what it built
// (through views taken again, and views kept across growth), misuse from the
// module is reported or thrown as documented, and the heap stays whole.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHeap, type Heap } from "../heap/heap.ts";
import { HakmemError } from "../core/errors.ts";
import { type WasmAllocatorFunction, wasmImports } from "../wasm/mod.ts";
import { instantiateListAndVector, type ListAndVector } from "../examples/_list_and_vector.ts";

const WASM_PAGE = 65536;

interface Setup {
  memory: WebAssembly.Memory;
  heap: Heap;
  wasm: ListAndVector;
  reported: Array<{ code: string; name: WasmAllocatorFunction }>;
}

/** A heap in a one-page WebAssembly.Memory and the module over it; misuse collected when `report`. */
async function setup(report: boolean, maximumPages = 4096): Promise<Setup> {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maximumPages });
  const heap = createHeap({ memory, maxBytes: maximumPages * WASM_PAGE });
  const reported: Setup["reported"] = [];
  const env = wasmImports(heap, report ? { onError: (error, name) => reported.push({ code: error.code, name }) } : {});
  const wasm = await instantiateListAndVector({ ...env });
  return { memory, heap, wasm, reported };
}

function assertWhole(heap: Heap, when: string): void {
  const report = heap.check();
  assert.deepEqual(report.problems, [], `check() ${when}`);
}

describe("wasm: a module allocating through wasmImports", () => {
  test("builds a linked list that JavaScript reads and frees after the memory grew", async () => {
    const { memory, heap, wasm } = await setup(false);
    const stale = heap.u8; // taken before any growth
    const bytesBefore = memory.buffer.byteLength;
    const count = 3000;
    const maxPayload = 3000; // payloads from 1 byte to ~3 KB: tiny and pool blocks
    const head = wasm.list_build(count, maxPayload);
    assert.notEqual(head, 0, "the module got every block it asked for");
    assert.ok(memory.buffer.byteLength > 8 * bytesBefore, `the memory grew (${bytesBefore} → ${memory.buffer.byteLength})`);
    assert.equal(stale.byteLength, 0, "a view taken before growth is detached: it must be taken again");
    assert.equal(heap.u8.byteLength, memory.buffer.byteLength, "heap.u8 is rebuilt over the grown memory");

    // JavaScript walks the module's records through fresh views.
    const view = new DataView(heap.buffer);
    const u8 = heap.u8;
    let node = head;
    let expected = count - 1;
    const nodes: number[] = [];
    while (node !== 0) {
      assert.equal(view.getInt32(node + 4, true), expected, `record ${expected}'s id`);
      assert.equal(view.getFloat64(node + 8, true), expected * 1.5, `record ${expected}'s value`);
      const payload = view.getUint32(node + 16, true);
      const length = view.getUint32(node + 20, true);
      assert.equal(length, 1 + ((expected * 7919) % maxPayload));
      assert.ok(heap.usableSize(payload) >= length, "the payload block holds its length");
      assert.equal(u8[payload], expected & 255, `record ${expected}'s payload first byte`);
      assert.equal(u8[payload + length - 1], expected & 255, `record ${expected}'s payload last byte`);
      nodes.push(node, payload);
      node = view.getUint32(node, true);
      expected--;
    }
    assert.equal(expected, -1, "every record was reached");
    assert.equal(heap.stats().liveBlocks, 2 * count);
    for (const ptr of nodes) heap.free(ptr); // JavaScript frees what the module allocated
    assert.equal(heap.stats().liveBlocks, 0);
    assertWhole(heap, "after JavaScript freed the list");
  });

  test("a vector grown by realloc is read through a view kept across growth", async () => {
    const { memory, heap, wasm } = await setup(false);
    const first = wasm.vec_build(4); // small: before growth
    const firstData = heap.typed(Int32Array, first, 3)[0]; // read now: a typed array goes stale when the memory grows
    const kept = heap.view(Int32Array, firstData, 4); // a BlockView: survives growth
    const bytesBefore = memory.buffer.byteLength;
    const length = 200_000; // 800 KB of i32: the data moves from tiny to pool to mmap
    const vec = wasm.vec_build(length);
    assert.notEqual(vec, 0);
    assert.ok(memory.buffer.byteLength > bytesBefore, "the memory grew while the vector grew");
    assert.deepEqual([...kept.array], [0, 1, 4, 9], "the kept view reads the first vector after growth");
    const header = heap.typed(Int32Array, vec, 3);
    assert.equal(header[1], length);
    assert.ok(header[2] >= length);
    const data = heap.typed(Int32Array, header[0], length);
    for (let i = 0; i < length; i += 997) assert.equal(data[i], Math.imul(i, i), `element ${i}`);
    assert.equal(data[length - 1], Math.imul(length - 1, length - 1));
    assert.ok(heap.usableSize(header[0]) >= length * 4);
    heap.free(header[0]);
    heap.free(vec);
    heap.free(firstData);
    heap.free(first);
    assert.equal(heap.stats().liveBlocks, 0);
    assertWhole(heap, "after the vectors were freed");
  });

  test("the module frees what it built, and reads what JavaScript allocated", async () => {
    const { heap, wasm } = await setup(false);
    const head = wasm.list_build(500, 100);
    wasm.list_free(head);
    assert.equal(heap.stats().liveBlocks, 0);
    const text = new TextEncoder().encode("shared heap");
    const ptr = heap.malloc(text.length);
    heap.u8.set(text, ptr);
    assert.equal(wasm.sum_bytes(ptr, text.length), text.reduce((sum, byte) => sum + byte, 0));
    assert.equal(wasm.free_then(ptr, 5), 5); // the module frees a block JavaScript allocated
    assertWhole(heap, "after frees across the boundary");
  });

  test("C semantics at the boundary: calloc zeroes, aligned_alloc aligns, failures return 0", async () => {
    const { heap, wasm } = await setup(false, 64);
    // Dirty some memory, free it, then calloc must hand back zeroes.
    const dirty = heap.malloc(4000);
    heap.u8.fill(0xab, dirty, dirty + 4000);
    heap.free(dirty);
    const zeroed = wasm.zeroed(1000, 4);
    assert.notEqual(zeroed, 0);
    assert.equal(wasm.is_zero(zeroed, 4000), 1);
    assert.equal(wasm.free_then(zeroed, 1), 1);
    assert.equal(wasm.zeroed(0x10000, 0x10000), 0, "calloc whose product is past the memory returns 0");
    for (const alignment of [8, 64, 4096, 65536]) {
      const ptr = wasm.aligned(alignment, 100);
      assert.notEqual(ptr, 0);
      assert.equal(ptr % alignment, 0, `aligned_alloc(${alignment})`);
      assert.ok(wasm.usable(ptr) >= 100);
      assert.equal(wasm.free_then(ptr, 1), 1);
    }
    assert.equal(wasm.aligned(3, 100), 0, "alignment not a power of two: NULL, as C says");
    assert.equal(wasm.aligned(0, 100), 0);
    assert.equal(wasm.alloc(-1), 0, "malloc(SIZE_MAX) returns 0 (the i32 -1 is 4 GiB - 1)");
    assert.equal(wasm.alloc(64 * WASM_PAGE), 0, "malloc past the memory's maximum returns 0");
    const small = wasm.alloc(10);
    const grown = wasm.resize(small, 5000);
    assert.notEqual(grown, 0);
    assert.equal(wasm.resize(grown, -1), 0, "realloc that cannot grow returns 0");
    assert.ok(heap.usableSize(grown) >= 5000, "and leaves the old block live");
    assert.equal(wasm.resize(grown, 0), 0, "realloc(p, 0) frees p and returns 0");
    assert.equal(wasm.usable(0), 0);
    assert.equal(wasm.free_then(0, 2), 2, "free(NULL) does nothing");
    assert.equal(heap.stats().liveBlocks, 0);
    assertWhole(heap, "after the C-semantics calls");
  });

  test("misuse with onError: reported by name and code, the call returns, the heap is unchanged", async () => {
    const { heap, wasm, reported } = await setup(true);
    const ptr = wasm.alloc(48);
    const live = wasm.alloc(5000);
    assert.equal(wasm.free_then(ptr, 1), 1);
    assert.equal(wasm.free_then(ptr, 2), 2, "the module goes on after a reported double free");
    assert.equal(wasm.free_then(live + 8, 3), 3, "and after an interior pointer");
    assert.equal(wasm.free_then(0x7fff_fff0, 4), 4, "and after a pointer past the memory");
    assert.equal(wasm.resize(live + 256, 10), 0, "realloc of a bad pointer returns 0");
    assert.equal(wasm.usable(live + 8), 0, "malloc_usable_size of a bad pointer returns 0");
    assert.deepEqual(reported, [
      { code: "DOUBLE_FREE", name: "free" },
      { code: "INTERIOR_POINTER", name: "free" },
      { code: "INVALID_POINTER", name: "free" },
      { code: "INTERIOR_POINTER", name: "realloc" },
      { code: "INTERIOR_POINTER", name: "malloc_usable_size" },
    ]);
    assert.equal(heap.stats().liveBlocks, 1, "only the live block is live");
    assert.ok(heap.usableSize(live) >= 5000);
    heap.free(live);
    assertWhole(heap, "after reported misuse");
  });

  test("misuse without onError: the HakmemError unwinds to the JavaScript caller, the heap is unchanged", async () => {
    const { heap, wasm } = await setup(false);
    const ptr = wasm.alloc(100);
    wasm.free_then(ptr, 0);
    assert.throws(() => wasm.free_then(ptr, 0), (error: unknown) => error instanceof HakmemError && error.code === "DOUBLE_FREE");
    assert.equal(heap.stats().liveBlocks, 0);
    assertWhole(heap, "after a thrown double free");
  });

  test("memory the module grows itself is noticed at its next allocator call, and stays the module's", async () => {
    const { memory, heap, wasm } = await setup(false);
    const small = [wasm.alloc(32), wasm.alloc(32), wasm.alloc(2000)];
    const pagesBefore = memory.buffer.byteLength / WASM_PAGE;
    const topBefore = heap.stats().pageHeap.topPages;
    assert.equal(wasm.grow_memory(4), pagesBefore, "memory.grow from inside the module");
    const next = wasm.alloc(32); // the imports see the detached views and take the growth in first
    assert.notEqual(next, 0);
    assert.equal(heap.stats().pageHeap.topPages, topBefore + (4 * WASM_PAGE) / 4096, "the heap's span reaches over the new pages");
    assert.equal(heap.stats().pageHeap.foreignPages, (4 * WASM_PAGE) / 4096, "which stay the module's: a foreign run");
    assert.equal(heap.u8.byteLength, memory.buffer.byteLength);
    wasm.grow_memory(2);
    const big = wasm.alloc(6 * WASM_PAGE); // any size: here mmap
    assert.notEqual(big, 0);
    heap.u8.fill(1, big, big + 6 * WASM_PAGE); // JavaScript writes where the module allocated
    assert.equal(wasm.sum_bytes(big, 6 * WASM_PAGE), 6 * WASM_PAGE);
    wasm.grow_memory(1);
    for (const ptr of [...small, next, big]) assert.equal(wasm.free_then(ptr, 1), 1);
    assert.equal(heap.stats().liveBlocks, 0);
    assertWhole(heap, "after the module grew the memory three times");
  });

  test("wasmImports refuses a heap that is not over a WebAssembly.Memory", () => {
    const memory = new ArrayBuffer(64 << 10, { maxByteLength: 1 << 20 });
    assert.throws(
      () => wasmImports(createHeap({ memory })),
      (error: unknown) => error instanceof HakmemError && error.code === "INVALID_MEMORY",
    );
  });
});
