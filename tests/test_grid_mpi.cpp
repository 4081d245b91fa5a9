// The process grid and the redistribution collectives at 1-4 ranks, on every grid shape of
// test_shapes() that fits: round trips block rows <-> block-cyclic, block-cyclic -> replicated,
// partial sums -> owners, block-cyclic <-> HDF5 (checked against an independent row read), with
// sizes not divisible by the block, blocks larger than the matrix, processes with no rows, and
// grids on sub-communicators.
#include <gtest/gtest.h>

#include <array>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "grid/redistribute.hpp"
#include "mpi_test_util.hpp"
#include "test_grid_util.hpp"

namespace attnbench::grid {
namespace {

using testing_support::on_grid;
using testing_support::test_shapes;
using testing_support::world;

// Exactly representable in float and double, distinct for every entry.
double value(std::int64_t i, std::int64_t j) { return static_cast<double>(i * 1000 + j) + 0.5; }

// {m, n, mb, nb}: one entry, not divisible, square blocks, 2 rows over 3 process rows (a process
// with no rows), block larger than the matrix, tall thin.
const std::vector<std::array<std::int64_t, 4>> kSizes = {
    {1, 1, 1, 1}, {7, 5, 2, 3}, {13, 11, 4, 4}, {2, 6, 1, 2}, {5, 3, 64, 64}, {17, 2, 3, 5}};

template <class T>
void expect_values(const BlockCyclicMatrix<T>& A, double scale, const std::string& what) {
  int bad = 0;
  A.for_each_local([&](grid::LocalElementIndex l) {
    const grid::GlobalElementIndex g = A.global_index(l);
    if (A.at(l) != static_cast<T>(scale * value(g.row().value(), g.col().value()))) ++bad;
  });
  EXPECT_EQ(bad, 0) << what;
}

template <class T>
class GridRedistribution : public ::testing::Test {};
using Types = ::testing::Types<double, float>;
TYPED_TEST_SUITE(GridRedistribution, Types);

TEST(ProcessGrid, RowMajorCoordinatesOnEveryShape) {
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      EXPECT_EQ(g.rows(), shape.rows);
      EXPECT_EQ(g.cols(), shape.cols);
      EXPECT_EQ(g.my_row(), g.comm().rank() / shape.cols);
      EXPECT_EQ(g.my_col(), g.comm().rank() % shape.cols);
      EXPECT_GE(g.context(), 0);
    });
}

TEST(ProcessGrid, DefaultIsSquarestAndWrongShapeIsAUsageError) {
  const ProcessGrid g(world());
  EXPECT_EQ(g.shape(), squarest_shape(world().size()));
  try {
    const ProcessGrid bad(world(), GridShape{world().size() + 1, 1});
    ADD_FAILURE() << "a grid larger than the communicator was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(ProcessGrid, ManyGridsInSequenceAndAtOnce) {
  // Contexts are released: creating and destroying many grids must not run out of BLACS contexts.
  for (int k = 0; k < 50; ++k) {
    const ProcessGrid g(world());
    EXPECT_GE(g.context(), 0);
  }
  const ProcessGrid a(world()), b(world(), GridShape{world().size(), 1});
  EXPECT_NE(a.context(), b.context());
}

TYPED_TEST(GridRedistribution, BlockRowsRoundTrip) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [m, n, mb, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        const BlockCyclicLayout layout(m, n, mb, nb, shape);
        const dist::BlockRowLayout rows(m, g.comm().size());
        Matrix<T> mine(rows.local_rows(g.comm().rank()), n);
        for (std::int64_t i = 0; i < mine.rows(); ++i)
          for (std::int64_t j = 0; j < n; ++j) mine(i, j) = static_cast<T>(value(rows.row_offset(g.comm().rank()) + i, j));
        const auto A = block_rows_to_block_cyclic(g, layout, rows, mine);
        const std::string what = shape.to_string() + " " + std::to_string(m) + "x" + std::to_string(n);
        expect_values(A, 1.0, "block rows -> block-cyclic " + what);
        const Matrix<T> back = block_cyclic_to_block_rows(g, A, rows);
        EXPECT_EQ(back.rows(), mine.rows());
        EXPECT_TRUE(std::equal(back.span().begin(), back.span().end(), mine.span().begin())) << what;
      });
}

TYPED_TEST(GridRedistribution, ReplicatedAndPartialSums) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    for (auto [m, n, mb, nb] : kSizes)
      on_grid(shape, [&](const ProcessGrid& g) {
        const BlockCyclicLayout layout(m, n, mb, nb, shape);
        const std::string what = shape.to_string() + " " + std::to_string(m) + "x" + std::to_string(n);
        BlockCyclicMatrix<T> A(layout, g);
        A.fill([](std::int64_t i, std::int64_t j) { return value(i, j); });
        const Matrix<T> all = gather_replicated(g, A);
        int bad = 0;
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) bad += all(i, j) != static_cast<T>(value(i, j));
        EXPECT_EQ(bad, 0) << "replicated " << what;
        // Rank r contributes (r + 1) * value: the owners receive p (p + 1) / 2 * value.
        const int p = g.comm().size(), r = g.comm().rank();
        Matrix<T> partial(m, n);
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) partial(i, j) = static_cast<T>((r + 1) * value(i, j));
        const auto S = reduce_scatter_to_block_cyclic(g, layout, partial);
        expect_values(S, p * (p + 1) / 2.0, "reduce-scatter " + what);
        // Memory: each process holds only its share.
        EXPECT_EQ(static_cast<std::int64_t>(S.local().size()), S.lld() * S.local_cols());
      });
}

TYPED_TEST(GridRedistribution, Hdf5RoundTripAgainstRowReads) {
  using T = TypeParam;
  for (GridShape shape : test_shapes())
    on_grid(shape, [&](const ProcessGrid& g) {
      const testing_support::ScratchDir dir(g.comm());
      const std::string path = dir.file("bc.h5");
      {
        io::File f = io::File::create(g.comm(), path);
        for (std::size_t k = 0; k < kSizes.size(); ++k) {
          auto [m, n, mb, nb] = kSizes[k];
          BlockCyclicMatrix<T> A(BlockCyclicLayout(m, n, mb, nb, shape), g);
          A.fill([](std::int64_t i, std::int64_t j) { return value(i, j); });
          write_block_cyclic(g, f, "/M" + std::to_string(k), A);
        }
      }
      const io::File f = io::File::open_read(g.comm(), path);
      for (std::size_t k = 0; k < kSizes.size(); ++k) {
        auto [m, n, mb, nb] = kSizes[k];
        const std::string name = "/M" + std::to_string(k);
        // Independent check of the written file: every rank reads all rows with read_rows.
        const Matrix<T> rows = f.read_rows<T>(name, 0, m, n);
        int bad = 0;
        for (std::int64_t i = 0; i < m; ++i)
          for (std::int64_t j = 0; j < n; ++j) bad += rows(i, j) != static_cast<T>(value(i, j));
        EXPECT_EQ(bad, 0) << shape.to_string() << " " << name;
        // Read back into another block size (the file does not remember the layout).
        const auto B = read_block_cyclic<T>(g, f, name, BlockCyclicLayout(m, n, nb + 1, mb + 2, shape));
        expect_values(B, 1.0, "HDF5 read " + shape.to_string() + " " + name);
      }
    });
}

TEST(GridRedistribution, ReadConvertsFloatFileToDouble) {
  on_grid(GridShape{1, world().size()}, [&](const ProcessGrid& g) {
    const testing_support::ScratchDir dir(g.comm());
    const BlockCyclicLayout layout(9, 7, 2, 2, g.shape());
    {
      io::File f = io::File::create(g.comm(), dir.file("f.h5"));
      BlockCyclicMatrix<float> A(layout, g);
      A.fill([](std::int64_t i, std::int64_t j) { return value(i, j); });
      write_block_cyclic(g, f, "/A", A);
    }
    const io::File f = io::File::open_read(g.comm(), dir.file("f.h5"));
    expect_values(read_block_cyclic<double>(g, f, "/A", layout), 1.0, "float file read as double");
  });
}

TEST(GridRedistribution, TwoGridsOnDisjointSubCommunicators) {
  // Split the world in two halves; each half builds its own grid and redistributes at the same time.
  const dist::Comm& w = world();
  const int color = w.rank() % 2;
  const dist::Comm half = w.split(color, w.rank());
  const ProcessGrid g(half, GridShape{half.size(), 1});
  const BlockCyclicLayout layout(11, 4, 2, 3, g.shape());
  BlockCyclicMatrix<double> A(layout, g);
  A.fill([&](std::int64_t i, std::int64_t j) { return (color + 1) * value(i, j); });
  const Matrix<double> all = gather_replicated(g, A);
  int bad = 0;
  for (std::int64_t i = 0; i < 11; ++i)
    for (std::int64_t j = 0; j < 4; ++j) bad += all(i, j) != (color + 1) * value(i, j);
  EXPECT_EQ(bad, 0);
}

TEST(GridRedistribution, ShapeBugOnOneRankIsAnErrorOnEveryRank) {
  // Rank 0 passes a partial matrix of the wrong shape: every rank must throw (no hang).
  const ProcessGrid g(world());
  const BlockCyclicLayout layout(6, 5, 2, 2, g.shape());
  const Matrix<double> partial(g.comm().rank() == 0 ? 5 : 6, 5);
  EXPECT_THROW(reduce_scatter_to_block_cyclic(g, layout, partial), Error);
  const dist::BlockRowLayout rows(6, g.comm().size());
  const Matrix<double> mine(rows.local_rows(g.comm().rank()) + (g.comm().rank() == 0 ? 1 : 0), 5);
  EXPECT_THROW(block_rows_to_block_cyclic(g, layout, rows, mine), Error);
}

TEST(GridRedistribution, SelectionCoversOwnBlocksOnly) {
  // The hyperslab union of each process: disjoint across processes, covering the matrix.
  const GridShape shape{2, 3};
  const BlockCyclicLayout l(10, 8, 3, 3, shape);
  std::int64_t total = 0;
  for (int pr = 0; pr < 2; ++pr)
    for (int pc = 0; pc < 3; ++pc) {
      std::int64_t n = 0;
      for (const io::Hyperslab& h : block_cyclic_selection(l, pr, pc)) {
        n += h.count[0] * h.block[0] * h.count[1] * h.block[1];
        for (std::int64_t a = 0; a < h.count[0]; ++a)
          for (std::int64_t b = 0; b < h.count[1]; ++b) {
            EXPECT_EQ(l.row_owner(grid::GlobalIndex{h.start[0] + a * h.stride[0]}), pr);
            EXPECT_EQ(l.col_owner(grid::GlobalIndex{h.start[1] + b * h.stride[1]}), pc);
          }
      }
      EXPECT_EQ(n, l.local_size(pr, pc));
      total += n;
    }
  EXPECT_EQ(total, 80);
}

}  // namespace
}  // namespace attnbench::grid
