// newton-sketch's sampled Hessian across ranks (run at 1-4 ranks): the row bounds bound the rows'
// Hessian terms, the sampled Hessian equals the serial reference built from the same sample, the
// sample does not depend on the rank count, the estimate is unbiased and accurate at large m, the
// sample-size rule inverts the Bernstein bound, and the solver converges (linearly) and records
// its accuracy.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "linalg/lapack.hpp"
#include "mpi_test_util.hpp"
#include "regress/evaluate.hpp"
#include "regress/instance.hpp"
#include "regress/optimize.hpp"
#include "regress/reference.hpp"
#include "regress/sampled_hessian.hpp"
#include "grid/dense_solver.hpp"
#include "grid/block_cyclic.hpp"
#include "test_comm.hpp"
#include "test_regress_common.hpp"

using namespace attnbench;
using namespace attnbench::regress;
using testing_support::world;

namespace {

using regress::testing::block;
using regress::testing::gather_problem;

std::vector<double> point(std::int64_t d, std::uint64_t seed, double f) { return regress::testing::point(d, seed, f, 78); }

double spectral_norm(std::vector<double> A, std::int64_t N) {
  std::vector<double> w(static_cast<std::size_t>(N));
  EXPECT_EQ(linalg::syevd(false, linalg::Uplo::lower, N, A.data(), N, w.data()), 0);
  return std::max(std::abs(w.front()), std::abs(w.back()));
}

// E_j of sampled_hessian.hpp from the serial reference: the Hessian of row j's loss alone (a
// one-row problem) with its H_yy block set to zero. N x N, row-major.
std::vector<double> row_term(const ReferenceProblem& p, std::int64_t j, const std::vector<double>& x, std::int64_t d) {
  ReferenceProblem r = p;
  r.A1 = Matrix<double>(1, d);
  r.B = Matrix<double>(1, d);
  for (std::int64_t c = 0; c < d; ++c) {
    r.A1(0, c) = p.A1(j, c);
    r.B(0, c) = p.B(j, c);
  }
  const ReferenceResult ref = reference_evaluate(r, block(x, d, 0), block(x, d, 1), true);
  const std::int64_t d2 = d * d, N = 2 * d2;
  std::vector<double> E(ref.hessian.span().begin(), ref.hessian.span().end());
  for (std::int64_t a = d2; a < N; ++a)
    for (std::int64_t b = d2; b < N; ++b) E[static_cast<std::size_t>(a * N + b)] = 0.0;
  return E;
}

// Every rank's (global row, weight) pairs of a sample, on every rank.
std::map<std::int64_t, double> gather_sample(const dist::Comm& comm, const RegressData<double>& D, const RowSample& s) {
  const std::int64_t row0 = D.layout.row_offset(comm.rank());
  std::vector<double> mine;
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    mine.push_back(static_cast<double>(s.rows[i] + row0));
    mine.push_back(s.weights[i]);
  }
  const std::vector<int> counts = comm.allgather(static_cast<int>(mine.size()));
  int total = 0;
  for (int c : counts) total += c;
  std::vector<double> all(static_cast<std::size_t>(total));
  comm.allgatherv<double>(mine, all, counts);
  std::map<std::int64_t, double> out;
  for (std::size_t i = 0; i < all.size(); i += 2) out[static_cast<std::int64_t>(all[i])] = all[i + 1];
  return out;
}

struct Shape {
  std::int64_t n, d;
  double scale;
  std::int64_t tile, m;
};

class SampledHessian : public ::testing::TestWithParam<Shape> {};

// The bound q_j >= |E_j|_2 for every row, and H~ = H_yy + sum w_j E_j with the reference's E_j
// and H_yy, for the sample the distributed code drew (n not divisible by p, p > n, several tiles).
TEST_P(SampledHessian, BoundsHoldAndMatchesTheReferenceOnTheSameSample) {
  const Shape sh = GetParam();
  const dist::Comm& comm = world();
  const PlantedSpec spec{.n = sh.n, .d = sh.d, .scale = sh.scale, .seed = 9, .noise = 0.1};
  const Instance<double> inst = make_planted<double>(comm, spec);
  const ReferenceProblem p = gather_problem(comm, inst.data);
  const std::int64_t d = sh.d, d2 = d * d, N = 2 * d2;
  const std::vector<double> x = point(d, 13, 0.5);  // away from the optimum: residual terms matter

  Evaluator<double> ev(comm, inst.data, sh.tile, 5);
  const Evaluation<double> e = ev.evaluate(x, Need::gradient, true, true);
  ASSERT_EQ(static_cast<std::int64_t>(e.row_bound.size()), inst.data.A1.rows());
  ASSERT_EQ(static_cast<std::int64_t>(e.gtg.size()), d2);

  // Every row's bound, gathered to every rank, against the reference's |E_j|_2.
  const std::vector<int> counts = comm.allgather(static_cast<int>(e.row_bound.size()));
  std::vector<double> q(static_cast<std::size_t>(sh.n));
  comm.allgatherv<double>(e.row_bound, q, counts);
  for (std::int64_t j = 0; j < sh.n; ++j) {
    const double norm = spectral_norm(row_term(p, j, x, d), N);
    EXPECT_GE(q[static_cast<std::size_t>(j)], norm * (1.0 - 1e-12)) << "row " << j;
  }

  const RowSample s = draw_rows(comm, inst.data.layout.row_offset(comm.rank()), e.row_bound, sh.m, 21);
  const Evaluation<double> hs = ev.sampled_hessian(x, s, e.gtg);
  ASSERT_EQ(static_cast<std::int64_t>(hs.hessian.size()), N * N);

  const ReferenceResult full = reference_evaluate(p, block(x, d, 0), block(x, d, 1), true);
  std::vector<double> ref(static_cast<std::size_t>(N * N), 0.0);
  for (std::int64_t a = d2; a < N; ++a)
    for (std::int64_t b = d2; b < N; ++b) ref[static_cast<std::size_t>(a * N + b)] = full.hessian(a, b);
  const std::map<std::int64_t, double> sample = gather_sample(comm, inst.data, s);
  double wsum = 0.0;
  for (const auto& [j, w] : sample) {
    const std::vector<double> E = row_term(p, j, x, d);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += w * E[i];
    wsum += w;
  }
  EXPECT_FALSE(sample.empty());
  EXPECT_GT(wsum, 0.0);
  double scale = 0.0, err = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::abs(ref[i]));
    err = std::max(err, std::abs(hs.hessian[i] - ref[i]));
  }
  EXPECT_LT(err, 1e-12 * scale);

  // The sample is the one-rank sample (the draws are functions of the seed and the global CDF).
  const dist::Comm self = comm.split(comm.rank(), 0);
  const Instance<double> solo = make_planted<double>(self, spec);
  Evaluator<double> ev1(self, solo.data, sh.tile, 5);
  const Evaluation<double> e1 = ev1.evaluate(x, Need::gradient, true, true);
  const std::map<std::int64_t, double> one = gather_sample(self, solo.data, draw_rows(self, 0, e1.row_bound, sh.m, 21));
  ASSERT_EQ(one.size(), sample.size());
  for (const auto& [j, w] : one) {
    ASSERT_TRUE(sample.count(j)) << "row " << j;
    EXPECT_NEAR(sample.at(j), w, 1e-12 * w) << "row " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SampledHessian,
                         ::testing::Values(Shape{13, 3, 1.0, 4, 7}, Shape{2, 2, 1.0, 64, 3}, Shape{31, 2, 0.5, 5, 40},
                                           Shape{9, 1, 1.0, 2, 4}));

// Unbiased (the mean over independent samples approaches H) and accurate at large m, and the
// measured accuracy within the rigorous bound eps_bound = t S / lambda_max(G^T G).
TEST(SampledHessianAccuracy, UnbiasedAccurateAndWithinTheBound) {
  const dist::Comm& comm = world();
  const PlantedSpec spec{.n = 50, .d = 2, .seed = 3, .noise = 0.05};
  const Instance<double> inst = make_planted<double>(comm, spec);
  const std::int64_t d = spec.d, N = 2 * d * d;
  const std::vector<double> x = point(d, 5, 0.3);
  Evaluator<double> ev(comm, inst.data, 8, 16);
  const Evaluation<double> exact = ev.evaluate(x, Need::hessian);
  const Evaluation<double> e = ev.evaluate(x, Need::gradient, true, true);
  const std::int64_t row0 = inst.data.layout.row_offset(comm.rank());
  const double S = row_bound_sum(comm, e.row_bound), h = lambda_max<double>(e.gtg, d);
  const double hn = spectral_norm(exact.hessian, N);

  auto error_of = [&](const std::vector<double>& Hs) {
    std::vector<double> D(Hs.size());
    for (std::size_t i = 0; i < D.size(); ++i) D[i] = Hs[i] - exact.hessian[i];
    return spectral_norm(D, N) / hn;
  };
  // Small samples: each one is off by tens of percent; their mean over 64 seeds much less.
  constexpr int K = 64;
  const std::int64_t m = 10;
  std::vector<double> mean(static_cast<std::size_t>(N * N), 0.0);
  double single = 0.0;
  for (int k = 0; k < K; ++k) {
    const Evaluation<double> hs = ev.sampled_hessian(x, draw_rows(comm, row0, e.row_bound, m, 100 + k), e.gtg);
    single += error_of(hs.hessian) / K;
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += hs.hessian[i] / K;
    const HessianAccuracy acc = hessian_accuracy<double>(hs.hessian, exact.hessian, N);
    EXPECT_NEAR(acc.norm_error, error_of(hs.hessian), 1e-10);
    EXPECT_LE(acc.norm_error, bernstein_t(m, N, 0.01) * S / h) << "seed " << k;
  }
  const double mean_error = error_of(mean);
  if (comm.is_root()) std::printf("m = %lld: mean single-sample error %.3f, error of the mean of %d: %.3f\n",
                                  static_cast<long long>(m), single, K, mean_error);
  EXPECT_GT(single, 0.02);                // a sample of 10 rows is not the Hessian
  EXPECT_LT(mean_error, 0.5 * single);    // ~ single / sqrt(K) for an unbiased estimate
  // Many draws: close to H (a weight off by any constant factor fails this).
  const Evaluation<double> big = ev.sampled_hessian(x, draw_rows(comm, row0, e.row_bound, 200000, 7), e.gtg);
  const HessianAccuracy acc = hessian_accuracy<double>(big.hessian, exact.hessian, N);
  EXPECT_LT(acc.norm_error, 0.05);
}

// The rule's m is the smallest m whose bound meets eps0.
TEST(SampleRule, InvertsTheBernsteinBound) {
  for (const double ratio : {3.0, 40.0, 900.0})
    for (const double eps0 : {0.9, 0.5, 0.1}) {
      const std::int64_t N = 32;
      const double S = ratio, h = 1.0, delta = 0.1;
      const std::int64_t m = sample_rows_rule(eps0, delta, N, S, h);
      EXPECT_LE(bernstein_t(m, N, delta) * S / h, eps0 * (1 + 1e-12)) << ratio << " " << eps0;
      if (m > 1) {
        EXPECT_GT(bernstein_t(m - 1, N, delta) * S / h, eps0) << ratio << " " << eps0;
      }
    }
}

SolveResult<double> solve_sketch(const dist::Comm& comm, const Instance<double>& inst, std::int64_t m,
                                 std::int64_t check_every, std::int64_t max_iter = 60,
                                 std::unique_ptr<grid::DenseSolver<double>> solver = nullptr) {
  Evaluator<double> ev(comm, inst.data, 16);
  if (!solver) solver = grid::make_replicated_solver<double>(comm);
  SolveOptions opt;
  opt.algorithm = Algorithm::newton_sketch;
  opt.max_iter = max_iter;
  opt.tolerance = 1e-10;
  opt.sample_rows = m;
  opt.check_every = check_every;
  opt.seed = 4;
  return optimize<double>(comm, ev, *solver, inst.x0, opt);
}

// Converges to the planted optimum with m < n, at a linear rate, the same on every rank count,
// and records m, the bound and (every 2nd Hessian) the measured accuracy.
TEST(NewtonSketch, ConvergesRecordsAccuracyAndDoesNotDependOnRankCount) {
  const dist::Comm& comm = world();
  const PlantedSpec spec{.n = 203, .d = 3, .init_distance = 0.01};
  const Instance<double> inst = make_planted<double>(comm, spec);
  // m = 100 of 203 rows: the measured |H~ - H| / |H| is 3-14%, but relative to the small
  // eigenvalues H~ is off by 1-10x (hessian_eps), so the rate is linear and slow: ~56 iterations.
  const SolveResult<double> r = solve_sketch(comm, inst, 100, 2, 90);
  EXPECT_TRUE(r.converged);
  const std::int64_t d2 = spec.d * spec.d;
  double num = 0.0, den = 0.0;
  for (std::int64_t i = 0; i < d2; ++i) {
    num += std::pow(r.x[static_cast<std::size_t>(i)] - inst.x_star[static_cast<std::size_t>(i)], 2);
    den += std::pow(inst.x_star[static_cast<std::size_t>(i)], 2);
  }
  EXPECT_LT(std::sqrt(num / den), 1e-8);
  int checked = 0, built = 0;
  for (std::size_t k = 0; k < r.history.size(); ++k) {
    const HistoryRow& row = r.history[k];
    if (row.sample_rows == 0) continue;
    ++built;
    EXPECT_EQ(row.sample_rows, 100);
    EXPECT_GT(row.hessian_bound, 0.0);
    EXPECT_GT(row.rule_rows, 0);
    if (!std::isnan(row.hessian_error)) {
      ++checked;
      EXPECT_GT(row.hessian_error, 0.0);  // a sample, not the exact Hessian
      EXPECT_LE(row.hessian_error, row.hessian_bound);
    }
  }
  EXPECT_EQ(checked, (built + 1) / 2);
  // Linear, not quadratic: more iterations than exact Newton's 3-4 on this instance.
  EXPECT_GT(r.iterations, 4);
  // The same trajectory on one rank (the draws do not depend on the rank count).
  const dist::Comm self = comm.split(comm.rank(), 0);
  const Instance<double> solo = make_planted<double>(self, spec);
  const SolveResult<double> s1 = solve_sketch(self, solo, 100, 2, 90);
  // Compared while the gradient is far above rounding: at |g| / |g0| ~ 1e-10 the acceptance of a
  // step is decided by the last bits of a loss of 1e-22, which rounding may tip either way.
  for (std::size_t k = 0; k < std::min(r.history.size(), s1.history.size()); ++k) {
    if (s1.history[k].grad_norm < 1e-6 * s1.grad_norm0) break;
    EXPECT_NEAR(r.history[k].loss, s1.history[k].loss, 1e-8 * s1.history[k].loss + 1e-30) << "k=" << k;
    EXPECT_EQ(r.history[k].accepted, s1.history[k].accepted) << "k=" << k;
    EXPECT_EQ(r.history[k].sample_rows, s1.history[k].sample_rows) << "k=" << k;
  }
  // m >= n: the exact Hessian (bound 0), hence Newton's quadratic convergence.
  const SolveResult<double> ex = solve_sketch(comm, inst, spec.n, 0);
  EXPECT_TRUE(ex.converged);
  EXPECT_LE(ex.iterations, 5);
  EXPECT_EQ(ex.history.front().hessian_bound, 0.0);
  EXPECT_EQ(ex.history.front().sample_rows, spec.n);
}

// The ScaLAPACK solver takes each rank's PARTIAL sampled Hessian (G^T G enters on rank 0 only) and
// reduces it onto its grid: the same trajectory as the replicated solve, on every grid shape.
TEST(NewtonSketch, ScalapackSolverMatchesTheReplicatedSolve) {
  const dist::Comm& comm = world();
  const PlantedSpec spec{.n = 45, .d = 3, .init_distance = 0.05};
  const Instance<double> inst = make_planted<double>(comm, spec);
  const SolveResult<double> rep = solve_sketch(comm, inst, 20, 3, 12);
  for (int pr = 1; pr <= comm.size(); ++pr) {
    if (comm.size() % pr != 0) continue;
    const grid::GridShape shape{pr, comm.size() / pr};
    const SolveResult<double> sca = solve_sketch(comm, inst, 20, 3, 12, grid::make_grid_solver<double>(comm, shape, 4));
    ASSERT_EQ(sca.history.size(), rep.history.size()) << shape.to_string();
    for (std::size_t k = 0; k < rep.history.size(); ++k) {
      EXPECT_NEAR(sca.history[k].loss, rep.history[k].loss, 1e-9 * rep.history[k].loss) << shape.to_string() << " k=" << k;
      EXPECT_EQ(sca.history[k].accepted, rep.history[k].accepted) << shape.to_string() << " k=" << k;
      if (rep.history[k].hessian_error == rep.history[k].hessian_error) {  // checked rows: the same H~
        EXPECT_NEAR(sca.history[k].hessian_error, rep.history[k].hessian_error, 1e-9) << shape.to_string() << " k=" << k;
      }
    }
  }
}

// A far start (50% from the optimum, where the exact Hessian is indefinite): the damping brings
// newton-sketch home as it does newton.
TEST(NewtonSketch, DampingBringsAFarStartHome) {
  const dist::Comm& comm = world();
  const PlantedSpec spec{.n = 203, .d = 3, .init_distance = 0.5};
  const Instance<double> inst = make_planted<double>(comm, spec);
  const SolveResult<double> r = solve_sketch(comm, inst, 100, 0, 200);
  EXPECT_TRUE(r.converged) << r.iterations << " iterations, |g|/|g0| " << r.rel_grad_norm();
  int rejected = 0;
  for (std::size_t k = 1; k < r.history.size(); ++k) rejected += r.history[k].accepted ? 0 : 1;
  if (comm.is_root()) std::printf("far start: %lld iterations, %d rejected\n", static_cast<long long>(r.iterations), rejected);
}

}  // namespace
