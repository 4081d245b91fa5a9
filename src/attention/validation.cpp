#include "attention/validation.hpp"

#include <algorithm>
#include <cmath>
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
  double ref_max = 0.0;
  for (std::int64_t t = 0; t < nr; ++t)
    for (std::int64_t c = 0; c < p.dv; ++c) {
      const double ref = weighted(t, c) / sums[static_cast<std::size_t>(t)];
      ref_max = std::max(ref_max, std::abs(ref));
      const double err = std::abs(o(t, c) - ref);
      // NaN in the output must fail validation, so compare with !(err <= max).
      if (!(err <= res.max_abs_error)) res.max_abs_error = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
    }
  const double denom = ref_max > 0.0 ? ref_max : 1.0;
  res.rel_error = res.max_abs_error / denom;

  if constexpr (std::is_same_v<T, double>) {
    res.tolerance = kDoubleRelTolerance;
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
        naive_err = std::max(naive_err, std::abs(naive - weighted(t, c) / sums[static_cast<std::size_t>(t)]));
      }
    res.naive_rel_error = naive_err / denom;
    // 2x the naive error; never below a few float ulps, so a lucky naive result cannot fail a run.
    res.tolerance = std::max(2.0 * res.naive_rel_error, 4.0 * std::numeric_limits<float>::epsilon());
  }
  res.valid = res.rel_error <= res.tolerance;
  return res;
}

template ValidationResult validate_sampled_rows<float>(const dist::Comm&, const AttentionProblem<float>&,
                                                       const Matrix<float>&, double, std::int64_t, std::uint64_t);
template ValidationResult validate_sampled_rows<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                        const Matrix<double>&, double, std::int64_t, std::uint64_t);

}  // namespace attnbench::attention
