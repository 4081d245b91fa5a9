#pragma once
#include <vector>

#include "dist/comm.hpp"
#include "harness/kernel.hpp"

namespace attnbench::drivers {

// Runs attnbench with the given kernels on `world` (MPI is initialised by the caller's
// dist::Environment); returns the exit code, identical on every rank.
int run_main(const dist::Comm& world, int argc, char** argv, const std::vector<harness::KernelSpec>& kernels);

}  // namespace attnbench::drivers
