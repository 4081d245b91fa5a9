// dist::agree_on_success / dist::agree: an error raised on some ranks only is rethrown on every
// rank with the code and message of the lowest failing rank; success is silent; non-attnbench
// exceptions become internal errors. Also Comm::split sizes and typed collectives it relies on.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "test_comm.hpp"

using namespace attnbench;

namespace {

struct Caught {
  bool thrown = false;
  ExitCode code = ExitCode::ok;
  std::string message;
};

Caught run(const std::function<void()>& fn) {
  Caught c;
  try {
    dist::agree_on_success(testing_support::world(), fn);
  } catch (const Error& e) {
    c.thrown = true;
    c.code = e.code();
    c.message = e.what();
  } catch (...) {
    c.thrown = true;
    c.code = ExitCode::ok;
    c.message = "<not an attnbench::Error>";
  }
  return c;
}

}  // namespace

TEST(AgreeOnSuccess, SuccessThrowsNothing) {
  int calls = 0;
  const auto c = run([&] { ++calls; });
  EXPECT_FALSE(c.thrown) << c.message;
  EXPECT_EQ(calls, 1);  // fn runs exactly once per rank
}

TEST(AgreeOnSuccess, ErrorOnOneRankIsRethrownEverywhere) {
  const auto& comm = testing_support::world();
  for (int bad = 0; bad < comm.size(); ++bad) {
    const std::string msg = "input file 'x.h5': dataset /K is broken on rank " + std::to_string(bad);
    const auto c = run([&] {
      if (comm.rank() == bad) throw input_error(msg);
    });
    EXPECT_TRUE(c.thrown) << "rank " << comm.rank() << ", failing rank " << bad;
    EXPECT_EQ(c.code, ExitCode::input);
    EXPECT_EQ(c.message, msg);
  }
}

TEST(AgreeOnSuccess, LowestFailingRankWins) {
  const auto& comm = testing_support::world();
  // Every rank >= 1 fails with its own code and message (at one rank only rank 0 fails).
  const int first = comm.size() > 1 ? 1 : 0;
  const auto c = run([&] {
    if (comm.rank() >= first)
      throw Error(comm.rank() % 2 ? ExitCode::usage : ExitCode::output, "failure " + std::to_string(comm.rank()));
  });
  EXPECT_TRUE(c.thrown);
  EXPECT_EQ(c.code, first % 2 ? ExitCode::usage : ExitCode::output);
  EXPECT_EQ(c.message, "failure " + std::to_string(first));
}

TEST(AgreeOnSuccess, ForeignExceptionBecomesInternalError) {
  const auto& comm = testing_support::world();
  const int bad = comm.size() - 1;
  const auto c = run([&] {
    if (comm.rank() == bad) throw std::runtime_error("std::vector too long");
  });
  EXPECT_TRUE(c.thrown);
  EXPECT_EQ(c.code, ExitCode::internal);
  EXPECT_NE(c.message.find("std::vector too long"), std::string::npos) << c.message;
  // Long messages survive the broadcast intact.
  const std::string long_msg(5000, 'x');
  const auto l = run([&] {
    if (comm.rank() == bad) throw usage_error(long_msg);
  });
  EXPECT_EQ(l.message, long_msg);
  EXPECT_EQ(l.code, ExitCode::usage);
}

TEST(AgreeOnSuccess, AgreeWithKnownOutcome) {
  const auto& comm = testing_support::world();
  const Error e = input_error("local");
  bool thrown = false;
  try {
    dist::agree(comm, comm.rank() == comm.size() - 1 ? &e : nullptr);
  } catch (const Error& got) {
    thrown = true;
    EXPECT_EQ(got.code(), ExitCode::input);
    EXPECT_STREQ(got.what(), "local");
  }
  EXPECT_TRUE(thrown);
  EXPECT_NO_THROW(dist::agree(comm, nullptr));
}

TEST(CommSplit, SizesRanksAndCollectives) {
  const auto& world = testing_support::world();
  for (int s = 1; s <= world.size(); ++s) {
    const int color = world.rank() < s ? 0 : 1;
    const auto sub = world.split(color, world.rank());
    EXPECT_EQ(sub.size(), color == 0 ? s : world.size() - s);
    EXPECT_EQ(sub.rank(), color == 0 ? world.rank() : world.rank() - s);
    // A sum over the sub-communicator only sees its own members.
    EXPECT_EQ(sub.allreduce(1, dist::Op::sum), sub.size());
    const auto ranks = sub.allgather(world.rank());
    for (int r = 0; r < sub.size(); ++r) EXPECT_EQ(ranks[static_cast<std::size_t>(r)], (color == 0 ? 0 : s) + r);
  }
  // Reversed key order reverses ranks.
  const auto rev = world.split(0, world.size() - world.rank());
  EXPECT_EQ(rev.rank(), world.size() - 1 - world.rank());
}
