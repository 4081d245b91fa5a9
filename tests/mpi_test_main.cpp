// GoogleTest main for MPI tests. Every rank runs every test; after each test the ranks agree on
// its verdict (one MPI_Allreduce MAX), rank 0 reports a failure seen on any rank, only rank 0
// prints, and the process exit code is the agreed one on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <iostream>

#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"
#include "test_comm.hpp"

namespace {

class AgreeOnVerdicts : public testing::EmptyTestEventListener {
 public:
  explicit AgreeOnVerdicts(int rank) : rank_(rank) {}
  void OnTestEnd(const testing::TestInfo& info) override {
    int failed = info.result()->Failed() ? 1 : 0;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank_ == 0 && any && !failed)
      std::cout << "[  FAILED  ] " << info.test_suite_name() << "." << info.name() << " failed on another rank"
                << std::endl;
    if (any) ++failures_;
  }
  int failures() const { return failures_; }

 private:
  int rank_;
  int failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  attnbench::dist::Environment env(argc, argv);
  attnbench::io::silence_hdf5_errors();
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
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
