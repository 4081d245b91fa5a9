// leverage-sketch's oversampling (ALGORITHMS.md section 4: "sample with m scaled by the
// approximation factor"), at 1-4 ranks: the factor beta = jl * embedding as documented in
// sparsify.hpp (the chi-square lower-tail point, the Gaussian-sketch embedding constant), the m it
// gives, the options that override it, and - on the test inputs (dense, sparse, coherent) - the
// spectral window [1 - eps, 1 + eps] met with the default m and the factor the sketched scores
// actually needed (max_j tau_j sum(tau~) / (n tau~_j)) within beta.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "sparsify/rng.hpp"
#include "sparsify/sparsify.hpp"
#include "sparsify/validation.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {


Params sketch_params(double eps, std::uint64_t seed) {
  Params p;
  p.method = Method::leverage_sketch;
  p.eps = eps;
  p.delta = 0.1;
  p.seed = seed;
  return p;
}

// The factor the approximate scores needed: max over columns with tau_j > 0 of
// tau_j / (n p~_j), p~_j = tau~_j / sum tau~ (one Allreduce(max)).
template <class T>
double needed_factor(const dist::Comm& comm, const ColumnBlock<T>& B, const Result& r) {
  const std::vector<double> L = cholesky_or_rank_error(lapack(), B.n, gram(comm, B));
  const std::vector<double> tau = exact_leverage_scores(B, L);
  double worst = 0.0;
  for (std::size_t j = 0; j < tau.size(); ++j) {
    if (tau[j] <= 1e-14) continue;
    worst = std::max(worst, r.local_scores[j] > 0 ? tau[j] / r.local_scores[j] : std::numeric_limits<double>::infinity());
  }
  return comm.allreduce(worst, dist::Op::max) * r.score_sum / static_cast<double>(B.n);
}

}  // namespace

TEST(SparsifySketchOversampling, FactorsAreTheDocumentedBounds) {
  for (const auto& [n, d, s, k, delta] : {std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, double>{
                                              64, 4096, 1792, 28, 0.1},
                                          {256, 1 << 21, 9216, 36, 0.1},
                                          {20, 3000, 400, 20, 0.01}}) {
    const Oversampling o = sketch_oversampling(n, d, s, k, delta);
    // jl = 1 / x with (x e^{1 - x})^{k / 2} = (delta / 2) / d.
    const double x = 1.0 / o.jl;
    EXPECT_GT(o.jl, 1.0);
    EXPECT_NEAR(0.5 * static_cast<double>(k) * (std::log(x) + 1.0 - x), std::log(0.5 * delta / static_cast<double>(d)),
                1e-9);
    const double e = std::sqrt(static_cast<double>(n) / static_cast<double>(s));
    EXPECT_NEAR(o.embedding, std::pow((1 + e) / (1 - e), 2), 1e-12);
    EXPECT_DOUBLE_EQ(o.total(), o.jl * o.embedding);
  }
  // More JL columns, a smaller factor; more columns d (a larger union bound), a larger one.
  EXPECT_LT(sketch_oversampling(64, 4096, 1792, 64, 0.1).jl, sketch_oversampling(64, 4096, 1792, 28, 0.1).jl);
  EXPECT_GT(sketch_oversampling(64, 1 << 20, 1792, 28, 0.1).jl, sketch_oversampling(64, 4096, 1792, 28, 0.1).jl);
}

// The Chernoff bound is on the right side: the empirical lower tail of chi2_k / k (from the
// kernel's own normal generator) at the point x(q) is below q.
TEST(SparsifySketchOversampling, ChiSquareLowerTailBoundHolds) {
  const std::int64_t k = 16, draws = 20000;
  const double q = 0.01;
  // x with (x e^{1 - x})^{k/2} = q: the jl factor for d = 1 and delta = 2 q.
  const double x = 1.0 / sketch_oversampling(1, 1, 4, k, 2 * q).jl;
  std::int64_t below = 0;
  for (std::int64_t t = 0; t < draws; ++t) {
    double c = 0.0;
    for (std::int64_t i = 0; i < k; ++i) {
      const double g = rng::normal(3, rng::stream::jl, static_cast<std::uint64_t>(t * k + i));
      c += g * g;
    }
    below += c / static_cast<double>(k) <= x;
  }
  EXPECT_LE(static_cast<double>(below) / static_cast<double>(draws), q) << "x = " << x;
  EXPECT_GT(below, 0) << "the bound is not vacuous at this size";
}

TEST(SparsifySketchOversampling, SamplesAndOverrides) {
  Params p = sketch_params(0.5, 1);
  const std::int64_t n = 20, d = 3000;
  const double beta = oversample_factor(p, n, d);
  EXPECT_DOUBLE_EQ(beta, sketch_oversampling(n, d, default_sketch_rows(n), default_jl_cols(n), p.delta).total());
  const double m0 = 3.0 * n * std::log(4.0 * n / p.delta) / (p.eps * p.eps);  // delta / 2 for the sampling
  EXPECT_EQ(samples(p, n, d), static_cast<std::int64_t>(std::ceil(beta * m0)));
  p.oversample = 2.5;
  EXPECT_EQ(samples(p, n, d), static_cast<std::int64_t>(std::ceil(2.5 * m0)));
  p.oversample = 0.0;
  p.m = 777;  // an explicit m is never scaled
  EXPECT_EQ(samples(p, n, d), 777);
  Params e = sketch_params(0.5, 1);
  e.method = Method::leverage;  // exact scores: the plain matrix-Chernoff m
  EXPECT_EQ(samples(e, n, d), default_samples(n, 0.5, 0.1));
  // Usage errors naming the option, on every rank.
  const auto& comm = testing_support::world();
  auto code = [&](const Params& q) {
    try {
      dist::agree_on_success(comm, [&] { check_params(q, n); });
    } catch (const Error& err) {
      return static_cast<int>(err.code());
    }
    return 0;
  };
  Params q = sketch_params(0.5, 1);
  q.oversample = 0.5;
  EXPECT_EQ(code(q), 2);
  q.oversample = std::numeric_limits<double>::infinity();
  EXPECT_EQ(code(q), 2);
  q = sketch_params(0.5, 1);
  q.sketch_rows = 3 * n;  // the embedding factor would be ((1 + e)/(1 - e))^2 with e = 0.58: refused
  EXPECT_EQ(code(q), 2);
  q.m = 100;  // with an explicit m the factor is not used
  EXPECT_EQ(code(q), 0);
  q.oversample = 2.0;  // ... so --oversample with --m is refused rather than ignored
  EXPECT_EQ(code(q), 2);
}

// With the default (oversampled) m the window [1 - eps, 1 + eps] is met on every test input, and
// the factor the sketched scores needed is within beta.
TEST(SparsifySketchOversampling, WindowMetAndNeededFactorWithinBeta) {
  const auto& comm = testing_support::world();
  const std::vector<SyntheticSpec> inputs = window_test_inputs();
  for (const SyntheticSpec& s : inputs) {
    const auto B = local_block<double>(comm, s);
    const auto M = gram(comm, B);
    for (double eps : {0.5, 0.3}) {
      for (std::uint64_t seed : {11u, 12u}) {
        const Params p = sketch_params(eps, seed);
        const Result r = run(comm, B, p, lapack());
        const std::string what = "n " + std::to_string(s.n) + " d " + std::to_string(s.d) + " density " +
                                 std::to_string(s.density) + " coherence " + std::to_string(s.coherence) + " eps " +
                                 std::to_string(eps) + " seed " + std::to_string(seed);
        EXPECT_EQ(r.m, samples(p, s.n, s.d)) << what;
        const Check c = evaluate(s.n, M, selected_gram(comm, B, r), lapack());
        EXPECT_GE(c.spectral_low, 1 - eps) << what;
        EXPECT_LE(c.spectral_high, 1 + eps) << what;
        EXPECT_LE(c.attention_error, c.attention_bound) << what;
        const double needed = needed_factor(comm, B, r), beta = oversample_factor(p, s.n, s.d);
        EXPECT_GE(needed, 1.0 - 1e-9) << what;  // max tau/(n p~) >= 1 for any distribution p~
        EXPECT_LE(needed, beta) << what;
      }
    }
  }
}
