#include "attention/approx/kde_hyper.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <type_traits>

#include "attention/approx/lsh.hpp"
#include "core/error.hpp"
#include "linalg/blas.hpp"

namespace attnbench::approx {

double power_iteration_lambda_max(const std::vector<double>& G, std::int64_t m, int iterations) {
  if (m == 0) return 0.0;
  const auto M = static_cast<std::size_t>(m);
  std::vector<double> x(M, 1.0 / std::sqrt(static_cast<double>(m))), y(M);
  double lambda = 0.0;
  for (int it = 0; it < iterations; ++it) {
    for (std::size_t i = 0; i < M; ++i) {
      double acc = 0.0;
      for (std::size_t j = 0; j < M; ++j) acc += G[i * M + j] * x[j];
      y[i] = acc;
    }
    double norm = 0.0, rq = 0.0;
    for (std::size_t i = 0; i < M; ++i) {
      norm += y[i] * y[i];
      rq += x[i] * y[i];
    }
    lambda = rq;  // Rayleigh quotient x^T G x with |x| = 1
    norm = std::sqrt(norm);
    if (norm == 0.0) return 0.0;
    for (std::size_t i = 0; i < M; ++i) x[i] = y[i] / norm;
  }
  return lambda;
}

namespace {

// The KDEformer sample: `samples` draws with replacement from p_j ∝ |[V|1]_j| / lambda + 1/n.
// Returns unique rows (ascending) and weights multiplicity / (samples p_j).
// Collective: one Allreduce of (dv+1)^2 doubles, one Allgatherv of n_k doubles.
template <class T>
void kde_sample(const dist::Comm& comm, const AttentionProblem<T>& problem, std::int64_t samples, std::uint64_t seed,
                std::vector<std::int64_t>& rows, std::vector<double>& weight) {
  rows.clear();
  weight.clear();
  if (samples == 0) return;
  const std::int64_t n = problem.n_kv(), dv = problem.shape.dv, m = dv + 1;
  const auto& V = problem.V_local;
  // Gram of [V|1] over local rows, G = [[V^T V, V^T 1], [1^T V, n_r]] (V^T V as one GEMM in double,
  // 2 (n/p) dv^2 flops), then G := Allreduce_sum(G_r): (dv+1)^2 doubles.
  std::vector<double> G(static_cast<std::size_t>(m * m), 0.0);
  std::vector<double> norms_local(static_cast<std::size_t>(V.rows()));
  std::vector<double> colsum(static_cast<std::size_t>(dv), 0.0);
  for (std::int64_t i = 0; i < V.rows(); ++i) {
    double sq = 1.0;
    for (std::int64_t c = 0; c < dv; ++c) {
      const double x = static_cast<double>(V(i, c));
      sq += x * x;
      colsum[static_cast<std::size_t>(c)] += x;
    }
    norms_local[static_cast<std::size_t>(i)] = std::sqrt(sq);
  }
  if (V.rows() > 0 && dv > 0) {
    // V^T V in double (a converted copy only when T is float).
    Matrix<double> Vd;
    const double* vd = nullptr;
    if constexpr (std::is_same_v<T, double>) {
      vd = V.data();
    } else {
      Vd = Matrix<double>(V.rows(), dv);
      for (std::int64_t k = 0; k < V.size(); ++k) Vd.data()[k] = static_cast<double>(V.data()[k]);
      vd = Vd.data();
    }
    linalg::gemm(linalg::Trans::yes, linalg::Trans::no, dv, dv, V.rows(), 1.0, vd, dv, vd, dv, 0.0, G.data(), m);
  }
  for (std::int64_t c = 0; c < dv; ++c) {
    G[static_cast<std::size_t>(c * m + dv)] = colsum[static_cast<std::size_t>(c)];
    G[static_cast<std::size_t>(dv * m + c)] = colsum[static_cast<std::size_t>(c)];
  }
  G[static_cast<std::size_t>(dv * m + dv)] = static_cast<double>(V.rows());
  comm.allreduce<double>(std::span<double>(G), dist::Op::sum);
  const double lambda = power_iteration_lambda_max(G, m);
  // norms[*] := Allgatherv(norms[rows_r]): n_k doubles arrive at every rank.
  std::vector<double> norms(static_cast<std::size_t>(n));
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r)
    counts[static_cast<std::size_t>(r)] = static_cast<int>(problem.layout_kv.local_rows(r));
  comm.allgatherv<double>(std::span<const double>(norms_local), std::span<double>(norms), counts);
  // Unnormalized probabilities and their CDF, serially in global row order (same on every rank).
  std::vector<double> cdf(static_cast<std::size_t>(n));
  double total = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    total += norms[static_cast<std::size_t>(j)] / lambda + 1.0 / static_cast<double>(n);
    cdf[static_cast<std::size_t>(j)] = total;
  }
  std::map<std::int64_t, std::int64_t> count;
  for (std::int64_t l = 0; l < samples; ++l) {
    const double u = uniform01(seed, static_cast<Stream>(streams::kde_samples), static_cast<std::uint64_t>(l)) * total;
    auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
    const std::int64_t j = std::min<std::int64_t>(it - cdf.begin(), n - 1);
    ++count[j];
  }
  for (const auto& [j, c] : count) {
    const double pj = (norms[static_cast<std::size_t>(j)] / lambda + 1.0 / static_cast<double>(n)) / total;
    rows.push_back(j);
    weight.push_back(static_cast<double>(c) / (static_cast<double>(samples) * pj));
  }
}

}  // namespace

template <class T>
ResidualDraw kde_draw(const dist::Comm& comm, const AttentionProblem<T>& problem, const LshOptions& options) {
  ResidualDraw d;
  kde_sample(comm, problem, options.samples, options.seed, d.rows, d.weight);
  return d;
}

template ResidualDraw kde_draw(const dist::Comm&, const AttentionProblem<float>&, const LshOptions&);
template ResidualDraw kde_draw(const dist::Comm&, const AttentionProblem<double>&, const LshOptions&);

}  // namespace attnbench::approx
