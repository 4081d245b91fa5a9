#pragma once
// Subcommand drivers: each takes validated options and the world communicator, runs collectively,
// and returns the process exit code (identical on every rank).
#include "config/options.hpp"
#include "dist/comm.hpp"

namespace attnbench::drivers {

int run_attention(const dist::Comm& comm, const config::AttentionOptions& options, int argc, char** argv);
int run_gen(const dist::Comm& comm, const config::GenOptions& options);

}  // namespace attnbench::drivers
