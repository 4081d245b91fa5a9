// attnbench with the real kernels plus the test-only `toy` kernel: the one registration a new
// kernel needs.
#include <mpi.h>

#include "dist/comm.hpp"
#include "drivers/app.hpp"
#include "drivers/registry.hpp"
#include "study/tool_dispatch.hpp"
#include "toy/toy_kernel.hpp"

int main(int argc, char** argv) {
  using namespace attnbench;
  if (const auto rc = tools::run_tool_subcommand(argc, argv)) return *rc;
  auto kernels = drivers::kernels();
  kernels.push_back(toy::toy_kernel());
  if (const auto rc = drivers::answer_without_mpi(argc, argv, kernels)) return *rc;
  dist::Environment env(argc, argv);
  return drivers::run_main(dist::Comm::borrow(MPI_COMM_WORLD), argc, argv, kernels);
}
