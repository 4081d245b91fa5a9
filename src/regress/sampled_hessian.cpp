#include "regress/sampled_hessian.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "linalg/blas.hpp"
#include "linalg/lapack.hpp"
#include "regress/problem.hpp"
#include "sampling/draws.hpp"

namespace attnbench::regress {

double bernstein_log_term(std::int64_t N, double delta) { return std::log(2.0 * static_cast<double>(N) / delta); }

double bernstein_t(std::int64_t m, std::int64_t N, double delta) {
  const double a = bernstein_log_term(N, delta), mm = static_cast<double>(std::max<std::int64_t>(m, 1));
  const double b = 4.0 * a / 3.0;
  return (b + std::sqrt(b * b + 8.0 * a * mm)) / (2.0 * mm);
}

std::int64_t sample_rows_rule(double eps0, double delta, std::int64_t N, double S, double h) {
  constexpr double cap = 4.611686018427388e18;  // 2^62
  if (!(h > 0.0) || !(S > 0.0)) return static_cast<std::int64_t>(cap);
  const double e = eps0 * h / S;
  const double m = std::ceil((2.0 / (e * e) + 4.0 / (3.0 * e)) * bernstein_log_term(N, delta));
  return m >= cap ? static_cast<std::int64_t>(cap) : std::max<std::int64_t>(1, static_cast<std::int64_t>(m));
}

template <class T>
double lambda_max(std::span<const T> A, std::int64_t d) {
  std::vector<double> a(A.begin(), A.end()), w(static_cast<std::size_t>(d));
  if (linalg::syevd(false, linalg::Uplo::lower, d, a.data(), d, w.data()) != 0) return 0.0;
  return w.empty() ? 0.0 : w.back();
}

double row_bound_sum(const dist::Comm& comm, const std::vector<double>& q) {
  double local = 0.0;
  for (const double v : q) local += v;
  return comm.allreduce(local, dist::Op::sum);
}

RowSample draw_rows(const dist::Comm& comm, std::int64_t row0, const std::vector<double>& q, std::int64_t m,
                    std::uint64_t seed) {
  // This rank's picks (global rows, ascending) with weights sqrt(c / (m p)): local rows, squared.
  std::vector<std::int64_t> picks;
  std::vector<double> w;
  sampling::sample_by_scores(comm, row0, q, m, seed, streams::row_draws, picks, w);
  RowSample s;
  for (std::size_t i = 0; i < picks.size(); ++i) {
    s.rows.push_back(picks[i] - row0);
    s.weights.push_back(w[i] * w[i]);
  }
  return s;
}

template <class T>
HessianAccuracy hessian_accuracy(const std::vector<T>& Hs, const std::vector<T>& H, std::int64_t N) {
  const auto NN = static_cast<std::size_t>(N * N);
  std::vector<double> D(NN), A(H.begin(), H.end()), w(static_cast<std::size_t>(N));
  for (std::size_t i = 0; i < NN; ++i) D[i] = static_cast<double>(Hs[i]) - static_cast<double>(H[i]);
  auto spectral_norm = [&](std::vector<double> M) {
    if (linalg::syevd(false, linalg::Uplo::lower, N, M.data(), N, w.data()) != 0) return std::numeric_limits<double>::quiet_NaN();
    return std::max(std::abs(w.front()), std::abs(w.back()));
  };
  HessianAccuracy acc;
  const double hn = spectral_norm(A);
  acc.norm_error = hn > 0.0 ? spectral_norm(D) / hn : std::numeric_limits<double>::quiet_NaN();
  // H = U^T U (potrf on the symmetric buffer read column-major: its lower factor L = U^T, row-major
  // upper U); H^{-1/2}-congruence: U^{-T} (H~ - H) U^{-1} has eigenvalues lambda_i(H^{-1} H~) - 1.
  if (linalg::potrf(linalg::Uplo::lower, N, A.data(), N) != 0) {
    acc.spectral_eps = std::numeric_limits<double>::quiet_NaN();
    return acc;
  }
  linalg::trsm(true, false, linalg::Trans::yes, false, N, N, 1.0, A.data(), N, D.data(), N);
  linalg::trsm(false, false, linalg::Trans::no, false, N, N, 1.0, A.data(), N, D.data(), N);
  // Symmetrize against the rounding of the two solves before the symmetric eigensolver.
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t j = 0; j < i; ++j) {
      const double v = 0.5 * (D[static_cast<std::size_t>(i * N + j)] + D[static_cast<std::size_t>(j * N + i)]);
      D[static_cast<std::size_t>(i * N + j)] = D[static_cast<std::size_t>(j * N + i)] = v;
    }
  acc.spectral_eps = spectral_norm(D);
  return acc;
}

template double lambda_max<float>(std::span<const float>, std::int64_t);
template double lambda_max<double>(std::span<const double>, std::int64_t);
template HessianAccuracy hessian_accuracy<float>(const std::vector<float>&, const std::vector<float>&, std::int64_t);
template HessianAccuracy hessian_accuracy<double>(const std::vector<double>&, const std::vector<double>&, std::int64_t);

}  // namespace attnbench::regress
