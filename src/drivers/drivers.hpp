#pragma once
// Subcommands that are not benchmark kernels.
#include "dist/comm.hpp"
#include "harness/command_line.hpp"

namespace attnbench::drivers {

// `attnbench gen`: writes a synthetic attention input file. Collective; returns the exit code.
int run_gen(const dist::Comm& comm, const harness::GenCommand& options);

}  // namespace attnbench::drivers
