#include "io/archive.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>

#include "core/error.hpp"
#include "dist/collective.hpp"

namespace attnbench::io {

namespace {

namespace fs = std::filesystem;

std::string dir_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

std::string file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// Overwrite permission recorded by check_output_path, for the two-argument ArchiveWriter.
std::mutex overwrite_mutex;
std::map<std::string, bool>& overwrite_table() {
  static std::map<std::string, bool> table;
  return table;
}
std::string table_key(const std::string& path) {
  std::error_code ec;
  const auto abs = fs::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// 64 random bits for a file name. Not data: nothing about the results depends on it, and it must
// differ between runs started at the same moment, so it comes from the kernel, not from a seed.
std::uint64_t name_entropy() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v)) return v;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// Rank 0 picks "<path>.<16 hex>.partial"; every rank learns it (one Bcast).
std::string temporary_name(const dist::Comm& comm, const std::string& path) {
  std::string name;
  if (comm.is_root()) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(name_entropy()));
    name = path + "." + hex + ".partial";
  }
  comm.bcast(name, 0);
  return name;
}

// Rank 0: moves temp to path, never replacing anything unless overwrite; only regular files are
// replaced. Throws Error(usage) when the final name is taken or not a regular file.
void publish(const std::string& temp, const std::string& path, Overwrite overwrite) {
  struct stat st {};
  if (overwrite == Overwrite::yes) {
    if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      throw usage_error("cannot replace '" + path + "': it is " + file_kind(st.st_mode) +
                        " (only a regular file is replaced by --overwrite)");
    if (::rename(temp.c_str(), path.c_str()) != 0)
      throw output_error("cannot rename '" + temp + "' to '" + path + "': " + std::strerror(errno));
    return;
  }
  auto taken = [&] {
    return usage_error("'" + path +
                       "' already exists: another run wrote it while this one ran (pass --overwrite to replace "
                       "it); nothing was written");
  };
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
  const int e = errno;
  if (e == EEXIST) throw taken();
  if (e != EINVAL && e != ENOSYS && e != ENOTSUP && e != EOPNOTSUPP)
    throw output_error("cannot rename '" + temp + "' to '" + path + "': " + std::strerror(e));
  // No RENAME_NOREPLACE on this file system: link(2) also refuses an existing name.
  if (::link(temp.c_str(), path.c_str()) != 0) {
    const int le = errno;
    if (le == EEXIST) throw taken();
    throw output_error("cannot link '" + temp + "' to '" + path + "': " + std::strerror(le));
  }
  ::unlink(temp.c_str());
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw output_error("cannot open directory '" + dir + "' for fsync: " + std::strerror(errno));
  const int rc = ::fsync(fd), e = errno;
  ::close(fd);
  // EINVAL: the file system does not sync directories; nothing more can be done there.
  if (rc != 0 && e != EINVAL) throw output_error("fsync of directory '" + dir + "' failed: " + std::strerror(e));
}

// Every rank must see the directory the archive will be created in: HDF5's collective create
// (MPI_File_open) in a directory that is node-local on some ranks deadlocked in OMPIO instead of
// failing (seen on two emulated nodes, the results directory a private tmpfs on one of them).
// Rank 0 creates "<dir>/.<name>.<16 hex>.probe" exclusively, holding the 16 hex digits; every rank
// reads it back, retrying for up to 2 s (an NFS client may cache the failed lookup of a name it
// has not seen yet); the ranks agree, and rank 0 removes the probe. A rank that does not see it is
// exit 5 on every rank, naming the directory. Cost: one small file, one Bcast, two agreements.
void check_directory_shared(const dist::Comm& comm, const std::string& path, const std::string& option) {
  if (comm.size() == 1) return;
  const std::string dir = dir_of(path);
  std::string probe, token;
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(name_entropy()));
    token = hex;
    probe = (fs::path(dir) / ("." + fs::path(path).filename().string() + "." + token + ".probe")).string();
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      throw output_error(option + " '" + path + "': cannot create a file in directory '" + dir +
                         "': " + std::strerror(errno));
    const bool written = ::write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
    const bool closed = ::close(fd) == 0;
    if (!written || !closed) {
      ::unlink(probe.c_str());
      throw output_error(option + " '" + path + "': cannot write a file in directory '" + dir + "'");
    }
  });
  comm.bcast(probe, 0);
  comm.bcast(token, 0);
  auto sees_probe = [&] {
    for (int attempt = 0; attempt < 40; ++attempt) {
      if (attempt > 0) ::usleep(50000);
      const int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char buf[16] = {};
      const bool same = ::read(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf) &&
                        std::string(buf, sizeof buf) == token;
      ::close(fd);
      if (same) return true;
    }
    return false;
  };
  try {
    dist::agree_on_success(comm, [&] {
      if (!sees_probe())
        throw output_error(option + " '" + path + "': directory '" + dir + "' is not the same directory on every " +
                           "rank (rank " + std::to_string(comm.rank()) + " does not see the file rank 0 created " +
                           "there): the output must be on a file system that all nodes share");
    });
  } catch (...) {
    if (comm.is_root()) ::unlink(probe.c_str());
    throw;
  }
  if (comm.is_root()) ::unlink(probe.c_str());
}

}  // namespace

void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option,
                       const std::string& input_path) {
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    if (path.empty()) throw usage_error(option + ": empty path");
    const std::string dir = dir_of(path);
    if (!fs::is_directory(dir, ec))
      throw usage_error(option + " '" + path + "': directory '" + dir + "' does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
      throw usage_error(option + " '" + path + "': directory '" + dir + "' is not writable");
    struct stat out {};
    if (::lstat(path.c_str(), &out) != 0) return;  // a new file
    if (S_ISDIR(out.st_mode)) throw usage_error(option + " '" + path + "' is a directory");
    if (!S_ISREG(out.st_mode))
      throw usage_error(option + " '" + path + "' is " + file_kind(out.st_mode) +
                        ": outputs must be regular files (give the path of the file itself)");
    struct stat in {};
    if (!input_path.empty() && ::stat(input_path.c_str(), &in) == 0 && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino)
      throw usage_error(option + " '" + path + "' is the input file '" + input_path +
                        "': the archive would replace its own input");
    if (!overwrite) throw usage_error(option + " '" + path + "' already exists (pass --overwrite to replace it)");
  });
  check_directory_shared(comm, path, option);
  std::lock_guard<std::mutex> lock(overwrite_mutex);
  overwrite_table()[table_key(path)] = overwrite;
}

void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option) {
  check_output_path(comm, path, overwrite, option, std::string());
}

namespace {
Overwrite recorded_overwrite(const std::string& path) {
  std::lock_guard<std::mutex> lock(overwrite_mutex);
  const auto& t = overwrite_table();
  const auto it = t.find(table_key(path));
  return it != t.end() && it->second ? Overwrite::yes : Overwrite::no;
}
}  // namespace

std::string output_path_sharing_file_with(const std::string& input_path) {
  struct stat in {};
  if (::stat(input_path.c_str(), &in) != 0) return "";
  std::lock_guard<std::mutex> lock(overwrite_mutex);
  for (const auto& [out, overwrite] : overwrite_table()) {
    struct stat st {};
    if (::stat(out.c_str(), &st) == 0 && st.st_dev == in.st_dev && st.st_ino == in.st_ino) return out;
  }
  return "";
}

ArchiveWriter::ArchiveWriter(const dist::Comm& comm, std::string path, Overwrite overwrite)
    : comm_(comm),
      path_(std::move(path)),
      overwrite_(overwrite),
      temp_(temporary_name(comm, path_)),
      file_(File::create(comm, temp_)) {}

ArchiveWriter::ArchiveWriter(const dist::Comm& comm, std::string path)
    : ArchiveWriter(comm, path, recorded_overwrite(path)) {}

ArchiveWriter::~ArchiveWriter() {
  if (committed_) return;
  // Reached on every rank after an agreed failure: close without checking, remove the temporary.
  file_.abandon();
  if (comm_.is_root()) ::unlink(temp_.c_str());
}

void ArchiveWriter::commit() {
  file_.close();  // flush, close, fsync on every rank; agreed
  dist::agree_on_success(comm_, [&] {
    if (!comm_.is_root()) return;
    publish(temp_, path_, overwrite_);
    try {
      fsync_directory(dir_of(path_));
    } catch (const Error&) {
      ::unlink(path_.c_str());  // published but not durable: take it back, report the failure
      throw;
    }
  });
  committed_ = true;
}

}  // namespace attnbench::io
