// attention::sample_rows: the validation sample. Distinct, sorted, in range, a pure function of
// (n, count, seed), all rows when count >= n, and unbiased (every row equally likely).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "attention/exact/validation.hpp"

using attnbench::attention::sample_rows;

TEST(SampleRows, DistinctSortedInRange) {
  for (std::int64_t n : {1, 2, 5, 64, 65, 1000, 1000003})
    for (std::int64_t count : {1, 2, 7, 64})
      for (std::uint64_t seed : {0ULL, 1ULL, 42ULL, ~0ULL}) {
        const auto rows = sample_rows(n, count, seed);
        ASSERT_EQ(static_cast<std::int64_t>(rows.size()), std::min(n, count)) << "n=" << n << " count=" << count;
        ASSERT_TRUE(std::is_sorted(rows.begin(), rows.end()));
        ASSERT_EQ(std::adjacent_find(rows.begin(), rows.end()), rows.end()) << "duplicate row";
        for (auto r : rows) {
          ASSERT_GE(r, 0);
          ASSERT_LT(r, n);
        }
      }
}

TEST(SampleRows, Deterministic) {
  EXPECT_EQ(sample_rows(100000, 64, 42), sample_rows(100000, 64, 42));
  EXPECT_NE(sample_rows(100000, 64, 42), sample_rows(100000, 64, 43));
  // The sample does not depend on anything but its arguments (no hidden state across calls).
  const auto a = sample_rows(777, 10, 5);
  (void)sample_rows(777, 10, 6);
  EXPECT_EQ(sample_rows(777, 10, 5), a);
}

TEST(SampleRows, AllRowsWhenCountCoversN) {
  for (std::int64_t n : {0, 1, 3, 64}) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(sample_rows(n, n, 9), all);
    EXPECT_EQ(sample_rows(n, n + 1, 9), all);
    EXPECT_EQ(sample_rows(n, 1000000, 9), all);
  }
  EXPECT_TRUE(sample_rows(10, 0, 1).empty());
}

TEST(SampleRows, Unbiased) {
  // Over many seeds each of n rows is picked with probability count / n.
  const std::int64_t n = 10, count = 3;
  const int seeds = 20000;
  std::vector<int> hits(n, 0);
  for (int s = 0; s < seeds; ++s)
    for (auto r : sample_rows(n, count, static_cast<std::uint64_t>(s))) ++hits[static_cast<std::size_t>(r)];
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(hits[static_cast<std::size_t>(i)] / static_cast<double>(seeds), 0.3, 0.02) << "row " << i;
}
