#include "sparsify/screened.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "linalg/blas.hpp"
#include "sparsify/bounds.hpp"
#include "sparsify/rng.hpp"
#include "sparsify/sketch.hpp"

namespace attnbench::sparsify {

namespace {

using linalg::Trans;

// The exact scores tau_j = |L^{-1} x_j|^2 of the local columns `idx` (ascending).
// Dense: 256 gathered columns at a time, Z := Xc L^{-T} (trsm, n^2 per column). Sparse:
// L^{-1} x_j = sum_e x_ej W[:, i_e], W = L^{-1} lower triangular, read as rows of Wt = W^T
// (row i holds W[i.., i]): n - i_e flops per entry, no dense expansion of the column.
template <class T>
std::vector<double> exact_scores_of(const ColumnBlock<T>& X, const std::vector<std::int64_t>& idx,
                                    const std::vector<double>& L, const std::vector<double>& Wt) {
  const std::int64_t n = X.n;
  std::vector<double> tau(idx.size(), 0.0);
  if (!X.sparse) {
    constexpr std::size_t chunk = 256;
    std::vector<double> Xc(chunk * static_cast<std::size_t>(n));
    for (std::size_t c0 = 0; c0 < idx.size(); c0 += chunk) {
      const std::size_t b = std::min(chunk, idx.size() - c0);
      for (std::size_t t = 0; t < b; ++t) X.column(idx[c0 + t], Xc.data() + t * static_cast<std::size_t>(n));
      linalg::trsm(false, true, Trans::yes, false, static_cast<std::int64_t>(b), n, 1.0, L.data(), n, Xc.data(), n);
      for (std::size_t t = 0; t < b; ++t) {
        const double* z = Xc.data() + t * static_cast<std::size_t>(n);
        double s = 0.0;
        for (std::int64_t i = 0; i < n; ++i) s += z[i] * z[i];
        tau[c0 + t] = s;
      }
    }
    return tau;
  }
  std::vector<double> z(static_cast<std::size_t>(n));
  for (std::size_t c = 0; c < idx.size(); ++c) {
    std::fill(z.begin(), z.end(), 0.0);
    std::int64_t first = n;
    X.for_each_entry(idx[c], [&](std::int64_t i, double v) {
      first = std::min(first, i);
      const double* w = Wt.data() + i * n;
      for (std::int64_t r = i; r < n; ++r) z[static_cast<std::size_t>(r)] += v * w[r];
    });
    double s = 0.0;
    for (std::int64_t r = first; r < n; ++r) s += z[static_cast<std::size_t>(r)] * z[static_cast<std::size_t>(r)];
    tau[c] = s;
  }
  return tau;
}

}  // namespace

template <class T>
void run_screened(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p, const NxnSolver& solver,
                  const Timed& timed, Result& out) {
  const std::int64_t n = X.n;
  const std::int64_t k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
  const ScreenPlan plan = screen_plan(n, p.eps, p.delta, k);
  const std::int64_t m = p.m > 0 ? p.m : plan.m;
  std::vector<double> M, L, B(static_cast<std::size_t>(n * k)), Wt;
  timed("gram", [&] { M = gram(comm, X); });
  timed("factor", [&] {
    L = cholesky_or_rank_error(solver, n, std::move(M));
    // B := L^{-T} G (n^2 k), so that |x_j^T B|^2 = |G^T L^{-1} x_j|^2.
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < k; ++c)
        B[static_cast<std::size_t>(i * k + c)] = rng::normal(p.seed, rng::stream::jl, static_cast<std::uint64_t>(i * k + c));
    linalg::trsm(true, true, Trans::yes, false, n, k, 1.0, L.data(), n, B.data(), k);
    if (X.sparse) {
      // W := L^{-1} (lower_solve on the identity), stored transposed: row i of Wt is column i of W.
      std::vector<double> W(static_cast<std::size_t>(n * n), 0.0);
      for (std::int64_t i = 0; i < n; ++i) W[static_cast<std::size_t>(i * n + i)] = 1.0;
      lower_solve(n, n, L, W.data());
      Wt.resize(W.size());
      for (std::int64_t a = 0; a < n; ++a)
        for (std::int64_t b = 0; b < n; ++b) Wt[static_cast<std::size_t>(b * n + a)] = W[static_cast<std::size_t>(a * n + b)];
    }
  });
  std::vector<double> tau_jl;
  timed("scores", [&] { tau_jl = jl_scores(X, B, k); });

  std::vector<std::int64_t> cols;
  std::vector<double> weights;
  std::int64_t candidates = 0;
  timed("screen", [&] {
    const double per_score = static_cast<double>(m) / static_cast<double>(n);  // pi_j = min(1, per_score tau_j)
    std::vector<std::int64_t> cand;
    std::vector<double> u, pi_screen;
    const std::uint64_t key = stream_key(p.seed, rng::stream::screen);
    for (std::int64_t j = 0; j < X.cols; ++j) {
      const double pt = std::min(1.0, plan.a * per_score * tau_jl[static_cast<std::size_t>(j)]);
      const double uj = rng::uniform_keyed(key, static_cast<std::uint64_t>(X.col0 + j));
      if (uj < pt) {
        cand.push_back(j);
        u.push_back(uj);
        pi_screen.push_back(pt);
      }
    }
    candidates = static_cast<std::int64_t>(cand.size());
    const std::vector<double> tau = exact_scores_of(X, cand, L, Wt);
    for (std::size_t c = 0; c < cand.size(); ++c) {
      const double rho = std::min(std::min(1.0, per_score * tau[c]), pi_screen[c]);
      if (u[c] < rho) {
        cols.push_back(X.col0 + cand[c]);
        weights.push_back(1.0 / std::sqrt(rho));
      }
    }
  });
  timed("sample", [&] { gather_selection(comm, cols, weights, out); });
  double local = 0.0;
  for (double v : tau_jl) local += v;
  out.score_sum = comm.allreduce(local, dist::Op::sum);
  out.candidates = comm.allreduce(candidates, dist::Op::sum);
  out.local_scores = std::move(tau_jl);
  out.m = m;
}

template void run_screened(const dist::Comm&, const ColumnBlock<float>&, const Params&, const NxnSolver&, const Timed&,
                           Result&);
template void run_screened(const dist::Comm&, const ColumnBlock<double>&, const Params&, const NxnSolver&, const Timed&,
                           Result&);

}  // namespace attnbench::sparsify
