#!/bin/sh
# Builds dlmalloc.wasm: wasi-libc's malloc (dlmalloc) for wasm32, the WASM contender of bench/contenders.ts.
# Needs Debian's clang, lld and wasi-libc (and libclang-rt-14-dev-wasm32 if the linker asks for compiler-rt builtins).
# --no-entry: a library, no main. -O2 as a user's release build would be; no WASI imports are pulled in.
set -eu
cd "$(dirname "$0")"
clang --target=wasm32-wasi --sysroot=/usr -O2 -nostartfiles \
  -Wl,--no-entry -Wl,--export-dynamic -Wl,--strip-all \
  -o dlmalloc.wasm dlmalloc.c
echo "wrote $(pwd)/dlmalloc.wasm ($(wc -c < dlmalloc.wasm) bytes)"
