#pragma once
// HPL-style self-validation of an attention output without an n x n reference, the one sampled
// validation of every attention output (exact runs, and the approximate algorithms' sampled
// errors): a seeded sample of (batch, head, query token) triples is recomputed with the serial
// two-pass reference (reference.hpp) in double, over every rank's keys with the same mask and K/V
// head, and compared with the computed rows.
//   Cost: one Allreduce of rows (d + dv) doubles (the sampled q and O rows, each from its owner),
//   then the reference over this rank's keys (rows n_k/p (d + dv) flops), one Allreduce(MAX) of row
//   maxima and one Allreduce(SUM) of rows (dv + 1) partial sums; float adds the same for the naive
//   float implementation of FlashAttention's rule.
// Tolerances: double: relative error <= 1e-12. float (FlashAttention's rule): relative error <=
// 2x that of a naive float implementation (materialized scores in float) on the same rows, at
// least 4 float ulps; when the naive float reference itself is not finite (its sums overflowed,
// e.g. |V| near 3e37), the tolerance falls back to sqrt(float epsilon) = 3.45e-4 (half of float's
// digits), so that it is never infinite or NaN.
// Non-finite results are never valid: a run is INVALID when any entry of the output (every local
// row, not only the sampled ones: one extra Allreduce of a count), the double reference on the
// sampled rows, an error or the tolerance is not finite; `reason` then says which.
#include <cstdint>
#include <string>
#include <vector>

#include "attention/exact/mha.hpp"
#include "core/precision.hpp"
#include "dist/comm.hpp"

namespace attnbench::attention {

struct ValidationResult {
  std::int64_t rows_checked = 0;
  double max_abs_error = 0.0;  // max over checked rows and columns of |O - O_ref|
  double rel_error = 0.0;      // max_abs_error / max |O_ref|
  double tolerance = 0.0;      // bound on rel_error
  double naive_rel_error = -1.0;  // float runs: the naive float implementation's rel_error (may be inf)
  std::string tolerance_rule;     // "1e-12", "2x naive fp32", "4 fp32 ulps", "sqrt(fp32 epsilon) fallback: ..."
  std::int64_t nonfinite_outputs = 0;  // entries of the whole output that are NaN or +-Inf
  bool valid = false;
  std::string reason;  // why it is invalid ("" when valid)
};

inline constexpr double kFloatFallbackRelTolerance = 3.4526698300124393e-04;  // sqrt(2^-23)

// The fp32 tolerance for a naive fp32 relative error: 2x it, at least 4 ulps; the fallback above
// when it is not finite. Never infinite or NaN. `rule` (optional) receives which case applied.
double float_tolerance(double naive_rel_error, std::string* rule = nullptr);

// The verdict shared by every sampled validation: every quantity finite (outputs, reference, error,
// tolerance), then the relative error within the tolerance; sets res.valid and res.reason.
void decide(ValidationResult& res, bool reference_finite);

// Distinct rows in [0, n), sorted; all rows if count >= n. A pure function of (seed, n, count).
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed);

inline constexpr double kDoubleRelTolerance = 1e-12;

// Collective. O_local: this rank's output as returned by mha_attention (rows in layout_q's order).
template <class T>
ValidationResult validate_sampled(const dist::Comm& comm, const AttentionProblem<T>& problem, const Matrix<T>& O_local,
                                  bool causal, double scale, std::int64_t rows_to_check, std::uint64_t seed);

}  // namespace attnbench::attention
