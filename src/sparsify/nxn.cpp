#include "sparsify/nxn.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.hpp"
#include "grid/process_grid.hpp"
#include "linalg/blas.hpp"
#include "linalg/lapack.hpp"

namespace attnbench::sparsify {

using linalg::Trans;

std::unique_ptr<NxnSolver> make_solver(const dist::Comm& comm, std::int64_t n, std::int64_t threshold) {
  if (threshold > 0 && n >= threshold) return grid::make_grid_solver<double>(comm, grid::squarest_shape(comm.size()), 64);
  return grid::make_replicated_solver<double>(comm);
}

template <class T>
std::vector<double> local_gram(const ColumnBlock<T>& X) {
  const std::int64_t n = X.n;
  std::vector<double> M(static_cast<std::size_t>(n * n), 0.0);
  bool done = false;
  if constexpr (std::is_same_v<T, double>) {
    // Block rows are X's columns (cols x n): M = Xc^T Xc, straight from the stored block.
    if (!X.sparse) {
      if (X.cols > 0) linalg::syrk(true, Trans::yes, n, X.cols, 1.0, X.dense.data(), n, 0.0, M.data(), n);
      done = true;
    }
  }
  if (done) {
  } else if (!X.sparse) {
    std::vector<double> scratch;
    for_each_dense_chunk(X, 256, scratch, [&](std::int64_t, std::int64_t b, const double* Xc) {
      linalg::syrk(true, Trans::yes, n, b, 1.0, Xc, n, 1.0, M.data(), n);
    });
  } else {
    std::vector<std::int64_t> rows;
    std::vector<double> vals;
    for (std::int64_t j = 0; j < X.cols; ++j) {
      rows.clear();
      vals.clear();
      X.for_each_entry(j, [&](std::int64_t i, double v) {
        rows.push_back(i);
        vals.push_back(v);
      });
      for (std::size_t a = 0; a < rows.size(); ++a)
        for (std::size_t b = 0; b <= a; ++b) M[static_cast<std::size_t>(rows[a] * n + rows[b])] += vals[a] * vals[b];
    }
  }
  // Lower triangle -> full symmetric.
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j)
      M[static_cast<std::size_t>(i * n + j)] = M[static_cast<std::size_t>(j * n + i)];
  return M;
}

template <class T>
std::vector<double> gram(const dist::Comm& comm, const ColumnBlock<T>& X) {
  std::vector<double> M = local_gram(X);
  // M := sum_r X_r X_r^T  (Allreduce, n^2 doubles)
  comm.allreduce(std::span<double>(M), dist::Op::sum);
  return M;
}

std::vector<double> cholesky_or_rank_error(const NxnSolver& solver, std::int64_t n, std::vector<double> M) {
  double maxdiag = 0.0;
  for (std::int64_t i = 0; i < n; ++i) maxdiag = std::max(maxdiag, M[static_cast<std::size_t>(i * n + i)]);
  const int info = solver.cholesky(n, M);
  std::int64_t bad = info > 0 ? info : 0;
  const double floor = static_cast<double>(n) * 0x1.0p-52 * maxdiag;
  if (bad == 0) {
    for (std::int64_t k = 0; k < n; ++k) {
      const double lkk = M[static_cast<std::size_t>(k * n + k)];
      if (!(lkk * lkk > floor)) {
        bad = k + 1;
        break;
      }
    }
  }
  if (info < 0) throw internal_error("LAPACK potrf: illegal argument " + std::to_string(-info));
  if (bad > 0)
    throw input_error("X is rank-deficient: X X^T (" + std::to_string(n) + " x " + std::to_string(n) +
                      ") is not positive definite (the Cholesky pivot of order " + std::to_string(bad) +
                      " vanishes); sparsification needs rank(X) = n, i.e. linearly independent rows");
  return M;
}

void lower_solve(std::int64_t n, std::int64_t k, const std::vector<double>& L, double* B) {
  if (n == 0 || k == 0) return;
  linalg::trsm(true, true, Trans::no, false, n, k, 1.0, L.data(), n, B, k);
}

std::vector<double> lower_inverse(std::int64_t n, const std::vector<double>& L) {
  // Row-major lower = column-major upper: trtri(upper) of that array inverts L^T in column-major,
  // which read row-major is L^{-1}.
  std::vector<double> W = L;
  const int info = linalg::trtri(linalg::Uplo::upper, n, W.data(), n);
  if (info != 0) throw internal_error("LAPACK trtri: info " + std::to_string(info) + " for a Cholesky factor that passed its pivot check");
  return W;
}

void whiten(std::int64_t n, const std::vector<double>& L, std::vector<double>& S) {
  lower_solve(n, n, L, S.data());                                                  // S := L^{-1} S
  linalg::trsm(false, true, Trans::yes, false, n, n, 1.0, L.data(), n, S.data(), n);  // S := S L^{-T}
  for (std::int64_t i = 0; i < n; ++i)  // exact symmetry for syevd
    for (std::int64_t j = 0; j < i; ++j) {
      const double a = 0.5 * (S[static_cast<std::size_t>(i * n + j)] + S[static_cast<std::size_t>(j * n + i)]);
      S[static_cast<std::size_t>(i * n + j)] = S[static_cast<std::size_t>(j * n + i)] = a;
    }
}

template std::vector<double> local_gram(const ColumnBlock<float>&);
template std::vector<double> local_gram(const ColumnBlock<double>&);
template std::vector<double> gram(const dist::Comm&, const ColumnBlock<float>&);
template std::vector<double> gram(const dist::Comm&, const ColumnBlock<double>&);

}  // namespace attnbench::sparsify
