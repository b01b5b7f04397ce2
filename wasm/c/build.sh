#!/bin/sh
# Builds the WebAssembly modules under wasm/c/ and examples/wasm_c/ from C
# (and one from C++), with clang and wasi-libc (Debian: apt-get install clang
# lld wasi-libc libclang-rt-14-dev-wasm32 libc++-14-dev-wasm32
# libc++abi-14-dev-wasm32). The built .wasm files are committed: machines
# that only test (CI) need no C toolchain. Rebuild after changing a C file,
# and commit what changed.
#
# Each program is built twice:
#   bin/<name>.hakmem.wasm    its malloc & co. from hakmem_malloc.c, which
#                             imports them from "hakmem" (wasmImports(heap));
#   bin/<name>.dlmalloc.wasm  wasi-libc's own allocator (dlmalloc), unchanged.
# The only difference between the two is the shim object on the link line.
#
# Run from anywhere: sh wasm/c/build.sh   (CC=clang-14 CXX=clang++-14 sh wasm/c/build.sh to pick compilers)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CC=${CC:-clang}
SYSROOT=${WASI_SYSROOT:-/usr}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

# -O2 as mimalloc-bench builds them; -w: the programs are old C kept unmodified, their warnings are not ours.
CFLAGS="--target=wasm32-wasi --sysroot=$SYSROOT -O2"
# __heap_base is exported so the heap can start above the module's data and stack;
# --strip-all drops names and debug sections (the committed files stay small).
LDFLAGS="-Wl,--export=__heap_base -Wl,--strip-all"

# The shim: -fno-builtin so that clang does not turn its calls back into the functions it defines.
"$CC" $CFLAGS -Wall -Wextra -Werror -fno-builtin -c "$here/hakmem_malloc.c" -o "$build/hakmem_malloc.o"

mkdir -p "$here/bin"

# program name, extra compile flags, extra link flags, sources (relative to programs/<name>/)
build_program() {
  name=$1 cflags=$2 libs=$3
  shift 3
  sources=""
  for source in "$@"; do sources="$sources $here/programs/$name/$source"; done
  objects=""
  for source in $sources; do
    object="$build/$name-$(basename "$source" .c).o"
    "$CC" $CFLAGS -w $cflags -c "$source" -o "$object"
    objects="$objects $object"
  done
  # The shim object comes first and defines every global name of libc's dlmalloc.o: that object is never pulled in.
  "$CC" $CFLAGS $LDFLAGS "$build/hakmem_malloc.o" $objects $libs -o "$here/bin/$name.hakmem.wasm"
  "$CC" $CFLAGS $LDFLAGS $objects $libs -o "$here/bin/$name.dlmalloc.wasm"
  echo "built wasm/c/bin/$name.hakmem.wasm and $name.dlmalloc.wasm"
}

# cfrac: as mimalloc-bench's bench/CMakeLists.txt builds it.
build_program cfrac "-DNOMEMOPT=1" "-lm" \
  cfrac.c pops.c pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c pmul.c pdivmod.c psqrt.c \
  ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c pidiv.c pimod.c picmp.c primes.c pcfrac.c pgcd.c

# espresso: as mimalloc-bench builds it, with wasi-libc's emulations of signal() and times() (utility.c, port.h).
build_program espresso "-D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS" \
  "-lm -lwasi-emulated-signal -lwasi-emulated-process-clocks" \
  cofactor.c cols.c compl.c contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c cvrout.c dominate.c equiv.c espresso.c \
  essen.c exact.c expand.c gasp.c getopt.c gimpel.c globals.c hack.c indep.c irred.c main.c map.c matrix.c \
  mincov.c opo.c pair.c part.c primes.c reduce.c rows.c set.c setc.c sharp.c sminterf.c solution.c sparse.c \
  unate.c utility.c verify.c

# The shim's own test module (tests/wasm_programs.test.ts): each C allocation function exported as it is.
"$CC" $CFLAGS -Wall -Wextra -Werror -I"$here" -c "$here/shim_test.c" -o "$build/shim_test.o"
"$CC" $CFLAGS $LDFLAGS -mexec-model=reactor "$build/hakmem_malloc.o" "$build/shim_test.o" -o "$here/bin/shim_test.wasm"
echo "built wasm/c/bin/shim_test.wasm"

# C++ on the heap: libc++'s operator new and delete call the shim's malloc and free.
"${CXX:-clang++}" $CFLAGS -Wall -Wextra -Werror -fno-exceptions -c "$here/cxx_check.cpp" -o "$build/cxx_check.o"
"${CXX:-clang++}" $CFLAGS $LDFLAGS -fno-exceptions "$build/hakmem_malloc.o" "$build/cxx_check.o" -o "$here/bin/cxx_check.hakmem.wasm"
echo "built wasm/c/bin/cxx_check.hakmem.wasm"

# The example of C and JavaScript sharing one heap: a library (no main), its functions exported.
example="$root/examples/wasm_c"
if [ -f "$example/shapes.c" ]; then
  "$CC" $CFLAGS -Wall -Wextra -Werror -I"$here" -c "$example/shapes.c" -o "$build/shapes.o"
  "$CC" $CFLAGS $LDFLAGS -mexec-model=reactor "$build/hakmem_malloc.o" "$build/shapes.o" -lm -o "$example/shapes.wasm"
  echo "built examples/wasm_c/shapes.wasm"
fi
