/*
 * hakmem_malloc.h: the C allocator of a WebAssembly module whose heap is a
 * hakmem heap in JavaScript. Declares what hakmem_malloc.c defines: the C
 * and POSIX allocation functions, each served by the imports that
 * `wasmImports(heap)` (wasm.ts) returns, under the import module "hakmem".
 *
 * Blocks are aligned to HAKMEM_MIN_ALIGNMENT (16), as max_align_t asks on
 * wasm32: a request below 16 bytes gets a 16-byte block.
 *
 * Link hakmem_malloc.c (or its object) into the module, ahead of libc, and
 * export __heap_base: see wasm/c/README.md for the flags (C, C++, Rust).
 */
#ifndef HAKMEM_MALLOC_H
#define HAKMEM_MALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every block starts at a multiple of this, and is at least this big. */
#define HAKMEM_MIN_ALIGNMENT 16

/* The import module the functions below call into: give it wasmImports(heap). */
#define HAKMEM_IMPORT_MODULE "hakmem"

void *malloc(size_t size);
void free(void *ptr);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
int posix_memalign(void **result, size_t alignment, size_t size);
void *memalign(size_t alignment, size_t size);
size_t malloc_usable_size(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_MALLOC_H */
