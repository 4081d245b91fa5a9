#pragma once
// The `solve` kernel's library: A X = B on a 2-D block-cyclic grid with ScaLAPACK, the way HPL
// proves LU - a synthetic symmetric positive-definite A or one read from HDF5, Cholesky
// (p?potrf + p?potrs) or LU (p?gesv), and an HPL-style scaled residual computed distributed.
//
// Memory per rank (p = p_r p_c ranks, N x N matrix, nrhs right-hand sides): the original A and a
// work copy that the factorization overwrites, 2 N^2 / p elements (plus block imbalance); B, X, and
// while the residual is computed R and a scaled X, 4 N nrhs / p; LU's pivots, N / p_r + nb ints.
// Generation adds G (N x k) / p and two temporaries of A; reading a cholesky input adds one
// (footprint_bytes states the peak, checked against the node before anything is allocated).
#include <cstdint>
#include <string>

#include "core/enum_names.hpp"
#include "grid/dist_matrix.hpp"
#include "grid/process_grid.hpp"

namespace attnbench::solve {

enum class Algorithm { cholesky, lu };
inline constexpr EnumNames<Algorithm, 2> kAlgorithmNames{{{Algorithm::cholesky, "cholesky"}, {Algorithm::lu, "lu"}}};
std::string to_string(Algorithm a);
Algorithm parse_algorithm(const std::string& s);  // usage error naming --algo, the same on every rank

// Work model of one solve: Cholesky N^3/3 + 2 N^2 nrhs, LU 2 N^3/3 + 2 N^2 nrhs flops.
double flops(Algorithm a, std::int64_t n, std::int64_t nrhs);
std::string flops_formula(Algorithm a);

// HPL's threshold on the scaled residual |A X - B|_inf / (|A|_inf |X|_inf N eps).
inline constexpr double kResidualThreshold = 16.0;

// Bytes this rank holds at the peak of a run, by formula, before anything is allocated; saturates
// at INT64_MAX instead of overflowing. With a = this rank's entries of the N x N block-cyclic A and
// b of the N x nrhs B: set-up 3 a + g (synthetic, synthetic_k > 0: A, the transpose and difference
// symmetrize_from_lower makes, G's N x k entries g) or 2 a + b (input: A, its transpose for the
// symmetry check, B), then the solver's 2 a + 4 b (A, work; B, X, R, scaled X).
std::int64_t footprint_bytes(const grid::GridShape& shape, int rank, std::int64_t n, std::int64_t nrhs,
                             std::int64_t block, std::int64_t synthetic_k, std::size_t element_size);

// ---- synthetic problem --------------------------------------------------------------------------
// A = G G^T / k + delta I with G (N x k, k = min(rank, max(1, N / 2))) uniform in [-1, 1] from
// (seed, global index), made exactly symmetric from its lower triangle; symmetric positive definite
// for any delta > 0. Its largest eigenvalue is about lambda = (1 + sqrt(N / k))^2 / 3
// (Marchenko-Pastur for entries of variance 1/3) and, k < N, its smallest is exactly delta, so
// delta = lambda / (condition - 1) gives cond_2(A) ~ condition (within a factor 3 in the tests).
// Generation: one p?gemm of 2 N^2 k flops (not the O(N^3) of a square G) and one p?tran.
inline constexpr std::int64_t kSyntheticRank = 256;
struct SyntheticSpec {
  std::int64_t n = 0;
  std::int64_t nrhs = 1;
  double condition = 1e3;
  std::uint64_t seed = 42;
  std::int64_t rank = kSyntheticRank;
  std::int64_t k() const noexcept {
    const std::int64_t half = n / 2 > 1 ? n / 2 : 1;
    return half < rank ? half : rank;
  }
  double lambda_max_estimate() const;
  double shift() const;  // delta
  // The largest condition the generator honours in a precision of machine epsilon eps:
  // lambda_max / (10 sqrt(N) eps). The computed A is G G^T / k + delta I plus a rounding error E
  // (p?gemm's sums, the diagonal shift); cond_2 ~ condition needs delta well above |E|_2. Measured
  // with NumPy (float32 vs exact, N = 128..2048, k = min(256, N / 2)): |E|_2 = 0.08-0.14 sqrt(N) eps.
  // The bound keeps delta >= 10 sqrt(N) eps >= 70 |E|_2, so lambda_min stays within 2% of delta
  // (and A positive definite); beyond it --condition would ask for a matrix the precision cannot
  // hold (e.g. 1e300: delta = 1e-300, lost entirely when added to a diagonal of about 1/3).
  double max_condition(double eps) const;
};
// G's entry (i, j) and B's entry (i, j): pure functions of (seed, global index).
double synthetic_g(std::uint64_t seed, std::int64_t k, std::int64_t i, std::int64_t j);
double synthetic_b(std::uint64_t seed, std::int64_t nrhs, std::int64_t i, std::int64_t j);
// Collective over the grid.
template <class T>
grid::BlockCyclicMatrix<T> synthetic_matrix(const grid::ProcessGrid& g, const SyntheticSpec& s, std::int64_t block);
template <class T>
grid::BlockCyclicMatrix<T> synthetic_rhs(const grid::ProcessGrid& g, const SyntheticSpec& s, std::int64_t block);

// ---- input from HDF5 ------------------------------------------------------------------------------
// /A (N x N) and /B (N x nrhs), 2-D, float32 or float64 (converted to T), read straight into the
// block-cyclic layout. Every problem (missing file or dataset, wrong rank or shape, not floating
// point, a NaN/Inf) is an input error naming the file and dataset, agreed on every rank.
// The declared sizes are checked against the node's memory (footprint_bytes, exit 3 naming the
// file) before anything is read.
// For Cholesky, p?potrf reads only /A's lower triangle, so an /A whose upper triangle differs from
// it would be solved as another matrix. /A is checked to be symmetric up to rounding:
//   max|A - A^T| <= asymmetry_bound = 2 N eps max|A|,   eps of the coarser of the file's type and T.
// Why this bound: a symmetric matrix computed in floating point (a Gram matrix G G^T with inner
// dimension k <= N, the usual source) has each entry within gamma_k sqrt(a_ii a_jj) <= k eps max|A|
// of the exact one (Higham, Accuracy and Stability, 2nd ed., eq. 3.5 for dot products; Cauchy-
// Schwarz), so its (i, j) and (j, i) entries differ by at most 2 N eps max|A|; converting a file to
// a coarser T adds at most one ulp of T. Beyond that it is not rounding: an input error (exit 3)
// naming the measured asymmetry and --algo lu. /A is kept as given: the residual is always that of
// the user's matrix.
template <class T>
struct Problem {
  grid::BlockCyclicMatrix<T> A, B;
  double asymmetry = 0.0;        // cholesky: max|A - A^T| / max|A| of the input (0 for lu)
  double asymmetry_bound = 0.0;  // cholesky: 2 N eps, the largest relative asymmetry accepted
};
template <class T>
Problem<T> read_input(const grid::ProcessGrid& g, const std::string& path, std::int64_t block,
                      Algorithm algo = Algorithm::cholesky);

// ---- the solver ---------------------------------------------------------------------------------
// The HPL scaled residual without overflow or underflow: A, X (and B) are scaled by powers of two
// (exact) so that max|A| and max|X| lie in [1/2, 1) before R = A X - B and the norms are formed, and
// the ratio is taken of the scaled quantities (it is invariant under that scaling). A non-finite X
// or a residual that still overflows gives scaled = Inf: never a pass. The norms are reported
// unscaled; one beyond the float64 range is Inf (and the run INVALID: it cannot be archived).
struct Residual {
  double residual_norm = 0;  // |A X - B|_inf
  double a_norm = 0;         // |A|_inf
  double x_norm = 0;         // |X|_inf
  double b_norm = 0;         // |B|_inf
  double scaled = 0;         // residual_norm / (a_norm x_norm N eps)
  double rcond = 0;          // 1 / cond_1(A) estimated from the factor (p?pocon / p?gecon)
};

// Collective over the grid. The scaled residual of X for A X = B as described at Residual (rcond
// left 0). `scratch` has A's layout and is overwritten (the solver passes its work copy).
template <class T>
Residual scaled_residual(const grid::ProcessGrid& g, const grid::BlockCyclicMatrix<T>& A,
                         const grid::BlockCyclicMatrix<T>& X, const grid::BlockCyclicMatrix<T>& B,
                         grid::BlockCyclicMatrix<T>& scratch);

struct StepTimes {
  double copy = 0, factor = 0, solve = 0;  // seconds on this rank; LU: p?gesv is all in `factor`
};

template <class T>
class Solver {
 public:
  // Keeps A and B (the originals) for repeated solves and the residual; `g` must outlive it.
  Solver(const grid::ProcessGrid& g, Algorithm algo, grid::BlockCyclicMatrix<T> A, grid::BlockCyclicMatrix<T> B);
  // Collective: one solve from the originals: copy A -> work, B -> X; factor; solve. A matrix that
  // is not positive definite (Cholesky) or exactly singular (LU) is an input error naming the minor
  // or pivot, thrown on every rank (ScaLAPACK's info is agreed first).
  StepTimes run();
  // Collective, after run(): the condition estimate from the factor run() left in the work copy
  // (p?pocon / p?gecon, O(N^2)), then the scaled residual (scaled_residual, p?gemm and p?lange on
  // scaled copies), which uses the work copy as scratch. Called again without a run(), it returns
  // the same rcond (kept) and recomputes the residual.
  Residual residual();
  const grid::BlockCyclicMatrix<T>& solution() const noexcept { return X_; }
  const grid::BlockCyclicMatrix<T>& matrix() const noexcept { return A_; }
  std::int64_t n() const noexcept { return A_.rows(); }
  std::int64_t nrhs() const noexcept { return B_.cols(); }
  Algorithm algorithm() const noexcept { return algo_; }
  // Bytes of this rank's buffers (A, its work copy, B, X, and the residual's R and scaled X).
  std::int64_t buffer_bytes() const noexcept;

 private:
  const grid::ProcessGrid* grid_;
  Algorithm algo_;
  grid::BlockCyclicMatrix<T> A_, B_, work_, X_;
  bool factored_ = false;  // work_ holds the factor of the last run()
  double rcond_ = 0.0;
};

}  // namespace attnbench::solve
