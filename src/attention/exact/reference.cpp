#include "attention/exact/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnbench::attention {

template <class T>
double reference_dot(const double* q, const T* k, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t c = 0; c < d; ++c) s += q[c] * static_cast<double>(k[c]);
  return s;
}
template double reference_dot<float>(const double*, const float*, std::int64_t);
template double reference_dot<double>(const double*, const double*, std::int64_t);

template <class T>
Matrix<double> reference_mha(const Matrix<T>& Q, const Matrix<T>& K, const Matrix<T>& V, const HeadShape& s,
                             std::int64_t n_q, std::int64_t n_k, bool causal, double scale) {
  const std::int64_t H = s.heads, d = s.d, dv = s.dv, g = s.group();
  Matrix<double> O(s.batch * n_q, H * dv, 0.0);
  std::vector<double> q(static_cast<std::size_t>(d)), w(static_cast<std::size_t>(n_k));
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t kvh = h / g;
      for (std::int64_t i = 0; i < n_q; ++i) {
        for (std::int64_t c = 0; c < d; ++c) q[static_cast<std::size_t>(c)] = static_cast<double>(Q(b * n_q + i, h * d + c));
        const std::int64_t visible = causal ? std::min(i + 1, n_k) : n_k;
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < visible; ++j) {
          w[static_cast<std::size_t>(j)] = scale * reference_dot(q.data(), K.row(b * n_k + j) + kvh * d, d);
          m = std::max(m, w[static_cast<std::size_t>(j)]);
        }
        double l = 0.0;
        for (std::int64_t j = 0; j < visible; ++j) {
          const double e = std::exp(w[static_cast<std::size_t>(j)] - m);
          l += e;
          for (std::int64_t c = 0; c < dv; ++c) O(b * n_q + i, h * dv + c) += e * static_cast<double>(V(b * n_k + j, kvh * dv + c));
        }
        for (std::int64_t c = 0; c < dv; ++c) O(b * n_q + i, h * dv + c) /= l;
      }
    }
  return O;
}

template Matrix<double> reference_mha<float>(const Matrix<float>&, const Matrix<float>&, const Matrix<float>&,
                                             const HeadShape&, std::int64_t, std::int64_t, bool, double);
template Matrix<double> reference_mha<double>(const Matrix<double>&, const Matrix<double>&, const Matrix<double>&,
                                              const HeadShape&, std::int64_t, std::int64_t, bool, double);

}  // namespace attnbench::attention
