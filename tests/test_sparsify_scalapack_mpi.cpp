// The two paths of the n x n factorizations of the sparsify kernel at 1-4 ranks: ScaLAPACK on the
// process grid (grid::make_grid_solver) against replicated LAPACK (grid::make_replicated_solver) - the Cholesky factor,
// the eigenvalues and eigenvectors, and every method's selection and weights - plus the threshold
// rule and the rank-deficiency error on the ScaLAPACK path.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "sparsify/case.hpp"
#include "grid/dense_solver.hpp"
#include "grid/process_grid.hpp"
#include "sparsify/nxn.hpp"
#include "sparsify/sparsify.hpp"
#include "sparsify/validation.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {

TEST(SparsifyScalapack, FactorizationsMatchReplicatedLapack) {
  const auto& comm = testing_support::world();
  for (std::int64_t n : {1, 5, 37}) {
    SyntheticSpec s{.n = n, .d = 3 * n + 11, .r = 0.05, .density = 1.0, .coherence = 0.0, .seed = 2};
    const auto M = gram(comm, local_block<double>(comm, s));
    const auto scal = grid::make_grid_solver<double>(comm, grid::squarest_shape(comm.size()), 8);  // several blocks per process
    std::vector<double> La = M, Lb = M;
    ASSERT_EQ(lapack().cholesky(n, La), 0);
    ASSERT_EQ(scal->cholesky(n, Lb), 0);
    double e = 0.0, mx = 0.0;
    for (std::size_t i = 0; i < La.size(); ++i) {
      e = std::max(e, std::abs(La[i] - Lb[i]));
      mx = std::max(mx, std::abs(La[i]));
    }
    EXPECT_LE(e, 1e-12 * mx) << "n = " << n;
    // Eigen-decomposition of a whitened S with distinct eigenvalues.
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        S[static_cast<std::size_t>(i * n + j)] = M[static_cast<std::size_t>(i * n + j)] + (i == j ? 0.01 * static_cast<double>(i) : 0.0);
    std::vector<double> Ea = S, Eb = S, wa, wb;
    ASSERT_EQ(lapack().eigen(n, Ea, wa, true), 0);
    ASSERT_EQ(scal->eigen(n, Eb, wb, true), 0);
    for (std::int64_t k = 0; k < n; ++k) {
      EXPECT_NEAR(wa[static_cast<std::size_t>(k)], wb[static_cast<std::size_t>(k)], 1e-12 * std::abs(wa.back()));
      double dot = 0.0;  // eigenvectors agree up to sign
      for (std::int64_t i = 0; i < n; ++i) dot += Ea[static_cast<std::size_t>(k * n + i)] * Eb[static_cast<std::size_t>(k * n + i)];
      EXPECT_NEAR(std::abs(dot), 1.0, 1e-9) << "n = " << n << " k = " << k;
    }
  }
}

TEST(SparsifyScalapack, EveryMethodSelectsTheSameOnBothPaths) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 12, .d = 401, .r = 0.06, .density = 0.5, .coherence = 0.3, .seed = 8};
  const auto B = local_block<double>(comm, s);
  const auto scal = grid::make_grid_solver<double>(comm, grid::squarest_shape(comm.size()), 4);
  for (Method m : {Method::leverage, Method::leverage_sketch, Method::bss, Method::uniform, Method::gaussian}) {
    Params p;
    p.method = m;
    p.m = 100;
    p.seed = 3;
    const Result a = run(comm, B, p, lapack()), b = run(comm, B, p, *scal);
    EXPECT_EQ(a.columns, b.columns) << to_string(m);
    if (a.columns == b.columns) {
      for (std::size_t i = 0; i < a.weights.size(); ++i)
        EXPECT_NEAR(a.weights[i], b.weights[i], 1e-9 * a.weights[i]) << to_string(m);
    }
    const auto M = gram(comm, B);
    const Check ca = evaluate(s.n, M, selected_gram(comm, B, a), lapack());
    const Check cb = evaluate(s.n, M, selected_gram(comm, B, b), *scal);
    EXPECT_NEAR(ca.spectral_low, cb.spectral_low, 1e-9) << to_string(m);
    EXPECT_NEAR(ca.spectral_high, cb.spectral_high, 1e-9) << to_string(m);
  }
}

TEST(SparsifyScalapack, ThresholdAndRankDeficiency) {
  const auto& comm = testing_support::world();
  EXPECT_EQ(make_solver(comm, 10, 0)->kind(), "replicated-lapack");
  EXPECT_EQ(make_solver(comm, 10, 11)->kind(), "replicated-lapack");
  EXPECT_EQ(make_solver(comm, 10, 10)->kind(), "scalapack");
  // A dependent row: the ScaLAPACK path reports the same agreed input error.
  Matrix<double> X(3, 8, 0.0);
  for (std::int64_t j = 0; j < 8; ++j) {
    X(0, j) = 0.01 * static_cast<double>(j + 1);
    X(1, j) = 0.02 * static_cast<double>((j * 5) % 3);
    X(2, j) = 2.0 * X(0, j);
  }
  const auto B = my_block_of<double>(comm, X, false);
  const auto scal = grid::make_grid_solver<double>(comm, grid::squarest_shape(comm.size()), 2);
  int code = 0;
  try {
    dist::agree_on_success(comm, [&] { (void)cholesky_or_rank_error(*scal, 3, gram(comm, B)); });
  } catch (const Error& e) {
    code = static_cast<int>(e.code());
  }
  EXPECT_EQ(code, 3);
  // The case records which path it took.
  CaseConfig c;
  c.params.method = Method::bss;
  c.synthetic = SyntheticSpec{.n = 6, .d = 50, .r = 0.05, .density = 1.0, .coherence = 0.0, .seed = 1};
  c.scalapack_threshold = 4;
  double su = 0, io = 0;
  ProblemInfo info;
  auto kase = make_sparsify_case(comm, c, su, io, &info);
  EXPECT_EQ(info.nxn_solver, "scalapack");
  harness::PhaseTimes ph;
  kase->run(ph);
  EXPECT_TRUE(kase->validate().valid);
}

}  // namespace
