#include "harness/archive_contract.hpp"

#include <algorithm>
#include <variant>

#include "core/error.hpp"

namespace attnbench::harness {

std::string to_string(KeyRole r) {
  switch (r) {
    case KeyRole::point: return "point";
    case KeyRole::tuning: return "tuning";
    case KeyRole::run: return "run";
    case KeyRole::result: return "result";
  }
  return "result";
}

std::vector<std::string> problem_keys(const KernelSpec& k) {
  std::vector<std::string> keys;
  for (const auto& key : k.archive_keys)
    if (key.group == "/" && (key.role == KeyRole::point || key.role == KeyRole::tuning)) keys.push_back(key.name);
  return keys;
}

const std::vector<ArchiveKey>& common_archive_keys() {
  constexpr auto P = KeyRole::point, U = KeyRole::run, R = KeyRole::result;
  const std::string rates = "reference rates on (not ATTNBENCH_REFERENCE_RATES=off)";
  const std::string comm = "the kernel declares a communication model for the algorithm (or algorithm/variant)";
  const std::string probe = "more than one node and the network probe on";
  static const std::vector<ArchiveKey> keys = {
      {"/", "schema_version", "int64", "2", U},
      {"/", "suite", "string", "attnbench", U},
      {"/", "kernel", "string", "the kernel (subcommand)", P},
      {"/", "algorithm", "string", "--algo", P},
      {"/", "variant", "string", "the algorithm's variant (kernel-specific; may be empty)", P},
      {"/", "ranks", "int64", "MPI ranks", P},
      {"/", "threads_per_rank", "int64", "--threads", P},
      {"/", "blas_threads", "int64", "threads of each BLAS call (1)", U},
      {"/", "precision", "string", "double or single", P},
      {"/", "seed", "uint64", "--seed", U},
      {"/", "input", "string", "synthetic, or the --input file", U},
      {"/", "warmup", "int64", "--warmup", U},
      {"/", "reps", "int64", "--reps", U},
      {"/", "valid", "int64", "1: the run validated", R},
      {"/", "state", "string", "VALID, UNCERTIFIED or INVALID (archives before it: from valid and certified)", R},
      {"/", "created", "string", "ISO 8601 UTC", U},
      {"/", "problem_keys", "string", "comma-separated root attributes that define the problem (the kernel's "
                                      "point and tuning keys it recorded)", U},
      {"/", "size_key", "string", "the problem key scaling studies sweep", U},
      {"/provenance", "git_sha", "string", "source commit", U},
      {"/provenance", "git_dirty", "int64", "1: uncommitted changes", U},
      {"/provenance", "build_type", "string", "CMake build type", U},
      {"/provenance", "compiler", "string", "compiler and flags", U},
      {"/provenance", "mpi_library", "string", "MPI library version", U},
      {"/provenance", "blas_library", "string", "BLAS library and its configuration", U},
      {"/provenance", "vector_exp", "string", "the vectorised exp in use", U},
      {"/provenance", "hdf5_version", "string", "HDF5 version", U},
      {"/provenance", "hostnames", "string", "hosts of the ranks", U},
      {"/provenance", "slurm_job_id", "string", "Slurm job id (empty outside Slurm)", U},
      {"/provenance", "command_line", "string", "the command line", U},
      {"/timings", "unit", "string", "seconds", U},
      {"/timings", "layout", "string", "[reps, ranks]; setup and io are [1, ranks]", U},
      {"/timings", "total", "dataset", "float64 [reps, ranks]: each rank's wall time of a repetition", R},
      {"/timings", "setup", "dataset", "float64 [1, ranks]: synthetic generation (not in total)", R},
      {"/timings", "io", "dataset", "float64 [1, ranks]: input read (not in total)", R},
      {"/timings", "*", "dataset", "float64 [reps, ranks]: the kernel's own phases (compute, comm_wait, ...)", R, {},
       "the kernel times phases"},
      {"/metrics", "flops", "float64", "work model: floating-point operations of one repetition", R},
      {"/metrics", "work_model", "string", "the formula of flops", R},
      {"/metrics", "median_time", "float64", "median over reps of the max over ranks of /timings/total", R},
      {"/metrics", "gflops", "float64", "flops / median_time / 1e9", R},
      {"/metrics", "gemm_gflops", "float64", "single-core GEMM rate on the kernel's shapes (median over ranks)", R, {},
       rates + " and the kernel states GEMM shapes"},
      {"/metrics", "gemm_fraction", "float64", "gflops / (ranks x threads x gemm_gflops)", R, {},
       rates + " and the kernel states GEMM shapes"},
      {"/metrics", "gemm_peak_gflops", "float64", "single-core rate of a large GEMM", R, {}, rates},
      {"/metrics", "gemm_peak_fraction", "float64", "gflops / (ranks x threads x gemm_peak_gflops)", R, {}, rates},
      {"/metrics", "gemm_peak_shape", "string", "MxNxK of the large GEMM", R, {}, rates},
      {"/metrics", "reference_rates", "string", "why the reference rates were skipped", R, {},
       "ATTNBENCH_REFERENCE_RATES=off"},
      {"/metrics", "bytes", "float64", "work model: bytes moved to/from memory", R, {}, "the work model states bytes"},
      {"/metrics", "bandwidth_gbs", "float64", "bytes / median_time / 1e9", R, {},
       rates + ", a memory-bound kernel stating bytes"},
      {"/metrics", "triad_gbs", "float64", "single-core STREAM-triad rate", R, {},
       rates + ", a memory-bound kernel stating bytes"},
      {"/metrics", "bandwidth_fraction", "float64", "bandwidth_gbs / (ranks x triad_gbs)", R, {},
       rates + ", a memory-bound kernel stating bytes"},
      {"/metrics", "comm_steps", "string", "communication model: steps per repetition (a formula)", R, {}, comm},
      {"/metrics", "comm_bytes", "string", "communication model: bytes per rank per step", R, {}, comm},
      {"/metrics", "comm_messages", "string", "communication model: messages per rank per step", R, {}, comm},
      {"/metrics", "comm_overlap_flops", "string", "communication model: flops overlapping a step", R, {}, comm},
      {"/metrics", "comm_pattern", "string", "communication model: what moves, in words", R, {}, comm},
      {"/metrics", "net_probe", "string", "why the network probe was skipped", R, {}, "ATTNBENCH_NETWORK_PROBE=off"},
      {"/metrics", "net_alpha_s", "float64", "network latency between two nodes", R, {}, probe},
      {"/metrics", "net_beta_bytes_per_s", "float64", "network bandwidth between two nodes", R, {}, probe},
      {"/metrics", "net_pair", "string", "the probed pair of ranks", R, {}, probe},
      {"/metrics", "net_bytes", "string", "probe message sizes", R, {}, probe},
      {"/metrics", "net_seconds", "string", "probe times", R, {}, probe},
      {"/metrics", "net_exchange_bytes", "string", "exchange probe sizes", R, {}, probe},
      {"/metrics", "net_exchange_seconds", "string", "exchange probe times", R, {}, probe},
      {"/metrics", "net_exchange_beta_bytes_per_s", "float64", "exchange bandwidth", R, {}, probe},
      {"/metrics", "peak_rss_bytes", "dataset", "int64 [ranks]: peak resident memory", R},
      {"/metrics", "kernel_buffer_bytes", "dataset", "int64 [ranks]: the kernel's own buffers", R},
      {"/validation", "method", "string", "what was compared with what", R},
      {"/validation", "primary_error", "string", "the name of the error the summary and report show", R},
      {"/validation", "certified", "int64", "1: the error is bounded by a certificate or tolerance", R},
      {"/validation", "valid", "int64", "as the root attribute", R},
      {"/validation", "tolerance", "float64", "the threshold the primary error was held to", R, {},
       "the kernel states one"},
      {"/validation", "invalid_reason", "string", "why the run is INVALID (e.g. non-finite errors)", R, {},
       "an invalid run"},
  };
  return keys;
}

namespace {

bool applies(const ArchiveKey& key, const std::string& algorithm, const std::string& group, const std::string& name) {
  if (key.group != group) return false;
  if (!key.algorithms.empty() && std::find(key.algorithms.begin(), key.algorithms.end(), algorithm) == key.algorithms.end())
    return false;
  if (!key.name.empty() && key.name.back() == '*')
    return name.compare(0, key.name.size() - 1, key.name, 0, key.name.size() - 1) == 0;
  return key.name == name;
}

bool type_ok(const std::string& declared, const std::string& actual) {
  std::size_t start = 0;
  while (start <= declared.size()) {
    const std::size_t end = std::min(declared.find('|', start), declared.size());
    if (declared.compare(start, end - start, actual) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string type_of(const AttrValue& v) {
  static const char* names[] = {"int64", "uint64", "float64", "string"};
  return names[v.index()];
}

// Collects "group/name (type)" entries the contract does not declare; throws them all at once.
class Violations {
 public:
  Violations(const KernelSpec& k, const std::string& algorithm) : k_(k), algorithm_(algorithm) {}
  void check(const std::string& group, const std::string& name, const std::string& type) {
    const ArchiveKey* key = declared_key(k_, algorithm_, group, name);
    const std::string full = (group == "/" ? "/" : group + "/") + name;
    if (key == nullptr)
      list_ += "\n  " + full + " (" + type + "): not declared";
    else if (!type_ok(key->type, type))
      list_ += "\n  " + full + ": " + type + ", declared " + key->type;
  }
  void raise_if_any() const {
    if (list_.empty()) return;
    throw internal_error("the " + k_.name + " kernel wrote keys its archive contract (KernelSpec::archive_keys) "
                         "does not declare for --algo " + algorithm_ + ":" + list_);
  }

 private:
  const KernelSpec& k_;
  const std::string& algorithm_;
  std::string list_;
};

}  // namespace

const ArchiveKey* declared_key(const KernelSpec& k, const std::string& algorithm, const std::string& group,
                               const std::string& name) {
  for (const auto* keys : {&common_archive_keys(), &k.archive_keys})
    for (const auto& key : *keys)
      if (applies(key, algorithm, group, name)) return &key;
  return nullptr;
}

void check_record(const KernelSpec& k, const RunRecord& rec) {
  Violations v(k, rec.algorithm);
  for (const auto& [group, values] : {std::pair{"/", &rec.problem}, std::pair{"/parameters", &rec.parameters},
                                      std::pair{"/metrics", &rec.metrics}, std::pair{"/validation", &rec.validation}})
    for (const auto& [name, value] : *values) v.check(group, name, type_of(value));
  v.raise_if_any();
}

void check_archive(const KernelSpec& k, const std::string& algorithm, const io::File::Contents& contents) {
  Violations v(k, algorithm);
  for (const auto& [object, attrs] : contents.attributes)
    for (const auto& [name, type] : attrs) v.check(object, name, type);
  for (const auto& path : contents.datasets) {
    const auto slash = path.rfind('/');
    v.check(slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1), "dataset");
  }
  v.raise_if_any();
}

}  // namespace attnbench::harness
