// cxx_check.cpp: a C++ program on the heap, for tests/wasm_programs.test.ts. libc++'s operator new
// and delete call malloc and free, so linking hakmem_malloc.c is all C++ needs: the containers
// below (a map of strings to vectors, a unique_ptr array) allocate and free through the heap.
// Built by build.sh into bin/cxx_check.hakmem.wasm (clang++ with -fno-exceptions: libc++abi for
// wasm32 has no exception support).
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

int main() {
  std::map<std::string, std::vector<int>> words;
  for (int i = 0; i < 20000; i++) words["w" + std::to_string(i % 997)].push_back(i);
  auto squares = std::make_unique<long long[]>(1000);
  for (int i = 0; i < 1000; i++) squares[i] = static_cast<long long>(i) * i;
  size_t values = 0;
  long long sum = 0;
  for (auto &entry : words) {
    values += entry.second.size();
    for (int value : entry.second) sum += value;
  }
  std::printf("%zu keys, %zu values, sum %lld, last square %lld\n", words.size(), values, sum, squares[999]);
  return 0;
}
