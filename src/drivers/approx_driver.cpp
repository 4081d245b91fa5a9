// attnbench attention --algo poly|kde|hyper|performer: set up the problem, plan (poly: degree,
// certificate and memory budget, all before anything of size r is allocated), warm up, time the
// repetitions, measure the errors against exact attention (--error), decide validity, archive,
// summarize.
//
// Validity per algorithm:
//   poly:      certified. VALID iff eps_P < 1 and the measured max-abs error (full or sampled) is
//              within certified_bound + rounding_allowance (approx/poly.hpp); with --error none the
//              certificate alone (eps_P < 1, finite output).
//   kde, hyper, performer: no certificate. VALID iff the output and every measured error are
//              finite; the error mode is archived (/parameters error_mode, /validation method) so a
//              reader knows what the errors rest on.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>

#include "approx/errors.hpp"
#include "approx/poly.hpp"
#include "core/error.hpp"
#include "core/run_record.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "drivers/driver_common.hpp"
#include "io/archive.hpp"
#include "io/run_archive.hpp"
#include "metrics/gemm_rate.hpp"
#include "metrics/provenance.hpp"
#include "metrics/resources.hpp"
// Algorithms written in parallel (src/approx/CMakeLists.txt defines ATTNBENCH_HAVE_<NAME> when the
// source exists).
#if defined(ATTNBENCH_HAVE_KDE) || defined(ATTNBENCH_HAVE_HYPER)
#include "approx/lsh.hpp"
#endif
#if defined(ATTNBENCH_HAVE_KDE)
#include "approx/kde.hpp"
#endif
#if defined(ATTNBENCH_HAVE_HYPER)
#include "approx/hyper.hpp"
#endif
#if defined(ATTNBENCH_HAVE_PERFORMER)
#include "approx/performer.hpp"
#endif

namespace attnbench::drivers {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Per-repetition seconds on this rank; phases an algorithm does not report stay negative.
struct RepTimes {
  double total = 0.0, plan = -1.0, compute = -1.0, comm_wait = -1.0;
  std::int64_t buffer_bytes = 0;
};

// One configured approximate algorithm: how to run it once, and what its validity rests on.
template <class T>
struct ApproxCase {
  std::function<Matrix<T>(RepTimes&)> run;
  bool certified = false;        // poly: a bound known before running
  bool certificate_ok = true;    // poly: eps_P < 1
  double threshold = kInf;       // poly: certified bound + rounding allowance
  std::vector<metrics::GemmShape> gemm_shapes;  // for the same-run GEMM rate (empty: not measured)
  std::string describe;          // for the progress line
};

// Wraps an algorithm with the uniform signature f(comm, problem, scale, options) (timed as a whole).
template <class T, class Options, class F>
std::function<Matrix<T>(RepTimes&)> timed(const dist::Comm& comm, const AttentionProblem<T>& p, double scale,
                                          Options options, F f) {
  return [&comm, &p, scale, options, f](RepTimes& t) {
    const double t0 = wall_seconds();
    Matrix<T> O = f(comm, p, scale, options);
    t.total = wall_seconds() - t0;
    return O;
  };
}

template <class T>
ApproxCase<T> make_poly(const dist::Comm& comm, const config::AttentionOptions& o, const AttentionProblem<T>& p,
                        RunRecord& rec) {
  approx::PolyOptions po;
  po.basis = o.approx.poly_basis;
  po.degree = o.approx.degree;
  po.tolerance = o.approx.tolerance;
  po.memory_budget = o.approx.memory_budget;
  po.chunk_rows = o.approx.poly_chunk;
  po.threads = o.threads;
  // Collective (one Allreduce MAX); throws the memory-budget or tolerance usage error on every rank
  // before any feature buffer exists and before anything is written.
  const approx::PolyPlan plan = approx::plan_poly(comm, p, rec.scale, po);
  rec.variant = approx::to_string(plan.basis);
  rec.flops = approx::poly_attention_flops(plan, p.n_q(), p.n_kv());
  auto& np = rec.numeric_params;
  np["degree"] = plan.degree;
  np["rank"] = static_cast<double>(plan.rank);
  np["R"] = plan.R;
  np["eps_P"] = plan.eps_P;
  np["certified_bound"] = plan.certified_bound;
  np["rounding_allowance"] = plan.rounding_allowance;
  np["validity_threshold"] = plan.validity_threshold();
  np["tolerance"] = po.degree >= 0 ? std::numeric_limits<double>::quiet_NaN() : po.tolerance;
  np["max_q_norm"] = plan.max_q_norm;
  np["max_k_norm"] = plan.max_k_norm;
  np["max_abs_v"] = plan.max_abs_v;
  np["chunk_rows"] = static_cast<double>(plan.chunk_rows);
  np["feature_bytes"] = static_cast<double>(plan.feature_bytes);
  np["memory_budget"] = static_cast<double>(po.memory_budget);
  if (plan.basis == approx::PolyBasis::taylor) np["eps_P_taylor_bound"] = plan.eps_P_taylor_bound;
  rec.string_params["basis"] = approx::to_string(plan.basis);
  rec.string_params["degree_rule"] = po.degree >= 0 ? "given (--degree)" : "smallest meeting --tolerance";

  ApproxCase<T> c;
  c.certified = true;
  c.certificate_ok = plan.eps_P < 1.0;
  c.threshold = plan.validity_threshold();
  c.gemm_shapes = {{plan.rank, p.dv + 1, plan.chunk_rows, false}, {plan.chunk_rows, p.dv + 1, plan.rank, false}};
  c.describe = fmt::format("poly {} g={} r={} R={:.4g} eps_P={:.3g} certified bound {:.3g} (+ rounding {:.2g})",
                           rec.variant, plan.degree, plan.rank, plan.R, plan.eps_P, plan.certified_bound,
                           plan.rounding_allowance);
  // Every repetition re-plans (one Allreduce MAX and the degree search) so the timed total is the
  // whole method; the plan is its own phase.
  c.run = [&comm, &p, po, scale = rec.scale](RepTimes& t) {
    const double t0 = wall_seconds();
    const auto rep_plan = approx::plan_poly(comm, p, scale, po);
    t.plan = wall_seconds() - t0;
    attention::PhaseTimes pt;
    Matrix<T> O = approx::poly_attention(comm, p, rep_plan, &pt);
    t.compute = pt.compute;
    t.comm_wait = pt.comm_wait;
    t.total = wall_seconds() - t0;
    t.buffer_bytes = pt.peak_buffer_bytes;
    return O;
  };
  return c;
}

template <class T>
ApproxCase<T> make_case(const dist::Comm& comm, const config::AttentionOptions& o, const AttentionProblem<T>& p,
                        RunRecord& rec) {
  const auto& a = o.approx;
  [[maybe_unused]] const double n = static_cast<double>(p.n_q()), dsum = static_cast<double>(p.d + p.dv);
  if (o.algorithm == "poly") return make_poly(comm, o, p, rec);
  // ---- integration point: kde / hyper / performer (src/approx/{kde,hyper,performer}.hpp) --------
#if defined(ATTNBENCH_HAVE_KDE)
  if (o.algorithm == "kde") {
    approx::validate_lsh_options("kde", a.lsh_planes, a.bucket_size, a.samples, p.n_kv());
    approx::KdeOptions ko;
    ko.lsh_planes = a.lsh_planes;
    ko.bucket_size = a.bucket_size;
    ko.samples = a.samples;
    ko.seed = o.input.seed;
    ko.threads = o.threads;
    rec.variant = "lsh";
    rec.numeric_params = {{"lsh_planes", ko.lsh_planes},
                          {"bucket_size", static_cast<double>(ko.bucket_size)},
                          {"samples", static_cast<double>(ko.samples)},
                          {"seed", static_cast<double>(ko.seed)}};
    rec.flops = 2.0 * n * static_cast<double>(ko.bucket_size + ko.samples) * dsum;  // kde.hpp's work model
    ApproxCase<T> c;
    c.run = timed(comm, p, rec.scale, ko, [](auto&... args) { return approx::kde_attention<T>(args...); });
    c.describe = fmt::format("kde planes={} bucket={} samples={}", ko.lsh_planes, ko.bucket_size, ko.samples);
    return c;
  }
#endif
#if defined(ATTNBENCH_HAVE_HYPER)
  if (o.algorithm == "hyper") {
    approx::validate_lsh_options("hyper", a.lsh_planes, a.bucket_size, a.samples, p.n_kv());
    approx::HyperOptions ho;
    ho.lsh_planes = a.lsh_planes;
    ho.bucket_size = a.bucket_size;
    ho.samples = a.samples;
    ho.seed = o.input.seed;
    ho.threads = o.threads;
    rec.variant = "lsh";
    rec.numeric_params = {{"lsh_planes", ho.lsh_planes},
                          {"bucket_size", static_cast<double>(ho.bucket_size)},
                          {"samples", static_cast<double>(ho.samples)},
                          {"seed", static_cast<double>(ho.seed)}};
    rec.flops = 2.0 * n * static_cast<double>(ho.bucket_size + ho.samples) * dsum;  // hyper.hpp's work model
    ApproxCase<T> c;
    c.run = timed(comm, p, rec.scale, ho, [](auto&... args) { return approx::hyper_attention<T>(args...); });
    c.describe = fmt::format("hyper planes={} bucket={} samples={}", ho.lsh_planes, ho.bucket_size, ho.samples);
    return c;
  }
#endif
#if defined(ATTNBENCH_HAVE_PERFORMER)
  if (o.algorithm == "performer") {
    approx::PerformerOptions fo;
    fo.features = a.features;
    fo.seed = o.input.seed;
    fo.threads = o.threads;
    rec.variant = "favor+";
    rec.numeric_params = {{"features", static_cast<double>(fo.features)}, {"seed", static_cast<double>(fo.seed)}};
    rec.flops = 4.0 * n * static_cast<double>(fo.features) * dsum;  // performer.hpp's work model
    ApproxCase<T> c;
    c.run = timed(comm, p, rec.scale, fo, [](auto&... args) { return approx::performer_attention<T>(args...); });
    c.describe = fmt::format("performer features={}", fo.features);
    return c;
  }
#endif
  // ---- end of the integration point --------------------------------------------------------------
  (void)a;
  throw usage_error("--algo " + o.algorithm + " is not built into this attnbench");
}

template <class T>
bool all_finite(const dist::Comm& comm, const Matrix<T>& O) {
  int ok = 1;
  for (auto v : O.span())
    if (!std::isfinite(static_cast<double>(v))) {
      ok = 0;
      break;
    }
  return comm.allreduce(ok, dist::Op::min) == 1;  // one Allreduce MIN of an int
}

template <class T>
int run(const dist::Comm& comm, const config::AttentionOptions& o, int argc, char** argv) {
  const bool talk = comm.is_root() && !o.quiet;
  if (!o.out.empty()) io::check_output_path(comm, o.out, o.overwrite, "--out");

  RunRecord rec;
  init_record(comm, o, rec);
  const AttentionProblem<T> problem = setup_problem<T>(comm, o, rec);
  ApproxCase<T> algo = make_case(comm, o, problem, rec);  // usage errors end the run here
  const approx::ErrorMode mode = o.approx.error_mode.value_or(approx::default_error_mode(problem.n_q()));
  rec.string_params["error_mode"] = approx::to_string(mode);
  if (talk)
    std::cerr << fmt::format("attnbench: {} n={} d={} dv={} {} ranks={} threads={} scale={:.6g} ({}) from {}\n  {}\n",
                             rec.algorithm, rec.n, rec.d, rec.dv, rec.precision, rec.ranks, rec.threads_per_rank,
                             rec.scale, rec.scale_rule, rec.input, algo.describe);

  // ---- warm-up and timed repetitions ----------------------------------------------------------
  Matrix<T> O;
  RepTimes times;
  for (int w = 0; w < o.warmup; ++w) {
    comm.barrier();
    O = algo.run(times);
    if (talk) std::cerr << fmt::format("  warm-up {}/{}: {:.4f} s\n", w + 1, o.warmup, times.total);
  }
  std::vector<double> rep_max_total;
  std::int64_t buffer_bytes = 0;
  for (int rep = 0; rep < o.reps; ++rep) {
    comm.barrier();  // all ranks start together
    times = RepTimes{};
    O = algo.run(times);
    buffer_bytes = std::max(buffer_bytes, times.buffer_bytes);
    record_phase(comm, rec, "total", o.reps, rep, times.total);
    if (times.plan >= 0.0) record_phase(comm, rec, "plan", o.reps, rep, times.plan);
    if (times.compute >= 0.0) record_phase(comm, rec, "compute", o.reps, rep, times.compute);
    if (times.comm_wait >= 0.0) record_phase(comm, rec, "comm_wait", o.reps, rep, times.comm_wait);
    const auto& tot = rec.timings["total"].seconds;
    const double mx = *std::max_element(tot.begin() + rep * comm.size(), tot.begin() + (rep + 1) * comm.size());
    rep_max_total.push_back(mx);
    if (talk) std::cerr << fmt::format("  rep {}/{}: {:.4f} s\n", rep + 1, o.reps, mx);
  }
  rec.median_time = metrics::median(rep_max_total);
  rec.gflops = rec.flops / rec.median_time * 1e-9;
  {
    const auto buffers = comm.allgather<long long>(buffer_bytes);
    rec.kernel_buffer_bytes.assign(buffers.begin(), buffers.end());
  }
  if (!algo.gemm_shapes.empty()) {  // same-run GEMM rate on the kernel's own shapes, all ranks at once
    comm.barrier();
    auto rates = comm.allgather(metrics::measure_gemm_gflops<T>(algo.gemm_shapes, 0.2, 3));
    rec.gemm_gflops = metrics::median(rates);
    rec.gemm_fraction = rec.gflops / (rec.ranks * rec.threads_per_rank * rec.gemm_gflops);
  }

  // ---- errors against exact attention and validity --------------------------------------------
  const bool finite_output = all_finite(comm, O);
  attention::ExactOptions eo;
  eo.scale = rec.scale;
  eo.tiles = o.tiles;
  eo.threads = o.threads;
  double errors_s = 0.0;
  approx::ApproxErrors err;
  {
    ScopedAccumulate t(errors_s);
    err = approx::measure_errors(comm, problem, O, mode, eo, o.validate_rows, o.input.seed);
  }
  record_phase(comm, rec, "errors", 1, 0, errors_s);
  rec.validation_method = err.method;
  rec.rows_checked = err.rows_checked;
  rec.max_abs_error = err.max_abs_error;
  rec.rel_error = err.rel_error;
  rec.extra_errors["rel_frobenius_error"] = err.rel_frobenius_error;
  rec.extra_errors["rel_spectral_error"] = err.rel_spectral_error;
  if (algo.certified) {
    rec.tolerance = algo.threshold;
    rec.extra_errors["certified_bound"] = rec.numeric_params["certified_bound"];
    rec.validation_method += "; VALID iff eps_P < 1 and max-abs error <= certified bound + rounding allowance";
    rec.valid = algo.certificate_ok && finite_output &&
                (mode == approx::ErrorMode::none || (err.finite() && err.max_abs_error <= algo.threshold));
  } else {
    rec.tolerance = kInf;
    rec.validation_method += "; no certificate: VALID iff the output and the measured errors are finite";
    rec.valid = finite_output && err.finite();
  }
  // ---- peak RSS of every rank, archive -------------------------------------------------------
  record_rss_and_archive(comm, o, rec, O, problem.layout_q, argc, argv);

  // ---- one-line summary ----------------------------------------------------------------------
  if (comm.is_root()) {
    const double max_rss = static_cast<double>(*std::max_element(rec.peak_rss_bytes.begin(), rec.peak_rss_bytes.end()));
    std::string errors = fmt::format("errors ({}): none measured", approx::to_string(mode));
    if (mode != approx::ErrorMode::none)
      errors = fmt::format("errors ({}, {} rows): max-abs {:.2e}, rel {:.2e}", approx::to_string(mode), rec.rows_checked,
                           rec.max_abs_error, rec.rel_error);
    if (mode == approx::ErrorMode::full)
      errors += fmt::format(", rel Frobenius {:.2e}, rel spectral {:.2e}", err.rel_frobenius_error, err.rel_spectral_error);
    if (algo.certified) errors += fmt::format(" (certified <= {:.2e})", algo.threshold);
    std::cout << fmt::format("attnbench attention {}/{} n={} d={} {} ranks={}x{}: {:.4f} s, {}, peak RSS {}/rank, {}{}\n",
                             rec.algorithm, rec.variant, rec.n, rec.d, rec.precision, rec.ranks, rec.threads_per_rank,
                             rec.median_time, errors, human_bytes(max_rss), rec.valid ? "VALID" : "INVALID",
                             o.out.empty() ? "" : " -> " + o.out);
  }
  return rec.valid ? 0 : static_cast<int>(ExitCode::invalid);
}

}  // namespace

int run_approx_attention(const dist::Comm& comm, const config::AttentionOptions& o, int argc, char** argv) {
  return o.precision == Precision::single ? run<float>(comm, o, argc, argv) : run<double>(comm, o, argc, argv);
}

}  // namespace attnbench::drivers
