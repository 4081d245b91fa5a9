#pragma once
// The damped Newton system (H + lambda I) step = rhs behind a small interface, so that the solve can
// move from replicated LAPACK to a ScaLAPACK process grid without touching the optimizers.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dist/comm.hpp"

namespace attnbench::regress {

template <class T>
class NewtonSolver {
 public:
  virtual ~NewtonSolver() = default;
  // Collective. H is N x N, symmetric, row-major and identical on every rank. Solves
  // (H + lambda I) step = rhs by Cholesky. Returns LAPACK's info (0: solved; k > 0: the leading
  // minor of order k is not positive definite - the damped Hessian is indefinite), identical on
  // every rank, and the same step on every rank. H holds its input values again on return.
  virtual int solve(std::vector<T>& H, std::int64_t N, double lambda, std::span<const T> rhs, std::span<T> step) = 0;
  virtual std::string name() const = 0;
};

// Replicated LAPACK: every rank already holds the whole Hessian (it was allreduced), adds lambda
// to the diagonal and runs posv on its own copy in place: N^3/3 + 2 N^2 flops on EVERY rank (no
// speed-up with p), memory N^2 + N values per rank (the factor overwrites one triangle, the other
// triangle and a saved diagonal restore H afterwards). Then ONE MPI_Bcast of rank 0's info and
// step (N + 1 values) makes the result bitwise identical on every rank whatever rounding
// differences the ranks' Allreduce results may have.
template <class T>
std::unique_ptr<NewtonSolver<T>> make_replicated_solver(const dist::Comm& comm);

// Solves the d x d symmetric positive definite system A Z = Bm for the row-major d x d right-hand
// side Bm (in place; A is overwritten). Returns LAPACK's info. Local, no communication.
template <class T>
int solve_spd_rowmajor(std::int64_t d, std::vector<T>& A, std::vector<T>& Bm);

}  // namespace attnbench::regress
