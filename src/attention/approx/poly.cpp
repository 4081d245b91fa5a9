#include "attention/approx/poly.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "linalg/blas.hpp"

namespace attnbench::approx {

MonomialBasis make_monomial_basis(int d, int g) {
  if (d < 1 || g < 0) throw usage_error(fmt::format("poly: need d >= 1 and degree >= 0 (d = {}, g = {})", d, g));
  MonomialBasis mb;
  mb.d = d;
  mb.g = g;
  // A monomial of degree k is a non-decreasing sequence of k variables; its children multiply by a
  // variable v >= its last one, so each multiset is generated exactly once, degree by degree.
  std::vector<std::int32_t> last_var{0}, run{0};
  mb.parent = {-1};
  mb.var = {-1};
  mb.degree = {0};
  mb.multinomial = {1.0};
  std::int64_t begin = 0, end = 1;
  for (int k = 1; k <= g; ++k) {
    for (std::int64_t p = begin; p < end; ++p) {
      const auto pi = static_cast<std::size_t>(p);
      for (int v = (p == 0 ? 0 : last_var[pi]); v < d; ++v) {
        const std::int32_t r = (p != 0 && v == last_var[pi]) ? run[pi] + 1 : 1;  // alpha_v of the child
        mb.parent.push_back(static_cast<std::int32_t>(p));
        mb.var.push_back(v);
        mb.degree.push_back(k);
        // |alpha|!/alpha! = (|alpha|-1)!/(alpha - e_v)! * |alpha| / alpha_v.
        mb.multinomial.push_back(mb.multinomial[pi] * k / r);
        last_var.push_back(v);
        run.push_back(r);
      }
    }
    begin = end;
    end = static_cast<std::int64_t>(mb.parent.size());
  }
  return mb;
}

double poly_rank(std::int64_t d, int g) {
  // C(d+g, g) = prod_{i=1..g} (d + i) / i, in double so that huge ranks do not overflow.
  double r = 1.0;
  for (int i = 1; i <= g; ++i) r = r * static_cast<double>(d + i) / i;
  return std::round(r);
}

std::vector<double> exp_poly_coefficients(PolyBasis basis, int g, double R) {
  std::vector<double> c(static_cast<std::size_t>(g + 1), 0.0);
  if (basis == PolyBasis::taylor) {
    double f = 1.0;
    for (int k = 0; k <= g; ++k) {
      if (k > 0) f /= k;
      c[static_cast<std::size_t>(k)] = f;
    }
    return c;
  }
  if (!(R > 1e-300)) {  // the interval is a point: P = 1 is exact
    c[0] = 1.0;
    return c;
  }
  // Chebyshev interpolation of e^{R t} at the g+1 Chebyshev points of the first kind:
  // a_k = 2/N sum_j f(t_j) T_k(t_j) (a_0 halved), then sum a_k T_k(t) in monomials of t (T_{k+1} =
  // 2 t T_k - T_{k-1}), then x = R t: c_k = b_k / R^k.
  const int N = g + 1;
  // Tc(k, m): coefficient of t^m in T_k(t).
  Matrix<double> Tc(N, N, 0.0);
  for (int k = 0; k < N; ++k) {
    if (k == 0) Tc(0, 0) = 1.0;
    else if (k == 1) Tc(1, 1) = 1.0;
    else
      for (int m = 0; m < N; ++m) Tc(k, m) = (m > 0 ? 2.0 * Tc(k - 1, m - 1) : 0.0) - Tc(k - 2, m);
  }
  std::vector<double> b(static_cast<std::size_t>(N), 0.0);
  for (int k = 0; k < N; ++k) {
    double s = 0.0;
    for (int j = 0; j < N; ++j) {
      const double th = std::numbers::pi * (j + 0.5) / N;
      s += std::exp(R * std::cos(th)) * std::cos(k * th);
    }
    const double ak = (k == 0 ? 1.0 : 2.0) * s / N;
    for (int m = 0; m < N; ++m) b[static_cast<std::size_t>(m)] += ak * Tc(k, m);
  }
  double Rk = 1.0;
  for (int k = 0; k < N; ++k) {
    c[static_cast<std::size_t>(k)] = b[static_cast<std::size_t>(k)] / Rk;
    Rk *= R;
  }
  return c;
}

double exp_poly_relative_error(const std::vector<double>& c, double R) {
  constexpr int kGrid = 16384;
  double worst = 0.0;
  for (int j = 0; j <= kGrid; ++j) {
    const double x = R * std::cos(std::numbers::pi * j / kGrid);
    double p = 0.0;
    for (auto it = c.rbegin(); it != c.rend(); ++it) p = p * x + *it;  // Horner
    const double rel = std::abs(p * std::exp(-x) - 1.0);
    if (!(rel <= worst)) worst = std::isnan(rel) ? std::numeric_limits<double>::infinity() : rel;
  }
  return worst * 1.001;
}

namespace {

// Rows per feature chunk: about 2 MiB of features, between 16 and 1024 rows, at most max_rows.
// (Measured at d = 8, g = 5, r = 1287, one core: 128..1024 rows within noise; 32 rows 2x slower.)
std::int64_t chunk_for(double r, std::size_t elem, std::int64_t max_rows, std::int64_t requested) {
  std::int64_t c = requested > 0 ? requested
                                 : static_cast<std::int64_t>(std::clamp((2 << 20) / (r * static_cast<double>(elem)), 16.0, 1024.0));
  return std::max<std::int64_t>(1, std::min(c, std::max<std::int64_t>(max_rows, 1)));
}

// Bytes of the feature buffers per rank: per thread the r x chunk features, d x chunk inputs,
// chunk x (dv+1) values/outputs and an r x (dv+1) partial W; plus the shared W.
double feature_bytes_for(double r, std::int64_t chunk, std::int64_t d, std::int64_t dv, int threads, std::size_t elem) {
  const double per_thread = r * static_cast<double>(chunk + dv + 1) + static_cast<double>(chunk * (d + dv + 1));
  return static_cast<double>(elem) * (threads * per_thread + r * static_cast<double>(dv + 1));
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024.0 && u < 6) {
    b /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

template <class T>
double max_row_norm(const Matrix<T>& X) {
  double m = 0.0;
  for (std::int64_t i = 0; i < X.rows(); ++i) {
    double s = 0.0;
    for (std::int64_t c = 0; c < X.cols(); ++c) s += static_cast<double>(X(i, c)) * static_cast<double>(X(i, c));
    m = std::max(m, std::sqrt(s));
  }
  return m;
}

// Ut (r x rows, leading dimension rows) := monomials of (pre * X[rows]) in the plan's order,
// times the plan's feature coefficients when with_coef (query side). Xt: d x rows scratch.
template <class T>
void build_features_t(const T* X, std::int64_t rows, const PolyPlan& plan, double pre, bool with_coef, T* Ut, T* Xt) {
  const std::int64_t d = plan.d, r = plan.rank;
  for (std::int64_t j = 0; j < rows; ++j)
    for (std::int64_t c = 0; c < d; ++c) Xt[c * rows + j] = static_cast<T>(pre * static_cast<double>(X[j * d + c]));
  const auto& mb = plan.monomials;
  std::fill(Ut, Ut + rows, T(1));
  for (std::int64_t m = 1; m < r; ++m) {
    const T* par = Ut + static_cast<std::int64_t>(mb.parent[static_cast<std::size_t>(m)]) * rows;
    const T* x = Xt + static_cast<std::int64_t>(mb.var[static_cast<std::size_t>(m)]) * rows;
    T* out = Ut + m * rows;
    for (std::int64_t j = 0; j < rows; ++j) out[j] = par[j] * x[j];  // one multiplication per entry
  }
  if (with_coef)
    for (std::int64_t m = 0; m < r; ++m) {
      const T f = static_cast<T>(plan.feature_coef[static_cast<std::size_t>(m)]);
      T* out = Ut + m * rows;
      for (std::int64_t j = 0; j < rows; ++j) out[j] *= f;
    }
}

template <class T>
Matrix<T> features_rows(const Matrix<T>& X, const PolyPlan& plan, double pre, bool with_coef) {
  const std::int64_t n = X.rows(), r = plan.rank;
  Matrix<T> Ut(r, std::max<std::int64_t>(n, 1)), Xt(plan.d, std::max<std::int64_t>(n, 1)), U(n, r);
  if (n == 0) return U;
  build_features_t(X.data(), n, plan, pre, with_coef, Ut.data(), Xt.data());
  for (std::int64_t m = 0; m < r; ++m)
    for (std::int64_t j = 0; j < n; ++j) U(j, m) = Ut.data()[m * n + j];
  return U;
}

}  // namespace

template <class T>
PolyPlan plan_poly(const dist::Comm& comm, const AttentionProblem<T>& p, double scale, const PolyOptions& o) {
  attention::require_single_head(p, "poly");
  if (o.degree > kMaxPolyDegree)
    throw usage_error(fmt::format("--degree {} exceeds the supported maximum {}", o.degree, kMaxPolyDegree));
  if (o.degree < 0 && !(o.tolerance > 0.0 && std::isfinite(o.tolerance)))
    throw usage_error(fmt::format("--tolerance must be a positive number (got {})", o.tolerance));
  if (!(scale > 0.0)) throw usage_error(fmt::format("poly: the scale must be positive (got {})", scale));
  PolyPlan plan;
  plan.basis = o.basis;
  plan.d = p.shape.d;
  plan.dv = p.shape.dv;
  plan.scale = scale;
  plan.threads = std::max(1, o.threads);

  // (max|q_i|, max|k_j|, max|V|) := Allreduce(MAX) over ranks: 3 doubles.
  double maxima[3] = {max_row_norm(p.Q_local), max_row_norm(p.K_local), 0.0};
  for (auto v : p.V_local.span()) maxima[2] = std::max(maxima[2], std::abs(static_cast<double>(v)));
  comm.allreduce(std::span<double>(maxima, 3), dist::Op::max);
  plan.max_q_norm = maxima[0];
  plan.max_k_norm = maxima[1];
  plan.max_abs_v = maxima[2];
  plan.R = scale * plan.max_q_norm * plan.max_k_norm;
  if (!std::isfinite(plan.R)) throw input_error("poly: Q or K has non-finite entries");

  // Degree: given, or the smallest meeting the tolerance. Every rank computes the same numbers.
  if (o.degree >= 0) {
    plan.degree = o.degree;
    plan.coefficients = exp_poly_coefficients(o.basis, plan.degree, plan.R);
    plan.eps_P = exp_poly_relative_error(plan.coefficients, plan.R);
  } else {
    plan.degree = -1;
    for (int g = 0; g <= kMaxPolyDegree; ++g) {
      auto c = exp_poly_coefficients(o.basis, g, plan.R);
      const double e = exp_poly_relative_error(c, plan.R);
      if (e <= o.tolerance) {
        plan.degree = g;
        plan.coefficients = std::move(c);
        plan.eps_P = e;
        break;
      }
    }
    if (plan.degree < 0)
      throw usage_error(fmt::format(
          "poly: no {} polynomial of degree <= {} reaches --tolerance {:g} on [-R, R] with R = {:.4g} (scale {:.4g} x "
          "max|q| {:.4g} x max|k| {:.4g}): the entries are too large for the polynomial method; lower --bound or "
          "loosen --tolerance",
          to_string(o.basis), kMaxPolyDegree, o.tolerance, plan.R, scale, plan.max_q_norm, plan.max_k_norm));
  }
  const int g = plan.degree;

  // Memory budget, checked before anything of size r is allocated.
  const auto elem = sizeof(T);
  const std::int64_t max_rows = std::max(p.layout_q.max_local_rows(), p.layout_kv.max_local_rows());
  auto bytes_at = [&](int deg) {
    const double r = poly_rank(p.shape.d, deg);
    return feature_bytes_for(r, chunk_for(r, elem, max_rows, o.chunk_rows), p.shape.d, p.shape.dv, plan.threads, elem);
  };
  const double r_needed = poly_rank(p.shape.d, g);
  const double bytes_needed = bytes_at(g);
  if (!(bytes_needed <= static_cast<double>(o.memory_budget)) || r_needed > 2e9) {
    int fit = -1;
    while (fit < g && bytes_at(fit + 1) <= static_cast<double>(o.memory_budget) && poly_rank(p.shape.d, fit + 1) <= 2e9) ++fit;
    std::string fits = "no degree fits";
    if (fit >= 0) {
      const double e = exp_poly_relative_error(exp_poly_coefficients(o.basis, fit, plan.R), plan.R);
      fits = fmt::format("the largest degree that fits is g = {} (r = {:.0f}, eps_P = {:.3g})", fit, poly_rank(p.shape.d, fit), e);
    }
    throw does_not_fit_error(fmt::format(
        "poly: rank r = C(d+g, g) = C({}+{}, {}) = {:.4g} needs {} of feature buffers per rank, over the memory budget "
        "of {} (--memory-budget); d = {}, g = {}, R = {:.4g} (scale {:.4g} x max|q| {:.4g} x max|k| {:.4g}), eps_P = "
        "{:.3g}; {}. This is the bounded-entries transition of Alman-Song: at this R and tolerance the polynomial "
        "method needs a rank that does not fit; lower --bound/--tolerance/--degree or raise --memory-budget",
        p.shape.d, g, g, r_needed, human_bytes(bytes_needed), human_bytes(static_cast<double>(o.memory_budget)), p.shape.d, g,
        plan.R, scale, plan.max_q_norm, plan.max_k_norm, plan.eps_P, fits));
  }
  plan.rank = static_cast<std::int64_t>(r_needed);
  plan.chunk_rows = chunk_for(r_needed, elem, max_rows, o.chunk_rows);
  plan.feature_bytes = static_cast<std::int64_t>(bytes_needed);
  plan.monomials = make_monomial_basis(static_cast<int>(p.shape.d), g);
  if (plan.monomials.size() != plan.rank) throw internal_error("poly: monomial count differs from C(d+g, g)");
  plan.feature_coef.resize(static_cast<std::size_t>(plan.rank));
  for (std::int64_t m = 0; m < plan.rank; ++m) {
    const auto mi = static_cast<std::size_t>(m);
    plan.feature_coef[mi] = plan.coefficients[static_cast<std::size_t>(plan.monomials.degree[mi])] * plan.monomials.multinomial[mi];
  }
  // a b = scale, a max|q| = b max|k| = sqrt(R).
  if (plan.max_q_norm > 0.0 && plan.max_k_norm > 0.0) {
    plan.a_q = std::sqrt(scale * plan.max_k_norm / plan.max_q_norm);
    plan.b_k = std::sqrt(scale * plan.max_q_norm / plan.max_k_norm);
  } else {
    plan.a_q = plan.b_k = std::sqrt(scale);
  }

  if (plan.basis == PolyBasis::taylor)
    plan.eps_P_taylor_bound =
        plan.R > 0.0 ? std::exp(plan.R + (g + 1) * std::log(plan.R) - std::lgamma(g + 2.0)) : 0.0;

  // The certificate (exact arithmetic) and the finite-precision allowance. The allowance models
  // the relative perturbation of the weights P(s<q,k>) by rounding: each weight is an inner
  // product of r terms whose magnitudes sum to at most Pabs(R) = sum |c_k| R^k, against a weight of
  // at least ~e^{-R}, built by d + g multiplications, and summed over n keys. With the probabilistic
  // rounding model (Higham & Mary 2019: sums of m terms err by ~sqrt(m) u), safety factor 4:
  //   delta = 4 u (sqrt(r) + d + g + sqrt(n)) Pabs(R) e^R,  allowance = (2 delta/(1-delta) + 4u) max|V|.
  // It also covers the rounding of the exact output the error is measured against. Negligible in
  // double unless eps_P is tiny; in float it is ~1e-5..1e-4 and dominates tight tolerances.
  plan.certified_bound = plan.eps_P < 1.0 ? 2.0 * plan.eps_P / (1.0 - plan.eps_P) * plan.max_abs_v
                                          : std::numeric_limits<double>::infinity();
  {
    double pabs = 0.0, Rk = 1.0;
    for (double c : plan.coefficients) {
      pabs += std::abs(c) * Rk;
      Rk *= plan.R;
    }
    const double u = std::numeric_limits<T>::epsilon();
    const double steps = std::sqrt(static_cast<double>(plan.rank)) + static_cast<double>(p.shape.d + g) +
                         std::sqrt(static_cast<double>(p.n_kv()));
    const double delta = std::min(0.5, 4.0 * u * steps * pabs * std::exp(plan.R));
    plan.rounding_allowance = (2.0 * delta / (1.0 - delta) + 4.0 * u) * plan.max_abs_v;
  }
  return plan;
}

template <class T>
Matrix<T> poly_attention(const dist::Comm& comm, const AttentionProblem<T>& p, const PolyPlan& plan,
                         attention::MhaTimes* times) {
  attention::require_single_head(p, "poly");
  attention::MhaTimes t;
  const double t0 = wall_seconds();
  const std::int64_t r = plan.rank, d = p.shape.d, dv = p.shape.dv, dv1 = dv + 1, chunk = plan.chunk_rows;
  const int threads = plan.threads;
  Matrix<T> W(r, dv1, T(0));

  // ---- key side: W[r x (dv+1)] := sum over my key rows of U2[rows]^T [V | 1][rows] ----------------
  {
    ScopedAccumulate timer(t.compute);
    const std::int64_t nk = p.K_local.rows(), chunks = (nk + chunk - 1) / chunk;
    std::vector<Matrix<T>> W_thread(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
    {
      const int tid = omp_get_thread_num();
      Matrix<T> Ut(r, chunk), Xt(d, chunk), VB(chunk, dv1);
      Matrix<T>& Wt = W_thread[static_cast<std::size_t>(tid)];
      Wt = Matrix<T>(r, dv1, T(0));
#pragma omp for schedule(static)
      for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t row0 = c * chunk, rows = std::min(chunk, nk - row0);
        build_features_t(p.K_local.row(row0), rows, plan, plan.b_k, false, Ut.data(), Xt.data());
        for (std::int64_t j = 0; j < rows; ++j) {
          std::copy(p.V_local.row(row0 + j), p.V_local.row(row0 + j) + dv, VB.row(j));
          VB(j, dv) = T(1);
        }
        // Wt += U2[chunk]^T [V | 1][chunk]: 2 r rows (dv+1) flops.
        linalg::gemm(linalg::Trans::no, linalg::Trans::no, r, dv1, rows, T(1), Ut.data(), rows, VB.data(), dv1, T(1),
                     Wt.data(), dv1);
      }
    }
    for (const auto& Wt : W_thread)  // fixed order: deterministic for a given thread count
      for (std::int64_t i = 0; i < W.size(); ++i) W.data()[i] += Wt.data()[i];
  }
  {
    // W := Allreduce(SUM) of the ranks' partial W: r (dv+1) elements, the only communication.
    ScopedAccumulate timer(t.comm_wait);
    comm.allreduce(W.span(), dist::Op::sum);
  }
  {
    // W := diag(c_|alpha| |alpha|!/alpha!) W: the query-side coefficients applied once to the r rows
    // of W instead of to every query's features (U1 = U1raw diag(coef), so U1 W = U1raw (diag W)).
    ScopedAccumulate timer(t.compute);
    for (std::int64_t m = 0; m < r; ++m) {
      const T f = static_cast<T>(plan.feature_coef[static_cast<std::size_t>(m)]);
      for (std::int64_t col = 0; col < dv1; ++col) W(m, col) *= f;
    }
  }

  // ---- query side: O[rows] := (U1[rows] W)[:, :dv] / (U1[rows] W)[:, dv]; no communication ------
  const std::int64_t nq = p.Q_local.rows();
  Matrix<T> O(nq, dv);
  {
    ScopedAccumulate timer(t.compute);
    const std::int64_t chunks = (nq + chunk - 1) / chunk;
#pragma omp parallel num_threads(threads)
    {
      Matrix<T> Ut(r, chunk), Xt(d, chunk), OB(chunk, dv1);
#pragma omp for schedule(static)
      for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t row0 = c * chunk, rows = std::min(chunk, nq - row0);
        build_features_t(p.Q_local.row(row0), rows, plan, plan.a_q, false, Ut.data(), Xt.data());
        // OB = U1[chunk] W = U1raw[chunk] diag(coef) W = Ut^T W: 2 rows r (dv+1) flops.
        linalg::gemm(linalg::Trans::yes, linalg::Trans::no, rows, dv1, r, T(1), Ut.data(), rows, W.data(), dv1, T(0),
                     OB.data(), dv1);
        for (std::int64_t j = 0; j < rows; ++j) {
          const T inv = T(1) / OB(j, dv);  // D~ > 0 whenever eps_P < 1
          for (std::int64_t col = 0; col < dv; ++col) O(row0 + j, col) = OB(j, col) * inv;
        }
      }
    }
  }
  t.total = wall_seconds() - t0;
  t.peak_buffer_bytes = plan.feature_bytes;
  if (times) *times = t;
  return O;
}

template <class T>
Matrix<T> poly_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                         const PolyOptions& options) {
  return poly_attention(comm, problem, plan_poly(comm, problem, scale, options));
}

template <class T>
Matrix<T> poly_query_features(const Matrix<T>& Q, const PolyPlan& plan) {
  return features_rows(Q, plan, plan.a_q, true);
}
template <class T>
Matrix<T> poly_key_features(const Matrix<T>& K, const PolyPlan& plan) {
  return features_rows(K, plan, plan.b_k, false);
}

double poly_attention_flops(const PolyPlan& plan, std::int64_t n_q, std::int64_t n_kv) {
  const double r = static_cast<double>(plan.rank);
  return 2.0 * r * static_cast<double>(plan.dv + 1) * static_cast<double>(n_q + n_kv) +
         r * static_cast<double>(2 * n_q + n_kv);
}

#define ATTNBENCH_INSTANTIATE_POLY(T)                                                                              \
  template PolyPlan plan_poly<T>(const dist::Comm&, const AttentionProblem<T>&, double, const PolyOptions&);     \
  template Matrix<T> poly_attention<T>(const dist::Comm&, const AttentionProblem<T>&, const PolyPlan&,           \
                                       attention::MhaTimes*);                                                  \
  template Matrix<T> poly_attention<T>(const dist::Comm&, const AttentionProblem<T>&, double, const PolyOptions&); \
  template Matrix<T> poly_query_features<T>(const Matrix<T>&, const PolyPlan&);                                  \
  template Matrix<T> poly_key_features<T>(const Matrix<T>&, const PolyPlan&);
ATTNBENCH_INSTANTIATE_POLY(float)
ATTNBENCH_INSTANTIATE_POLY(double)
#undef ATTNBENCH_INSTANTIATE_POLY

}  // namespace attnbench::approx
