// The solve kernel's library at 1-4 ranks on every grid shape that fits: the synthetic matrix
// against a serial evaluation of its formula (so it does not depend on the grid), Cholesky and LU
// against serial LAPACK on the gathered problem, the distributed scaled residual against a serial
// one (also without overflow near the top of the exponent range), the --condition estimate and its
// range, rcond from the factor, HDF5 input (its bad-input errors, an asymmetric /A for Cholesky)
// and an indefinite or singular matrix refused with the same input error on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "grid/redistribute.hpp"
#include "linalg/lapack.hpp"
#include "mpi_test_util.hpp"
#include "solve/solve.hpp"
#include "test_grid_util.hpp"

namespace attnbench::solve {
namespace {

using grid::BlockCyclicLayout;
using grid::BlockCyclicMatrix;
using grid::GridShape;
using grid::ProcessGrid;
using testing_support::on_grid;
using testing_support::test_shapes;
using testing_support::world;

template <class T>
std::vector<T> col_major(const Matrix<T>& M) {
  std::vector<T> v(static_cast<std::size_t>(M.size()));
  for (std::int64_t i = 0; i < M.rows(); ++i)
    for (std::int64_t j = 0; j < M.cols(); ++j) v[static_cast<std::size_t>(j * M.rows() + i)] = M(i, j);
  return v;
}
// The synthetic A from its formula, serially in double.
Matrix<double> serial_synthetic(const SyntheticSpec& s) {
  const std::int64_t k = s.k();
  Matrix<double> A(s.n, s.n);
  for (std::int64_t i = 0; i < s.n; ++i)
    for (std::int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (std::int64_t l = 0; l < k; ++l) acc += synthetic_g(s.seed, k, i, l) * synthetic_g(s.seed, k, j, l);
      A(i, j) = acc / static_cast<double>(k) + (i == j ? s.shift() : 0.0);
    }
  return A;
}
template <class T>
double tol() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-4;
}

template <class T>
class Solve : public ::testing::Test {};
using Types = ::testing::Types<double, float>;
TYPED_TEST_SUITE(Solve, Types);

TEST(SolveModel, FlopsAndParsing) {
  EXPECT_DOUBLE_EQ(flops(Algorithm::cholesky, 30, 2), 9000.0 + 3600.0);
  EXPECT_DOUBLE_EQ(flops(Algorithm::lu, 30, 2), 18000.0 + 3600.0);
  EXPECT_EQ(parse_algorithm("lu"), Algorithm::lu);
  try {
    parse_algorithm("qr");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(SolveSynthetic, MatchesItsFormulaOnEveryGrid) {
  const SyntheticSpec s{.n = 23, .nrhs = 2, .condition = 100.0, .seed = 7, .rank = 9};
  const Matrix<double> ref = serial_synthetic(s);
  for (GridShape shape : test_shapes())
    for (std::int64_t block : {4, 64})
      on_grid(shape, [&](const ProcessGrid& g) {
        const Matrix<double> A = grid::gather_replicated(g, synthetic_matrix<double>(g, s, block));
        double d = 0;
        for (std::int64_t i = 0; i < s.n; ++i)
          for (std::int64_t j = 0; j < s.n; ++j) d = std::max(d, std::abs(A(i, j) - ref(i, j)));
        EXPECT_LT(d, 1e-14) << shape.to_string() << " block " << block;
        const Matrix<double> B = grid::gather_replicated(g, synthetic_rhs<double>(g, s, block));
        EXPECT_EQ(B(3, 1), synthetic_b(7, 2, 3, 1));
      });
}

TEST(SolveSynthetic, ConditionIsRoughlyTheRequestedOne) {
  // cond_2 from the eigenvalues of the serial formula: within a factor 3 of --condition.
  for (double condition : {10.0, 1e3, 1e6})
    for (std::int64_t rank : {8, 256}) {  // k = 8 and k = N / 2 = 30
      const SyntheticSpec s{.n = 60, .nrhs = 1, .condition = condition, .seed = 3, .rank = rank};
      std::vector<double> A = col_major(serial_synthetic(s)), w(60);
      ASSERT_EQ(linalg::syevd(false, linalg::Uplo::lower, 60, A.data(), 60, w.data()), 0);
      const double cond = w.back() / w.front();
      EXPECT_GT(cond, condition / 3) << condition << " k=" << rank;
      EXPECT_LT(cond, condition * 3) << condition << " k=" << rank;
    }
}

TYPED_TEST(Solve, AgainstSerialLapackOnEveryGrid) {
  using T = TypeParam;
  for (Algorithm algo : {Algorithm::cholesky, Algorithm::lu})
    for (GridShape shape : test_shapes())
      for (auto [n, nrhs, block] : std::vector<std::array<std::int64_t, 3>>{{37, 3, 8}, {10, 1, 64}, {2, 2, 1}})
        on_grid(shape, [&](const ProcessGrid& g) {
          const SyntheticSpec s{.n = n, .nrhs = nrhs, .condition = 1e3, .seed = 11, .rank = 16};
          Solver<T> solver(g, algo, synthetic_matrix<T>(g, s, block), synthetic_rhs<T>(g, s, block));
          const StepTimes t = solver.run();
          EXPECT_GE(t.factor, 0.0);
          solver.run();  // repetitions start from the originals
          const Matrix<T> A = grid::gather_replicated(g, solver.matrix());
          const Matrix<T> B = grid::gather_replicated(g, synthetic_rhs<T>(g, s, block));
          const Matrix<T> X = grid::gather_replicated(g, solver.solution());
          std::vector<T> a = col_major(A), x = col_major(B);
          ASSERT_EQ(algo == Algorithm::cholesky ? linalg::posv(linalg::Uplo::lower, n, nrhs, a.data(), n, x.data(), n)
                                                : linalg::gesv(n, nrhs, a.data(), n, x.data(), n),
                    0);
          double d = 0, xmax = 0;
          for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < nrhs; ++j) {
              d = std::max(d, std::abs(static_cast<double>(X(i, j)) - x[static_cast<std::size_t>(j * n + i)]));
              xmax = std::max(xmax, std::abs(static_cast<double>(X(i, j))));
            }
          // cond ~ 1e3: the two solves agree to about cond * eps.
          const std::string what = to_string(algo) + " " + shape.to_string() + " n=" + std::to_string(n);
          EXPECT_LT(d, 1e3 * 100 * std::numeric_limits<T>::epsilon() * xmax) << what;
          // The distributed residual against a serial one on the gathered data.
          const Residual r = solver.residual();
          double rn = 0, an = 0, xn = 0;
          for (std::int64_t i = 0; i < n; ++i) {
            double arow = 0, xrow = 0;
            for (std::int64_t j = 0; j < n; ++j) arow += std::abs(static_cast<double>(A(i, j)));
            for (std::int64_t j = 0; j < nrhs; ++j) {
              double ax = 0;
              for (std::int64_t l = 0; l < n; ++l) ax += static_cast<double>(A(i, l)) * X(l, j);
              rn = std::max(rn, std::abs(ax - B(i, j)));
              xrow += std::abs(static_cast<double>(X(i, j)));
            }
            an = std::max(an, arow);
            xn = std::max(xn, xrow);
          }
          EXPECT_NEAR(r.a_norm, an, 1e-5 * an) << what;
          EXPECT_NEAR(r.x_norm, xn, 1e-5 * xn) << what;
          EXPECT_LT(r.residual_norm, 4 * rn + 8 * std::numeric_limits<T>::epsilon() * an * xn) << what;
          EXPECT_LT(r.scaled, kResidualThreshold) << what;
          EXPECT_TRUE(std::isfinite(r.scaled)) << what;
        });
}

TYPED_TEST(Solve, MemoryPerRankIsTheStatedShare) {
  // A and its work copy (2 N^2 / p), B, X, R and a scaled X (4 N nrhs / p), up to one block row and column of
  // imbalance: each rank's buffers stay within the bound, and the ranks together hold exactly
  // 2 N^2 + 3 N nrhs elements (no rank holds a replicated matrix).
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const std::int64_t n = 50, nrhs = 3, nb = 4;
      const SyntheticSpec s{.n = n, .nrhs = nrhs, .condition = 10, .seed = 2, .rank = 8};
      Solver<T> solver(g, Algorithm::cholesky, synthetic_matrix<T>(g, s, nb), synthetic_rhs<T>(g, s, nb));
      solver.run();
      const auto& la = solver.matrix().layout();
      const std::int64_t rows_bound = (n + shape.rows - 1) / shape.rows + nb;
      const std::int64_t cols_bound = (n + shape.cols - 1) / shape.cols + nb;
      const std::int64_t bytes = solver.buffer_bytes();
      // (B, X, and for the residual R and a power-of-two scaled X: 4 N nrhs / p.)
      const std::int64_t bound = static_cast<std::int64_t>(sizeof(T)) *
                                 (2 * rows_bound * cols_bound + 4 * rows_bound * std::max<std::int64_t>(nrhs, nb));
      EXPECT_LE(bytes, bound) << shape.to_string();
      const std::int64_t elements_a = la.local_size(g.my_row(), g.my_col());
      const std::int64_t elements_b = solver.solution().layout().local_size(g.my_row(), g.my_col());
      const std::int64_t total = g.comm().allreduce(2 * elements_a + 3 * elements_b, dist::Op::sum);
      EXPECT_EQ(total, 2 * n * n + 3 * n * nrhs) << shape.to_string();
    });
}

TYPED_TEST(Solve, ResultDoesNotDependOnTheGrid) {
  using T = TypeParam;
  const SyntheticSpec s{.n = 29, .nrhs = 2, .condition = 50, .seed = 5, .rank = 29};
  Matrix<T> first;
  bool have = false;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      Solver<T> solver(g, Algorithm::cholesky, synthetic_matrix<T>(g, s, 4), synthetic_rhs<T>(g, s, 4));
      solver.run();
      const Matrix<T> X = grid::gather_replicated(g, solver.solution());
      if (!have) {
        first = X;
        have = true;
      }
      double d = 0;
      for (std::int64_t i = 0; i < X.size(); ++i) d = std::max(d, std::abs(double(X.data()[i] - first.data()[i])));
      EXPECT_LT(d, 50 * 100 * std::numeric_limits<T>::epsilon()) << shape.to_string();
    });
}

TYPED_TEST(Solve, IndefiniteAndSingularAreInputErrorsOnEveryRank) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const SyntheticSpec s{.n = 12, .nrhs = 1, .condition = 10, .seed = 1, .rank = 12};
      BlockCyclicMatrix<T> A = synthetic_matrix<T>(g, s, 2);
      // Make the leading minor of order 8 negative: A(7, 7) := -50.
      const grid::GlobalElementIndex a77{7, 7};
      if (A.layout().owner_rank(a77) == g.comm().rank()) A.at(A.layout().local_index(a77)) = -50;
      Solver<T> chol(g, Algorithm::cholesky, A, synthetic_rhs<T>(g, s, 2));
      try {
        chol.run();
        ADD_FAILURE() << "indefinite matrix accepted on " << shape.to_string();
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::input);
        EXPECT_NE(std::string(e.what()).find("leading minor of order 8"), std::string::npos) << e.what();
      }
      // LU solves the indefinite matrix ...
      Solver<T> lu(g, Algorithm::lu, A, synthetic_rhs<T>(g, s, 2));
      EXPECT_NO_THROW(lu.run());
      EXPECT_LT(lu.residual().scaled, kResidualThreshold);
      // ... but not a singular one: column 4 := 0.
      BlockCyclicMatrix<T> S = A;
      S.for_each_local([&](grid::LocalElementIndex l) {
        if (S.global_index(l).col().value() == 4) S.at(l) = 0;
      });
      Solver<T> sing(g, Algorithm::lu, S, synthetic_rhs<T>(g, s, 2));
      try {
        sing.run();
        ADD_FAILURE() << "singular matrix accepted on " << shape.to_string();
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::input);
        EXPECT_NE(std::string(e.what()).find("singular"), std::string::npos) << e.what();
      }
    });
}

TEST(SolveInput, ReadsHdf5IntoAnyGridAndSolves) {
  const SyntheticSpec s{.n = 19, .nrhs = 2, .condition = 100, .seed = 9, .rank = 19};
  const testing_support::ScratchDir dir(world());
  const std::string path = dir.file("ab.h5");
  {
    const ProcessGrid g(world());
    io::File f = io::File::create(world(), path);
    grid::write_block_cyclic(g, f, "/A", synthetic_matrix<float>(g, s, 3));  // float32 file, read as double
    grid::write_block_cyclic(g, f, "/B", synthetic_rhs<float>(g, s, 3));
  }
  const Matrix<double> ref = serial_synthetic(s);
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      Problem<double> p = read_input<double>(g, path, 5);
      const Matrix<double> A = grid::gather_replicated(g, p.A);
      double d = 0;
      for (std::int64_t i = 0; i < s.n; ++i)
        for (std::int64_t j = 0; j < s.n; ++j) d = std::max(d, std::abs(A(i, j) - ref(i, j)));
      EXPECT_LT(d, 1e-6) << shape.to_string();
      EXPECT_EQ(p.B.cols(), 2);
      Solver<double> solver(g, Algorithm::cholesky, std::move(p.A), std::move(p.B));
      solver.run();
      EXPECT_LT(solver.residual().scaled, kResidualThreshold);
      EXPECT_LT(p.asymmetry, 1e-15);  // the file was written from an exactly symmetric matrix
    });
}

TEST(SolveInput, CholeskyRefusesAnAsymmetricInputAndSolvesTheMatrixGiven) {
  const ProcessGrid g(world());
  const testing_support::ScratchDir dir(world());
  const double eps = std::numeric_limits<double>::epsilon();
  // Lower triangle and diagonal of an SPD matrix (10 on the diagonal, 1 below); upper: `upper`.
  const auto write = [&](const std::string& name, double upper) {
    io::File f = io::File::create(world(), dir.file(name));
    BlockCyclicMatrix<double> A(BlockCyclicLayout(6, 6, 2, 2, g.shape()), g);
    A.fill([&](std::int64_t i, std::int64_t j) { return i == j ? 10.0 : (i > j ? 1.0 : upper); });
    grid::write_block_cyclic(g, f, "/A", A);
    BlockCyclicMatrix<double> B(BlockCyclicLayout(6, 1, 2, 2, g.shape()), g);
    B.fill([](std::int64_t, std::int64_t) { return 1.0; });
    grid::write_block_cyclic(g, f, "/B", B);
  };
  write("asym.h5", 100.0);
  // max|A - A^T| / max|A| = 99 / 100: refused on every rank, naming the asymmetry and --algo lu.
  try {
    read_input<double>(g, dir.file("asym.h5"), 2);
    ADD_FAILURE() << "an asymmetric /A accepted for cholesky";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::input);
    EXPECT_TRUE(e.agreed());
    for (const char* needle : {"/A is not symmetric", "= 0.99", "--algo lu"})
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  // LU takes it as it is and solves it.
  {
    Problem<double> p = read_input<double>(g, dir.file("asym.h5"), 2, Algorithm::lu);
    Solver<double> solver(g, Algorithm::lu, std::move(p.A), std::move(p.B));
    solver.run();
    EXPECT_LT(solver.residual().scaled, kResidualThreshold);
  }
  // Rounding: an upper triangle 2 ulps off (relative 2 eps < 2 N eps) is accepted, and /A is kept
  // as given (not symmetrized): the residual below is that of the user's matrix.
  write("rounding.h5", 1.0 + 2 * eps);
  Problem<double> p = read_input<double>(g, dir.file("rounding.h5"), 2);
  EXPECT_NEAR(p.asymmetry, 2 * eps / 10.0, 1e-3 * eps);
  EXPECT_DOUBLE_EQ(p.asymmetry_bound, 2 * 6 * eps);
  const Matrix<double> A = grid::gather_replicated(g, p.A);
  EXPECT_EQ(A(0, 5), 1.0 + 2 * eps);
  Solver<double> solver(g, Algorithm::cholesky, std::move(p.A), std::move(p.B));
  solver.run();
  EXPECT_LT(solver.residual().scaled, kResidualThreshold);
}

// The residual is always that of the matrix the solver was given: Cholesky of an asymmetric A
// (factoring its lower triangle) solves another system, and the residual says so.
TEST(SolveResidual, IsThatOfTheMatrixGivenNotOfItsLowerTriangle) {
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      BlockCyclicMatrix<double> A(BlockCyclicLayout(6, 6, 2, 2, g.shape()), g), B(BlockCyclicLayout(6, 1, 2, 2, g.shape()), g);
      A.fill([](std::int64_t i, std::int64_t j) { return i == j ? 10.0 : (i > j ? 1.0 : 100.0); });
      B.fill([](std::int64_t, std::int64_t) { return 1.0; });
      Solver<double> solver(g, Algorithm::cholesky, A, B);
      solver.run();
      EXPECT_GT(solver.residual().scaled, 1e10) << shape.to_string();
    });
}

// A, B near the top of the exponent range: |A|_inf |X|_inf N overflows a double; the scaled
// residual is still the one of the unscaled problem, and a wrong X never passes.
TYPED_TEST(Solve, ScaledResidualDoesNotOverflowAndAWrongXNeverPasses) {
  using T = TypeParam;
  const int k = std::numeric_limits<T>::max_exponent - 4;  // entries about 2^k: |A|_inf * N overflows
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const SyntheticSpec s{.n = 23, .nrhs = 2, .condition = 50, .seed = 4, .rank = 23};
      BlockCyclicMatrix<T> A = synthetic_matrix<T>(g, s, 4), B = synthetic_rhs<T>(g, s, 4);
      Solver<T> small(g, Algorithm::lu, A, B);
      small.run();
      const Residual r0 = small.residual();
      for (auto* M : {&A, &B})
        for (T& v : M->local()) v = std::ldexp(v, k);
      Solver<T> big(g, Algorithm::lu, A, B);
      big.run();
      const Residual r1 = big.residual();
      // Power-of-two scaling is exact through LU and the residual: the same scaled residual.
      EXPECT_GT(r0.scaled, 0.0);
      EXPECT_NEAR(r1.scaled, r0.scaled, 1e-6 * r0.scaled) << shape.to_string();
      EXPECT_TRUE(std::isfinite(r1.a_norm));
      EXPECT_NEAR(r1.a_norm, std::ldexp(r0.a_norm, k), 1e-6 * std::ldexp(r0.a_norm, k));
      EXPECT_NEAR(r1.rcond, r0.rcond, 1e-3 * r0.rcond);  // rcond is scale invariant
      // The old order of operations would divide by Inf here and report 0: X + 1 is not a solution.
      BlockCyclicMatrix<T> wrong = big.solution(), scratch(A.layout(), g);
      for (T& v : wrong.local()) v += T(1);
      EXPECT_GT(scaled_residual(g, A, wrong, B, scratch).scaled, 100 * kResidualThreshold) << shape.to_string();
      // A non-finite X is never a pass.
      if (!wrong.local().empty()) wrong.local()[0] = std::numeric_limits<T>::infinity();
      EXPECT_FALSE(scaled_residual(g, A, wrong, B, scratch).scaled < kResidualThreshold) << shape.to_string();
    });
}

// rcond from the factor, for a diagonal matrix with cond_1 = 2 / smallest: the estimate of
// |A^{-1}|_1 is a lower bound, so rcond is at least the true one; ScaLAPACK's p?lacon does not find
// the exact answer here (it returns its alternating-sign fallback, 2 sum|A^{-1} b| / (3 N) = 1.7 /
// smallest * 2 / 33 at N = 11): at most N times the truth. The same for Cholesky and LU, and below
// 16 eps for a matrix singular to working precision.
TYPED_TEST(Solve, ConditionEstimateFromTheFactor) {
  using T = TypeParam;
  const double smallest = std::is_same_v<T, double> ? 1e-9 : 1e-3;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const std::int64_t n = 11;
      BlockCyclicMatrix<T> D(BlockCyclicLayout(n, n, 3, 3, g.shape()), g), B(BlockCyclicLayout(n, 1, 3, 3, g.shape()), g);
      D.fill([&](std::int64_t i, std::int64_t j) { return i != j ? 0.0 : (i == 7 ? smallest : 1.0 + 0.1 * i); });
      B.fill([](std::int64_t i, std::int64_t) { return 1.0 + i; });
      for (Algorithm algo : {Algorithm::cholesky, Algorithm::lu}) {
        Solver<T> solver(g, algo, D, B);
        solver.run();
        const double rcond = solver.residual().rcond;
        EXPECT_GE(rcond, smallest / 2.0 * (1 - 1e-5)) << to_string(algo) << " " << shape.to_string();
        EXPECT_LE(rcond, n * smallest / 2.0) << to_string(algo) << " " << shape.to_string();
        EXPECT_EQ(solver.residual().rcond, rcond);  // kept when asked again without a run
      }
      // Column 4 := column 3 + column 2 of a general matrix (exact in real arithmetic, not in T).
      const SyntheticSpec s{.n = n, .nrhs = 1, .condition = 10, .seed = 6, .rank = n};
      BlockCyclicMatrix<T> S = synthetic_matrix<T>(g, s, 3);
      const Matrix<T> full = grid::gather_replicated(g, S);
      S.for_each_local([&](grid::LocalElementIndex l) {
        const grid::GlobalElementIndex e = S.global_index(l);
        const std::int64_t i = e.row().value();
        if (e.col().value() == 4) S.at(l) = full(i, 3) * T(1.25) + full(i, 2) * T(0.75);
      });
      Solver<T> sing(g, Algorithm::lu, S, B);
      try {
        sing.run();  // an exactly zero pivot is possible in T: that is the singular error, also fine
        EXPECT_LT(sing.residual().rcond, 16 * std::numeric_limits<T>::epsilon()) << shape.to_string();
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::input);
      }
    });
}

TYPED_TEST(Solve, ConditionBeyondWhatThePrecisionHoldsIsAUsageError) {
  using T = TypeParam;
  const double eps = std::numeric_limits<T>::epsilon();
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      SyntheticSpec s{.n = 60, .nrhs = 1, .condition = 1e300, .seed = 3, .rank = 30};
      try {
        synthetic_matrix<T>(g, s, 8);
        ADD_FAILURE() << "--condition 1e300 accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ExitCode::usage);
        EXPECT_NE(std::string(e.what()).find("--condition"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("1 < condition <="), std::string::npos) << e.what();
      }
      // The largest accepted condition is honoured: positive definite, and rcond (1-norm) within a
      // factor N of 1 / condition (2-norm), as the norms allow.
      s.condition = s.max_condition(eps);
      Solver<T> solver(g, Algorithm::cholesky, synthetic_matrix<T>(g, s, 8), synthetic_rhs<T>(g, s, 8));
      ASSERT_NO_THROW(solver.run()) << shape.to_string();
      const double rcond = solver.residual().rcond;
      EXPECT_GT(rcond, 1.0 / (s.condition * 3 * s.n)) << shape.to_string();
      EXPECT_LT(rcond, 3.0 * s.n / s.condition) << shape.to_string();
    });
}

TEST(SolveModel, FootprintBoundsTheBuffersAndSaturates) {
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const SyntheticSpec s{.n = 37, .nrhs = 3, .condition = 10, .seed = 2, .rank = 8};
      Solver<double> solver(g, Algorithm::lu, synthetic_matrix<double>(g, s, 4), synthetic_rhs<double>(g, s, 4));
      const std::int64_t f = footprint_bytes(g.shape(), g.comm().rank(), s.n, s.nrhs, 4, s.k(), sizeof(double));
      EXPECT_GE(f, solver.buffer_bytes()) << shape.to_string();
    });
  // N = 2^31 - 1 on one rank: 2^62 entries of 8 bytes each do not fit int64: saturated, not wrapped.
  EXPECT_EQ(footprint_bytes(GridShape{1, 1}, 0, 2147483647, 1, 128, 256, 8), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(footprint_bytes(GridShape{1, 1}, 0, 1000, 2, 64, 0, 8), 8 * (2 * 1000 * 1000 + 4 * 2000));
}

TEST(SolveInput, BadFilesAreInputErrorsNamingTheDataset) {
  const testing_support::ScratchDir dir(world());
  const ProcessGrid g(world());
  const auto make = [&](const std::string& name, std::int64_t an, std::int64_t am, std::int64_t bn, bool nan,
                        bool with_b) {
    io::File f = io::File::create(world(), dir.file(name));
    BlockCyclicMatrix<double> A(BlockCyclicLayout(an, am, 2, 2, g.shape()), g);
    A.fill([&](std::int64_t i, std::int64_t j) { return (nan && i == an - 1 && j == 0) ? std::nan("") : 1.0 + i + j; });
    grid::write_block_cyclic(g, f, "/A", A);
    if (with_b) grid::write_block_cyclic(g, f, "/B", BlockCyclicMatrix<double>(BlockCyclicLayout(bn, 1, 2, 2, g.shape()), g));
  };
  make("nob.h5", 4, 4, 4, false, false);
  make("rect.h5", 4, 5, 4, false, true);
  make("mismatch.h5", 4, 4, 3, false, true);
  make("nan.h5", 5, 5, 5, true, true);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.h5", "does not exist"},
      {"nob.h5", "missing dataset /B"},
      {"rect.h5", "/A must be a non-empty square"},
      {"mismatch.h5", "/B has 3 rows"},
      {"nan.h5", "/A has a non-finite value"}};
  for (const auto& [file, message] : cases) {
    try {
      read_input<double>(g, dir.file(file), 2);
      ADD_FAILURE() << file << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::input) << file;
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace attnbench::solve
