#pragma once
// leverage-sketch with --bound chernoff: JL-screened exact-score sampling, the certificate of
// sparsify/bounds.hpp (ScreenPlan) - a window guarantee with no union bound over the d columns and
// no unproven embedding constant.
//
// Steps and data movement (rank r holds the columns [col0, col0 + cols)):
//   gram    M := Allreduce(X_r X_r^T) (n^2 words; sum_j nnz_j^2 flops sparse, n^2 cols dense);
//   factor  L := chol(M) (n^3/3, replicated); B := L^{-T} G, G (n x k) Gaussian from (seed, jl,
//           i k + c) (n^2 k); sparse X also W^T := (L^{-1})^T (n^3/3);
//   scores  tau~_j = |x_j^T B|^2 / k = g_j tau_j, g_j ~ chi2_k / k (2 k nnz_r flops, local);
//   screen  u_j uniform from (seed, screen, j); candidates u_j < pi~_j = min(1, a m tau~_j / n)
//           (about a m of the d columns); their exact tau_j = |L^{-1} x_j|^2 (n nnz_j with W sparse,
//           a trsm per 256 candidates dense); keep u_j < rho_j = min(pi_j, pi~_j),
//           pi_j = min(1, m tau_j / n), weight 1 / sqrt(rho_j) (so E[Y Y^T] = X X^T);
//   sample  allgather of p counts, allgatherv of 2 x kept words: columns ascending, replicated.
// Every keep decision is a function of (seed, global column) and the column's own scores: the
// selection does not depend on the rank count (beyond the rounding of the Allreduce sums).
// Columns kept: independent, sum_j rho_j <= sum_j pi_j <= m in expectation; candidates about a m.
#include <functional>

#include "dist/comm.hpp"
#include "sparsify/columns.hpp"
#include "sparsify/nxn.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

// Runs `work` inside the phase named `phase` (the caller's timers).
using Timed = std::function<void(const char* phase, const std::function<void()>& work)>;

// Collective. m = p.m when given, else screen_plan(n, eps, delta, k).m. Fills out.columns, weights,
// m, score_sum (sum tau~), local_scores (tau~ of the local columns), candidates (global count).
template <class T>
void run_screened(const dist::Comm& comm, const ColumnBlock<T>& X, const Params& p, const NxnSolver& solver,
                  const Timed& timed, Result& out);

}  // namespace attnbench::sparsify
