#pragma once
// HyperAttention (Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh 2023; ALGORITHMS.md section 3),
// distributed by row blocks, on the same sorted-LSH blocks as kde (approx/lsh.hpp):
//   block part:    exact softmax of each query block over its key block -> (O_blk, lse_blk);
//   residual part: `samples` keys drawn uniformly with replacement from the shared seed, masked off
//                  the query's own block -> (O_res, lse_res + log(n / samples));
//   merge:         by log-sum-exp (lse_merge in approx/lsh.hpp, an exact identity for disjoint sets).
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

#include "attention/attention_problem.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"

namespace attnbench::approx {

struct HyperOptions {
  int lsh_planes = 7;
  std::int64_t bucket_size = 64;
  std::int64_t samples = 128;
  std::uint64_t seed = 42;
  int threads = 1;
};

// Collective over comm. Returns this rank's rows of O (layout_q.local_rows(rank) x dv). Throws
// usage_error on every rank for samples < 0, bucket_size outside 1..n_kv, lsh_planes outside 1..20.
template <class T>
Matrix<T> hyper_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                          const HyperOptions& options);

// Same, also returning each local row's merged log-sum-exp.
template <class T>
Matrix<T> hyper_attention_lse(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                              const HyperOptions& options, std::vector<double>& lse);

}  // namespace attnbench::approx
