#pragma once
// The attnbench command line, built from the kernel registry: one subcommand per kernel (its
// options declared as data in its KernelSpec, plus the common options of every kernel), `gen`
// (write a synthetic attention input file), --help, --version and --describe (JSON for the study
// tools). Parsing is deterministic and identical on every rank, so its errors are agreed.
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

// `attnbench gen`: a synthetic input file from the counter-based generator: for `--kernel
// attention` (the default) /Q, /K, /V; for `--kernel sparsify` X (n x d) as a dense /X or an
// anndata CSC/CSR group, with the values of the sparsify kernel's own generator.
struct GenCommand {
  std::int64_t n = 4096, d = 64, dv = 0;
  double bound = 1.0;
  std::uint64_t seed = 42;
  Precision precision = Precision::double_;
  std::string out;
  bool overwrite = false;
  std::string kernel = "attention";  // attention | sparsify
  // sparsify only (a usage error with --kernel attention, as --dv/--bound are with sparsify):
  double r = 0.05, density = 1.0, coherence = 0.0;
  std::string format;  // dense | csc | csr; empty: dense when density = 1, else csc
  bool n_given = false, d_given = false;  // sparsify's defaults differ (n 64, d 4096)
};

struct DescribeAll {};  // `attnbench --describe`
struct HelpShown {};    // --help, --version or no subcommand: exit 0 after printing

using Command = std::variant<KernelCommand, GenCommand, DescribeAll, HelpShown>;

// Throws Error(usage) naming the option on a bad command line (marked agreed: every rank parses the
// same argv). Prints help/version only when print_help (rank 0).
Command parse_command_line(const std::vector<KernelSpec>& kernels, int argc, char** argv, bool print_help);

// Exit codes of every attnbench subcommand (for --help, --describe and README).
struct ExitCodeDoc {
  int code;
  const char* name;
  const char* meaning;
};
const std::vector<ExitCodeDoc>& exit_code_docs();

// JSON: every kernel (with the suite, version, schema version and exit codes), or one kernel.
std::string describe_json(const std::vector<KernelSpec>& kernels);
std::string describe_json(const KernelSpec& kernel);

inline constexpr const char* kVersion = "attnbench 0.2.0";

}  // namespace attnbench::harness
