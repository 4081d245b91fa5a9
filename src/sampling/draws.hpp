#pragma once
// Importance sampling across ranks: m iid draws from p_j = q_j / sum q over every rank's local
// nonnegative scores, the same draws on any number of ranks (they are functions of the seed and
// the global CDF only). Used by sparsify (columns by leverage scores) and regress (newton-sketch:
// rows by the bounds of their Hessian terms).
#include <cstdint>
#include <vector>

#include "dist/comm.hpp"

namespace attnbench::sampling {

// The m sorted uniforms as exponential spacings: fills P with P_0 .. P_{m-1} (capacity m + 8) of
// P_l = E_0 + ... + E_l, E iid standard exponentials of (seed, stream, l); returns P_m, so that
// P_l / P_m, l < m, are m sorted iid uniforms. O(m), no sort.
double spacing_sums(std::uint64_t seed, std::uint64_t stream, std::int64_t m, std::vector<double>& P);

// Collective. m iid draws from p_j = q_j / sum q over every rank's local scores q (local entry j
// is global index offset + j): this rank's drawn indices (global, ascending, duplicates merged)
// and their weights sqrt(c_j / (m p_j)) for an index drawn c_j times. The draws are the sorted
// uniforms of spacing_sums mapped through the global CDF: exactly multinomial. Data movement: one
// allgather of p doubles (the ranks' score sums) and one of p int64 (each rank's first draw).
// Time O(m) (the m exponentials, replicated) + O(local q) (the merge) per rank; memory m + 8
// doubles + 3 min(draws_r, q.size()) words. A sum that is not positive and finite is an internal
// error (the callers' scores are nonnegative with a positive sum).
void sample_by_scores(const dist::Comm& comm, std::int64_t offset, const std::vector<double>& q, std::int64_t m,
                      std::uint64_t seed, std::uint64_t stream, std::vector<std::int64_t>& indices,
                      std::vector<double>& weights);

}  // namespace attnbench::sampling
