#pragma once
// Helpers shared by the MPI tests: a scratch directory agreed across ranks and gathering a
// block-row distributed matrix onto every rank.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "dist/comm.hpp"
#include "dist/layout.hpp"

namespace attnbench::testing_support {

// A fresh directory created by rank 0 and known to every rank of comm; removed with its contents
// when the last copy of the object on rank 0 goes away. Collective (constructor and destructor).
class ScratchDir {
 public:
  explicit ScratchDir(const dist::Comm& comm) : comm_(comm) {
    if (comm.is_root()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "attnbench-test-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) tmpl.clear();
      path_ = tmpl;
    }
    comm.bcast(path_, 0);
  }
  ~ScratchDir() {
    comm_.barrier();
    if (comm_.is_root() && !path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  dist::Comm comm_;
  std::string path_;
};

// The full matrix on every rank: MPI_Allgatherv of each rank's rows (n * cols elements in).
template <class T>
Matrix<T> gather_all_rows(const dist::Comm& comm, const dist::BlockRowLayout& lay, const Matrix<T>& local,
                          std::int64_t cols) {
  Matrix<T> all(lay.global_rows(), cols);
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) counts[static_cast<std::size_t>(r)] = static_cast<int>(lay.local_rows(r) * cols);
  comm.allgatherv<T>(local.span(), all.span(), counts);
  return all;
}

}  // namespace attnbench::testing_support
