#pragma once
// Typed LAPACK wrapper (OpenBLAS's LAPACK). The raw Fortran prototypes live only in lapack.cpp;
// callers see float and double overloads with 64-bit sizes, narrowed to LAPACK's int with a check
// (an internal error naming the argument). Storage is COLUMN-major, as LAPACK's: a symmetric
// row-major matrix is the same array (use the opposite triangle: row-major Lower = column-major
// Upper). Routines return LAPACK's `info`; what a non-zero info means (a leading minor that is not
// positive, a singular pivot) is for the caller to turn into an error that names it.
#include <cstdint>
#include <vector>

namespace attnbench::linalg {

enum class Uplo { lower, upper };

// Cholesky A = L L^T (lower) or U^T U (upper), in place. n^3/3 flops. info > 0: the leading minor
// of order info is not positive definite.
int potrf(Uplo uplo, std::int64_t n, double* A, std::int64_t lda);
int potrf(Uplo uplo, std::int64_t n, float* A, std::int64_t lda);
// Inverse of a triangular matrix in place (lower or upper, non-unit diagonal). n^3/3 flops. info > 0:
// A(info, info) is exactly zero.
int trtri(Uplo uplo, std::int64_t n, double* A, std::int64_t lda);
int trtri(Uplo uplo, std::int64_t n, float* A, std::int64_t lda);
// Solve with a potrf factor: B[n x nrhs] := A^{-1} B. 2 n^2 nrhs flops.
int potrs(Uplo uplo, std::int64_t n, std::int64_t nrhs, const double* A, std::int64_t lda, double* B, std::int64_t ldb);
int potrs(Uplo uplo, std::int64_t n, std::int64_t nrhs, const float* A, std::int64_t lda, float* B, std::int64_t ldb);
// potrf + potrs.
int posv(Uplo uplo, std::int64_t n, std::int64_t nrhs, double* A, std::int64_t lda, double* B, std::int64_t ldb);
int posv(Uplo uplo, std::int64_t n, std::int64_t nrhs, float* A, std::int64_t lda, float* B, std::int64_t ldb);
// LU with partial pivoting and solve: B := A^{-1} B. 2 n^3/3 + 2 n^2 nrhs flops. info > 0: U(info,info) = 0.
int gesv(std::int64_t n, std::int64_t nrhs, double* A, std::int64_t lda, double* B, std::int64_t ldb);
int gesv(std::int64_t n, std::int64_t nrhs, float* A, std::int64_t lda, float* B, std::int64_t ldb);
// Symmetric eigendecomposition (divide and conquer): w ascending; with vectors, A := eigenvectors
// (column j of the column-major A is the j-th eigenvector). About 9 n^3 flops with vectors.
int syevd(bool vectors, Uplo uplo, std::int64_t n, double* A, std::int64_t lda, double* w);
int syevd(bool vectors, Uplo uplo, std::int64_t n, float* A, std::int64_t lda, float* w);
// Least squares min |A X - B| for A [m x n], m >= n, full rank (QR): B's first n rows := X.
int gels(std::int64_t m, std::int64_t n, std::int64_t nrhs, double* A, std::int64_t lda, double* B, std::int64_t ldb);
int gels(std::int64_t m, std::int64_t n, std::int64_t nrhs, float* A, std::int64_t lda, float* B, std::int64_t ldb);

}  // namespace attnbench::linalg
