#pragma once
// The `solve` kernel's library: A X = B on a 2-D block-cyclic grid with ScaLAPACK, the way HPL
// proves LU - a synthetic symmetric positive-definite A or one read from HDF5, Cholesky
// (p?potrf + p?potrs) or LU (p?gesv), and an HPL-style scaled residual computed distributed.
//
// Memory per rank (p = p_r p_c ranks, N x N matrix, nrhs right-hand sides): the original A and a
// work copy that the factorization overwrites, 2 N^2 / p elements (plus block imbalance); B, X and
// the residual R, 3 N nrhs / p; LU's pivots, N / p_r + nb ints. Generation adds G (N x k) / p.
#include <cstdint>
#include <string>

#include "grid/dist_matrix.hpp"
#include "grid/process_grid.hpp"

namespace attnbench::solve {

enum class Algorithm { cholesky, lu };
std::string to_string(Algorithm a);
Algorithm parse_algorithm(const std::string& s);  // "cholesky" | "lu"; usage error naming --algo

// Work model of one solve: Cholesky N^3/3 + 2 N^2 nrhs, LU 2 N^3/3 + 2 N^2 nrhs flops.
double flops(Algorithm a, std::int64_t n, std::int64_t nrhs);
std::string flops_formula(Algorithm a);

// HPL's threshold on the scaled residual |A X - B|_inf / (|A|_inf |X|_inf N eps).
inline constexpr double kResidualThreshold = 16.0;

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
// For Cholesky, only /A's lower triangle is used (as by p?potrf): the upper one is replaced by it,
// so the residual is that of the matrix actually factored; the input's relative asymmetry
// |A - A^T|_inf / |A|_inf is returned (archived) so a non-symmetric file does not go unnoticed.
template <class T>
struct Problem {
  grid::BlockCyclicMatrix<T> A, B;
  double asymmetry = 0.0;
};
template <class T>
Problem<T> read_input(const grid::ProcessGrid& g, const std::string& path, std::int64_t block,
                      Algorithm algo = Algorithm::cholesky);

// ---- the solver ---------------------------------------------------------------------------------
struct Residual {
  double residual_norm = 0;  // |A X - B|_inf
  double a_norm = 0;         // |A|_inf
  double x_norm = 0;         // |X|_inf
  double b_norm = 0;         // |B|_inf
  double scaled = 0;         // residual_norm / (a_norm x_norm N eps)
};

struct StepTimes {
  double copy = 0, factor = 0, solve = 0;  // seconds on this rank; LU: p?gesv is all in `factor`
};

template <class T>
class Solver {
 public:
  // Keeps A and B (the originals) for repeated solves and the residual.
  Solver(const grid::ProcessGrid& g, Algorithm algo, grid::BlockCyclicMatrix<T> A, grid::BlockCyclicMatrix<T> B);
  // Collective: one solve from the originals: copy A -> work, B -> X; factor; solve. A matrix that
  // is not positive definite (Cholesky) or exactly singular (LU) is an input error naming the minor
  // or pivot, thrown on every rank (ScaLAPACK's info is agreed first).
  StepTimes run();
  // Collective: R := A X - B with p?gemm, then four p?lange norms.
  Residual residual() const;
  const grid::BlockCyclicMatrix<T>& solution() const noexcept { return X_; }
  const grid::BlockCyclicMatrix<T>& matrix() const noexcept { return A_; }
  std::int64_t n() const noexcept { return A_.rows(); }
  std::int64_t nrhs() const noexcept { return B_.cols(); }
  Algorithm algorithm() const noexcept { return algo_; }
  // Bytes of this rank's buffers (A, its work copy, B, X, and the residual's R when computed).
  std::int64_t buffer_bytes() const noexcept;

 private:
  const grid::ProcessGrid& grid_;
  Algorithm algo_;
  grid::BlockCyclicMatrix<T> A_, B_, work_, X_;
};

}  // namespace attnbench::solve
