#include "attention/approx/performer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "attention/approx/lsh.hpp"
#include "core/error.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::approx {

using linalg::Trans;

namespace {

// F = X W'^T - |x'|^2/2 per row (W' = sqrt(scale) W), rows x m; returns the max entry (or -inf).
template <class T>
T feature_logits(const Matrix<T>& X, const Matrix<T>& Wp, double scale, Matrix<T>& F, int threads) {
  const std::int64_t n = X.rows(), d = X.cols(), m = Wp.rows();
  F = Matrix<T>(n, m);
  if (n > 0) linalg::gemm(Trans::no, Trans::yes, n, m, d, T(1), X.data(), d, Wp.data(), d, T(0), F.data(), m);
  T mx = -std::numeric_limits<T>::infinity();
#pragma omp parallel for num_threads(std::max(threads, 1)) reduction(max : mx)
  for (std::int64_t i = 0; i < n; ++i) {
    double sq = 0.0;
    for (std::int64_t j = 0; j < d; ++j) sq += static_cast<double>(X(i, j)) * static_cast<double>(X(i, j));
    const T half = static_cast<T>(0.5 * scale * sq);
    T* f = F.row(i);
    for (std::int64_t c = 0; c < m; ++c) {
      f[c] -= half;
      mx = std::max(mx, f[c]);
    }
  }
  return mx;
}

}  // namespace

template <class T>
Matrix<T> performer_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                              const PerformerOptions& options) {
  attention::require_single_head(problem, "performer");
  if (options.features < 1)
    throw usage_error("performer: --features must be >= 1, got " + std::to_string(options.features));
  if (!(scale > 0.0)) throw usage_error("performer: the logit scale must be > 0, got " + std::to_string(scale));
  const std::int64_t m = options.features, d = problem.shape.d, dv = problem.shape.dv;
  const int threads = std::max(options.threads, 1);
  Matrix<T> Wp(m, d);
  const double rs = std::sqrt(scale);
  for (std::int64_t f = 0; f < m; ++f)
    for (std::int64_t j = 0; j < d; ++j)
      Wp(f, j) = static_cast<T>(rs * standard_normal(options.seed, streams::performer_features,
                                                     static_cast<std::uint64_t>(f * d + j)));

  // Key side: phi(K) with the global shift c_K := Allreduce_max(local max) (one scalar).
  Matrix<T> FK;
  T cK = feature_logits(problem.K_local, Wp, scale, FK, threads);
  cK = comm.allreduce<T>(cK, dist::Op::max);
  const std::int64_t nk_local = FK.rows();
#pragma omp parallel for num_threads(threads)
  for (std::int64_t i = 0; i < nk_local; ++i) linalg::exp_shift_sum(FK.row(i), m, cK);
  // Z = phi(K_r)^T [V_r | 1] locally, then Z := Allreduce_sum(Z_r): m (dv + 1) elements.
  Matrix<T> Z(m, dv + 1, T(0));
  if (nk_local > 0) {
    linalg::gemm(Trans::yes, Trans::no, m, dv, nk_local, T(1), FK.data(), m, problem.V_local.data(), dv, T(0),
                 Z.data(), dv + 1);
    for (std::int64_t i = 0; i < nk_local; ++i) {
      const T* f = FK.row(i);
      for (std::int64_t c = 0; c < m; ++c) Z(c, dv) += f[c];
    }
  }
  comm.allreduce<T>(Z.span(), dist::Op::sum);

  // Query side, local: phi(Q) with a per-row shift; O = phi(Q) Z[:, :dv] / phi(Q) Z[:, dv].
  Matrix<T> FQ;
  feature_logits(problem.Q_local, Wp, scale, FQ, threads);
  const std::int64_t nq_local = FQ.rows();
#pragma omp parallel for num_threads(threads)
  for (std::int64_t i = 0; i < nq_local; ++i) {
    T* f = FQ.row(i);
    T mx = f[0];
    for (std::int64_t c = 1; c < m; ++c) mx = std::max(mx, f[c]);
    linalg::exp_shift_sum(f, m, mx);
  }
  Matrix<T> NumDen(nq_local, dv + 1);
  if (nq_local > 0)
    linalg::gemm(Trans::no, Trans::no, nq_local, dv + 1, m, T(1), FQ.data(), m, Z.data(), dv + 1, T(0),
                 NumDen.data(), dv + 1);
  Matrix<T> O(nq_local, dv);
  for (std::int64_t i = 0; i < nq_local; ++i) {
    const T inv = T(1) / NumDen(i, dv);
    for (std::int64_t c = 0; c < dv; ++c) O(i, c) = NumDen(i, c) * inv;
  }
  return O;
}

template Matrix<float> performer_attention<float>(const dist::Comm&, const AttentionProblem<float>&, double,
                                                  const PerformerOptions&);
template Matrix<double> performer_attention<double>(const dist::Comm&, const AttentionProblem<double>&, double,
                                                    const PerformerOptions&);

}  // namespace attnbench::approx
