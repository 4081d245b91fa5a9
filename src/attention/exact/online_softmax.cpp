#include "attention/exact/online_softmax.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::attention {

using linalg::Trans;

template <class T>
OnlineSoftmax<T>::OnlineSoftmax(const T* Q, std::int64_t nq, std::int64_t d, std::int64_t ldq, std::int64_t dv,
                                double scale, TileSizes tiles, int threads, const std::int64_t* q_pos)
    : Q_(Q),
      nq_(nq),
      d_(d),
      ldq_(ldq),
      dv_(dv),
      q_pos_(q_pos),
      scale_(static_cast<T>(scale)),
      tiles_(tiles),
      threads_(std::max(threads, 1)),
      acc_(nq, dv, T(0)),
      row_max_(static_cast<std::size_t>(nq), -std::numeric_limits<T>::infinity()),
      row_sum_(static_cast<std::size_t>(nq), T(0)) {
  if (tiles_.q < 1 || tiles_.k < 1) throw usage_error("tile sizes must be at least 1");
  // Scratch is sized lazily in absorb(): never larger than the rows and keys actually present,
  // so a huge --tile on a small problem costs nothing.
  scores_.resize(static_cast<std::size_t>(threads_));
  lens_.resize(static_cast<std::size_t>(threads_));
  if (ldq_ != d_) q_tiles_.resize(static_cast<std::size_t>(threads_));
}

template <class T>
void OnlineSoftmax<T>::absorb(const KeyBlock<T>& kb, const std::function<void()>& progress) {
  const std::int64_t nq = nq_, d = d_, m = kb.m;
  if (nq == 0 || m == 0) return;
  const bool causal = q_pos_ != nullptr;
  if (causal && kb.pos == nullptr) throw internal_error("OnlineSoftmax: a causal state needs key positions");
  const std::int64_t q_tiles = (nq + tiles_.q - 1) / tiles_.q;
  const std::int64_t tq_max = std::min(tiles_.q, nq), tk_max = std::min(tiles_.k, m);
  for (auto& S : scores_)
    if (S.size() < tq_max * tk_max) S.resize(tq_max, tk_max);
  for (auto& l : lens_)
    if (causal && static_cast<std::int64_t>(l.size()) < tq_max) l.resize(static_cast<std::size_t>(tq_max));
  for (auto& buf : q_tiles_)
    if (buf.size() < tq_max * d) buf.resize(tq_max, d);
  std::int64_t computed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) reduction(+ : computed)
  for (std::int64_t qt = 0; qt < q_tiles; ++qt) {
    const int tid = omp_get_thread_num();
    Matrix<T>& S = scores_[static_cast<std::size_t>(tid)];
    std::int64_t* lens = causal ? lens_[static_cast<std::size_t>(tid)].data() : nullptr;
    const std::int64_t i0 = qt * tiles_.q, tq = std::min(tiles_.q, nq - i0);
    const std::int64_t* qp = causal ? q_pos_ + i0 : nullptr;
    // A head of a (B, n, H, d) tensor has rows H d apart: copy the tile's tq x d block to
    // contiguous scratch once, so the GEMMs' packing reads unit-stride rows (a 4 KiB stride costs
    // a TLB entry per row and defeats the prefetchers). Same values, same GEMM: same result.
    const T* Qt = Q_ + i0 * ldq_;
    std::int64_t ldqt = ldq_;
    if (!q_tiles_.empty()) {
      T* dst = q_tiles_[static_cast<std::size_t>(tid)].data();
      for (std::int64_t i = 0; i < tq; ++i) std::copy_n(Qt + i * ldq_, d, dst + i * d);
      Qt = dst;
      ldqt = d;
    }
    for (std::int64_t j0 = 0; j0 < m; j0 += tiles_.k) {
      std::int64_t tk = std::min(tiles_.k, m - j0);
      const std::int64_t* row_lens = nullptr;
      if (causal) {
        const std::int64_t* kp = kb.pos + j0;
        // Keys increase: a tile starting above the last query's position, and every later one, is
        // entirely masked.
        if (kp[0] > qp[tq - 1]) break;
        tk = std::upper_bound(kp, kp + tk, qp[tq - 1]) - kp;  // trim to the last visible key
        if (kp[tk - 1] > qp[0]) {                             // a diagonal tile: per-row prefixes
          for (std::int64_t i = 0; i < tq; ++i) lens[i] = std::upper_bound(kp, kp + tk, qp[i]) - kp;
          row_lens = lens;
        }
      }
      // S[tq x tk] = scale * Q[i0:i0+tq] K[j0:j0+tk]^T
      linalg::gemm(Trans::no, Trans::yes, tq, tk, d, scale_, Qt, ldqt, kb.K + j0 * kb.ldk, kb.ldk, T(0),
                   S.data(), tk);
      // Fused, row by row in L1: max, exp (masked entries 0), row sums, rescaling of O's rows.
      linalg::SoftmaxTile<T> tile;
      tile.S = S.data();
      tile.rows = tq;
      tile.cols = tk;
      tile.lds = tk;
      tile.lens = row_lens;
      tile.row_max = row_max_.data() + i0;
      tile.row_sum = row_sum_.data() + i0;
      tile.acc = acc_.row(i0);
      tile.ldacc = dv_;
      tile.dv = dv_;
      linalg::softmax_tile_update(tile);
      // O[i0:i0+tq] += P V[j0:j0+tk]
      linalg::gemm(Trans::no, Trans::no, tq, dv_, tk, T(1), S.data(), tk, kb.V + j0 * kb.ldv, kb.ldv, T(1),
                   acc_.row(i0), dv_);
      ++computed;
      if (progress && tid == 0) progress();
    }
  }
  tiles_computed_ += computed;
}

template <class T>
Matrix<T> OnlineSoftmax<T>::finish(std::vector<double>* lse) const {
  Matrix<T> O(acc_.rows(), dv_);
  if (lse) lse->resize(static_cast<std::size_t>(acc_.rows()));
  // Row-parallel like absorb(): with --threads this O(nq dv) pass would otherwise be serial.
#pragma omp parallel for schedule(static) num_threads(threads_)
  for (std::int64_t i = 0; i < acc_.rows(); ++i) {
    const T inv = T(1) / row_sum_[static_cast<std::size_t>(i)];
    for (std::int64_t c = 0; c < dv_; ++c) O(i, c) = acc_(i, c) * inv;
    if (lse)
      (*lse)[static_cast<std::size_t>(i)] =
          static_cast<double>(row_max_[static_cast<std::size_t>(i)]) + std::log(static_cast<double>(row_sum_[static_cast<std::size_t>(i)]));
  }
  return O;
}

template <class T>
std::int64_t OnlineSoftmax<T>::workspace_bytes() const {
  std::int64_t b = static_cast<std::int64_t>(acc_.bytes() + 2 * row_max_.size() * sizeof(T));
  for (const auto& s : scores_) b += static_cast<std::int64_t>(s.bytes());
  for (const auto& l : lens_) b += static_cast<std::int64_t>(l.size() * sizeof(std::int64_t));
  for (const auto& q : q_tiles_) b += static_cast<std::int64_t>(q.bytes());
  return b;
}

template class OnlineSoftmax<float>;
template class OnlineSoftmax<double>;

}  // namespace attnbench::attention
