#include "sparsify/sparsify.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "linalg/blas.hpp"
#include "sparsify/bounds.hpp"
#include "sparsify/column_forms.hpp"
#include "sampling/draws.hpp"
#include "sparsify/rng.hpp"
#include "sparsify/screened.hpp"
#include "sparsify/sketch.hpp"

namespace attnbench::sparsify {

using linalg::Trans;

std::string format_g(double v, int digits) {
  std::ostringstream s;
  s.precision(digits);
  s << v;
  return s.str();
}

std::string to_string(Method m) { return enum_name(kMethodNames, m); }
Method method_from_string(const std::string& s) { return parse_enum(kMethodNames, s, "--algo"); }

std::string to_string(Bound b) { return enum_name(kBoundNames, b); }
Bound bound_from_string(const std::string& s) { return parse_enum(kBoundNames, s, "--bound"); }

void check_params(const Params& p, std::int64_t n) {
  if (!(p.eps > 0.0 && p.eps < 1.0)) throw usage_error("--eps must be in (0, 1) (got " + std::to_string(p.eps) + ")");
  if (!(p.delta > 0.0 && p.delta < 1.0))
    throw usage_error("--delta must be in (0, 1) (got " + std::to_string(p.delta) + ")");
  if (!(p.gamma > 1.0) || !std::isfinite(p.gamma))
    throw usage_error("--gamma must be greater than 1 (got " + std::to_string(p.gamma) + ")");
  if (p.m < 0) throw usage_error("--m must be positive (got " + std::to_string(p.m) + ")");
  if (p.sketch_rows != 0 && p.sketch_rows < n)
    throw usage_error("--sketch-rows must be at least n = " + std::to_string(n) + " (got " +
                      std::to_string(p.sketch_rows) + ")");
  if (p.sketch_nnz < 1) throw usage_error("--sketch-nnz must be at least 1 (got " + std::to_string(p.sketch_nnz) + ")");
  if (p.jl_cols < 0) throw usage_error("--jl-cols must be positive (got " + std::to_string(p.jl_cols) + ")");
  if (p.oversample != 0.0 && !(p.oversample >= 1.0 && std::isfinite(p.oversample)))
    throw usage_error("--oversample must be at least 1 (got " + std::to_string(p.oversample) + ")");
  if (p.m > 0 && p.oversample != 0.0)
    throw usage_error("--oversample scales the default m: it has no effect with --m (give one of them)");
  if (p.bound == Bound::chernoff && p.method == Method::leverage_sketch) {
    // The screened pipeline whitens with the exact Gram matrix and its m needs no factor: the
    // CountSketch's options and --oversample belong to --bound classic.
    if (p.oversample != 0.0) throw usage_error("--oversample applies to --bound classic only (chernoff needs no factor)");
  }
  if (p.method == Method::leverage_sketch && p.bound == Bound::classic && p.m == 0 && p.oversample == 0.0) {
    const std::int64_t s = p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n);
    if (s < 4 * n)
      throw usage_error("--sketch-rows must be at least 4 n = " + std::to_string(4 * n) +
                        " for the default oversampling (the embedding factor ((1 + e) / (1 - e))^2, e = sqrt(n / s), "
                        "grows without bound as s approaches n); give --oversample or --m otherwise");
  }
}

namespace {
// "2^k" when v is a power of two, else the decimal value: ranges read as their reason.
std::string range_number(std::int64_t v) {
  if (v > 0 && (v & (v - 1)) == 0) return "2^" + std::to_string(__builtin_ctzll(static_cast<unsigned long long>(v)));
  return std::to_string(v);
}
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();
}  // namespace

void check_sizes(const Params& p, std::int64_t n, std::int64_t d) {
  const std::string nd = " for n = " + std::to_string(n) + ", d = " + std::to_string(d);
  if (p.method == Method::bss) {
    // gamma n in double: gamma is finite (check_params), n < 2^31, so the product cannot overflow.
    const double steps = std::ceil(p.gamma * static_cast<double>(n) - 1e-9);
    if (!(steps <= static_cast<double>(d)))
      throw usage_error("--gamma must be in (1, d / n] = (1, " + format_g(static_cast<double>(d) / static_cast<double>(n)) +
                        "]" + nd + " (got " + format_g(p.gamma) +
                        "): bss takes ceil(gamma n) steps and keeps at most one new column per step, so more steps "
                        "than the d columns would not sparsify X");
  }
  if (p.method != Method::bss) {
    // The draws: m + 8 doubles on every rank (sampling methods); gaussian: the n x m output Y and
    // a 64-row block of G.
    const std::int64_t max_m =
        p.method == Method::gaussian ? kMaxInt64 / 8 / (n + 64) : kMaxInt64 / 8 - 8;
    const std::int64_t m = samples(p, n, d);  // the default m: a usage error naming --eps if absurd
    if (m > max_m)
      throw usage_error(std::string(p.m > 0 ? "--m" : "the default m (from --eps, --delta)") + " must be in [1, " +
                        range_number(max_m) + "]" + nd + " (got " + std::to_string(m) +
                        (p.method == Method::gaussian ? "): the n x m output Y, in doubles, must have a 64-bit byte count"
                                                      : "): the m + 8 sorted draws, in doubles, must have a 64-bit byte count"));
  }
  if (p.method == Method::leverage_sketch) {
    const std::int64_t s = p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n);
    const std::int64_t max_s = std::min<std::int64_t>(std::int64_t{1} << 32, kMaxInt64 / 8 / n);
    if (s < n || s > max_s)
      throw usage_error("--sketch-rows must be in [n, " + range_number(max_s) + "] = [" + std::to_string(n) + ", " +
                        range_number(max_s) + "]" + nd + " (got " + std::to_string(s) +
                        "): the row hash maps 32 random bits onto the s rows, and the s x n sketch of doubles must "
                        "have a 64-bit byte count");
    if (p.sketch_nnz < 1 || p.sketch_nnz > s)
      throw usage_error("--sketch-nnz must be in [1, s] = [1, " + std::to_string(s) + "] (got " +
                        std::to_string(p.sketch_nnz) + "): a column of the embedding has z nonzeros among its s rows");
    // After their ranges (a value out of range is named as such whatever the bound): the screened
    // pipeline whitens with the exact Gram matrix and has no CountSketch to size.
    if (p.bound == Bound::chernoff && (p.sketch_rows != 0 || p.sketch_nnz != 1))
      throw usage_error("--sketch-rows and --sketch-nnz apply to --bound classic only (chernoff whitens with X X^T)");
    const std::int64_t k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
    const std::int64_t max_k = kMaxInt64 / 8 / std::max<std::int64_t>(n, 512);
    if (k > max_k)
      throw usage_error("--jl-cols must be in [1, " + range_number(max_k) + "]" + nd + " (got " + std::to_string(k) +
                        "): the n x k JL matrix and a 512 x k block of scores, in doubles, must have a 64-bit byte count");
  }
}

std::int64_t working_bytes(const Params& p, std::int64_t n, std::int64_t d, std::int64_t local_cols) {
  // In long double (every term is below 2^63 after check_sizes; their sum need not be), saturated.
  const long double nn = static_cast<long double>(n), w = 8.0L;
  long double b = 8.0L * nn * nn * w + 512.0L * nn * w;      // replicated n x n matrices, a column block
  b += 2.0L * static_cast<long double>(local_cols) * w;        // scores (and the sketched ones kept)
  const long double m = static_cast<long double>(p.method == Method::bss ? 0 : samples(p, n, d));
  switch (p.method) {
    case Method::leverage:
    case Method::uniform: b += (m + 8.0L) * w; break;
    case Method::leverage_sketch: {
      const long double s = static_cast<long double>(p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n));
      const long double k = static_cast<long double>(p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n));
      b += (m + 8.0L) * w + s * nn * w + (nn + 512.0L) * k * w;
      break;
    }
    case Method::gaussian: b += (nn + 64.0L) * m * w; break;  // Y and a 64-column block of G
    case Method::bss:  // the candidates' precomputed quadratic-form terms (sparsify/column_forms.hpp)
      b += static_cast<long double>(kMaxTermsPerColumn * kBytesPerTerm) * static_cast<long double>(local_cols);
      break;
  }
  return b >= static_cast<long double>(kMaxInt64) ? kMaxInt64 : static_cast<std::int64_t>(b);
}

std::int64_t default_samples(std::int64_t n, double eps, double delta) {
  const double nn = static_cast<double>(n);
  const double m = std::ceil(3.0 * nn * std::log(2.0 * nn / delta) / (eps * eps));
  if (!(m < 9.0e18))  // a tiny --eps: the conversion to int64 would be undefined
    throw usage_error("the default m = ceil(3 n ln(2 n / delta) / eps^2) = " + format_g(m) + " for --eps " +
                      format_g(eps) + " does not fit in int64: give a larger --eps or an explicit --m");
  return static_cast<std::int64_t>(m);
}
static std::int64_t ceil_log2(std::int64_t v) {
  std::int64_t k = 0;
  while ((std::int64_t{1} << k) < v) ++k;
  return k;
}
// s = 12 n. Both d-independent costs of leverage-sketch move with s: the sketch Gram (s n^2 syrk)
// and the sketch's allocation fall with s, the m draws (m exponentials) grow with the embedding
// factor ((1 + e) / (1 - e))^2, e = sqrt(n / s): 3.28 at 12 n, so m is 1.67 x that of the former
// default 4 n ceil(log2(n + 1)) (36 n at n = 256: factor 1.96). Measured sample + sketch_gram +
// sketch_alloc at n = 256, density 1%, d = 2^18, one rank (CPU ms, mean of 2 runs of 9
// repetitions, shared 2-core machine): s = 4n 19.9, 6n 17.0, 8n 15.1, 12n 14.0, 16n 16.2, 36n 24.9.
// leverage-sketch was VALID in every run, with no score_factor note (the factor the sketched
// scores needed stayed within the model's), and the tests meet the window on every test input.
// The s >= 4 n rule of check_params stands (the factor grows without bound as s nears n).
std::int64_t default_sketch_rows(std::int64_t n) { return 12 * n; }
std::int64_t default_jl_cols(std::int64_t n) { return std::max<std::int64_t>(16, 4 * ceil_log2(n + 1)); }
std::int64_t bss_steps(double gamma, std::int64_t n) {
  return static_cast<std::int64_t>(std::ceil(gamma * static_cast<double>(n) - 1e-9));
}
double bss_kappa(double gamma) { return 2.0 * std::sqrt(gamma) / (gamma + 1.0); }

Oversampling sketch_oversampling(std::int64_t n, std::int64_t d, std::int64_t s, std::int64_t k, double delta) {
  Oversampling o;
  // jl: 1 / x with (x e^{1 - x})^{k / 2} = (delta / 2) / d.
  o.jl = 1.0 / chi2_lower_point(k, 0.5 * delta / static_cast<double>(std::max<std::int64_t>(d, 1)));
  const double e = std::sqrt(static_cast<double>(n) / static_cast<double>(s));
  o.embedding = e < 1.0 ? ((1.0 + e) / (1.0 - e)) * ((1.0 + e) / (1.0 - e)) : std::numeric_limits<double>::infinity();
  return o;
}

double oversample_factor(const Params& p, std::int64_t n, std::int64_t d) {
  if (p.oversample > 0.0) return p.oversample;
  const std::int64_t s = p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n);
  const std::int64_t k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
  return sketch_oversampling(n, d, s, k, p.delta).total();
}

std::int64_t samples(const Params& p, std::int64_t n, std::int64_t d) {
  if (p.m > 0) return p.m;
  if (p.bound == Bound::chernoff) {
    if (p.method != Method::leverage_sketch) return chernoff_samples(n, p.eps, p.delta);
    return screen_plan(n, p.eps, p.delta, p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n)).m;
  }
  if (p.method != Method::leverage_sketch) return default_samples(n, p.eps, p.delta);
  // delta / 2 for the sampling, delta / 2 for the JL estimates (see sketch_oversampling).
  const double nn = static_cast<double>(n);
  const double m = oversample_factor(p, n, d) * 3.0 * nn * std::log(4.0 * nn / p.delta) / (p.eps * p.eps);
  if (!(m < 9.0e18)) throw usage_error("leverage-sketch: the oversampled m does not fit in int64 (--sketch-rows too close to n?)");
  return static_cast<std::int64_t>(std::ceil(m));
}

namespace {

// Where a run's phase times go: wall-clock seconds, and optionally this thread's CPU seconds
// (for benchmarks on a shared machine, where wall-clock includes time spent descheduled).
struct Timers {
  Phases* wall = nullptr;
  Phases* cpu = nullptr;
};

class PhaseTimer {
 public:
  PhaseTimer(const Timers& timers, const char* name)
      : timers_(timers), name_(name), t0_(wall_seconds()), c0_(timers.cpu ? thread_cpu_seconds() : 0.0) {}
  ~PhaseTimer() {
    if (timers_.wall) (*timers_.wall)[name_] += wall_seconds() - t0_;
    if (timers_.cpu) (*timers_.cpu)[name_] += thread_cpu_seconds() - c0_;
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  Timers timers_;
  const char* name_;
  double t0_;
  double c0_;
};

// Weighted columns from per-column draw counts: weight sqrt(c / (m p)).
void finish_draws(std::int64_t m, const std::vector<std::int64_t>& cols, const std::vector<std::int64_t>& counts,
                  const std::vector<double>& probs, Result& out) {
  out.columns = cols;
  out.weights.resize(cols.size());
  for (std::size_t a = 0; a < cols.size(); ++a)
    out.weights[a] = std::sqrt(static_cast<double>(counts[a]) / (static_cast<double>(m) * probs[a]));
  out.m = m;
}

// The m sorted draws of the sampling methods (sampling/draws.hpp), from this kernel's sample stream.
double spacing_sums(std::uint64_t seed, std::int64_t m, std::vector<double>& P) {
  return sampling::spacing_sums(seed, rng::stream::sample, m, P);
}

// ---- leverage: exact scores tau_j = |L^{-1} x_j|^2 -----------------------------------------------
// W = L^{-1} once (n^3/3), then tau_j = |W x_j|^2: trmm on blocks of dense columns, the stored
// entries' columns of W for sparse ones (sparsify/column_forms.hpp); accuracy: nxn.hpp lower_inverse.
template <class T>
std::vector<double> exact_scores(const ColumnBlock<T>& X, const std::vector<double>& L) {
  return column_norms_of_product(X, lower_inverse(X.n, L));
}

// ---- leverage-sketch ------------------------------------------------------------------------------
template <class T>
std::vector<double> sketch_scores(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p,
                                  const NxnSolver& solver, const Timers& phases) {
  const std::int64_t n = X.n;
  const std::int64_t s = p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(n);
  const std::int64_t z = p.sketch_nnz;
  const std::int64_t k = p.jl_cols > 0 ? p.jl_cols : default_jl_cols(n);
  // SX (s x n, row-major) = Pi X^T, the sketch of the whole X (s n doubles on every rank).
  std::vector<double> SX;
  {
    // Allocation and zeroing: a d-independent cost of s n doubles (page faults included).
    PhaseTimer t(phases, "sketch_alloc");
    SX.assign(static_cast<std::size_t>(s * n), 0.0);
  }
  {
    // SX += Pi_r X_r^T: one streaming pass over the local X, z nnz(X_r) flops (sparsify/sketch.hpp).
    PhaseTimer t(phases, "sketch");
    add_sparse_embedding(X, p.seed, s, z, SX.data());
  }
  {
    // Pi X^T := sum_r Pi X_r^T  (the sketch is linear; one MPI_Allreduce of s n doubles). An
    // MPI_Reduce_scatter of the rows would move half the bytes, but Open MPI 4.1's took 2-3x the
    // Allreduce's time here (2 ranks, n = 256, s = 12 n: 10.6-15.4 against 4.8-5.5 ms).
    PhaseTimer t(phases, "comm_wait");
    comm.allreduce(std::span<double>(SX), dist::Op::sum);
  }
  std::vector<double> Gs(static_cast<std::size_t>(n * n), 0.0);
  {
    // R^T R = SX^T SX = sum over the p row blocks SX_q (rows [s q / p, s (q + 1) / p)) of
    // SX_q^T SX_q: each rank a syrk of its block (s n^2 / p flops), then one MPI_Allreduce of
    // n^2 doubles. d-independent work shared instead of repeated on every rank.
    PhaseTimer t(phases, "sketch_gram");
    const std::int64_t p_ranks = comm.size(), q = comm.rank();
    const std::int64_t row0 = s * q / p_ranks, rows = s * (q + 1) / p_ranks - row0;
    if (rows > 0) linalg::syrk(true, Trans::yes, n, rows, 1.0, SX.data() + row0 * n, n, 0.0, Gs.data(), n);
    std::vector<double>().swap(SX);
  }
  {
    PhaseTimer t(phases, "comm_wait");
    comm.allreduce(std::span<double>(Gs), dist::Op::sum);
  }
  std::vector<double> B(static_cast<std::size_t>(n * k));
  {
    PhaseTimer t(phases, "factor");
    for (std::int64_t i = 0; i < n; ++i)  // the upper triangle from syrk's lower one
      for (std::int64_t j = i + 1; j < n; ++j) Gs[static_cast<std::size_t>(i * n + j)] = Gs[static_cast<std::size_t>(j * n + i)];
    // R = Ls^T (potrf, n^3/3); B := R^{-1} G = Ls^{-T} G (n^2 k), G (n x k) Gaussian.
    const std::vector<double> Ls = cholesky_or_rank_error(solver, n, std::move(Gs));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < k; ++c)
        B[static_cast<std::size_t>(i * k + c)] =
            rng::normal(p.seed, rng::stream::jl, static_cast<std::uint64_t>(i * k + c));
    linalg::trsm(true, true, Trans::yes, false, n, k, 1.0, Ls.data(), n, B.data(), k);
  }
  PhaseTimer t(phases, "scores");
  // tau~_j = |x_j^T B|^2 / k: 2 k nnz flops, local (sparsify/sketch.hpp).
  return jl_scores(X, B, k);
}

// ---- bss --------------------------------------------------------------------------------------------
template <class T>
void run_bss(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p, const NxnSolver& solver,
             const std::vector<double>& L, const Timers& phases, Result& out) {
  const std::int64_t n = X.n;
  if (X.d > INT_MAX) throw usage_error("bss: d must be below 2^31 (MPI_MAXLOC carries an int column index)");
  const std::vector<std::int64_t> col0s = comm.allgather<std::int64_t>(X.col0);
  const std::vector<std::int64_t> ncols = comm.allgather<std::int64_t>(X.cols);
  auto owner_of = [&](std::int64_t g) {
    for (int r = 0; r < comm.size(); ++r)
      if (g >= col0s[static_cast<std::size_t>(r)] && g < col0s[static_cast<std::size_t>(r)] + ncols[static_cast<std::size_t>(r)]) return r;
    throw internal_error("bss: no rank owns column " + std::to_string(g));
  };
  const double g = p.gamma, sg = std::sqrt(g), nn = static_cast<double>(n);
  const double dL = 1.0, eL = 1.0 / sg, dU = (sg + 1.0) / (sg - 1.0), eU = (sg - 1.0) / (g + sg);
  double l = -nn * sg, u = nn / eU;
  const std::int64_t steps = bss_steps(g, n);
  const double tol = 1e-9;  // rounding allowance of the invariant checks (relative)

  // W = L^{-1} once (n^3/3; accuracy: nxn.hpp lower_inverse): every step's Q = E W is then a trmm.
  const std::vector<double> W = lower_inverse(n, L);
  std::vector<double> A(static_cast<std::size_t>(n * n), 0.0), E, lam, Q, D(static_cast<std::size_t>(n * n)), Qs,
      cu(static_cast<std::size_t>(n)), cl(static_cast<std::size_t>(n)), score, P(static_cast<std::size_t>(n)),
      buf(static_cast<std::size_t>(n));
  std::vector<char> candidate;
  // The terms of the candidates' quadratic forms, once for all steps (CSC columns, O(sum nnz_j^2)),
  // used only if every rank has them (Allreduce of one int): then every column's score is the
  // same sum in the same order on any rank count.
  QuadraticTerms terms = quadratic_terms(X);
  if (comm.allreduce(terms.built ? 1 : 0, dist::Op::min) == 0) terms = QuadraticTerms{};
  std::map<std::int64_t, double> weight;
  double max_violation = 0.0;
  for (std::int64_t step = 0;; ++step) {
    {
      PhaseTimer t(phases, "bss_eigen");
      E = A;
      if (solver.eigen(n, E, lam, true) != 0) throw internal_error("bss: eigendecomposition of A failed");
    }
    // Invariants before every step and at the end: lambda_max < u, lambda_min > l, PhiU(u) <= eU,
    // PhiL(l) <= eL (relative violations beyond the rounding allowance are recorded).
    double phiU = 0.0, phiL = 0.0;
    for (double lk : lam) {
      phiU += 1.0 / (u - lk);
      phiL += 1.0 / (lk - l);
    }
    const double lmax = lam.back(), lmin = lam.front();
    double v = 0.0;
    v = std::max(v, (lmax - u) / std::abs(u));
    v = std::max(v, (l - lmin) / std::max(std::abs(l), 1.0));
    v = std::max(v, phiU < 0 ? 1.0 : (phiU - eU) / eU);
    v = std::max(v, phiL < 0 ? 1.0 : (phiL - eL) / eL);
    if (v > tol) max_violation = std::max(max_violation, v);
    if (step == steps) break;

    const double u1 = u + dU, l1 = l + dL;
    double phiU1 = 0.0, phiL1 = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      phiU1 += 1.0 / (u1 - lam[static_cast<std::size_t>(k)]);
      phiL1 += 1.0 / (lam[static_cast<std::size_t>(k)] - l1);
    }
    const double dPU = phiU - phiU1, dPL = phiL1 - phiL;
    for (std::int64_t k = 0; k < n; ++k) {
      const double a = 1.0 / (u1 - lam[static_cast<std::size_t>(k)]), b = 1.0 / (lam[static_cast<std::size_t>(k)] - l1);
      cu[static_cast<std::size_t>(k)] = a * a / dPU + a;   // UA(v) = sum_k P2_k cu_k
      cl[static_cast<std::size_t>(k)] = b * b / dPL - b;   // LA(v) = sum_k P2_k cl_k
    }
    {
      // Q := E W: row k is u_k^T L^{-1}, so (Q x)_k = u_k^T v with v = L^{-1} x (trmm, n^3 flops).
      // D := Q^T diag(cl - cu) Q, so that LA(v) - UA(v) = sum_k (Q x)_k^2 (cl_k - cu_k) = x^T D x:
      // the rows with a positive and those with a negative coefficient, scaled by sqrt(|c_k|),
      // through one syrk each (n^3 flops together). Every rank forms the same D from the same A.
      PhaseTimer t(phases, "bss_eigen");
      Q = E;
      linalg::trmm(false, true, Trans::no, false, n, n, 1.0, W.data(), n, Q.data(), n);
      Qs.resize(static_cast<std::size_t>(n * n));
      std::int64_t pos = 0, neg = n;  // rows [0, pos): c_k > 0; rows [neg, n): c_k < 0
      for (std::int64_t k = 0; k < n; ++k) {
        const double c = cl[static_cast<std::size_t>(k)] - cu[static_cast<std::size_t>(k)];
        if (c == 0.0) continue;
        double* row = Qs.data() + (c > 0.0 ? pos++ : --neg) * n;
        const double sc = std::sqrt(std::abs(c));
        const double* qk = Q.data() + k * n;
        for (std::int64_t i = 0; i < n; ++i) row[i] = sc * qk[i];
      }
      std::fill(D.begin(), D.end(), 0.0);
      if (pos > 0) linalg::syrk(true, Trans::yes, n, pos, 1.0, Qs.data(), n, 0.0, D.data(), n);
      if (neg < n) linalg::syrk(true, Trans::yes, n, n - neg, -1.0, Qs.data() + neg * n, n, 1.0, D.data(), n);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j) D[static_cast<std::size_t>(i * n + j)] = D[static_cast<std::size_t>(j * n + i)];
    }
    // Candidate scores LA - UA = x_j^T D x_j of every local column (sparse: from the column's
    // stored entries only, O(nnz(x_j)^2)); the local best, ties to the smallest column.
    double best = -std::numeric_limits<double>::infinity();
    std::int64_t best_col = -1;
    {
      PhaseTimer t(phases, "bss_scores");
      column_quadratic_forms(X, D, score, candidate, &terms);
      for (std::int64_t j = 0; j < X.cols; ++j)
        if (candidate[static_cast<std::size_t>(j)] && score[static_cast<std::size_t>(j)] > best) {
          best = score[static_cast<std::size_t>(j)];
          best_col = X.col0 + j;
        }
    }
    std::int64_t winner = 0;
    {
      // The winner: MPI_MAXLOC over (score, global column): equal scores go to the smallest column.
      // Then its owner broadcasts x_winner (n doubles).
      PhaseTimer t(phases, "comm_wait");
      struct {
        double value;
        int index;
      } in{best, best_col >= 0 ? static_cast<int>(best_col) : INT_MAX}, res{0.0, 0};
      dist::check_mpi(MPI_Allreduce(&in, &res, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm.raw()), "MPI_Allreduce(MAXLOC)");
      if (!std::isfinite(res.value) || res.index == INT_MAX)
        throw internal_error("bss: no candidate column at step " + std::to_string(step));
      winner = res.index;
      const int owner = owner_of(winner);
      if (comm.rank() == owner) X.column(winner - X.col0, buf.data());
      comm.bcast(std::span<double>(buf), owner);
    }
    PhaseTimer t(phases, "bss_select");
    // UA and LA of the winner from P = Q x (n^2 flops, the same on every rank).
    linalg::gemm(Trans::no, Trans::no, n, 1, n, 1.0, Q.data(), n, buf.data(), 1, 0.0, P.data(), 1);
    double UA = 0.0, LA = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      const double p2 = P[static_cast<std::size_t>(k)] * P[static_cast<std::size_t>(k)];
      UA += p2 * cu[static_cast<std::size_t>(k)];
      LA += p2 * cl[static_cast<std::size_t>(k)];
    }
    const double tstep = 2.0 / (UA + LA);
    lower_solve(n, 1, L, buf.data());  // v = L^{-1} x_winner
    for (std::int64_t a = 0; a < n; ++a)
      for (std::int64_t b = 0; b < n; ++b)
        A[static_cast<std::size_t>(a * n + b)] += tstep * buf[static_cast<std::size_t>(a)] * buf[static_cast<std::size_t>(b)];
    weight[winner] += tstep;
    u = u1;
    l = l1;
  }
  const double c = 2.0 / (l + u);
  out.columns.clear();
  out.weights.clear();
  for (const auto& [col, s] : weight) {
    out.columns.push_back(col);
    out.weights.push_back(std::sqrt(c * s));
  }
  out.u = u;
  out.l = l;
  out.steps = steps;
  out.m = steps;
  out.max_violation = max_violation;
}

// ---- gaussian ---------------------------------------------------------------------------------------
template <class T>
void run_gaussian(const dist::Comm& comm, const ColumnBlock<T>& X, std::int64_t m, std::uint64_t seed,
                  const Timers& phases, Result& out) {
  const std::int64_t n = X.n;
  Matrix<double> Y(n, m, 0.0);
  {
    PhaseTimer t(phases, "scores");
    std::vector<double> G;
    if (!X.sparse) {
      std::vector<double> scratch;
      // Y_r += Xc^T G[j0 .. j0 + b, :]  (2 n m b flops per chunk)
      for_each_dense_view(X, 64, scratch, [&](std::int64_t j0, std::int64_t b, const double* Xc) {
        G.resize(static_cast<std::size_t>(b * m));
        for (std::int64_t tt = 0; tt < b; ++tt)
          for (std::int64_t c = 0; c < m; ++c)
            G[static_cast<std::size_t>(tt * m + c)] = rng::normal(
                seed, rng::stream::gaussian, static_cast<std::uint64_t>((X.col0 + j0 + tt) * m + c));
        linalg::gemm(Trans::yes, Trans::no, n, m, b, 1.0, Xc, n, G.data(), m, 1.0, Y.data(), m);
      });
    } else {
      G.resize(static_cast<std::size_t>(m));
      for (std::int64_t j = 0; j < X.cols; ++j) {
        bool filled = false;
        X.for_each_entry(j, [&](std::int64_t i, double v) {
          if (v == 0.0) return;
          if (!filled) {
            for (std::int64_t c = 0; c < m; ++c)
              G[static_cast<std::size_t>(c)] = rng::normal(seed, rng::stream::gaussian,
                                                           static_cast<std::uint64_t>((X.col0 + j) * m + c));
            filled = true;
          }
          double* y = Y.row(i);
          for (std::int64_t c = 0; c < m; ++c) y[c] += v * G[static_cast<std::size_t>(c)];
        });
      }
    }
  }
  {
    // Y := sum_r X_r G_r  (Allreduce, n m doubles)
    PhaseTimer t(phases, "comm_wait");
    comm.allreduce(Y.span(), dist::Op::sum);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(m));
  for (double& v : Y.span()) v *= scale;
  out.Y = std::move(Y);
  out.m = m;
  out.columns.clear();
  out.weights.clear();
}

}  // namespace

void sample_by_scores(const dist::Comm& comm, std::int64_t col0, const std::vector<double>& q, std::int64_t m,
                      std::uint64_t seed, Result& out) {
  std::vector<std::int64_t> cols;
  std::vector<double> weights;
  sampling::sample_by_scores(comm, col0, q, m, seed, rng::stream::sample, cols, weights);
  gather_selection(comm, cols, weights, out);
  out.m = m;
}

void gather_selection(const dist::Comm& comm, const std::vector<std::int64_t>& cols, const std::vector<double>& weights,
                      Result& out) {
  // Every rank's picks on every rank, in rank order = ascending columns (allgather of p counts,
  // allgatherv of 2 x picks words straight into the result).
  const std::vector<int> per_rank = comm.allgather(static_cast<int>(cols.size()));
  int all = 0;
  for (int c : per_rank) all += c;
  out.columns.resize(static_cast<std::size_t>(all));
  out.weights.resize(static_cast<std::size_t>(all));
  comm.allgatherv<std::int64_t>(cols, out.columns, per_rank);
  comm.allgatherv<double>(weights, out.weights, per_rank);
}

template <class T>
Result run(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p, const NxnSolver& solver, Phases* wall_phases,
           Phases* cpu_phases) {
  const Timers phases{wall_phases, cpu_phases};
  Result out;
  const std::int64_t n = X.n;
  switch (p.method) {
    case Method::leverage:
    case Method::bss: {
      std::vector<double> M;
      {
        PhaseTimer t(phases, "gram");
        M = gram(comm, X);
      }
      std::vector<double> L;
      {
        PhaseTimer t(phases, "factor");
        L = cholesky_or_rank_error(solver, n, std::move(M));
      }
      if (p.method == Method::bss) {
        run_bss(comm, X, p, solver, L, phases, out);
        break;
      }
      std::vector<double> tau;
      {
        PhaseTimer t(phases, "scores");
        tau = exact_scores(X, L);
      }
      double local = 0.0;
      for (double v : tau) local += v;
      out.score_sum = comm.allreduce(local, dist::Op::sum);
      PhaseTimer t(phases, "sample");
      sample_by_scores(comm, X.col0, tau, samples(p, n, X.d), p.seed, out);
      break;
    }
    case Method::leverage_sketch: {
      if (p.bound == Bound::chernoff) {
        run_screened(comm, X, p, solver, [&](const char* name, const std::function<void()>& work) {
          PhaseTimer t(phases, name);
          work();
        }, out);
        break;
      }
      std::vector<double> tau = sketch_scores(comm, X, p, solver, phases);
      double local = 0.0;
      for (double v : tau) local += v;
      out.score_sum = comm.allreduce(local, dist::Op::sum);
      {
        PhaseTimer t(phases, "sample");
        sample_by_scores(comm, X.col0, tau, samples(p, n, X.d), p.seed, out);
      }
      out.local_scores = std::move(tau);  // kept for the validation's measured score_factor
      break;
    }
    case Method::uniform: {
      // Replicated: every rank draws the same m columns j_l = floor(U_l d) from the sorted uniforms
      // (picks ascending: counts are run lengths); weight sqrt(c d / m). No communication.
      PhaseTimer t(phases, "sample");
      const std::int64_t m = samples(p, n, X.d);
      std::vector<double> P;
      const double Pm = spacing_sums(p.seed, m, P);
      const auto dd = static_cast<double>(X.d);
      std::vector<std::int64_t> cols, cnts;
      for (std::int64_t lidx = 0; lidx < m; ++lidx) {
        const auto j = std::min<std::int64_t>(static_cast<std::int64_t>(P[static_cast<std::size_t>(lidx)] / Pm * dd), X.d - 1);
        if (!cols.empty() && cols.back() == j) {
          ++cnts.back();
        } else {
          cols.push_back(j);
          cnts.push_back(1);
        }
      }
      finish_draws(m, cols, cnts, std::vector<double>(cols.size(), 1.0 / dd), out);
      break;
    }
    case Method::gaussian:
      run_gaussian(comm, X, samples(p, n, X.d), p.seed, phases, out);
      break;
  }
  return out;
}

template <class T>
std::vector<double> exact_leverage_scores(const ColumnBlock<T>& X, const std::vector<double>& L) {
  return exact_scores(X, L);
}
template std::vector<double> exact_leverage_scores(const ColumnBlock<float>&, const std::vector<double>&);
template std::vector<double> exact_leverage_scores(const ColumnBlock<double>&, const std::vector<double>&);

template Result run(const dist::Comm&, const ColumnBlock<float>&, const Params&, const NxnSolver&, Phases*, Phases*);
template Result run(const dist::Comm&, const ColumnBlock<double>&, const Params&, const NxnSolver&, Phases*, Phases*);

}  // namespace attnbench::sparsify
