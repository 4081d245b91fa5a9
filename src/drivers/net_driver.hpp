#pragma once
// `attnbench net [--max-bytes B] [--json]`: latency and bandwidth between two nodes
// (metrics::probe_network), a subcommand that is not a benchmark kernel.
#include <optional>

#include "dist/comm.hpp"

namespace attnbench::drivers {

bool is_net_command(int argc, char** argv);
// `attnbench net --help` (or -h) without MPI (not started by a launcher): prints the usage, returns 0;
// nullopt for any other command line (it runs under MPI).
std::optional<int> answer_net_help(int argc, char** argv);
// Collective; returns the exit code; errors thrown agreed.
int run_net(const dist::Comm& comm, int argc, char** argv);

}  // namespace attnbench::drivers
