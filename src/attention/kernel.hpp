#pragma once
// The `attention` kernel: exact softmax attention (ring, allgather) and the approximate algorithms
// (poly, kde, hyper, performer) as one registration for the harness.
#include "harness/kernel.hpp"

namespace attnbench::attention {

harness::KernelSpec attention_kernel();

}  // namespace attnbench::attention
