#pragma once
// The two sorted-LSH approximations of softmax attention, KDEformer (kde) and HyperAttention
// (hyper): the same blocks and pipeline (lsh_attention, lsh.hpp), different residual draws.
//
// KDEformer attention (Zandieh, Han, Daliri, Karbasi 2023; ALGORITHMS.md section 3), distributed
// by row blocks. Estimates [A V | A 1] = A [V | 1], A = exp(scale Q K^T), as
//   heavy:    the exact block-diagonal part over sorted-LSH blocks (lsh.hpp), plus
//   residual: `samples` keys drawn with replacement with p_j proportional to
//             |[V|1]_j|_2 / lambda + 1/n (lambda = sigma_max([V|1])^2), each weighted 1/(samples p_j)
//             and masked off the queries of its own block,
// and returns (heavy + residual)[:, :dv] / (heavy + residual)[:, dv]. Both parts are carried as
// (row, log-sum-exp) pairs, i.e. with a per-row shift shared by both parts, so large logits do not
// overflow. Conditional on the LSH blocks the estimator of [A V | A 1] is unbiased.
//
// Distributed (p ranks, n keys, s samples, b = bucket size):
//   1. hashing: local;
//   2. global order: Allgatherv of n_q + n_k bucket ids (ints); every rank sorts identically;
//   3. Q/K/V rows of this rank's blocks: point-to-point exchange, ~ (n/p)(2d + dv) elements in;
//   4. sampling distribution: one Allreduce of the (dv+1)^2 Gram of [V|1] (power iteration for
//      lambda done redundantly on every rank) and one Allgatherv of the n_k row norms (8 n_k bytes),
//      so every rank builds the same CDF serially and draws the same s keys from the seed;
//   5. sampled rows: Allgatherv of s (d + dv) elements;
//   6. blocks computed locally (2 (n/p)(b + s)(d + dv) flops); O rows returned to their owners
//      point-to-point, ~ (n/p) dv elements.
// Memory per rank: ~16 (n_q + n_k) + 8 n_k bytes of order/CDF data, ~ (n/p)(2d + 2dv) + s (d + dv)
// elements of rows, threads x b x (b + s) scores.
// Rank-count independence: hyperplanes, sample draws and the sorted order are pure functions of the
// seed and global row indices. The only p-dependent rounding is the Allreduce of the Gram (lambda
// differs in the last bits), which moves the weights by ~1e-16 relative and could flip a sample only
// if a uniform draw falls within ~1e-16 of a CDF boundary.
//
// HyperAttention (Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh 2023; ALGORITHMS.md section 3),
// distributed by row blocks, on the same sorted-LSH blocks as kde (lsh.hpp):
//   block part:    exact softmax of each query block over its key block -> (O_blk, lse_blk);
//   residual part: `samples` keys drawn uniformly with replacement from the shared seed, masked off
//                  the query's own block -> (O_res, lse_res + log(n / samples));
//   merge:         by log-sum-exp (lse_merge in lsh.hpp, an exact identity for disjoint sets).
// e^lse [O | 1] is then an unbiased estimate of [A V | A 1] conditional on the blocks; O itself is
// the ratio estimator.
//
// Distributed (p ranks, n keys, s samples, b = bucket size): as kde without the sampling-distribution
// collectives: Allgatherv of n_q + n_k bucket ids; point-to-point exchange of the Q/K/V rows of this
// rank's blocks (~ (n/p)(2d + dv) elements); Allgatherv of the s sampled K/V rows (s (d + dv)); local
// blocks (2 (n/p)(b + s)(d + dv) flops); O rows returned point-to-point (~ (n/p) dv).
// Memory per rank: ~16 (n_q + n_k) bytes of order data, ~ (n/p)(2d + 2dv) + s (d + dv) elements.
// Fully rank-count independent: the uniform draws, hyperplanes and order depend only on the seed.
#include <cstdint>
#include <vector>

#include "attention/approx/lsh.hpp"

namespace attnbench::approx {

using KdeOptions = LshOptions;
using HyperOptions = LshOptions;

// Collective over comm. Return this rank's rows of O (layout_q.local_rows(rank) x dv) and, when lse
// is given, each row's estimated log-sum-exp: e^lse [O | 1] is the estimate of row i of
// [A V | A 1] (unbiased for kde; used by the unbiasedness tests). Usage errors as lsh_attention.
template <class T>
Matrix<T> kde_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                        const KdeOptions& options, std::vector<double>* lse = nullptr) {
  return lsh_attention(LshMethod::kde, comm, problem, scale, options, lse);
}
template <class T>
Matrix<T> hyper_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                          const HyperOptions& options, std::vector<double>* lse = nullptr) {
  return lsh_attention(LshMethod::hyper, comm, problem, scale, options, lse);
}

// lambda_max of a symmetric PSD m x m matrix by a fixed number of power iterations (deterministic:
// same input, same result on every rank).
double power_iteration_lambda_max(const std::vector<double>& G, std::int64_t m, int iterations = 200);

}  // namespace attnbench::approx
