// HyperAttention (attention/approx/kde_hyper.hpp) against the serial reference: a single block with
// no samples is exact, the log-sum-exp merge is exact for disjoint key sets, e^lse [O | 1] is unbiased over seeds,
// results do not depend on the rank count, bad parameters are usage errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "attention/approx/kde_hyper.hpp"
#include "attention/approx/lsh.hpp"
#include "attention/exact/online_softmax.hpp"
#include "core/error.hpp"
#include "test_approx_kde_common.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using namespace attnbench::approx_test;

namespace {

template <class T>
void single_block_is_exact(std::int64_t nq, std::int64_t nk, double tol) {
  const auto& comm = testing_support::world();
  const std::int64_t d = 8, dv = 3;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto p = clustered_problem<T>(nq, nk, d, dv, 3, 3.0, 0.5, 12, comm.rank(), comm.size());
  approx::HyperOptions o;
  o.bucket_size = nk;
  o.samples = 0;
  const auto O = gather_rows(comm, p.layout_q, approx::hyper_attention(comm, p, scale, o), dv);
  const auto ref = reference_of(clustered_problem<T>(nq, nk, d, dv, 3, 3.0, 0.5, 12, 0, 1), scale);
  EXPECT_LE(max_abs_diff(O, ref), tol * max_abs(ref)) << "nq=" << nq << " nk=" << nk;
}

TEST(Hyper, SingleBlockNoSamplesIsExactDouble) {
  single_block_is_exact<double>(37, 37, 1e-12);
  single_block_is_exact<double>(41, 37, 1e-12);
  single_block_is_exact<double>(2, 2, 1e-12);
}
TEST(Hyper, SingleBlockNoSamplesIsExactFloat) { single_block_is_exact<float>(37, 37, 2e-5); }

// lse_merge of the softmax over keys [0, m) and over keys [m, n) equals the softmax over all keys.
TEST(Hyper, LogSumExpMergeIsExactForDisjointSets) {
  const std::int64_t n = 57, d = 8, dv = 4;
  const double scale = 0.7;
  const auto full = clustered_problem<double>(n, n, d, dv, 3, 6.0, 0.5, 21, 0, 1);
  const auto ref = reference_of(full, scale);
  for (std::int64_t m : {std::int64_t{0}, std::int64_t{1}, std::int64_t{20}, n}) {
    attention::OnlineSoftmax<double> a(full.Q_local, dv, scale, {16, 8}, 1), b(full.Q_local, dv, scale, {16, 8}, 1);
    a.absorb(full.K_local.data(), full.V_local.data(), m);
    b.absorb(full.K_local.row(m), full.V_local.row(m), n - m);
    std::vector<double> lse_a, lse_b;
    auto Oa = a.finish(&lse_a);
    auto Ob = b.finish(&lse_b);
    // An empty set has lse = -inf (OnlineSoftmax gives max -inf + log 0).
    if (m == 0) lse_a.assign(lse_a.size(), -std::numeric_limits<double>::infinity());
    if (m == n) lse_b.assign(lse_b.size(), -std::numeric_limits<double>::infinity());
    if (m == 0) Oa = Matrix<double>(n, dv);
    if (m == n) Ob = Matrix<double>(n, dv);
    approx::lse_merge(Oa, lse_a, Ob, lse_b);
    EXPECT_LE(max_abs_diff(Oa, ref), 1e-13 * max_abs(ref)) << "split at " << m;
  }
}

TEST(Hyper, EstimatorOfAVAndA1IsUnbiasedOverSeeds) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 45, d = 6, dv = 3, N = 300;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto p = clustered_problem<double>(n, n, d, dv, 3, 2.0, 0.7, 6, comm.rank(), comm.size());
  const auto full = clustered_problem<double>(n, n, d, dv, 3, 2.0, 0.7, 6, 0, 1);
  Matrix<double> exact(n, dv + 1, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double dot = 0.0;
      for (std::int64_t c = 0; c < d; ++c) dot += full.Q_local(i, c) * full.K_local(j, c);
      const double a = std::exp(scale * dot);
      for (std::int64_t c = 0; c < dv; ++c) exact(i, c) += a * full.V_local(j, c);
      exact(i, dv) += a;
    }
  Matrix<double> sum(n, dv + 1, 0.0), sumsq(n, dv + 1, 0.0);
  for (std::int64_t seed = 1; seed <= N; ++seed) {
    approx::HyperOptions o;
    o.lsh_planes = 3;
    o.bucket_size = 8;
    o.samples = 12;
    o.seed = static_cast<std::uint64_t>(seed);
    std::vector<double> lse_local;
    const auto O = gather_rows(comm, p.layout_q, approx::hyper_attention(comm, p, scale, o, &lse_local), dv);
    const auto lse = gather_vector(comm, p.layout_q, lse_local);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c <= dv; ++c) {
        const double e = std::exp(lse[static_cast<std::size_t>(i)]) * (c < dv ? O(i, c) : 1.0);
        sum(i, c) += e;
        sumsq(i, c) += e * e;
      }
  }
  double max_z = 0.0;
  for (std::int64_t k = 0; k < exact.size(); ++k) {
    const double mean = sum.data()[k] / N;
    const double var = std::max(0.0, sumsq.data()[k] / N - mean * mean) * N / (N - 1);
    const double se = std::max(std::sqrt(var / N), 1e-12 * std::abs(exact.data()[k]));
    max_z = std::max(max_z, std::abs(mean - exact.data()[k]) / se);
  }
  EXPECT_LT(max_z, 5.0);
}

TEST(Hyper, FloatAgreesWithDouble) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 150, d = 16, dv = 6;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto pd = clustered_problem<double>(n, n, d, dv, 6, 6.0, 0.5, 32, comm.rank(), comm.size());
  const auto pf = clustered_problem<float>(n, n, d, dv, 6, 6.0, 0.5, 32, comm.rank(), comm.size());
  approx::HyperOptions o;
  o.lsh_planes = 4;
  o.bucket_size = 16;
  o.samples = 64;
  const auto Od = gather_rows(comm, pd.layout_q, approx::hyper_attention(comm, pd, scale, o), dv);
  const auto Of = gather_rows(comm, pf.layout_q, approx::hyper_attention(comm, pf, scale, o), dv);
  EXPECT_LE(max_abs_diff(Of, Od), 1e-4 * max_abs(Od));
}

// Large logits (scale 50 on clustered data: logits in the thousands) must not overflow: the
// per-row shifts are shared by the block and residual parts.
TEST(Hyper, LargeLogitsStayFinite) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 100, d = 8, dv = 3;
  const auto p = clustered_problem<float>(n, n, d, dv, 4, 8.0, 0.5, 33, comm.rank(), comm.size());
  approx::HyperOptions o;
  o.lsh_planes = 3;
  o.bucket_size = 10;
  o.samples = 30;
  const auto O = approx::hyper_attention(comm, p, 50.0, o);
  bool finite = true;
  for (float v : O.span()) finite = finite && std::isfinite(v);
  EXPECT_TRUE(finite);
}

TEST(Hyper, RankCountInvariance) {
  const auto& world = testing_support::world();
  for (std::int64_t n : {3, 203}) {
    const std::int64_t d = 16, dv = 5;
    approx::HyperOptions o;
    o.lsh_planes = 6;
    o.bucket_size = n < 16 ? 2 : 16;
    o.samples = 40;
    o.seed = 77;
    expect_rank_count_invariant(
        world,
        [&](const dist::Comm& c) {
          const auto p = clustered_problem<double>(n, n, d, dv, 4, 5.0, 0.5, 10, c.rank(), c.size());
          return gather_rows(c, p.layout_q, approx::hyper_attention(c, p, 1.0 / d, o), dv);
        },
        1e-12);
  }
}

TEST(Hyper, BadParametersAreUsageErrors) {
  const auto& comm = testing_support::world();
  const auto p = clustered_problem<double>(20, 20, 4, 2, 2, 1.0, 0.5, 1, comm.rank(), comm.size());
  auto expect_usage = [&](approx::HyperOptions o, const char* what) {
    try {
      approx::hyper_attention(comm, p, 0.25, o);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << what << ": " << e.what();
    }
  };
  approx::HyperOptions o;
  o.bucket_size = 4;
  auto b = o; b.samples = -1; expect_usage(b, "samples < 0");
  b = o; b.bucket_size = 0; expect_usage(b, "bucket_size 0");
  b = o; b.bucket_size = 21; expect_usage(b, "bucket_size > n");
  b = o; b.lsh_planes = 0; expect_usage(b, "lsh_planes 0");
  b = o; b.lsh_planes = 21; expect_usage(b, "lsh_planes 21");
  EXPECT_EQ(comm.allreduce<int>(1, dist::Op::sum), comm.size());
}

}  // namespace
