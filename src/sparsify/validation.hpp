#pragma once
// Self-validation of a sparsification Y of X (ALGORITHMS.md section 4), replicated n x n work:
//   window   the extreme eigenvalues of L^{-1} Y Y^T L^{-T} (M = X X^T = L L^T): Y Y^T lies in
//            [low M, high M] (Loewner order); eps' = max(1 - low, high - 1);
//   error    |D(Y)^{-1} exp(Y Y^T) - D(X)^{-1} exp(X X^T)|_max (row softmax of the n x n Gram
//            matrices);
//   bound    (e^{2 eps' r} - 1) e^{2 r} / n with r = |X X^T|_max: since |(YY^T - XX^T)_ij| <=
//            eps' sqrt(M_ii M_jj) <= eps' r, every exponential and every row sum moves by a factor
//            within e^{+-eps' r}, and every entry of D(X)^{-1} exp(X X^T) is at most e^{2r} / n.
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
  double attention_bound = 0.0;
};

// Y Y^T, replicated: the weighted outer products of the selected columns each rank holds, summed
// by one MPI_Allreduce of n^2 doubles; for gaussian, Y Y^T from the replicated Y (no communication).
template <class T>
std::vector<double> selected_gram(const dist::Comm& comm, const ColumnBlock<T>& X, const Result& res);

// Row-softmax max-abs difference of two n x n Gram matrices.
double softmax_max_error(std::int64_t n, const std::vector<double>& A, const std::vector<double>& B);
double attention_bound(double eps_reached, double r, std::int64_t n);

// M = X X^T and Y Y^T replicated; L from M (input error if M is rank-deficient).
Check evaluate(std::int64_t n, const std::vector<double>& M, const std::vector<double>& YYt, const NxnSolver& solver);

}  // namespace attnbench::sparsify
