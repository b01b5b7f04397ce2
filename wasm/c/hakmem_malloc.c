/*
 * hakmem_malloc.c: malloc and friends for a C program compiled to
 * WebAssembly (clang + wasi-libc), forwarded to a hakmem heap that lives in
 * the module's own memory. JavaScript and the C code then share one heap: a
 * block C allocates, JavaScript may read and free, and the other way round.
 *
 * Owns: the C side of the boundary. Each function is one call into the
 * "hakmem" imports (wasmImports(heap) in wasm.ts: malloc free calloc realloc
 * aligned_alloc malloc_usable_size), plus what C asks of it that the heap
 * does not: a 16-byte minimum (max_align_t on wasm32), errno = ENOMEM on
 * failure, EINVAL for a bad alignment, and the names wasi-libc's own code
 * calls (__libc_malloc, __libc_free, __libc_calloc). Defining every global
 * name of wasi-libc's dlmalloc.o here keeps the linker from pulling that
 * object out of libc.a at all: one allocator in the module, never two.
 *
 * Work that C can do without a call is done here, so that each C call costs
 * at most one call into JavaScript: free(NULL) returns at once, small
 * alignments are plain malloc (every block is 16-aligned), calloc's overflow
 * check is a multiply here, and calloc zeroes in JavaScript (the heap knows
 * which pages were never written and skips them), never with a memset here.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem_malloc.h"

#define HAKMEM_IMPORT(name) __attribute__((import_module(HAKMEM_IMPORT_MODULE), import_name(#name)))

HAKMEM_IMPORT(malloc) void *hakmem_heap_malloc(size_t size);
HAKMEM_IMPORT(free) void hakmem_heap_free(void *ptr);
HAKMEM_IMPORT(calloc) void *hakmem_heap_calloc(size_t count, size_t size);
HAKMEM_IMPORT(realloc) void *hakmem_heap_realloc(void *ptr, size_t size);
HAKMEM_IMPORT(aligned_alloc) void *hakmem_heap_aligned_alloc(size_t alignment, size_t size);
HAKMEM_IMPORT(malloc_usable_size) size_t hakmem_heap_malloc_usable_size(void *ptr);

/* A request below the minimum gets the minimum: C expects max_align_t alignment from any block. */
static inline size_t at_least_minimum(size_t size) {
  return size < HAKMEM_MIN_ALIGNMENT ? HAKMEM_MIN_ALIGNMENT : size;
}

static inline void *allocate(size_t size) {
  void *ptr = hakmem_heap_malloc(at_least_minimum(size));
  if (ptr == NULL) errno = ENOMEM;
  return ptr;
}

static inline void release(void *ptr) {
  if (ptr != NULL) hakmem_heap_free(ptr);
}

static inline void *allocate_zeroed(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *ptr = hakmem_heap_calloc(1, at_least_minimum(total));
  if (ptr == NULL) errno = ENOMEM;
  return ptr;
}

static inline void *reallocate(void *ptr, size_t size) {
  if (ptr == NULL) return allocate(size);
  if (size == 0) {
    /* As wasi-libc's dlmalloc does (REALLOC_ZERO_BYTES_FREES): free, and return NULL. */
    hakmem_heap_free(ptr);
    return NULL;
  }
  void *fresh = hakmem_heap_realloc(ptr, at_least_minimum(size));
  if (fresh == NULL) errno = ENOMEM; /* the old block stays as it was */
  return fresh;
}

/* NULL and EINVAL for an alignment that is not a power of two. */
static inline void *allocate_aligned(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment <= HAKMEM_MIN_ALIGNMENT) return allocate(size);
  void *ptr = hakmem_heap_aligned_alloc(alignment, at_least_minimum(size));
  if (ptr == NULL) errno = ENOMEM;
  return ptr;
}

void *malloc(size_t size) {
  return allocate(size);
}

void free(void *ptr) {
  release(ptr);
}

void *calloc(size_t count, size_t size) {
  return allocate_zeroed(count, size);
}

void *realloc(void *ptr, size_t size) {
  return reallocate(ptr, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  return allocate_aligned(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
  return allocate_aligned(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
  /* POSIX: a power of two and a multiple of sizeof(void *), or EINVAL; *result untouched on failure. */
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void *ptr = allocate_aligned(alignment, size);
  if (ptr == NULL) return ENOMEM;
  *result = ptr;
  return 0;
}

size_t malloc_usable_size(void *ptr) {
  return ptr == NULL ? 0 : hakmem_heap_malloc_usable_size(ptr);
}

/* The names wasi-libc's own code calls (and dlmalloc.o defines): the same functions. */
void *__libc_malloc(size_t size) {
  return allocate(size);
}

void __libc_free(void *ptr) {
  release(ptr);
}

void *__libc_calloc(size_t count, size_t size) {
  return allocate_zeroed(count, size);
}
