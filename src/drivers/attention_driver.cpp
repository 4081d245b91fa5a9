// attnbench attention --algo exact (the approximate algorithms: approx_driver.cpp): set up the
// problem, warm up, time the repetitions, measure the same-run
// GEMM rate, validate against the serial reference, archive, summarize.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "attention/exact.hpp"
#include "attention/validation.hpp"
#include "core/attention_problem.hpp"
#include "core/error.hpp"
#include "core/run_record.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "drivers/driver_common.hpp"
#include "drivers/drivers.hpp"
#include "io/archive.hpp"
#include "io/attention_input.hpp"
#include "io/run_archive.hpp"
#include "linalg/blas.hpp"
#include "metrics/gemm_rate.hpp"
#include "metrics/provenance.hpp"
#include "metrics/resources.hpp"

namespace attnbench::drivers {

namespace {

template <class T>
int run(const dist::Comm& comm, const config::AttentionOptions& o, int argc, char** argv) {
  const bool talk = comm.is_root() && !o.quiet;
  if (!o.out.empty()) io::check_output_path(comm, o.out, o.overwrite, "--out");

  RunRecord rec;
  init_record(comm, o, rec);

  // ---- set-up: synthetic generation (setup) or collective read (io) ----------------------------
  AttentionProblem<T> problem = setup_problem<T>(comm, o, rec);

  attention::ExactOptions eo;
  eo.variant = o.variant;
  eo.scale = rec.scale;
  eo.tiles = o.tiles;
  eo.threads = o.threads;
  rec.flops = attention::exact_attention_flops(rec.n, rec.n_keys, rec.d, rec.dv);
  if (talk)
    std::cerr << fmt::format("attnbench: {} {} n={} d={} dv={} {} ranks={} threads={} scale={:.6g} ({}) from {}\n",
                             rec.algorithm, rec.variant, rec.n, rec.d, rec.dv, rec.precision, rec.ranks,
                             rec.threads_per_rank, rec.scale, rec.scale_rule, rec.input);

  // ---- warm-up and timed repetitions ----------------------------------------------------------
  Matrix<T> O;
  attention::PhaseTimes times;
  for (int w = 0; w < o.warmup; ++w) {
    comm.barrier();
    O = attention::exact_attention(comm, problem, eo, &times);
    if (talk) std::cerr << fmt::format("  warm-up {}/{}: {:.3f} s\n", w + 1, o.warmup, times.total);
  }
  // The GEMM rate is measured after every repetition, on the kernel's own tile shapes, by all
  // ranks at once (median over ranks, then over repetitions), so the kernel and GEMM rates are
  // sampled moments apart on the same cores: robust to the load of a shared machine drifting
  // during the run. gemm_fraction = gflops / (ranks * threads * gemm_gflops).
  const std::int64_t tq = std::min<std::int64_t>(o.tiles.q, std::max<std::int64_t>(problem.layout_q.max_local_rows(), 1));
  const std::int64_t tk = std::min<std::int64_t>(o.tiles.k, std::max<std::int64_t>(problem.layout_kv.max_local_rows(), 1));
  const std::vector<metrics::GemmShape> gemm_shapes = {{tq, tk, problem.d, true}, {tq, problem.dv, tk, false}};
  std::vector<double> rep_max_total, rep_gemm_rate, rep_fraction;
  for (int rep = 0; rep < o.reps; ++rep) {
    comm.barrier();  // all ranks start together
    O = attention::exact_attention(comm, problem, eo, &times);
    record_phase(comm, rec, "total", o.reps, rep, times.total);
    record_phase(comm, rec, "compute", o.reps, rep, times.compute);
    record_phase(comm, rec, "comm_wait", o.reps, rep, times.comm_wait);
    const auto& tot = rec.timings["total"].seconds;
    const double mx = *std::max_element(tot.begin() + rep * comm.size(), tot.begin() + (rep + 1) * comm.size());
    rep_max_total.push_back(mx);
    comm.barrier();
    const auto rates = comm.allgather(metrics::measure_gemm_gflops<T>(gemm_shapes, 0.05, 3));
    rep_gemm_rate.push_back(metrics::median(rates));
    rep_fraction.push_back(rec.flops / mx * 1e-9 / (rec.ranks * rec.threads_per_rank * rep_gemm_rate.back()));
    if (talk)
      std::cerr << fmt::format("  rep {}/{}: {:.4f} s, {:.2f} GFLOP/s, {:.1f}% of GEMM\n", rep + 1, o.reps, mx,
                               rec.flops / mx * 1e-9, 100.0 * rep_fraction.back());
  }
  rec.median_time = metrics::median(rep_max_total);
  rec.gflops = rec.flops / rec.median_time * 1e-9;
  {
    const auto buffers = comm.allgather<long long>(times.peak_buffer_bytes);
    rec.kernel_buffer_bytes.assign(buffers.begin(), buffers.end());
  }

  rec.gemm_gflops = metrics::median(rep_gemm_rate);
  rec.gemm_fraction = rec.gflops / (rec.ranks * rec.threads_per_rank * rec.gemm_gflops);

  // ---- validation ----------------------------------------------------------------------------
  {
    const auto v = attention::validate_sampled_rows(comm, problem, O, rec.scale, o.validate_rows, o.input.seed);
    rec.validation_method = "sampled rows vs serial two-pass reference in double";
    rec.rows_checked = v.rows_checked;
    rec.max_abs_error = v.max_abs_error;
    rec.rel_error = v.rel_error;
    rec.tolerance = v.tolerance;
    rec.naive_rel_error = v.naive_rel_error;
    rec.valid = v.valid;
  }
  // ---- peak RSS of every rank, archive -------------------------------------------------------
  record_rss_and_archive(comm, o, rec, O, problem.layout_q, argc, argv);

  // ---- one-line summary ----------------------------------------------------------------------
  if (comm.is_root()) {
    const double max_rss = static_cast<double>(*std::max_element(rec.peak_rss_bytes.begin(), rec.peak_rss_bytes.end()));
    std::cout << fmt::format(
        "attnbench attention {}/{} n={} d={} {} ranks={}x{}: {:.4f} s, {:.2f} GFLOP/s, {:.1f}% of GEMM "
        "({:.2f} GFLOP/s/core), rel err {:.2e} (tol {:.1e}), peak RSS {}/rank, {}{}\n",
        rec.algorithm, rec.variant, rec.n, rec.d, rec.precision, rec.ranks, rec.threads_per_rank, rec.median_time,
        rec.gflops, 100.0 * rec.gemm_fraction, rec.gemm_gflops, rec.rel_error, rec.tolerance, human_bytes(max_rss),
        rec.valid ? "VALID" : "INVALID", o.out.empty() ? "" : " -> " + o.out);
  }
  return rec.valid ? 0 : static_cast<int>(ExitCode::invalid);
}

}  // namespace

int run_attention(const dist::Comm& comm, const config::AttentionOptions& o, int argc, char** argv) {
  if (o.algorithm != "exact") return run_approx_attention(comm, o, argc, argv);  // approx_driver.cpp
  return o.precision == Precision::single ? run<float>(comm, o, argc, argv) : run<double>(comm, o, argc, argv);
}

}  // namespace attnbench::drivers
