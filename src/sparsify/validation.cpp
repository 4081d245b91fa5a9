#include "sparsify/validation.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "linalg/blas.hpp"

namespace attnbench::sparsify {

template <class T>
std::vector<double> selected_gram(const dist::Comm& comm, const ColumnBlock<T>& X, const Result& res) {
  const std::int64_t n = X.n;
  std::vector<double> G(static_cast<std::size_t>(n * n), 0.0);
  if (res.Y.rows() == n && res.Y.cols() > 0) {
    linalg::syrk(true, linalg::Trans::no, n, res.Y.cols(), 1.0, res.Y.data(), res.Y.cols(), 0.0, G.data(), n);
  } else {
    std::vector<double> x(static_cast<std::size_t>(n));
    const auto lo = std::lower_bound(res.columns.begin(), res.columns.end(), X.col0);
    const auto hi = std::lower_bound(res.columns.begin(), res.columns.end(), X.col0 + X.cols);
    for (auto it = lo; it != hi; ++it) {
      const double w = res.weights[static_cast<std::size_t>(it - res.columns.begin())];
      X.column(*it - X.col0, x.data());
      for (std::int64_t a = 0; a < n; ++a) {
        const double xa = w * w * x[static_cast<std::size_t>(a)];
        if (xa == 0.0) continue;
        for (std::int64_t b = 0; b <= a; ++b) G[static_cast<std::size_t>(a * n + b)] += xa * x[static_cast<std::size_t>(b)];
      }
    }
    // Y Y^T := sum_r Y_r Y_r^T  (Allreduce, n^2 doubles)
    comm.allreduce(std::span<double>(G), dist::Op::sum);
  }
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = a + 1; b < n; ++b) G[static_cast<std::size_t>(a * n + b)] = G[static_cast<std::size_t>(b * n + a)];
  return G;
}

double softmax_max_error(std::int64_t n, const std::vector<double>& A, const std::vector<double>& B) {
  double err = 0.0;
  std::vector<double> ea(static_cast<std::size_t>(n)), eb(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double* a = A.data() + i * n;
    const double* b = B.data() + i * n;
    const double ma = *std::max_element(a, a + n), mb = *std::max_element(b, b + n);
    double sa = 0.0, sb = 0.0;
    for (std::int64_t j = 0; j < n; ++j) {
      sa += ea[static_cast<std::size_t>(j)] = std::exp(a[j] - ma);
      sb += eb[static_cast<std::size_t>(j)] = std::exp(b[j] - mb);
    }
    for (std::int64_t j = 0; j < n; ++j)
      err = std::max(err, std::abs(ea[static_cast<std::size_t>(j)] / sa - eb[static_cast<std::size_t>(j)] / sb));
  }
  return err;
}

double attention_bound(double eps_reached, double r, std::int64_t n) {
  return std::expm1(2.0 * eps_reached * r) * std::exp(2.0 * r) / static_cast<double>(n);
}

Check evaluate(std::int64_t n, const std::vector<double>& M, const std::vector<double>& YYt, const NxnSolver& solver) {
  Check c;
  for (double v : M) c.r = std::max(c.r, std::abs(v));
  const std::vector<double> L = cholesky_or_rank_error(solver, n, M);
  std::vector<double> S = YYt, w;
  whiten(n, L, S);
  if (solver.eigen(n, S, w, false) != 0) throw internal_error("validation: eigenvalues of L^{-1} Y Y^T L^{-T} failed");
  c.spectral_low = w.front();
  c.spectral_high = w.back();
  c.eps_reached = std::max({0.0, 1.0 - c.spectral_low, c.spectral_high - 1.0});
  c.attention_error = softmax_max_error(n, YYt, M);
  c.attention_bound = attention_bound(c.eps_reached, c.r, n);
  return c;
}

template std::vector<double> selected_gram(const dist::Comm&, const ColumnBlock<float>&, const Result&);
template std::vector<double> selected_gram(const dist::Comm&, const ColumnBlock<double>&, const Result&);

}  // namespace attnbench::sparsify
