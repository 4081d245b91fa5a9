#include "sparsify/reference.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "linalg/lapack.hpp"
#include "sparsify/bounds.hpp"
#include "sparsify/rng.hpp"

namespace attnbench::sparsify {

namespace {
using Vec = std::vector<double>;
std::size_t at(std::int64_t i, std::int64_t j, std::int64_t n) { return static_cast<std::size_t>(i * n + j); }

// Plain Cholesky, lower, A = L L^T.
Vec chol(const Vec& A, std::int64_t n) {
  Vec L(A.size(), 0.0);
  for (std::int64_t j = 0; j < n; ++j) {
    double s = A[at(j, j, n)];
    for (std::int64_t k = 0; k < j; ++k) s -= L[at(j, k, n)] * L[at(j, k, n)];
    if (!(s > 0.0)) throw input_error("reference: X X^T is not positive definite");
    L[at(j, j, n)] = std::sqrt(s);
    for (std::int64_t i = j + 1; i < n; ++i) {
      double t = A[at(i, j, n)];
      for (std::int64_t k = 0; k < j; ++k) t -= L[at(i, k, n)] * L[at(j, k, n)];
      L[at(i, j, n)] = t / L[at(j, j, n)];
    }
  }
  return L;
}
// x := L^{-1} x (forward substitution).
void forward(const Vec& L, std::int64_t n, double* x) {
  for (std::int64_t i = 0; i < n; ++i) {
    double s = x[i];
    for (std::int64_t k = 0; k < i; ++k) s -= L[at(i, k, n)] * x[k];
    x[i] = s / L[at(i, i, n)];
  }
}
// x := L^{-T} x (back substitution).
void backward_t(const Vec& L, std::int64_t n, double* x) {
  for (std::int64_t i = n - 1; i >= 0; --i) {
    double s = x[i];
    for (std::int64_t k = i + 1; k < n; ++k) s -= L[at(k, i, n)] * x[k];
    x[i] = s / L[at(i, i, n)];
  }
}
Vec column(const Matrix<double>& X, std::int64_t j) {
  Vec x(static_cast<std::size_t>(X.rows()));
  for (std::int64_t i = 0; i < X.rows(); ++i) x[static_cast<std::size_t>(i)] = X(i, j);
  return x;
}

// m iid draws from p = q / sum q; duplicates merged. Draw l is the sorted uniform
// U_l = (E_0 + ... + E_l) / (E_0 + ... + E_m) from the shared exponentials E (the same numbers as
// the distributed code's), looked up in the cumulative scores by binary search.
void draw(const Vec& q, std::int64_t m, std::uint64_t seed, Result& out) {
  Vec cum(q.size());
  double s = 0.0;
  for (std::size_t j = 0; j < q.size(); ++j) cum[j] = (s += q[j]);
  Vec partial(static_cast<std::size_t>(m + 1));
  rng::exponentials(seed, rng::stream::sample, 0, m + 1, partial.data());
  double e = 0.0;
  for (double& v : partial) v = (e += v);
  std::map<std::int64_t, std::int64_t> count;
  for (std::int64_t l = 0; l < m; ++l) {
    const double t = partial[static_cast<std::size_t>(l)] / partial[static_cast<std::size_t>(m)] * s;
    auto j = static_cast<std::int64_t>(std::upper_bound(cum.begin(), cum.end(), t) - cum.begin());
    while (j >= static_cast<std::int64_t>(q.size()) || q[static_cast<std::size_t>(j)] == 0.0) --j;
    ++count[j];
  }
  out.columns.clear();
  out.weights.clear();
  for (const auto& [j, c] : count) {
    out.columns.push_back(j);
    out.weights.push_back(std::sqrt(static_cast<double>(c) / (static_cast<double>(m) * q[static_cast<std::size_t>(j)] / s)));
  }
  out.m = m;
  out.score_sum = s;
}

// v^T C v
double quad(const Vec& C, const Vec& v, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b) s += v[static_cast<std::size_t>(a)] * C[at(a, b, n)] * v[static_cast<std::size_t>(b)];
  return s;
}
// U f(lambda) U^T with eigenvectors as rows of E.
Vec spectral(const Vec& E, const Vec& lam, std::int64_t n, double (*f)(double, double), double shift) {
  Vec C(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t k = 0; k < n; ++k) {
    const double fk = f(lam[static_cast<std::size_t>(k)], shift);
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b) C[at(a, b, n)] += fk * E[at(k, a, n)] * E[at(k, b, n)];
  }
  return C;
}

Result reference_bss(const Matrix<double>& X, const Params& p) {
  const std::int64_t n = X.rows(), d = X.cols();
  const Vec L = chol(reference_gram(X), n);
  std::vector<Vec> V(static_cast<std::size_t>(d));
  for (std::int64_t j = 0; j < d; ++j) {
    V[static_cast<std::size_t>(j)] = column(X, j);
    forward(L, n, V[static_cast<std::size_t>(j)].data());
  }
  const double g = p.gamma, sg = std::sqrt(g), nn = static_cast<double>(n);
  const double eU = (sg - 1.0) / (g + sg), dU = (sg + 1.0) / (sg - 1.0);
  double l = -nn * sg, u = nn / eU;
  Vec A(static_cast<std::size_t>(n * n), 0.0);
  std::map<std::int64_t, double> s;
  const std::int64_t steps = bss_steps(g, n);
  for (std::int64_t step = 0; step < steps; ++step) {
    Vec E = A, lam(static_cast<std::size_t>(n));
    if (linalg::syevd(true, linalg::Uplo::upper, n, E.data(), n, lam.data()) != 0) throw internal_error("reference syevd");
    const double u1 = u + dU, l1 = l + 1.0;
    auto inv_u = [](double lk, double sh) { return 1.0 / (sh - lk); };
    auto inv_u2 = [](double lk, double sh) { return 1.0 / ((sh - lk) * (sh - lk)); };
    auto inv_l = [](double lk, double sh) { return 1.0 / (lk - sh); };
    auto inv_l2 = [](double lk, double sh) { return 1.0 / ((lk - sh) * (lk - sh)); };
    const Vec CU1 = spectral(E, lam, n, inv_u, u1), CU2 = spectral(E, lam, n, inv_u2, u1);
    const Vec CL1 = spectral(E, lam, n, inv_l, l1), CL2 = spectral(E, lam, n, inv_l2, l1);
    double phiU = 0, phiU1 = 0, phiL = 0, phiL1 = 0;
    for (double lk : lam) {
      phiU += 1.0 / (u - lk);
      phiU1 += 1.0 / (u1 - lk);
      phiL += 1.0 / (lk - l);
      phiL1 += 1.0 / (lk - l1);
    }
    double best = -INFINITY, bu = 0, bl = 0;
    std::int64_t bj = -1;
    for (std::int64_t j = 0; j < d; ++j) {
      const Vec& v = V[static_cast<std::size_t>(j)];
      double nv = 0;
      for (double x : v) nv += x * x;
      if (!(nv > 0)) continue;
      const double UA = quad(CU2, v, n) / (phiU - phiU1) + quad(CU1, v, n);
      const double LA = quad(CL2, v, n) / (phiL1 - phiL) - quad(CL1, v, n);
      if (LA - UA > best) {
        best = LA - UA;
        bu = UA;
        bl = LA;
        bj = j;
      }
    }
    const double t = 2.0 / (bu + bl);
    const Vec& v = V[static_cast<std::size_t>(bj)];
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b) A[at(a, b, n)] += t * v[static_cast<std::size_t>(a)] * v[static_cast<std::size_t>(b)];
    s[bj] += t;
    u = u1;
    l = l1;
  }
  Result out;
  const double c = 2.0 / (l + u);
  for (const auto& [j, w] : s) {
    out.columns.push_back(j);
    out.weights.push_back(std::sqrt(c * w));
  }
  out.u = u;
  out.l = l;
  out.steps = out.m = steps;
  return out;
}
}  // namespace

std::vector<double> reference_gram(const Matrix<double>& X) {
  const std::int64_t n = X.rows(), d = X.cols();
  Vec M(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < n; ++k) {
      double s = 0.0;
      for (std::int64_t j = 0; j < d; ++j) s += X(i, j) * X(k, j);
      M[at(i, k, n)] = s;
    }
  return M;
}

std::vector<double> reference_leverage_scores(const Matrix<double>& X) {
  const std::int64_t n = X.rows(), d = X.cols();
  const Vec L = chol(reference_gram(X), n);
  Vec tau(static_cast<std::size_t>(d));
  for (std::int64_t j = 0; j < d; ++j) {
    Vec x = column(X, j);
    forward(L, n, x.data());
    double s = 0.0;
    for (double v : x) s += v * v;
    tau[static_cast<std::size_t>(j)] = s;
  }
  return tau;
}

namespace {
// JL estimates |x_j^T B|^2 / k of every column, B = Lf^{-T} G (Lf lower, G n x k Gaussian from the
// jl stream), one column of G at a time.
Vec jl_estimates(const Matrix<double>& X, const Vec& Lf, std::int64_t k, std::uint64_t seed) {
  const std::int64_t n = X.rows(), d = X.cols();
  Vec B(static_cast<std::size_t>(n * k)), g(static_cast<std::size_t>(n));
  for (std::int64_t c = 0; c < k; ++c) {
    for (std::int64_t i = 0; i < n; ++i)
      g[static_cast<std::size_t>(i)] = rng::normal(seed, rng::stream::jl, static_cast<std::uint64_t>(i * k + c));
    backward_t(Lf, n, g.data());
    for (std::int64_t i = 0; i < n; ++i) B[at(i, c, k)] = g[static_cast<std::size_t>(i)];
  }
  Vec tau(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t j = 0; j < d; ++j) {
    double sum = 0.0;
    for (std::int64_t c = 0; c < k; ++c) {
      double zc = 0.0;
      for (std::int64_t i = 0; i < n; ++i) zc += X(i, j) * B[at(i, c, k)];
      sum += zc * zc;
    }
    tau[static_cast<std::size_t>(j)] = sum / static_cast<double>(k);
  }
  return tau;
}

// The screened leverage-sketch (--bound chernoff, sparsify/screened.hpp) on the whole X: exact
// Cholesky, B = L^{-T} G column by column, tau~_j = |x_j^T B|^2 / k; column j is kept when
// u_j < min(min(1, m tau_j / n), min(1, a m tau~_j / n)) with the exact tau_j (computed for every
// column here), weight 1 / sqrt of that probability.
Result reference_screened(const Matrix<double>& X, const Params& p) {
  const std::int64_t n = X.rows(), d = X.cols(), k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
  const ScreenPlan plan = screen_plan(n, p.eps, p.delta, k);
  const std::int64_t m = p.m > 0 ? p.m : plan.m;
  const Vec tau_jl = jl_estimates(X, chol(reference_gram(X), n), k, p.seed);
  const Vec tau = reference_leverage_scores(X);
  const double per_score = static_cast<double>(m) / static_cast<double>(n);
  Result out;
  out.score_sum = 0.0;
  for (std::int64_t j = 0; j < d; ++j) {
    const double tj = tau_jl[static_cast<std::size_t>(j)];
    out.score_sum += tj;
    const double pt = std::min(1.0, plan.a * per_score * tj);
    const double rho = std::min(pt, std::min(1.0, per_score * tau[static_cast<std::size_t>(j)]));
    const double u = rng::uniform(p.seed, rng::stream::screen, static_cast<std::uint64_t>(j));
    out.candidates += u < pt;
    if (u < rho) {
      out.columns.push_back(j);
      out.weights.push_back(1.0 / std::sqrt(rho));
    }
  }
  out.m = m;
  return out;
}
}  // namespace

Result reference_run(const Matrix<double>& X, const Params& p) {
  const std::int64_t n = X.rows(), d = X.cols();
  Result out;
  if (p.method == Method::leverage_sketch && p.bound == Bound::chernoff) return reference_screened(X, p);
  switch (p.method) {
    case Method::leverage:
      draw(reference_leverage_scores(X), samples(p, n, d), p.seed, out);
      break;
    case Method::leverage_sketch: {
      const std::int64_t s = p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n);
      const std::int64_t z = p.sketch_nnz, k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
      Vec SX(static_cast<std::size_t>(s * n), 0.0);
      for (std::int64_t j = 0; j < d; ++j)
        for (std::int64_t c = 0; c < z; ++c) {
          const auto idx = static_cast<std::uint64_t>(j * z + c);
          const rng::SketchEntry h = rng::sketch_entry(p.seed, idx, s);
          const std::int64_t row = h.row;
          const double sg = h.sign / std::sqrt(static_cast<double>(z));
          for (std::int64_t i = 0; i < n; ++i) SX[at(row, i, n)] += sg * X(i, j);
        }
      Vec Gs(static_cast<std::size_t>(n * n), 0.0);
      for (std::int64_t a = 0; a < n; ++a)
        for (std::int64_t b = 0; b < n; ++b)
          for (std::int64_t r = 0; r < s; ++r) Gs[at(a, b, n)] += SX[at(r, a, n)] * SX[at(r, b, n)];
      draw(jl_estimates(X, chol(Gs, n), k, p.seed), samples(p, n, d), p.seed, out);
      break;
    }
    case Method::bss:
      return reference_bss(X, p);
    case Method::uniform:
      draw(Vec(static_cast<std::size_t>(d), 1.0), samples(p, n, d), p.seed, out);
      break;
    case Method::gaussian: {
      const std::int64_t m = samples(p, n, d);
      out.Y = Matrix<double>(n, m, 0.0);
      for (std::int64_t j = 0; j < d; ++j)
        for (std::int64_t c = 0; c < m; ++c) {
          const double gv = rng::normal(p.seed, rng::stream::gaussian, static_cast<std::uint64_t>(j * m + c));
          for (std::int64_t i = 0; i < n; ++i) out.Y(i, c) += X(i, j) * gv / std::sqrt(static_cast<double>(m));
        }
      out.m = m;
      break;
    }
  }
  return out;
}

}  // namespace attnbench::sparsify
