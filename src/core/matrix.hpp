#pragma once
// Matrix<T>: an owning, row-major, dense block of rows. It is the only container the kernels pass
// around; a distributed matrix is a Matrix of the local rows plus a dist::BlockRowLayout.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace attnbench {

template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols, T fill = T(0))
      : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * cols), fill) {}

  std::int64_t rows() const noexcept { return rows_; }
  std::int64_t cols() const noexcept { return cols_; }
  std::int64_t size() const noexcept { return rows_ * cols_; }
  bool empty() const noexcept { return size() == 0; }

  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  T* row(std::int64_t i) noexcept { return data_.data() + i * cols_; }
  const T* row(std::int64_t i) const noexcept { return data_.data() + i * cols_; }
  T& operator()(std::int64_t i, std::int64_t j) noexcept { return data_[static_cast<std::size_t>(i * cols_ + j)]; }
  const T& operator()(std::int64_t i, std::int64_t j) const noexcept {
    return data_[static_cast<std::size_t>(i * cols_ + j)];
  }
  std::span<T> span() noexcept { return data_; }
  std::span<const T> span() const noexcept { return data_; }

  // Reshape keeping capacity: used by rotating ring buffers whose block size changes per step.
  void resize(std::int64_t rows, std::int64_t cols) {
    rows_ = rows;
    cols_ = cols;
    data_.resize(static_cast<std::size_t>(rows * cols));
  }
  std::size_t bytes() const noexcept { return data_.size() * sizeof(T); }

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<T> data_;
};

}  // namespace attnbench
