// The serial reference (attention/reference.hpp) on cases whose answer is known by hand, and the
// streaming OnlineSoftmax against it: tiles, repeated absorb, threads, and the log-sum-exp merge
// identity of ALGORITHMS.md section 1 on two disjoint key sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/exact/online_softmax.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"

using namespace attnbench;
using attention::OnlineSoftmax;
using attention::TileSizes;

namespace {

template <class T>
Matrix<T> from_rows(std::int64_t rows, std::int64_t cols, std::initializer_list<double> values) {
  Matrix<T> m(rows, cols);
  std::int64_t i = 0;
  for (double v : values) m.data()[i++] = static_cast<T>(v);
  return m;
}

// Rows [r0, r0 + rows) of m as a new matrix.
template <class T>
Matrix<T> slice_rows(const Matrix<T>& m, std::int64_t r0, std::int64_t rows) {
  Matrix<T> s(rows, m.cols());
  std::copy(m.row(r0), m.row(r0) + rows * m.cols(), s.data());
  return s;
}

// Log-sum-exp over keys of the scaled scores of each query row, directly in long double.
template <class T>
std::vector<double> reference_lse(const Matrix<T>& Q, const Matrix<T>& K, double scale) {
  std::vector<double> out(static_cast<std::size_t>(Q.rows()));
  for (std::int64_t i = 0; i < Q.rows(); ++i) {
    std::vector<long double> s(static_cast<std::size_t>(K.rows()));
    for (std::int64_t j = 0; j < K.rows(); ++j) {
      long double dot = 0;
      for (std::int64_t c = 0; c < Q.cols(); ++c) dot += static_cast<long double>(Q(i, c)) * K(j, c);
      s[static_cast<std::size_t>(j)] = scale * dot;
    }
    long double m = -INFINITY;
    for (auto v : s) m = std::max(m, v);
    long double l = 0;
    for (auto v : s) l += std::exp(v - m);
    out[static_cast<std::size_t>(i)] = static_cast<double>(m + std::log(l));
  }
  return out;
}

template <class T>
double max_abs(const Matrix<T>& m) {
  double r = 0;
  for (std::int64_t i = 0; i < m.size(); ++i) r = std::max(r, std::abs(static_cast<double>(m.data()[i])));
  return r;
}

template <class A, class B>
double max_abs_diff(const Matrix<A>& a, const Matrix<B>& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  double r = 0;
  for (std::int64_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i]));
    r = std::isnan(e) ? std::numeric_limits<double>::infinity() : std::max(r, e);
  }
  return r;
}

}  // namespace

TEST(Reference, HandComputedTwoByTwo) {
  // Q = K = I, V = [[1, 2], [3, 4]], s = 1: S = I, so row 0 weighs (e, 1) and row 1 (1, e).
  const auto I = from_rows<double>(2, 2, {1, 0, 0, 1});
  const auto V = from_rows<double>(2, 2, {1, 2, 3, 4});
  const auto O = reference_attention(I, I, V, 1.0);
  const double e = std::exp(1.0);
  EXPECT_NEAR(O(0, 0), (e * 1 + 3) / (e + 1), 1e-15);
  EXPECT_NEAR(O(0, 1), (e * 2 + 4) / (e + 1), 1e-15);
  EXPECT_NEAR(O(1, 0), (1 + e * 3) / (e + 1), 1e-15);
  EXPECT_NEAR(O(1, 1), (2 + e * 4) / (e + 1), 1e-15);
  // The scale multiplies the logits: s = 0 gives the plain mean of V's rows.
  const auto O0 = reference_attention(I, I, V, 0.0);
  EXPECT_DOUBLE_EQ(O0(0, 0), 2.0);
  EXPECT_DOUBLE_EQ(O0(1, 1), 3.0);
  // float input, double output, same answer to float rounding of the inputs (exact here).
  const auto Of = reference_attention(from_rows<float>(2, 2, {1, 0, 0, 1}), from_rows<float>(2, 2, {1, 0, 0, 1}),
                                                 from_rows<float>(2, 2, {1, 2, 3, 4}), 1.0);
  EXPECT_NEAR(Of(0, 0), O(0, 0), 1e-15);
}

TEST(Reference, IdentityValuesGiveSoftmaxRows) {
  // With V = I (n x n) the output is the softmax matrix itself: positive rows summing to 1,
  // row i proportional to exp(s q_i . k_j).
  const std::int64_t n = 9, d = 4;
  const auto p = single_head_problem<double>(n, d, d, 3.0, 11, 0, 1);
  Matrix<double> V(n, n);
  for (std::int64_t i = 0; i < n; ++i) V(i, i) = 1.0;
  const double s = 0.7;
  const auto P = reference_attention(p.Q_local, p.K_local, V, s);
  for (std::int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      EXPECT_GT(P(i, j), 0.0);
      sum += P(i, j);
    }
    EXPECT_NEAR(sum, 1.0, 1e-14) << "row " << i;
    // Ratio of two entries = exp(s (q_i.k_0 - q_i.k_1)).
    double d0 = 0, d1 = 0;
    for (std::int64_t c = 0; c < d; ++c) {
      d0 += p.Q_local(i, c) * p.K_local(0, c);
      d1 += p.Q_local(i, c) * p.K_local(1, c);
    }
    EXPECT_NEAR(P(i, 0) / P(i, 1), std::exp(s * (d0 - d1)), 1e-12 * std::exp(s * (d0 - d1)));
  }
}

TEST(Reference, HugeLogitsDoNotOverflow) {
  // Scores of order 1e6: exp without max-subtraction would overflow to inf and give NaN.
  const auto Q = from_rows<double>(2, 1, {1000, -1000});
  const auto K = from_rows<double>(3, 1, {1000, 999, -5});
  const auto V = from_rows<double>(3, 2, {1, 2, 3, 4, 5, 6});
  const auto O = reference_attention(Q, K, V, 1.0);
  // Row 0: scores 1e6, 999000, -5000: all weight on key 0. Row 1: all weight on key 2.
  EXPECT_DOUBLE_EQ(O(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(O(0, 1), 2.0);
  EXPECT_DOUBLE_EQ(O(1, 0), 5.0);
  EXPECT_DOUBLE_EQ(O(1, 1), 6.0);
  // The streaming kernel too, in both precisions.
  OnlineSoftmax<double> st(Q, 2, 1.0, TileSizes{1, 2}, 1);
  st.absorb(K.data(), V.data(), 3);
  EXPECT_LE(max_abs_diff(st.finish(), O), 1e-15);
  const auto Qf = from_rows<float>(2, 1, {1000, -1000});
  const auto Kf = from_rows<float>(3, 1, {1000, 999, -5});
  const auto Vf = from_rows<float>(3, 2, {1, 2, 3, 4, 5, 6});
  OnlineSoftmax<float> sf(Qf, 2, 1.0, TileSizes{2, 1}, 1);
  sf.absorb(Kf.data(), Vf.data(), 3);
  EXPECT_LE(max_abs_diff(sf.finish(), O), 1e-6);
}

// ---------------------------------------------------------------------------------------------
template <class T>
class OnlineSoftmaxTest : public ::testing::Test {
 protected:
  static double tol() { return std::is_same_v<T, double> ? 1e-13 : 2e-5; }
};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OnlineSoftmaxTest, Scalars);

TYPED_TEST(OnlineSoftmaxTest, MatchesReferenceForAnyTiling) {
  using T = TypeParam;
  const std::int64_t nq = 29, nk = 41, d = 7, dv = 5;
  auto p = single_head_problem<T>(nq, d, dv, 2.0, 3, 0, 1);
  const auto K = synthetic_rows<T>(3, Stream::user, 0, nk, d, 2.0);
  const auto V = synthetic_rows<T>(4, Stream::user, 0, nk, dv, 2.0);
  const double s = 1.0 / std::sqrt(static_cast<double>(d));
  const auto ref = reference_attention(p.Q_local, K, V, s);
  for (TileSizes t : {TileSizes{1, 1}, TileSizes{4, 5}, TileSizes{29, 41}, TileSizes{256, 512}, TileSizes{7, 40}}) {
    OnlineSoftmax<T> st(p.Q_local, dv, s, t, 1);
    st.absorb(K.data(), V.data(), nk);
    EXPECT_LE(max_abs_diff(st.finish(), ref), this->tol() * max_abs(ref)) << "tiles " << t.q << "x" << t.k;
    // Absorbing the keys in several uneven calls is the same computation (streaming).
    OnlineSoftmax<T> st2(p.Q_local, dv, s, t, 1);
    for (std::int64_t j0 = 0, step = 1; j0 < nk; j0 += step, step += 3) {
      const std::int64_t m = std::min(step, nk - j0);
      st2.absorb(K.row(j0), V.row(j0), m);
    }
    EXPECT_LE(max_abs_diff(st2.finish(), ref), this->tol() * max_abs(ref)) << "split absorb, tiles " << t.q << "x" << t.k;
  }
}

TYPED_TEST(OnlineSoftmaxTest, ThreadsGiveIdenticalResults) {
  using T = TypeParam;
  const std::int64_t nq = 50, nk = 33, d = 6, dv = 4;
  auto p = single_head_problem<T>(nq, d, dv, 1.0, 8, 0, 1);
  const auto K = synthetic_rows<T>(9, Stream::user, 0, nk, d, 1.0);
  const auto V = synthetic_rows<T>(10, Stream::user, 0, nk, dv, 1.0);
  OnlineSoftmax<T> one(p.Q_local, dv, 0.5, TileSizes{4, 8}, 1), two(p.Q_local, dv, 0.5, TileSizes{4, 8}, 2);
  one.absorb(K.data(), V.data(), nk);
  two.absorb(K.data(), V.data(), nk);
  // Each query row is computed by one thread with the same operations: bitwise equal.
  EXPECT_EQ(max_abs_diff(one.finish(), two.finish()), 0.0);
}

TYPED_TEST(OnlineSoftmaxTest, LogSumExpMergeOfDisjointKeySets) {
  // ALGORITHMS.md 1: with (O1, lse1) over keys K1 and (O2, lse2) over the disjoint K2,
  //   lse = log(e^lse1 + e^lse2),  O = e^(lse1 - lse) O1 + e^(lse2 - lse) O2
  // equals the result over K1 u K2. Also lse itself against a direct long double computation.
  using T = TypeParam;
  const std::int64_t nq = 21, nk = 37, d = 8, dv = 3;
  const double s = 1.0 / static_cast<double>(d);
  auto p = single_head_problem<T>(nq, d, dv, 4.0, 21, 0, 1);
  const auto K = synthetic_rows<T>(22, Stream::user, 0, nk, d, 4.0);
  const auto V = synthetic_rows<T>(23, Stream::user, 0, nk, dv, 4.0);
  for (std::int64_t split : {1, 13, 36}) {
    const auto K1 = slice_rows(K, 0, split), V1 = slice_rows(V, 0, split);
    const auto K2 = slice_rows(K, split, nk - split), V2 = slice_rows(V, split, nk - split);
    OnlineSoftmax<T> a(p.Q_local, dv, s, TileSizes{5, 6}, 1), b(p.Q_local, dv, s, TileSizes{5, 6}, 1),
        all(p.Q_local, dv, s, TileSizes{5, 6}, 1);
    a.absorb(K1.data(), V1.data(), split);
    b.absorb(K2.data(), V2.data(), nk - split);
    all.absorb(K.data(), V.data(), nk);
    std::vector<double> lse1, lse2, lse;
    const auto O1 = a.finish(&lse1), O2 = b.finish(&lse2), O = all.finish(&lse);
    ASSERT_EQ(lse.size(), static_cast<std::size_t>(nq));
    const auto lse_ref = reference_lse(p.Q_local, K, s);
    const auto lse1_ref = reference_lse(p.Q_local, K1, s);
    Matrix<double> merged(nq, dv);
    for (std::int64_t i = 0; i < nq; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const double hi = std::max(lse1[u], lse2[u]), lo = std::min(lse1[u], lse2[u]);
      const double lse_m = hi + std::log1p(std::exp(lo - hi));
      EXPECT_NEAR(lse_m, lse[u], this->tol() * (1 + std::abs(lse[u]))) << "row " << i << " split " << split;
      EXPECT_NEAR(lse[u], lse_ref[u], this->tol() * (1 + std::abs(lse_ref[u]))) << "row " << i;
      EXPECT_NEAR(lse1[u], lse1_ref[u], this->tol() * (1 + std::abs(lse1_ref[u]))) << "row " << i;
      const double w1 = std::exp(lse1[u] - lse_m), w2 = std::exp(lse2[u] - lse_m);
      EXPECT_NEAR(w1 + w2, 1.0, 4 * this->tol());
      for (std::int64_t c = 0; c < dv; ++c)
        merged(i, c) = w1 * static_cast<double>(O1(i, c)) + w2 * static_cast<double>(O2(i, c));
    }
    EXPECT_LE(max_abs_diff(merged, O), 2 * this->tol() * max_abs(O)) << "split " << split;
  }
}
