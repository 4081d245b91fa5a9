#pragma once
// Matrix<T>: an owning, row-major, dense block of rows. It is the only container the kernels pass
// around; a distributed matrix is a Matrix of the local rows plus a dist::BlockRowLayout.
//
// Sizes are checked (core/checked.hpp): a rows x cols that overflows, or a negative dimension, is
// an Error(usage) saying how many bytes it would need, never a wrapped product and a crash; a
// failed allocation is a MatrixAllocationError (a std::bad_alloc that says how much was asked
// for). Allocation failures are rank-local: callers that can fail this way on some ranks only
// check the per-rank memory first with metrics::check_memory_fits (collective, agreed).
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

#include "core/checked.hpp"

namespace attnbench {

// std::bad_alloc with a message: which matrix, how many bytes.
class MatrixAllocationError : public std::bad_alloc {
 public:
  explicit MatrixAllocationError(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols, T fill = T(0)) : rows_(rows), cols_(cols) {
    data_ = allocate(rows, cols, fill);
  }

  std::int64_t rows() const noexcept { return rows_; }
  std::int64_t cols() const noexcept { return cols_; }
  std::int64_t size() const noexcept { return rows_ * cols_; }  // checked at construction/resize
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
    const std::int64_t bytes = checked_array_bytes(rows, cols, sizeof(T), "matrix");
    try {
      data_.resize(static_cast<std::size_t>(bytes / static_cast<std::int64_t>(sizeof(T))));
    } catch (const std::bad_alloc&) {
      throw MatrixAllocationError(allocation_message(rows, cols, bytes));
    }
    rows_ = rows;
    cols_ = cols;
  }
  std::size_t bytes() const noexcept { return data_.size() * sizeof(T); }

 private:
  static std::string allocation_message(std::int64_t rows, std::int64_t cols, std::int64_t bytes) {
    return "cannot allocate a " + std::to_string(rows) + " x " + std::to_string(cols) + " matrix of " +
           std::to_string(sizeof(T)) + "-byte elements: " + format_bytes(static_cast<long double>(bytes)) +
           " (out of memory)";
  }
  static std::vector<T> allocate(std::int64_t rows, std::int64_t cols, T fill) {
    const std::int64_t bytes = checked_array_bytes(rows, cols, sizeof(T), "matrix");
    try {
      return std::vector<T>(static_cast<std::size_t>(bytes / static_cast<std::int64_t>(sizeof(T))), fill);
    } catch (const std::bad_alloc&) {
      throw MatrixAllocationError(allocation_message(rows, cols, bytes));
    } catch (const std::length_error&) {
      throw MatrixAllocationError(allocation_message(rows, cols, bytes));
    }
  }

  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<T> data_;
};

}  // namespace attnbench
