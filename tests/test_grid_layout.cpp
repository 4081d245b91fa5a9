// BlockCyclicLayout and the grid-shape helpers without MPI: local sizes against ScaLAPACK's own
// NUMROC, global <-> local maps as inverse bijections, the typed indices that keep them apart, the
// descriptor, clamped blocks, empty ranks.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <type_traits>

#include "core/error.hpp"
#include "grid/block_cyclic.hpp"
#include "grid/dist_matrix.hpp"
#include "grid/index.hpp"
#include "grid/process_grid.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::grid {
namespace {

TEST(GridLayout, NumrocMatchesScalapack) {
  for (std::int64_t n : {0, 1, 2, 5, 7, 16, 17, 100, 257})
    for (std::int64_t nb : {1, 2, 3, 4, 8, 64})
      for (int p : {1, 2, 3, 4, 5})
        for (int q = 0; q < p; ++q)
          EXPECT_EQ(numroc(n, nb, q, p), linalg::numroc(n, nb, q, p)) << n << " " << nb << " " << q << "/" << p;
}

TEST(GridLayout, HandComputedExample) {
  // 10 rows in blocks of 3 over 2 process rows: blocks 0 (rows 0-2) and 2 (6-8) on row 0,
  // blocks 1 (3-5) and 3 (row 9) on row 1.
  const BlockCyclicLayout l(10, 4, 3, 2, GridShape{2, 2});
  EXPECT_EQ(l.local_rows(0), 6);
  EXPECT_EQ(l.local_rows(1), 4);
  EXPECT_EQ(l.local_cols(0), 2);
  EXPECT_EQ(l.local_cols(1), 2);
  EXPECT_EQ(l.row_owner(GlobalIndex{7}), 0);
  EXPECT_EQ(l.local_row(GlobalIndex{7}).value(), 4);
  EXPECT_EQ(l.row_owner(GlobalIndex{9}), 1);
  EXPECT_EQ(l.local_row(GlobalIndex{9}).value(), 3);
  EXPECT_EQ(l.global_row(LocalIndex{3}, 1).value(), 9);
  EXPECT_EQ(l.col_owner(GlobalIndex{3}), 1);
  EXPECT_EQ(l.local_col(GlobalIndex{3}).value(), 1);
  EXPECT_EQ(l.owner_rank(GlobalElementIndex{9, 3}), 3);  // row-major: (1, 1) is rank 3
  // The 2-D maps: global (9, 3) is local (3, 1) on process (1, 1), and back.
  EXPECT_TRUE(l.local_index(GlobalElementIndex{9, 3}) == (LocalElementIndex{3, 1}));
  EXPECT_TRUE(l.global_index(LocalElementIndex{3, 1}, 1, 1) == (GlobalElementIndex{9, 3}));
  const Descriptor d = l.descriptor(7, 1);
  EXPECT_EQ(d, (Descriptor{1, 7, 10, 4, 3, 2, 0, 0, 4}));
}

// Global and local indices do not mix: a conversion, an owner query or a matrix access takes only
// the index space it is written for, and no integer becomes an index without saying which.
template <class I>
concept LocalRowArgument = requires(const BlockCyclicLayout& l, I i) { l.local_row(i); };
template <class I>
concept GlobalRowArgument = requires(const BlockCyclicLayout& l, I i) { l.global_row(i, 0); };
template <class I>
concept OwnerArgument = requires(const BlockCyclicLayout& l, I i) { l.owner_rank(i); };
template <class I>
concept AtArgument = requires(BlockCyclicMatrix<double>& m, I i) { m.at(i); };
template <class E>
concept HasOnDiagonal = requires(E e) { e.on_diagonal(); };

TEST(GridLayout, GlobalAndLocalIndicesDoNotMix) {
  static_assert(LocalRowArgument<GlobalIndex> && !LocalRowArgument<LocalIndex> && !LocalRowArgument<std::int64_t>);
  static_assert(GlobalRowArgument<LocalIndex> && !GlobalRowArgument<GlobalIndex> && !GlobalRowArgument<std::int64_t>);
  static_assert(OwnerArgument<GlobalElementIndex> && !OwnerArgument<LocalElementIndex>);
  static_assert(AtArgument<LocalElementIndex> && !AtArgument<GlobalElementIndex>);
  static_assert(!std::is_convertible_v<std::int64_t, GlobalIndex> && !std::is_convertible_v<std::int64_t, LocalIndex>);
  static_assert(!std::is_convertible_v<GlobalIndex, LocalIndex> && !std::is_convertible_v<LocalIndex, GlobalIndex>);
  static_assert(!std::is_convertible_v<GlobalElementIndex, LocalElementIndex>);
  // Only a global index knows the diagonal: local (1, 1) of process (0, 1) is global (1, 3) here.
  static_assert(HasOnDiagonal<GlobalElementIndex> && !HasOnDiagonal<LocalElementIndex>);
  const BlockCyclicLayout l(6, 6, 2, 2, GridShape{1, 2});
  EXPECT_FALSE(l.global_index(LocalElementIndex{1, 1}, 0, 1).on_diagonal());
  EXPECT_TRUE(l.global_index(LocalElementIndex{1, 1}, 0, 0).on_diagonal());
  EXPECT_EQ(l.global_index(LocalElementIndex{1, 1}, 0, 1).col().value(), 3);
}

TEST(GridLayout, MapsAreInverseAndCoverEveryEntryOnce) {
  for (GridShape g : {GridShape{1, 1}, GridShape{1, 2}, GridShape{2, 1}, GridShape{2, 2}, GridShape{1, 3},
                      GridShape{3, 1}, GridShape{2, 3}})
    for (auto [m, n, mb, nb] : std::vector<std::array<std::int64_t, 4>>{
             {1, 1, 1, 1}, {7, 5, 2, 3}, {13, 11, 4, 4}, {2, 9, 1, 2}, {5, 5, 64, 64}, {17, 3, 4, 8}}) {
      const BlockCyclicLayout l(m, n, mb, nb, g);
      std::int64_t total = 0;
      for (int r = 0; r < g.size(); ++r) total += l.local_size_of_rank(r);
      EXPECT_EQ(total, m * n);
      for (GlobalIndex i{0}; i < GlobalIndex{m}; ++i) {
        const int pr = l.row_owner(i);
        ASSERT_LT(l.local_row(i).value(), l.local_rows(pr));
        EXPECT_EQ(l.global_row(l.local_row(i), pr).value(), i.value());
      }
      for (GlobalIndex j{0}; j < GlobalIndex{n}; ++j) {
        const int pc = l.col_owner(j);
        ASSERT_LT(l.local_col(j).value(), l.local_cols(pc));
        EXPECT_EQ(l.global_col(l.local_col(j), pc).value(), j.value());
      }
      for (int pr = 0; pr < g.rows; ++pr) {
        EXPECT_GE(l.lld(pr), 1);
        std::set<std::int64_t> seen;
        for (LocalIndex li{0}; li < LocalIndex{l.local_rows(pr)}; ++li) seen.insert(l.global_row(li, pr).value());
        EXPECT_EQ(static_cast<std::int64_t>(seen.size()), l.local_rows(pr));
      }
    }
}

TEST(GridLayout, BlockLargerThanMatrixIsClamped) {
  const BlockCyclicLayout l(5, 3, 64, 64, GridShape{2, 2});
  EXPECT_EQ(l.row_block(), 5);
  EXPECT_EQ(l.col_block(), 3);
  EXPECT_EQ(l.local_rows(0), 5);
  EXPECT_EQ(l.local_rows(1), 0);  // a process row with nothing
  EXPECT_EQ(l.lld(1), 1);         // ... still has lld 1 for ScaLAPACK
  EXPECT_EQ(l.local_size(1, 1), 0);
  EXPECT_EQ(l.descriptor(0, 1)[8], 1);
}

TEST(GridLayout, ProcessWithNoRows) {
  // 2 rows in blocks of 1 over 3 process rows: row 2 owns nothing.
  const BlockCyclicLayout l(2, 4, 1, 2, GridShape{3, 1});
  EXPECT_EQ(l.local_rows(0), 1);
  EXPECT_EQ(l.local_rows(1), 1);
  EXPECT_EQ(l.local_rows(2), 0);
  EXPECT_EQ(l.lld(2), 1);
}

TEST(GridLayout, RejectsBadArguments) {
  EXPECT_THROW(BlockCyclicLayout(-1, 2, 1, 1, GridShape{1, 1}), std::invalid_argument);
  EXPECT_THROW(BlockCyclicLayout(2, 2, 0, 1, GridShape{1, 1}), std::invalid_argument);
  EXPECT_THROW(BlockCyclicLayout(2, 2, 1, 1, GridShape{0, 1}), std::invalid_argument);
}

TEST(GridShapes, Squarest) {
  EXPECT_EQ(squarest_shape(1), (GridShape{1, 1}));
  EXPECT_EQ(squarest_shape(2), (GridShape{1, 2}));
  EXPECT_EQ(squarest_shape(3), (GridShape{1, 3}));
  EXPECT_EQ(squarest_shape(4), (GridShape{2, 2}));
  EXPECT_EQ(squarest_shape(6), (GridShape{2, 3}));
  EXPECT_EQ(squarest_shape(7), (GridShape{1, 7}));
  EXPECT_EQ(squarest_shape(12), (GridShape{3, 4}));
  EXPECT_EQ(squarest_shape(16), (GridShape{4, 4}));
}

TEST(GridShapes, Parse) {
  EXPECT_EQ(parse_grid_shape("2x3", 6), (GridShape{2, 3}));
  EXPECT_EQ(parse_grid_shape("3X1", 3), (GridShape{3, 1}));
  EXPECT_EQ(parse_grid_shape("", 4), (GridShape{2, 2}));
  for (const char* bad : {"2x", "x2", "0x4", "2x2x1", "axb", "2 x 2", "-1x-4", "3x1"}) {
    try {
      parse_grid_shape(bad, 4);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << bad;
      EXPECT_NE(std::string(e.what()).find("--grid"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace attnbench::grid
