#pragma once
// BlockCyclicMatrix<T>: one process's share of a block-cyclic distributed matrix - the layout, the
// process's grid coordinates and its local block, COLUMN-major with leading dimension lld >= 1
// (exactly what ScaLAPACK is handed). Entries are addressed by LocalElementIndex; global_index
// says which entry of the whole matrix a local one is (grid/index.hpp). Memory per rank: lld x
// local_cols elements, about m n / (p_r p_c) plus at most one block row and column of imbalance.
#include <cmath>
#include <cstdint>
#include <vector>

#include "grid/block_cyclic.hpp"
#include "grid/index.hpp"
#include "grid/process_grid.hpp"
#include "linalg/scalapack.hpp"

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
  // Local entry l of the column-major block (a local index: see grid/index.hpp).
  T& at(LocalElementIndex l) noexcept { return local_[offset(l)]; }
  const T& at(LocalElementIndex l) const noexcept { return local_[offset(l)]; }
  // Global indices of local row li / column lj / entry l.
  GlobalIndex global_row(LocalIndex li) const noexcept { return layout_.global_row(li, prow_); }
  GlobalIndex global_col(LocalIndex lj) const noexcept { return layout_.global_col(lj, pcol_); }
  GlobalElementIndex global_index(LocalElementIndex l) const noexcept { return layout_.global_index(l, prow_, pcol_); }
  std::size_t bytes() const noexcept { return local_.size() * sizeof(T); }

  // Calls f(l) for every local entry l, column by column (the storage order); no communication.
  template <class F>
  void for_each_local(F&& f) const {
    for (LocalIndex lj{0}; lj < LocalIndex{local_cols()}; ++lj)
      for (LocalIndex li{0}; li < LocalIndex{local_rows()}; ++li) f(LocalElementIndex{li, lj});
  }
  // Sets every local entry to f(i, j) of its GLOBAL row and column values (no communication).
  template <class F>
  void fill(F&& f) {
    for_each_local([&](LocalElementIndex l) {
      const GlobalElementIndex g = global_index(l);
      at(l) = static_cast<T>(f(g.row().value(), g.col().value()));
    });
  }
  // A(i, i) += shift for the diagonal entries this process holds (no communication).
  void add_to_diagonal(T shift) {
    for_each_local([&](LocalElementIndex l) {
      if (global_index(l).on_diagonal()) at(l) += shift;
    });
  }
  // Sum of |A(i, i)| over the diagonal entries this process holds (no communication).
  double local_abs_diagonal_sum() const {
    double s = 0.0;
    for_each_local([&](LocalElementIndex l) {
      if (global_index(l).on_diagonal()) s += std::abs(static_cast<double>(at(l)));
    });
    return s;
  }

 private:
  std::size_t offset(LocalElementIndex l) const noexcept {
    return static_cast<std::size_t>(l.col().value() * lld() + l.row().value());
  }

  BlockCyclicLayout layout_{};
  int prow_ = 0, pcol_ = 0, ctxt_ = -1;
  std::vector<T> local_;
};

}  // namespace attnbench::grid
