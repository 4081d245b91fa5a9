#pragma once
// The n x n dense work of the sparsify kernel (n = tokens, small next to d): the Gram matrix
// M = X X^T, its Cholesky factor, eigendecompositions, whitening. All n x n matrices are
// row-major std::vector<double>, replicated on every rank, in double whatever X's precision.
//
// The factorizations sit behind NxnSolver, so the algorithms do not know which path runs them:
// ReplicatedLapack (here: every rank factors its own copy, n^3/3 flops for potrf, about 9 n^3 for
// syevd with vectors, no communication) or ScalapackSolver (nxn_scalapack.hpp: p?potrf / p?syevd
// on the 2-D process grid, for large n; chosen by make_solver from --scalapack-threshold).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

class NxnSolver {
 public:
  virtual ~NxnSolver() = default;
  virtual std::string name() const = 0;
  // A (n x n symmetric positive definite) := L, lower triangular, A = L L^T; the strict upper
  // triangle is zeroed. Returns LAPACK's info (k > 0: the leading minor of order k is not positive).
  virtual int cholesky(std::int64_t n, std::vector<double>& A) const = 0;
  // Eigenvalues of the symmetric A, ascending, into w; with `vectors`, row k of A := the k-th
  // eigenvector (unit norm). Returns LAPACK's info.
  virtual int eigen(std::int64_t n, std::vector<double>& A, std::vector<double>& w, bool vectors) const = 0;
};

class ReplicatedLapack final : public NxnSolver {
 public:
  std::string name() const override { return "replicated-lapack"; }
  int cholesky(std::int64_t n, std::vector<double>& A) const override;
  int eigen(std::int64_t n, std::vector<double>& A, std::vector<double>& w, bool vectors) const override;
};

// M_local := X_local X_local^T (n x n, full symmetric). Dense: syrk, n^2 cols flops; sparse: one
// outer product per column, sum_j nnz_j^2 flops.
template <class T>
std::vector<double> local_gram(const ColumnBlock<T>& X);
// M := sum over ranks of X_r X_r^T. Data movement: one MPI_Allreduce of n^2 doubles.
template <class T>
std::vector<double> gram(const dist::Comm& comm, const ColumnBlock<T>& X);

// Cholesky of M with the rank-deficiency check the kernel needs: L (lower) with M = L L^T, or an
// input error naming the rank deficiency when M is not (numerically) positive definite: a pivot
// L_kk^2 <= n * 2^-52 * max_i M_ii counts as zero. Identical outcome on every rank (replicated M).
std::vector<double> cholesky_or_rank_error(const NxnSolver& solver, std::int64_t n, std::vector<double> M);

// B (n x k, row-major) := L^{-1} B, L lower (n x k B). n^2 k flops.
void lower_solve(std::int64_t n, std::int64_t k, const std::vector<double>& L, double* B);
// W := L^{-1} (lower triangular, row-major), formed once by LAPACK trtri (n^3/3 flops), so that the
// work of applying it to many columns runs as triangular products (trmm, GEMM kernels) or as gathers
// of W's columns for sparse x. Accuracy: the computed inverse has a small residual, |W L - I| <=
// c n u |W| |L| (Du Croz and Higham, 1992, for the column-oriented inversion of LAPACK's trtri), so
// W x = (I + E) L^{-1} x with |E| <= c n u cond(L): the relative error of |W x|^2 is at most about
// 2 c n u cond(L), cond(L) = sqrt(cond(X X^T)) - the same order as the triangular solve's forward
// error (tests: SparsifyScores.ExplicitInverseWithinTheConditionBound). The Gram's own rounding moves
// the scores by up to about cond(M) u whatever the solve. cholesky_or_rank_error has already
// rejected an M whose pivots vanish below n u max M_ii.
std::vector<double> lower_inverse(std::int64_t n, const std::vector<double>& L);
// S := L^{-1} S L^{-T} (n x n). 2 n^3 flops.
void whiten(std::int64_t n, const std::vector<double>& L, std::vector<double>& S);

}  // namespace attnbench::sparsify
