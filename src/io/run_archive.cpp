#include "io/run_archive.hpp"

#include <type_traits>

#include "io/archive.hpp"

namespace attnbench::io {

namespace {
void attr_value(File& f, const std::string& object, const std::string& name, const AttrValue& v) {
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::uint64_t>)
          f.attr_u64(object, name, x);
        else
          f.attr(object, name, x);
      },
      v);
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}
}  // namespace

void write_run_archive(const dist::Comm& comm, const std::string& path, bool overwrite, const RunRecord& rec,
                       const metrics::Provenance& prov, const std::function<void(File&)>& kernel_datasets) {
  ArchiveWriter archive(comm, path, overwrite ? Overwrite::yes : Overwrite::no);
  File& f = archive.file();
  using I = std::int64_t;
  // ---- common root attributes (every kernel) ----
  f.attr("/", "schema_version", kSchemaVersion);
  f.attr("/", "suite", std::string("attnbench"));
  f.attr("/", "kernel", rec.kernel);
  f.attr("/", "algorithm", rec.algorithm);
  f.attr("/", "variant", rec.variant);
  f.attr("/", "ranks", static_cast<I>(rec.ranks));
  f.attr("/", "threads_per_rank", static_cast<I>(rec.threads_per_rank));
  f.attr("/", "blas_threads", static_cast<I>(rec.blas_threads));
  f.attr("/", "precision", rec.precision);
  f.attr_u64("/", "seed", rec.seed);  // uint64: seeds >= 2^63 must not come back negative
  f.attr("/", "input", rec.input);
  f.attr("/", "warmup", static_cast<I>(rec.warmup));
  f.attr("/", "reps", static_cast<I>(rec.reps));
  f.attr("/", "valid", static_cast<I>(rec.valid ? 1 : 0));
  f.attr("/", "state", std::string(run_state(rec.valid, rec.certified)));  // VALID, UNCERTIFIED or INVALID
  f.attr("/", "created", prov.created);
  // ---- the kernel's problem attributes, and which they are ----
  f.attr("/", "problem_keys", join(rec.problem_keys));
  f.attr("/", "size_key", rec.size_key);
  for (const auto& [k, v] : rec.problem) attr_value(f, "/", k, v);

  f.ensure_group("/parameters");
  for (const auto& [k, v] : rec.parameters) attr_value(f, "/parameters", k, v);

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
  for (const auto& [k, v] : rec.metrics) attr_value(f, "/metrics", k, v);
  f.write_root_vector_int64("/metrics/peak_rss_bytes", rec.peak_rss_bytes, comm);
  f.write_root_vector_int64("/metrics/kernel_buffer_bytes", rec.kernel_buffer_bytes, comm);

  f.ensure_group("/validation");
  f.attr("/validation", "method", rec.validation_method);
  f.attr("/validation", "primary_error", rec.primary_error);
  f.attr("/validation", "certified", static_cast<I>(rec.certified ? 1 : 0));
  for (const auto& [k, v] : rec.validation) attr_value(f, "/validation", k, v);
  f.attr("/validation", "valid", static_cast<I>(rec.valid ? 1 : 0));

  if (kernel_datasets) kernel_datasets(f);
  archive.commit();
}

}  // namespace attnbench::io
