#include "grid/redistribute.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <numeric>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::grid {

namespace {
// dist::Comm has no reduce-scatter or all-to-all-v: the two MPI calls of this module are made
// here on comm.raw(), checked like Comm's own.
int count_int(std::int64_t n, const char* what) {
  if (n < 0 || n > INT_MAX) throw internal_error(std::string("MPI count out of int range in ") + what);
  return static_cast<int>(n);
}
std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> displs(counts.size(), 0);
  std::int64_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    displs[r] = count_int(total, "displacement");
    total += counts[r];
  }
  count_int(total, "total count");
  return displs;
}
// Global indices of the local rows / columns of process row prow / column pcol, in local order.
std::vector<GlobalIndex> my_rows(const BlockCyclicLayout& l, int prow) {
  std::vector<GlobalIndex> v;
  for (LocalIndex li{0}; li < LocalIndex{l.local_rows(prow)}; ++li) v.push_back(l.global_row(li, prow));
  return v;
}
std::vector<GlobalIndex> my_cols(const BlockCyclicLayout& l, int pcol) {
  std::vector<GlobalIndex> v;
  for (LocalIndex lj{0}; lj < LocalIndex{l.local_cols(pcol)}; ++lj) v.push_back(l.global_col(lj, pcol));
  return v;
}
void check_grid(const ProcessGrid& grid, const BlockCyclicLayout& layout, const char* what) {
  if (!(layout.grid() == grid.shape()))
    throw internal_error(std::string(what) + ": layout for a " + layout.grid().to_string() + " grid used on a " +
                         grid.shape().to_string() + " grid");
}
}  // namespace

template <class T>
BlockCyclicMatrix<T> reduce_scatter_to_block_cyclic(const ProcessGrid& grid, const BlockCyclicLayout& layout,
                                                    const Matrix<T>& partial) {
  check_grid(grid, layout, "reduce_scatter_to_block_cyclic");
  // A caller's shape bug may be on some ranks only: agree before the collective (one Allreduce).
  dist::agree_on_success(grid.comm(), [&] {
    if (partial.rows() != layout.rows() || partial.cols() != layout.cols())
      throw internal_error("reduce_scatter_to_block_cyclic: partial matrix shape does not match the layout");
  });
  const int p = grid.comm().size();
  const GridShape g = grid.shape();
  // Pack by destination rank, each destination's entries in its local column-major order, so the
  // received segment is its dense local block.
  std::vector<int> counts(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) counts[static_cast<std::size_t>(r)] = count_int(layout.local_size_of_rank(r), "counts");
  const std::vector<int> displs = displacements(counts);
  std::vector<T> send(static_cast<std::size_t>(partial.size()));
  for (int r = 0; r < p; ++r) {
    const auto rows = my_rows(layout, g.row_of(r));
    const auto cols = my_cols(layout, g.col_of(r));
    T* out = send.data() + displs[static_cast<std::size_t>(r)];
    for (const GlobalIndex j : cols)
      for (const GlobalIndex i : rows) *out++ = partial(i.value(), j.value());
  }
  BlockCyclicMatrix<T> A(layout, grid);
  std::vector<T> recv(static_cast<std::size_t>(std::max(1, counts[static_cast<std::size_t>(grid.comm().rank())])));
  dist::check_mpi(MPI_Reduce_scatter(send.data(), recv.data(), counts.data(), dist::mpi_type<T>(), MPI_SUM,
                                     grid.comm().raw()),
                  "MPI_Reduce_scatter");
  const std::int64_t lr = A.local_rows();
  for (std::int64_t lj = 0; lj < A.local_cols(); ++lj)
    std::copy_n(recv.data() + lj * lr, lr, &A.at(LocalElementIndex{0, lj}));
  return A;
}

template <class T>
Matrix<T> gather_replicated(const ProcessGrid& grid, const BlockCyclicMatrix<T>& A) {
  const BlockCyclicLayout& layout = A.layout();
  check_grid(grid, layout, "gather_replicated");
  const int p = grid.comm().size();
  const GridShape g = grid.shape();
  std::vector<int> counts(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) counts[static_cast<std::size_t>(r)] = count_int(layout.local_size_of_rank(r), "counts");
  const std::vector<int> displs = displacements(counts);
  // The dense local block (drop the lld padding of a process with no rows).
  std::vector<T> mine(static_cast<std::size_t>(A.local_rows() * A.local_cols()));
  for (std::int64_t lj = 0; lj < A.local_cols(); ++lj)
    std::copy_n(&A.at(LocalElementIndex{0, lj}), A.local_rows(), mine.data() + lj * A.local_rows());
  std::vector<T> all(static_cast<std::size_t>(std::max<std::int64_t>(1, layout.rows() * layout.cols())));
  grid.comm().allgatherv<T>(std::span<const T>(mine), std::span<T>(all), counts);
  Matrix<T> out(layout.rows(), layout.cols());
  for (int r = 0; r < p; ++r) {
    const auto rows = my_rows(layout, g.row_of(r));
    const auto cols = my_cols(layout, g.col_of(r));
    const T* in = all.data() + displs[static_cast<std::size_t>(r)];
    for (const GlobalIndex j : cols)
      for (const GlobalIndex i : rows) out(i.value(), j.value()) = *in++;
  }
  return out;
}

namespace {
// The entries rank s (block rows) sends to rank r (block-cyclic): rows of s's range owned by r's
// process row, ascending; within each, the columns owned by r's process column, ascending. Both
// sides enumerate the same sequence, so no indices travel. f gets the entry's global index.
template <class F>
void for_each_exchanged(const BlockCyclicLayout& layout, const dist::BlockRowLayout& rows, int s,
                        const std::vector<GlobalIndex>& r_cols, int r_prow, F&& f) {
  const GlobalIndex i0{rows.row_offset(s)}, i1{rows.row_offset(s) + rows.local_rows(s)};
  for (GlobalIndex i = i0; i < i1; ++i) {
    if (layout.row_owner(i) != r_prow) continue;
    for (const GlobalIndex j : r_cols) f(GlobalElementIndex{i, j});
  }
}
std::int64_t exchanged_count(const BlockCyclicLayout& layout, const dist::BlockRowLayout& rows, int s, int r) {
  const GridShape g = layout.grid();
  const std::int64_t i0 = rows.row_offset(s), i1 = i0 + rows.local_rows(s);
  std::int64_t n_rows = 0;
  for (GlobalIndex i{i0}; i < GlobalIndex{i1}; ++i) n_rows += layout.row_owner(i) == g.row_of(r) ? 1 : 0;
  return n_rows * layout.local_cols(g.col_of(r));
}
// The counts, displacements and buffers of the one Alltoallv between block rows and block-cyclic:
// rank s sends rank r exchanged_count(s, r) entries to the block-cyclic side, and the reverse
// exchange swaps the roles.
template <class T>
struct Exchange {
  std::vector<int> scounts, rcounts, sdispls, rdispls;
  std::vector<T> send, recv;
};
template <class T>
Exchange<T> plan_exchange(const BlockCyclicLayout& layout, const dist::BlockRowLayout& rows, int p, int me,
                          bool to_block_cyclic) {
  Exchange<T> x;
  x.scounts.resize(static_cast<std::size_t>(p));
  x.rcounts.resize(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    const std::int64_t me_to_r = exchanged_count(layout, rows, me, r), r_to_me = exchanged_count(layout, rows, r, me);
    x.scounts[static_cast<std::size_t>(r)] = count_int(to_block_cyclic ? me_to_r : r_to_me, "send counts");
    x.rcounts[static_cast<std::size_t>(r)] = count_int(to_block_cyclic ? r_to_me : me_to_r, "receive counts");
  }
  x.sdispls = displacements(x.scounts);
  x.rdispls = displacements(x.rcounts);
  x.send.resize(static_cast<std::size_t>(std::max(1, std::accumulate(x.scounts.begin(), x.scounts.end(), 0))));
  x.recv.resize(static_cast<std::size_t>(std::max(1, std::accumulate(x.rcounts.begin(), x.rcounts.end(), 0))));
  return x;
}
void check_rows(const ProcessGrid& grid, const BlockCyclicLayout& layout, const dist::BlockRowLayout& rows,
                const char* what) {
  check_grid(grid, layout, what);
  if (rows.global_rows() != layout.rows() || rows.ranks() != grid.comm().size())
    throw internal_error(std::string(what) + ": block-row layout does not match the matrix or the communicator");
}
}  // namespace

template <class T>
BlockCyclicMatrix<T> block_rows_to_block_cyclic(const ProcessGrid& grid, const BlockCyclicLayout& layout,
                                                const dist::BlockRowLayout& rows, const Matrix<T>& local_rows) {
  check_rows(grid, layout, rows, "block_rows_to_block_cyclic");
  const int p = grid.comm().size(), me = grid.comm().rank();
  const GridShape g = grid.shape();
  dist::agree_on_success(grid.comm(), [&] {
    if (local_rows.rows() != rows.local_rows(me) || (local_rows.rows() > 0 && local_rows.cols() != layout.cols()))
      throw internal_error("block_rows_to_block_cyclic: local rows do not match the block-row layout");
  });
  auto [scounts, rcounts, sdispls, rdispls, send, recv] = plan_exchange<T>(layout, rows, p, me, true);
  const std::int64_t row0 = rows.row_offset(me);
  for (int r = 0; r < p; ++r) {
    T* out = send.data() + sdispls[static_cast<std::size_t>(r)];
    for_each_exchanged(layout, rows, me, my_cols(layout, g.col_of(r)), g.row_of(r), [&](GlobalElementIndex e) {
      *out++ = local_rows(e.row().value() - row0, e.col().value());
    });
  }
  dist::check_mpi(MPI_Alltoallv(send.data(), scounts.data(), sdispls.data(), dist::mpi_type<T>(), recv.data(),
                                rcounts.data(), rdispls.data(), dist::mpi_type<T>(), grid.comm().raw()),
                  "MPI_Alltoallv");
  BlockCyclicMatrix<T> A(layout, grid);
  const auto cols = my_cols(layout, grid.my_col());
  for (int s = 0; s < p; ++s) {
    const T* in = recv.data() + rdispls[static_cast<std::size_t>(s)];
    for_each_exchanged(layout, rows, s, cols, grid.my_row(),
                       [&](GlobalElementIndex e) { A.at(layout.local_index(e)) = *in++; });
  }
  return A;
}

template <class T>
Matrix<T> block_cyclic_to_block_rows(const ProcessGrid& grid, const BlockCyclicMatrix<T>& A,
                                     const dist::BlockRowLayout& rows) {
  const BlockCyclicLayout& layout = A.layout();
  check_rows(grid, layout, rows, "block_cyclic_to_block_rows");
  const int p = grid.comm().size(), me = grid.comm().rank();
  const GridShape g = grid.shape();
  // The reverse of block_rows_to_block_cyclic: the same per-pair sequences, roles swapped.
  auto [scounts, rcounts, sdispls, rdispls, send, recv] = plan_exchange<T>(layout, rows, p, me, false);
  const auto cols = my_cols(layout, grid.my_col());
  for (int r = 0; r < p; ++r) {
    T* out = send.data() + sdispls[static_cast<std::size_t>(r)];
    for_each_exchanged(layout, rows, r, cols, grid.my_row(),
                       [&](GlobalElementIndex e) { *out++ = A.at(layout.local_index(e)); });
  }
  dist::check_mpi(MPI_Alltoallv(send.data(), scounts.data(), sdispls.data(), dist::mpi_type<T>(), recv.data(),
                                rcounts.data(), rdispls.data(), dist::mpi_type<T>(), grid.comm().raw()),
                  "MPI_Alltoallv");
  Matrix<T> out(rows.local_rows(me), layout.cols());
  const std::int64_t row0 = rows.row_offset(me);
  for (int s = 0; s < p; ++s) {
    const T* in = recv.data() + rdispls[static_cast<std::size_t>(s)];
    for_each_exchanged(layout, rows, me, my_cols(layout, g.col_of(s)), g.row_of(s), [&](GlobalElementIndex e) {
      out(e.row().value() - row0, e.col().value()) = *in++;
    });
  }
  return out;
}

template <class T>
double symmetrize_from_lower(BlockCyclicMatrix<T>& A) {
  const std::int64_t n = A.rows();
  if (A.cols() != n) throw internal_error("symmetrize_from_lower: the matrix is not square");
  if (n == 0) return 0.0;
  BlockCyclicMatrix<T> At = A;  // same layout (square blocks): At := A^T
  linalg::ptran(n, n, T(1), A.data(), A.descriptor(), T(0), At.data(), At.descriptor());
  const double a_norm = linalg::pnorm_inf(n, n, A.data(), A.descriptor());
  double asym = 0.0;
  {
    BlockCyclicMatrix<T> D = At;  // A^T - A, for the norm only
    A.for_each_local([&](LocalElementIndex l) { D.at(l) -= A.at(l); });
    asym = linalg::pnorm_inf(n, n, D.data(), D.descriptor());
  }
  // A's strict upper triangle := the transposed strict lower triangle (exact copies).
  A.for_each_local([&](LocalElementIndex l) {
    const GlobalElementIndex g = A.global_index(l);
    if (g.row() < g.col()) A.at(l) = At.at(l);
  });
  return a_norm > 0 ? asym / a_norm : 0.0;
}

std::vector<io::Hyperslab> block_cyclic_selection(const BlockCyclicLayout& layout, int prow, int pcol) {
  // Per dimension: the whole blocks the process owns (one regular pattern) and, if the last block
  // is partial and its own, that block. The selection is the product of the two dimensions.
  struct Span {
    std::int64_t start, stride, count, block;
  };
  const auto spans = [](std::int64_t n, std::int64_t nb, int q, int p) {
    std::vector<Span> out;
    const std::int64_t full = n / nb;  // number of whole blocks
    if (full > q) out.push_back({q * nb, p * nb, (full - 1 - q) / p + 1, nb});
    if (n % nb != 0 && full % p == q) out.push_back({full * nb, nb, 1, n % nb});
    return out;
  };
  const GridShape g = layout.grid();
  std::vector<io::Hyperslab> sel;
  for (const Span& r : spans(layout.rows(), layout.row_block(), prow, g.rows))
    for (const Span& c : spans(layout.cols(), layout.col_block(), pcol, g.cols))
      sel.push_back({{r.start, c.start}, {r.stride, c.stride}, {r.count, c.count}, {r.block, c.block}});
  return sel;
}

template <class T>
BlockCyclicMatrix<T> read_block_cyclic(const ProcessGrid& grid, const io::File& file, const std::string& name,
                                       const BlockCyclicLayout& layout) {
  check_grid(grid, layout, "read_block_cyclic");
  BlockCyclicMatrix<T> A(layout, grid);
  const std::int64_t lr = A.local_rows(), lc = A.local_cols();
  // The file's row-major order of the selection is the local row-major order (local indices grow
  // with global ones); transpose into the column-major local block.
  std::vector<T> row_major(static_cast<std::size_t>(lr * lc));
  file.read_selection<T>(name, block_cyclic_selection(layout, grid.my_row(), grid.my_col()), lr * lc,
                         row_major.data());
  for (std::int64_t li = 0; li < lr; ++li)
    for (std::int64_t lj = 0; lj < lc; ++lj) A.at(LocalElementIndex{li, lj}) = row_major[static_cast<std::size_t>(li * lc + lj)];
  return A;
}

template <class T>
void write_block_cyclic(const ProcessGrid& grid, io::File& file, const std::string& name, const BlockCyclicMatrix<T>& A) {
  const BlockCyclicLayout& layout = A.layout();
  check_grid(grid, layout, "write_block_cyclic");
  const std::int64_t lr = A.local_rows(), lc = A.local_cols();
  std::vector<T> row_major(static_cast<std::size_t>(lr * lc));
  for (std::int64_t li = 0; li < lr; ++li)
    for (std::int64_t lj = 0; lj < lc; ++lj) row_major[static_cast<std::size_t>(li * lc + lj)] = A.at(LocalElementIndex{li, lj});
  file.write_selection<T>(name, layout.rows(), layout.cols(),
                          block_cyclic_selection(layout, grid.my_row(), grid.my_col()), lr * lc, row_major.data());
}

#define ATTNBENCH_INSTANTIATE(T)                                                                                   \
  template BlockCyclicMatrix<T> reduce_scatter_to_block_cyclic<T>(const ProcessGrid&, const BlockCyclicLayout&,   \
                                                                  const Matrix<T>&);                              \
  template Matrix<T> gather_replicated<T>(const ProcessGrid&, const BlockCyclicMatrix<T>&);                       \
  template BlockCyclicMatrix<T> block_rows_to_block_cyclic<T>(const ProcessGrid&, const BlockCyclicLayout&,       \
                                                              const dist::BlockRowLayout&, const Matrix<T>&);     \
  template Matrix<T> block_cyclic_to_block_rows<T>(const ProcessGrid&, const BlockCyclicMatrix<T>&,               \
                                                   const dist::BlockRowLayout&);                                  \
  template BlockCyclicMatrix<T> read_block_cyclic<T>(const ProcessGrid&, const io::File&, const std::string&,     \
                                                     const BlockCyclicLayout&);                                   \
  template void write_block_cyclic<T>(const ProcessGrid&, io::File&, const std::string&, const BlockCyclicMatrix<T>&); \
  template double symmetrize_from_lower<T>(BlockCyclicMatrix<T>&);
ATTNBENCH_INSTANTIATE(double)
ATTNBENCH_INSTANTIATE(float)
#undef ATTNBENCH_INSTANTIATE

}  // namespace attnbench::grid
