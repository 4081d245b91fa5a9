#pragma once
// Synthetic X (n x d) for the sparsify kernel: a pure function of (seed, global index), identical
// for any rank count, with |X X^T|_max = r exactly (every row has squared norm r, and
// |(X X^T)_ij| <= sqrt(M_ii M_jj) = r).
//
//   light entry (i, j): an integer k_ij uniform in [-2^20, 2^20) \ {0} from (seed, i d + j), kept
//     with probability `density` (mask from (seed, i d + j)), scaled by sqrt((1 - c) r / S_i) where
//     S_i = sum_j k_ij^2 is an exact integer sum (one MPI_Allreduce of n int64: exact, so the
//     scaling is bitwise the same for every rank count);
//   coherence c in [0, 1): row i also has one "heavy" column h(i) = floor(i d / n) holding a single
//     entry sqrt(c r): a few columns (n of d) carry a fraction c of the mass. Uniform column sampling
//     misses them; leverage sampling does not (their leverage is close to 1).
// Stored dense when density >= 1, else CSC. Generation costs O(n d / p) per rank (the mask is drawn
// for every entry), not O(nnz).
#include <cstdint>

#include "dist/comm.hpp"
#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

struct SyntheticSpec {
  std::int64_t n = 64;
  std::int64_t d = 4096;
  double r = 0.05;
  double density = 1.0;
  double coherence = 0.0;
  std::uint64_t seed = 42;
};

// Heavy column of row i (coherence > 0), and the row whose heavy column is j (or -1).
std::int64_t heavy_column(std::int64_t i, std::int64_t n, std::int64_t d);
std::int64_t heavy_row(std::int64_t j, std::int64_t n, std::int64_t d);

// Checks the spec (usage errors naming --n, --d, --r, --density, --coherence). Identical on all ranks.
void check_spec(const SyntheticSpec& spec);

// Bytes of this rank's generated block of `cols` columns stored as elem_size-byte values: dense
// n cols values; CSC the expected density n cols entries (value + int32 row) plus the column
// pointers. Saturates at INT64_MAX (after check_spec every factor is bounded).
std::int64_t generated_bytes(const SyntheticSpec& spec, std::int64_t cols, std::size_t elem_size);

// Collective: this rank's columns [col0, col0 + cols). One MPI_Allreduce of n int64. Before any
// work, the block's bytes (generated_bytes) plus `extra_bytes` (what the caller will allocate
// besides, e.g. the kernel's buffers) are checked against the node's memory
// (metrics::check_memory_fits, agreed): a size that does not fit is Error(does_not_fit) (exit 6) on
// every rank, naming the sizes and the bytes, instead of minutes of generation and a bad_alloc.
template <class T>
ColumnBlock<T> generate(const dist::Comm& comm, const SyntheticSpec& spec, std::int64_t col0, std::int64_t cols,
                        std::int64_t extra_bytes = 0);

}  // namespace attnbench::sparsify
