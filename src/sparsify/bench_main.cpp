// sparsify_bench: the sparsify case driven directly (until the harness runs `attnbench sparsify`):
// set-up, warm-up, timed repetitions between barriers, per-phase times (median over repetitions of
// the max over ranks), the validation, and optionally a same-run memory-bandwidth rate (a
// STREAM-triad loop on every rank at once) to put the sketch's GB/s of X read against; for a
// sparse X also the rate of the bare sketch updates (bare_update_seconds), the ceiling of any CSC
// sketch on the machine.
//
//   mpirun -n P sparsify_bench --algo leverage-sketch --n 256 --d 262144 --density 0.01 [--reps 3]
//          [--bandwidth] [--precision single] [--input X.h5] [--eps E --delta D --gamma G --m M]
//          [--out FILE.h5]
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"
#include "sparsify/case.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

// STREAM triad a = b + s c over three 64 MiB arrays on every rank at once; bytes counted: 3 x 8 per
// element (no write-allocate). Returns the per-rank GB/s (median of 5) by wall-clock and, in
// *cpu_gbs, by CPU time (the rate while running, on a machine shared with other jobs).
double triad_gbs(const dist::Comm& comm, double* cpu_gbs) {
  const std::size_t N = std::size_t{8} << 20;
  std::vector<double> a(N, 0.0), b(N, 1.0), c(N, 2.0);
  std::vector<double> rates, cpu_rates;
  for (int t = 0; t < 5; ++t) {
    comm.barrier();
    const double t0 = wall_seconds();
    const double c0 = process_cpu_seconds();
    for (std::size_t i = 0; i < N; ++i) a[i] = b[i] + 0.5 * c[i];
    const double s = wall_seconds() - t0;
    rates.push_back(24.0 * static_cast<double>(N) / s / 1e9);
    cpu_rates.push_back(24.0 * static_cast<double>(N) / (process_cpu_seconds() - c0) / 1e9);
  }
  volatile double sink = a[N / 2];
  (void)sink;
  *cpu_gbs = median(cpu_rates);
  return median(rates);
}

// The ceiling of the sparse sketch on this machine: the same count of updates SX[t] += v as the
// kernel's (nnz over cols columns, t = h(j) n + row, h(j) and the row random), with the targets
// precomputed, applied by a bare prefetched loop into an s x n sketch: no hashing, no flattening,
// only the random read-modify-writes the CSC sketch cannot avoid. Seconds per pass (median of 5,
// every rank at once); memory 16 bytes per update plus the sketch.
double bare_update_seconds(const dist::Comm& comm, std::int64_t n, std::int64_t s, std::int64_t cols, std::int64_t nnz) {
  if (cols <= 0 || nnz <= 0) return 0.0;
  std::vector<std::int64_t> target(static_cast<std::size_t>(nnz));
  std::vector<double> term(static_cast<std::size_t>(nnz));
  const std::uint64_t key = stream_key(12345, 1);
  for (std::int64_t q = 0; q < nnz; ++q) {
    const std::int64_t j = q * cols / nnz;  // entries spread evenly over the columns, in column order
    const auto hj = static_cast<std::int64_t>(keyed_bits(key, static_cast<std::uint64_t>(j)) % static_cast<std::uint64_t>(s));
    const std::uint64_t b = keyed_bits(key, static_cast<std::uint64_t>(cols + q));
    target[static_cast<std::size_t>(q)] = hj * n + static_cast<std::int64_t>(b % static_cast<std::uint64_t>(n));
    term[static_cast<std::size_t>(q)] = (b >> 63) ? 1.0 : -1.0;
  }
  std::vector<double> SX(static_cast<std::size_t>(s * n), 0.0), times;
  constexpr std::int64_t ahead = 32;  // as the kernel's update loop
  for (int t = 0; t < 5; ++t) {
    comm.barrier();
    const double t0 = wall_seconds();
    for (std::int64_t q = 0; q < nnz; ++q) {
      if (q + ahead < nnz) __builtin_prefetch(SX.data() + target[static_cast<std::size_t>(q + ahead)], 1, 3);
      SX[static_cast<std::size_t>(target[static_cast<std::size_t>(q)])] += term[static_cast<std::size_t>(q)];
    }
    times.push_back(wall_seconds() - t0);
  }
  volatile double sink = SX[0];
  (void)sink;
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  io::silence_hdf5_errors();
  const dist::Comm comm = dist::Comm::borrow(MPI_COMM_WORLD);
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--bandwidth" || k == "--save-output") a[k] = std::string(1, '1');  // (not = "1": GCC 12 -Wrestrict false positive)
    else if (i + 1 < argc) a[k] = argv[++i];
  }
  auto get = [&](const std::string& k, const char* def) -> std::string {
    const auto it = a.find(k);
    return it != a.end() ? it->second : std::string(def);
  };
  CaseConfig cfg;
  int code = 0;
  try {
    cfg.params.method = method_from_string(get("--algo", "leverage"));
    cfg.params.eps = std::stod(get("--eps", "0.5"));
    cfg.params.delta = std::stod(get("--delta", "0.1"));
    cfg.params.gamma = std::stod(get("--gamma", "4"));
    cfg.params.m = std::stoll(get("--m", "0"));
    cfg.params.seed = std::stoull(get("--seed", "42"));
    cfg.params.sketch_rows = std::stoll(get("--sketch-rows", "0"));
    cfg.params.sketch_nnz = std::stoll(get("--sketch-nnz", "1"));
    cfg.params.jl_cols = std::stoll(get("--jl-cols", "0"));
    cfg.synthetic.n = std::stoll(get("--n", "64"));
    cfg.synthetic.d = std::stoll(get("--d", "4096"));
    cfg.synthetic.r = std::stod(get("--r", "0.05"));
    cfg.synthetic.density = std::stod(get("--density", "1"));
    cfg.synthetic.coherence = std::stod(get("--coherence", "0"));
    cfg.synthetic.seed = cfg.params.seed;
    cfg.input = get("--input", "");
    cfg.scalapack_threshold = std::stoll(get("--scalapack-threshold", "2048"));
    cfg.precision = parse_precision(get("--precision", "double"));
    cfg.cpu_phase_times = true;
    const int reps = std::stoi(get("--reps", "3"));
    double setup = 0, io = 0;
    ProblemInfo info;
    auto kase = make_sparsify_case(comm, cfg, setup, io, &info);
    harness::PhaseTimes warm;
    kase->run(warm);
    std::map<std::string, std::vector<double>> per_phase;  // max over ranks, per repetition
    for (int r = 0; r < reps; ++r) {
      harness::PhaseTimes ph;
      comm.barrier();
      const double t0 = wall_seconds();
      const double c0 = process_cpu_seconds();
      kase->run(ph);
      ph["total"] = (wall_seconds() - t0);
      ph["cpu:total"] = process_cpu_seconds() - c0;
      comm.barrier();
      for (auto& [name, s] : ph) per_phase[name].push_back(comm.allreduce(s, dist::Op::max));
    }
    const auto v = kase->validate();
    double bw_cpu = 0.0;
    const double bw = a.count("--bandwidth") ? triad_gbs(comm, &bw_cpu) : 0.0;
    // Sparse leverage-sketch: the bare-update ceiling at this rank's share of the columns and nnz.
    const bool sparse_sketch = bw > 0 && per_phase.count("sketch") && info.input_format.find("dense") == std::string::npos;
    const std::int64_t sketch_rows = cfg.params.sketch_rows > 0 ? cfg.params.sketch_rows : default_sketch_rows(info.n);
    const double bare = sparse_sketch ? bare_update_seconds(comm, info.n, sketch_rows, info.d / comm.size(),
                                                            info.nnz * cfg.params.sketch_nnz / comm.size())
                                      : 0.0;
    if (comm.is_root()) {
      std::printf("sparsify %s n=%ld d=%ld nnz=%ld m=%ld ranks=%d setup=%.3fs io=%.3fs\n", to_string(cfg.params.method).c_str(),
                  static_cast<long>(info.n), static_cast<long>(info.d), static_cast<long>(info.nnz),
                  static_cast<long>(info.m), comm.size(), setup, io);
      // Per phase: median over repetitions of the max over ranks, wall-clock and CPU time.
      std::printf("  %-12s %12s %12s\n", "phase", "wall [s]", "cpu [s]");
      for (const auto& [name, s] : per_phase) {
        if (name.rfind("cpu:", 0) == 0) continue;
        const auto c = per_phase.find("cpu:" + name);
        std::printf("  %-12s %12.6f %12.6f\n", name.c_str(), median(s), c == per_phase.end() ? 0.0 : median(c->second));
      }
      const auto w = kase->work();
      std::printf("  work %.3e flops, %.3e bytes (%s)\n", w.flops, w.bytes, w.formula.c_str());
      if (bw > 0 && per_phase.count("sketch")) {
        // Bytes of X the sketch streams: the stored values (dense n d; CSC nnz values + 4-byte row
        // indices + 8-byte column offsets), summed over ranks.
        const bool dense = info.input_format.size() >= 5 && info.input_format.substr(info.input_format.size() - 5) == "dense";
        const double vbytes = cfg.precision == Precision::single ? 4.0 : 8.0;
        const double xbytes = dense ? static_cast<double>(info.n) * static_cast<double>(info.d) * vbytes
                                    : static_cast<double>(info.nnz) * (vbytes + 4.0) + 8.0 * static_cast<double>(info.d);
        const double rate = xbytes / median(per_phase["sketch"]) / 1e9 / comm.size();
        std::printf("  sketch reads X (%.3g MB) at %.2f GB/s per rank; triad %.2f GB/s per rank; ratio %.2f (wall-clock)\n",
                    xbytes / 1e6, rate, bw, rate / bw);
        const double rate_cpu = xbytes / median(per_phase["cpu:sketch"]) / 1e9 / comm.size();
        std::printf("  sketch reads X at %.2f GB/s per rank; triad %.2f GB/s per rank; ratio %.2f (CPU time)\n", rate_cpu,
                    bw_cpu, rate_cpu / bw_cpu);
        if (bare > 0) {
          const double bare_rate = xbytes / bare / 1e9 / comm.size();
          std::printf("  bare updates (precomputed targets, same count, same %ld x %ld sketch): %.2f GB/s of X per rank; "
                      "ratio %.2f of triad: the ceiling of a CSC sketch here\n",
                      static_cast<long>(sketch_rows), static_cast<long>(info.n), bare_rate, bare_rate / bw);
        }
        if (per_phase.count("sketch_alloc")) {
          const double with_zero = xbytes / (median(per_phase["sketch"]) + median(per_phase["sketch_alloc"])) / 1e9 / comm.size();
          std::printf("  with the sketch's allocation and zeroing: %.2f GB/s per rank; ratio %.2f\n", with_zero, with_zero / bw);
        }
      }
      std::printf("  %s: kept %ld columns, window [%.4f, %.4f], attention error %.3e (bound %.3e), error/r %.3e",
                  v.valid ? "VALID" : "INVALID", static_cast<long>(v.counts.at("columns_kept")),
                  v.errors.at("spectral_low"), v.errors.at("spectral_high"), v.errors.at("attention_error"),
                  v.errors.at("attention_bound"), v.errors.at("error_over_r"));
      if (v.errors.count("max_invariant_violation")) std::printf(", invariant violation %g", v.errors.at("max_invariant_violation"));
      std::printf("\n");
      for (const auto& [k, note] : v.notes) std::printf("  note %s: %s\n", k.c_str(), note.c_str());
    }
    if (a.count("--out")) {
      // The kernel's archive datasets (/output/columns, /output/weights, /output/Y), written
      // collectively, plus the verdict and the validation figures as root attributes.
      io::File f = io::File::create(comm, a["--out"]);
      kase->write_datasets(f, true);
      f.attr("/", "valid", static_cast<std::int64_t>(v.valid ? 1 : 0));
      f.attr("/", "algorithm", to_string(cfg.params.method));
      for (const auto& [k, val] : v.errors) f.attr("/", k, val);
      for (const auto& [k, val] : v.counts) f.attr("/", k, val);
    }
    code = v.valid ? 0 : 4;
  } catch (const Error& e) {
    if (comm.is_root()) std::cerr << "sparsify_bench: " << e.what() << "\n";
    code = static_cast<int>(e.code());
  } catch (const std::exception& e) {
    if (comm.is_root()) std::cerr << "sparsify_bench: " << e.what() << "\n";
    code = 2;
  }
  return code;
}
