#pragma once
// Provenance of a run: everything needed to know, years later, what produced a result.
#include <string>

namespace attnbench::metrics {

struct Provenance {
  std::string git_sha;
  int git_dirty = 1;
  std::string build_type;
  std::string compiler;
  std::string mpi_library;
  std::string blas_library;
  std::string vector_exp;
  std::string hdf5_version;
  std::string hostnames;     // unique host names of all ranks, comma-separated
  std::string slurm_job_id;  // empty outside Slurm
  std::string command_line;
  std::string created;       // ISO 8601 UTC, rank 0's clock
};

}  // namespace attnbench::metrics
