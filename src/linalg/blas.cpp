#include "linalg/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>

#include "core/error.hpp"

namespace attnbench::linalg {

namespace {
blasint narrow(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw internal_error(std::string("BLAS argument out of int range: ") + what);
  return static_cast<blasint>(v);
}
CBLAS_TRANSPOSE cb(Trans t) { return t == Trans::yes ? CblasTrans : CblasNoTrans; }
}  // namespace

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, cb(ta), cb(tb), narrow(m, "m"), narrow(n, "n"), narrow(k, "k"), alpha, A,
              narrow(lda, "lda"), B, narrow(ldb, "ldb"), beta, C, narrow(ldc, "ldc"));
}
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* A,
          std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, cb(ta), cb(tb), narrow(m, "m"), narrow(n, "n"), narrow(k, "k"), alpha, A,
              narrow(lda, "lda"), B, narrow(ldb, "ldb"), beta, C, narrow(ldc, "ldc"));
}

void syrk(bool lower, Trans trans, std::int64_t n, std::int64_t k, double alpha, const double* A, std::int64_t lda,
          double beta, double* C, std::int64_t ldc) {
  if (n == 0) return;
  cblas_dsyrk(CblasRowMajor, lower ? CblasLower : CblasUpper, cb(trans), narrow(n, "n"), narrow(k, "k"), alpha, A,
              narrow(std::max<std::int64_t>(lda, 1), "lda"), beta, C, narrow(std::max<std::int64_t>(ldc, 1), "ldc"));
}
void syrk(bool lower, Trans trans, std::int64_t n, std::int64_t k, float alpha, const float* A, std::int64_t lda,
          float beta, float* C, std::int64_t ldc) {
  if (n == 0) return;
  cblas_ssyrk(CblasRowMajor, lower ? CblasLower : CblasUpper, cb(trans), narrow(n, "n"), narrow(k, "k"), alpha, A,
              narrow(std::max<std::int64_t>(lda, 1), "lda"), beta, C, narrow(std::max<std::int64_t>(ldc, 1), "ldc"));
}
namespace {
// The triangular BLAS-3 calls (trsm, trmm) share one signature: B := alpha op(A)^{+-1} B or B op(A)^{+-1}.
template <class T, class F>
void triangular(F f, bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, T alpha, const T* A,
                std::int64_t lda, T* B, std::int64_t ldb) {
  if (m == 0 || n == 0) return;
  f(CblasRowMajor, left ? CblasLeft : CblasRight, lower ? CblasLower : CblasUpper, cb(ta), unit ? CblasUnit : CblasNonUnit,
    narrow(m, "m"), narrow(n, "n"), alpha, A, narrow(lda, "lda"), B, narrow(ldb, "ldb"));
}
}  // namespace

void trsm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, double alpha, const double* A,
          std::int64_t lda, double* B, std::int64_t ldb) {
  triangular(cblas_dtrsm, left, lower, ta, unit, m, n, alpha, A, lda, B, ldb);
}
void trsm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, float alpha, const float* A,
          std::int64_t lda, float* B, std::int64_t ldb) {
  triangular(cblas_strsm, left, lower, ta, unit, m, n, alpha, A, lda, B, ldb);
}
void trmm(bool left, bool lower, Trans ta, bool unit, std::int64_t m, std::int64_t n, double alpha, const double* A,
          std::int64_t lda, double* B, std::int64_t ldb) {
  triangular(cblas_dtrmm, left, lower, ta, unit, m, n, alpha, A, lda, B, ldb);
}

void set_blas_threads(int threads) { openblas_set_num_threads(threads); }
int blas_threads() { return openblas_get_num_threads(); }
std::string blas_core() { return openblas_get_corename(); }
std::string blas_library() { return std::string("OpenBLAS ") + openblas_get_config() + " core=" + blas_core(); }

}  // namespace attnbench::linalg
