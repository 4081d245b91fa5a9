#pragma once
// DenseSolver<T>: the dense symmetric n x n linear algebra of a kernel - Cholesky, eigenvalues,
// shifted SPD solves - on one of two backends behind one interface, so that an algorithm does not
// know which one runs it:
//   replicated  LAPACK on every rank's own copy: no communication, no speed-up with p;
//   grid        ScaLAPACK on a p_r x p_c block-cyclic process grid (ProcessGrid): the flops are
//               shared, the price is the redistribution in and out and ScaLAPACK's own messages.
// Which backend a kernel takes (options, thresholds) is the kernel's choice; make_replicated_solver
// and make_grid_solver build them. Every matrix here is row-major and symmetric, so it is the same
// array column-major: the comments name the triangle LAPACK sees.
//
// Two ways in:
//  * one-shot (cholesky, eigen): the matrix is replicated on every rank and so is the result;
//  * a held matrix (hold, then solve as often as needed): A stays as it was between solves, e.g.
//    a Newton Hessian re-solved with a larger damping after a rejected step. The grid backend takes
//    each rank's PARTIAL sum and reduce-scatters it straight onto the grid (A is never replicated).
// Every call of the grid backend, and hold/solve of both, is collective over the communicator.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "grid/block_cyclic.hpp"

namespace attnbench::grid {

template <class T>
class DenseSolver {
 public:
  virtual ~DenseSolver() = default;
  // "replicated-lapack" or "scalapack"; name() adds the grid shape: "scalapack-PRxPC".
  virtual std::string kind() const = 0;
  virtual std::string name() const = 0;

  // A (n x n symmetric positive definite, replicated) := L, lower triangular with A = L L^T; the
  // strict upper triangle is zeroed. Returns the (agreed) info: k > 0, the leading minor of order k
  // is not positive definite. n^3/3 flops (on every rank, or shared by the grid).
  virtual int cholesky(std::int64_t n, std::vector<T>& A) const = 0;
  // Eigenvalues of the symmetric A (replicated), ascending, into w; with `vectors`, row k of A :=
  // the k-th eigenvector (unit norm). Returns the (agreed) info. About 9 n^3 flops with vectors.
  virtual int eigen(std::int64_t n, std::vector<T>& A, std::vector<T>& w, bool vectors) const = 0;

  // true: hold takes each rank's PARTIAL sum (the caller skips its Allreduce; the solver reduces it
  // onto its own distribution); false: the whole matrix, identical on every rank.
  virtual bool partial_sums() const = 0;
  // Collective. Takes over the N x N symmetric A (whole or partial, see partial_sums).
  virtual void hold(std::vector<T>&& A, std::int64_t N) = 0;
  // Mean |A_ii| of the held A, identical on every rank.
  virtual double mean_abs_diag() const = 0;
  // Collective. Solves (A + shift I) x = rhs by Cholesky with the held A (which stays as it was).
  // Returns the info of the factorization (0: solved; k > 0: the leading minor of order k of
  // A + shift I is not positive definite), identical on every rank, and the same x (N values,
  // replicated) on every rank.
  virtual int solve(double shift, std::span<const T> rhs, std::span<T> x) = 0;
};

// Replicated LAPACK. cholesky: potrf on the row-major lower triangle; eigen: syevd (same triangle);
// neither communicates. hold takes the whole A (N^2 values per rank) and computes its diagonal mean
// on rank 0 (one MPI_Bcast of a double); solve adds the shift to the diagonal of its own copy and
// runs posv in place (N^3/3 + 2 N^2 flops on EVERY rank; the factor overwrites the row-major upper
// triangle, which the lower one and a saved diagonal restore afterwards: memory N^2 + N values),
// then ONE MPI_Bcast of rank 0's info and x (N + 1 values) makes the result bitwise identical on
// every rank.
template <class T>
std::unique_ptr<DenseSolver<T>> make_replicated_solver(const dist::Comm& comm);

// ScaLAPACK on a `shape` process grid over comm (collective), square blocks of nb (at least 1,
// clamped to the matrix by the layout).
//  cholesky:  A[owner] := A[*]              local copies (every rank holds A)
//             L L^T := A                    p?potrf (lower): n^3/3 flops over the grid
//             A[*] := L[owner]              one MPI_Allgatherv of n^2 words
//  eigen:     A[owner] := A[*]; p?syevd (always with vectors; w on every process); with `vectors`
//             Z[*] := Z[owner] (one MPI_Allgatherv of n^2 words)
//  hold:      A[owner] := sum over ranks of A_partial[rank]   one MPI_Reduce_scatter: (p-1)/p N^2
//             words sent and received per rank, N^2/p kept; a copy is kept to restore A
//  solve:     (A + shift I)[owner] x[owner] = rhs[owner]      p?posv: N^3/3 flops over the grid
//             x[*] := x[owner]                                one MPI_Allgatherv of N words
// Memory of a held A per rank: a packed N^2 send buffer while reducing, then 2 N^2 / p.
template <class T>
std::unique_ptr<DenseSolver<T>> make_grid_solver(const dist::Comm& comm, GridShape shape, std::int64_t nb = 64);

// Solves the d x d symmetric positive definite system A Z = Bm for the row-major d x d right-hand
// side Bm (in place; A is overwritten) with LAPACK posv. Returns LAPACK's info. Local, no
// communication, whatever the backend of the caller: d^3/3 + 2 d^3 flops.
template <class T>
int solve_spd_rowmajor(std::int64_t d, std::vector<T>& A, std::vector<T>& Bm);

}  // namespace attnbench::grid
