// The sample counts of --bound chernoff (sparsify/bounds.hpp) and the screened leverage-sketch
// (sparsify/screened.hpp) at 1-4 ranks: the constants are the stated solutions of their equations,
// the distributed screen matches its serial reference (dense and CSC, float storage, more ranks than
// nonzero columns), the default m meets the window on every test input with the screen's premise
// (under-covered score mass <= eta) holding, and it keeps at most 1.5x the distinct columns of exact
// leverage sampling at the same (n, d, eps, delta, seed) where m <= d / 4.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "sparsify/bounds.hpp"
#include "sparsify/reference.hpp"
#include "sparsify/sparsify.hpp"
#include "sparsify/validation.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {


Params chernoff_params(Method m, double eps, std::uint64_t seed) {
  Params p;
  p.method = m;
  p.bound = Bound::chernoff;
  p.eps = eps;
  p.delta = 0.1;
  p.seed = seed;
  return p;
}

double failure_bound(std::int64_t n, double e_low, double e_high, double c_low, double t) {
  return static_cast<double>(n) * (std::exp(-chernoff_rate_low(e_low) * c_low * t) + std::exp(-chernoff_rate_high(e_high) * t));
}

void expect_same_selection(const Result& got, const Result& ref, const std::string& what) {
  EXPECT_EQ(got.columns, ref.columns) << what;
  ASSERT_EQ(got.weights.size(), ref.weights.size()) << what;
  for (std::size_t a = 0; a < got.weights.size(); ++a)
    EXPECT_NEAR(got.weights[a], ref.weights[a], 1e-9 * ref.weights[a]) << what << " weight " << a;
  EXPECT_EQ(got.m, ref.m) << what;
}

}  // namespace

TEST(SparsifyChernoffBound, SamplesSolveTheExactExponentBound) {
  // h_high(0.5) = 1.5 ln 1.5 - 0.5, h_low(0.5) = 0.5 + 0.5 ln 0.5.
  EXPECT_NEAR(chernoff_rate_high(0.5), 1.5 * std::log(1.5) - 0.5, 1e-15);
  EXPECT_NEAR(chernoff_rate_low(0.5), 0.5 + 0.5 * std::log(0.5), 1e-15);
  for (const auto& [n, eps, delta] : {std::tuple<std::int64_t, double, double>{20, 0.5, 0.1}, {256, 0.5, 0.1}, {64, 0.3, 0.01}}) {
    const std::int64_t m = chernoff_samples(n, eps, delta);
    const double nn = static_cast<double>(n);
    // m is the smallest count whose bound is <= delta (up to the bisection's 1e-12 and the ceil).
    EXPECT_LE(failure_bound(n, eps, eps, 1.0, static_cast<double>(m) / nn), delta);
    EXPECT_GT(failure_bound(n, eps, eps, 1.0, static_cast<double>(m - 1) / nn * (1 - 1e-9)), delta);
    // Below the classic 3 n ln(2 n / delta) / eps^2, which the same inequality implies.
    EXPECT_LT(m, default_samples(n, eps, delta));
  }
  EXPECT_EQ(samples(chernoff_params(Method::leverage, 0.5, 1), 20, 3000), chernoff_samples(20, 0.5, 0.1));
}

TEST(SparsifyChernoffBound, ScreenPlanConstants) {
  for (const auto& [n, eps, k] : {std::tuple<std::int64_t, double, std::int64_t>{256, 0.5, 36}, {20, 0.3, 16}, {64, 0.5, 64}}) {
    const double delta = 0.1;
    const ScreenPlan s = screen_plan(n, eps, delta, k);
    EXPECT_NEAR((1 - s.e_low) * (1 - s.eta), 1 - eps, 1e-12);
    EXPECT_NEAR(s.e_high + s.eta, eps, 1e-12);
    EXPECT_NEAR(2.0 * static_cast<double>(n) * s.q / s.eta, s.delta_screen, 1e-15);
    const double x = 1.0 / s.a;  // (x e^{1 - x})^{k / 2} = q
    EXPECT_NEAR(0.5 * static_cast<double>(k) * (std::log(x) + 1 - x), std::log(s.q), 1e-9);
    EXPECT_LE(failure_bound(n, s.e_low, s.e_high, 1 - s.eta, static_cast<double>(s.m) / static_cast<double>(n)),
              delta - s.delta_screen);
    EXPECT_GE(s.m, chernoff_samples(n, eps, delta));  // the slack costs a few draws ...
    EXPECT_LE(static_cast<double>(s.m), 1.1 * static_cast<double>(chernoff_samples(n, eps, delta)));  // ... not many
  }
  // More JL columns, a smaller screen factor (fewer candidates).
  EXPECT_LT(screen_plan(256, 0.5, 0.1, 64).a, screen_plan(256, 0.5, 0.1, 16).a);
  EXPECT_EQ(samples(chernoff_params(Method::leverage_sketch, 0.5, 1), 256, 1 << 20), screen_plan(256, 0.5, 0.1, 36).m);
}

TEST(SparsifyChernoffBound, UsageErrors) {
  const auto& comm = testing_support::world();
  auto code = [&](const Params& q) {
    try {
      dist::agree_on_success(comm, [&] {
        check_params(q, 20);
        check_sizes(q, 20, 3000);
      });
    } catch (const Error& err) {
      return static_cast<int>(err.code());
    }
    return 0;
  };
  Params p = chernoff_params(Method::leverage_sketch, 0.5, 1);
  EXPECT_EQ(code(p), 0);
  p.oversample = 2.0;  // the classic pipeline's factor
  EXPECT_EQ(code(p), 2);
  p = chernoff_params(Method::leverage_sketch, 0.5, 1);
  p.sketch_rows = 400;  // the CountSketch's size
  EXPECT_EQ(code(p), 2);
  EXPECT_EQ(bound_from_string("chernoff"), Bound::chernoff);
  EXPECT_THROW(bound_from_string("tropp"), Error);
}

// The distributed screen against the serial reference: dense and CSC, double and float storage,
// d not divisible by p, and an X with fewer nonzero columns than ranks.
TEST(SparsifyScreened, DistributedMatchesTheSerialReference) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.3}) {
    SyntheticSpec s{.n = 7, .d = 301, .r = 0.05, .density = density, .coherence = 0.4, .seed = 13};
    const auto X = whole(comm, s);
    for (std::int64_t m : {std::int64_t{0}, std::int64_t{60}}) {
      Params p = chernoff_params(Method::leverage_sketch, 0.5, 3);
      p.m = m;
      p.jl_cols = 8;
      const Result ref = reference_run(X, p);
      const std::string what = "density " + std::to_string(density) + " m " + std::to_string(m);
      EXPECT_GT(ref.columns.size(), 0u) << what;
      const Result got = run(comm, local_block<double>(comm, s), p, lapack());
      expect_same_selection(got, ref, what);
      EXPECT_EQ(got.candidates, ref.candidates) << what;
      EXPECT_NEAR(got.score_sum, ref.score_sum, 1e-9 * ref.score_sum) << what;
      expect_same_selection(run(comm, my_block_of<double>(comm, X, density == 1.0), p, lapack()), ref, what + " other storage");
      // float storage holds float-rounded values: compared with a float-rounded X.
      Matrix<double> Xf = X;
      for (std::int64_t i = 0; i < Xf.size(); ++i) Xf.data()[i] = static_cast<double>(static_cast<float>(Xf.data()[i]));
      expect_same_selection(run(comm, my_block_of<float>(comm, Xf, density < 1.0), p, lapack()), reference_run(Xf, p),
                            what + " float");
    }
  }
  Matrix<double> X(3, 11, 0.0);
  X(0, 1) = 0.2;  X(1, 1) = 0.05;
  X(1, 2) = 0.15; X(2, 2) = -0.1;
  X(2, 5) = 0.25; X(0, 5) = 0.02;
  X(0, 9) = 0.1;  X(1, 9) = 0.1; X(2, 9) = 0.1;
  Params p = chernoff_params(Method::leverage_sketch, 0.5, 21);
  for (bool sparse : {false, true}) {
    const Result got = run(comm, my_block_of<double>(comm, X, sparse), p, lapack());
    expect_same_selection(got, reference_run(X, p), sparse ? "few columns, sparse" : "few columns, dense");
    for (std::int64_t c : got.columns) EXPECT_TRUE(c == 1 || c == 2 || c == 5 || c == 9) << c;
  }
}

// With the default m: the window on every test input, the screen's premise measured (the exact
// score mass it under-covered within eta), and at most 1.5x the distinct columns of exact leverage
// (both with --bound chernoff; the screened count is about the exact-score budget m).
TEST(SparsifyScreened, WindowMetAndFewColumns) {
  const auto& comm = testing_support::world();
  std::vector<SyntheticSpec> inputs = window_test_inputs();
  inputs.push_back({.n = 16, .d = 40000, .r = 0.05, .density = 0.05, .coherence = 0.5, .seed = 8});
  int ratio_checked = 0;
  for (const SyntheticSpec& s : inputs) {
    const auto B = local_block<double>(comm, s);
    const auto M = gram(comm, B);
    const std::vector<double> tau = exact_leverage_scores(B, cholesky_or_rank_error(lapack(), s.n, M));
    for (double eps : {0.5, 0.3}) {
      for (std::uint64_t seed : {11u, 12u}) {
        const Params p = chernoff_params(Method::leverage_sketch, eps, seed);
        const Result r = run(comm, B, p, lapack());
        const std::string what = "n " + std::to_string(s.n) + " d " + std::to_string(s.d) + " density " +
                                 std::to_string(s.density) + " coherence " + std::to_string(s.coherence) + " eps " +
                                 std::to_string(eps) + " seed " + std::to_string(seed);
        const Check c = evaluate(s.n, M, selected_gram(comm, B, r), lapack());
        EXPECT_GE(c.spectral_low, 1 - eps) << what;
        EXPECT_LE(c.spectral_high, 1 + eps) << what;
        const ScreenPlan plan = screen_plan(s.n, eps, p.delta, default_jl_cols(s.n));
        const double per = static_cast<double>(r.m) / static_cast<double>(s.n);
        double missed = 0.0;
        for (std::size_t j = 0; j < tau.size(); ++j)
          if (std::min(1.0, plan.a * per * r.local_scores[j]) < std::min(1.0, per * tau[j])) missed += tau[j];
        EXPECT_LE(comm.allreduce(missed, dist::Op::sum), plan.eta) << what;
        // Away from saturation (m <= d / 4): when m nears d, m draws with replacement collide and
        // keep fewer distinct columns than independent keeps with the same budget.
        const Result exact = run(comm, B, chernoff_params(Method::leverage, eps, seed), lapack());
        if (4 * exact.m <= s.d) {
          EXPECT_LE(static_cast<double>(r.columns.size()), 1.5 * static_cast<double>(exact.columns.size())) << what;
          EXPECT_LT(r.candidates, s.d) << what;  // the screen computes exact scores for a part of X only
          ++ratio_checked;
        }
      }
    }
  }
  EXPECT_GE(ratio_checked, 8);  // 2 seeds x 2 eps on at least two inputs below saturation
}
