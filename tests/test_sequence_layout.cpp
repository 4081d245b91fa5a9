// SequenceLayout (contiguous, striped, zigzag) without MPI: every token owned exactly once,
// positions increasing on each rank, owner_of/local_index the inverse of position, n < p and n not
// divisible by 2p; the causal work balance of each layout (the reason striped and zigzag exist).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "attention/sequence_layout.hpp"

using namespace attnbench::attention;

TEST(SequenceLayout, EveryTokenOwnedOnceInIncreasingOrder) {
  for (LayoutKind k : {LayoutKind::contiguous, LayoutKind::striped, LayoutKind::zigzag})
    for (int p = 1; p <= 7; ++p)
      for (std::int64_t n : {0, 1, 2, 3, 5, 13, 14, 16, 29, 100}) {
        const SequenceLayout lay(k, n, p);
        std::vector<int> seen(static_cast<std::size_t>(n), 0);
        std::int64_t total = 0;
        for (int r = 0; r < p; ++r) {
          const auto pos = lay.positions(r);
          ASSERT_EQ(static_cast<std::int64_t>(pos.size()), lay.local_rows(r));
          EXPECT_TRUE(std::is_sorted(pos.begin(), pos.end()));
          for (std::size_t j = 0; j < pos.size(); ++j) {
            ASSERT_GE(pos[j], 0);
            ASSERT_LT(pos[j], n);
            ++seen[static_cast<std::size_t>(pos[j])];
            EXPECT_EQ(lay.owner_of(pos[j]), r);
            EXPECT_EQ(lay.local_index(pos[j]), static_cast<std::int64_t>(j));
          }
          total += lay.local_rows(r);
          EXPECT_LE(lay.local_rows(r), lay.max_local_rows());
        }
        EXPECT_EQ(total, n);
        for (int s : seen) EXPECT_EQ(s, 1) << to_string(k) << " n=" << n << " p=" << p;
      }
}

TEST(SequenceLayout, KnownPlacements) {
  const SequenceLayout z(LayoutKind::zigzag, 8, 2);  // chunks of 2: rank 0 {0,1,6,7}, rank 1 {2,3,4,5}
  EXPECT_EQ(z.positions(0), (std::vector<std::int64_t>{0, 1, 6, 7}));
  EXPECT_EQ(z.positions(1), (std::vector<std::int64_t>{2, 3, 4, 5}));
  const SequenceLayout s(LayoutKind::striped, 7, 3);
  EXPECT_EQ(s.positions(0), (std::vector<std::int64_t>{0, 3, 6}));
  EXPECT_EQ(s.positions(2), (std::vector<std::int64_t>{2, 5}));
  const SequenceLayout c(LayoutKind::contiguous, 7, 3);
  EXPECT_EQ(c.positions(1), (std::vector<std::int64_t>{3, 4}));
}

TEST(SequenceLayout, CausalWorkBalance) {
  // max / mean of causal score entries per rank, n = 4096: contiguous about 2p/(p+1)... (last rank
  // 2p-1 times the first), striped and zigzag within a fraction of a percent.
  const std::int64_t n = 4096;
  for (int p : {2, 4, 8}) {
    auto balance = [&](LayoutKind k) {
      const SequenceLayout lay(k, n, p);
      double mx = 0, sum = 0;
      for (int r = 0; r < p; ++r) {
        mx = std::max(mx, lay.causal_pairs(r));
        sum += lay.causal_pairs(r);
      }
      EXPECT_DOUBLE_EQ(sum, 0.5 * n * (n + 1));
      return mx / (sum / p);
    };
    EXPECT_GT(balance(LayoutKind::contiguous), 2.0 * p / (p + 1) - 0.01);
    EXPECT_LT(balance(LayoutKind::striped), 1.01);
    EXPECT_LT(balance(LayoutKind::zigzag), 1.0001);
    const SequenceLayout c(LayoutKind::contiguous, n, p);
    EXPECT_NEAR(c.causal_pairs(p - 1) / c.causal_pairs(0), 2 * p - 1, 0.01 * (2 * p - 1));
  }
}
