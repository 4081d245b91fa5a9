// linalg/lapack.hpp against results computed by hand (column-major 2 x 2 and 3 x 2 systems), in
// both precisions, including the info values that name a failing minor or pivot.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "linalg/lapack.hpp"

namespace attnbench::linalg {
namespace {

template <class T>
class Lapack : public ::testing::Test {};
using Types = ::testing::Types<double, float>;
TYPED_TEST_SUITE(Lapack, Types);

template <class T>
T tol() {
  return std::is_same_v<T, double> ? T(1e-13) : T(1e-5);
}

TYPED_TEST(Lapack, PotrfLowerAndUpper) {
  using T = TypeParam;
  // A = [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt(2)]].
  std::vector<T> A = {4, 2, 2, 3};
  ASSERT_EQ(potrf(Uplo::lower, 2, A.data(), 2), 0);
  EXPECT_NEAR(A[0], 2, tol<T>());
  EXPECT_NEAR(A[1], 1, tol<T>());
  EXPECT_NEAR(A[3], std::sqrt(T(2)), tol<T>());
  EXPECT_EQ(A[2], T(2));  // the upper triangle is untouched
  std::vector<T> U = {4, 2, 2, 3};
  ASSERT_EQ(potrf(Uplo::upper, 2, U.data(), 2), 0);
  EXPECT_NEAR(U[2], 1, tol<T>());  // U(0,1) = L(1,0)
}

TYPED_TEST(Lapack, PotrfReportsTheLeadingMinor) {
  using T = TypeParam;
  std::vector<T> A = {1, 2, 2, 1};  // det = -3: the minor of order 2 is not positive
  EXPECT_EQ(potrf(Uplo::lower, 2, A.data(), 2), 2);
  std::vector<T> B = {-1, 0, 0, 1};
  EXPECT_EQ(potrf(Uplo::lower, 2, B.data(), 2), 1);
}

TYPED_TEST(Lapack, PotrsAndPosv) {
  using T = TypeParam;
  // [[4, 2], [2, 3]] x = [2, 1] and [0, 8]: x = [0.5, 0] and [-2, 4].
  std::vector<T> A = {4, 2, 2, 3};
  std::vector<T> B = {2, 1, 0, 8};
  ASSERT_EQ(potrf(Uplo::lower, 2, A.data(), 2), 0);
  ASSERT_EQ(potrs(Uplo::lower, 2, 2, A.data(), 2, B.data(), 2), 0);
  EXPECT_NEAR(B[0], 0.5, tol<T>());
  EXPECT_NEAR(B[1], 0, tol<T>());
  EXPECT_NEAR(B[2], -2, 10 * tol<T>());
  EXPECT_NEAR(B[3], 4, 10 * tol<T>());
  std::vector<T> A2 = {4, 2, 2, 3}, B2 = {0, 8};
  ASSERT_EQ(posv(Uplo::upper, 2, 1, A2.data(), 2, B2.data(), 2), 0);
  EXPECT_NEAR(B2[0], -2, 10 * tol<T>());
  EXPECT_NEAR(B2[1], 4, 10 * tol<T>());
}

TYPED_TEST(Lapack, GesvNeedsAPivot) {
  using T = TypeParam;
  // A = [[0, 1], [2, 3]] (column-major {0, 2, 1, 3}); A x = [1, 8]: x = [2.5, 1].
  std::vector<T> A = {0, 2, 1, 3}, B = {1, 8};
  ASSERT_EQ(gesv(2, 1, A.data(), 2, B.data(), 2), 0);
  EXPECT_NEAR(B[0], 2.5, tol<T>());
  EXPECT_NEAR(B[1], 1, tol<T>());
  std::vector<T> S = {1, 2, 2, 4}, C = {1, 1};  // singular: U(2, 2) = 0
  EXPECT_EQ(gesv(2, 1, S.data(), 2, C.data(), 2), 2);
}

TYPED_TEST(Lapack, SyevdValuesAndVectors) {
  using T = TypeParam;
  // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/sqrt2 and (1, 1)/sqrt2.
  std::vector<T> A = {2, 1, 1, 2}, w(2);
  ASSERT_EQ(syevd(true, Uplo::lower, 2, A.data(), 2, w.data()), 0);
  EXPECT_NEAR(w[0], 1, tol<T>());
  EXPECT_NEAR(w[1], 3, tol<T>());
  const T s = T(1) / std::sqrt(T(2));
  EXPECT_NEAR(std::abs(A[0]), s, tol<T>());
  EXPECT_NEAR(A[0] * A[1], -0.5, tol<T>());  // opposite signs, whatever the sign convention
  EXPECT_NEAR(A[2] * A[3], 0.5, tol<T>());
  std::vector<T> B = {2, 1, 1, 2}, v(2);
  ASSERT_EQ(syevd(false, Uplo::upper, 2, B.data(), 2, v.data()), 0);
  EXPECT_NEAR(v[1], 3, tol<T>());
}

TYPED_TEST(Lapack, GelsFitsALine) {
  using T = TypeParam;
  // Points (0, 1), (1, 3), (2, 5) lie on y = 1 + 2 t: A = [[1, 0], [1, 1], [1, 2]], b = y.
  std::vector<T> A = {1, 1, 1, 0, 1, 2}, B = {1, 3, 5};
  ASSERT_EQ(gels(3, 2, 1, A.data(), 3, B.data(), 3), 0);
  EXPECT_NEAR(B[0], 1, 10 * tol<T>());
  EXPECT_NEAR(B[1], 2, 10 * tol<T>());
  // Not on a line: (0, 0), (1, 1), (2, 1): least squares intercept 1/6, slope 1/2.
  std::vector<T> A2 = {1, 1, 1, 0, 1, 2}, B2 = {0, 1, 1};
  ASSERT_EQ(gels(3, 2, 1, A2.data(), 3, B2.data(), 3), 0);
  EXPECT_NEAR(B2[0], T(1) / 6, 10 * tol<T>());
  EXPECT_NEAR(B2[1], 0.5, 10 * tol<T>());
}

}  // namespace
}  // namespace attnbench::linalg
