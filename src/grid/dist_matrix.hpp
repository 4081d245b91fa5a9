#pragma once
// BlockCyclicMatrix<T>: one process's share of a block-cyclic distributed matrix - the layout, the
// process's grid coordinates and its local block, COLUMN-major with leading dimension lld >= 1
// (exactly what ScaLAPACK is handed). Memory per rank: lld x local_cols elements, about
// m n / (p_r p_c) plus at most one block row and column of imbalance.
#include <cstdint>
#include <vector>

#include "grid/block_cyclic.hpp"
#include "linalg/scalapack.hpp"
#include "grid/process_grid.hpp"

namespace attnbench::grid {

template <class T>
class BlockCyclicMatrix {
 public:
  BlockCyclicMatrix() = default;
  // Zero-filled share of this process of `grid`.
  BlockCyclicMatrix(const BlockCyclicLayout& layout, const ProcessGrid& grid)
      : layout_(layout), prow_(grid.my_row()), pcol_(grid.my_col()), ctxt_(grid.context()) {
    local_.assign(static_cast<std::size_t>(lld() * local_cols()), T(0));
  }

  const BlockCyclicLayout& layout() const noexcept { return layout_; }
  std::int64_t rows() const noexcept { return layout_.rows(); }
  std::int64_t cols() const noexcept { return layout_.cols(); }
  int prow() const noexcept { return prow_; }
  int pcol() const noexcept { return pcol_; }
  std::int64_t local_rows() const noexcept { return layout_.local_rows(prow_); }
  std::int64_t local_cols() const noexcept { return layout_.local_cols(pcol_); }
  std::int64_t lld() const noexcept { return layout_.lld(prow_); }
  linalg::Descriptor descriptor() const noexcept { return layout_.descriptor(ctxt_, prow_); }

  T* data() noexcept { return local_.data(); }
  const T* data() const noexcept { return local_.data(); }
  std::vector<T>& local() noexcept { return local_; }
  const std::vector<T>& local() const noexcept { return local_; }
  T& at(std::int64_t li, std::int64_t lj) noexcept { return local_[static_cast<std::size_t>(lj * lld() + li)]; }
  const T& at(std::int64_t li, std::int64_t lj) const noexcept {
    return local_[static_cast<std::size_t>(lj * lld() + li)];
  }
  // Global indices of local entry (li, lj).
  std::int64_t global_row(std::int64_t li) const noexcept { return layout_.global_row(li, prow_); }
  std::int64_t global_col(std::int64_t lj) const noexcept { return layout_.global_col(lj, pcol_); }
  std::size_t bytes() const noexcept { return local_.size() * sizeof(T); }

  // Sets every local entry to f(i, j) of its global indices (no communication).
  template <class F>
  void fill(F&& f) {
    for (std::int64_t lj = 0; lj < local_cols(); ++lj) {
      const std::int64_t j = global_col(lj);
      for (std::int64_t li = 0; li < local_rows(); ++li) at(li, lj) = static_cast<T>(f(global_row(li), j));
    }
  }

 private:
  BlockCyclicLayout layout_{};
  int prow_ = 0, pcol_ = 0, ctxt_ = -1;
  std::vector<T> local_;
};

}  // namespace attnbench::grid
