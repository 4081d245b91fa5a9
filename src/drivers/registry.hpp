#pragma once
// The kernel registry: every kernel attnbench runs, in --help order. Adding a kernel is one line in
// registry.cpp (and its folder, and its tests).
#include <vector>

#include "harness/kernel.hpp"

namespace attnbench::drivers {

const std::vector<harness::KernelSpec>& kernels();

}  // namespace attnbench::drivers
