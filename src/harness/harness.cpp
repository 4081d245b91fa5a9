#include "harness/harness.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <string_view>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "harness/archive_contract.hpp"
#include "io/archive.hpp"
#include "io/hdf5_file.hpp"
#include "io/run_archive.hpp"
#include "linalg/blas.hpp"
#include "metrics/bandwidth.hpp"
#include "metrics/gemm_rate.hpp"
#include "metrics/network.hpp"
#include "metrics/provenance.hpp"
#include "metrics/resources.hpp"

namespace attnbench::harness {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

namespace {

// Stores this rank's seconds of one phase into row `row` of /timings/<phase> [rows, ranks].
// Cost: one MPI_Allgather of one double.
void record_phase(const dist::Comm& comm, RunRecord& rec, const std::string& phase, std::int64_t rows,
                  std::int64_t row, double seconds) {
  auto& ph = rec.timings[phase];
  if (ph.rows == 0) {
    ph.rows = rows;
    ph.seconds.assign(static_cast<std::size_t>(rows * comm.size()), 0.0);
  }
  const auto all = comm.allgather(seconds);
  std::copy(all.begin(), all.end(), ph.seconds.begin() + row * comm.size());
}

// The union of the phase names every rank reported (a kernel may time a phase on some ranks only;
// recording must still be collective on all). Cost: one allgather of the names.
std::vector<std::string> phase_union(const dist::Comm& comm, const PhaseTimes& phases) {
  std::string mine;
  for (const auto& [name, s] : phases) mine += name + "\n";
  std::set<std::string> all;
  for (const auto& text : comm.allgather_strings(mine)) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) all.insert(line);
  }
  all.erase("total");
  return {all.begin(), all.end()};
}

std::string value_text(const AttrValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::string>)
          return x;
        else if constexpr (std::is_same_v<X, double>)
          return fmt::format("{:.6g}", x);
        else
          return std::to_string(x);
      },
      v);
}

template <class T>
double gemm_rate(const std::vector<metrics::GemmShape>& shapes, double seconds, int trials) {
  return metrics::measure_gemm_gflops<T>(shapes, seconds, trials);
}

// The same-run reference rates (GEMM of the kernel's shapes after every repetition, a large GEMM,
// the triad bandwidth) cost 1-2 s per launch whatever the problem size. A correctness test that
// launches hundreds of tiny runs switches them off with ATTNBENCH_REFERENCE_RATES=off; the archive
// then says so (/metrics reference_rates = "skipped") and has no *_fraction figures, and the tests
// of the rates themselves keep them on. Agreed across ranks (one Allreduce) so that every rank
// takes the same collective path even if the launcher passed different environments.
bool reference_rates_wanted(const dist::Comm& comm) {
  const char* v = std::getenv("ATTNBENCH_REFERENCE_RATES");
  const int off = (v != nullptr && std::string_view(v) == "off") ? 1 : 0;
  return comm.allreduce(off, dist::Op::max) == 0;
}

}  // namespace

int run_case(const dist::Comm& comm, const KernelSpec& kernel, const CommonOptions& c, const OptionValues& options,
             int argc, char** argv) {
  const bool talk = comm.is_root() && !c.quiet;
  // Threads: OpenMP inside the kernel; each BLAS call single-threaded so threads never nest.
  linalg::set_blas_threads(1);
  omp_set_num_threads(c.threads);
  // Before anything runs: the output must be a new (or, with --overwrite, a regular) file in an
  // existing directory, and never the input itself. Agreed; exit 2.
  if (!c.out.empty()) io::check_output_path(comm, c.out, c.overwrite, "--out", c.input);

  RunRecord rec;
  rec.kernel = kernel.name;
  rec.algorithm = c.algorithm;
  rec.ranks = comm.size();
  rec.threads_per_rank = c.threads;
  rec.blas_threads = linalg::blas_threads();
  rec.precision = to_string(c.precision);
  rec.seed = c.seed;
  rec.input = c.input.empty() ? "synthetic" : c.input;
  rec.warmup = c.warmup;
  rec.reps = c.reps;
  const std::vector<std::string> kernel_problem_keys = problem_keys(kernel);
  rec.size_key = kernel.size_key;

  // ---- set-up: the kernel reads or generates its problem (collective; errors agreed) ----------
  double setup_s = 0.0, io_s = 0.0;
  SetupContext ctx{comm, c, options, rec, setup_s, io_s};
  std::unique_ptr<Case> cs = kernel.make_case(ctx);
  // A problem attribute or parameter the kernel does not declare is a bug: refused before the timed
  // runs (the record is the same on every rank; agreed all the same, one Allreduce).
  dist::agree_on_success(comm, [&] { check_record(kernel, rec); });
  // problem_keys lists only what the case recorded, so a reader never meets a listed key that is
  // not there.
  for (const auto& k : kernel_problem_keys)
    if (rec.problem.count(k)) rec.problem_keys.push_back(k);
  record_phase(comm, rec, "setup", 1, 0, setup_s);
  record_phase(comm, rec, "io", 1, 0, io_s);
  // The work model is asked after every repetition: an iterative kernel (regress) knows its work
  // only once it has run; the archived figure is the one after the last repetition.
  WorkModel work = cs->work();
  const ReferenceShapes ref = cs->reference_shapes();

  // Progress shows every problem attribute; the summary line the first two (the kernel lists the
  // defining ones first: attention n and d).
  std::string problem_text, problem_short;
  for (const auto& k : kernel_problem_keys)
    if (auto it = rec.problem.find(k); it != rec.problem.end()) {
      problem_text += " " + k + "=" + value_text(it->second);
      if (&k - kernel_problem_keys.data() < 2) problem_short += " " + k + "=" + value_text(it->second);
    }
  if (talk) {
    std::cerr << fmt::format("attnbench: {} {}/{}{} {} ranks={} threads={} from {}\n", kernel.name, rec.algorithm,
                             rec.variant, problem_text, rec.precision, rec.ranks, rec.threads_per_rank, rec.input);
    if (const auto d = cs->describe(); !d.empty()) std::cerr << "  " << d << "\n";
  }

  // ---- warm-up and timed repetitions ----------------------------------------------------------
  // Every repetition starts after a barrier; "total" is this rank's wall time of the call; a
  // repetition's time is the max over ranks. The GEMM rate on the kernel's shapes is measured by
  // all ranks at once right after every repetition (median over ranks, then over repetitions), so
  // the kernel and GEMM rates are sampled moments apart on the same cores.
  const bool single = c.precision == Precision::single;
  const bool rates_wanted = reference_rates_wanted(comm);
  for (int w = 0; w < c.warmup; ++w) {
    PhaseTimes phases;
    comm.barrier();
    const double t0 = wall_seconds();
    cs->run(phases);
    const double t = comm.allreduce(wall_seconds() - t0, dist::Op::max);
    if (talk) std::cerr << fmt::format("  warm-up {}/{}: {:.4f} s\n", w + 1, c.warmup, t);
  }
  std::vector<double> rep_max_total, rep_gemm;
  for (int rep = 0; rep < c.reps; ++rep) {
    PhaseTimes phases;
    comm.barrier();
    const double t0 = wall_seconds();
    cs->run(phases);
    const double total = wall_seconds() - t0;
    record_phase(comm, rec, "total", c.reps, rep, total);
    for (const auto& name : phase_union(comm, phases)) {
      const auto it = phases.find(name);
      record_phase(comm, rec, name, c.reps, rep, it == phases.end() ? 0.0 : it->second);
    }
    work = cs->work();
    const auto& tot = rec.timings["total"].seconds;
    rep_max_total.push_back(*std::max_element(tot.begin() + rep * comm.size(), tot.begin() + (rep + 1) * comm.size()));
    std::string rate_text;
    if (rates_wanted && !ref.kernel_gemm.empty()) {
      comm.barrier();
      const double r = single ? gemm_rate<float>(ref.kernel_gemm, 0.05, 3) : gemm_rate<double>(ref.kernel_gemm, 0.05, 3);
      rep_gemm.push_back(metrics::median(comm.allgather(r)));
      rate_text = fmt::format(", {:.1f}% of GEMM",
                              100.0 * work.flops / rep_max_total.back() * 1e-9 / (rec.ranks * c.threads * rep_gemm.back()));
    }
    if (talk)
      std::cerr << fmt::format("  rep {}/{}: {:.4f} s, {:.3g} GFLOP/s{}\n", rep + 1, c.reps, rep_max_total.back(),
                               work.flops / rep_max_total.back() * 1e-9, rate_text);
  }

  // ---- metrics: work model, rates and same-run reference rates ---------------------------------
  const double median_time = metrics::median(rep_max_total);
  const double cores = static_cast<double>(rec.ranks) * c.threads;
  auto& m = rec.metrics;
  m["flops"] = work.flops;
  m["work_model"] = work.formula;
  m["median_time"] = median_time;
  m["gflops"] = work.flops / median_time * 1e-9;
  if (!rep_gemm.empty()) {
    m["gemm_gflops"] = metrics::median(rep_gemm);
    m["gemm_fraction"] = work.flops / median_time * 1e-9 / (cores * metrics::median(rep_gemm));
  }
  if (!rates_wanted) m["reference_rates"] = std::string("skipped (ATTNBENCH_REFERENCE_RATES=off)");
  if (rates_wanted) {
    // Large-GEMM "peak": all ranks at once, median over ranks.
    const metrics::GemmShape peak = ref.peak_gemm.value_or(metrics::GemmShape{2048, 2048, 256, true});
    comm.barrier();
    const double r = single ? gemm_rate<float>({peak}, 0.2, 3) : gemm_rate<double>({peak}, 0.2, 3);
    const double peak_rate = metrics::median(comm.allgather(r));
    m["gemm_peak_gflops"] = peak_rate;
    m["gemm_peak_fraction"] = work.flops / median_time * 1e-9 / (cores * peak_rate);
    m["gemm_peak_shape"] = fmt::format("{}x{}x{}", peak.m, peak.n, peak.k);
  }
  if (rates_wanted && ref.memory_bound && work.bytes > 0) {
    comm.barrier();
    const double bw = metrics::median(comm.allgather(metrics::measure_triad_gbs()));
    m["bytes"] = work.bytes;
    m["bandwidth_gbs"] = work.bytes / median_time * 1e-9;
    m["triad_gbs"] = bw;
    m["bandwidth_fraction"] = work.bytes / median_time * 1e-9 / (rec.ranks * bw);
  } else if (work.bytes > 0) {
    m["bytes"] = work.bytes;
  }
  {
    const auto buffers = comm.allgather<long long>(cs->buffer_bytes());
    rec.kernel_buffer_bytes.assign(buffers.begin(), buffers.end());
  }

  cs->add_metrics(rec.metrics);  // collective: the kernel's own metrics
  // The communication model and, on more than one node, the network it runs over (collective).
  for (const auto& key : {rec.algorithm + "/" + rec.variant, rec.algorithm})
    if (const auto it = kernel.comm_models.find(key); it != kernel.comm_models.end()) {
      m["comm_steps"] = it->second.steps;
      m["comm_bytes"] = it->second.bytes;
      m["comm_messages"] = it->second.messages;
      m["comm_overlap_flops"] = it->second.overlap_flops;
      m["comm_pattern"] = it->second.pattern;
      break;
    }
  // ATTNBENCH_NETWORK_PROBE=off (correctness tests launching many tiny multi-node runs) skips the
  // probe (0.1-1 s); the archive says so.
  if (const char* probe = std::getenv("ATTNBENCH_NETWORK_PROBE"); probe != nullptr && std::string_view(probe) == "off")
    m["net_probe"] = std::string("skipped (ATTNBENCH_NETWORK_PROBE=off)");
  else
    metrics::add_network_metrics(metrics::probe_network(comm), rec.metrics);

  // ---- validation: the kernel's verdict, and no non-finite number ever passes -----------------
  Validation v = cs->validate();
  std::vector<std::string> non_finite;
  for (const auto& [k, e] : v.errors)
    if (!std::isfinite(e)) non_finite.push_back(k);
  if (v.tolerance && !std::isfinite(*v.tolerance)) non_finite.push_back("tolerance");
  if (!non_finite.empty()) {
    v.valid = false;
    std::string list;
    for (const auto& k : non_finite) list += (list.empty() ? "" : ", ") + k;
    v.notes["invalid_reason"] = "non-finite " + list;
  }
  rec.valid = v.valid;
  rec.validation_method = v.method;
  rec.primary_error = v.primary_error;
  rec.certified = v.certified;
  for (const auto& [k, e] : v.errors) rec.validation[k] = e;
  for (const auto& [k, n] : v.counts) rec.validation[k] = n;
  for (const auto& [k, s] : v.notes) rec.validation[k] = s;
  if (v.tolerance) rec.validation["tolerance"] = *v.tolerance;
  dist::agree_on_success(comm, [&] { check_record(kernel, rec); });

  // ---- peak RSS of every rank, archive --------------------------------------------------------
  {
    const auto rss = comm.allgather<long long>(metrics::peak_rss_bytes());
    rec.peak_rss_bytes.assign(rss.begin(), rss.end());
  }
  if (!c.out.empty()) {
    const auto prov = metrics::collect_provenance(comm, argc, argv, io::hdf5_version());
    dist::agree_on_success(comm, [&] {
      io::write_run_archive(comm, c.out, c.overwrite, rec, prov, [&](io::File& f) {
        cs->write_datasets(f, c.save_output);
        // Last, before the archive is published: everything in it is declared (a kernel may also
        // write attributes and datasets directly); otherwise nothing is published.
        check_archive(kernel, rec.algorithm, f.contents());
      });
    });
  }

  // ---- one-line summary (rank 0) ---------------------------------------------------------------
  if (comm.is_root()) {
    const double max_rss = static_cast<double>(*std::max_element(rec.peak_rss_bytes.begin(), rec.peak_rss_bytes.end()));
    std::string rates = fmt::format("{:.2f} GFLOP/s", work.flops / median_time * 1e-9);
    if (!rep_gemm.empty())
      rates += fmt::format(", {:.1f}% of GEMM ({:.2f} GFLOP/s/core)",
                           100.0 * std::get<double>(m["gemm_fraction"]), metrics::median(rep_gemm));
    if (m.count("bandwidth_fraction"))
      rates += fmt::format(", {:.1f}% of memory bandwidth", 100.0 * std::get<double>(m["bandwidth_fraction"]));
    std::string verdict = cs->summary(v);
    if (verdict.empty()) {
      const auto it = v.errors.find(v.primary_error);
      verdict = it == v.errors.end() ? "no error measured" : fmt::format("{} {:.2e}", v.primary_error, it->second);
      if (v.tolerance) verdict += fmt::format(" (tol {:.1e})", *v.tolerance);
    }
    if (!v.certified) verdict += ", no certificate";
    if (auto it = v.notes.find("invalid_reason"); it != v.notes.end()) verdict += " [" + it->second + "]";
    std::cout << fmt::format("attnbench {} {}/{}{} {} ranks={}x{}: {:.4f} s, {}, {}, peak RSS {}/rank, {}{}\n",
                             kernel.name, rec.algorithm, rec.variant, problem_short, rec.precision, rec.ranks,
                             rec.threads_per_rank, median_time, rates, verdict, human_bytes(max_rss),
                             run_state(rec.valid, rec.certified), c.out.empty() ? "" : " -> " + c.out);
  }
  // The state's exit code (core/run_record.hpp kRunStates): UNCERTIFIED exits 0 like VALID.
  return static_cast<int>(run_state_info(rec.valid, rec.certified).code);
}

}  // namespace attnbench::harness
