#pragma once
// RunRecord: everything one benchmark run reports, independent of how it is stored. The archive
// writer (io/run_archive.hpp) maps it onto the documented HDF5 schema.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attnbench {

struct RunRecord {
  // Identity of the case.
  std::string kernel = "attention";
  std::string algorithm;
  std::string variant;
  std::int64_t n = 0, n_keys = 0, d = 0, dv = 0;
  int ranks = 1, threads_per_rank = 1, blas_threads = 1;
  std::string precision;
  double scale = 0.0;
  std::string scale_rule;  // "1/d", "1/sqrt(d)" or "value"
  std::uint64_t seed = 0;
  std::string input;       // "synthetic" or the input file
  double bound = 0.0;      // synthetic entries' bound (0 for file inputs)
  std::int64_t tile_q = 0, tile_k = 0;
  // Algorithm parameters beyond the above (stored as attributes of /parameters).
  std::map<std::string, double> numeric_params;
  std::map<std::string, std::string> string_params;

  // Timings: phase -> values laid out [rows][ranks] row-major.
  struct Phase {
    std::int64_t rows = 0;
    std::vector<double> seconds;
  };
  std::map<std::string, Phase> timings;
  int warmup = 0, reps = 0;

  // Metrics.
  double flops = 0.0;
  double median_time = 0.0;  // median over reps of max over ranks of `total`
  double gflops = 0.0;
  double gemm_gflops = 0.0;  // per core, same shapes, same run
  double gemm_fraction = 0.0;
  std::vector<std::int64_t> peak_rss_bytes;  // per rank
  std::vector<std::int64_t> kernel_buffer_bytes;  // per rank: buffers held by the kernel

  // Validation.
  std::string validation_method;  // e.g. "sampled-rows-reference"
  std::int64_t rows_checked = 0;
  double max_abs_error = 0.0, rel_error = 0.0, tolerance = 0.0, naive_rel_error = -1.0;
  std::map<std::string, double> extra_errors;  // e.g. relative Frobenius / spectral error
  bool valid = false;
};

}  // namespace attnbench
