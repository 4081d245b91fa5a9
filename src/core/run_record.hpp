#pragma once
// RunRecord: everything one benchmark run reports, kernel-neutral, independent of how it is stored.
// The archive writer (io/run_archive.hpp) maps it onto the documented HDF5 schema (version 2):
// common root attributes, the kernel's problem attributes (also at the root, listed in the root
// attribute `problem_keys`), /parameters, /provenance, /timings, /metrics, /validation, /output.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace attnbench {

// An attribute value: integers, unsigned (seeds >= 2^63), reals, text.
using AttrValue = std::variant<std::int64_t, std::uint64_t, double, std::string>;

struct RunRecord {
  // ---- identity of the case: common root attributes ----
  std::string kernel;
  std::string algorithm;
  std::string variant;
  int ranks = 1, threads_per_rank = 1, blas_threads = 1;
  std::string precision;
  std::uint64_t seed = 0;
  std::string input;  // "synthetic" or the input file
  int warmup = 0, reps = 0;

  // ---- the kernel's problem attributes (root; attention: n, n_keys, d, dv, scale, ...) ----
  std::map<std::string, AttrValue> problem;
  std::vector<std::string> problem_keys;  // in display order (harness::problem_keys of the kernel)
  std::string size_key;                   // the size scaling studies sweep ("n")
  // ---- algorithm parameters beyond the above: /parameters ----
  std::map<std::string, AttrValue> parameters;

  // ---- timings: phase -> values laid out [rows][ranks] row-major ----
  struct Phase {
    std::int64_t rows = 0;
    std::vector<double> seconds;
  };
  std::map<std::string, Phase> timings;

  // ---- /metrics attributes (flops, median_time, gflops, gemm_gflops, gemm_fraction, ...) ----
  std::map<std::string, AttrValue> metrics;
  std::vector<std::int64_t> peak_rss_bytes;       // per rank
  std::vector<std::int64_t> kernel_buffer_bytes;  // per rank: buffers held by the kernel

  // ---- /validation ----
  std::string validation_method;
  std::string primary_error;
  bool certified = false;
  std::map<std::string, AttrValue> validation;  // errors, tolerance, counts, notes
  bool valid = false;
};

// The verdict of a run, three ways (the summary line, the root attribute `state`, and through
// --describe ("run_states") the study and report tools): one row per state, with the exit code a
// run in that state ends with.
struct RunStateInfo {
  const char* name;
  bool valid;
  std::optional<bool> certified;  // nullopt: either (an invalid run is INVALID, certificate or not)
  ExitCode code;
  const char* meaning;
};
inline constexpr std::array<RunStateInfo, 3> kRunStates{{
    {"VALID", true, true, ExitCode::ok, "valid, and its error is bounded by a certificate or tolerance"},
    // Exit code 0 like VALID: the code did what it claims, the missing certificate is a property
    // of the algorithm, not a failure.
    {"UNCERTIFIED", true, false, ExitCode::ok,
     "valid in the only sense a baseline has (finite, consistent output), but nothing bounds its error: "
     "measured, not a pass"},
    {"INVALID", false, std::nullopt, ExitCode::invalid, "failed its validation (archived with valid=0)"},
}};

constexpr const RunStateInfo& run_state_info(bool valid, bool certified) {
  for (const auto& s : kRunStates)
    if (s.valid == valid && (!s.certified || *s.certified == certified)) return s;
  return kRunStates.back();  // not reached: the rows cover every (valid, certified)
}
inline const char* run_state(bool valid, bool certified) { return run_state_info(valid, certified).name; }

}  // namespace attnbench
