#include "io/archive.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "dist/collective.hpp"

namespace attnbench::io {

void check_output_path(const dist::Comm& comm, const std::string& path, bool overwrite, const std::string& option) {
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path.empty()) throw usage_error(option + ": empty path");
    fs::path p(path);
    fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec))
      throw usage_error(option + " '" + path + "': directory '" + dir.string() + "' does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
      throw usage_error(option + " '" + path + "': directory '" + dir.string() + "' is not writable");
    if (fs::is_directory(p, ec)) throw usage_error(option + " '" + path + "' is a directory");
    if (fs::exists(p, ec) && !overwrite)
      throw usage_error(option + " '" + path + "' already exists (pass --overwrite to replace it)");
  });
}

ArchiveWriter::ArchiveWriter(const dist::Comm& comm, std::string path)
    : comm_(comm), path_(std::move(path)), file_(File::create(comm, path_ + ".partial")) {}

ArchiveWriter::~ArchiveWriter() {
  if (committed_) return;
  file_.close();
  if (comm_.is_root()) std::remove((path_ + ".partial").c_str());
}

void ArchiveWriter::commit() {
  file_.close();
  dist::agree_on_success(comm_, [&] {
    if (!comm_.is_root()) return;
    std::error_code ec;
    std::filesystem::rename(path_ + ".partial", path_, ec);
    if (ec) throw output_error("cannot rename '" + path_ + ".partial' to '" + path_ + "': " + ec.message());
  });
  committed_ = true;
}

}  // namespace attnbench::io
