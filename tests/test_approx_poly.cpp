// Polynomial-method attention (ALGORITHMS.md section 2): the identities a test can assert, the
// certificate, the reference numbers, rank-count invariance through sub-communicators, and the
// memory-budget / tolerance error paths. Every test runs at 1-4 ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "attention/approx/poly.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"
#include "core/error.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using approx::PolyBasis;

namespace {

template <class T>
double max_abs_diff(const Matrix<T>& a, const Matrix<double>& ref) {
  double err = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(static_cast<double>(a.data()[i]) - ref.data()[i]);
    if (!(e <= err)) err = std::isnan(e) ? INFINITY : e;
  }
  return err;
}

double binomial(int n, int k) {
  double r = 1.0;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return std::round(r);
}

// A 1-rank communicator on every rank (for plans computed on the whole, unsplit data).
dist::Comm self_comm() { return testing_support::world().split(testing_support::world().rank(), 0); }

}  // namespace

TEST(PolyBasis, RankIsBinomialAndOrderIsGraded) {
  for (int d : {1, 2, 3, 6, 8})
    for (int g : {0, 1, 2, 4, 6}) {
      const auto mb = approx::make_monomial_basis(d, g);
      EXPECT_EQ(mb.size(), static_cast<std::int64_t>(binomial(d + g, g))) << "d=" << d << " g=" << g;
      EXPECT_EQ(approx::poly_rank(d, g), binomial(d + g, g));
      for (std::int64_t m = 1; m < mb.size(); ++m) {
        const auto mi = static_cast<std::size_t>(m);
        ASSERT_LT(mb.parent[mi], m);
        ASSERT_EQ(mb.degree[mi], mb.degree[static_cast<std::size_t>(mb.parent[mi])] + 1);
        ASSERT_GE(mb.degree[mi], mb.degree[mi - 1]);  // graded
      }
      // sum over |alpha| = k of k!/alpha! = d^k (multinomial theorem at x = 1).
      std::vector<double> sums(static_cast<std::size_t>(g + 1), 0.0);
      for (std::int64_t m = 0; m < mb.size(); ++m)
        sums[static_cast<std::size_t>(mb.degree[static_cast<std::size_t>(m)])] += mb.multinomial[static_cast<std::size_t>(m)];
      for (int k = 0; k <= g; ++k) EXPECT_NEAR(sums[static_cast<std::size_t>(k)], std::pow(d, k), 1e-9 * std::pow(d, k));
    }
}

TEST(PolyBasis, ChebyshevNeedsNoMoreTermsThanTaylor) {
  for (double R : {0.25, 1.0, 4.0}) {
    int gt = -1, gc = -1;
    for (int g = 0; g <= 40 && (gt < 0 || gc < 0); ++g) {
      if (gt < 0 && approx::exp_poly_relative_error(approx::exp_poly_coefficients(PolyBasis::taylor, g, R), R) <= 1e-8)
        gt = g;
      if (gc < 0 && approx::exp_poly_relative_error(approx::exp_poly_coefficients(PolyBasis::chebyshev, g, R), R) <= 1e-8)
        gc = g;
    }
    ASSERT_GE(gt, 0);
    ASSERT_GE(gc, 0);
    EXPECT_LE(gc, gt) << "R=" << R;
    // Taylor's measured error never exceeds the analytic e^R R^{g+1}/(g+1)!.
    const double analytic = std::exp(R) * std::pow(R, gt + 1) / std::tgamma(gt + 2.0);
    EXPECT_LE(approx::exp_poly_relative_error(approx::exp_poly_coefficients(PolyBasis::taylor, gt, R), R),
              1.001 * analytic * (1 + 1e-9) + 1e-15);
  }
}

class PolyIdentities : public ::testing::TestWithParam<PolyBasis> {};

// U1 U2^T = P(s Q K^T) entrywise to rounding, and |A~ - A| <= eps_P A entrywise, |D~ - D| <= eps_P D.
TEST_P(PolyIdentities, FeaturesReproducePolynomialAndBoundExp) {
  const auto self = self_comm();
  const std::int64_t n = 23, d = 4;
  auto p = single_head_problem<double>(n, d, 3, 1.5, 11, 0, 1);
  const double s = 1.0 / d;
  for (int g : {0, 1, 3, 5}) {
    approx::PolyOptions o;
    o.basis = GetParam();
    o.degree = g;
    const auto plan = approx::plan_poly(self, p, s, o);
    const auto U1 = approx::poly_query_features(p.Q_local, plan);
    const auto U2 = approx::poly_key_features(p.K_local, plan);
    ASSERT_EQ(U1.cols(), plan.rank);
    ASSERT_EQ(U2.cols(), plan.rank);
    for (std::int64_t i = 0; i < n; ++i) {
      double D = 0.0, Dt = 0.0;
      for (std::int64_t j = 0; j < n; ++j) {
        double x = 0.0, a_tilde = 0.0;
        for (std::int64_t c = 0; c < d; ++c) x += s * p.Q_local(i, c) * p.K_local(j, c);
        for (std::int64_t m = 0; m < plan.rank; ++m) a_tilde += U1(i, m) * U2(j, m);
        double Px = 0.0, Pabs = 0.0;
        for (int k = g; k >= 0; --k) {
          Px = Px * x + plan.coefficients[static_cast<std::size_t>(k)];
          Pabs = Pabs * std::abs(x) + std::abs(plan.coefficients[static_cast<std::size_t>(k)]);
        }
        ASSERT_NEAR(a_tilde, Px, 1e-13 * Pabs) << "g=" << g << " i=" << i << " j=" << j;
        const double A = std::exp(x);
        ASSERT_LE(std::abs(a_tilde - A), plan.eps_P * A + 1e-13 * Pabs) << "g=" << g;
        D += A;
        Dt += a_tilde;
      }
      EXPECT_LE(std::abs(Dt - D), plan.eps_P * D + 1e-12 * D);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Bases, PolyIdentities, ::testing::Values(PolyBasis::taylor, PolyBasis::chebyshev));

struct OutCase {
  std::int64_t n, d, dv;
  double bound;
  PolyBasis basis;
  int degree;         // < 0: from tolerance
  double tolerance;
  std::int64_t chunk;  // 0: default
  int threads;
};

class PolyVsReference : public ::testing::TestWithParam<OutCase> {};

template <class T>
void check_against_reference(const OutCase& c) {
  const auto& comm = testing_support::world();
  auto p = single_head_problem<T>(c.n, c.d, c.dv, c.bound, 5, comm.rank(), comm.size());
  const double s = 1.0 / static_cast<double>(c.d);
  approx::PolyOptions o;
  o.basis = c.basis;
  o.degree = c.degree;
  o.tolerance = c.tolerance;
  o.chunk_rows = c.chunk;
  o.threads = c.threads;
  const auto plan = approx::plan_poly(comm, p, s, o);
  const auto O = gather_rows(comm, p.layout_q, approx::poly_attention(comm, p, plan), c.dv);
  const auto full = single_head_problem<T>(c.n, c.d, c.dv, c.bound, 5, 0, 1);
  const auto ref = reference_attention(full.Q_local, full.K_local, full.V_local, s);
  const double err = max_abs_diff(O, ref);
  EXPECT_LT(plan.eps_P, 1.0);
  EXPECT_LE(err, plan.validity_threshold()) << "n=" << c.n << " g=" << plan.degree << " ranks=" << comm.size()
                                            << " certified=" << plan.certified_bound;
  if constexpr (std::is_same_v<T, double>) {
    // In double the rounding allowance is far below the certificate at these tolerances.
    EXPECT_LE(plan.rounding_allowance, 1e-3 * plan.certified_bound + 1e-12);
    EXPECT_LE(err, plan.certified_bound * (1 + 1e-6) + 1e-13);
  }
}

TEST_P(PolyVsReference, DoubleWithinCertifiedBound) { check_against_reference<double>(GetParam()); }
TEST_P(PolyVsReference, FloatWithinBoundPlusRounding) { check_against_reference<float>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, PolyVsReference,
    ::testing::Values(OutCase{1, 3, 2, 1.0, PolyBasis::taylor, 3, 0, 0, 1},
                      OutCase{3, 5, 2, 1.0, PolyBasis::taylor, 4, 0, 0, 1},  // p > n at 4 ranks
                      OutCase{37, 4, 3, 1.0, PolyBasis::taylor, -1, 1e-6, 5, 1},  // n % p != 0, many chunks
                      OutCase{37, 4, 3, 1.0, PolyBasis::chebyshev, -1, 1e-6, 5, 2},  // 2 threads
                      OutCase{130, 6, 5, 2.0, PolyBasis::chebyshev, -1, 1e-4, 0, 1},
                      OutCase{130, 6, 5, 2.0, PolyBasis::taylor, 10, 0, 7, 2}));

// ALGORITHMS.md reference numbers: n = 400, d = 6, B = 1, s = 1/d, Taylor.
TEST(PolyReferenceNumbers, MatchAlgorithmsMd) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 400, d = 6;
  auto p = single_head_problem<double>(n, d, d, 1.0, 42, comm.rank(), comm.size());
  const auto full = single_head_problem<double>(n, d, d, 1.0, 42, 0, 1);
  const auto ref = reference_attention(full.Q_local, full.K_local, full.V_local, 1.0 / d);
  const struct {
    int g;
    std::int64_t r;
    double err;
  } rows[] = {{2, 28, 3.3e-4}, {4, 210, 3.2e-6}, {6, 924, 2.7e-8}, {8, 3003, 5.8e-11}};
  for (const auto& row : rows) {
    approx::PolyOptions o;
    o.degree = row.g;
    const auto plan = approx::plan_poly(comm, p, 1.0 / d, o);
    EXPECT_EQ(plan.rank, row.r);
    const double err = max_abs_diff(gather_rows(comm, p.layout_q, approx::poly_attention(comm, p, plan), d), ref);
    EXPECT_GT(err, row.err / 5) << "g=" << row.g;
    EXPECT_LT(err, row.err * 5) << "g=" << row.g;
    EXPECT_LE(err, plan.validity_threshold());
    if (comm.is_root())
      std::cout << "  poly taylor n=400 d=6 B=1: g=" << row.g << " r=" << plan.rank << " out-err=" << err
                << " (ALGORITHMS.md " << row.err << "), certified=" << plan.certified_bound << "\n";
  }
}

// The same rows of O for every rank count: sub-communicators of sizes 1..p inside one run, each
// compared with a 1-rank computation on every rank.
TEST(PolyRankInvariance, SubCommunicatorsAgreeTo1e12) {
  const auto& world = testing_support::world();
  const std::int64_t n = 53, d = 5, dv = 4;
  const double s = 1.0 / d;
  approx::PolyOptions o;
  o.basis = PolyBasis::chebyshev;
  o.tolerance = 1e-10;
  const auto self = self_comm();
  const auto one = single_head_problem<double>(n, d, dv, 1.0, 9, 0, 1);
  const auto O1 = approx::poly_attention(self, one, s, o);
  for (int q = 1; q <= world.size(); ++q) {
    const int color = world.rank() < q ? 0 : 1;
    const auto sub = world.split(color, world.rank());
    auto p = single_head_problem<double>(n, d, dv, 1.0, 9, sub.rank(), sub.size());
    const auto Oq = gather_rows(sub, p.layout_q, approx::poly_attention(sub, p, s, o), dv);
    if (color != 0) continue;  // only the sub-communicator of size q is the case under test
    double err = 0.0, mx = 0.0;
    for (std::int64_t i = 0; i < O1.size(); ++i) {
      err = std::max(err, std::abs(O1.data()[i] - Oq.data()[i]));
      mx = std::max(mx, std::abs(O1.data()[i]));
    }
    EXPECT_LE(err, 1e-12 * mx) << "sub-communicator of " << q << " ranks";
  }
}

// Bad or impossible parameters: an error on every rank (does-not-fit for the budget), before anything of size r exists.
TEST(PolyErrors, MemoryBudgetNamesRankDegreeAndWhatFits) {
  const auto& comm = testing_support::world();
  auto p = single_head_problem<double>(64, 8, 8, 3.0, 1, comm.rank(), comm.size());
  approx::PolyOptions o;
  o.tolerance = 1e-6;
  o.memory_budget = std::int64_t{64} << 20;  // 64 MiB
  try {
    (void)approx::plan_poly(comm, p, 1.0 / 8, o);
    ADD_FAILURE() << "expected a memory-budget does-not-fit error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::does_not_fit);
    const std::string msg = e.what();
    for (const char* part : {"r = C(d+g, g) = C(8+", "d = 8", "g = ", "R = ", "largest degree that fits", "--memory-budget"})
      EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
  }
  o.memory_budget = 1;  // nothing fits
  try {
    (void)approx::plan_poly(comm, p, 1.0 / 8, o);
    ADD_FAILURE() << "expected a memory-budget does-not-fit error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::does_not_fit);
    EXPECT_NE(std::string(e.what()).find("no degree fits"), std::string::npos) << e.what();
  }
}

TEST(PolyErrors, UnreachableToleranceAndBadValues) {
  const auto& comm = testing_support::world();
  auto p = single_head_problem<double>(16, 2, 2, 30.0, 1, comm.rank(), comm.size());  // R ~ 900
  approx::PolyOptions o;
  o.tolerance = 1e-6;
  EXPECT_THROW((void)approx::plan_poly(comm, p, 1.0, o), Error);
  o.tolerance = 0.0;
  EXPECT_THROW((void)approx::plan_poly(comm, p, 1.0, o), Error);
  o.tolerance = 1e-6;
  o.degree = approx::kMaxPolyDegree + 1;
  EXPECT_THROW((void)approx::plan_poly(comm, p, 1.0, o), Error);
  EXPECT_THROW((void)approx::parse_poly_basis("legendre"), Error);
}

// A degree too low for the entries gives eps_P >= 1: the certificate is vacuous (infinite).
TEST(PolyErrors, VacuousCertificateIsInfinite) {
  const auto& comm = testing_support::world();
  auto p = single_head_problem<double>(16, 2, 2, 4.0, 1, comm.rank(), comm.size());
  approx::PolyOptions o;
  o.degree = 1;
  const auto plan = approx::plan_poly(comm, p, 1.0, o);
  EXPECT_GE(plan.eps_P, 1.0);
  EXPECT_TRUE(std::isinf(plan.certified_bound));
}
