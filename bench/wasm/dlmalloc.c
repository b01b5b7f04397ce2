/*
 * wasi-libc's malloc (dlmalloc) exported to JavaScript, the contender a user would reach for instead of hakmem:
 * malloc, free, realloc and calloc straight from wasi-libc, plus the top of the module's memory so the benchmark can
 * report a footprint. Built by build.sh; no main, no WASI calls (the module imports nothing).
 */
#include <stdlib.h>

/* The allocator's own functions, exported under their names. */
__attribute__((export_name("malloc"))) void *wasm_malloc(size_t size) { return malloc(size); }
__attribute__((export_name("free"))) void wasm_free(void *ptr) { free(ptr); }
__attribute__((export_name("realloc"))) void *wasm_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
__attribute__((export_name("calloc"))) void *wasm_calloc(size_t count, size_t size) { return calloc(count, size); }

/* Bytes of linear memory the module holds (dlmalloc only grows it through sbrk, so this is its footprint). */
__attribute__((export_name("memory_bytes"))) size_t memory_bytes(void) { return __builtin_wasm_memory_size(0) * 65536; }
