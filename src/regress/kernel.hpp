#pragma once
// The `regress` kernel: parallel Newton-type attention regression (ALGORITHMS.md section 5) as
// one registration for the harness.
#include "harness/kernel.hpp"

namespace attnbench::regress {

harness::KernelSpec regress_kernel();

}  // namespace attnbench::regress
