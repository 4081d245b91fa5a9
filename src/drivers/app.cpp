// The attnbench program for a given kernel registry, on the world communicator main() hands it:
// command line -> harness or gen -> exit code. The real binary (main.cpp) passes
// drivers::kernels(); tests build binaries with test-only kernels (tests/toy/toy_main.cpp).
#include "drivers/app.hpp"

#include <cstdio>
#include <iostream>
#include <variant>

#include "core/error.hpp"
#include "dist/comm.hpp"
#include "drivers/drivers.hpp"
#include "harness/command_line.hpp"
#include "harness/harness.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::drivers {

int run_main(const dist::Comm& world, int argc, char** argv, const std::vector<harness::KernelSpec>& kernels) {
  io::silence_hdf5_errors();
  try {
    const harness::Command command = harness::parse_command_line(kernels, argc, argv, world.is_root());
    if (std::holds_alternative<harness::DescribeAll>(command)) {
      if (world.is_root()) std::cout << harness::describe_json(kernels) << std::endl;
      return 0;
    }
    if (const auto* k = std::get_if<harness::KernelCommand>(&command)) {
      if (k->describe) {
        if (world.is_root()) std::cout << harness::describe_json(*k->kernel) << std::endl;
        return 0;
      }
      return harness::run_case(world, *k->kernel, k->common, k->options, argc, argv);
    }
    if (const auto* gen = std::get_if<harness::GenCommand>(&command)) return run_gen(world, *gen);
    return 0;  // help or version was printed
  } catch (const Error& e) {
    if (e.agreed()) {
      // Every rank holds the same error: rank 0 prints it once, every rank returns the same code.
      if (world.is_root()) std::cerr << "attnbench: error: " << e.what() << std::endl;
      return static_cast<int>(e.code());
    }
    // Known on this rank only: a peer may be blocked in a collective, so only an abort is safe.
    std::cerr << "attnbench: error on rank " << world.rank() << " (not agreed across ranks, aborting): " << e.what()
              << std::endl;
    MPI_Abort(world.raw(), static_cast<int>(e.code()));
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "attnbench: internal error on rank " << world.rank() << ": " << e.what() << std::endl;
    MPI_Abort(world.raw(), static_cast<int>(ExitCode::internal));
    return static_cast<int>(ExitCode::internal);
  }
}

}  // namespace attnbench::drivers
