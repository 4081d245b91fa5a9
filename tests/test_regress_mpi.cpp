// Attention regression across ranks (run at 1-4 ranks): the distributed loss, gradient and joint
// Hessian against the serial dense reference (n not divisible by p, p > n, several tiles and key
// chunks), the planted optimum, float vs double, and the solvers.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mpi_test_util.hpp"
#include "regress/check.hpp"
#include "regress/evaluate.hpp"
#include "regress/instance.hpp"
#include "regress/optimize.hpp"
#include "grid/dense_solver.hpp"
#include "core/error.hpp"
#include "grid/process_grid.hpp"
#include "linalg/lapack.hpp"
#include "regress/reference.hpp"
#include "test_comm.hpp"
#include "test_regress_common.hpp"

using namespace attnbench;
using namespace attnbench::regress;
using testing_support::world;

namespace {

using regress::testing::block;
using regress::testing::gather_problem;
using regress::testing::point;

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double e : v) m = std::max(m, std::abs(e));
  return m;
}

struct Shape {
  std::int64_t n, d;
  double scale;
  std::int64_t tile, chunk;
};

class DistributedVsReference : public ::testing::TestWithParam<Shape> {};

TEST_P(DistributedVsReference, LossGradientHessian) {
  const Shape sh = GetParam();
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = sh.n;
  spec.d = sh.d;
  spec.scale = sh.scale;
  spec.seed = 5;
  spec.noise = 0.1;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const ReferenceProblem p = gather_problem(comm, inst.data);
  const std::vector<double> x = point(sh.d, 11, 0.5);
  const ReferenceResult ref = reference_evaluate(p, block(x, sh.d, 0), block(x, sh.d, 1), true);

  Evaluator<double> ev(comm, inst.data, sh.tile, sh.chunk);
  const Evaluation<double> e = ev.evaluate(x, Need::hessian);
  EXPECT_NEAR(e.loss, ref.loss, 1e-13 * ref.loss);
  std::vector<double> gref(ref.grad_X.span().begin(), ref.grad_X.span().end());
  gref.insert(gref.end(), ref.grad_Y.span().begin(), ref.grad_Y.span().end());
  ASSERT_EQ(e.grad.size(), gref.size());
  const double gscale = max_abs(gref);
  for (std::size_t i = 0; i < gref.size(); ++i) EXPECT_NEAR(e.grad[i], gref[i], 1e-12 * gscale) << "i=" << i;
  const std::vector<double> href(ref.hessian.span().begin(), ref.hessian.span().end());
  ASSERT_EQ(e.hessian.size(), href.size());
  const double hscale = max_abs(href);
  double herr = 0.0;
  for (std::size_t i = 0; i < href.size(); ++i) herr = std::max(herr, std::abs(e.hessian[i] - href[i]));
  EXPECT_LT(herr, 1e-12 * hscale);

  // H_xx alone (the alternating algorithm's block) is the top-left block of the joint Hessian.
  const Evaluation<double> ex = ev.evaluate(x, Need::hessian_x);
  const std::int64_t d2 = sh.d * sh.d;
  double xerr = 0.0;
  for (std::int64_t r = 0; r < d2; ++r)
    for (std::int64_t c = 0; c < d2; ++c)
      xerr = std::max(xerr, std::abs(ex.hessian[static_cast<std::size_t>(r * d2 + c)] - href[static_cast<std::size_t>(r * 2 * d2 + c)]));
  EXPECT_LT(xerr, 1e-12 * hscale);
  // Loss only.
  EXPECT_NEAR(ev.evaluate(x, Need::loss).loss, ref.loss, 1e-13 * ref.loss);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DistributedVsReference,
                         ::testing::Values(Shape{13, 3, 1.0, 4, 5}, Shape{2, 2, 1.0, 64, 256},
                                           Shape{17, 4, 0.25, 3, 7}, Shape{9, 1, 1.0, 2, 2},
                                           Shape{31, 2, 1.0, 64, 4}));

TEST(Planted, ZeroLossAndGradientAtTheOptimum) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 37;
  spec.d = 3;
  spec.noise = 0.0;
  const Instance<double> inst = make_planted<double>(comm, spec);
  Evaluator<double> ev(comm, inst.data, 8);
  const Evaluation<double> at = ev.evaluate(inst.x_star, Need::gradient);
  // Away from the optimum, for scale.
  const Evaluation<double> away = ev.evaluate(inst.x0, Need::gradient);
  EXPECT_LT(at.loss, 1e-28);
  EXPECT_GT(away.loss, 1e-8);
  EXPECT_LT(max_abs(at.grad), 1e-13 * std::max(1.0, max_abs(away.grad)));
  // The start is at relative distance init_distance from X* and from Y*.
  const std::int64_t d2 = spec.d * spec.d;
  for (int blk = 0; blk < 2; ++blk) {
    double num = 0.0, den = 0.0;
    for (std::int64_t i = 0; i < d2; ++i) {
      const auto k = static_cast<std::size_t>(blk * d2 + i);
      num += (inst.x0[k] - inst.x_star[k]) * (inst.x0[k] - inst.x_star[k]);
      den += inst.x_star[k] * inst.x_star[k];
    }
    EXPECT_NEAR(std::sqrt(num / den), spec.init_distance, 1e-12);
  }
}

TEST(Planted, InstanceDoesNotDependOnRankCount) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 23;
  spec.d = 3;
  spec.noise = 0.05;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const Matrix<double> B = testing_support::gather_all_rows(comm, inst.data.layout, inst.data.B, spec.d);
  // The same instance built by one rank alone.
  const dist::Comm self = comm.split(comm.rank(), 0);
  const Instance<double> solo = make_planted<double>(self, spec);
  for (std::int64_t i = 0; i < B.size(); ++i) EXPECT_EQ(B.data()[i], solo.data.B.data()[i]);
  EXPECT_EQ(inst.x0, solo.x0);
}

TEST(Precision, FloatAgreesWithDouble) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 29;
  spec.d = 3;
  spec.noise = 0.1;
  const Instance<double> id = make_planted<double>(comm, spec);
  const Instance<float> jf = make_planted<float>(comm, spec);
  const std::vector<double> x = point(spec.d, 3, 0.5);
  const std::vector<float> xf(x.begin(), x.end());
  Evaluator<double> ed(comm, id.data, 8);
  Evaluator<float> ef(comm, jf.data, 8);
  const Evaluation<double> a = ed.evaluate(x, Need::hessian);
  const Evaluation<float> b = ef.evaluate(xf, Need::hessian);
  EXPECT_NEAR(b.loss, a.loss, 1e-4 * a.loss);
  const double gs = max_abs(a.grad);
  for (std::size_t i = 0; i < a.grad.size(); ++i) EXPECT_NEAR(b.grad[i], a.grad[i], 1e-4 * gs);
  const double hs = max_abs(a.hessian);
  for (std::size_t i = 0; i < a.hessian.size(); ++i) EXPECT_NEAR(b.hessian[i], a.hessian[i], 1e-4 * hs);
}

// ---- solvers -------------------------------------------------------------------------------------

double rel_dist(const std::vector<double>& x, const std::vector<double>& ref, std::int64_t off, std::int64_t len) {
  double num = 0.0, den = 0.0;
  for (std::int64_t i = off; i < off + len; ++i) {
    const auto k = static_cast<std::size_t>(i);
    num += (x[k] - ref[k]) * (x[k] - ref[k]);
    den += ref[k] * ref[k];
  }
  return std::sqrt(num / den);
}

SolveResult<double> run(const dist::Comm& comm, const Instance<double>& inst, Algorithm algo, std::int64_t max_iter,
                        double tol = 1e-10, std::span<const double> start = {},
                        std::unique_ptr<grid::DenseSolver<double>> solver = nullptr) {
  Evaluator<double> ev(comm, inst.data, 16);
  if (!solver) solver = grid::make_replicated_solver<double>(comm);
  SolveOptions opt;
  opt.algorithm = algo;
  opt.max_iter = max_iter;
  opt.tolerance = tol;
  return optimize<double>(comm, ev, *solver, start.empty() ? std::span<const double>(inst.x0) : start, opt);
}

TEST(Newton, QuadraticConvergenceFromASmallPerturbation) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 64;
  spec.d = 4;
  spec.init_distance = 0.002;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const std::int64_t d2 = spec.d * spec.d;
  std::vector<double> err{rel_dist(inst.x0, inst.x_star, 0, d2)};
  for (std::int64_t k = 1; k <= 6; ++k) {
    const SolveResult<double> r = run(comm, inst, Algorithm::newton, k, 1e-300);
    err.push_back(rel_dist(r.x, inst.x_star, 0, d2));
    if (comm.is_root()) std::printf("newton iteration %lld: |X-X*|/|X*| %.3e\n", static_cast<long long>(k), err.back());
  }
  // Quadratic phase: e_{k+1} <= C e_k^2 while e_k is between 1e-3 and rounding (C = 1000 allows for
  // the conditioning of the instance; linear convergence fails it at the second such step).
  int quadratic_steps = 0;
  for (std::size_t k = 0; k + 1 < err.size(); ++k)
    if (err[k] > 1e-9 && err[k] < 1e-3) {
      EXPECT_LT(err[k + 1], 1000.0 * err[k] * err[k]) << "k=" << k;
      ++quadratic_steps;
    }
  EXPECT_GE(quadratic_steps, 2);
  EXPECT_LT(err.back(), 1e-11);
  const SolveResult<double> full = run(comm, inst, Algorithm::newton, 20, 1e-10);
  EXPECT_TRUE(full.converged);
  EXPECT_LE(full.iterations, 8);
}

TEST(Solvers, TrajectoryDoesNotDependOnRankCount) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 41;
  spec.d = 3;
  spec.init_distance = 0.3;
  spec.noise = 0.01;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const dist::Comm self = comm.split(comm.rank(), 0);
  const Instance<double> solo = make_planted<double>(self, spec);
  for (Algorithm a : {Algorithm::newton, Algorithm::gd, Algorithm::alternating}) {
    const SolveResult<double> r = run(comm, inst, a, 15, 1e-10);
    const SolveResult<double> s1 = run(self, solo, a, 15, 1e-10);
    ASSERT_EQ(r.history.size(), s1.history.size()) << to_string(a);
    for (std::size_t k = 0; k < r.history.size(); ++k) {
      EXPECT_NEAR(r.history[k].loss, s1.history[k].loss, 1e-9 * s1.history[k].loss) << to_string(a) << " k=" << k;
      EXPECT_EQ(r.history[k].accepted, s1.history[k].accepted) << to_string(a) << " k=" << k;
    }
    EXPECT_LT(rel_dist(r.x, s1.x, 0, 2 * spec.d * spec.d), 1e-8) << to_string(a);
  }
}

TEST(Newton, DampingRescuesAStartWhereUndampedNewtonDiverges) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 64;
  spec.d = 4;
  spec.init_distance = 1.0;
  spec.seed = 3;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const std::int64_t N = 2 * spec.d * spec.d;
  // Plain Newton: x := x - H^{-1} g with LU (the Hessian may be indefinite), every step taken.
  Evaluator<double> ev(comm, inst.data, 16);
  std::vector<double> x = inst.x0;
  const double loss0 = ev.evaluate(x, Need::loss).loss;
  double loss = loss0;
  for (int k = 0; k < 30; ++k) {
    Evaluation<double> e = ev.evaluate(x, Need::hessian);
    std::vector<double> step(e.grad);
    const int info = linalg::gesv(N, 1, e.hessian.data(), N, step.data(), N);  // symmetric: row/col-major agree
    if (info != 0) break;
    for (std::int64_t i = 0; i < N; ++i) x[static_cast<std::size_t>(i)] -= step[static_cast<std::size_t>(i)];
    comm.bcast(std::span<double>(x), 0);
    loss = ev.evaluate(x, Need::loss).loss;
    if (!std::isfinite(loss)) break;
  }
  if (comm.is_root()) std::printf("undamped: loss0 %.3e after 30 steps %.3e\n", loss0, loss);
  EXPECT_TRUE(!std::isfinite(loss) || loss > 1e-6 * loss0) << "undamped Newton was expected to fail from this start";
  const SolveResult<double> r = run(comm, inst, Algorithm::newton, 100, 1e-10);
  if (comm.is_root()) std::printf("damped: %lld iterations, rel grad %.3e loss %.3e\n", static_cast<long long>(r.iterations), r.rel_grad_norm(), r.history.back().loss);
  EXPECT_TRUE(r.converged);
  EXPECT_LT(r.history.back().loss, 1e-20 * loss0);
  // Damping was at work: a rejected step, or a step taken with lambda > 0 (H + lambda I indefinite
  // at lambda = 0 is retried inside the iteration with a larger lambda, not a rejected row).
  int damped = 0;
  for (std::size_t k = 1; k < r.history.size(); ++k)
    damped += (r.history[k].accepted == 0 || r.history[k].lambda > 0.0) ? 1 : 0;
  EXPECT_GT(damped, 0) << "damping was never needed";
}

TEST(Solvers, GradientDescentAndAlternatingDecreaseTheLoss) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 64;
  spec.d = 4;
  spec.init_distance = 0.05;
  const Instance<double> inst = make_planted<double>(comm, spec);
  const SolveResult<double> nt = run(comm, inst, Algorithm::newton, 50, 1e-10);
  const SolveResult<double> gd = run(comm, inst, Algorithm::gd, 200, 1e-10);
  const SolveResult<double> al = run(comm, inst, Algorithm::alternating, 200, 1e-10);
  if (comm.is_root())
    std::printf("newton %lld it rel %.2e | gd %lld it rel %.2e | alternating %lld it rel %.2e\n", static_cast<long long>(nt.iterations), nt.rel_grad_norm(),
                static_cast<long long>(gd.iterations), gd.rel_grad_norm(), static_cast<long long>(al.iterations), al.rel_grad_norm());
  EXPECT_TRUE(nt.converged);
  for (std::size_t k = 1; k < gd.history.size(); ++k) EXPECT_LE(gd.history[k].loss, gd.history[k - 1].loss);
  EXPECT_LT(gd.history.back().loss, gd.history.front().loss);
  EXPECT_GT(gd.iterations, nt.iterations);
  EXPECT_LT(al.history.back().loss, al.history.front().loss);
}

TEST(Solvers, BadOptionsAreUsageErrors) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 8;
  spec.d = 2;
  const Instance<double> inst = make_planted<double>(comm, spec);
  EXPECT_THROW(run(comm, inst, Algorithm::newton, 0), attnbench::Error);
  EXPECT_THROW(run(comm, inst, Algorithm::newton, 5, 0.0), attnbench::Error);
  EXPECT_THROW(run(comm, inst, Algorithm::newton, 5, -1.0), attnbench::Error);
  EXPECT_THROW(parse_algorithm("bfgs"), attnbench::Error);
}

}  // namespace

namespace {

TEST(Check, DerivativeChecksPassAndCatchAWrongGradient) {
  const dist::Comm& comm = world();
  for (double delta : {0.0, 0.05}) {
    PlantedSpec spec;
    spec.n = 50;
    spec.d = 3;
    spec.init_distance = delta;
    spec.noise = 0.01;
    const Instance<double> inst = make_planted<double>(comm, spec);
    Evaluator<double> ev(comm, inst.data, 8);
    const DerivativeCheck c = check_derivatives<double>(comm, ev, inst.x0, 42, 8, 2);
    if (comm.is_root())
      std::printf("delta %.2f: grad check %.2e symmetry %.2e hessian check %.2e\n", delta, c.grad_check_error,
                  c.hessian_symmetry_error, c.hessian_check_error);
    EXPECT_LE(c.grad_check_error, 1e-6);
    EXPECT_LE(c.hessian_symmetry_error, 1e-12);
    EXPECT_LE(c.hessian_check_error, 1e-6);
    EXPECT_EQ(c.coordinates, 8);
    EXPECT_EQ(c.columns, 2);
    EXPECT_GT(c.grad_check_error, 0.0) << "finite differences never agree to the last bit: nothing was compared";
    EXPECT_GT(c.hessian_check_error, 0.0);
  }
}

}  // namespace

namespace {

// The grids the ScaLAPACK path is tested on at this rank count: the squarest, and p x 1.
std::vector<grid::GridShape> grids(int p) {
  std::vector<grid::GridShape> g{grid::squarest_shape(p)};
  if (p > 1) g.push_back(grid::GridShape{p, 1});
  return g;
}

TEST(ScalapackSolver, AgreesWithReplicatedOnSpdAndIndefiniteSystems) {
  const dist::Comm& comm = world();
  for (const std::int64_t N : {1, 7, 50, 130}) {
    // H = G G^T / N + 0.5 I (SPD), identical on every rank; each rank's partial is H / p.
    std::vector<double> G(static_cast<std::size_t>(N * N)), H(static_cast<std::size_t>(N * N)), rhs(static_cast<std::size_t>(N));
    for (std::size_t i = 0; i < G.size(); ++i) G[i] = uniform_pm1(3, 9, i);
    for (std::int64_t i = 0; i < N; ++i) {
      rhs[static_cast<std::size_t>(i)] = uniform_pm1(3, 10, static_cast<std::uint64_t>(i));
      for (std::int64_t j = 0; j < N; ++j) {
        double v = i == j ? 0.5 : 0.0;
        for (std::int64_t k = 0; k < N; ++k) v += G[static_cast<std::size_t>(i * N + k)] * G[static_cast<std::size_t>(j * N + k)] / static_cast<double>(N);
        H[static_cast<std::size_t>(i * N + j)] = v;
      }
    }
    auto rep = grid::make_replicated_solver<double>(comm);
    rep->hold(std::vector<double>(H), N);
    std::vector<double> s_rep(static_cast<std::size_t>(N));
    ASSERT_EQ(rep->solve(0.1, rhs, s_rep), 0);
    for (const grid::GridShape shape : grids(comm.size())) {
      for (const std::int64_t nb : {2, 64}) {
        auto sca = grid::make_grid_solver<double>(comm, shape, nb);
        std::vector<double> part(H);
        for (double& v : part) v /= comm.size();
        sca->hold(std::move(part), N);
        EXPECT_NEAR(sca->mean_abs_diag(), rep->mean_abs_diag(), 1e-12 * rep->mean_abs_diag());
        std::vector<double> s_sca(static_cast<std::size_t>(N));
        ASSERT_EQ(sca->solve(0.1, rhs, s_sca), 0) << shape.to_string();
        for (std::int64_t i = 0; i < N; ++i)
          EXPECT_NEAR(s_sca[static_cast<std::size_t>(i)], s_rep[static_cast<std::size_t>(i)], 1e-10) << shape.to_string() << " N=" << N;
        // The held H is unchanged by a solve: a second solve with another lambda matches too.
        std::vector<double> s2(static_cast<std::size_t>(N)), r2(static_cast<std::size_t>(N));
        ASSERT_EQ(sca->solve(2.0, rhs, s2), 0);
        ASSERT_EQ(rep->solve(2.0, rhs, r2), 0);
        for (std::int64_t i = 0; i < N; ++i) EXPECT_NEAR(s2[static_cast<std::size_t>(i)], r2[static_cast<std::size_t>(i)], 1e-10);
        // Indefinite: H - 110 I (all eigenvalues of H are below 110) fails on both, with an info > 0 on every rank; then it recovers.
        EXPECT_GT(sca->solve(-110.0, rhs, s2), 0);
        EXPECT_GT(rep->solve(-110.0, rhs, r2), 0);
        ASSERT_EQ(sca->solve(0.1, rhs, s2), 0);
        for (std::int64_t i = 0; i < N; ++i) EXPECT_NEAR(s2[static_cast<std::size_t>(i)], s_rep[static_cast<std::size_t>(i)], 1e-10);
      }
    }
  }
}

TEST(ScalapackSolver, NewtonAndAlternatingTrajectoriesMatchTheReplicatedSolve) {
  const dist::Comm& comm = world();
  PlantedSpec spec;
  spec.n = 45;
  spec.d = 3;
  spec.init_distance = 0.3;
  spec.noise = 0.01;
  const Instance<double> inst = make_planted<double>(comm, spec);
  for (Algorithm a : {Algorithm::newton, Algorithm::alternating}) {
    const SolveResult<double> rep = run(comm, inst, a, 25, 1e-10);
    for (const grid::GridShape shape : grids(comm.size())) {
      const SolveResult<double> sca = run(comm, inst, a, 25, 1e-10, {}, grid::make_grid_solver<double>(comm, shape, 4));
      ASSERT_EQ(sca.history.size(), rep.history.size()) << to_string(a) << " " << shape.to_string();
      for (std::size_t k = 0; k < rep.history.size(); ++k) {
        EXPECT_NEAR(sca.history[k].loss, rep.history[k].loss, 1e-9 * rep.history[k].loss) << to_string(a) << " k=" << k;
        EXPECT_EQ(sca.history[k].accepted, rep.history[k].accepted) << to_string(a) << " k=" << k;
        EXPECT_EQ(sca.history[k].cholesky_info > 0, rep.history[k].cholesky_info > 0) << to_string(a) << " k=" << k;
      }
      EXPECT_EQ(sca.converged, rep.converged);
    }
  }
}

}  // namespace
