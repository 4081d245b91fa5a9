#pragma once
// The ScaLAPACK path of the n x n factorizations (issue 9's process grid): the replicated n x n
// matrix is dealt onto a p_r x p_c block-cyclic grid (no communication: every rank already holds
// it), factored by p?potrf / p?syevd across all ranks, and the factor gathered back to every rank
// (one MPI_Allgatherv of n^2 words). The flops are shared (n^3/3 / p for potrf, ~9 n^3 / p for
// syevd); the price is the gather and ScaLAPACK's own messages, so it pays off only for large n:
// the kernel uses it when n >= --scalapack-threshold. Every call is collective over the grid.
#include <memory>

#include "grid/process_grid.hpp"
#include "sparsify/nxn.hpp"

namespace attnbench::sparsify {

class ScalapackSolver final : public NxnSolver {
 public:
  // Collective over comm: the squarest grid, square blocks of `block` (clamped to n by the layout).
  explicit ScalapackSolver(const dist::Comm& comm, std::int64_t block = 64);
  std::string name() const override { return "scalapack"; }
  int cholesky(std::int64_t n, std::vector<double>& A) const override;
  int eigen(std::int64_t n, std::vector<double>& A, std::vector<double>& w, bool vectors) const override;

 private:
  std::shared_ptr<grid::ProcessGrid> grid_;
  std::int64_t block_;
};

// The solver for n: ScaLAPACK when threshold > 0 and n >= threshold, else replicated LAPACK.
std::unique_ptr<NxnSolver> make_solver(const dist::Comm& comm, std::int64_t n, std::int64_t threshold);

}  // namespace attnbench::sparsify
