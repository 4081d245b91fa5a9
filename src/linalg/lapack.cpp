#include "linalg/lapack.hpp"

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "core/error.hpp"

// Raw Fortran LAPACK prototypes (OpenBLAS exports them); only here.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
void strtri_(const char* uplo, const char* diag, const int* n, float* a, const int* lda, int* info);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda, double* b,
             const int* ldb, int* info);
void spotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* lda, float* b,
             const int* ldb, int* info);
void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b, const int* ldb,
            int* info);
void sposv_(const char* uplo, const int* n, const int* nrhs, float* a, const int* lda, float* b, const int* ldb,
            int* info);
void dgesv_(const int* n, const int* nrhs, double* a, const int* lda, int* ipiv, double* b, const int* ldb, int* info);
void sgesv_(const int* n, const int* nrhs, float* a, const int* lda, int* ipiv, float* b, const int* ldb, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
void dgels_(const char* trans, const int* m, const int* n, const int* nrhs, double* a, const int* lda, double* b,
            const int* ldb, double* work, const int* lwork, int* info);
void sgels_(const char* trans, const int* m, const int* n, const int* nrhs, float* a, const int* lda, float* b,
            const int* ldb, float* work, const int* lwork, int* info);
}

namespace attnbench::linalg {

namespace {
int narrow(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw internal_error(std::string("LAPACK argument out of int range: ") + what);
  return static_cast<int>(v);
}
// Leading dimensions must be >= 1 even for empty matrices.
int narrow_ld(std::int64_t v, const char* what) { return std::max(1, narrow(v, what)); }
const char* uc(Uplo u) { return u == Uplo::lower ? "L" : "U"; }

template <class T, class F>
int potrf_t(F f, Uplo uplo, std::int64_t n, T* A, std::int64_t lda) {
  const int nn = narrow(n, "n"), ld = narrow_ld(lda, "lda");
  int info = 0;
  f(uc(uplo), &nn, A, &ld, &info);
  return info;
}
template <class T, class F>
int trtri_t(F f, Uplo uplo, std::int64_t n, T* A, std::int64_t lda) {
  const int nn = narrow(n, "n"), ld = narrow_ld(lda, "lda");
  int info = 0;
  f(uc(uplo), "N", &nn, A, &ld, &info);
  return info;
}
template <class T, class F>
int potrs_t(F f, Uplo uplo, std::int64_t n, std::int64_t nrhs, const T* A, std::int64_t lda, T* B, std::int64_t ldb) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs"), la = narrow_ld(lda, "lda"), lb = narrow_ld(ldb, "ldb");
  int info = 0;
  f(uc(uplo), &nn, &nr, A, &la, B, &lb, &info);
  return info;
}
template <class T, class F>
int posv_t(F f, Uplo uplo, std::int64_t n, std::int64_t nrhs, T* A, std::int64_t lda, T* B, std::int64_t ldb) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs"), la = narrow_ld(lda, "lda"), lb = narrow_ld(ldb, "ldb");
  int info = 0;
  f(uc(uplo), &nn, &nr, A, &la, B, &lb, &info);
  return info;
}
template <class T, class F>
int gesv_t(F f, std::int64_t n, std::int64_t nrhs, T* A, std::int64_t lda, T* B, std::int64_t ldb) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs"), la = narrow_ld(lda, "lda"), lb = narrow_ld(ldb, "ldb");
  std::vector<int> ipiv(static_cast<std::size_t>(std::max(nn, 1)));
  int info = 0;
  f(&nn, &nr, A, &la, ipiv.data(), B, &lb, &info);
  return info;
}
template <class T, class F>
int syevd_t(F f, bool vectors, Uplo uplo, std::int64_t n, T* A, std::int64_t lda, T* w) {
  const int nn = narrow(n, "n"), la = narrow_ld(lda, "lda");
  const char* jobz = vectors ? "V" : "N";
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  T work_size = 0;
  f(jobz, uc(uplo), &nn, A, &la, w, &work_size, &lwork, &iwork_size, &liwork, &info);  // workspace query
  if (info != 0) return info;
  lwork = std::max(1, static_cast<int>(work_size));
  liwork = std::max(1, iwork_size);
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  f(jobz, uc(uplo), &nn, A, &la, w, work.data(), &lwork, iwork.data(), &liwork, &info);
  return info;
}
template <class T, class F>
int gels_t(F f, std::int64_t m, std::int64_t n, std::int64_t nrhs, T* A, std::int64_t lda, T* B, std::int64_t ldb) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs"), la = narrow_ld(lda, "lda"),
            lb = narrow_ld(ldb, "ldb");
  int info = 0, lwork = -1;
  T work_size = 0;
  f("N", &mm, &nn, &nr, A, &la, B, &lb, &work_size, &lwork, &info);
  if (info != 0) return info;
  lwork = std::max(1, static_cast<int>(work_size));
  std::vector<T> work(static_cast<std::size_t>(lwork));
  f("N", &mm, &nn, &nr, A, &la, B, &lb, work.data(), &lwork, &info);
  return info;
}
}  // namespace

int potrf(Uplo u, std::int64_t n, double* A, std::int64_t lda) { return potrf_t(dpotrf_, u, n, A, lda); }
int potrf(Uplo u, std::int64_t n, float* A, std::int64_t lda) { return potrf_t(spotrf_, u, n, A, lda); }
int trtri(Uplo u, std::int64_t n, double* A, std::int64_t lda) { return trtri_t(dtrtri_, u, n, A, lda); }
int trtri(Uplo u, std::int64_t n, float* A, std::int64_t lda) { return trtri_t(strtri_, u, n, A, lda); }
int potrs(Uplo u, std::int64_t n, std::int64_t r, const double* A, std::int64_t lda, double* B, std::int64_t ldb) {
  return potrs_t(dpotrs_, u, n, r, A, lda, B, ldb);
}
int potrs(Uplo u, std::int64_t n, std::int64_t r, const float* A, std::int64_t lda, float* B, std::int64_t ldb) {
  return potrs_t(spotrs_, u, n, r, A, lda, B, ldb);
}
int posv(Uplo u, std::int64_t n, std::int64_t r, double* A, std::int64_t lda, double* B, std::int64_t ldb) {
  return posv_t(dposv_, u, n, r, A, lda, B, ldb);
}
int posv(Uplo u, std::int64_t n, std::int64_t r, float* A, std::int64_t lda, float* B, std::int64_t ldb) {
  return posv_t(sposv_, u, n, r, A, lda, B, ldb);
}
int gesv(std::int64_t n, std::int64_t r, double* A, std::int64_t lda, double* B, std::int64_t ldb) {
  return gesv_t(dgesv_, n, r, A, lda, B, ldb);
}
int gesv(std::int64_t n, std::int64_t r, float* A, std::int64_t lda, float* B, std::int64_t ldb) {
  return gesv_t(sgesv_, n, r, A, lda, B, ldb);
}
int syevd(bool v, Uplo u, std::int64_t n, double* A, std::int64_t lda, double* w) {
  return syevd_t(dsyevd_, v, u, n, A, lda, w);
}
int syevd(bool v, Uplo u, std::int64_t n, float* A, std::int64_t lda, float* w) {
  return syevd_t(ssyevd_, v, u, n, A, lda, w);
}
int gels(std::int64_t m, std::int64_t n, std::int64_t r, double* A, std::int64_t lda, double* B, std::int64_t ldb) {
  return gels_t(dgels_, m, n, r, A, lda, B, ldb);
}
int gels(std::int64_t m, std::int64_t n, std::int64_t r, float* A, std::int64_t lda, float* B, std::int64_t ldb) {
  return gels_t(sgels_, m, n, r, A, lda, B, ldb);
}

}  // namespace attnbench::linalg
