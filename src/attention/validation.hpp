#pragma once
// HPL-style self-validation of an attention output without an n x n reference: a seeded sample of
// query rows is recomputed with the serial two-pass reference (reference.hpp) in double and
// compared with the computed rows.
//   Cost: one Allreduce of rows (d + dv) doubles to share the sampled Q and O rows, then the
//   reference over each rank's own keys (rows * n_k/p * (d + dv) flops) combined with one
//   Allreduce(MAX) of row maxima and one Allreduce(SUM) of rows * (dv + 1) partial sums.
// Tolerances: double: relative error <= 1e-12. float (FlashAttention's rule): relative error <=
// 2x that of a naive float implementation (materialized scores in float) on the same rows.
#include <cstdint>
#include <vector>

#include "core/attention_problem.hpp"
#include "core/precision.hpp"
#include "dist/comm.hpp"

namespace attnbench::attention {

struct ValidationResult {
  std::int64_t rows_checked = 0;
  double max_abs_error = 0.0;  // max over checked rows and columns of |O - O_ref|
  double rel_error = 0.0;      // max_abs_error / max |O_ref|
  double tolerance = 0.0;      // bound on rel_error
  double naive_rel_error = -1.0;  // float runs: the naive float implementation's rel_error
  bool valid = false;
};

// Distinct rows in [0, n), sorted; all rows if count >= n. A pure function of (seed, n, count).
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed);

inline constexpr double kDoubleRelTolerance = 1e-12;

// Collective. O_local: this rank's rows of the computed output (layout_q).
template <class T>
ValidationResult validate_sampled_rows(const dist::Comm& comm, const AttentionProblem<T>& problem,
                                       const Matrix<T>& O_local, double scale, std::int64_t rows_to_check,
                                       std::uint64_t seed);

}  // namespace attnbench::attention
