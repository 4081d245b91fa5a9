#pragma once
#include <vector>

#include "harness/kernel.hpp"

namespace attnbench::drivers {

// Runs attnbench with the given kernels (MPI_Init to MPI_Finalize); returns the exit code.
int run_main(int argc, char** argv, const std::vector<harness::KernelSpec>& kernels);

}  // namespace attnbench::drivers
