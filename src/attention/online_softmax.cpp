#include "attention/online_softmax.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::attention {

using linalg::Trans;

template <class T>
OnlineSoftmax<T>::OnlineSoftmax(const Matrix<T>& Q, std::int64_t dv, double scale, TileSizes tiles, int threads)
    : Q_(Q),
      dv_(dv),
      scale_(static_cast<T>(scale)),
      tiles_(tiles),
      threads_(std::max(threads, 1)),
      acc_(Q.rows(), dv, T(0)),
      row_max_(static_cast<std::size_t>(Q.rows()), -std::numeric_limits<T>::infinity()),
      row_sum_(static_cast<std::size_t>(Q.rows()), T(0)) {
  // Scratch is sized lazily in absorb(): never larger than the rows and keys actually present,
  // so a huge --tile on a small problem costs nothing.
  scores_.resize(static_cast<std::size_t>(threads_));
}

template <class T>
void OnlineSoftmax<T>::absorb(const T* K, const T* V, std::int64_t m, const std::function<void()>& progress) {
  const std::int64_t nq = Q_.rows(), d = Q_.cols();
  if (nq == 0 || m == 0) return;
  const std::int64_t q_tiles = (nq + tiles_.q - 1) / tiles_.q;
  const std::int64_t tq_max = std::min(tiles_.q, nq), tk_max = std::min(tiles_.k, m);
  for (auto& S : scores_)
    if (S.size() < tq_max * tk_max) S.resize(tq_max, tk_max);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
  for (std::int64_t qt = 0; qt < q_tiles; ++qt) {
    const int tid = omp_get_thread_num();
    Matrix<T>& S = scores_[static_cast<std::size_t>(tid)];
    const std::int64_t i0 = qt * tiles_.q, tq = std::min(tiles_.q, nq - i0);
    for (std::int64_t j0 = 0; j0 < m; j0 += tiles_.k) {
      const std::int64_t tk = std::min(tiles_.k, m - j0);
      // S[tq x tk] = scale * Q[i0:i0+tq] K[j0:j0+tk]^T
      linalg::gemm(Trans::no, Trans::yes, tq, tk, d, scale_, Q_.row(i0), d, K + j0 * d, d, T(0), S.data(), tk);
      for (std::int64_t i = 0; i < tq; ++i) {
        T* s = S.data() + i * tk;
        const T mx = linalg::max_element(s, tk);
        const std::size_t gi = static_cast<std::size_t>(i0 + i);
        const T m_old = row_max_[gi];
        const T m_new = std::max(m_old, mx);
        const T rescale = std::exp(m_old - m_new);  // exp(-inf) = 0 on the first tile
        const T rowsum = linalg::exp_shift_sum(s, tk, m_new);
        row_sum_[gi] = rescale * row_sum_[gi] + rowsum;
        row_max_[gi] = m_new;
        if (rescale != T(1)) {
          T* o = acc_.row(i0 + i);
          for (std::int64_t c = 0; c < dv_; ++c) o[c] *= rescale;
        }
      }
      // O[i0:i0+tq] += P V[j0:j0+tk]
      linalg::gemm(Trans::no, Trans::no, tq, dv_, tk, T(1), S.data(), tk, V + j0 * dv_, dv_, T(1), acc_.row(i0), dv_);
      if (progress && tid == 0) progress();
    }
  }
}

template <class T>
Matrix<T> OnlineSoftmax<T>::finish(std::vector<double>* lse) const {
  Matrix<T> O(acc_.rows(), dv_);
  if (lse) lse->resize(static_cast<std::size_t>(acc_.rows()));
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
  return b;
}

template class OnlineSoftmax<float>;
template class OnlineSoftmax<double>;

}  // namespace attnbench::attention
