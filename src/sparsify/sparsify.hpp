#pragma once
// Attention sparsification of a wide X (n x d, d >> n) across ranks (ALGORITHMS.md section 4):
// find Y = X S (n x m), S keeping and reweighting a few columns, with
// (1 - eps) X X^T <= Y Y^T <= (1 + eps) X X^T, so that softmax(Y Y^T) ~ softmax(X X^T) entrywise.
//
// Distribution: rank r holds the columns [col0_r, col0_r + cols_r) of X (dist::BlockRowLayout over
// d), dense or CSC. n x n matrices (M = X X^T, its Cholesky factor L, the BSS state A) are
// replicated. Every random choice is drawn from (seed, global index) (sparsify/rng.hpp) and the
// BSS winner is agreed by MPI_MAXLOC with ties to the smallest global column, so the selection does
// not depend on the rank count (beyond the rounding of the Allreduce sums).
//
// Methods:
//   leverage         M := Allreduce(X_r X_r^T) (n^2 words); L := chol(M) (replicated);
//                    tau_j = |L^{-1} x_j|^2 locally through W = L^{-1} (trtri, n^3/3): dense
//                    n^2 d / p flops (trmm), sparse O(n nnz / p) (sum tau = n);
//                    sample m iid columns with p_j = tau_j / sum tau: the m draws come sorted
//                    from exponential spacings (O(m), replicated, no sort), each rank merges the
//                    ones in its CDF range against its local CDF (O(m_r + d / p)); one allgather
//                    of p score sums, one of p first-draw indices, allgatherv of the picks;
//                    weight of a column drawn c times: sqrt(c / (m p_j)) (duplicates merged).
//   leverage-sketch  the input-sparsity-time scores: a CountSketch (or, with sketch_nnz = z > 1,
//                    an OSNAP-style sparse embedding) Pi (s x d) of X^T, Pi X^T = sum_r Pi_r X_r^T
//                    (Allreduce of s n words; z nnz flops, one streaming pass over X in its
//                    storage order into the cache-resident s x n sketch, sparsify/sketch.hpp);
//                    R^T R = (Pi X^T)^T (Pi X^T) (syrk of s n^2 / p flops per rank on its block
//                    of sketch rows, Allreduce of n^2 words; potrf n^3/3, replicated: the
//                    d-independent part); B = R^{-1} G, G (n x k) Gaussian with k = O(log n);
//                    tau~_j = |x_j^T B|^2 / k (2 k nnz flops, a second pass); sample as leverage.
//   bss              Batson-Spielman-Srivastava barrier method on v_j = L^{-1} x_j (sum v v^T = I),
//                    ceil(gamma n) steps; per step: eigendecomposition of A (replicated, ~9 n^3),
//                    Q = U^T L^{-1} (trmm with L^{-1} formed once, n^3), D = Q^T diag(cl - cu) Q
//                    (two syrk, n^3), so that the candidate score LA - UA of local column j is
//                    x_j^T D x_j (dense: 2 n^2 per column, GEMM; sparse: O(nnz(x_j)^2) from its
//                    stored entries), winner by MPI_MAXLOC (one Allreduce of a (double, int)),
//                    the winner's column broadcast by its owner (n words), A += t v v^T. Invariants lambda_max < u, lambda_min > l, PhiU <= eU,
//                    PhiL <= eL checked before every step and at the end.
//   uniform          m iid uniform columns (the same sorted draws), weight sqrt(c d / m); no
//                    communication.
//   gaussian         dense JL: Y = X G / sqrt(m), G (d x m) with G[j, :] from (seed, global j);
//                    Y := Allreduce(X_r G_r) / sqrt(m) (n m words; 2 n d m flops). Selects no column.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/enum_names.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"
#include "sparsify/columns.hpp"
#include "sparsify/nxn.hpp"

namespace attnbench::sparsify {

// A number for messages: %g-style with `digits` significant digits ("64", "1e+300", "0.05").
std::string format_g(double v, int digits = 6);

enum class Method { leverage, leverage_sketch, bss, uniform, gaussian };
inline constexpr EnumNames<Method, 5> kMethodNames{{{Method::leverage, "leverage"},
                                                    {Method::leverage_sketch, "leverage-sketch"},
                                                    {Method::bss, "bss"},
                                                    {Method::uniform, "uniform"},
                                                    {Method::gaussian, "gaussian"}}};
std::string to_string(Method m);
Method method_from_string(const std::string& s);  // usage error naming --algo

// The bound behind the default m of the sampling methods (--bound):
//   classic  m = ceil(3 n ln(2 n / delta) / eps^2) (the simplified matrix Chernoff); leverage-sketch:
//            CountSketch + JL scores, m scaled by beta = jl x embedding (sketch_oversampling).
//   chernoff m from the matrix Chernoff inequality with its exact exponents (sparsify/bounds.hpp);
//            leverage-sketch: exact whitening, JL scores as a screen, exact scores of the screened
//            candidates, independent keeps with the exact-score probabilities (sparsify/screened.hpp).
// Params{} keeps `classic` (the library's former contract); the command line defaults to chernoff.
enum class Bound { classic, chernoff };
inline constexpr EnumNames<Bound, 2> kBoundNames{{{Bound::chernoff, "chernoff"}, {Bound::classic, "classic"}}};
std::string to_string(Bound b);
Bound bound_from_string(const std::string& s);  // usage error naming --bound

struct Params {
  Method method = Method::leverage;
  double eps = 0.5;           // target spectral window [1 - eps, 1 + eps] (leverage methods)
  double delta = 0.1;         // failure probability (leverage methods)
  double gamma = 4.0;         // BSS oversampling (> 1)
  std::int64_t m = 0;         // samples / JL width; 0: ceil(3 n ln(2 n / delta) / eps^2)
  std::uint64_t seed = 42;
  std::int64_t sketch_rows = 0;  // leverage-sketch: rows s of the embedding; 0: default_sketch_rows(n)
  std::int64_t sketch_nnz = 1;   // nonzeros per column of the embedding (1 = CountSketch)
  std::int64_t jl_cols = 0;      // leverage-sketch: Gaussian columns k; 0: default_jl_cols(n)
  double oversample = 0.0;       // leverage-sketch: factor beta of the default m; 0: sketch_oversampling()
  Bound bound = Bound::classic;  // the bound behind the default m (and leverage-sketch's pipeline)
};

// Usage errors naming the option: eps, delta outside (0, 1), gamma <= 1, m < 0, sketch sizes.
void check_params(const Params& p, std::int64_t n);

// The sizes the parameters imply for an n x d X, checked with overflow-safe arithmetic: usage errors
// naming the option and its valid range for this n and d (identical on every rank):
//   --gamma        (1, d / n]: bss takes ceil(gamma n) steps and keeps at most one new column per
//                  step, so ceil(gamma n) <= d (more steps than columns would not sparsify X);
//   --m            [1, M]: the m + 8 sorted draws (doubles, on every rank) and, for gaussian, the
//                  n x m output Y must have a byte count that fits int64;
//   --sketch-rows  [n, min(2^32, M)]: the sketch's row hash maps 32 random bits onto the s rows,
//                  and its s x n doubles must fit int64;
//   --sketch-nnz   [1, s]: a column of the embedding has z nonzeros among the s rows;
//   --jl-cols      [1, M]: the n x k JL matrix and a 512 x k block of scores must fit int64.
// Whether the buffers fit the node's memory is a separate check (working_bytes, exit 6).
void check_sizes(const Params& p, std::int64_t n, std::int64_t d);

// Bytes of the kernel's own buffers on one rank holding `local_cols` of X's d columns (X itself not
// included): the replicated n x n matrices (at most 8 at once: M, L, the BSS state A, its
// eigenvectors, Q, Q^T; the validation's), the per-column scores, the m + 8 draws, the s x n sketch
// and n x k JL matrix (leverage-sketch), the n x m output (gaussian). An estimate for the memory
// check before anything is allocated; saturates at INT64_MAX. Call after check_sizes.
std::int64_t working_bytes(const Params& p, std::int64_t n, std::int64_t d, std::int64_t local_cols);

// m = ceil(3 n ln(2 n / delta) / eps^2) (matrix Chernoff; ALGORITHMS.md section 4).
std::int64_t default_samples(std::int64_t n, double eps, double delta);

// leverage-sketch samples from approximate scores tau~; sampling with p~_j = tau~_j / sum tau~ keeps
// the matrix Chernoff guarantee when p~_j >= tau_j / (beta n) for every column, with m multiplied
// by beta. beta = jl * embedding:
//   jl         the JL estimate |z^T G|^2 / k of |z|^2 (G: n x k standard Gaussian, z = R^{-T} x_j)
//              is |z|^2 chi2_k / k; its lower tail P(chi2_k / k <= x) <= (x e^{1-x})^{k/2}
//              (Chernoff). jl = 1 / x with (x e^{1-x})^{k/2} = (delta / 2) / d: with probability
//              >= 1 - delta/2 no column's estimate falls below 1/jl of its sketched score (union
//              bound over the d columns). The sampling keeps the other delta / 2:
//              m = ceil(beta 3 n ln(4 n / delta) / eps^2), total failure probability <= delta.
//   embedding  the subspace-embedding distortion of the sketch Pi (s rows): if
//              (1 - e)^2 M <= R^T R <= (1 + e)^2 M, the sketched scores are within
//              [(1 + e)^-2, (1 - e)^-2] of tau and the normalization sum tau~ / n within the
//              inverse, so embedding = ((1 + e) / (1 - e))^2. e = sqrt(n / s) is the Gaussian
//              sketch's constant (extreme singular values of an s x n Gaussian / sqrt(s) are
//              1 -+ sqrt(n / s), Davidson-Szarek); for a CountSketch with s = 12 n rows it is
//              a model, not a theorem (the proven CountSketch bound needs s ~ n^2 / (e^2 delta)).
//              Every run therefore also measures the factor that was actually needed,
//              max_j tau_j sum(tau~) / (n tau~_j), in its validation (`score_factor`).
struct Oversampling {
  double jl = 1.0, embedding = 1.0;
  double total() const { return jl * embedding; }
};
Oversampling sketch_oversampling(std::int64_t n, std::int64_t d, std::int64_t sketch_rows, std::int64_t jl_cols,
                                 double delta);
// The factor beta used by leverage-sketch: p.oversample, or sketch_oversampling(...).total().
double oversample_factor(const Params& p, std::int64_t n, std::int64_t d);
// Samples drawn: p.m when given (never scaled); else, with Bound::classic, default_samples(n, eps,
// delta), and for leverage-sketch ceil(beta 3 n ln(4 n / delta) / eps^2); with Bound::chernoff,
// chernoff_samples(n, eps, delta), and for leverage-sketch screen_plan(...).m (the budget sum pi_j).
std::int64_t samples(const Params& p, std::int64_t n, std::int64_t d);
std::int64_t default_sketch_rows(std::int64_t n);        // 12 n (the choice: sparsify.cpp)
std::int64_t default_jl_cols(std::int64_t n);            // max(16, 4 ceil(log2(n + 1)))
std::int64_t bss_steps(double gamma, std::int64_t n);    // ceil(gamma n)
double bss_kappa(double gamma);                          // 2 sqrt(gamma) / (gamma + 1)

// The result, replicated on every rank.
struct Result {
  std::vector<std::int64_t> columns;  // selected global columns, ascending
  std::vector<double> weights;        // Y = X[:, columns] diag(weights)
  std::int64_t m = 0;                 // draws (sampling methods), steps (bss), JL width (gaussian)
  Matrix<double> Y;                   // gaussian only: n x m
  double score_sum = std::numeric_limits<double>::quiet_NaN();  // sum of (approximate) scores
  std::vector<double> local_scores;   // leverage-sketch: tau~ of this rank's columns (for validation)
  std::int64_t candidates = 0;        // screened leverage-sketch: columns whose exact score was computed
  // bss
  double u = 0.0, l = 0.0;            // final barriers
  double max_violation = 0.0;         // largest relative invariant violation over all steps (0 = none)
  std::int64_t steps = 0;
};

// Seconds per phase of one run on this rank (added to; names: gram, factor, sketch_alloc, sketch,
// sketch_gram, scores, sample, bss_eigen, bss_scores, bss_select, comm_wait).
using Phases = std::map<std::string, double>;

// Collective over comm. X is this rank's column block. Throws (on every rank) an input error when
// X X^T is rank-deficient (leverage, bss) or the sketch is (leverage-sketch). Phase times: wall-clock
// into `phases`, this thread's CPU time into `cpu_phases` (benchmarks on a shared machine).
template <class T>
Result run(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p, const NxnSolver& solver,
           Phases* phases = nullptr, Phases* cpu_phases = nullptr);

// Exact leverage scores tau_j = |L^{-1} x_j|^2 of this rank's columns (M = L L^T), through W = L^{-1}
// (n^3/3 once): n^2 per dense column (trmm), O(n nnz(x_j)) per sparse one (sparsify/column_forms.hpp).
template <class T>
std::vector<double> exact_leverage_scores(const ColumnBlock<T>& X, const std::vector<double>& L);

// The global CDF sampling shared by leverage and leverage-sketch (exposed for tests): m iid draws
// from p_j = q_j / sum q over every rank's local nonnegative scores q (local column j is global
// col0 + j); returns ascending columns and weights sqrt(c_j / (m p_j)), replicated. The draws are
// the sorted uniforms P_l / P_m of exponential spacings (sparsify.cpp, spacing_sums), exactly
// multinomial. Time O(m) (the m exponentials, replicated) + O(d / p) (the merge) per rank; memory
// per rank m + 8 doubles (P) + 3 min(draws_r, d / p) words (picks, counts, weights), plus the
// gathered result (2 x columns kept).
void sample_by_scores(const dist::Comm& comm, std::int64_t col0, const std::vector<double>& q, std::int64_t m,
                      std::uint64_t seed, Result& out);

// out.columns, out.weights := every rank's selected (global, ascending per rank) columns and their
// weights, in rank order (ascending), replicated: allgather of p counts, allgatherv of 2 x kept words.
void gather_selection(const dist::Comm& comm, const std::vector<std::int64_t>& cols, const std::vector<double>& weights,
                      Result& out);

}  // namespace attnbench::sparsify
