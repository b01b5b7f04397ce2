/*
 * shim_test.c: a module for tests/wasm_programs.test.ts that calls the
 * shim's functions (hakmem_malloc.c) one at a time, so that the test can see
 * what each C call asks of the heap's imports, what it returns, and errno.
 * Built by build.sh into bin/shim_test.wasm (a reactor: no main).
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem_malloc.h"

#define EXPORT(name) __attribute__((export_name(#name)))

/* Where posix_memalign stores its result, for the test to read. */
static void *memalign_result;

EXPORT(test_malloc) void *test_malloc(size_t size) { return malloc(size); }
EXPORT(test_free) void test_free(void *ptr) { free(ptr); }
EXPORT(test_calloc) void *test_calloc(size_t count, size_t size) { return calloc(count, size); }
EXPORT(test_realloc) void *test_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
EXPORT(test_aligned_alloc) void *test_aligned_alloc(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }
EXPORT(test_memalign) void *test_memalign(size_t alignment, size_t size) { return memalign(alignment, size); }
EXPORT(test_malloc_usable_size) size_t test_malloc_usable_size(void *ptr) { return malloc_usable_size(ptr); }

EXPORT(test_posix_memalign) int test_posix_memalign(size_t alignment, size_t size) {
  memalign_result = NULL;
  return posix_memalign(&memalign_result, alignment, size);
}
EXPORT(test_posix_memalign_result) void *test_posix_memalign_result(void) { return memalign_result; }

/* wasi-libc's own names for the allocator, which its stdio and other internals call. */
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
void *__libc_calloc(size_t count, size_t size);
EXPORT(test_libc_malloc) void *test_libc_malloc(size_t size) { return __libc_malloc(size); }
EXPORT(test_libc_free) void test_libc_free(void *ptr) { __libc_free(ptr); }
EXPORT(test_libc_calloc) void *test_libc_calloc(size_t count, size_t size) { return __libc_calloc(count, size); }

EXPORT(test_errno) int test_errno(void) { return errno; }
EXPORT(test_clear_errno) void test_clear_errno(void) { errno = 0; }
