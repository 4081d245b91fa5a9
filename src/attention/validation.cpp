#include "attention/validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <type_traits>

#include "attention/reference.hpp"
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

template <class T>
ValidationResult validate_sampled_rows(const dist::Comm& comm, const AttentionProblem<T>& p, const Matrix<T>& O_local,
                                       double scale, std::int64_t rows_to_check, std::uint64_t seed) {
  const auto rows = sample_rows(p.n_q(), rows_to_check, seed);
  const auto nr = static_cast<std::int64_t>(rows.size());
  const int me = comm.rank();

  // q[rows], O[rows] := sum over ranks of the rows each owns (each row has exactly one owner).
  Matrix<double> q(nr, p.d, 0.0), o(nr, p.dv, 0.0);
  for (std::int64_t t = 0; t < nr; ++t) {
    const auto g = rows[static_cast<std::size_t>(t)];
    if (p.layout_q.owner_of(g) != me) continue;
    const auto li = p.layout_q.local_index(g);
    for (std::int64_t c = 0; c < p.d; ++c) q(t, c) = static_cast<double>(p.Q_local(li, c));
    for (std::int64_t c = 0; c < p.dv; ++c) o(t, c) = static_cast<double>(O_local(li, c));
  }
  comm.allreduce(q.span(), dist::Op::sum);
  comm.allreduce(o.span(), dist::Op::sum);

  // Reference over this rank's keys, combined across ranks (max, then sums).
  std::vector<double> row_max;
  reference_row_max(q, p.K_local, scale, row_max);
  comm.allreduce(std::span<double>(row_max), dist::Op::max);
  std::vector<double> sums(static_cast<std::size_t>(nr), 0.0);
  Matrix<double> weighted(nr, p.dv, 0.0);
  reference_partial_sums(q, p.K_local, p.V_local, scale, row_max, sums, weighted);
  comm.allreduce(std::span<double>(sums), dist::Op::sum);
  comm.allreduce(weighted.span(), dist::Op::sum);

  ValidationResult res;
  res.rows_checked = nr;
  // Every local output entry, not only the sampled rows: one Allreduce(SUM) of a count.
  std::int64_t nonfinite = 0;
  for (const T v : O_local.span()) nonfinite += std::isfinite(v) ? 0 : 1;
  res.nonfinite_outputs = comm.allreduce(static_cast<long long>(nonfinite), dist::Op::sum);

  double ref_max = 0.0;
  bool ref_finite = true;
  for (std::int64_t t = 0; t < nr; ++t)
    for (std::int64_t c = 0; c < p.dv; ++c) {
      const double ref = weighted(t, c) / sums[static_cast<std::size_t>(t)];
      if (!std::isfinite(ref)) {
        ref_finite = false;
        continue;
      }
      ref_max = std::max(ref_max, std::abs(ref));
      const double err = std::abs(o(t, c) - ref);
      // NaN in the output must fail validation, so compare with !(err <= max).
      if (!(err <= res.max_abs_error)) res.max_abs_error = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
    }
  const double denom = ref_max > 0.0 ? ref_max : 1.0;
  res.rel_error = res.max_abs_error / denom;

  if constexpr (std::is_same_v<T, double>) {
    res.tolerance = kDoubleRelTolerance;
    res.tolerance_rule = "1e-12";
  } else {
    std::vector<float> fmax;
    naive_float_row_max(q, p.K_local, scale, fmax);
    comm.allreduce(std::span<float>(fmax), dist::Op::max);
    std::vector<float> fsums(static_cast<std::size_t>(nr), 0.0f);
    Matrix<float> fweighted(nr, p.dv, 0.0f);
    naive_float_partial_sums(q, p.K_local, p.V_local, scale, fmax, fsums, fweighted);
    comm.allreduce(std::span<float>(fsums), dist::Op::sum);
    comm.allreduce(fweighted.span(), dist::Op::sum);
    double naive_err = 0.0;
    for (std::int64_t t = 0; t < nr; ++t)
      for (std::int64_t c = 0; c < p.dv; ++c) {
        const double naive = static_cast<double>(fweighted(t, c) / fsums[static_cast<std::size_t>(t)]);
        const double err = std::abs(naive - weighted(t, c) / sums[static_cast<std::size_t>(t)]);
        // A non-finite naive value (overflowed float sums) makes the naive error infinite.
        if (!(err <= naive_err)) naive_err = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      }
    res.naive_rel_error = naive_err / denom;
    res.tolerance = float_tolerance(res.naive_rel_error, &res.tolerance_rule);
  }

  decide(res, ref_finite);
  return res;
}

template ValidationResult validate_sampled_rows<float>(const dist::Comm&, const AttentionProblem<float>&,
                                                       const Matrix<float>&, double, std::int64_t, std::uint64_t);
template ValidationResult validate_sampled_rows<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                        const Matrix<double>&, double, std::int64_t, std::uint64_t);

}  // namespace attnbench::attention
