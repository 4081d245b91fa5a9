#pragma once
// Results archive lifecycle: one HDF5 file per run, written collectively to a temporary file of a
// unique name in the output's directory, "<path>.<16 hex digits>.partial", created by rank 0
// with O_CREAT | O_EXCL | O_NOFOLLOW (never a planted symlink, never another run's file), its
// name broadcast. commit() publishes it only once every rank agrees that every step succeeded:
//   every HDF5 call checked and agreed (io/hdf5_file.hpp) -> H5Fflush -> H5Fclose -> fsync of the
//   file on every rank -> rank 0 publishes: without overwrite, renameat2(RENAME_NOREPLACE) (or
//   link(2) + unlink where that is not supported), so an existing file - e.g. one another run
//   published meanwhile - is never replaced (Error(usage), exit 2); with overwrite, rename(2),
//   which replaces atomically, and only a regular file -> fsync of the directory -> agreement.
// A run that fails (or is killed) leaves at most its own .partial file, never a truncated archive
// under the final name; an ArchiveWriter destroyed without commit() removes its .partial file.
#include <string>

#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io {

inline constexpr std::int64_t kSchemaVersion = 2;  // 1: attention-only (attnbench 0.1)

// Whether publishing may replace an existing file at the final path.
enum class Overwrite { no, yes };

// Collective, before any work: the output must be a usable path for a new regular file:
//   - not empty (usage error "<option>: empty path");
//   - its directory exists and is writable;
//   - if something is there already: it must be a regular file (not a directory, device, FIFO,
//     socket or symbolic link - a link is refused rather than followed or replaced), and then it
//     is an error unless overwrite is set;
//   - it is not the input file (same device and inode: hard links and symlinks to it included),
//     when input_path is not empty.
// Throws Error(usage) naming the option and the path on every rank. Then, on more than one rank,
// every rank must see the same directory (a probe file rank 0 creates there and removes): a
// directory that is node-local on some ranks is Error(output), exit 5, naming it, instead of the
// deadlock of HDF5's collective create there. Also records, for this
// process, whether `path` may be overwritten (see the two-argument ArchiveWriter).
void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option,
                       const std::string& input_path);
void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option);

// The output path recorded by check_output_path in this process that is the same file (device and
// inode) as `input_path`, or "" - so that a reader of the input can refuse an input that is also
// the output even when check_output_path was not given the input. Serial.
std::string output_path_sharing_file_with(const std::string& input_path);

class ArchiveWriter {
 public:
  // Collective: creates the unique temporary file. Throws Error(output) on every rank.
  ArchiveWriter(const dist::Comm& comm, std::string path, Overwrite overwrite);
  // As above, with overwrite as last given to check_output_path(path, ...) in this process (no
  // when it was not checked): for callers that do not pass it explicitly.
  ArchiveWriter(const dist::Comm& comm, std::string path);
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  File& file() { return file_; }
  const std::string& temporary_path() const noexcept { return temp_; }
  // Collective: close, fsync, publish, fsync the directory, agree (see above). Throws on every
  // rank: Error(output) for a failed write/close/fsync/rename, Error(usage) when the final path
  // exists without overwrite or is not a regular file. Nothing is under the final name then.
  void commit();

 private:
  dist::Comm comm_;
  std::string path_;
  Overwrite overwrite_;
  std::string temp_;
  File file_;
  bool committed_ = false;
};

}  // namespace attnbench::io
