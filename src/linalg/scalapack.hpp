#pragma once
// Typed BLACS and ScaLAPACK wrapper (Debian's libscalapack-openmpi, which ships no C header). The
// raw prototypes live only in scalapack.cpp; callers see float and double overloads on whole global
// matrices (ia = ja = 1) described by a ScaLAPACK descriptor, with 64-bit sizes narrowed to int
// with a check (an internal error naming the argument).
//
// Errors: ScaLAPACK's `info` is a property of the whole distributed computation, but not every
// routine leaves the same value on every process. Every routine here that has an info agrees on it
// over the whole grid (one BLACS integer absolute-max, Cigamx2d over "All", a few bytes) before
// returning it, so a caller may throw on it on every rank without a hang. check_info() turns a
// non-zero info into an error naming the routine and the value.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "linalg/lapack.hpp"  // Uplo

namespace attnbench::linalg {

// ScaLAPACK's array descriptor: DTYPE_=1, CTXT_, M_, N_, MB_, NB_, RSRC_, CSRC_, LLD_.
using Descriptor = std::array<int, 9>;

// ---- BLACS -------------------------------------------------------------------------------------
namespace blacs {
// Csys2blacs_handle: a BLACS system handle for an MPI communicator (any communicator, not only
// the world: sizing a grid from Cblacs_pinfo would see every process of the job).
int system_handle(MPI_Comm comm);
void free_system_handle(int handle);
// Cblacs_gridinit with an explicit rank order: row_major = "Row" (rank r at (r / cols, r % cols)).
// Returns the context (-1 on a process outside the grid).
int gridinit(int system_handle, bool row_major, int rows, int cols);
void gridexit(int ctxt);
struct GridInfo {
  int rows = -1, cols = -1, row = -1, col = -1;
};
GridInfo gridinfo(int ctxt);
// The value of largest magnitude over every process of the grid, on every process (Cigamx2d).
int agree_max_abs(int ctxt, int value);
}  // namespace blacs

// ScaLAPACK's NUMROC: how many of n indices, dealt in blocks of nb over nprocs processes starting at
// process 0, process iproc owns (no communication; used to test grid::numroc against the library).
std::int64_t numroc(std::int64_t n, std::int64_t nb, int iproc, int nprocs);

// Throws attnbench::Error naming the routine and the value when info != 0: for info < 0 (an
// illegal argument: a bug here) an internal error; for info > 0 an error with `code` and `meaning`.
// `info` must be the agreed value these wrappers return: the error is marked agreed (every rank
// throws it), so main reports it once instead of aborting.
void check_info(const std::string& routine, int info, ExitCode code = ExitCode::internal,
                const std::string& meaning = "");

// ---- ScaLAPACK (whole matrices, ia = ja = 1); flop counts are for the whole grid ---------------
// Cholesky A = L L^T / U^T U in place (n^3/3 flops). Agreed info > 0: the leading minor of that
// order is not positive definite.
int ppotrf(Uplo uplo, std::int64_t n, double* A, const Descriptor& descA);
int ppotrf(Uplo uplo, std::int64_t n, float* A, const Descriptor& descA);
// B := A^{-1} B with a ppotrf factor (2 n^2 nrhs flops).
int ppotrs(Uplo uplo, std::int64_t n, std::int64_t nrhs, const double* A, const Descriptor& descA, double* B,
           const Descriptor& descB);
int ppotrs(Uplo uplo, std::int64_t n, std::int64_t nrhs, const float* A, const Descriptor& descA, float* B,
           const Descriptor& descB);
// ppotrf + ppotrs.
int pposv(Uplo uplo, std::int64_t n, std::int64_t nrhs, double* A, const Descriptor& descA, double* B,
          const Descriptor& descB);
int pposv(Uplo uplo, std::int64_t n, std::int64_t nrhs, float* A, const Descriptor& descA, float* B,
          const Descriptor& descB);
// LU with partial pivoting, then B := A^{-1} B (2 n^3/3 + 2 n^2 nrhs flops). A is overwritten by
// its factors. Agreed info > 0: U(info, info) is exactly zero.
int pgesv(std::int64_t n, std::int64_t nrhs, double* A, const Descriptor& descA, double* B, const Descriptor& descB);
int pgesv(std::int64_t n, std::int64_t nrhs, float* A, const Descriptor& descA, float* B, const Descriptor& descB);
// Symmetric eigendecomposition (divide and conquer, always with vectors as ScaLAPACK's p?syevd):
// w (n values, broadcast to every process from process (0, 0)) ascending, Z := eigenvectors (same layout as A). A is destroyed.
int psyevd(Uplo uplo, std::int64_t n, double* A, const Descriptor& descA, double* w, double* Z,
           const Descriptor& descZ);
int psyevd(Uplo uplo, std::int64_t n, float* A, const Descriptor& descA, float* w, float* Z,
           const Descriptor& descZ);
// C := alpha op(A) op(B) + beta C, op(X) = X or X^T; C is m x n, k the inner size (2 m n k flops).
void pgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
           const double* A, const Descriptor& descA, const double* B, const Descriptor& descB, double beta,
           double* C, const Descriptor& descC);
void pgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* A, const Descriptor& descA, const float* B, const Descriptor& descB, float beta, float* C,
           const Descriptor& descC);
// C := alpha A A^T + beta C (trans = false, A n x k) or alpha A^T A + beta C (trans = true, A k x n),
// only the `uplo` triangle of the n x n C is referenced (n^2 k flops).
void psyrk(Uplo uplo, bool trans, std::int64_t n, std::int64_t k, double alpha, const double* A,
           const Descriptor& descA, double beta, double* C, const Descriptor& descC);
void psyrk(Uplo uplo, bool trans, std::int64_t n, std::int64_t k, float alpha, const float* A,
           const Descriptor& descA, float beta, float* C, const Descriptor& descC);
// B := alpha op(A)^{-1} B (left) or alpha B op(A)^{-1} (right), A triangular (m^2 n / n^2 m flops).
void ptrsm(bool left, Uplo uplo, bool trans_a, bool unit_diag, std::int64_t m, std::int64_t n, double alpha,
           const double* A, const Descriptor& descA, double* B, const Descriptor& descB);
void ptrsm(bool left, Uplo uplo, bool trans_a, bool unit_diag, std::int64_t m, std::int64_t n, float alpha,
           const float* A, const Descriptor& descA, float* B, const Descriptor& descB);
// C := beta C + alpha A^T with A m x n and C n x m (p?tran; every entry moves to the owner of its
// transposed position).
void ptran(std::int64_t m, std::int64_t n, double alpha, const double* A, const Descriptor& descA, double beta,
           double* C, const Descriptor& descC);
void ptran(std::int64_t m, std::int64_t n, float alpha, const float* A, const Descriptor& descA, float beta, float* C,
           const Descriptor& descC);
// Infinity norm (largest absolute row sum) of the m x n A, on every process (p?lange 'I').
double pnorm_inf(std::int64_t m, std::int64_t n, const double* A, const Descriptor& descA);
double pnorm_inf(std::int64_t m, std::int64_t n, const float* A, const Descriptor& descA);
// One norm (largest absolute column sum) of the m x n A, on every process (p?lange '1').
double pnorm_one(std::int64_t m, std::int64_t n, const double* A, const Descriptor& descA);
double pnorm_one(std::int64_t m, std::int64_t n, const float* A, const Descriptor& descA);
// Reciprocal 1-norm condition number 1 / (anorm |A^{-1}|_1), |A^{-1}|_1 estimated (Hager/Higham,
// p?lacon: a few triangular solves with the factor, O(n^2) flops over the grid, no factorization)
// from the factor ppotrf (uplo triangle) or pgesv (L and U in place; the pivots are not needed:
// they permute columns of A^{-1}, which leaves its 1-norm unchanged) left in A. `anorm` is
// |A|_1 of the matrix that was factored; rcond is 0 when the estimate overflowed. Agreed info.
int ppocon(Uplo uplo, std::int64_t n, const double* A, const Descriptor& descA, double anorm, double& rcond);
int ppocon(Uplo uplo, std::int64_t n, const float* A, const Descriptor& descA, double anorm, double& rcond);
int pgecon(std::int64_t n, const double* A, const Descriptor& descA, double anorm, double& rcond);
int pgecon(std::int64_t n, const float* A, const Descriptor& descA, double anorm, double& rcond);

}  // namespace attnbench::linalg
