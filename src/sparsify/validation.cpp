#include "sparsify/validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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

double log_attention_bound(double eps_reached, double r, std::int64_t n) {
  const double x = 2.0 * eps_reached * r;
  if (std::isnan(x) || std::isnan(r)) return std::numeric_limits<double>::quiet_NaN();
  if (!(x > 0.0)) return -std::numeric_limits<double>::infinity();
  // ln(e^x - 1): expm1 keeps the small-x accuracy; x + ln(1 - e^{-x}) never overflows.
  const double log_em1 = x < 1.0 ? std::log(std::expm1(x)) : x + std::log1p(-std::exp(-x));
  return log_em1 + 2.0 * r - std::log(static_cast<double>(n));
}

double attention_bound(double eps_reached, double r, std::int64_t n) {
  // The direct product while its factors are finite (e^709 is the largest double's order), so the
  // usual small-r bound is bitwise what it always was; beyond that from the log, inf past the range.
  const double x = 2.0 * eps_reached * r;
  if (x < 700.0 && 2.0 * r < 700.0) return std::expm1(x) * std::exp(2.0 * r) / static_cast<double>(n);
  const double lb = log_attention_bound(eps_reached, r, n);
  return lb < 709.0 ? std::exp(lb) : (std::isnan(lb) ? lb : std::numeric_limits<double>::infinity());
}

double score_sum_tolerance(std::int64_t n, double condition) {
  const double nn = static_cast<double>(n);
  return nn * (1e-8 + nn * (nn + 1.0) * 0x1.0p-53 * condition);
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
  // cond(M) from its extreme eigenvalues (n^3 more, untimed, like the window's); the smallest is
  // kept at or above 2^-52 lambda_max, the resolution of the eigensolver, so the estimate is finite.
  {
    std::vector<double> Mc = M, lam;
    if (solver.eigen(n, Mc, lam, false) != 0) throw internal_error("validation: eigenvalues of X X^T failed");
    const double hi = lam.back(), lo = std::max(lam.front(), 0x1.0p-52 * hi);
    c.gram_condition = hi > 0.0 ? hi / lo : 1.0;
  }
  c.attention_error = softmax_max_error(n, YYt, M);
  const double bound = attention_bound(c.eps_reached, c.r, n);
  c.log_attention_bound = log_attention_bound(c.eps_reached, c.r, n);
  // A NaN bound stays NaN (the harness makes a non-finite tolerance INVALID); a bound >= 1 is vacuous.
  c.bound_vacuous = bound >= kTrivialAttentionBound;
  c.attention_bound = c.bound_vacuous ? kTrivialAttentionBound : bound;
  return c;
}

template std::vector<double> selected_gram(const dist::Comm&, const ColumnBlock<float>&, const Result&);
template std::vector<double> selected_gram(const dist::Comm&, const ColumnBlock<double>&, const Result&);

}  // namespace attnbench::sparsify
