// bench_mha: timings of the multi-head exact attention library (src/attention/mha.hpp) beside a
// same-run GEMM peak, measured on the library without the harness (tests/bench_figures.sh). Prints
// one line of key=value pairs on rank 0. Same-run ratios only: the GEMM peak (single core, the
// full attention shape min(n, 4096) x min(n, 4096) x d, Q K^T) is measured in the same process.
// cpu_time is the median over repetitions of the CPU seconds of one call (max over ranks; all the
// rank's threads): on a shared machine the ratio of two cpu_time figures (causal over non-causal,
// multi-head over single-head) is steadier than that of wall times. tiles: score tiles computed.
//   mpirun -n P bench_mha n=16384 d=64 precision=single heads=1 kv_heads=1 batch=1 variant=ring
//          layout=contiguous causal=0 threads=1 warmup=1 reps=3 tile_q=128 tile_k=512
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/comm.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"
#include "metrics/gemm_rate.hpp"

using namespace attnbench;

namespace {

// GFLOP/s of S = Q K^T on the full attention shape g x g x d (one core), in CPU time, best of 3.
template <class T>
double gemm_cpu_gflops(std::int64_t g, std::int64_t d) {
  std::vector<T> A(static_cast<std::size_t>(g * d), T(0.5)), B(A.size(), T(0.25)), C(static_cast<std::size_t>(g * g));
  const double flops = 2.0 * static_cast<double>(g) * static_cast<double>(g) * static_cast<double>(d);
  double best = 0.0;
  for (int t = 0; t < 3; ++t) {
    const double t0 = process_cpu_seconds();
    linalg::gemm(linalg::Trans::no, linalg::Trans::yes, g, g, d, T(1), A.data(), d, B.data(), d, T(0), C.data(), g);
    best = std::max(best, flops / (process_cpu_seconds() - t0) / 1e9);
  }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

template <class T>
int run(const dist::Comm& comm, const std::map<std::string, std::string>& a) {
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = a.find(k);
    return it == a.end() ? def : it->second;
  };
  auto num = [&](const std::string& k, std::int64_t def) { return std::stoll(get(k, std::to_string(def))); };
  const std::int64_t n = num("n", 4096), d = num("d", 64);
  attention::HeadShape shape{num("batch", 1), num("heads", 1), num("kv_heads", 1), d, num("dv", d)};
  attention::MhaOptions o;
  o.variant = attention::parse_mha_variant(get("variant", "ring"));
  o.causal = num("causal", 0) != 0;
  o.scale = 1.0 / std::sqrt(static_cast<double>(d));
  o.threads = static_cast<int>(num("threads", 1));
  o.tiles = {num("tile_q", attention::default_tiles<T>().q), num("tile_k", attention::default_tiles<T>().k)};
  const auto layout = attention::parse_layout(get("layout", "contiguous"));
  const int warmup = static_cast<int>(num("warmup", 1)), reps = static_cast<int>(num("reps", 3));
  const auto p = attention::synthetic_problem<T>(shape, n, layout, 1.0, 42, comm.rank(), comm.size());

  // Each timed repetition is paired with a GEMM-peak measurement right after it (every rank at
  // once), and the fraction is the median of the per-repetition ratios: on a shared machine the
  // load changes between minutes, much less between neighbouring seconds.
  const double flops = attention::mha_flops(shape, n, n, o.causal);
  const std::int64_t g = std::min<std::int64_t>(n, 4096);
  std::vector<double> totals, computes, peaks, fractions, cpu_fractions, cpus;
  attention::MhaTimes t;
  Matrix<T> O;
  for (int r = 0; r < warmup + reps; ++r) {
    comm.barrier();
    const double c0 = process_cpu_seconds();
    O = attention::mha_attention(comm, p, o, &t);
    const double cpu = comm.allreduce(process_cpu_seconds() - c0, dist::Op::max);
    comm.barrier();
    if (r < warmup) continue;
    cpus.push_back(cpu);
    // CPU time sums the threads of a rank, so flops / cpu is already a per-core rate.
    cpu_fractions.push_back(flops / cpu / 1e9 / comm.size() / gemm_cpu_gflops<T>(g, d));
    totals.push_back(comm.allreduce(t.total, dist::Op::max));
    computes.push_back(t.compute);
    const double peak = median(comm.allgather(metrics::measure_gemm_gflops<T>({{g, g, d, true}}, 0.3, 1)));
    peaks.push_back(peak);
    fractions.push_back(flops / totals.back() / 1e9 / (peak * comm.size() * o.threads));
  }
  const double time = median(totals);
  const double lb = attention::load_balance(comm, median(computes));
  const double peak_med = median(peaks);
  const auto v = attention::validate_sampled(comm, p, O, o.causal, o.scale, 16, 7);
  const double bytes_max = comm.allreduce(t.bytes_received, dist::Op::max);
  const std::int64_t tiles = comm.allreduce(t.tiles_computed, dist::Op::sum);  // score tiles, all ranks
  const double buf_max = static_cast<double>(comm.allreduce(t.peak_buffer_bytes, dist::Op::max));
  const double gflops = flops / time / 1e9;
  if (comm.is_root())
    std::printf("precision=%s n=%lld d=%lld B=%lld H=%lld Hkv=%lld variant=%s layout=%s causal=%d ranks=%d threads=%d "
                "isa=%s time=%.4f gflops=%.2f gemm_peak=%.2f gemm_peak_fraction=%.3f load_balance=%.3f "
                "bytes_received_per_rank=%.0f buffer_bytes_per_rank=%.0f cpu_time=%.4f cpu_time_fraction=%.3f tiles=%lld "
                "rel_error=%.2e valid=%d\n",
                sizeof(T) == 4 ? "single" : "double", static_cast<long long>(n), static_cast<long long>(d),
                static_cast<long long>(shape.batch), static_cast<long long>(shape.heads),
                static_cast<long long>(shape.kv_heads), attention::to_string(o.variant).c_str(),
                attention::to_string(layout).c_str(), o.causal ? 1 : 0, comm.size(), o.threads,
                linalg::to_string(linalg::active_vector_isa()).c_str(), time, gflops, peak_med,
                median(fractions), lb, bytes_max, buf_max, median(cpus), median(cpu_fractions),
                static_cast<long long>(tiles), v.rel_error, v.valid ? 1 : 0);
  return v.valid ? 0 : 4;
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  int rc = 0;
  {
    const dist::Comm world = dist::Comm::borrow(MPI_COMM_WORLD);
    std::map<std::string, std::string> a;
    for (int i = 1; i < argc; ++i) {
      const std::string s = argv[i];
      const auto eq = s.find('=');
      if (eq != std::string::npos) a[s.substr(0, eq)] = s.substr(eq + 1);
    }
    try {
      rc = a.count("precision") && a["precision"] == "single" ? run<float>(world, a) : run<double>(world, a);
    } catch (const Error& e) {
      if (world.is_root()) std::fprintf(stderr, "bench_mha: %s\n", e.what());
      rc = static_cast<int>(e.code());
    }
  }
  return rc;
}
