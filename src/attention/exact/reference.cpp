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

namespace {
template <class T>
double dot(const double* q, const T* k, std::int64_t d) {
  return reference_dot(q, k, d);
}
}  // namespace

template <class T>
void reference_row_max(const Matrix<double>& q, const Matrix<T>& K, double scale, std::vector<double>& row_max) {
  row_max.assign(static_cast<std::size_t>(q.rows()), -std::numeric_limits<double>::infinity());
  for (std::int64_t i = 0; i < q.rows(); ++i)
    for (std::int64_t j = 0; j < K.rows(); ++j)
      row_max[static_cast<std::size_t>(i)] = std::max(row_max[static_cast<std::size_t>(i)], scale * dot(q.row(i), K.row(j), q.cols()));
}

template <class T>
void reference_partial_sums(const Matrix<double>& q, const Matrix<T>& K, const Matrix<T>& V, double scale,
                            const std::vector<double>& row_max, std::vector<double>& sums, Matrix<double>& weighted) {
  for (std::int64_t i = 0; i < q.rows(); ++i) {
    for (std::int64_t j = 0; j < K.rows(); ++j) {
      const double w = std::exp(scale * dot(q.row(i), K.row(j), q.cols()) - row_max[static_cast<std::size_t>(i)]);
      sums[static_cast<std::size_t>(i)] += w;
      for (std::int64_t c = 0; c < V.cols(); ++c) weighted(i, c) += w * static_cast<double>(V(j, c));
    }
  }
}

template <class T>
Matrix<double> reference_attention(const Matrix<T>& Q, const Matrix<T>& K, const Matrix<T>& V, double scale) {
  Matrix<double> q(Q.rows(), Q.cols());
  for (std::int64_t i = 0; i < Q.size(); ++i) q.data()[i] = static_cast<double>(Q.data()[i]);
  std::vector<double> row_max, sums(static_cast<std::size_t>(Q.rows()), 0.0);
  Matrix<double> O(Q.rows(), V.cols(), 0.0);
  reference_row_max(q, K, scale, row_max);
  reference_partial_sums(q, K, V, scale, row_max, sums, O);
  for (std::int64_t i = 0; i < O.rows(); ++i)
    for (std::int64_t c = 0; c < O.cols(); ++c) O(i, c) /= sums[static_cast<std::size_t>(i)];
  return O;
}

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
          w[static_cast<std::size_t>(j)] = scale * dot(q.data(), K.row(b * n_k + j) + kvh * d, d);
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

void naive_float_row_max(const Matrix<double>& q, const Matrix<float>& K, double scale, std::vector<float>& row_max) {
  row_max.assign(static_cast<std::size_t>(q.rows()), -std::numeric_limits<float>::infinity());
  const float s = static_cast<float>(scale);
  for (std::int64_t i = 0; i < q.rows(); ++i)
    for (std::int64_t j = 0; j < K.rows(); ++j) {
      float acc = 0.0f;
      for (std::int64_t c = 0; c < q.cols(); ++c) acc += static_cast<float>(q(i, c)) * K(j, c);
      row_max[static_cast<std::size_t>(i)] = std::max(row_max[static_cast<std::size_t>(i)], s * acc);
    }
}

void naive_float_partial_sums(const Matrix<double>& q, const Matrix<float>& K, const Matrix<float>& V, double scale,
                              const std::vector<float>& row_max, std::vector<float>& sums, Matrix<float>& weighted) {
  const float s = static_cast<float>(scale);
  for (std::int64_t i = 0; i < q.rows(); ++i)
    for (std::int64_t j = 0; j < K.rows(); ++j) {
      float acc = 0.0f;
      for (std::int64_t c = 0; c < q.cols(); ++c) acc += static_cast<float>(q(i, c)) * K(j, c);
      const float w = std::exp(s * acc - row_max[static_cast<std::size_t>(i)]);
      sums[static_cast<std::size_t>(i)] += w;
      for (std::int64_t c = 0; c < V.cols(); ++c) weighted(i, c) += w * V(j, c);
    }
}

template Matrix<double> reference_attention<float>(const Matrix<float>&, const Matrix<float>&, const Matrix<float>&, double);
template Matrix<double> reference_attention<double>(const Matrix<double>&, const Matrix<double>&, const Matrix<double>&, double);
template Matrix<double> reference_mha<float>(const Matrix<float>&, const Matrix<float>&, const Matrix<float>&,
                                             const HeadShape&, std::int64_t, std::int64_t, bool, double);
template Matrix<double> reference_mha<double>(const Matrix<double>&, const Matrix<double>&, const Matrix<double>&,
                                              const HeadShape&, std::int64_t, std::int64_t, bool, double);
template void reference_row_max<float>(const Matrix<double>&, const Matrix<float>&, double, std::vector<double>&);
template void reference_row_max<double>(const Matrix<double>&, const Matrix<double>&, double, std::vector<double>&);
template void reference_partial_sums<float>(const Matrix<double>&, const Matrix<float>&, const Matrix<float>&, double,
                                            const std::vector<double>&, std::vector<double>&, Matrix<double>&);
template void reference_partial_sums<double>(const Matrix<double>&, const Matrix<double>&, const Matrix<double>&, double,
                                             const std::vector<double>&, std::vector<double>&, Matrix<double>&);

}  // namespace attnbench::attention
