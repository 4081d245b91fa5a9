#pragma once
// A test-only kernel that proves the "Adding a kernel" recipe: a distributed dot product x . y of
// two synthetic vectors (block rows over the ranks, one MPI_Allreduce of one double), memory-bound
// (16 n bytes read per repetition), validated against a serial compensated sum of the same
// entries. It touches only this folder, one registration (toy_main.cpp) and its tests.
#include "harness/kernel.hpp"

namespace attnbench::toy {

harness::KernelSpec toy_kernel();

}  // namespace attnbench::toy
