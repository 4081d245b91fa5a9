#pragma once
// Typed BLAS wrapper. The raw CBLAS/OpenBLAS prototypes live only in blas.cpp; callers see float and
// double overloads with 64-bit sizes, narrowed to BLAS's int with a check.
#include <cstdint>
#include <string>

namespace attnbench::linalg {

enum class Trans { no, yes };

// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, all row-major with leading dimensions.
// Cost: 2 m n k flops.
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* A,
          std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc);

// C[n x n] = alpha * A A^T + beta * C (trans no; A is n x k) or alpha * A^T A + beta * C (trans yes; A is
// k x n), row-major; only the `lower` (or upper) triangle of C is referenced and written. n^2 k flops.
void syrk(bool lower, Trans trans, std::int64_t n, std::int64_t k, double alpha, const double* A, std::int64_t lda,
          double beta, double* C, std::int64_t ldc);
void syrk(bool lower, Trans trans, std::int64_t n, std::int64_t k, float alpha, const float* A, std::int64_t lda,
          float beta, float* C, std::int64_t ldc);
// Triangular solve, row-major: B[m x n] := alpha * op(A)^{-1} B (left) or alpha * B op(A)^{-1} (right),
// A triangular (lower or upper), unit diagonal if `unit`. m n^2 (right) or n m^2 (left) flops.
void trsm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, double alpha, const double* A,
          std::int64_t lda, double* B, std::int64_t ldb);
void trsm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, float alpha, const float* A,
          std::int64_t lda, float* B, std::int64_t ldb);
// Triangular product, row-major: B[m x n] := alpha * op(A) B (left) or alpha * B op(A) (right), A triangular.
// m n^2 (right) or n m^2 (left) flops: half a GEMM of the same shape, built on OpenBLAS's GEMM kernels.
void trmm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, double alpha, const double* A,
          std::int64_t lda, double* B, std::int64_t ldb);

// Threads used by each BLAS call of this process (OpenBLAS's pthread pool).
void set_blas_threads(int threads);
int blas_threads();
// Library identification for provenance, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Zen".
std::string blas_library();
// The kernel family OpenBLAS dispatched to on this CPU (e.g. "Haswell", "SkylakeX"; the
// OPENBLAS_CORETYPE environment variable forces one). Families round GEMMs of different shapes
// differently, which is why results that pass through rank-count-dependent BLAS shapes are
// compared to rounding, never bitwise.
std::string blas_core();

}  // namespace attnbench::linalg
