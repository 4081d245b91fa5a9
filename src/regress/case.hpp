#pragma once
// One run of the `regress` kernel as a harness::Case (harness/kernel.hpp): set-up (planted
// instance or HDF5 input, memory-budget check), the timed optimization, the self-validation and
// the archive datasets. kernel.cpp only maps the command-line options onto RegressConfig; the
// whole behaviour lives here so that it is tested without the command line.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/enum_names.hpp"
#include "dist/comm.hpp"
#include "harness/kernel.hpp"
#include "regress/instance.hpp"
#include "regress/optimize.hpp"

namespace attnbench::regress {

// The damped Newton solve (--solver): replicated (the Hessian allreduced, LAPACK on every rank) or
// scalapack (reduce-scattered onto a process grid).
enum class SolverKind { replicated, scalapack };
inline constexpr EnumNames<SolverKind, 2> kSolverNames{
    {{SolverKind::replicated, "replicated"}, {SolverKind::scalapack, "scalapack"}}};
inline std::string to_string(SolverKind s) { return enum_name(kSolverNames, s); }
inline SolverKind parse_solver(const std::string& s) { return parse_enum(kSolverNames, s, "regress: --solver"); }

struct RegressConfig {
  std::string input;           // empty: the synthetic planted instance
  PlantedSpec planted;         // n, d, seed, init_distance, noise (synthetic); scale is set from scale_text
  std::string scale_text = "1";  // a number, "1/d" or "1/sqrt(d)"
  SolveOptions solve;          // algorithm, tolerance, max_iter, lambda0
  std::int64_t memory_budget = std::int64_t(4) << 30;  // bytes per rank
  std::int64_t tile = 64;      // query rows per tile
  SolverKind solver = SolverKind::replicated;
  // scalapack only: "PRxPC" (empty: the squarest) and the block size (unset: default_block). Set
  // with the replicated solver they would be ignored: a usage error naming the option.
  std::string grid;
  std::optional<std::int64_t> block;
  std::uint64_t seed = 42;     // data (planted) and the validation sample
  bool single_precision = false;
};

inline constexpr std::int64_t default_block = 64;  // scalapack block size when --block is not given

// Thresholds of the validation (fp64).
inline constexpr double grad_check_tolerance = 1e-6;
inline constexpr double hessian_check_tolerance = 1e-6;
inline constexpr double symmetry_tolerance = 1e-10;

// What the set-up learnt about the problem, for the run record's problem attributes.
struct ProblemInfo {
  std::int64_t n = 0, d = 0;
  double scale = 1.0;
  std::string scale_rule;  // "1/d", "1/sqrt(d)" or "value"
  std::string input;       // "synthetic" or the file
  bool planted = false;
  std::int64_t hessian_order = 0;        // 2 d^2
  std::int64_t footprint_bytes = 0;      // per rank, by formula
  std::string solver;
};

// Bytes one rank needs for a problem (evaluator buffers, joint Hessian and accumulators, solver),
// by formula, before anything is allocated; saturates at INT64_MAX (n up to 2^40 with a large tile
// exceeds int64 bytes).
std::int64_t footprint_bytes(std::int64_t n, std::int64_t d, int ranks, std::int64_t tile, bool scalapack = false);

// Collective. Throws agreed errors: usage (bad option values, single precision, --grid / --block
// without the scalapack solver, a grid that does not match the ranks), input (file; a file whose
// declared sizes exceed the node's memory), does_not_fit (over the memory budget: names 2 d^2, the
// bytes and the largest d that fits; a synthetic size over the node's memory). All before
// anything is allocated.
std::unique_ptr<harness::Case> make_regress_case(const dist::Comm& comm, const RegressConfig& cfg, ProblemInfo& info,
                                                 double& setup_seconds, double& io_seconds);

}  // namespace attnbench::regress
