#include "attention/exact/validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <type_traits>

#include "attention/exact/mha.hpp"
#include "attention/exact/mha_validation.hpp"
#include "core/random.hpp"

namespace attnbench::attention {

std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed) {
  std::vector<std::int64_t> rows;
  if (count >= n) {
    for (std::int64_t i = 0; i < n; ++i) rows.push_back(i);
    return rows;
  }
  // Floyd's algorithm: count distinct values with count draws.
  std::set<std::int64_t> chosen;
  for (std::int64_t j = n - count, t = 0; j < n; ++j, ++t) {
    const auto u = random_bits(seed, Stream::validation_rows, static_cast<std::uint64_t>(t));
    const std::int64_t pick = static_cast<std::int64_t>(u % static_cast<std::uint64_t>(j + 1));
    if (!chosen.insert(pick).second) chosen.insert(j);
  }
  rows.assign(chosen.begin(), chosen.end());
  return rows;
}

double float_tolerance(double naive_rel_error, std::string* rule) {
  const double floor = 4.0 * std::numeric_limits<float>::epsilon();
  auto set = [&](const char* r) {
    if (rule) *rule = r;
  };
  if (!std::isfinite(naive_rel_error)) {
    set("sqrt(fp32 epsilon) fallback: the naive fp32 reference is not finite");
    return kFloatFallbackRelTolerance;
  }
  if (2.0 * naive_rel_error > floor) {
    set("2x naive fp32");
    return 2.0 * naive_rel_error;
  }
  set("4 fp32 ulps");
  return floor;
}

void decide(ValidationResult& res, bool reference_finite) {
  auto fmt = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", v);
    return std::string(b);
  };
  res.reason.clear();
  if (res.nonfinite_outputs > 0)
    res.reason = std::to_string(res.nonfinite_outputs) + " output entries are not finite (NaN or Inf)";
  else if (!reference_finite)
    res.reason = "the double-precision reference is not finite on the checked rows (values beyond double's range)";
  else if (!std::isfinite(res.rel_error))
    res.reason = "the error is not finite";
  else if (!std::isfinite(res.tolerance))
    res.reason = "the tolerance is not finite";
  else if (!(res.rel_error <= res.tolerance))
    res.reason = "relative error " + fmt(res.rel_error) + " exceeds the tolerance " + fmt(res.tolerance);
  res.valid = res.reason.empty();
}

// The 2-D problem is the case B = H = Hkv = 1 of the multi-head validation, without a mask: one
// sampled validation for every exact attention output.
template <class T>
ValidationResult validate_sampled_rows(const dist::Comm& comm, const AttentionProblem<T>& p, const Matrix<T>& O_local,
                                       double scale, std::int64_t rows_to_check, std::uint64_t seed) {
  return validate_mha_sampled(comm, view(p), O_local, false, scale, rows_to_check, seed);
}

template ValidationResult validate_sampled_rows<float>(const dist::Comm&, const AttentionProblem<float>&,
                                                       const Matrix<float>&, double, std::int64_t, std::uint64_t);
template ValidationResult validate_sampled_rows<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                        const Matrix<double>&, double, std::int64_t, std::uint64_t);

}  // namespace attnbench::attention
