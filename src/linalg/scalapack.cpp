#include "linalg/scalapack.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

// Raw BLACS (C interface) and ScaLAPACK (Fortran) prototypes; only here.
extern "C" {
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int* ctxt, char* order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_gridexit(int ctxt);
void Cigamx2d(int ctxt, char* scope, char* top, int m, int n, int* A, int lda, int* rA, int* cA, int ldia, int rdest,
              int cdest);
void Cdgamn2d(int ctxt, char* scope, char* top, int m, int n, double* A, int lda, int* rA, int* cA, int ldia, int rdest,
              int cdest);
void Cdgebs2d(int ctxt, char* scope, char* top, int m, int n, double* A, int lda);
void Cdgebr2d(int ctxt, char* scope, char* top, int m, int n, double* A, int lda, int rsrc, int csrc);
void Csgebs2d(int ctxt, char* scope, char* top, int m, int n, float* A, int lda);
void Csgebr2d(int ctxt, char* scope, char* top, int m, int n, float* A, int lda, int rsrc, int csrc);
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);

void pdpotrf_(const char* uplo, const int* n, double* a, const int* ia, const int* ja, const int* desca, int* info);
void pspotrf_(const char* uplo, const int* n, float* a, const int* ia, const int* ja, const int* desca, int* info);
void pdpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* ia, const int* ja,
              const int* desca, double* b, const int* ib, const int* jb, const int* descb, int* info);
void pspotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* ia, const int* ja,
              const int* desca, float* b, const int* ib, const int* jb, const int* descb, int* info);
void pdposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* ia, const int* ja, const int* desca,
             double* b, const int* ib, const int* jb, const int* descb, int* info);
void psposv_(const char* uplo, const int* n, const int* nrhs, float* a, const int* ia, const int* ja, const int* desca,
             float* b, const int* ib, const int* jb, const int* descb, int* info);
void pdgesv_(const int* n, const int* nrhs, double* a, const int* ia, const int* ja, const int* desca, int* ipiv,
             double* b, const int* ib, const int* jb, const int* descb, int* info);
void psgesv_(const int* n, const int* nrhs, float* a, const int* ia, const int* ja, const int* desca, int* ipiv,
             float* b, const int* ib, const int* jb, const int* descb, int* info);
void pdsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* ia, const int* ja,
              const int* desca, double* w, double* z, const int* iz, const int* jz, const int* descz, double* work,
              const int* lwork, int* iwork, const int* liwork, int* info);
void pssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* ia, const int* ja,
              const int* desca, float* w, float* z, const int* iz, const int* jz, const int* descz, float* work,
              const int* lwork, int* iwork, const int* liwork, int* info);
void pdgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
             const double* a, const int* ia, const int* ja, const int* desca, const double* b, const int* ib,
             const int* jb, const int* descb, const double* beta, double* c, const int* ic, const int* jc,
             const int* descc);
void psgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
             const float* a, const int* ia, const int* ja, const int* desca, const float* b, const int* ib,
             const int* jb, const int* descb, const float* beta, float* c, const int* ic, const int* jc,
             const int* descc);
void pdsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha, const double* a,
             const int* ia, const int* ja, const int* desca, const double* beta, double* c, const int* ic,
             const int* jc, const int* descc);
void pssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha, const float* a,
             const int* ia, const int* ja, const int* desca, const float* beta, float* c, const int* ic,
             const int* jc, const int* descc);
void pdtrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const double* alpha, const double* a, const int* ia, const int* ja, const int* desca, double* b,
             const int* ib, const int* jb, const int* descb);
void pstrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
             const float* alpha, const float* a, const int* ia, const int* ja, const int* desca, float* b,
             const int* ib, const int* jb, const int* descb);
void pdtran_(const int* m, const int* n, const double* alpha, const double* a, const int* ia, const int* ja,
             const int* desca, const double* beta, double* c, const int* ic, const int* jc, const int* descc);
void pstran_(const int* m, const int* n, const float* alpha, const float* a, const int* ia, const int* ja,
             const int* desca, const float* beta, float* c, const int* ic, const int* jc, const int* descc);
double pdlange_(const char* norm, const int* m, const int* n, const double* a, const int* ia, const int* ja,
                const int* desca, double* work);
float pslange_(const char* norm, const int* m, const int* n, const float* a, const int* ia, const int* ja,
               const int* desca, float* work);
void pdpocon_(const char* uplo, const int* n, const double* a, const int* ia, const int* ja, const int* desca,
              const double* anorm, double* rcond, double* work, const int* lwork, int* iwork, const int* liwork,
              int* info);
void pspocon_(const char* uplo, const int* n, const float* a, const int* ia, const int* ja, const int* desca,
              const float* anorm, float* rcond, float* work, const int* lwork, int* iwork, const int* liwork,
              int* info);
void pdgecon_(const char* norm, const int* n, const double* a, const int* ia, const int* ja, const int* desca,
              const double* anorm, double* rcond, double* work, const int* lwork, int* iwork, const int* liwork,
              int* info);
void psgecon_(const char* norm, const int* n, const float* a, const int* ia, const int* ja, const int* desca,
              const float* anorm, float* rcond, float* work, const int* lwork, int* iwork, const int* liwork,
              int* info);
}

namespace attnbench::linalg {

namespace {
int narrow(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw internal_error(std::string("ScaLAPACK argument out of int range: ") + what);
  return static_cast<int>(v);
}
const char* uc(Uplo u) { return u == Uplo::lower ? "L" : "U"; }
const char* tc(bool t) { return t ? "T" : "N"; }
constexpr int one = 1;
int ctxt_of(const Descriptor& d) { return d[1]; }
// Local rows of the calling process for a descriptor (for workspace sizes).
int local_rows(const Descriptor& d) {
  const blacs::GridInfo g = blacs::gridinfo(ctxt_of(d));
  return numroc_(&d[2], &d[4], &g.row, &d[6], &g.rows);
}
}  // namespace

// ---- BLACS -------------------------------------------------------------------------------------
namespace blacs {
int system_handle(MPI_Comm comm) { return Csys2blacs_handle(comm); }
void free_system_handle(int handle) { Cfree_blacs_system_handle(handle); }
int gridinit(int system_handle, bool row_major, int rows, int cols) {
  int ctxt = system_handle;  // in: the system handle; out: the grid context
  char order[] = {row_major ? 'R' : 'C', '\0'};
  Cblacs_gridinit(&ctxt, order, rows, cols);
  return ctxt;
}
void gridexit(int ctxt) { Cblacs_gridexit(ctxt); }
GridInfo gridinfo(int ctxt) {
  GridInfo g;
  Cblacs_gridinfo(ctxt, &g.rows, &g.cols, &g.row, &g.col);
  return g;
}
int agree_max_abs(int ctxt, int value) {
  char scope[] = "All", top[] = " ";
  Cigamx2d(ctxt, scope, top, 1, 1, &value, 1, nullptr, nullptr, -1, -1, -1);
  return value;
}
}  // namespace blacs

std::int64_t numroc(std::int64_t n, std::int64_t nb, int iproc, int nprocs) {
  const int nn = narrow(n, "n"), b = narrow(nb, "nb"), zero = 0;
  return numroc_(&nn, &b, &iproc, &zero, &nprocs);
}

void check_info(const std::string& routine, int info, ExitCode code, const std::string& meaning) {
  if (info == 0) return;
  // The wrappers' info is agreed over the grid: the error is known to every rank.
  if (info < 0)
    throw internal_error(routine + " failed: info = " + std::to_string(info) + " (illegal value of argument " +
                         std::to_string(-info) + ")")
        .everywhere();
  throw Error(code, routine + " failed: info = " + std::to_string(info) + (meaning.empty() ? "" : " (" + meaning + ")"),
              /*agreed=*/true);
}

// ---- ScaLAPACK -----------------------------------------------------------------------------------
namespace {
template <class T, class F>
int potrf_t(F f, Uplo uplo, std::int64_t n, T* A, const Descriptor& dA) {
  const int nn = narrow(n, "n");
  int info = 0;
  f(uc(uplo), &nn, A, &one, &one, dA.data(), &info);
  return blacs::agree_max_abs(ctxt_of(dA), info);
}
template <class T, class F>
int potrs_t(F f, Uplo uplo, std::int64_t n, std::int64_t nrhs, const T* A, const Descriptor& dA, T* B,
            const Descriptor& dB) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs");
  int info = 0;
  f(uc(uplo), &nn, &nr, A, &one, &one, dA.data(), B, &one, &one, dB.data(), &info);
  return blacs::agree_max_abs(ctxt_of(dA), info);
}
template <class T, class F>
int posv_t(F f, Uplo uplo, std::int64_t n, std::int64_t nrhs, T* A, const Descriptor& dA, T* B, const Descriptor& dB) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs");
  int info = 0;
  f(uc(uplo), &nn, &nr, A, &one, &one, dA.data(), B, &one, &one, dB.data(), &info);
  return blacs::agree_max_abs(ctxt_of(dA), info);
}
template <class T, class F>
int gesv_t(F f, std::int64_t n, std::int64_t nrhs, T* A, const Descriptor& dA, T* B, const Descriptor& dB) {
  const int nn = narrow(n, "n"), nr = narrow(nrhs, "nrhs");
  // IPIV: LOCr(M_A) + MB_A entries (ScaLAPACK's documented size).
  std::vector<int> ipiv(static_cast<std::size_t>(local_rows(dA) + dA[4]));
  int info = 0;
  f(&nn, &nr, A, &one, &one, dA.data(), ipiv.data(), B, &one, &one, dB.data(), &info);
  return blacs::agree_max_abs(ctxt_of(dA), info);
}
// w := w of process (0, 0) on every process (one BLACS broadcast of n values).
template <class T>
void broadcast_from_origin(int ctxt, T* w, int n) {
  char scope[] = "All", top[] = " ";
  const blacs::GridInfo g = blacs::gridinfo(ctxt);
  if (g.row == 0 && g.col == 0) {
    if constexpr (std::is_same_v<T, double>) Cdgebs2d(ctxt, scope, top, n, 1, w, std::max(n, 1));
    else Csgebs2d(ctxt, scope, top, n, 1, w, std::max(n, 1));
  } else {
    if constexpr (std::is_same_v<T, double>) Cdgebr2d(ctxt, scope, top, n, 1, w, std::max(n, 1), 0, 0);
    else Csgebr2d(ctxt, scope, top, n, 1, w, std::max(n, 1), 0, 0);
  }
}

template <class T, class F>
int syevd_t(F f, Uplo uplo, std::int64_t n, T* A, const Descriptor& dA, T* w, T* Z, const Descriptor& dZ) {
  const int nn = narrow(n, "n");
  int info = 0;
  // Workspace query (lwork = liwork = -1), then the call.
  T work_query = 0;
  int iwork_query = 0;
  const int minus_one = -1;
  f("V", uc(uplo), &nn, A, &one, &one, dA.data(), w, Z, &one, &one, dZ.data(), &work_query, &minus_one, &iwork_query,
    &minus_one, &info);
  info = blacs::agree_max_abs(ctxt_of(dA), info);
  if (info != 0) return info;
  const blacs::GridInfo g = blacs::gridinfo(ctxt_of(dA));
  // LIWORK >= 7 N + 8 NPCOL + 2 (documented); the query's answer if larger.
  const int liwork = std::max(iwork_query, 7 * nn + 8 * g.cols + 2);
  // The LWORK query of p?syevd (ScaLAPACK 2.2.1) under-sizes the workspace of its internal
  // p?ormtr on some grids (seen on 1 x 2: "PDORMTR parameter number 16 had an illegal value", then a
  // hang). Add p?ormtr's own documented requirement, (local rows + local cols + nb) nb + nb^2.
  const int nb = dA[5];
  const std::int64_t locr = local_rows(dA), locc = numroc_(&dA[3], &dA[5], &g.col, &dA[7], &g.cols);
  const int lwork = narrow(static_cast<std::int64_t>(work_query) + (locr + locc + nb) * nb + std::int64_t(nb) * nb + 1,
                           "lwork");
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  f("V", uc(uplo), &nn, A, &one, &one, dA.data(), w, Z, &one, &one, dZ.data(), work.data(), &lwork, iwork.data(),
    &liwork, &info);
  info = blacs::agree_max_abs(ctxt_of(dA), info);
  // p?syevd leaves w only on the processes that took part in the tridiagonal solve: with a single
  // block (n <= nb) a process that owns nothing keeps garbage (seen on 1 x 2). Process (0, 0) always
  // has it: broadcast from there.
  if (info == 0 && nn > 0) broadcast_from_origin(ctxt_of(dA), w, nn);
  return info;
}
template <class T, class F>
T lange_t(F f, const char* norm, std::int64_t m, std::int64_t n, const T* A, const Descriptor& dA) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n");
  // WORK: 'I' at least LOCr(M_A), '1' at least LOCc(N_A) (+ the offset within a block, 0 here);
  // both given, padded by a block.
  const blacs::GridInfo g = blacs::gridinfo(ctxt_of(dA));
  const int locc = numroc_(&dA[3], &dA[5], &g.col, &dA[7], &g.cols);
  std::vector<T> work(static_cast<std::size_t>(std::max(local_rows(dA) + dA[4], locc + dA[5])));
  return f(norm, &mm, &nn, A, &one, &one, dA.data(), work.data());
}
// p?pocon (uplo given) or p?gecon (uplo null): workspace query, then the estimate. rcond is
// agreed too (the smallest over the grid), so every process reports the same number.
template <class T, class F>
int con_t(F f, const char* uplo_or_norm, std::int64_t n, const T* A, const Descriptor& dA, double anorm,
          double& rcond) {
  const int nn = narrow(n, "n"), minus_one = -1;
  const T an = static_cast<T>(anorm);
  T rc = 0, work_query = 0;
  int iwork_query = 0, info = 0;
  f(uplo_or_norm, &nn, A, &one, &one, dA.data(), &an, &rc, &work_query, &minus_one, &iwork_query, &minus_one, &info);
  info = blacs::agree_max_abs(ctxt_of(dA), info);
  if (info != 0) return info;
  // The documented minima are about 2 LOCr + 2 LOCc + max(nb, LOCc + nb); add a block of slack.
  const int lwork = narrow(static_cast<std::int64_t>(work_query) + 2 * static_cast<std::int64_t>(dA[5]) + 2, "lwork");
  const int liwork = std::max(iwork_query, local_rows(dA)) + dA[4] + 1;
  std::vector<T> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  f(uplo_or_norm, &nn, A, &one, &one, dA.data(), &an, &rc, work.data(), &lwork, iwork.data(), &liwork, &info);
  info = blacs::agree_max_abs(ctxt_of(dA), info);
  double v = static_cast<double>(rc);
  char scope[] = "All", top[] = " ";
  Cdgamn2d(ctxt_of(dA), scope, top, 1, 1, &v, 1, nullptr, nullptr, -1, -1, -1);
  rcond = v;
  return info;
}
}  // namespace

int ppotrf(Uplo u, std::int64_t n, double* A, const Descriptor& dA) { return potrf_t(pdpotrf_, u, n, A, dA); }
int ppotrf(Uplo u, std::int64_t n, float* A, const Descriptor& dA) { return potrf_t(pspotrf_, u, n, A, dA); }
int ppotrs(Uplo u, std::int64_t n, std::int64_t nrhs, const double* A, const Descriptor& dA, double* B,
           const Descriptor& dB) {
  return potrs_t(pdpotrs_, u, n, nrhs, A, dA, B, dB);
}
int ppotrs(Uplo u, std::int64_t n, std::int64_t nrhs, const float* A, const Descriptor& dA, float* B,
           const Descriptor& dB) {
  return potrs_t(pspotrs_, u, n, nrhs, A, dA, B, dB);
}
int pposv(Uplo u, std::int64_t n, std::int64_t nrhs, double* A, const Descriptor& dA, double* B, const Descriptor& dB) {
  return posv_t(pdposv_, u, n, nrhs, A, dA, B, dB);
}
int pposv(Uplo u, std::int64_t n, std::int64_t nrhs, float* A, const Descriptor& dA, float* B, const Descriptor& dB) {
  return posv_t(psposv_, u, n, nrhs, A, dA, B, dB);
}
int pgesv(std::int64_t n, std::int64_t nrhs, double* A, const Descriptor& dA, double* B, const Descriptor& dB) {
  return gesv_t(pdgesv_, n, nrhs, A, dA, B, dB);
}
int pgesv(std::int64_t n, std::int64_t nrhs, float* A, const Descriptor& dA, float* B, const Descriptor& dB) {
  return gesv_t(psgesv_, n, nrhs, A, dA, B, dB);
}
int psyevd(Uplo u, std::int64_t n, double* A, const Descriptor& dA, double* w, double* Z, const Descriptor& dZ) {
  return syevd_t(pdsyevd_, u, n, A, dA, w, Z, dZ);
}
int psyevd(Uplo u, std::int64_t n, float* A, const Descriptor& dA, float* w, float* Z, const Descriptor& dZ) {
  return syevd_t(pssyevd_, u, n, A, dA, w, Z, dZ);
}
void pgemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* A,
           const Descriptor& dA, const double* B, const Descriptor& dB, double beta, double* C, const Descriptor& dC) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n"), kk = narrow(k, "k");
  pdgemm_(tc(ta), tc(tb), &mm, &nn, &kk, &alpha, A, &one, &one, dA.data(), B, &one, &one, dB.data(), &beta, C, &one,
          &one, dC.data());
}
void pgemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* A,
           const Descriptor& dA, const float* B, const Descriptor& dB, float beta, float* C, const Descriptor& dC) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n"), kk = narrow(k, "k");
  psgemm_(tc(ta), tc(tb), &mm, &nn, &kk, &alpha, A, &one, &one, dA.data(), B, &one, &one, dB.data(), &beta, C, &one,
          &one, dC.data());
}
void psyrk(Uplo u, bool trans, std::int64_t n, std::int64_t k, double alpha, const double* A, const Descriptor& dA,
           double beta, double* C, const Descriptor& dC) {
  const int nn = narrow(n, "n"), kk = narrow(k, "k");
  pdsyrk_(uc(u), tc(trans), &nn, &kk, &alpha, A, &one, &one, dA.data(), &beta, C, &one, &one, dC.data());
}
void psyrk(Uplo u, bool trans, std::int64_t n, std::int64_t k, float alpha, const float* A, const Descriptor& dA,
           float beta, float* C, const Descriptor& dC) {
  const int nn = narrow(n, "n"), kk = narrow(k, "k");
  pssyrk_(uc(u), tc(trans), &nn, &kk, &alpha, A, &one, &one, dA.data(), &beta, C, &one, &one, dC.data());
}
void ptrsm(bool left, Uplo u, bool ta, bool unit, std::int64_t m, std::int64_t n, double alpha, const double* A,
           const Descriptor& dA, double* B, const Descriptor& dB) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n");
  pdtrsm_(left ? "L" : "R", uc(u), tc(ta), unit ? "U" : "N", &mm, &nn, &alpha, A, &one, &one, dA.data(), B, &one,
          &one, dB.data());
}
void ptrsm(bool left, Uplo u, bool ta, bool unit, std::int64_t m, std::int64_t n, float alpha, const float* A,
           const Descriptor& dA, float* B, const Descriptor& dB) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n");
  pstrsm_(left ? "L" : "R", uc(u), tc(ta), unit ? "U" : "N", &mm, &nn, &alpha, A, &one, &one, dA.data(), B, &one,
          &one, dB.data());
}
void ptran(std::int64_t m, std::int64_t n, double alpha, const double* A, const Descriptor& dA, double beta, double* C,
           const Descriptor& dC) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n");
  pdtran_(&mm, &nn, &alpha, A, &one, &one, dA.data(), &beta, C, &one, &one, dC.data());
}
void ptran(std::int64_t m, std::int64_t n, float alpha, const float* A, const Descriptor& dA, float beta, float* C,
           const Descriptor& dC) {
  const int mm = narrow(m, "m"), nn = narrow(n, "n");
  pstran_(&mm, &nn, &alpha, A, &one, &one, dA.data(), &beta, C, &one, &one, dC.data());
}
double pnorm_inf(std::int64_t m, std::int64_t n, const double* A, const Descriptor& dA) {
  return lange_t(pdlange_, "I", m, n, A, dA);
}
double pnorm_inf(std::int64_t m, std::int64_t n, const float* A, const Descriptor& dA) {
  return static_cast<double>(lange_t(pslange_, "I", m, n, A, dA));
}
double pnorm_one(std::int64_t m, std::int64_t n, const double* A, const Descriptor& dA) {
  return lange_t(pdlange_, "1", m, n, A, dA);
}
double pnorm_one(std::int64_t m, std::int64_t n, const float* A, const Descriptor& dA) {
  return static_cast<double>(lange_t(pslange_, "1", m, n, A, dA));
}
int ppocon(Uplo u, std::int64_t n, const double* A, const Descriptor& dA, double anorm, double& rcond) {
  return con_t(pdpocon_, uc(u), n, A, dA, anorm, rcond);
}
int ppocon(Uplo u, std::int64_t n, const float* A, const Descriptor& dA, double anorm, double& rcond) {
  return con_t(pspocon_, uc(u), n, A, dA, anorm, rcond);
}
int pgecon(std::int64_t n, const double* A, const Descriptor& dA, double anorm, double& rcond) {
  return con_t(pdgecon_, "1", n, A, dA, anorm, rcond);
}
int pgecon(std::int64_t n, const float* A, const Descriptor& dA, double anorm, double& rcond) {
  return con_t(psgecon_, "1", n, A, dA, anorm, rcond);
}

}  // namespace attnbench::linalg
