#pragma once
// The `solve` kernel's registration: `attnbench solve` (see solve.hpp for the library).
#include "harness/kernel.hpp"

namespace attnbench::solve {

harness::KernelSpec solve_kernel();

}  // namespace attnbench::solve
