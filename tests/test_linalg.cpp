// linalg wrappers: gemm against a naive triple loop (every transpose combination, leading
// dimensions larger than the matrix, alpha/beta, empty shapes, float and double), and the SLEEF
// exp_shift_sum against std::exp in higher precision for every vector-tail length.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

using namespace attnbench;
using linalg::Trans;

namespace {

template <class T>
std::vector<T> random_vector(std::size_t n, std::uint64_t seed) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(2.0 * uniform01(seed, Stream::user, i) - 1.0);
  return v;
}

template <class T>
class Gemm : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Gemm, Scalars);

// C = alpha op(A) op(B) + beta C, row-major, checked entry by entry against a long double triple
// loop with the standard error bound gamma_k (|alpha| |op(A)| |op(B)| + |beta| |C|).
template <class T>
void check_gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, T beta) {
  // Stored shapes: op(A) is m x k, so A is m x k (no) or k x m (yes); pad leading dims by 3.
  const std::int64_t a_rows = ta == Trans::no ? m : k, a_cols = ta == Trans::no ? k : m;
  const std::int64_t b_rows = tb == Trans::no ? k : n, b_cols = tb == Trans::no ? n : k;
  const std::int64_t lda = a_cols + 3, ldb = b_cols + 2, ldc = n + 1;
  auto A = random_vector<T>(static_cast<std::size_t>(std::max<std::int64_t>(a_rows * lda, 1)), 1);
  auto B = random_vector<T>(static_cast<std::size_t>(std::max<std::int64_t>(b_rows * ldb, 1)), 2);
  auto C = random_vector<T>(static_cast<std::size_t>(std::max<std::int64_t>(m * ldc, 1)), 3);
  const auto C0 = C;
  linalg::gemm(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  auto a = [&](std::int64_t i, std::int64_t l) { return ta == Trans::no ? A[i * lda + l] : A[l * lda + i]; };
  auto b = [&](std::int64_t l, std::int64_t j) { return tb == Trans::no ? B[l * ldb + j] : B[j * ldb + l]; };
  const long double eps = std::numeric_limits<T>::epsilon();
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      long double ref = 0, mag = 0;
      for (std::int64_t l = 0; l < k; ++l) {
        ref += static_cast<long double>(a(i, l)) * b(l, j);
        mag += std::abs(static_cast<long double>(a(i, l)) * b(l, j));
      }
      const long double c0 = C0[static_cast<std::size_t>(i * ldc + j)];
      ref = alpha * ref + beta * c0;
      mag = std::abs(alpha) * mag + std::abs(beta * c0);
      const long double got = C[static_cast<std::size_t>(i * ldc + j)];
      ASSERT_LE(std::abs(got - ref), 2 * (k + 2) * eps * mag + std::numeric_limits<T>::denorm_min())
          << "ta=" << (ta == Trans::yes) << " tb=" << (tb == Trans::yes) << " m=" << m << " n=" << n << " k=" << k
          << " at (" << i << "," << j << ")";
    }
    // The padding columns of C beyond n are never touched.
    for (std::int64_t j = n; j < ldc; ++j)
      ASSERT_EQ(C[static_cast<std::size_t>(i * ldc + j)], C0[static_cast<std::size_t>(i * ldc + j)]);
  }
}

}  // namespace

TYPED_TEST(Gemm, MatchesNaiveTripleLoopAllTransposes) {
  using T = TypeParam;
  for (Trans ta : {Trans::no, Trans::yes})
    for (Trans tb : {Trans::no, Trans::yes})
      for (auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 48, 80}, {5, 1, 130}}) {
        check_gemm<T>(ta, tb, m, n, k, T(1), T(0));
        check_gemm<T>(ta, tb, m, n, k, T(-0.75), T(1.5));
      }
}

TYPED_TEST(Gemm, ZeroShapes) {
  using T = TypeParam;
  // m = 0 or n = 0: nothing happens (the wrapper returns before BLAS, C may be empty).
  std::vector<T> C = {T(7)};
  linalg::gemm(Trans::no, Trans::yes, 0, 4, 3, T(1), static_cast<const T*>(nullptr), 3,
               static_cast<const T*>(nullptr), 3, T(0), C.data(), 4);
  linalg::gemm(Trans::no, Trans::yes, 4, 0, 3, T(1), static_cast<const T*>(nullptr), 3,
               static_cast<const T*>(nullptr), 3, T(0), C.data(), 1);
  EXPECT_EQ(C[0], T(7));
  // k = 0: C = beta C (the empty product contributes nothing).
  check_gemm<T>(Trans::no, Trans::no, 3, 4, 0, T(1), T(0.5));
  check_gemm<T>(Trans::no, Trans::yes, 3, 4, 0, T(1), T(0));
}

TYPED_TEST(Gemm, RejectsSizesBeyondBlasInt) {
  using T = TypeParam;
  const std::int64_t big = std::int64_t{1} << 31;  // INT_MAX + 1: must not be truncated silently
  T dummy = T(0);
  EXPECT_THROW(linalg::gemm(Trans::no, Trans::no, big, 1, 1, T(1), &dummy, 1, &dummy, 1, T(0), &dummy, 1), Error);
  EXPECT_THROW(linalg::gemm(Trans::no, Trans::no, 1, 1, big, T(1), &dummy, big, &dummy, 1, T(0), &dummy, 1), Error);
  EXPECT_EQ(dummy, T(0));
}

// ---------------------------------------------------------------------------------------------
namespace {

// exp(x - shift) with the subtraction rounded in T (as the kernel does), evaluated in long double.
template <class T>
long double exp_reference(T x, T shift) {
  return std::exp(static_cast<long double>(static_cast<T>(x - shift)));
}

// Error in units of the last place of T at the reference value (subnormal results: of the
// smallest normal's spacing, i.e. absolute error in units of denorm_min).
template <class T>
double ulp_error(T got, long double ref) {
  const long double r = static_cast<T>(ref);
  long double ulp = std::nextafter(static_cast<T>(std::abs(r)), std::numeric_limits<T>::infinity()) - std::abs(r);
  if (!(ulp > 0)) ulp = std::numeric_limits<T>::denorm_min();
  return static_cast<double>(std::abs(static_cast<long double>(got) - ref) / ulp);
}

template <class T>
class ExpShiftSum : public ::testing::Test {};
TYPED_TEST_SUITE(ExpShiftSum, Scalars);

template <class T>
void check_exp_shift_sum(const std::vector<T>& x0, T shift, double max_ulps) {
  std::vector<T> x = x0;
  const T sum = linalg::exp_shift_sum(x.data(), static_cast<std::int64_t>(x.size()), shift);
  long double ref_sum = 0, got_sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double ref = exp_reference(x0[i], shift);
    ref_sum += ref;
    got_sum += x[i];
    ASSERT_LE(ulp_error(x[i], ref), max_ulps)
        << "n=" << x.size() << " i=" << i << " x=" << x0[i] << " shift=" << shift << " got " << x[i] << " want "
        << static_cast<double>(ref);
  }
  // The return value is the sum of the values written (accumulated in T: n eps relative).
  const long double tol = (static_cast<long double>(x.size()) + 2) * std::numeric_limits<T>::epsilon() * ref_sum;
  EXPECT_LE(std::abs(static_cast<long double>(sum) - got_sum), tol + std::numeric_limits<T>::denorm_min())
      << "n=" << x.size();
  EXPECT_LE(std::abs(static_cast<long double>(sum) - ref_sum), 2 * tol + std::numeric_limits<T>::denorm_min());
}

}  // namespace

TYPED_TEST(ExpShiftSum, EveryTailLength) {
  using T = TypeParam;
  // Lengths 0..40 cover every remainder of the 2/4/8/16-wide vector loops and the scalar tail.
  for (std::size_t n = 0; n <= 40; ++n) {
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<T>(-30.0 * uniform01(n, Stream::user, i) + 1.0);
    check_exp_shift_sum<T>(x, T(0.5), 4.0);
  }
}

TYPED_TEST(ExpShiftSum, WideRangeLongVector) {
  using T = TypeParam;
  // Softmax arguments x - max lie in (-inf, 0]; cover down to where the result is tiny but normal.
  const double lo = std::is_same_v<T, float> ? -85.0 : -700.0;
  std::vector<T> x(1027);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(lo * uniform01(5, Stream::user, i));
  check_exp_shift_sum<T>(x, T(0), 4.0);
  // A non-zero shift with large magnitudes (logits of unnormalized scores).
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(1000.0 - 40.0 * uniform01(6, Stream::user, i));
  check_exp_shift_sum<T>(x, T(1000), 4.0);
}

TYPED_TEST(ExpShiftSum, SpecialValues) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  for (std::size_t n : {1u, 5u, 16u, 19u, 33u}) {
    // x == shift gives exactly 1; -inf (a masked score) gives exactly 0 and no NaN.
    std::vector<T> x(n, T(3));
    x[n / 2] = -inf;
    const T s = linalg::exp_shift_sum(x.data(), static_cast<std::int64_t>(n), T(3));
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], i == n / 2 ? T(0) : T(1)) << "n=" << n << " i=" << i;
    EXPECT_EQ(s, static_cast<T>(n - 1));
    // Far below the shift: underflows to 0, never to NaN or a negative value.
    std::vector<T> y(n, T(-1e6));
    EXPECT_EQ(linalg::exp_shift_sum(y.data(), static_cast<std::int64_t>(n), T(0)), T(0));
    // A NaN input is not hidden: it shows in the output and in the sum.
    std::vector<T> z(n, T(0));
    z[n - 1] = std::numeric_limits<T>::quiet_NaN();
    EXPECT_TRUE(std::isnan(linalg::exp_shift_sum(z.data(), static_cast<std::int64_t>(n), T(0)))) << "n=" << n;
    EXPECT_TRUE(std::isnan(z[n - 1]));
  }
  // n = 0 touches nothing and sums to 0.
  T untouched = T(9);
  EXPECT_EQ(linalg::exp_shift_sum(&untouched, 0, T(1)), T(0));
  EXPECT_EQ(untouched, T(9));
  EXPECT_NE(std::string(linalg::vector_exp_isa()).find("sleef"), std::string::npos);
}
