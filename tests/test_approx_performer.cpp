// Performer / FAVOR+ (approx/performer.hpp): the error falls as the number of features grows (on
// average over seeds), float agrees with double, results do not depend on the rank count, bad
// parameters are usage errors.
#include <gtest/gtest.h>

#include <cmath>

#include "attention/approx/performer.hpp"
#include "core/error.hpp"
#include "test_approx_kde_common.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using namespace attnbench::approx_test;

namespace {

TEST(Performer, ErrorFallsAsFeaturesGrow) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 128, d = 8, dv = 4;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const auto p = clustered_problem<double>(n, n, d, dv, 4, 2.0, 0.5, 4, comm.rank(), comm.size());
  const auto ref = reference_of(clustered_problem<double>(n, n, d, dv, 4, 2.0, 0.5, 4, 0, 1), scale);
  auto mean_error = [&](std::int64_t m) {
    double e = 0.0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      approx::PerformerOptions o;
      o.features = m;
      o.seed = seed;
      e += rel_frobenius(gather_rows(comm, p.layout_q, approx::performer_attention(comm, p, scale, o), dv), ref);
    }
    return e / 6;
  };
  const double e16 = mean_error(16), e128 = mean_error(128), e1024 = mean_error(1024);
  EXPECT_LT(e128, e16) << "e16=" << e16 << " e128=" << e128 << " e1024=" << e1024;
  EXPECT_LT(e1024, e128) << "e16=" << e16 << " e128=" << e128 << " e1024=" << e1024;
  // Monte Carlo rate 1/sqrt(m): 64x the features should cut the error well below half.
  EXPECT_LT(e1024, 0.5 * e16);
}

TEST(Performer, FloatAgreesWithDouble) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 64, d = 8, dv = 4;
  const auto pd = clustered_problem<double>(n, n, d, dv, 4, 2.0, 0.5, 8, comm.rank(), comm.size());
  const auto pf = clustered_problem<float>(n, n, d, dv, 4, 2.0, 0.5, 8, comm.rank(), comm.size());
  approx::PerformerOptions o;
  o.features = 64;
  const auto Od = gather_rows(comm, pd.layout_q, approx::performer_attention(comm, pd, 0.3, o), dv);
  const auto Of = gather_rows(comm, pf.layout_q, approx::performer_attention(comm, pf, 0.3, o), dv);
  EXPECT_LE(max_abs_diff(Of, Od), 1e-4 * max_abs(Od));
}

TEST(Performer, RankCountInvariance) {
  const auto& world = testing_support::world();
  for (std::int64_t n : {3, 203}) {
    const std::int64_t d = 16, dv = 5;
    approx::PerformerOptions o;
    o.features = 96;
    o.seed = 5;
    expect_rank_count_invariant(
        world,
        [&](const dist::Comm& c) {
          const auto p = clustered_problem<double>(n, n, d, dv, 4, 3.0, 0.5, 10, c.rank(), c.size());
          return gather_rows(c, p.layout_q, approx::performer_attention(c, p, 1.0 / d, o), dv);
        },
        1e-12);
  }
}

TEST(Performer, BadParametersAreUsageErrors) {
  const auto& comm = testing_support::world();
  const auto p = clustered_problem<double>(20, 20, 4, 2, 2, 1.0, 0.5, 1, comm.rank(), comm.size());
  for (std::int64_t m : {0, -3}) {
    approx::PerformerOptions o;
    o.features = m;
    try {
      approx::performer_attention(comm, p, 0.25, o);
      ADD_FAILURE() << "features " << m << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
    }
  }
  try {
    approx::performer_attention(comm, p, 0.0, approx::PerformerOptions{});
    ADD_FAILURE() << "scale 0: no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
  }
  EXPECT_EQ(comm.allreduce<int>(1, dist::Op::sum), comm.size());
}

}  // namespace
