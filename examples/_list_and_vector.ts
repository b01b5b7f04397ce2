/**
 * A WebAssembly module written in WAT that allocates through hakmem's
 * imports, compiled with wabt (a dev dependency) when first asked for: used
 * by the WASM interop example and tests/wasm.test.ts.
 *
 * The module keeps nothing of its own in linear memory (no data segments):
 * the heap owns the memory from offset 0. What it exports:
 *
 * ```
 * list_build(n, maxPayload) -> head   n records, newest first, each with a payload block
 *     record (24 bytes): +0 next  +4 id  +8 value f64 (id × 1.5)  +16 payload ptr  +20 payload length
 *     payload: 1 + (id × 7919) % maxPayload bytes, every byte id & 255
 * list_free(head)                     frees every record and payload
 * vec_build(n) -> vec                 vector (12 bytes: +0 data +4 length +8 capacity) of i32 i×i, grown by realloc
 * sum_bytes(ptr, length) -> sum       adds up bytes JavaScript wrote
 * free_then(ptr, result) -> result    free(ptr), then returns result (shows the module went on)
 * alloc(size), zeroed(count, size), aligned(alignment, size), resize(ptr, size), usable(ptr)
 * is_zero(ptr, length) -> 1 | 0
 * grow_memory(pages) -> old pages     the module's own memory.grow
 * ```
 * @module
 */

import wabtInit from "wabt";

/** The module's text. */
export const LIST_AND_VECTOR_WAT = `
(module
  (import "env" "memory" (memory 1))
  (import "env" "malloc" (func $malloc (param i32) (result i32)))
  (import "env" "free" (func $free (param i32)))
  (import "env" "calloc" (func $calloc (param i32 i32) (result i32)))
  (import "env" "realloc" (func $realloc (param i32 i32) (result i32)))
  (import "env" "aligned_alloc" (func $aligned_alloc (param i32 i32) (result i32)))
  (import "env" "malloc_usable_size" (func $malloc_usable_size (param i32) (result i32)))

  (func (export "list_build") (param $n i32) (param $maxPayload i32) (result i32)
    (local $head i32) (local $node i32) (local $i i32) (local $length i32) (local $payload i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $node (call $malloc (i32.const 24)))
        (if (i32.eqz (local.get $node)) (then (return (i32.const 0))))
        (local.set $length
          (i32.add (i32.const 1) (i32.rem_u (i32.mul (local.get $i) (i32.const 7919)) (local.get $maxPayload))))
        (local.set $payload (call $malloc (local.get $length)))
        (if (i32.eqz (local.get $payload)) (then (return (i32.const 0))))
        (memory.fill (local.get $payload) (i32.and (local.get $i) (i32.const 255)) (local.get $length))
        (i32.store (local.get $node) (local.get $head))
        (i32.store offset=4 (local.get $node) (local.get $i))
        (f64.store offset=8 (local.get $node) (f64.mul (f64.convert_i32_u (local.get $i)) (f64.const 1.5)))
        (i32.store offset=16 (local.get $node) (local.get $payload))
        (i32.store offset=20 (local.get $node) (local.get $length))
        (local.set $head (local.get $node))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $head))

  (func (export "list_free") (param $node i32)
    (local $next i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $node)))
        (local.set $next (i32.load (local.get $node)))
        (call $free (i32.load offset=16 (local.get $node)))
        (call $free (local.get $node))
        (local.set $node (local.get $next))
        (br $again))))

  (func (export "vec_build") (param $n i32) (result i32)
    (local $vec i32) (local $data i32) (local $length i32) (local $capacity i32)
    (local.set $vec (call $calloc (i32.const 1) (i32.const 12)))
    (if (i32.eqz (local.get $vec)) (then (return (i32.const 0))))
    (block $done
      (loop $push
        (br_if $done (i32.ge_u (local.get $length) (local.get $n)))
        (if (i32.eq (local.get $length) (local.get $capacity))
          (then
            (local.set $capacity
              (select (i32.shl (local.get $capacity) (i32.const 1)) (i32.const 4) (local.get $capacity)))
            (local.set $data (call $realloc (local.get $data) (i32.shl (local.get $capacity) (i32.const 2))))
            (if (i32.eqz (local.get $data)) (then (return (i32.const 0))))
            (i32.store (local.get $vec) (local.get $data))
            (i32.store offset=8 (local.get $vec) (local.get $capacity))))
        (i32.store
          (i32.add (local.get $data) (i32.shl (local.get $length) (i32.const 2)))
          (i32.mul (local.get $length) (local.get $length)))
        (local.set $length (i32.add (local.get $length) (i32.const 1)))
        (i32.store offset=4 (local.get $vec) (local.get $length))
        (br $push)))
    (local.get $vec))

  (func (export "sum_bytes") (param $ptr i32) (param $length i32) (result i32)
    (local $sum i32) (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $length)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $ptr))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  (func (export "is_zero") (param $ptr i32) (param $length i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $length)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (if (i32.load8_u (local.get $ptr)) (then (return (i32.const 0))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "free_then") (param $ptr i32) (param $result i32) (result i32)
    (call $free (local.get $ptr))
    (local.get $result))

  (func (export "alloc") (param $size i32) (result i32) (call $malloc (local.get $size)))
  (func (export "zeroed") (param $count i32) (param $size i32) (result i32) (call $calloc (local.get $count) (local.get $size)))
  (func (export "aligned") (param $alignment i32) (param $size i32) (result i32)
    (call $aligned_alloc (local.get $alignment) (local.get $size)))
  (func (export "resize") (param $ptr i32) (param $size i32) (result i32) (call $realloc (local.get $ptr) (local.get $size)))
  (func (export "usable") (param $ptr i32) (result i32) (call $malloc_usable_size (local.get $ptr)))
  (func (export "grow_memory") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
)
`;

/** The module's exports, typed. */
export interface ListAndVector {
  list_build(n: number, maxPayload: number): number;
  list_free(head: number): void;
  vec_build(n: number): number;
  sum_bytes(ptr: number, length: number): number;
  is_zero(ptr: number, length: number): number;
  free_then(ptr: number, result: number): number;
  alloc(size: number): number;
  zeroed(count: number, size: number): number;
  aligned(alignment: number, size: number): number;
  resize(ptr: number, size: number): number;
  usable(ptr: number): number;
  grow_memory(pages: number): number;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** The compiled module (compiled once). */
export function listAndVectorModule(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    const wabt = await wabtInit();
    const parsed = wabt.parseWat("list_and_vector.wat", LIST_AND_VECTOR_WAT, { bulk_memory: true });
    try {
      parsed.validate();
      const { buffer } = parsed.toBinary({});
      return new WebAssembly.Module(new Uint8Array(buffer)); // a copy over a plain ArrayBuffer
    } finally {
      parsed.destroy();
    }
  })();
  return compiled;
}

/** Instantiates the module over `env` (its memory and allocator imports). */
export async function instantiateListAndVector(env: WebAssembly.ModuleImports): Promise<ListAndVector> {
  const instance = new WebAssembly.Instance(await listAndVectorModule(), { env });
  return instance.exports as unknown as ListAndVector;
}
