// Serial dense reference of the attention regression (ALGORITHMS.md section 5), checked against
// central finite differences of itself: both gradients from the loss, the whole joint Hessian
// (H_xx, the derived cross block H_xy, H_yy) from the gradient, and its symmetry.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "regress/problem.hpp"
#include "regress/reference.hpp"

using namespace attnbench;
using namespace attnbench::regress;

namespace {

Matrix<double> random_matrix(std::int64_t r, std::int64_t c, std::uint64_t seed, std::uint64_t stream, double f) {
  Matrix<double> m(r, c);
  for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = f * uniform_pm1(seed, stream, static_cast<std::uint64_t>(i));
  return m;
}

ReferenceProblem random_problem(std::int64_t n, std::int64_t d, double scale, std::uint64_t seed) {
  ReferenceProblem p;
  p.A1 = random_matrix(n, d, seed, 1, 1.0);
  p.A2 = random_matrix(n, d, seed, 2, 1.0);
  p.A3 = random_matrix(n, d, seed, 3, 1.0);
  p.B = random_matrix(n, d, seed, 4, 1.0);
  p.scale = scale;
  return p;
}

// Fourth-order central difference of f at x along coordinate i.
double fd(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x, std::size_t i, double h) {
  const double x0 = x[i];
  auto at = [&](double dx) {
    x[i] = x0 + dx;
    return f(x);
  };
  return (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
}

struct Point {
  Matrix<double> X, Y;
};
Point split(const std::vector<double>& x, std::int64_t d) {
  Point pt{Matrix<double>(d, d), Matrix<double>(d, d)};
  std::copy(x.begin(), x.begin() + d * d, pt.X.data());
  std::copy(x.begin() + d * d, x.end(), pt.Y.data());
  return pt;
}

class ReferenceFD : public ::testing::TestWithParam<std::tuple<int, int, double>> {};

TEST_P(ReferenceFD, GradientsAndHessianMatchFiniteDifferences) {
  const auto [n, d, scale_rule] = GetParam();
  const double scale = scale_rule > 0 ? scale_rule : 1.0 / d;
  const ReferenceProblem p = random_problem(n, d, scale, 7 + static_cast<std::uint64_t>(n));
  const std::int64_t d2 = std::int64_t(d) * d, N = 2 * d2;
  std::vector<double> x(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) x[static_cast<std::size_t>(i)] = 0.7 * uniform_pm1(99, 5, static_cast<std::uint64_t>(i));
  const Point pt = split(x, d);
  const ReferenceResult r = reference_evaluate(p, pt.X, pt.Y, true);
  EXPECT_NEAR(r.loss, reference_loss(p, pt.X, pt.Y), 1e-13 * r.loss);

  auto loss = [&](const std::vector<double>& v) {
    const Point q = split(v, d);
    return reference_loss(p, q.X, q.Y);
  };
  std::vector<double> g(static_cast<std::size_t>(N));
  std::copy(r.grad_X.data(), r.grad_X.data() + d2, g.begin());
  std::copy(r.grad_Y.data(), r.grad_Y.data() + d2, g.begin() + d2);
  double gmax = 0.0, gerr = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    gmax = std::max(gmax, std::abs(g[i]));
    gerr = std::max(gerr, std::abs(fd(loss, x, i, 1e-3) - g[i]));
  }
  ASSERT_GT(gmax, 0.0);
  EXPECT_LT(gerr / gmax, 1e-8) << "gradient vs finite differences";

  // Hessian column i vs the fourth-order finite difference of the whole gradient along coordinate i.
  auto grad_at = [&](std::vector<double> v, std::size_t i, double dx) {
    v[i] += dx;
    const Point q = split(v, d);
    const ReferenceResult rr = reference_evaluate(p, q.X, q.Y, false);
    std::vector<double> out(rr.grad_X.span().begin(), rr.grad_X.span().end());
    out.insert(out.end(), rr.grad_Y.span().begin(), rr.grad_Y.span().end());
    return out;
  };
  double hmax = 0.0, herr = 0.0, sym = 0.0;
  const double h = 1e-3;
  for (std::int64_t i = 0; i < N; ++i) {
    const auto ii = static_cast<std::size_t>(i);
    const auto p1 = grad_at(x, ii, h), m1 = grad_at(x, ii, -h), p2 = grad_at(x, ii, 2 * h), m2 = grad_at(x, ii, -2 * h);
    for (std::int64_t k = 0; k < N; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      const double fdk = (8.0 * (p1[kk] - m1[kk]) - (p2[kk] - m2[kk])) / (12.0 * h);
      hmax = std::max(hmax, std::abs(r.hessian(k, i)));
      sym = std::max(sym, std::abs(r.hessian(k, i) - r.hessian(i, k)));
      herr = std::max(herr, std::abs(fdk - r.hessian(k, i)));
    }
  }
  ASSERT_GT(hmax, 0.0);
  EXPECT_LT(herr / hmax, 1e-8) << "Hessian vs finite differences of the gradient";
  EXPECT_LT(sym / hmax, 1e-13) << "Hessian symmetry";
  // The cross block is not zero (X and Y are coupled) and H_yy = (G^T G) (x) I has zero
  // off-diagonal entries between different output columns m != l.
  double cross = 0.0;
  for (std::int64_t a = 0; a < d2; ++a)
    for (std::int64_t c = 0; c < d2; ++c) cross = std::max(cross, std::abs(r.hessian(a, d2 + c)));
  EXPECT_GT(cross, 1e-3 * hmax);
  if (d > 1) {
    EXPECT_EQ(r.hessian(d2 + 0, d2 + 1), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ReferenceFD,
                         ::testing::Values(std::make_tuple(7, 3, 1.0), std::make_tuple(5, 2, -1.0),
                                           std::make_tuple(9, 1, 1.0), std::make_tuple(4, 3, 0.5)));

}  // namespace
