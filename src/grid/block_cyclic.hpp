#pragma once
// BlockCyclicLayout: the 2-D block-cyclic distribution of an m x n matrix over a p_r x p_c process
// grid, the ScaLAPACK way (first block on process (0, 0)). Global row i lies in row block i / mb,
// owned by process row (i / mb) mod p_r, at local row (i / (mb p_r)) mb + i mod mb; columns alike.
// Local blocks are stored COLUMN-major with leading dimension lld = max(1, local rows), as ScaLAPACK
// expects (descinit rejects lld = 0, and numroc legitimately returns 0 for a process with no rows).
//
// A value type with no MPI in it: everything is a pure function of (m, n, mb, nb, p_r, p_c), so it
// is unit-tested without MPI. The descriptor is built here (not with descinit_, which aborts the
// program on a bad argument instead of returning): the constructor checks what descinit checks.
// A block larger than the matrix is clamped to the matrix (at least 1), so a 5 x 5 matrix with
// block 64 is one block on process (0, 0) instead of an abort. Element indices are typed
// (grid/index.hpp): the global <-> local conversions below take and give GlobalIndex / LocalIndex.
#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "grid/index.hpp"
#include "linalg/scalapack.hpp"  // Descriptor (a plain std::array; no link dependency)

namespace attnbench::grid {

// The shape of a process grid (no MPI): rows x cols processes, rank order stated explicitly.
// Row-major order ("Row"): rank r is at (r / cols, r % cols). This is the only order attnbench
// uses; ProcessGrid checks that BLACS agrees.
struct GridShape {
  int rows = 1;
  int cols = 1;
  int size() const noexcept { return rows * cols; }
  int rank_of(int prow, int pcol) const noexcept { return prow * cols + pcol; }
  int row_of(int rank) const noexcept { return rank / cols; }
  int col_of(int rank) const noexcept { return rank % cols; }
  std::string to_string() const { return std::to_string(rows) + "x" + std::to_string(cols); }
  friend bool operator==(const GridShape&, const GridShape&) = default;
};

using linalg::Descriptor;

// Number of the n indices, in blocks of nb dealt round-robin over p processes, that process q
// owns (ScaLAPACK's NUMROC with source process 0). Can be 0.
constexpr std::int64_t numroc(std::int64_t n, std::int64_t nb, int q, int p) noexcept {
  const std::int64_t nblocks = n / nb;                 // whole blocks
  std::int64_t count = (nblocks / p) * nb;             // full rounds
  const std::int64_t extra = nblocks % p;              // whole blocks of the last round
  if (q < extra) count += nb;
  else if (q == extra) count += n % nb;                // the partial last block
  return count;
}

class BlockCyclicLayout {
 public:
  BlockCyclicLayout() = default;
  BlockCyclicLayout(std::int64_t m, std::int64_t n, std::int64_t mb, std::int64_t nb, GridShape grid)
      : m_(m), n_(n), grid_(grid) {
    if (m < 0 || n < 0) throw std::invalid_argument("BlockCyclicLayout: negative matrix size");
    if (mb < 1 || nb < 1) throw std::invalid_argument("BlockCyclicLayout: block size must be at least 1");
    if (grid.rows < 1 || grid.cols < 1) throw std::invalid_argument("BlockCyclicLayout: empty process grid");
    if (m > INT32_MAX || n > INT32_MAX) throw std::invalid_argument("BlockCyclicLayout: size exceeds ScaLAPACK's int");
    mb_ = std::min(mb, std::max<std::int64_t>(m, 1));
    nb_ = std::min(nb, std::max<std::int64_t>(n, 1));
  }

  std::int64_t rows() const noexcept { return m_; }
  std::int64_t cols() const noexcept { return n_; }
  std::int64_t row_block() const noexcept { return mb_; }
  std::int64_t col_block() const noexcept { return nb_; }
  GridShape grid() const noexcept { return grid_; }

  // Local sizes of process (prow, pcol); either can be 0.
  std::int64_t local_rows(int prow) const noexcept { return numroc(m_, mb_, prow, grid_.rows); }
  std::int64_t local_cols(int pcol) const noexcept { return numroc(n_, nb_, pcol, grid_.cols); }
  std::int64_t local_size(int prow, int pcol) const noexcept { return local_rows(prow) * local_cols(pcol); }
  std::int64_t local_size_of_rank(int rank) const noexcept {
    return local_size(grid_.row_of(rank), grid_.col_of(rank));
  }
  // Leading dimension of the column-major local block: at least 1 (ScaLAPACK requires it).
  std::int64_t lld(int prow) const noexcept { return std::max<std::int64_t>(1, local_rows(prow)); }

  // Global -> owner and local index (the local index on the owning process).
  int row_owner(GlobalIndex i) const noexcept { return static_cast<int>((i.value() / mb_) % grid_.rows); }
  int col_owner(GlobalIndex j) const noexcept { return static_cast<int>((j.value() / nb_) % grid_.cols); }
  int owner_rank(GlobalElementIndex g) const noexcept { return grid_.rank_of(row_owner(g.row()), col_owner(g.col())); }
  LocalIndex local_row(GlobalIndex i) const noexcept { return LocalIndex{local_of(i.value(), mb_, grid_.rows)}; }
  LocalIndex local_col(GlobalIndex j) const noexcept { return LocalIndex{local_of(j.value(), nb_, grid_.cols)}; }
  LocalElementIndex local_index(GlobalElementIndex g) const noexcept { return {local_row(g.row()), local_col(g.col())}; }
  // Local -> global on process row prow / column pcol.
  GlobalIndex global_row(LocalIndex li, int prow) const noexcept {
    return GlobalIndex{global_of(li.value(), mb_, prow, grid_.rows)};
  }
  GlobalIndex global_col(LocalIndex lj, int pcol) const noexcept {
    return GlobalIndex{global_of(lj.value(), nb_, pcol, grid_.cols)};
  }
  GlobalElementIndex global_index(LocalElementIndex l, int prow, int pcol) const noexcept {
    return {global_row(l.row(), prow), global_col(l.col(), pcol)};
  }

  // The ScaLAPACK descriptor of the local block of process row prow in BLACS context ctxt.
  Descriptor descriptor(int ctxt, int prow) const noexcept {
    return {1, ctxt, static_cast<int>(m_), static_cast<int>(n_), static_cast<int>(mb_), static_cast<int>(nb_),
            0, 0, static_cast<int>(lld(prow))};
  }

  friend bool operator==(const BlockCyclicLayout&, const BlockCyclicLayout&) = default;

 private:
  // One dimension: index i in blocks of b dealt over p processes.
  static constexpr std::int64_t local_of(std::int64_t i, std::int64_t b, int p) noexcept { return (i / (b * p)) * b + i % b; }
  static constexpr std::int64_t global_of(std::int64_t li, std::int64_t b, int q, int p) noexcept {
    return ((li / b) * p + q) * b + li % b;
  }
  std::int64_t m_ = 0, n_ = 0, mb_ = 1, nb_ = 1;
  GridShape grid_{};
};

}  // namespace attnbench::grid
