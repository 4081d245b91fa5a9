#pragma once
// The sparse embedding Pi (s x d) of leverage-sketch applied to this rank's columns:
// SX += Pi_r X_r^T, where column j of Pi has z nonzeros +-1/sqrt(z) at the rows drawn from
// (seed, global j z + t) (rng::sketch_entry; z = 1 is the CountSketch). Pi X^T = sum_r Pi_r X_r^T,
// so the per-rank results are summed by one Allreduce (done by the caller).
//
// Layout and cost: SX is s x n row-major, so the contribution of column j is sign * x_j / sqrt(z)
// added to the contiguous n-vector SX[h(j), :]. X is streamed once in its storage order (dense
// column blocks or CSC, both contiguous per column) with z nnz(X_r) flops; the writes go to rows of
// SX in hash order, i.e. at random, so SX (s n doubles: 4 MiB for n = 128, 18 MiB for n = 256 with
// the default s) is meant to stay in the last-level cache; the rows a few columns ahead are
// prefetched so that the cache misses overlap. The hashes are drawn once per column (not per entry).
// Extra memory: none beyond SX (a ring of `ahead` hashes).
// Measured (one core): dense X streams at about half the same-run STREAM-triad rate (a plain read
// loop reaches about 0.75 of it). Sparse X (n = 256, density 1%, 2.6 entries per column) is bound
// by one random update of SX per stored entry plus the per-column hash: 5.3 ns per entry with an
// L2-sized sketch (s = 1024, 0.13 of triad), 7.5-8 ns with the default s = 12 n = 3072 (0.09-0.14);
// the column-by-column loop it replaced took 12.7 ns, most of it mispredicted branches. The bare
// updates alone, precomputed, reach 0.23-0.46 of triad here (sparsify_bench --bandwidth).
#include <cstdint>
#include <vector>

#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

// SX (s x n, row-major, zeroed or holding a partial sum) += Pi[:, cols_r] X_r^T. Deterministic:
// every SX entry receives its terms in ascending local column order.
template <class T>
void add_sparse_embedding(const ColumnBlock<T>& X, std::uint64_t seed, std::int64_t s, std::int64_t z, double* SX);


// The approximate leverage scores of this rank's columns: tau~_j = |x_j^T B|^2 / k, B (n x k,
// row-major) = R^{-1} G. 2 k nnz(X_r) flops, one streaming pass over X: dense blocks of columns go
// through one GEMM each (X_block (b x n) B), sparse columns through k-vector updates per entry.
// Extra memory: a block of b x (k + n) doubles (the n only for float storage, converted to double).
template <class T>
std::vector<double> jl_scores(const ColumnBlock<T>& X, const std::vector<double>& B, std::int64_t k);

}  // namespace attnbench::sparsify
