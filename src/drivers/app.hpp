#pragma once
#include <optional>
#include <vector>

#include "dist/comm.hpp"
#include "harness/kernel.hpp"

namespace attnbench::drivers {

// Runs attnbench with the given kernels on `world` (MPI is initialised by the caller's
// dist::Environment); returns the exit code, identical on every rank.
int run_main(const dist::Comm& world, int argc, char** argv, const std::vector<harness::KernelSpec>& kernels);

// Before MPI_Init: answers --describe, --help and --version of a process no MPI launcher started
// (one process, so one answer) and returns its exit code; nullopt for everything else, which then
// runs through run_main. The study tools ask `<kernel> --describe` once per command, and a
// singleton MPI_Init costs 0.4-0.6 s of that answer on these machines.
std::optional<int> answer_without_mpi(int argc, char** argv, const std::vector<harness::KernelSpec>& kernels);

}  // namespace attnbench::drivers
