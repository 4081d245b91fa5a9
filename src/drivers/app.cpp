// The attnbench program for a given kernel registry, on the world communicator main() hands it:
// command line -> harness or a kernel's gen -> exit code. The real binary (main.cpp) passes
// drivers::kernels(); tests build binaries with test-only kernels (tests/toy/toy_main.cpp).
#include "drivers/app.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <variant>

#include "core/error.hpp"
#include "dist/comm.hpp"
#include "harness/command_line.hpp"
#include "drivers/net_driver.hpp"
#include "harness/harness.hpp"
#include "io/hdf5_file.hpp"
#include "study/study_plots.hpp"

namespace attnbench::drivers {

namespace {

// The suite's --describe: the kernels and the study plots the report draws (study/study_plots.hpp).
std::string describe_suite(const std::vector<harness::KernelSpec>& kernels) {
  std::vector<harness::StudyPlotDoc> plots;
  for (const auto& p : tools::kStudyPlots)
    plots.push_back({std::string(p.name), std::string(p.help), p.keeps_scaling_plots});
  return harness::describe_json(kernels, plots);
}

}  // namespace

int run_main(const dist::Comm& world, int argc, char** argv, const std::vector<harness::KernelSpec>& kernels) {
  io::silence_hdf5_errors();
  try {
    if (is_net_command(argc, argv)) return run_net(world, argc, argv);
    const harness::Command command = harness::parse_command_line(kernels, argc, argv, world.is_root());
    if (std::holds_alternative<harness::DescribeAll>(command)) {
      if (world.is_root()) std::cout << describe_suite(kernels) << std::endl;
      return 0;
    }
    if (const auto* k = std::get_if<harness::KernelCommand>(&command)) {
      if (k->describe) {
        if (world.is_root()) std::cout << harness::describe_json(*k->kernel) << std::endl;
        return 0;
      }
      return harness::run_case(world, *k->kernel, k->common, k->options, argc, argv);
    }
    if (const auto* gen = std::get_if<harness::GenCommand>(&command))
      return gen->kernel->gen.run(world, gen->request);
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

std::optional<int> answer_without_mpi(int argc, char** argv, const std::vector<harness::KernelSpec>& kernels) {
  // Started by mpirun/mpiexec or srun with several tasks: every rank must take part in the MPI
  // path (rank 0 prints once there).
  for (const char* launcher_variable : {"OMPI_UNIVERSE_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(launcher_variable) != nullptr) return std::nullopt;
  // Not launched by mpirun or srun: `--exit-codes` (a constant table) is answered here also in a
  // Slurm batch script of several tasks, which asks it before it launches the ranks (jobs/run.sbatch).
  if (argc == 2 && std::string_view(argv[1]) == "--exit-codes") {
    std::cout << harness::exit_codes_lines() << std::flush;
    return 0;
  }
  if (const char* tasks = std::getenv("SLURM_NTASKS"); tasks != nullptr && std::string_view(tasks) != "1")
    return std::nullopt;
  if (is_net_command(argc, argv)) return answer_net_help(argc, argv);
  bool asks = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    asks = asks || a == "--describe" || a == "--exit-codes" || a == "--help" || a == "-h" || a == "--version";
  }
  if (!asks) return std::nullopt;
  try {
    const harness::Command command = harness::parse_command_line(kernels, argc, argv, true);
    if (std::holds_alternative<harness::DescribeAll>(command)) {
      std::cout << describe_suite(kernels) << std::endl;
      return 0;
    }
    if (const auto* k = std::get_if<harness::KernelCommand>(&command); k != nullptr && k->describe) {
      std::cout << harness::describe_json(*k->kernel) << std::endl;
      return 0;
    }
    if (std::holds_alternative<harness::HelpShown>(command)) return 0;
    return std::nullopt;  // a run after all (such a word as an option's value): the MPI path
  } catch (const Error& e) {
    std::cerr << "attnbench: error: " << e.what() << std::endl;
    return static_cast<int>(e.code());
  }
}

}  // namespace attnbench::drivers
