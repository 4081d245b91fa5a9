#include "io/run_archive.hpp"

#include "io/archive.hpp"

namespace attnbench::io {

template <class T>
void write_run_archive(const dist::Comm& comm, const std::string& path, const RunRecord& rec,
                       const metrics::Provenance& prov, const SavedOutput<T>& output) {
  ArchiveWriter archive(comm, path);
  File& f = archive.file();
  using I = std::int64_t;
  f.attr("/", "schema_version", kSchemaVersion);
  f.attr("/", "suite", std::string("attnbench"));
  f.attr("/", "kernel", rec.kernel);
  f.attr("/", "algorithm", rec.algorithm);
  f.attr("/", "variant", rec.variant);
  f.attr("/", "n", rec.n);
  f.attr("/", "n_keys", rec.n_keys);
  f.attr("/", "d", rec.d);
  f.attr("/", "dv", rec.dv);
  f.attr("/", "ranks", static_cast<I>(rec.ranks));
  f.attr("/", "threads_per_rank", static_cast<I>(rec.threads_per_rank));
  f.attr("/", "blas_threads", static_cast<I>(rec.blas_threads));
  f.attr("/", "precision", rec.precision);
  f.attr("/", "scale", rec.scale);
  f.attr("/", "scale_rule", rec.scale_rule);
  f.attr_u64("/", "seed", rec.seed);  // uint64: seeds >= 2^63 must not come back negative
  f.attr("/", "input", rec.input);
  f.attr("/", "bound", rec.bound);
  f.attr("/", "tile_q", rec.tile_q);
  f.attr("/", "tile_k", rec.tile_k);
  f.attr("/", "warmup", static_cast<I>(rec.warmup));
  f.attr("/", "reps", static_cast<I>(rec.reps));
  f.attr("/", "valid", static_cast<I>(rec.valid ? 1 : 0));
  f.attr("/", "created", prov.created);

  f.ensure_group("/parameters");
  for (const auto& [k, v] : rec.numeric_params) f.attr("/parameters", k, v);
  for (const auto& [k, v] : rec.string_params) f.attr("/parameters", k, v);

  f.ensure_group("/provenance");
  f.attr("/provenance", "git_sha", prov.git_sha);
  f.attr("/provenance", "git_dirty", static_cast<I>(prov.git_dirty));
  f.attr("/provenance", "build_type", prov.build_type);
  f.attr("/provenance", "compiler", prov.compiler);
  f.attr("/provenance", "mpi_library", prov.mpi_library);
  f.attr("/provenance", "blas_library", prov.blas_library);
  f.attr("/provenance", "vector_exp", prov.vector_exp);
  f.attr("/provenance", "hdf5_version", prov.hdf5_version);
  f.attr("/provenance", "hostnames", prov.hostnames);
  f.attr("/provenance", "slurm_job_id", prov.slurm_job_id);
  f.attr("/provenance", "command_line", prov.command_line);

  f.ensure_group("/timings");
  for (const auto& [phase, data] : rec.timings)
    f.write_root_matrix("/timings/" + phase, data.seconds, data.rows, rec.ranks, comm);
  f.attr("/timings", "unit", std::string("seconds"));
  f.attr("/timings", "layout", std::string("[reps, ranks]; setup and io are [1, ranks] (once per run, not in total)"));

  f.ensure_group("/metrics");
  f.attr("/metrics", "flops", rec.flops);
  f.attr("/metrics", "median_time", rec.median_time);
  f.attr("/metrics", "gflops", rec.gflops);
  f.attr("/metrics", "gemm_gflops", rec.gemm_gflops);
  f.attr("/metrics", "gemm_fraction", rec.gemm_fraction);
  f.write_root_vector_int64("/metrics/peak_rss_bytes", rec.peak_rss_bytes, comm);
  f.write_root_vector_int64("/metrics/kernel_buffer_bytes", rec.kernel_buffer_bytes, comm);

  f.ensure_group("/validation");
  f.attr("/validation", "method", rec.validation_method);
  f.attr("/validation", "rows_checked", rec.rows_checked);
  f.attr("/validation", "max_abs_error", rec.max_abs_error);
  f.attr("/validation", "rel_error", rec.rel_error);
  f.attr("/validation", "tolerance", rec.tolerance);
  if (rec.naive_rel_error >= 0.0) f.attr("/validation", "naive_rel_error", rec.naive_rel_error);
  for (const auto& [k, v] : rec.extra_errors) f.attr("/validation", k, v);
  f.attr("/validation", "valid", static_cast<I>(rec.valid ? 1 : 0));

  if (output.O_local) {
    f.ensure_group("/output");
    f.write_rows("/output/O", output.layout.global_rows(), rec.dv, output.layout.row_offset(comm.rank()),
                 *output.O_local);
  }
  archive.commit();
}

template void write_run_archive<float>(const dist::Comm&, const std::string&, const RunRecord&,
                                       const metrics::Provenance&, const SavedOutput<float>&);
template void write_run_archive<double>(const dist::Comm&, const std::string&, const RunRecord&,
                                        const metrics::Provenance&, const SavedOutput<double>&);

}  // namespace attnbench::io
