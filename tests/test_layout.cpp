#include <gtest/gtest.h>

#include "dist/layout.hpp"

using attnbench::dist::BlockRowLayout;

namespace {
// Every row has exactly one owner, blocks are contiguous and in rank order.
void check_partition(std::int64_t n, int p) {
  BlockRowLayout lay(n, p);
  std::int64_t next = 0;
  for (int r = 0; r < p; ++r) {
    EXPECT_EQ(lay.row_offset(r), next) << "n=" << n << " p=" << p << " r=" << r;
    EXPECT_GE(lay.local_rows(r), n / p);
    EXPECT_LE(lay.local_rows(r), n / p + 1);
    for (std::int64_t i = lay.row_offset(r); i < lay.row_offset(r) + lay.local_rows(r); ++i) {
      ASSERT_EQ(lay.owner_of(i), r) << "n=" << n << " p=" << p << " i=" << i;
      ASSERT_EQ(lay.local_index(i), i - lay.row_offset(r));
    }
    next += lay.local_rows(r);
  }
  EXPECT_EQ(next, n);
}
}  // namespace

TEST(BlockRowLayout, PartitionsEveryRowOnce) {
  for (std::int64_t n : {0, 1, 2, 3, 7, 10, 64, 1000, 1001})
    for (int p : {1, 2, 3, 4, 5, 7, 16}) check_partition(n, p);
}

TEST(BlockRowLayout, NotDivisible) {
  BlockRowLayout lay(10, 3);  // 4, 3, 3
  EXPECT_EQ(lay.local_rows(0), 4);
  EXPECT_EQ(lay.local_rows(1), 3);
  EXPECT_EQ(lay.local_rows(2), 3);
  EXPECT_EQ(lay.row_offset(2), 7);
  EXPECT_EQ(lay.owner_of(3), 0);
  EXPECT_EQ(lay.owner_of(4), 1);
  EXPECT_EQ(lay.max_local_rows(), 4);
}

TEST(BlockRowLayout, MoreRanksThanRows) {
  BlockRowLayout lay(3, 5);  // 1, 1, 1, 0, 0
  EXPECT_EQ(lay.local_rows(3), 0);
  EXPECT_EQ(lay.local_rows(4), 0);
  EXPECT_EQ(lay.row_offset(4), 3);
  EXPECT_EQ(lay.owner_of(2), 2);
}

TEST(BlockRowLayout, RejectsBadArguments) {
  EXPECT_THROW(BlockRowLayout(-1, 2), std::invalid_argument);
  EXPECT_THROW(BlockRowLayout(4, 0), std::invalid_argument);
}

// ---- MPI count and displacement checks (dist/comm.hpp): no silent int wrap-around -----------------
#include "core/error.hpp"
#include "dist/comm.hpp"

TEST(MpiCounts, CountsBeyondIntAreErrors) {
  EXPECT_EQ(attnbench::dist::checked_count(0), 0);
  EXPECT_EQ(attnbench::dist::checked_count(2147483647u), 2147483647);
  EXPECT_THROW(attnbench::dist::checked_count(2147483648u), attnbench::Error);
  EXPECT_THROW(attnbench::dist::checked_count(std::size_t{1} << 40), attnbench::Error);
}

TEST(MpiCounts, DisplacementsBeyondIntAreErrors) {
  const std::vector<int> ok = {5, 0, 7};
  EXPECT_EQ(attnbench::dist::checked_displacements(ok), (std::vector<int>{0, 5, 5}));
  const std::vector<int> big = {2000000000, 2000000000, 1};  // third displacement is 4e9
  EXPECT_THROW(attnbench::dist::checked_displacements(big), attnbench::Error);
  const std::vector<int> last_ok = {2000000000, 147483647};  // displacement 2e9 fits
  EXPECT_NO_THROW(attnbench::dist::checked_displacements(last_ok));
  const std::vector<int> negative = {1, -1};
  EXPECT_THROW(attnbench::dist::checked_displacements(negative), attnbench::Error);
}
