#pragma once
// Results archive lifecycle: one HDF5 file per run, written collectively to "<path>.partial" and
// renamed to <path> by rank 0 only once everything is written and closed. A run that fails (or is
// killed) leaves at most a .partial file, never a truncated archive under the final name; an
// ArchiveWriter destroyed without commit() removes its .partial file.
#include <string>

#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io {

inline constexpr std::int64_t kSchemaVersion = 2;  // 1: attention-only (attnbench 0.1)

// Collective, before any work: the output directory must exist and be writable, and the file must
// not exist unless overwrite is set. Throws Error(usage) naming the path on every rank.
void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option);

class ArchiveWriter {
 public:
  // Collective: creates <path>.partial.
  ArchiveWriter(const dist::Comm& comm, std::string path);
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  File& file() { return file_; }
  // Collective: close, then rank 0 renames <path>.partial to <path>; a barrier publishes it.
  void commit();

 private:
  dist::Comm comm_;
  std::string path_;
  File file_;
  bool committed_ = false;
};

}  // namespace attnbench::io
