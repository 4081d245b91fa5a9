// The sparsify kernel's library (src/sparsify) at 1-4 ranks: the synthetic generator (|XX^T|_max = r
// exactly, rank-count independent), every distributed method against its serial dense reference
// (dense and CSC blocks, d not divisible by p, more ranks than nonzero columns), the identities
// (sum tau = n, BSS invariants, final u/l, at most ceil(gamma n) columns, the spectral window and the
// entrywise attention bound), selection independent of the rank count, and the errors (rank
// deficiency, bad parameters) raised identically on every rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "sparsify/reference.hpp"
#include "sparsify/sparsify.hpp"
#include "sparsify/validation.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {


double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), 1e-300));
  return e;
}

void expect_same_result(const Result& got, const Result& ref, double tol, const std::string& what) {
  EXPECT_EQ(got.columns, ref.columns) << what;
  if (got.columns == ref.columns) {
    EXPECT_LE(max_rel_diff(got.weights, ref.weights), tol) << what;
  }
  ASSERT_EQ(got.Y.rows(), ref.Y.rows()) << what;
  ASSERT_EQ(got.Y.cols(), ref.Y.cols()) << what;
  double e = 0.0, s = 0.0;
  for (std::int64_t i = 0; i < got.Y.size(); ++i) {
    e = std::max(e, std::abs(got.Y.data()[i] - ref.Y.data()[i]));
    s = std::max(s, std::abs(ref.Y.data()[i]));
  }
  EXPECT_LE(e, tol * std::max(s, 1e-300)) << what;
}

Params params(Method m, std::uint64_t seed = 7) {
  Params p;
  p.method = m;
  p.seed = seed;
  p.eps = 0.5;
  p.delta = 0.1;
  p.gamma = 4.0;
  return p;
}

TEST(SparsifyGenerator, RowNormsAreRAndBlocksMatchTheWholeMatrix) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.3}) {
    for (double coherence : {0.0, 0.8}) {
      SyntheticSpec s{.n = 7, .d = 53, .r = 0.07, .density = density, .coherence = coherence, .seed = 3};
      const auto X = whole(comm, s);
      const auto M = reference_gram(X);
      double mx = 0.0;
      for (std::int64_t i = 0; i < s.n; ++i) EXPECT_NEAR(M[static_cast<std::size_t>(i * s.n + i)], s.r, 1e-15);
      for (double v : M) mx = std::max(mx, std::abs(v));
      EXPECT_NEAR(mx, s.r, 1e-15);
      // This rank's block equals the whole matrix's columns, bitwise (rank-count independence).
      const auto B = local_block<double>(comm, s);
      EXPECT_EQ(B.sparse, density < 1.0);
      std::vector<double> col(static_cast<std::size_t>(s.n));
      bool same = true;
      for (std::int64_t j = 0; j < B.cols; ++j) {
        B.column(j, col.data());
        for (std::int64_t i = 0; i < s.n; ++i) same = same && col[static_cast<std::size_t>(i)] == X(i, B.col0 + j);
      }
      EXPECT_TRUE(same) << "density " << density << " coherence " << coherence;
      if (coherence > 0) {
        for (std::int64_t i = 0; i < s.n; ++i)
          EXPECT_DOUBLE_EQ(X(i, heavy_column(i, s.n, s.d)), std::sqrt(coherence * s.r));
      }
    }
  }
}

TEST(SparsifyGenerator, DensityIsTheFractionOfNonzeros) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 16, .d = 4001, .r = 0.05, .density = 0.05, .coherence = 0.0, .seed = 11};
  const auto B = local_block<float>(comm, s);
  const auto nnz = comm.allreduce<std::int64_t>(B.local_nnz(), dist::Op::sum);
  const double frac = static_cast<double>(nnz) / static_cast<double>(s.n * s.d);
  EXPECT_NEAR(frac, 0.05, 0.005);
}

// Memory per rank: the column block holds only this rank's share of X - CSC bytes are
// nnz_local (sizeof(T) + 4) + 8 (cols + 1), so the sum over ranks is the one-rank size plus the
// p - 1 extra column-pointer entries (no replication); dense blocks hold n cols_local values.
TEST(SparsifyGenerator, BlocksHoldOnlyTheirShare) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 9, .d = 1003, .r = 0.05, .density = 0.1, .coherence = 0.0, .seed = 12};
  const auto B = local_block<float>(comm, s);
  EXPECT_EQ(B.bytes(), static_cast<std::int64_t>(B.values.size() * (sizeof(float) + 4) + 8 * (B.cols + 1)));
  const std::int64_t total = comm.allreduce<std::int64_t>(B.bytes(), dist::Op::sum);
  const dist::Comm self = comm.split(comm.rank(), 0);
  const auto all = local_block<float>(self, s);
  EXPECT_EQ(total, all.bytes() + 8 * (comm.size() - 1));
  s.density = 1.0;
  const auto D = local_block<double>(comm, s);
  EXPECT_EQ(D.bytes(), static_cast<std::int64_t>(8 * s.n * D.cols));
}

TEST(SparsifyGenerator, BadSpecsAreUsageErrors) {
  SyntheticSpec good;
  EXPECT_NO_THROW(check_spec(good));
  auto code = [](SyntheticSpec s) {
    try {
      check_spec(s);
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
    return 0;
  };
  SyntheticSpec s = good;
  s.d = s.n - 1;
  EXPECT_EQ(code(s), 2);
  for (double r : {0.0, 1.0, -0.1, 2.0}) {
    s = good;
    s.r = r;
    EXPECT_EQ(code(s), 2) << r;
  }
  s = good;
  s.density = 0.0;
  EXPECT_EQ(code(s), 2);
  s = good;
  s.coherence = 1.0;
  EXPECT_EQ(code(s), 2);
}

TEST(SparsifyParams, BadParametersAreUsageErrors) {
  auto code = [](Params p) {
    try {
      check_params(p, 8);
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
    return 0;
  };
  Params p;
  EXPECT_EQ(code(p), 0);
  for (double v : {0.0, 1.0, -1.0, 1.5}) {
    Params q = p;
    q.eps = v;
    EXPECT_EQ(code(q), 2) << "eps " << v;
    q = p;
    q.delta = v;
    EXPECT_EQ(code(q), 2) << "delta " << v;
  }
  for (double g : {1.0, 0.5, -2.0}) {
    Params q = p;
    q.gamma = g;
    EXPECT_EQ(code(q), 2) << "gamma " << g;
  }
  Params q = p;
  q.sketch_rows = 4;
  EXPECT_EQ(code(q), 2);
  EXPECT_THROW(method_from_string("levrage"), Error);
  EXPECT_EQ(default_samples(20, 0.5, 0.1), 1438);  // ALGORITHMS.md reference number
}

TEST(SparsifyLeverage, ScoresSumToNAndMatchTheReference) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 9, .d = 301, .r = 0.05, .density = 1.0, .coherence = 0.5, .seed = 5};
  const auto X = whole(comm, s);
  const auto tau = reference_leverage_scores(X);
  double sum = 0.0;
  for (double t : tau) {
    sum += t;
    EXPECT_LE(t, 1.0 + 1e-12);
  }
  EXPECT_NEAR(sum, static_cast<double>(s.n), 1e-10);
  const auto B = local_block<double>(comm, s);
  const Result r = run(comm, B, params(Method::leverage), lapack());
  EXPECT_NEAR(r.score_sum, static_cast<double>(s.n), 1e-10);
}

// Every method, dense and CSC, double and float storage, against its serial reference.
TEST(SparsifyMethods, DistributedMatchesTheSerialReference) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.4}) {
    SyntheticSpec s{.n = 6, .d = 97, .r = 0.05, .density = density, .coherence = 0.3, .seed = 9};
    const auto X = whole(comm, s);
    const auto Bd = local_block<double>(comm, s);
    for (Method m : {Method::leverage, Method::leverage_sketch, Method::bss, Method::uniform, Method::gaussian}) {
      Params p = params(m);
      p.m = 40;
      const std::string what = to_string(m) + " density " + std::to_string(density);
      const Result ref = reference_run(X, p);
      expect_same_result(run(comm, Bd, p, lapack()), ref, 1e-9, what);
      // The same block stored the other way (dense <-> CSC) gives the same result.
      const auto other = my_block_of<double>(comm, X, density == 1.0);
      expect_same_result(run(comm, other, p, lapack()), ref, 1e-9, what + " (other storage)");
    }
  }
}

// More ranks than nonzero columns: n = 3, only columns 1, 2, 5 and 9 of 11 are nonzero.
TEST(SparsifyMethods, FewNonzeroColumnsAndEmptyRanks) {
  const auto& comm = testing_support::world();
  Matrix<double> X(3, 11, 0.0);
  X(0, 1) = 0.2;  X(1, 1) = 0.05;
  X(1, 2) = 0.15; X(2, 2) = -0.1;
  X(2, 5) = 0.25; X(0, 5) = 0.02;
  X(0, 9) = 0.1;  X(1, 9) = 0.1; X(2, 9) = 0.1;
  for (bool sparse : {false, true}) {
    const auto B = my_block_of<double>(comm, X, sparse);
    for (Method m : {Method::leverage, Method::leverage_sketch, Method::bss, Method::uniform, Method::gaussian}) {
      Params p = params(m, 21);
      p.m = 25;
      if (m == Method::uniform) continue;  // uniform picks zero columns by design: checked below
      const Result ref = reference_run(X, p);
      const Result got = run(comm, B, p, lapack());
      expect_same_result(got, ref, 1e-9, to_string(m) + (sparse ? " sparse" : " dense"));
      for (std::int64_t c : got.columns) EXPECT_TRUE(c == 1 || c == 2 || c == 5 || c == 9) << c;
    }
    Params p = params(Method::uniform, 21);
    p.m = 25;
    expect_same_result(run(comm, B, p, lapack()), reference_run(X, p), 1e-12, "uniform");
  }
}

TEST(SparsifyBss, InvariantsFinalRatioAndWindow) {
  const auto& comm = testing_support::world();
  for (double gamma : {4.0, 2.25}) {
    SyntheticSpec s{.n = 8, .d = 203, .r = 0.09, .density = 1.0, .coherence = 0.0, .seed = 13};
    const auto B = local_block<double>(comm, s);
    Params p = params(Method::bss);
    p.gamma = gamma;
    const Result r = run(comm, B, p, lapack());
    EXPECT_EQ(r.max_violation, 0.0);
    EXPECT_EQ(r.steps, bss_steps(gamma, s.n));
    EXPECT_LE(static_cast<std::int64_t>(r.columns.size()), static_cast<std::int64_t>(std::ceil(gamma * s.n)));
    const double sg = std::sqrt(gamma);
    EXPECT_NEAR(r.u / r.l, std::pow((sg + 1) / (sg - 1), 2), 1e-12 * r.u / r.l);
    const auto M = gram(comm, B);
    const Check c = evaluate(s.n, M, selected_gram(comm, B, r), lapack());
    const double kappa = bss_kappa(gamma);
    EXPECT_GE(c.spectral_low, 1 - kappa - 1e-9);
    EXPECT_LE(c.spectral_high, 1 + kappa + 1e-9);
    EXPECT_LE(c.attention_error, c.attention_bound);
    EXPECT_NEAR(c.r, s.r, 1e-15);
    for (double w : r.weights) EXPECT_GT(w, 0.0);
  }
}

// Exact ties in BSS: column 12 is a copy of column 3 (on another rank for p > 1). Their scores are
// bitwise equal (sparse path: the same loop over the same entries), so MPI_MAXLOC must pick the
// smaller global index every time: column 12 is never selected, and the run equals the reference.
TEST(SparsifyBss, TiesGoToTheSmallestGlobalColumn) {
  const auto& comm = testing_support::world();
  Matrix<double> X(4, 13, 0.0);
  for (std::int64_t j = 0; j < 12; ++j)
    for (std::int64_t i = 0; i < 4; ++i)
      X(i, j) = ((i * 7 + j * 3) % 5 == 0) ? 0.0 : 0.05 * std::sin(static_cast<double>(1 + i * 13 + j * 5));
  for (std::int64_t i = 0; i < 4; ++i) X(i, 12) = X(i, 3);
  const auto B = my_block_of<double>(comm, X, true);
  Params p = params(Method::bss);
  const Result got = run(comm, B, p, lapack());
  const Result ref = reference_run(X, p);
  expect_same_result(got, ref, 1e-9, "bss ties");
  EXPECT_TRUE(std::find(got.columns.begin(), got.columns.end(), 12) == got.columns.end());
  EXPECT_TRUE(std::find(got.columns.begin(), got.columns.end(), 3) != got.columns.end());
}

TEST(SparsifyLeverage, WindowAndAttentionBound) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 20, .d = 3000, .r = 0.09, .density = 1.0, .coherence = 0.0, .seed = 1};
  const auto B = local_block<double>(comm, s);
  for (Method m : {Method::leverage, Method::leverage_sketch}) {
    Params p = params(m, 17);
    const Result r = run(comm, B, p, lapack());
    // Exact scores: the ALGORITHMS.md reference m; sketched scores: m scaled by the oversampling
    // factor (test_sparsify_sketch_mpi.cpp checks the factor itself).
    EXPECT_EQ(r.m, m == Method::leverage ? 1438 : samples(p, s.n, s.d));
    if (m == Method::leverage_sketch) EXPECT_GT(r.m, 1438 * 4);
    const Check c = evaluate(s.n, gram(comm, B), selected_gram(comm, B, r), lapack());
    EXPECT_GE(c.spectral_low, 1 - p.eps) << to_string(m);
    EXPECT_LE(c.spectral_high, 1 + p.eps) << to_string(m);
    EXPECT_LE(c.attention_error, c.attention_bound) << to_string(m);
    EXPECT_GT(c.attention_error, 0.0);
  }
}

// Coherent X: uniform sampling misses the heavy columns, leverage sampling does not.
TEST(SparsifyCoherence, UniformFailsWhereLeverageDoesNot) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 16, .d = 4000, .r = 0.05, .density = 1.0, .coherence = 0.9, .seed = 2};
  const auto B = local_block<double>(comm, s);
  const auto M = gram(comm, B);
  Params p = params(Method::uniform, 4);
  p.m = 400;
  const Check cu = evaluate(s.n, M, selected_gram(comm, B, run(comm, B, p, lapack())), lapack());
  p.method = Method::leverage;
  const Check cl = evaluate(s.n, M, selected_gram(comm, B, run(comm, B, p, lapack())), lapack());
  EXPECT_LT(cu.spectral_low, 0.5);
  EXPECT_LT(cl.eps_reached, cu.eps_reached);
}

// The selection does not depend on the rank count: each rank alone equals the world run.
TEST(SparsifyMethods, SelectionIndependentOfRankCount) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 10, .d = 1001, .r = 0.05, .density = 0.2, .coherence = 0.2, .seed = 31};
  const dist::Comm self = comm.split(comm.rank(), 0);
  const auto Bw = local_block<float>(comm, s);
  const auto Bs = local_block<float>(self, s);
  for (Method m : {Method::leverage, Method::leverage_sketch, Method::bss, Method::uniform, Method::gaussian}) {
    Params p = params(m, 99);
    p.m = 200;
    expect_same_result(run(comm, Bw, p, lapack()), run(self, Bs, p, lapack()), 1e-9, to_string(m));
  }
}

TEST(SparsifyErrors, RankDeficientXIsAnInputErrorOnEveryRank) {
  const auto& comm = testing_support::world();
  Matrix<double> X(4, 9, 0.0);
  for (std::int64_t j = 0; j < 9; ++j) {
    X(0, j) = 0.01 * static_cast<double>(j + 1);
    X(1, j) = 0.02 * static_cast<double>((j * 7) % 5);
    X(2, j) = X(0, j) + X(1, j);  // dependent row
    X(3, j) = 0.03 * static_cast<double>((j * 3) % 4);
  }
  for (Method m : {Method::leverage, Method::bss}) {
    const auto B = my_block_of<double>(comm, X, m == Method::bss);
    int code = 0;
    std::string msg;
    try {
      dist::agree_on_success(comm, [&] { run(comm, B, params(m), lapack()); });
    } catch (const Error& e) {
      code = static_cast<int>(e.code());
      msg = e.what();
    }
    EXPECT_EQ(code, 3) << to_string(m);
    EXPECT_NE(msg.find("rank-deficient"), std::string::npos) << msg;
  }
}

}  // namespace
