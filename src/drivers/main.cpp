// attnbench entry point: the tool subcommands (before MPI), then MPI and the registered kernels.
// main() is the one place that names MPI_COMM_WORLD; everything below receives a Comm.
#include <mpi.h>

#include "dist/comm.hpp"
#include "drivers/app.hpp"
#include "drivers/registry.hpp"
#include "study/tool_dispatch.hpp"

int main(int argc, char** argv) {
  using namespace attnbench;
  // study / report / compare launch mpirun or sbatch themselves: dispatched before MPI_Init.
  if (const auto rc = tools::run_tool_subcommand(argc, argv)) return *rc;
  if (const auto rc = drivers::answer_without_mpi(argc, argv, drivers::kernels())) return *rc;
  dist::Environment env(argc, argv);
  return drivers::run_main(dist::Comm::borrow(MPI_COMM_WORLD), argc, argv, drivers::kernels());
}
