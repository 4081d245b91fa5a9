#pragma once
// Performer / FAVOR+ attention with positive random features (Choromanski et al. 2021), the
// classical baseline of ALGORITHMS.md section 3, distributed by row blocks.
//   x' = sqrt(scale) x;  phi(x) = exp(w^T x' - |x'|^2 / 2) / sqrt(m),  w_f ~ N(0, I_d), f < m,
// so that E[phi(q)^T phi(k)] = exp(scale q.k). The features W are drawn from the counter RNG
// (entry (f, j) = standard_normal(seed, performer_features, f d + j)); they are not orthogonalized.
//   Z = phi(K)^T [V | 1]            (m x (dv+1): a sum over key rows)
//   O = (phi(Q) Z[:, :dv]) / (phi(Q) Z[:, dv])
// Stabilizing shifts (they cancel in the ratio): keys use one global shift c_K = max over all keys
// and features of w^T k' - |k'|^2/2 (one Allreduce MAX of a scalar); queries use a per-row shift
// (the |q'|^2/2 term and the 1/sqrt(m) factor are per-row/global constants and also cancel).
//
// Distributed: hashing-free; each rank forms its partial Z from its key rows (2 (n/p) m (d + dv)
// flops), Z := Allreduce_sum(Z_r) (m (dv+1) elements), then its query rows need no communication
// (2 (n/p) m (d + dv) flops). Memory per rank: m d (W) + (n/p) m (features) + m (dv+1).
// Rank-count independence: W depends only on the seed; only the Allreduce sum order depends on p.
#include <cstdint>

#include "attention/problem.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"

namespace attnbench::approx {

using attention::AttentionProblem;  // the one problem type (attention/problem.hpp); single head here

struct PerformerOptions {
  std::int64_t features = 256;
  std::uint64_t seed = 42;
  int threads = 1;
};

// Collective over comm. Returns this rank's rows of O (layout_q.local_rows(rank) x dv). Throws
// usage_error on every rank for a problem that is not single-head in contiguous blocks
// (attention::require_single_head), features < 1 or scale <= 0 (sqrt(scale) is used).
template <class T>
Matrix<T> performer_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                              const PerformerOptions& options);

}  // namespace attnbench::approx
