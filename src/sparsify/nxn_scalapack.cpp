#include "sparsify/nxn_scalapack.hpp"

#include "grid/dist_matrix.hpp"
#include "grid/redistribute.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::sparsify {

ScalapackSolver::ScalapackSolver(const dist::Comm& comm, std::int64_t block)
    : grid_(std::make_shared<grid::ProcessGrid>(comm)), block_(block) {}

namespace {
// The replicated row-major n x n matrix A as this rank's block-cyclic share (A symmetric or read as
// A(i, j) = A[i n + j]); no communication.
grid::BlockCyclicMatrix<double> deal(const grid::ProcessGrid& g, std::int64_t n, std::int64_t block,
                                     const std::vector<double>& A) {
  const grid::BlockCyclicLayout layout(n, n, block, block, g.shape());
  grid::BlockCyclicMatrix<double> D(layout, g);
  D.fill([&](std::int64_t i, std::int64_t j) { return A[static_cast<std::size_t>(i * n + j)]; });
  return D;
}
}  // namespace

int ScalapackSolver::cholesky(std::int64_t n, std::vector<double>& A) const {
  grid::BlockCyclicMatrix<double> D = deal(*grid_, n, block_, A);
  // L L^T := A (lower, distributed), agreed info; then A[*] := L[owner] (Allgatherv, n^2 words).
  const int info = linalg::ppotrf(linalg::Uplo::lower, n, D.data(), D.descriptor());
  const Matrix<double> L = grid::gather_replicated(*grid_, D);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) A[static_cast<std::size_t>(i * n + j)] = j <= i ? L(i, j) : 0.0;
  return info;
}

int ScalapackSolver::eigen(std::int64_t n, std::vector<double>& A, std::vector<double>& w, bool vectors) const {
  grid::BlockCyclicMatrix<double> D = deal(*grid_, n, block_, A);
  grid::BlockCyclicMatrix<double> Z(D.layout(), *grid_);
  w.assign(static_cast<std::size_t>(n), 0.0);
  // p?syevd always computes vectors; w is on every process.
  const int info = linalg::psyevd(linalg::Uplo::lower, n, D.data(), D.descriptor(), w.data(), Z.data(), Z.descriptor());
  if (vectors) {
    // Row k of A := eigenvector k = column k of Z (Allgatherv of n^2 words).
    const Matrix<double> Zr = grid::gather_replicated(*grid_, Z);
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < n; ++i) A[static_cast<std::size_t>(k * n + i)] = Zr(i, k);
  }
  return info;
}

std::unique_ptr<NxnSolver> make_solver(const dist::Comm& comm, std::int64_t n, std::int64_t threshold) {
  if (threshold > 0 && n >= threshold) return std::make_unique<ScalapackSolver>(comm);
  return std::make_unique<ReplicatedLapack>();
}

}  // namespace attnbench::sparsify
