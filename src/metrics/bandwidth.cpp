#include "metrics/bandwidth.hpp"

#include <cstddef>
#include <vector>

#include "core/timer.hpp"
#include "metrics/resources.hpp"

namespace attnbench::metrics {

double measure_triad_gbs(double bytes_per_array, int trials) {
  const auto n = static_cast<std::size_t>(bytes_per_array / sizeof(double));
  std::vector<double> a(n, 0.0), b(n, 1.0), c(n, 2.0);
  const double s = 0.5;
  auto triad = [&] {
    double* __restrict pa = a.data();
    const double* __restrict pb = b.data();
    const double* __restrict pc = c.data();
    for (std::size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
  };
  triad();  // first touch and warm-up
  std::vector<double> rates;
  for (int t = 0; t < trials; ++t) {
    const double t0 = wall_seconds();
    triad();
    rates.push_back(3.0 * 8.0 * static_cast<double>(n) / (wall_seconds() - t0) * 1e-9);
  }
  volatile double sink = a[n / 2];  // keep the stores observable
  (void)sink;
  return median(rates);
}

}  // namespace attnbench::metrics
