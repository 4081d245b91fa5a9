// The error module shared by the approximate algorithms (approx/errors.hpp): the Gram-based
// Frobenius and spectral errors on known matrices, the Jacobi eigen-solver, the error modes; and the
// problems the approximate algorithms accept.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "attention/approx/errors.hpp"
#include "attention/approx/kde_hyper.hpp"
#include "attention/approx/performer.hpp"
#include "attention/approx/poly.hpp"
#include "attention_test_util.hpp"
#include "core/error.hpp"
#include "test_comm.hpp"

using namespace attnbench;

TEST(ApproxErrors, JacobiLargestEigenvalue) {
  // Q diag(5, 2, -1, 0.5) Q^T with Q a rotation in the (0, 2) and (1, 3) planes.
  const double c = std::cos(0.7), s = std::sin(0.7), c2 = std::cos(-1.3), s2 = std::sin(-1.3);
  const double Q[4][4] = {{c, 0, -s, 0}, {0, c2, 0, -s2}, {s, 0, c, 0}, {0, s2, 0, c2}};
  const double lam[4] = {5, 2, -1, 0.5};
  std::vector<double> A(16, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 4; ++k) A[static_cast<std::size_t>(i * 4 + j)] += Q[i][k] * lam[k] * Q[j][k];
  EXPECT_NEAR(approx::symmetric_max_eigenvalue(A, 4), 5.0, 1e-13);
  EXPECT_NEAR(approx::symmetric_max_eigenvalue({3.0}, 1), 3.0, 0.0);
  EXPECT_EQ(approx::symmetric_max_eigenvalue({}, 0), 0.0);
}

// O~ = O + u w^T (rank one): |E|_2 = |E|_F = |u| |w|; O has orthogonal columns of known norms.
TEST(ApproxErrors, FullModeNormsOnKnownMatrices) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 41, dv = 3;
  const dist::BlockRowLayout lay(n, comm.size());
  const auto r0 = lay.row_offset(comm.rank()), rows = lay.local_rows(comm.rank());
  Matrix<double> O(rows, dv), Oa(rows, dv);
  const double w[3] = {0.5, -1.0, 2.0};
  double u2 = 0.0;
  for (std::int64_t i = 0; i < n; ++i) u2 += (1.0 + i % 3) * (1.0 + i % 3);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t g = r0 + i;
    // Columns: (1,..,1) * 3, (+1,-1,...) * 1 (orthogonal enough for the bound below), e_0-ish.
    O(i, 0) = 3.0;
    O(i, 1) = (g % 2 == 0) ? 1.0 : -1.0;
    O(i, 2) = 0.0;
    const double ui = 1.0 + g % 3;
    for (std::int64_t c = 0; c < dv; ++c) Oa(i, c) = O(i, c) + 1e-3 * ui * w[c];
  }
  const auto e = approx::compare_outputs(comm, Oa, O);
  const double wn = std::sqrt(0.25 + 1.0 + 4.0), En = 1e-3 * std::sqrt(u2) * wn;
  // O^T O = [[9n, 3 sum(+-1)], [., n]] with sum(+-1) = 1 for odd n.
  const double a = 9.0 * n, b = 3.0, dd = static_cast<double>(n);
  const double lmax = 0.5 * (a + dd) + std::sqrt(0.25 * (a - dd) * (a - dd) + b * b);
  EXPECT_NEAR(e.rel_spectral_error, En / std::sqrt(lmax), 1e-12);
  EXPECT_NEAR(e.rel_frobenius_error, En / std::sqrt(10.0 * n), 1e-12);
  EXPECT_NEAR(e.max_abs_error, 1e-3 * 3.0 * 2.0, 1e-15);
  EXPECT_NEAR(e.rel_error, 2e-3, 1e-15);
  EXPECT_TRUE(e.finite());
}

TEST(ApproxErrors, NaNOutputGivesInfiniteError) {
  const auto& comm = testing_support::world();
  const dist::BlockRowLayout lay(8, comm.size());
  const auto rows = lay.local_rows(comm.rank());
  Matrix<double> O(rows, 2, 1.0), Oa(rows, 2, 1.0);
  if (comm.rank() == comm.size() - 1 && rows > 0) Oa(0, 0) = std::nan("");
  if (lay.local_rows(comm.size() - 1) == 0 && comm.rank() == 0) Oa(0, 0) = std::nan("");
  const auto e = approx::compare_outputs(comm, Oa, O);
  EXPECT_TRUE(std::isinf(e.max_abs_error));
  EXPECT_FALSE(e.finite());
}

// Full and sampled modes agree on the sampled rows' max-abs error bound; none measures nothing.
TEST(ApproxErrors, ModesOnPolyOutput) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 97, d = 4, dv = 4;
  auto p = single_head_problem<double>(n, d, dv, 1.0, 3, comm.rank(), comm.size());
  approx::PolyOptions o;
  o.degree = 2;
  const double s = 1.0 / d;
  const auto plan = approx::plan_poly(comm, p, s, o);
  const auto O = approx::poly_attention(comm, p, plan);
  attention::MhaOptions eo;
  eo.scale = s;
  const auto full = approx::measure_errors(comm, p, O, approx::ErrorMode::full, eo, 16, 7);
  const auto sampled = approx::measure_errors(comm, p, O, approx::ErrorMode::sampled, eo, 16, 7);
  const auto none = approx::measure_errors(comm, p, O, approx::ErrorMode::none, eo, 16, 7);
  EXPECT_EQ(full.rows_checked, n);
  EXPECT_EQ(sampled.rows_checked, 16);
  EXPECT_GT(full.max_abs_error, 0.0);
  EXPECT_LE(full.max_abs_error, plan.validity_threshold());
  EXPECT_LE(sampled.max_abs_error, full.max_abs_error * (1 + 1e-9) + 1e-15);
  EXPECT_GT(full.rel_spectral_error, 0.0);
  EXPECT_LE(full.rel_spectral_error, full.rel_frobenius_error * (1 + 1e-12));
  EXPECT_TRUE(std::isnan(sampled.rel_spectral_error));
  EXPECT_TRUE(full.finite() && sampled.finite() && none.finite());
  EXPECT_EQ(approx::default_error_mode(16384), approx::ErrorMode::full);
  EXPECT_EQ(approx::default_error_mode(16385), approx::ErrorMode::sampled);
  EXPECT_THROW((void)approx::parse_error_mode("partial"), Error);
}

// The approximate algorithms take the one problem type and run its single-head case in contiguous
// blocks: more heads, a batch or another layout is a usage error naming the method, thrown on every
// rank before any collective (so the next problem runs normally).
TEST(ApproxProblem, OnlySingleHeadContiguousRuns) {
  const auto& comm = testing_support::world();
  using attention::HeadShape;
  using attention::LayoutKind;
  auto make = [&](HeadShape s, LayoutKind kind) {
    return attention::synthetic_problem<double>(s, 12, kind, 1.0, 5, comm.rank(), comm.size());
  };
  const double scale = 0.25;
  approx::PolyOptions po;
  po.degree = 2;
  approx::KdeOptions lo;
  lo.bucket_size = 4;
  lo.samples = 3;
  approx::PerformerOptions fo;
  fo.features = 8;
  auto expect_usage = [&](const char* method, const std::string& why, auto&& f) {
    try {
      f();
      ADD_FAILURE() << method << " ran " << why;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
      EXPECT_NE(std::string(e.what()).find(method), std::string::npos) << e.what();
    }
  };
  const std::vector<std::pair<std::string, attention::AttentionProblem<double>>> refused = {
      {"two heads", make(HeadShape{1, 2, 2, 4, 4}, LayoutKind::contiguous)},
      {"grouped K/V heads", make(HeadShape{1, 2, 1, 4, 4}, LayoutKind::contiguous)},
      {"a batch of two", make(HeadShape{2, 1, 1, 4, 4}, LayoutKind::contiguous)},
      {"striped tokens", make(HeadShape{1, 1, 1, 4, 4}, LayoutKind::striped)},
      {"zigzag tokens", make(HeadShape{1, 1, 1, 4, 4}, LayoutKind::zigzag)},
  };
  for (const auto& [why, p] : refused) {
    expect_usage("poly", why, [&] { (void)approx::poly_attention(comm, p, scale, po); });
    expect_usage("kde", why, [&] { (void)approx::kde_attention(comm, p, scale, lo); });
    expect_usage("hyper", why, [&] { (void)approx::hyper_attention(comm, p, scale, lo); });
    expect_usage("performer", why, [&] { (void)approx::performer_attention(comm, p, scale, fo); });
  }
  // The single head in contiguous blocks runs, with every method.
  const auto ok = make(HeadShape{1, 1, 1, 4, 4}, LayoutKind::contiguous);
  const auto rows = ok.layout_q.local_rows(comm.rank());
  EXPECT_EQ(approx::poly_attention(comm, ok, scale, po).rows(), rows);
  EXPECT_EQ(approx::kde_attention(comm, ok, scale, lo).rows(), rows);
  EXPECT_EQ(approx::hyper_attention(comm, ok, scale, lo).rows(), rows);
  EXPECT_EQ(approx::performer_attention(comm, ok, scale, fo).rows(), rows);
}
