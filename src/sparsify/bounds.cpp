#include "sparsify/bounds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

double chernoff_rate_low(double e) { return e + (1.0 - e) * std::log1p(-e); }
double chernoff_rate_high(double e) { return (1.0 + e) * std::log1p(e) - e; }

double chernoff_ratio(std::int64_t n, double e_low, double e_high, double c_low, double delta) {
  const double nn = static_cast<double>(n), hl = chernoff_rate_low(e_low) * c_low, hh = chernoff_rate_high(e_high);
  // The failure bound falls strictly in t: bisection between a t that fails and one that meets it.
  auto fails = [&](double t) { return nn * (std::exp(-hl * t) + std::exp(-hh * t)) > delta; };
  double lo = 0.0, hi = 1.0;
  while (fails(hi)) {
    lo = hi;
    hi *= 2.0;
    if (!(hi < 1e300)) return std::numeric_limits<double>::infinity();
  }
  while (hi - lo > 1e-12 * hi) {
    const double mid = 0.5 * (lo + hi);
    if (fails(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

namespace {
std::int64_t samples_from_ratio(std::int64_t n, double t, double eps) {
  const double m = std::ceil(static_cast<double>(n) * t);
  if (!(m < 9.0e18))  // a tiny --eps: the conversion to int64 would be undefined
    throw usage_error("the matrix-Chernoff m = ceil(n t) = " + format_g(m) + " for --eps " + format_g(eps) +
                      " does not fit in int64: give a larger --eps or an explicit --m");
  return static_cast<std::int64_t>(m);
}
}  // namespace

std::int64_t chernoff_samples(std::int64_t n, double eps, double delta) {
  return samples_from_ratio(n, chernoff_ratio(n, eps, eps, 1.0, delta), eps);
}

double chi2_lower_point(std::int64_t k, double q) {
  // (k / 2)(ln x + 1 - x) rises from -inf to 0 on (0, 1): the x where it equals ln q.
  const double target = 2.0 * std::log(q) / static_cast<double>(k);
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 60; ++it) {
    const double x = 0.5 * (lo + hi);
    if (std::log(x) + 1.0 - x < target) lo = x;
    else hi = x;
  }
  return hi;
}

ScreenPlan screen_plan(std::int64_t n, double eps, double delta, std::int64_t k) {
  // eta and delta_screen are the proof's split of eps and delta (any split is rigorous): eps / 64
  // costs about 3% more draws at eps = 0.5 (h_high(eps - eta) / h_high(eps)), delta / 8 about 1%
  // (ln(n / delta) grows by ln(8 / 7)); the screen factor a then follows from k.
  ScreenPlan s;
  s.k = k;
  s.eta = eps / 64.0;
  s.delta_screen = delta / 8.0;
  s.q = s.delta_screen * s.eta / (2.0 * static_cast<double>(n));
  s.a = 1.0 / chi2_lower_point(k, s.q);
  s.e_high = eps - s.eta;
  s.e_low = 1.0 - (1.0 - eps) / (1.0 - s.eta);
  s.t = chernoff_ratio(n, s.e_low, s.e_high, 1.0 - s.eta, delta - s.delta_screen);
  s.m = samples_from_ratio(n, s.t, eps);
  return s;
}

}  // namespace attnbench::sparsify
