#include "drivers/driver_common.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>

#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "io/run_archive.hpp"
#include "metrics/provenance.hpp"
#include "metrics/resources.hpp"
#include "io/attention_input.hpp"
#include "linalg/blas.hpp"

namespace attnbench::drivers {

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

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

void init_record(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec) {
  // Threads: OpenMP over query tiles; each BLAS call single-threaded so threads never nest.
  linalg::set_blas_threads(1);
  omp_set_num_threads(o.threads);
  rec.algorithm = o.algorithm;
  rec.variant = attention::to_string(o.variant);
  rec.ranks = comm.size();
  rec.threads_per_rank = o.threads;
  rec.blas_threads = linalg::blas_threads();
  rec.precision = to_string(o.precision);
  rec.seed = o.input.seed;
  rec.warmup = o.warmup;
  rec.reps = o.reps;
  rec.tile_q = o.tiles.q;
  rec.tile_k = o.tiles.k;
}

template <class T>
AttentionProblem<T> setup_problem(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec) {
  AttentionProblem<T> problem;
  double setup_s = 0.0, io_s = 0.0;
  if (o.input.file.empty()) {
    ScopedAccumulate t(setup_s);
    problem = synthetic_problem<T>(o.input.n, o.input.d, o.input.dv, o.input.bound, o.input.seed, comm.rank(),
                                   comm.size());
    rec.bound = o.input.bound;
  } else {
    ScopedAccumulate t(io_s);
    problem = io::read_attention_input<T>(comm, o.input.file);
  }
  rec.input = problem.source;
  rec.n = problem.n_q();
  rec.n_keys = problem.n_kv();
  rec.d = problem.d;
  rec.dv = problem.dv;
  rec.scale = o.scale.resolve(problem.d);
  rec.scale_rule = o.scale.rule;
  record_phase(comm, rec, "setup", 1, 0, setup_s);
  record_phase(comm, rec, "io", 1, 0, io_s);
  return problem;
}

template AttentionProblem<float> setup_problem<float>(const dist::Comm&, const config::AttentionOptions&, RunRecord&);
template AttentionProblem<double> setup_problem<double>(const dist::Comm&, const config::AttentionOptions&,
                                                        RunRecord&);

template <class T>
void record_rss_and_archive(const dist::Comm& comm, const config::AttentionOptions& o, RunRecord& rec,
                            const Matrix<T>& O, const dist::BlockRowLayout& layout_q, int argc, char** argv) {
  const auto rss = comm.allgather<long long>(metrics::peak_rss_bytes());
  rec.peak_rss_bytes.assign(rss.begin(), rss.end());
  if (o.out.empty()) return;
  const auto prov = metrics::collect_provenance(comm, argc, argv);
  io::SavedOutput<T> saved;
  if (o.save_output) {
    saved.O_local = &O;
    saved.layout = layout_q;
  }
  dist::agree_on_success(comm, [&] { io::write_run_archive(comm, o.out, rec, prov, saved); });
}

template void record_rss_and_archive<float>(const dist::Comm&, const config::AttentionOptions&, RunRecord&,
                                            const Matrix<float>&, const dist::BlockRowLayout&, int, char**);
template void record_rss_and_archive<double>(const dist::Comm&, const config::AttentionOptions&, RunRecord&,
                                             const Matrix<double>&, const dist::BlockRowLayout&, int, char**);

}  // namespace attnbench::drivers
