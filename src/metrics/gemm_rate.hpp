#pragma once
// The GEMM rate this process's BLAS reaches on given shapes, measured in the same run as the
// kernel it is compared with (the machines are shared and noisy: only same-run ratios mean much).
#include <cstdint>
#include <vector>

namespace attnbench::metrics {

struct GemmShape {
  std::int64_t m, n, k;
  bool transpose_b;
};

// Single-threaded GFLOP/s over the sequence of shapes, repeated for at least min_seconds; the
// median of `trials` timings is returned.
template <class T>
double measure_gemm_gflops(const std::vector<GemmShape>& shapes, double min_seconds = 0.2, int trials = 3);

}  // namespace attnbench::metrics
