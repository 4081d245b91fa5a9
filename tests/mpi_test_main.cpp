// GoogleTest main for MPI tests. Every rank runs every test; after each test the ranks agree on
// its verdict (one MPI_Allreduce MAX); when it failed anywhere, rank 0 prints the failure messages
// of EVERY rank (gathered: one MPI_Gather of lengths, one MPI_Gatherv of the text); only rank 0
// prints, and the process exit code is the agreed one on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"
#include "linalg/blas.hpp"
#include "test_comm.hpp"

namespace {

class AgreeOnVerdicts : public testing::EmptyTestEventListener {
 public:
  explicit AgreeOnVerdicts(int rank) : rank_(rank) {}
  void OnTestEnd(const testing::TestInfo& info) override {
    int failed = info.result()->Failed() ? 1 : 0;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
      ++failures_;
      print_every_rank(info);
    }
  }
  int failures() const { return failures_; }

 private:
  // Rank 0 prints "rank r: file:line: message" for every failed assertion of every rank.
  void print_every_rank(const testing::TestInfo& info) const {
    std::string mine;
    const auto* result = info.result();
    for (int i = 0; i < result->total_part_count(); ++i) {
      const auto& part = result->GetTestPartResult(i);
      if (!part.failed()) continue;
      mine += "  rank " + std::to_string(rank_) + ": " + (part.file_name() ? part.file_name() : "?") + ":" +
              std::to_string(part.line_number()) + ": " + part.message() + "\n";
    }
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size), 0);
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size; ++r) {
      displs[static_cast<std::size_t>(r)] = total;
      total += lens[static_cast<std::size_t>(r)];
    }
    std::string all(static_cast<std::size_t>(rank_ == 0 ? total : 0), '\0');
    MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank_ == 0)
      std::cout << "[  FAILED  ] " << info.test_suite_name() << "." << info.name() << " on " << size
                << " ranks; failures by rank:\n"
                << all << std::flush;
  }
  int rank_;
  int failures_ = 0;
};

// Under OPENBLAS_CORETYPE (the CPU matrix of the suite: tests/CMakeLists.txt) the kernel family
// OpenBLAS actually dispatched to must be the one asked for, or the run would silently test the
// native family again. Same verdict on every rank (each process reads the same environment).
bool blas_family_as_requested(int rank) {
  const char* want = std::getenv("OPENBLAS_CORETYPE");
  if (want == nullptr || *want == '\0') return true;
  const std::string got = attnbench::linalg::blas_core();
  const bool same = std::equal(got.begin(), got.end(), want, want + std::strlen(want),
                               [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  if (rank == 0)
    std::cout << (same ? "[ OpenBLAS ] kernel family " + got + " (OPENBLAS_CORETYPE=" + want + ")\n"
                       : std::string("[  FAILED  ] OPENBLAS_CORETYPE=") + want + " but OpenBLAS runs the " + got +
                             " kernels\n")
              << std::flush;
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  attnbench::dist::Environment env(argc, argv);
  attnbench::io::silence_hdf5_errors();
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (!blas_family_as_requested(rank)) return 1;
  attnbench::testing_support::set_world(attnbench::dist::Comm::borrow(MPI_COMM_WORLD));
  auto& listeners = testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) delete listeners.Release(listeners.default_result_printer());
  auto* agree = new AgreeOnVerdicts(rank);
  listeners.Append(agree);
  const int local = RUN_ALL_TESTS();
  int result = 0;
  MPI_Allreduce(&local, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return (result != 0 || agree->failures() != 0) ? 1 : 0;
}
