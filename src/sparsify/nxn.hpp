#pragma once
// The n x n dense work of the sparsify kernel (n = tokens, small next to d): the Gram matrix
// M = X X^T, its Cholesky factor, eigendecompositions, whitening. All n x n matrices are
// row-major std::vector<double>, replicated on every rank, in double whatever X's precision.
//
// The factorizations run on the grid layer's dense solver (grid/dense_solver.hpp), so the
// algorithms do not know which backend runs them: replicated LAPACK (every rank factors its own
// copy, n^3/3 flops for potrf, about 9 n^3 for syevd with vectors, no communication) or ScaLAPACK
// (p?potrf / p?syevd on the squarest process grid, for large n; chosen by make_solver from
// --scalapack-threshold).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "grid/dense_solver.hpp"
#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

// The kernel's n x n solver: the grid layer's dense solver, in double.
using NxnSolver = grid::DenseSolver<double>;

// The solver for n: ScaLAPACK on the squarest grid (blocks of 64) when threshold > 0 and
// n >= threshold, else replicated LAPACK. Collective over comm.
std::unique_ptr<NxnSolver> make_solver(const dist::Comm& comm, std::int64_t n, std::int64_t threshold);

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
