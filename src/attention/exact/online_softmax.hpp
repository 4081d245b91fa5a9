#pragma once
// Streaming (online) softmax attention for a fixed block of query rows, absorbing key/value blocks
// one at a time without ever forming more than a tile_q x tile_k block of scores per thread:
//   S = scale * Q_tile K_tile^T                       (GEMM, 2 tq tk d flops)
//   one fused sweep per row of S while it is in L1 (linalg::softmax_tile_update, SLEEF exp on the
//   widest ISA of the CPU): m' = max(m, rowmax S); a = exp(m - m'); P = exp(S - m');
//   l = a l + rowsum P; O_row *= a
//   O += P V_tile                                     (GEMM, 2 tq tk dv flops)
// and finally O /= l. Memory: O(nq (d + dv)) for the state plus threads * tile_q * tile_k scores
// (and threads * tile_q * d for a contiguous copy of the Q tile when Q's rows are strided, ldq > d:
// a head of a (B, n, H, d) tensor).
//
// Causal masks: when query rows and key rows carry their global sequence positions (increasing
// within a block, as in the contiguous, striped and zigzag layouts), key j is visible to query i
// iff pos_k[j] <= pos_q[i]. A key tile entirely above the diagonal of a query tile is skipped
// (no GEMM, no exp), a tile entirely below it is unmasked, and in a diagonal tile each row keeps
// the prefix of keys it may see (the key tile is also trimmed to the last visible key).
//
// Tile defaults (default_tiles<T>): float 256 x 512 (a 512 KiB score tile per thread), double
// 512 x 256 (1 MiB). Chosen by measurement on AMD EPYC Zen 3 (32 KiB L1d, 512 KiB L2 per core,
// shared 32 MiB L3), n = 8192, d = 64, one core, as the CPU-time fraction of the same-run GEMM
// rate (the machine was shared, so CPU time, not wall time): 64..1024 x 128..1024 were tried; these
// two were the best for their precision by a few percent (fp64 512 x 256 about 0.9 vs 0.8 for
// 256 x 512). Each score row (1-2 KiB) is swept by the fused softmax while it is in L1; tile_k
// >= 256 keeps the inner dimension of the P V GEMM long enough for OpenBLAS's kernels, and a
// tall tile_q lets the GEMMs reuse each K/V tile over many query rows from L2/L3.
#include <cstdint>
#include <functional>
#include <vector>

#include "core/matrix.hpp"

namespace attnbench::attention {

struct TileSizes {
  std::int64_t q = 256;  // query rows per tile (unit of thread parallelism)
  std::int64_t k = 512;  // key rows per tile
};

// The measured defaults per precision (see above).
template <class T>
constexpr TileSizes default_tiles() {
  return sizeof(T) == sizeof(float) ? TileSizes{256, 512} : TileSizes{512, 256};
}

// A block of keys and values: K (m x d, row stride ldk), V (m x dv, row stride ldv); pos, if set,
// are the keys' global sequence positions (increasing), needed by a causal mask.
template <class T>
struct KeyBlock {
  const T* K = nullptr;
  std::int64_t ldk = 0;
  const T* V = nullptr;
  std::int64_t ldv = 0;
  std::int64_t m = 0;
  const std::int64_t* pos = nullptr;
};

template <class T>
class OnlineSoftmax {
 public:
  // Q: nq x d with row stride ldq (a head of a (B, n, H, d) tensor has ldq = H d); it must outlive
  // this object. q_pos (nq increasing positions, outliving this object) enables the causal mask:
  // then every absorbed block must carry positions too. threads: OpenMP threads over query tiles.
  OnlineSoftmax(const T* Q, std::int64_t nq, std::int64_t d, std::int64_t ldq, std::int64_t dv, double scale,
                TileSizes tiles, int threads, const std::int64_t* q_pos = nullptr);
  // Unmasked attention of a row-major Q (nq x d).
  OnlineSoftmax(const Matrix<T>& Q, std::int64_t dv, double scale, TileSizes tiles, int threads)
      : OnlineSoftmax(Q.data(), Q.rows(), Q.cols(), Q.cols(), dv, scale, tiles, threads) {}

  // Absorb a block of keys/values. progress(), if set, is called by the main thread between tiles;
  // the ring uses it to drive MPI progress of in-flight transfers.
  void absorb(const KeyBlock<T>& block, const std::function<void()>& progress = {});
  // Unmasked, contiguous K (m x d) and V (m x dv).
  void absorb(const T* K, const T* V, std::int64_t m, const std::function<void()>& progress = {}) {
    absorb(KeyBlock<T>{K, d_, V, dv_, m, nullptr}, progress);
  }

  // O = acc / l (nq x dv). Also returns each row's log-sum-exp of the scaled scores if lse != nullptr.
  Matrix<T> finish(std::vector<double>* lse = nullptr) const;

  std::int64_t workspace_bytes() const;
  // Score tiles computed so far (a tile trimmed by the mask counts as one): tests check the skips.
  std::int64_t tiles_computed() const { return tiles_computed_; }

 private:
  const T* Q_;
  std::int64_t nq_, d_, ldq_, dv_;
  const std::int64_t* q_pos_;
  T scale_;
  TileSizes tiles_;
  int threads_;
  Matrix<T> acc_;
  std::vector<T> row_max_, row_sum_;
  std::vector<Matrix<T>> scores_;              // one tile_q x tile_k scratch per thread
  std::vector<std::vector<std::int64_t>> lens_;  // per thread: visible prefix per row of a tile
  std::vector<Matrix<T>> q_tiles_;               // per thread, when ldq != d: the tile's Q, packed
  std::int64_t tiles_computed_ = 0;
};

}  // namespace attnbench::attention
