#pragma once
// Shared machinery of the sorted-LSH attention approximations (KDEformer and HyperAttention,
// ALGORITHMS.md section 3):
//   - angular LSH with r Gaussian hyperplanes shared by Q and K (drawn from the counter RNG),
//   - the Hamming-adjacent bucket order (inverse Gray code),
//   - the distributed sort of Q and K into blocks: every rank learns the global sorted order from
//     an all-gather of the bucket ids (4 bytes per row), then moves exactly the Q/K/V rows of the
//     blocks it owns with point-to-point messages (no request round: both sides derive the lists
//     from the same global order),
//   - the residual key sample (rows drawn from a shared seed, all-gathered once),
//   - the per-block estimate: exact softmax on the block (O_h, lse_h) and the weighted sampled
//     residual masked off the query's own block (O_r, lse_r), merged by log-sum-exp.
// KDEformer and HyperAttention differ only in the sampling distribution and weights.
//
// Memory per rank (n_q queries, n_k keys, p ranks, s samples, b = bucket size):
//   O(n_q + n_k) small integers for the global order (bucket ids 4 B, sorted order 8 B, key block
//   4 B per row: about 16 (n_q + n_k) bytes), plus the rows of the blocks this rank owns,
//   about (n_q/p)(d + dv) + (n_k/p)(d + dv) elements, plus s (d + dv) sampled rows, plus per thread
//   b x (b + s) scores. No rank ever holds all of K or V.
#include <cstdint>
#include <span>
#include <vector>

#include "attention/problem.hpp"
#include "core/matrix.hpp"
#include "core/random.hpp"
#include "dist/comm.hpp"
#include "dist/layout.hpp"

namespace attnbench::approx {

using attention::AttentionProblem;  // the one problem type (attention/problem.hpp); single head here

// Counter-RNG streams of the approximations (distinct from the data streams Q, K, V).
namespace streams {
constexpr std::uint64_t lsh_planes = static_cast<std::uint64_t>(Stream::user) + 301;
constexpr std::uint64_t kde_samples = static_cast<std::uint64_t>(Stream::user) + 302;
constexpr std::uint64_t hyper_samples = static_cast<std::uint64_t>(Stream::user) + 303;
constexpr std::uint64_t performer_features = static_cast<std::uint64_t>(Stream::user) + 304;
}  // namespace streams

// Standard normal from two counter-RNG uniforms (Box-Muller, cosine branch): a pure function of
// (seed, stream, index), so every rank draws the same value for the same index.
double standard_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index);

// Gray code and its inverse: consecutive integers i, i+1 have Gray codes differing in one bit, so
// ordering buckets b by gray_inverse(b) makes neighbouring buckets Hamming-adjacent.
constexpr std::uint32_t gray_code(std::uint32_t i) noexcept { return i ^ (i >> 1); }
constexpr std::uint32_t gray_inverse(std::uint32_t g) noexcept {
  for (std::uint32_t shift = 1; shift < 32; shift <<= 1) g ^= g >> shift;
  return g;
}

// r x d hyperplanes; entry (k, j) = standard_normal(seed, lsh_planes, k * d + j).
Matrix<double> lsh_hyperplanes(std::uint64_t seed, int planes, std::int64_t d);

// Bucket b = sum_k [x . w_k > 0] 2^k of every row of X. Dot products in double, row by row, so a
// row's bucket does not depend on how rows are distributed. Cost 2 rows r d flops, local.
template <class T>
std::vector<std::uint32_t> lsh_buckets(const Matrix<T>& X, const Matrix<double>& planes);

// Throws usage_error (identically on every rank: depends only on global values) unless
// 1 <= planes <= 20, 1 <= bucket_size <= n_kv, samples >= 0.
void validate_lsh_options(const char* algo, int planes, std::int64_t bucket_size, std::int64_t samples,
                          std::int64_t n_kv);

using IndexLists = std::vector<std::vector<std::int64_t>>;  // one list per peer rank

// The global sorted-block plan and this rank's share of it.
// Keys sorted (stable) by gray_inverse(bucket), ties by global row; key block of sorted position t
// is t / bucket_size (blocks = ceil(n_k / bucket_size)). Queries sorted the same way; the query at
// sorted position t goes to block floor(t n_k / n_q) / bucket_size (= t / bucket_size when
// n_q = n_k), so there are as many query blocks as key blocks. Blocks are dealt to ranks as
// contiguous ranges (BlockRowLayout(blocks, p)).
struct BlockPlan {
  std::int64_t n_q = 0, n_k = 0, bucket_size = 0, blocks = 0;
  std::int64_t block_begin = 0, block_end = 0;  // blocks [begin, end) are computed on this rank
  std::vector<std::int32_t> key_block;          // block of every global key row (n_k entries)
  // Offsets of each of my blocks in my sorted query / key rows (size end - begin + 1).
  std::vector<std::int64_t> q_ptr, k_ptr;
  // Exchange lists. q_send[s]: local Q rows this rank sends to rank s (in s's order);
  // q_recv[t]: positions in my sorted query rows filled from rank t. Same for keys.
  IndexLists q_send, q_recv, k_send, k_recv;
};

// Collective. Data movement: two MPI_Allgatherv of the bucket ids (n_q + n_k ints in total arrive
// at every rank). Then a counting sort over 2^planes buckets, O(n_q + n_k + 2^planes), identical on
// every rank, so no further agreement is needed.
BlockPlan plan_blocks(const dist::Comm& comm, const dist::BlockRowLayout& layout_q,
                      const dist::BlockRowLayout& layout_kv, std::span<const std::uint32_t> q_buckets_local,
                      std::span<const std::uint32_t> k_buckets_local, int planes, std::int64_t bucket_size);

// Sparse personalized exchange of rows (cols elements each): row send_idx[s][k] of src goes to
// rank s, where it lands in row recv_idx[me][k] of dst. Both sides' lists come from the same global
// order, so sizes match without a handshake. Collective over the ranks that exchange; cost: one
// Isend/Irecv pair per non-empty peer, volume = rows moved x cols.
template <class T>
void exchange_rows(const dist::Comm& comm, const T* src, std::int64_t cols, const IndexLists& send_idx, T* dst,
                   const IndexLists& recv_idx, int tag);

// This rank's blocks: query, key and value rows in sorted order.
template <class T>
struct SortedBlocks {
  BlockPlan plan;
  Matrix<T> Q, K, V;
};

// Collective, on a single-head problem in contiguous blocks: hashes locally, plans (plan_blocks), then
//   Q[my blocks] := exchange(Q[rows_r])   about (p-1)/p^2 n_q d elements in per rank
//   K[my blocks], V[my blocks] := exchange(K[rows_r], V[rows_r])   about (p-1)/p^2 n_k (d+dv).
template <class T>
SortedBlocks<T> sort_into_blocks(const dist::Comm& comm, const AttentionProblem<T>& problem, int planes,
                                 std::int64_t bucket_size, std::uint64_t seed);

// The residual key sample: unique global key rows (ascending) with their total weights
// (multiplicity x importance weight) and their K/V rows.
template <class T>
struct KeySample {
  std::vector<std::int64_t> rows;
  std::vector<double> weight;
  std::vector<std::int32_t> block;  // key block of each sampled row
  Matrix<T> K, V;
};

// Collective: K[S], V[S] := Allgatherv(owned rows of S). Every rank receives |S| (d + dv)
// elements. rows must be ascending and unique (so owners' contributions are in rank order).
template <class T>
KeySample<T> gather_key_sample(const dist::Comm& comm, const AttentionProblem<T>& problem, const BlockPlan& plan,
                               std::vector<std::int64_t> rows, std::vector<double> weight);

// Merge of two softmax results over disjoint key sets, per row (ALGORITHMS.md section 1):
//   lse = log(e^lse1 + e^lse2), O = e^(lse1-lse) O1 + e^(lse2-lse) O2.
// A set may be empty (lse = -inf, its O ignored). Overwrites (O1, lse1) with the merge.
template <class T>
void lse_merge(Matrix<T>& O1, std::vector<double>& lse1, const Matrix<T>& O2, const std::vector<double>& lse2);

// Local: for each of my blocks, (O_h, lse_h) = exact softmax of the block's queries over the block's
// keys; (O_r, lse_r) = softmax over the sampled keys not in the block, each key's logit offset by
// log(weight), i.e. lse_r = log sum_j w_j exp(s q.k_j); then merged. Cost per block of mq queries
// and mk keys: 2 mq (mk + |S|)(d + dv) flops and mq (mk + |S|) exp. OpenMP over blocks.
// e^lse [O | 1] is the estimate of [A V | A 1] for the row (unbiased when the weights are
// inverse-probability weights of the sample).
template <class T>
void blocked_estimate(const SortedBlocks<T>& sorted, const KeySample<T>& sample, double scale, int threads,
                      Matrix<T>& O_sorted, std::vector<double>& lse_sorted);

// Whole pipeline shared by kde and hyper once the sample is known: returns this rank's rows of O
// (layout_q) and, if lse != nullptr, their log-sum-exp. Collective. The final step sends each
// computed row back to its owner: O[rows_r] := exchange(O[my blocks]), about (p-1)/p^2 n_q dv.
template <class T>
Matrix<T> sorted_lsh_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const SortedBlocks<T>& sorted,
                               const KeySample<T>& sample, double scale, int threads, std::vector<double>* lse);

// The options of the two sorted-LSH methods, kde and hyper (they differ only in the residual draw).
struct LshOptions {
  int lsh_planes = 7;
  std::int64_t bucket_size = 64;
  std::int64_t samples = 128;
  std::uint64_t seed = 42;
  int threads = 1;
};

// The residual keys a method draws: unique global key rows (ascending) and their weights.
struct ResidualDraw {
  std::vector<std::int64_t> rows;
  std::vector<double> weight;
};

// The residual draws: kde's (KDEformer: from the norms of [V|1]; collective, kde.cpp) and hyper's
// (uniform over the n_kv keys; local, hyper.cpp).
template <class T>
ResidualDraw kde_draw(const dist::Comm& comm, const AttentionProblem<T>& problem, const LshOptions& options);
ResidualDraw uniform_draw(std::int64_t n_kv, const LshOptions& options);

enum class LshMethod { kde, hyper };

// kde and hyper end to end (kde_hyper.hpp): the problem (single head, contiguous blocks:
// attention::require_single_head) and the options checked (usage errors naming the method, on
// every rank), the blocks sorted (sort_into_blocks), the method's residual drawn, the sampled keys
// gathered (gather_key_sample), then sorted_lsh_attention. Collective.
template <class T>
Matrix<T> lsh_attention(LshMethod method, const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                        const LshOptions& options, std::vector<double>* lse);

}  // namespace attnbench::approx
