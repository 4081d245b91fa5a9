// KDEformer attention (attention/approx/kde_hyper.hpp) against the serial reference: a single block with no
// samples is exact, the estimator of [A V | A 1] is unbiased over seeds (z-test), more samples
// lower the error, results do not depend on the rank count, bad parameters are usage errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

#include "attention/approx/kde_hyper.hpp"
#include "attention/approx/lsh.hpp"
#include "core/error.hpp"
#include "test_approx_kde_common.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using namespace attnbench::approx_test;

namespace {

TEST(LshOrder, GrayInverseIsHammingAdjacent) {
  for (std::uint32_t i = 0; i + 1 < (1u << 12); ++i) {
    EXPECT_EQ(approx::gray_inverse(approx::gray_code(i)), i);
    EXPECT_EQ(__builtin_popcount(approx::gray_code(i) ^ approx::gray_code(i + 1)), 1);
  }
}

template <class T>
void single_block_is_exact(std::int64_t nq, std::int64_t nk, double tol) {
  const auto& comm = testing_support::world();
  const std::int64_t d = 8, dv = 3;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto p = clustered_problem<T>(nq, nk, d, dv, 3, 3.0, 0.5, 11, comm.rank(), comm.size());
  approx::KdeOptions o;
  o.bucket_size = nk;  // one block holds every key and every query
  o.samples = 0;
  o.lsh_planes = 4;
  const auto O = gather_rows(comm, p.layout_q, approx::kde_attention(comm, p, scale, o), dv);
  const auto full = clustered_problem<T>(nq, nk, d, dv, 3, 3.0, 0.5, 11, 0, 1);
  const auto ref = reference_of(full, scale);
  EXPECT_LE(max_abs_diff(O, ref), tol * max_abs(ref)) << "nq=" << nq << " nk=" << nk;
}

TEST(Kde, SingleBlockNoSamplesIsExactDouble) {
  single_block_is_exact<double>(37, 37, 1e-12);
  single_block_is_exact<double>(29, 37, 1e-12);  // cross attention, n_q != n_k
  single_block_is_exact<double>(3, 3, 1e-12);    // p > n at 4 ranks
}
TEST(Kde, SingleBlockNoSamplesIsExactFloat) { single_block_is_exact<float>(37, 37, 2e-5); }

// With samples = 0 the output is the heavy part alone: each query's softmax over the keys of its
// block. Checked against an independent serial construction of the blocks (std::stable_sort by
// gray_inverse(bucket), query block floor(t n_k / n_q) / b), including n_q != n_k.
void heavy_part_matches_serial_blocks(std::int64_t nq, std::int64_t nk, std::int64_t bucket, int planes) {
  const auto& comm = testing_support::world();
  const std::int64_t d = 8, dv = 3;
  const double scale = 0.5;
  const std::uint64_t seed = 99;
  const auto p = clustered_problem<double>(nq, nk, d, dv, 5, 3.0, 0.6, 17, comm.rank(), comm.size());
  approx::KdeOptions o;
  o.lsh_planes = planes;
  o.bucket_size = bucket;
  o.samples = 0;
  o.seed = seed;
  const auto O = gather_rows(comm, p.layout_q, approx::kde_attention(comm, p, scale, o), dv);

  const auto full = clustered_problem<double>(nq, nk, d, dv, 5, 3.0, 0.6, 17, 0, 1);
  const auto W = approx::lsh_hyperplanes(seed, planes, d);
  auto sorted_rows = [&](const Matrix<double>& X) {
    const auto b = approx::lsh_buckets(X, W);
    std::vector<std::int64_t> idx(static_cast<std::size_t>(X.rows()));
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int64_t>(i);
    std::stable_sort(idx.begin(), idx.end(), [&](std::int64_t x, std::int64_t y) {
      return approx::gray_inverse(b[static_cast<std::size_t>(x)]) < approx::gray_inverse(b[static_cast<std::size_t>(y)]);
    });
    return idx;
  };
  const auto qs = sorted_rows(full.Q_local), ks = sorted_rows(full.K_local);
  Matrix<double> expected(nq, dv);
  for (std::int64_t t = 0; t < nq; ++t) {
    const std::int64_t blk = (t * nk / nq) / bucket;
    const std::int64_t k0 = blk * bucket, k1 = std::min(nk, k0 + bucket);
    Matrix<double> q(1, d), K(k1 - k0, d), V(k1 - k0, dv);
    const std::int64_t i = qs[static_cast<std::size_t>(t)];
    for (std::int64_t c = 0; c < d; ++c) q(0, c) = full.Q_local(i, c);
    for (std::int64_t j = k0; j < k1; ++j) {
      const std::int64_t g = ks[static_cast<std::size_t>(j)];
      for (std::int64_t c = 0; c < d; ++c) K(j - k0, c) = full.K_local(g, c);
      for (std::int64_t c = 0; c < dv; ++c) V(j - k0, c) = full.V_local(g, c);
    }
    const auto r = reference_attention(q, K, V, scale);
    for (std::int64_t c = 0; c < dv; ++c) expected(i, c) = r(0, c);
  }
  EXPECT_LE(max_abs_diff(O, expected), 1e-12 * max_abs(expected))
      << "nq=" << nq << " nk=" << nk << " bucket=" << bucket << " planes=" << planes;
}

TEST(Kde, HeavyPartMatchesSerialBlocks) {
  heavy_part_matches_serial_blocks(45, 45, 8, 3);
  heavy_part_matches_serial_blocks(64, 64, 16, 7);
  heavy_part_matches_serial_blocks(31, 45, 7, 4);  // n_q < n_k
  heavy_part_matches_serial_blocks(45, 31, 4, 4);
  heavy_part_matches_serial_blocks(5, 5, 1, 2);    // one key per block, p > n at some counts
}

// Unbiasedness of e^lse [O | 1] as an estimate of [A V | A 1], over N seeds (the LSH blocks and
// the samples both vary with the seed). Per entry z = (mean - exact) / (sd / sqrt(N)); all |z| must
// be below 5. The same test on the heavy part alone (samples = 0) must detect its bias.
double max_z_over_seeds(bool with_samples) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 45, d = 6, dv = 3, N = 300;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto p = clustered_problem<double>(n, n, d, dv, 3, 2.0, 0.7, 5, comm.rank(), comm.size());
  const auto full = clustered_problem<double>(n, n, d, dv, 3, 2.0, 0.7, 5, 0, 1);
  // Exact [A V | A 1] in double.
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
    approx::KdeOptions o;
    o.lsh_planes = 3;
    o.bucket_size = 8;
    o.samples = with_samples ? 12 : 0;
    o.seed = static_cast<std::uint64_t>(seed);
    std::vector<double> lse_local;
    const auto O_local = approx::kde_attention(comm, p, scale, o, &lse_local);
    const auto O = gather_rows(comm, p.layout_q, O_local, dv);
    const auto lse = gather_vector(comm, p.layout_q, lse_local);
    for (std::int64_t i = 0; i < n; ++i) {
      const double w = std::exp(lse[static_cast<std::size_t>(i)]);
      for (std::int64_t c = 0; c <= dv; ++c) {
        const double e = w * (c < dv ? O(i, c) : 1.0);
        sum(i, c) += e;
        sumsq(i, c) += e * e;
      }
    }
  }
  double max_z = 0.0;
  for (std::int64_t k = 0; k < exact.size(); ++k) {
    const double mean = sum.data()[k] / N;
    const double var = std::max(0.0, sumsq.data()[k] / N - mean * mean) * N / (N - 1);
    const double se = std::sqrt(var / N);
    const double dev = std::abs(mean - exact.data()[k]);
    max_z = std::max(max_z, se > 1e-12 * std::abs(exact.data()[k]) ? dev / se : dev / (1e-12 * std::abs(exact.data()[k])));
  }
  return max_z;
}

TEST(Kde, EstimatorOfAVAndA1IsUnbiasedOverSeeds) {
  const double z = max_z_over_seeds(true);
  if (testing_support::world().is_root()) std::cout << "[   INFO   ] ranks=" << testing_support::world().size() << " max |z| with samples " << z << "\n";
  EXPECT_LT(z, 5.0) << "KDE estimate deviates from [A V | A 1] by " << z << " standard errors";
  const double z_heavy = max_z_over_seeds(false);
  if (testing_support::world().is_root()) std::cout << "[   INFO   ] max |z| heavy part only " << z_heavy << "\n";
  EXPECT_GT(z_heavy, 10.0) << "the z-test should detect the bias of the heavy part alone";
}

TEST(Kde, MoreSamplesLowerTheErrorOnAverage) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 256, d = 16, dv = 8;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto p = clustered_problem<double>(n, n, d, dv, 8, 4.0, 0.8, 3, comm.rank(), comm.size());
  const auto ref = reference_of(clustered_problem<double>(n, n, d, dv, 8, 4.0, 0.8, 3, 0, 1), scale);
  auto mean_error = [&](std::int64_t samples) {
    double e = 0.0;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      approx::KdeOptions o;
      o.bucket_size = 16;
      o.lsh_planes = 5;
      o.samples = samples;
      o.seed = seed;
      e += rel_frobenius(gather_rows(comm, p.layout_q, approx::kde_attention(comm, p, scale, o), dv), ref);
    }
    return e / 8;
  };
  const double e8 = mean_error(8), e64 = mean_error(64), e1024 = mean_error(1024);
  if (testing_support::world().is_root())
    std::cout << "[   INFO   ] mean rel. Frobenius error: samples 8: " << e8 << ", 64: " << e64 << ", 1024: " << e1024 << "\n";
  EXPECT_LT(e1024, e64) << "e8=" << e8 << " e64=" << e64 << " e1024=" << e1024;
  EXPECT_LT(e64, e8) << "e8=" << e8 << " e64=" << e64 << " e1024=" << e1024;
  // Importance-sampling variance falls like 1/samples: 128x the samples must cut the error a lot.
  EXPECT_LT(e1024, 0.35 * e8) << "e8=" << e8 << " e64=" << e64 << " e1024=" << e1024;
}

// float through the whole pipeline (masked residual with -inf logits, SLEEF exp, float GEMMs)
// agrees with double for the same seed (same hyperplanes, same draws).
TEST(Kde, FloatAgreesWithDouble) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 150, d = 16, dv = 6;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto pd = clustered_problem<double>(n, n, d, dv, 6, 6.0, 0.5, 31, comm.rank(), comm.size());
  const auto pf = clustered_problem<float>(n, n, d, dv, 6, 6.0, 0.5, 31, comm.rank(), comm.size());
  approx::KdeOptions o;
  o.lsh_planes = 4;
  o.bucket_size = 16;
  o.samples = 64;
  const auto Od = gather_rows(comm, pd.layout_q, approx::kde_attention(comm, pd, scale, o), dv);
  const auto Of = gather_rows(comm, pf.layout_q, approx::kde_attention(comm, pf, scale, o), dv);
  EXPECT_LE(max_abs_diff(Of, Od), 1e-4 * max_abs(Od));
  for (std::int64_t k = 0; k < Of.size(); ++k) ASSERT_TRUE(std::isfinite(Of.data()[k]));
}

// Large logits (scale 50 on clustered data: logits in the thousands) must not overflow, in float:
// the block part and the residual share each row's shift (log-sum-exp form).
TEST(Kde, LargeLogitsStayFinite) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 100, d = 8, dv = 3;
  const auto p = clustered_problem<float>(n, n, d, dv, 4, 8.0, 0.5, 33, comm.rank(), comm.size());
  approx::KdeOptions o;
  o.lsh_planes = 3;
  o.bucket_size = 10;
  o.samples = 30;
  const auto O = approx::kde_attention(comm, p, 50.0, o);
  bool finite = true;
  for (float v : O.span()) finite = finite && std::isfinite(v);
  EXPECT_TRUE(finite);
}

// OpenMP threads split the blocks; each block is computed the same way: identical results.
TEST(Kde, ThreadsDoNotChangeTheResult) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 300, d = 16, dv = 4;
  const auto p = clustered_problem<double>(n, n, d, dv, 6, 5.0, 0.5, 41, comm.rank(), comm.size());
  approx::KdeOptions o;
  o.lsh_planes = 5;
  o.bucket_size = 16;
  o.samples = 50;
  const auto O1 = approx::kde_attention(comm, p, 0.25, o);
  o.threads = 3;
  const auto O3 = approx::kde_attention(comm, p, 0.25, o);
  EXPECT_EQ(max_abs_diff(O1, O3), 0.0);
}

TEST(Kde, RankCountInvariance) {
  const auto& world = testing_support::world();
  for (std::int64_t n : {3, 203}) {
    const std::int64_t d = 16, dv = 5;
    const double scale = 1.0 / d;
    approx::KdeOptions o;
    o.lsh_planes = 5;
    o.bucket_size = n < 16 ? 1 : 16;
    o.samples = 40;
    o.seed = 1234;
    expect_rank_count_invariant(
        world,
        [&](const dist::Comm& c) {
          const auto p = clustered_problem<double>(n, n, d, dv, 4, 5.0, 0.5, 9, c.rank(), c.size());
          return gather_rows(c, p.layout_q, approx::kde_attention(c, p, scale, o), dv);
        },
        1e-12);
  }
}

TEST(Kde, BadParametersAreUsageErrors) {
  const auto& comm = testing_support::world();
  const auto p = clustered_problem<double>(20, 20, 4, 2, 2, 1.0, 0.5, 1, comm.rank(), comm.size());
  auto expect_usage = [&](approx::KdeOptions o, const char* what) {
    try {
      approx::kde_attention(comm, p, 0.25, o);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << what << ": " << e.what();
    }
  };
  approx::KdeOptions o;
  o.bucket_size = 4;
  auto b = o; b.samples = -1; expect_usage(b, "samples < 0");
  b = o; b.bucket_size = 0; expect_usage(b, "bucket_size 0");
  b = o; b.bucket_size = 21; expect_usage(b, "bucket_size > n");
  b = o; b.lsh_planes = 0; expect_usage(b, "lsh_planes 0");
  b = o; b.lsh_planes = 21; expect_usage(b, "lsh_planes 21");
  // The communicator is still usable afterwards (no rank left inside a collective).
  EXPECT_EQ(comm.allreduce<int>(1, dist::Op::sum), comm.size());
}

}  // namespace
