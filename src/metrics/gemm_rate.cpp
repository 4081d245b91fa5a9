#include "metrics/gemm_rate.hpp"

#include <algorithm>

#include "core/timer.hpp"
#include "linalg/blas.hpp"
#include "metrics/resources.hpp"

namespace attnbench::metrics {

template <class T>
double measure_gemm_gflops(const std::vector<GemmShape>& shapes, double min_seconds, int trials) {
  std::int64_t a_max = 1, b_max = 1, c_max = 1;
  double flops_per_pass = 0.0;
  for (const auto& s : shapes) {
    a_max = std::max(a_max, s.m * s.k);
    b_max = std::max(b_max, s.k * s.n);
    c_max = std::max(c_max, s.m * s.n);
    flops_per_pass += 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  }
  std::vector<T> A(static_cast<std::size_t>(a_max)), B(static_cast<std::size_t>(b_max)), C(static_cast<std::size_t>(c_max));
  for (std::size_t i = 0; i < A.size(); ++i) A[i] = static_cast<T>(0.001 * static_cast<double>(i % 97));
  for (std::size_t i = 0; i < B.size(); ++i) B[i] = static_cast<T>(0.002 * static_cast<double>(i % 89));
  auto pass = [&] {
    for (const auto& s : shapes) {
      const auto tb = s.transpose_b ? linalg::Trans::yes : linalg::Trans::no;
      linalg::gemm(linalg::Trans::no, tb, s.m, s.n, s.k, T(1), A.data(), s.k, B.data(), s.transpose_b ? s.k : s.n,
                   T(0), C.data(), s.n);
    }
  };
  pass();  // warm-up
  // Calibrate the pass count to about min_seconds.
  const double t0 = wall_seconds();
  pass();
  const double one = std::max(wall_seconds() - t0, 1e-6);
  const auto passes = std::max<std::int64_t>(1, static_cast<std::int64_t>(min_seconds / one));
  std::vector<double> rates;
  for (int t = 0; t < trials; ++t) {
    const double s0 = wall_seconds();
    for (std::int64_t i = 0; i < passes; ++i) pass();
    rates.push_back(flops_per_pass * static_cast<double>(passes) / (wall_seconds() - s0) * 1e-9);
  }
  return median(rates);
}

template double measure_gemm_gflops<float>(const std::vector<GemmShape>&, double, int);
template double measure_gemm_gflops<double>(const std::vector<GemmShape>&, double, int);

}  // namespace attnbench::metrics
