#pragma once
// The kernel registry: every kernel attnbench runs, in --help order. registry.cpp is generated from
// ATTNBENCH_KERNELS in src/CMakeLists.txt: adding a kernel is its folder, its name in that list, and
// its tests.
#include <vector>

#include "harness/kernel.hpp"

namespace attnbench::drivers {

const std::vector<harness::KernelSpec>& kernels();

}  // namespace attnbench::drivers
