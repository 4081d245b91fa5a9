// attnbench entry point: environment -> configuration -> driver. The only place that names
// MPI_COMM_WORLD: everything below receives a Comm.
#include <cstdio>
#include <iostream>
#include <variant>

#include "config/cli.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"
#include "drivers/drivers.hpp"
#include "io/hdf5_file.hpp"
#include "study/tool_dispatch.hpp"

int main(int argc, char** argv) {
  using namespace attnbench;
  // study / report / compare launch mpirun or sbatch themselves: dispatched before MPI_Init.
  if (const auto rc = tools::run_tool_subcommand(argc, argv)) return *rc;
  dist::Environment env(argc, argv);
  const dist::Comm world = dist::Comm::borrow(MPI_COMM_WORLD);
  io::silence_hdf5_errors();
  try {
    const config::Command command = config::parse_command_line(argc, argv, world.is_root());
    if (const auto* att = std::get_if<config::AttentionOptions>(&command))
      return drivers::run_attention(world, *att, argc, argv);
    if (const auto* gen = std::get_if<config::GenOptions>(&command)) return drivers::run_gen(world, *gen);
    return 0;  // help or version was printed
  } catch (const Error& e) {
    // Errors reaching main were agreed across ranks (or are deterministic, like usage errors):
    // rank 0 prints the message once, every rank returns the same code.
    if (world.is_root()) std::cerr << "attnbench: error: " << e.what() << std::endl;
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    // Not agreed: a peer may be blocked in a collective, so only an abort is safe.
    std::cerr << "attnbench: internal error on rank " << world.rank() << ": " << e.what() << std::endl;
    MPI_Abort(world.raw(), static_cast<int>(ExitCode::internal));
    return static_cast<int>(ExitCode::internal);
  }
}
