#pragma once
// The attnbench command line, built from the kernel registry: one subcommand per kernel (its
// options declared as data in its KernelSpec, plus the common options of every kernel), `gen` (a
// synthetic input file, written by the chosen kernel's GenSpec), --help, --version and --describe
// (JSON for the study tools). Parsing is deterministic and identical on every rank, so its errors are agreed.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/precision.hpp"
#include "harness/kernel.hpp"

namespace attnbench::harness {

struct KernelCommand {
  const KernelSpec* kernel = nullptr;
  CommonOptions common;
  OptionValues options;
  bool describe = false;  // `attnbench <kernel> --describe`: print the kernel's JSON and exit 0
};

// `attnbench gen --kernel <name>`: a synthetic input file written by that kernel's GenSpec.
struct GenCommand {
  const KernelSpec* kernel = nullptr;
  GenRequest request;
};

struct DescribeAll {};  // `attnbench --describe`
struct HelpShown {};    // --help, --version or no subcommand: exit 0 after printing

using Command = std::variant<KernelCommand, GenCommand, DescribeAll, HelpShown>;

// Throws Error(usage) naming the option on a bad command line (marked agreed: every rank parses the
// same argv). Prints help/version only when print_help (rank 0).
Command parse_command_line(const std::vector<KernelSpec>& kernels, int argc, char** argv, bool print_help);

// A study plot kind of `attnbench report`, for --describe ("study_plots"). Declared in
// study/study_plots.hpp and handed in by the driver: the harness names no plot.
struct StudyPlotDoc {
  std::string name;
  std::string help;
  bool keeps_scaling_plots = false;
};

// JSON: every kernel with the suite, version, schema version, exit codes (core/error.hpp
// kExitCodes), run states (core/run_record.hpp kRunStates) and study plots; or one kernel.
std::string describe_json(const std::vector<KernelSpec>& kernels, const std::vector<StudyPlotDoc>& study_plots);
std::string describe_json(const KernelSpec& kernel);

// `attnbench --exit-codes`: one "NAME CODE" line per exit code, for job scripts (jobs/run.sbatch).
std::string exit_codes_lines();

inline constexpr const char* kVersion = "attnbench 0.2.0";

}  // namespace attnbench::harness
