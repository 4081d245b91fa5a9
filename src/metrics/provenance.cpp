#include "metrics/provenance.hpp"

#include <cstdlib>
#include <ctime>
#include <set>

#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::metrics {

extern const char* const kGitSha;
extern const int kGitDirty;

std::string iso8601_utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

Provenance collect_provenance(const dist::Comm& comm, int argc, char** argv, std::string hdf5_version) {
  Provenance p;
  p.git_sha = kGitSha;
  p.git_dirty = kGitDirty;
  p.build_type = ATTNBENCH_BUILD_TYPE;
  p.compiler = std::string("g++ ") + __VERSION__ + " " + ATTNBENCH_CXX_FLAGS;
  p.mpi_library = dist::Environment::library_version();
  p.blas_library = linalg::blas_library();
  p.vector_exp = linalg::vector_exp_isa();
  p.hdf5_version = std::move(hdf5_version);
  const char* job = std::getenv("SLURM_JOB_ID");
  p.slurm_job_id = job ? job : "";
  for (int i = 0; i < argc; ++i) p.command_line += (i ? " " : "") + shell_quote(argv[i]);
  p.created = iso8601_utc_now();

  const auto hosts = comm.allgather_strings(dist::Environment::processor_name());
  std::set<std::string> unique(hosts.begin(), hosts.end());
  for (const auto& h : unique) p.hostnames += (p.hostnames.empty() ? "" : ",") + h;
  // Identical values on every rank: rank 0's.
  for (std::string* s : {&p.git_sha, &p.build_type, &p.compiler, &p.mpi_library, &p.blas_library, &p.vector_exp,
                         &p.hdf5_version, &p.slurm_job_id, &p.command_line, &p.created})
    comm.bcast(*s);
  return p;
}

}  // namespace attnbench::metrics
