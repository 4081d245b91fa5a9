#pragma once
// The damped Newton system (H + lambda I) step = rhs behind a small interface, so that the solve
// runs either replicated (LAPACK on every rank) or on a ScaLAPACK process grid without touching
// the optimizers. A solver holds the Hessian of the current iterate between set_hessian calls:
// rejected steps re-solve with a larger lambda on the same matrix.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "grid/block_cyclic.hpp"

namespace attnbench::regress {

template <class T>
class NewtonSolver {
 public:
  virtual ~NewtonSolver() = default;
  // true: set_hessian takes each rank's PARTIAL sum (the evaluator skips its Allreduce and the
  // solver reduces it onto its own distribution); false: the whole Hessian, identical on every rank.
  virtual bool partial_hessian() const = 0;
  // Collective. The N x N symmetric Hessian, row-major (replicated or this rank's partial sum, see
  // partial_hessian); the solver takes it over.
  virtual void set_hessian(std::vector<T>&& H, std::int64_t N) = 0;
  // Mean |H_ii| of the held Hessian, identical on every rank (the scale of the damping).
  virtual double mean_abs_diag() const = 0;
  // Collective. Solves (H + lambda I) step = rhs by Cholesky with the held H (which stays as it
  // was). Returns the info of the factorization (0: solved; k > 0: the leading minor of order k of
  // H + lambda I is not positive definite), identical on every rank, and the same step (N values,
  // replicated) on every rank.
  virtual int solve(double lambda, std::span<const T> rhs, std::span<T> step) = 0;
  virtual std::string name() const = 0;
  // Bytes the solver holds per rank for an N x N Hessian on p ranks (by formula).
  virtual std::int64_t bytes(std::int64_t N) const = 0;
};

// Replicated LAPACK: every rank holds the whole Hessian (the evaluator allreduced it: 2 d^4 + d^2
// values), adds lambda to the diagonal and runs posv on its own copy in place: N^3/3 + 2 N^2 flops
// on EVERY rank (no speed-up with p), memory N^2 + N values per rank (the factor overwrites one
// triangle; the other triangle and a saved diagonal restore H afterwards). Then ONE MPI_Bcast of
// rank 0's info and step (N + 1 values) makes the result bitwise identical on every rank.
template <class T>
std::unique_ptr<NewtonSolver<T>> make_replicated_solver(const dist::Comm& comm);

// ScaLAPACK on a p_r x p_c process grid (block size nb x nb):
//   H[owner]  := sum over ranks of H_partial[rank]     one MPI_Reduce_scatter: each rank sends and
//                                                      receives about (p-1)/p N^2 words, keeps N^2/p
//   (H + lambda I)[owner] step[owner] = rhs[owner]     p?posv: N^3/3 flops over the grid
//   step[*] := step[owner]                             one MPI_Allgatherv of N words (the broadcast)
// Memory per rank: the partial N^2 (the evaluator's), a packed N^2 send buffer while reducing, and
// 2 N^2 / p for the block-cyclic H and the copy pposv overwrites.
template <class T>
std::unique_ptr<NewtonSolver<T>> make_scalapack_solver(const dist::Comm& comm, grid::GridShape shape, std::int64_t nb = 64);

// Solves the d x d symmetric positive definite system A Z = Bm for the row-major d x d right-hand
// side Bm (in place; A is overwritten). Returns LAPACK's info. Local, no communication.
template <class T>
int solve_spd_rowmajor(std::int64_t d, std::vector<T>& A, std::vector<T>& Bm);

}  // namespace attnbench::regress
