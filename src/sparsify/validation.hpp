#pragma once
// Self-validation of a sparsification Y of X (ALGORITHMS.md section 4), replicated n x n work:
//   window   the extreme eigenvalues of L^{-1} Y Y^T L^{-T} (M = X X^T = L L^T): Y Y^T lies in
//            [low M, high M] (Loewner order); eps' = max(1 - low, high - 1);
//   error    |D(Y)^{-1} exp(Y Y^T) - D(X)^{-1} exp(X X^T)|_max (row softmax of the n x n Gram
//            matrices);
//   bound    (e^{2 eps' r} - 1) e^{2 r} / n with r = |X X^T|_max: since |(YY^T - XX^T)_ij| <=
//            eps' sqrt(M_ii M_jj) <= eps' r, every exponential and every row sum moves by a factor
//            within e^{+-eps' r}, and every entry of D(X)^{-1} exp(X X^T) is at most e^{2r} / n.
//            Computed in log space when e^{2r} or e^{2 eps' r} would overflow (r > 354). Both row
//            softmax matrices have entries in [0, 1], so no entry differs by more than 1 (the
//            trivial bound of this max-entry metric): a bound >= 1 certifies nothing and is
//            reported as vacuous (bound_vacuous, attention_bound = 1, its natural log kept), never
//            as an infinite tolerance; the spectral window alone then decides validity.
#include <cstdint>
#include <vector>

#include "dist/comm.hpp"
#include "sparsify/columns.hpp"
#include "sparsify/nxn.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

struct Check {
  double r = 0.0;                 // |X X^T|_max
  double spectral_low = 0.0;      // lambda_min(L^{-1} Y Y^T L^{-T})
  double spectral_high = 0.0;     // lambda_max
  double eps_reached = 0.0;       // max(1 - low, high - 1, 0)
  double attention_error = 0.0;
  double attention_bound = 0.0;   // min(bound, 1): the trivial bound when the formula exceeds it
  double log_attention_bound = 0.0;  // ln of the formula's bound (-inf when eps' r = 0)
  bool bound_vacuous = false;     // the formula's bound is >= 1: it certifies nothing
  double gram_condition = 1.0;    // lambda_max / lambda_min of X X^T (capped at 1 / 2^-52)
};

// The tolerance of the exact leverage scores' sum (= n in exact arithmetic) for X X^T of 2-norm
// condition number `condition`: n (1e-8 + n (n + 1) 2^-53 condition). Why: the computed Cholesky
// factor is exact for M + E with |E| <= gamma_{n+1} |L||L^T|, so |E|_2 <= n (n + 1) u |M|_2
// (Higham, Accuracy and Stability, Thm 10.3 and eq. 10.8; u = 2^-53), and the computed scores sum
// to tr((M + E)^{-1} M) = n - tr((M + E)^{-1} E), off by at most n |M^{-1}|_2 |E|_2 =
// n * n (n + 1) u cond(M) to first order. 1e-8 n covers the rest (the sum over d columns, the
// triangular solves). A well-conditioned X keeps the former 1e-8 n check; cond = 1e12 at n = 6
// allows 0.03.
double score_sum_tolerance(std::int64_t n, double condition);

// Y Y^T, replicated: the weighted outer products of the selected columns each rank holds, summed
// by one MPI_Allreduce of n^2 doubles; for gaussian, Y Y^T from the replicated Y (no communication).
template <class T>
std::vector<double> selected_gram(const dist::Comm& comm, const ColumnBlock<T>& X, const Result& res);

// Row-softmax max-abs difference of two n x n Gram matrices.
double softmax_max_error(std::int64_t n, const std::vector<double>& A, const std::vector<double>& B);
// The trivial bound of max |D(Y)^{-1} exp(Y Y^T) - D(X)^{-1} exp(X X^T)|: entries lie in [0, 1].
inline constexpr double kTrivialAttentionBound = 1.0;
// ln((e^{2 eps' r} - 1) e^{2 r} / n) without overflow: -inf when eps' r = 0, NaN when an input is.
double log_attention_bound(double eps_reached, double r, std::int64_t n);
// (e^{2 eps' r} - 1) e^{2 r} / n, +inf when it exceeds the double range (NaN stays NaN).
double attention_bound(double eps_reached, double r, std::int64_t n);

// M = X X^T and Y Y^T replicated; L from M (input error if M is rank-deficient).
Check evaluate(std::int64_t n, const std::vector<double>& M, const std::vector<double>& YYt, const NxnSolver& solver);

}  // namespace attnbench::sparsify
