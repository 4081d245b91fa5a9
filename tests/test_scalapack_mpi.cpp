// Each ScaLAPACK wrapper against serial LAPACK (or a plain loop) on the gathered matrix, in both
// precisions, on every grid shape of test_shapes() that fits (1-4 ranks, sub-communicators when
// the world is larger), with sizes not divisible by the block, blocks larger than the matrix and
// processes that own no rows; and the agreed info of an indefinite matrix.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"
#include "grid/redistribute.hpp"
#include "linalg/lapack.hpp"
#include "linalg/scalapack.hpp"
#include "test_grid_util.hpp"

namespace attnbench::grid {
namespace {

using linalg::Uplo;
using testing_support::on_grid;
using testing_support::test_shapes;

// {n, block}: not divisible; block larger than the matrix; one-row blocks (3 process rows, 2 rows
// of blocks... a process with no rows on 3x1 when n = 2).
const std::vector<std::array<std::int64_t, 2>> kSizes = {{13, 4}, {6, 64}, {2, 1}, {9, 2}};

template <class T>
Matrix<T> random_matrix(std::int64_t m, std::int64_t n, std::uint64_t seed) {
  Matrix<T> M(m, n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      M(i, j) = static_cast<T>(2.0 * uniform01(seed, Stream::user, static_cast<std::uint64_t>(i * n + j)) - 1.0);
  return M;
}
// G G^T + n I: symmetric positive definite, well conditioned.
template <class T>
Matrix<T> spd_matrix(std::int64_t n, std::uint64_t seed) {
  const Matrix<T> G = random_matrix<T>(n, n, seed);
  Matrix<T> A(n, n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = i == j ? static_cast<double>(n) : 0.0;
      for (std::int64_t k = 0; k < n; ++k) s += static_cast<double>(G(i, k)) * G(j, k);
      A(i, j) = static_cast<T>(s);
    }
  return A;
}
template <class T>
std::vector<T> col_major(const Matrix<T>& M) {
  std::vector<T> v(static_cast<std::size_t>(M.size()));
  for (std::int64_t i = 0; i < M.rows(); ++i)
    for (std::int64_t j = 0; j < M.cols(); ++j) v[static_cast<std::size_t>(j * M.rows() + i)] = M(i, j);
  return v;
}
template <class T>
BlockCyclicMatrix<T> distribute(const ProcessGrid& g, const Matrix<T>& M, std::int64_t block) {
  BlockCyclicMatrix<T> A(BlockCyclicLayout(M.rows(), M.cols(), block, block, g.shape()), g);
  A.fill([&](std::int64_t i, std::int64_t j) { return M(i, j); });
  return A;
}
template <class T>
double tol() {
  return std::is_same_v<T, double> ? 1e-11 : 2e-3;
}
// max |gathered(i, j) - ref[j * m + i]| over the entries `keep` selects.
template <class T, class Keep>
double max_diff(const Matrix<T>& got, const std::vector<T>& ref_col_major, Keep keep) {
  double d = 0;
  for (std::int64_t i = 0; i < got.rows(); ++i)
    for (std::int64_t j = 0; j < got.cols(); ++j)
      if (keep(i, j))
        d = std::max(d, std::abs(static_cast<double>(got(i, j)) -
                                 static_cast<double>(ref_col_major[static_cast<std::size_t>(j * got.rows() + i)])));
  return d;
}
const auto all_entries = [](std::int64_t, std::int64_t) { return true; };

template <class T>
class Scalapack : public ::testing::Test {};
using Types = ::testing::Types<double, float>;
TYPED_TEST_SUITE(Scalapack, Types);

TYPED_TEST(Scalapack, PotrfPotrsPosvAgainstLapack) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [n, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        const std::string what = shape.to_string() + " n=" + std::to_string(n) + " nb=" + std::to_string(nb);
        const std::int64_t nrhs = 3;
        const Matrix<T> A = spd_matrix<T>(n, 1), B = random_matrix<T>(n, nrhs, 2);
        // LAPACK reference on the whole matrix (column-major).
        std::vector<T> L = col_major(A), X = col_major(B);
        ASSERT_EQ(linalg::potrf(Uplo::lower, n, L.data(), n), 0);
        ASSERT_EQ(linalg::potrs(Uplo::lower, n, nrhs, L.data(), n, X.data(), n), 0);
        auto dA = distribute(g, A, nb);
        auto dB = distribute(g, B, nb);
        EXPECT_EQ(linalg::ppotrf(Uplo::lower, n, dA.data(), dA.descriptor()), 0) << what;
        EXPECT_LT(max_diff(gather_replicated(g, dA), L, [](std::int64_t i, std::int64_t j) { return i >= j; }),
                  tol<T>() * n)
            << "potrf " << what;
        EXPECT_EQ(linalg::ppotrs(Uplo::lower, n, nrhs, dA.data(), dA.descriptor(), dB.data(), dB.descriptor()), 0);
        EXPECT_LT(max_diff(gather_replicated(g, dB), X, all_entries), tol<T>()) << "potrs " << what;
        auto dA2 = distribute(g, A, nb);
        auto dB2 = distribute(g, B, nb);
        EXPECT_EQ(linalg::pposv(Uplo::upper, n, nrhs, dA2.data(), dA2.descriptor(), dB2.data(), dB2.descriptor()), 0);
        EXPECT_LT(max_diff(gather_replicated(g, dB2), X, all_entries), tol<T>()) << "posv " << what;
      });
}

TYPED_TEST(Scalapack, GesvAgainstLapack) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [n, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        Matrix<T> A = random_matrix<T>(n, n, 3);
        for (std::int64_t i = 0; i < n; ++i) A(i, i) += static_cast<T>(2);  // safely nonsingular
        const Matrix<T> B = random_matrix<T>(n, 2, 4);
        std::vector<T> LU = col_major(A), X = col_major(B);
        ASSERT_EQ(linalg::gesv(n, 2, LU.data(), n, X.data(), n), 0);
        auto dA = distribute(g, A, nb);
        auto dB = distribute(g, B, nb);
        EXPECT_EQ(linalg::pgesv(n, 2, dA.data(), dA.descriptor(), dB.data(), dB.descriptor()), 0);
        EXPECT_LT(max_diff(gather_replicated(g, dB), X, all_entries), 10 * tol<T>())
            << "gesv " << shape.to_string() << " n=" << n;
      });
}

TYPED_TEST(Scalapack, SyevdAgainstLapack) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [n, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        const Matrix<T> A = spd_matrix<T>(n, 5);
        std::vector<T> V = col_major(A), w_ref(static_cast<std::size_t>(n));
        ASSERT_EQ(linalg::syevd(true, Uplo::lower, n, V.data(), n, w_ref.data()), 0);
        auto dA = distribute(g, A, nb);
        BlockCyclicMatrix<T> dZ(dA.layout(), g);
        std::vector<T> w(static_cast<std::size_t>(n));
        EXPECT_EQ(linalg::psyevd(Uplo::lower, n, dA.data(), dA.descriptor(), w.data(), dZ.data(), dZ.descriptor()), 0);
        const double scale = std::abs(static_cast<double>(w_ref.back()));
        for (std::int64_t k = 0; k < n; ++k)
          EXPECT_NEAR(w[static_cast<std::size_t>(k)], w_ref[static_cast<std::size_t>(k)], tol<T>() * scale)
              << shape.to_string() << " n=" << n << " k=" << k;
        // Eigenvectors: A z_k = w_k z_k, |z_k| = 1 (sign-free checks).
        const Matrix<T> Z = gather_replicated(g, dZ);
        double worst = 0;
        for (std::int64_t k = 0; k < n; ++k) {
          double norm2 = 0;
          for (std::int64_t i = 0; i < n; ++i) {
            double az = 0;
            for (std::int64_t j = 0; j < n; ++j) az += static_cast<double>(A(i, j)) * Z(j, k);
            worst = std::max(worst, std::abs(az - w[static_cast<std::size_t>(k)] * static_cast<double>(Z(i, k))));
            norm2 += static_cast<double>(Z(i, k)) * Z(i, k);
          }
          worst = std::max(worst, std::abs(norm2 - 1) * scale);
        }
        EXPECT_LT(worst, 10 * tol<T>() * scale) << "eigenvectors " << shape.to_string() << " n=" << n;
      });
}

TYPED_TEST(Scalapack, GemmSyrkTrsmNormAgainstLoops) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [n, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        const std::string what = shape.to_string() + " n=" + std::to_string(n);
        const std::int64_t k = n + 3, m = n + 1;
        // C (m x n) := 2 A^T B - C with A k x m, B k x n.
        const Matrix<T> A = random_matrix<T>(k, m, 6), B = random_matrix<T>(k, n, 7), C0 = random_matrix<T>(m, n, 8);
        auto dA = distribute(g, A, nb), dB = distribute(g, B, nb), dC = distribute(g, C0, nb);
        linalg::pgemm(true, false, m, n, k, T(2), dA.data(), dA.descriptor(), dB.data(), dB.descriptor(), T(-1),
                      dC.data(), dC.descriptor());
        std::vector<T> ref(static_cast<std::size_t>(m * n));
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (std::int64_t l = 0; l < k; ++l) s += static_cast<double>(A(l, i)) * B(l, j);
            ref[static_cast<std::size_t>(j * m + i)] = static_cast<T>(2 * s - C0(i, j));
          }
        EXPECT_LT(max_diff(gather_replicated(g, dC), ref, all_entries), tol<T>() * k) << "gemm " << what;

        // Lower triangle of S (n x n) := A2 A2^T with A2 n x k.
        const Matrix<T> A2 = random_matrix<T>(n, k, 9);
        auto dA2 = distribute(g, A2, nb);
        BlockCyclicMatrix<T> dS(BlockCyclicLayout(n, n, nb, nb, shape), g);
        linalg::psyrk(Uplo::lower, false, n, k, T(1), dA2.data(), dA2.descriptor(), T(0), dS.data(), dS.descriptor());
        std::vector<T> sref(static_cast<std::size_t>(n * n));
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j <= i; ++j) {
            double s = 0;
            for (std::int64_t l = 0; l < k; ++l) s += static_cast<double>(A2(i, l)) * A2(j, l);
            sref[static_cast<std::size_t>(j * n + i)] = static_cast<T>(s);
          }
        EXPECT_LT(max_diff(gather_replicated(g, dS), sref, [](std::int64_t i, std::int64_t j) { return i >= j; }),
                  tol<T>() * k)
            << "syrk " << what;

        // X := L^{-1} B3 (left, lower, no transpose), checked by L X = B3 with a plain loop.
        Matrix<T> Lm = random_matrix<T>(n, n, 10);
        for (std::int64_t i = 0; i < n; ++i) Lm(i, i) = static_cast<T>(4);
        const Matrix<T> B3 = random_matrix<T>(n, 2, 11);
        auto dL = distribute(g, Lm, nb), dX = distribute(g, B3, nb);
        linalg::ptrsm(true, Uplo::lower, false, false, n, 2, T(1), dL.data(), dL.descriptor(), dX.data(),
                      dX.descriptor());
        const Matrix<T> X = gather_replicated(g, dX);
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < 2; ++j) {
            double s = 0;
            for (std::int64_t l = 0; l <= i; ++l) s += static_cast<double>(Lm(i, l)) * X(l, j);
            worst = std::max(worst, std::abs(s - B3(i, j)));
          }
        EXPECT_LT(worst, tol<T>()) << "trsm " << what;

        // Infinity norm.
        double norm = 0;
        for (std::int64_t i = 0; i < k; ++i) {
          double s = 0;
          for (std::int64_t j = 0; j < m; ++j) s += std::abs(static_cast<double>(A(i, j)));
          norm = std::max(norm, s);
        }
        EXPECT_NEAR(linalg::pnorm_inf(k, m, dA.data(), dA.descriptor()), norm, tol<T>() * norm) << "norm " << what;
      });
}

TYPED_TEST(Scalapack, IndefiniteMatrixInfoIsAgreed) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      // SPD except that the leading minor of order 6 is not positive: A(5, 5) = -100.
      const std::int64_t n = 9;
      Matrix<T> A = spd_matrix<T>(n, 12);
      A(5, 5) = static_cast<T>(-100);
      auto dA = distribute(g, A, 2);
      const int info = linalg::ppotrf(Uplo::lower, n, dA.data(), dA.descriptor());
      EXPECT_EQ(info, 6) << shape.to_string();
      // The same value on every rank of the grid.
      EXPECT_EQ(g.comm().allreduce(info, dist::Op::min), g.comm().allreduce(info, dist::Op::max));
      try {
        linalg::check_info("pdpotrf", info, ExitCode::input, "not positive definite");
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::input);
        EXPECT_NE(std::string(e.what()).find("pdpotrf failed: info = 6"), std::string::npos) << e.what();
      }
      EXPECT_THROW(linalg::check_info("pdgesv", -3), Error);
      EXPECT_NO_THROW(linalg::check_info("pdgesv", 0));
    });
}

}  // namespace
}  // namespace attnbench::grid
