#pragma once
// Subcommands that are not benchmark kernels.
#include "dist/comm.hpp"
#include "harness/command_line.hpp"

namespace attnbench::drivers {

// `attnbench gen`: writes a synthetic attention input file. Collective; returns the exit code.
int run_gen(const dist::Comm& comm, const harness::GenCommand& options);

// `attnbench net [--max-bytes B] [--json]`: latency and bandwidth between two nodes
// (metrics::probe_network). Collective; returns the exit code; errors thrown agreed.
bool is_net_command(int argc, char** argv);
int run_net(const dist::Comm& comm, int argc, char** argv);

}  // namespace attnbench::drivers
