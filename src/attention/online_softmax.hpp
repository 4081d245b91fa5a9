#pragma once
// Streaming (online) softmax attention for a fixed block of query rows, absorbing key/value blocks
// one at a time without ever forming more than a tile_q x tile_k block of scores per thread:
//   S = scale * Q_tile K_tile^T                       (GEMM, 2 tq tk d flops)
//   m' = max(m, rowmax S); a = exp(m - m'); P = exp(S - m')  (SLEEF vector exp)
//   l = a l + rowsum P;  O = a O + P V_tile            (GEMM, 2 tq tk dv flops)
// and finally O /= l. Memory: O(nq (d + dv)) for the state plus threads * tile_q * tile_k.
#include <cstdint>
#include <functional>
#include <vector>

#include "core/matrix.hpp"

namespace attnbench::attention {

struct TileSizes {
  std::int64_t q = 256;  // query rows per tile (unit of thread parallelism)
  std::int64_t k = 512;  // key rows per tile
};

template <class T>
class OnlineSoftmax {
 public:
  // Q (nq x d) must outlive this object. threads: OpenMP threads over query tiles.
  OnlineSoftmax(const Matrix<T>& Q, std::int64_t dv, double scale, TileSizes tiles, int threads);

  // Absorb keys K (m x d, row stride d) and values V (m x dv). progress(), if set, is called by the
  // main thread between tiles; the ring uses it to drive MPI progress of in-flight transfers.
  void absorb(const T* K, const T* V, std::int64_t m, const std::function<void()>& progress = {});

  // O = acc / l (nq x dv). Also returns each row's log-sum-exp of the scaled scores if lse != nullptr.
  Matrix<T> finish(std::vector<double>* lse = nullptr) const;

  std::int64_t workspace_bytes() const;

 private:
  const Matrix<T>& Q_;
  std::int64_t dv_;
  T scale_;
  TileSizes tiles_;
  int threads_;
  Matrix<T> acc_;
  std::vector<T> row_max_, row_sum_;
  std::vector<Matrix<T>> scores_;  // one tile_q x tile_k scratch per thread
};

}  // namespace attnbench::attention
