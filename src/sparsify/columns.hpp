#pragma once
// ColumnBlock<T>: the columns [col0, col0 + cols) of X (n x d, d >> n) that one rank holds, dense
// or sparse (CSC). Columns - the long d axis - are what the sparsify kernel distributes; the
// layout is a dist::BlockRowLayout over the d columns. Memory per rank: n * cols values (dense) or
// nnz_local * (sizeof(T) + 4) + 8 (cols + 1) bytes (CSC).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace attnbench::sparsify {

template <class T>
struct ColumnBlock {
  std::int64_t n = 0;     // rows of X (tokens)
  std::int64_t d = 0;     // global columns of X
  std::int64_t col0 = 0;  // first global column held here
  std::int64_t cols = 0;  // columns held here
  bool sparse = false;
  std::vector<T> dense;                // dense: cols x n, column j of the block at [j n, j n + n)
  std::vector<std::int64_t> colptr;    // sparse: cols + 1 offsets
  std::vector<std::int32_t> rowidx;    // sparse: row of each stored entry (ascending per column)
  std::vector<T> values;               // sparse: value of each stored entry

  // Visit the stored entries of local column j: f(row, value). Dense columns visit every row.
  template <class F>
  void for_each_entry(std::int64_t j, F&& f) const {
    if (sparse) {
      for (std::int64_t e = colptr[static_cast<std::size_t>(j)]; e < colptr[static_cast<std::size_t>(j) + 1]; ++e)
        f(static_cast<std::int64_t>(rowidx[static_cast<std::size_t>(e)]), static_cast<double>(values[static_cast<std::size_t>(e)]));
    } else {
      const T* c = dense.data() + j * n;
      for (std::int64_t i = 0; i < n; ++i) f(i, static_cast<double>(c[i]));
    }
  }
  // Local column j into out[0, n) as doubles.
  void column(std::int64_t j, double* out) const {
    for (std::int64_t i = 0; i < n; ++i) out[i] = 0.0;
    for_each_entry(j, [&](std::int64_t i, double v) { out[i] = v; });
  }
  // Nonzero entries held here (dense storage counts its nonzero values).
  std::int64_t local_nnz() const {
    std::int64_t c = 0;
    if (sparse) {
      for (const T& v : values) c += (v != T(0));
    } else {
      for (const T& v : dense) c += (v != T(0));
    }
    return c;
  }
  std::int64_t bytes() const {
    return static_cast<std::int64_t>(dense.size() * sizeof(T) + colptr.size() * sizeof(std::int64_t) +
                                     rowidx.size() * sizeof(std::int32_t) + values.size() * sizeof(T));
  }
  bool all_finite() const {
    for (const T& v : dense) if (!std::isfinite(v)) return false;
    for (const T& v : values) if (!std::isfinite(v)) return false;
    return true;
  }
};

// The rows-of-columns view of a chunk of columns as doubles: calls f(j0, b, Xc) with Xc a
// b x n row-major buffer whose row t is column j0 + t of the block (sparse columns are expanded;
// use only where the algorithm's cost is n^2 per column anyway). Memory: chunk * n doubles.
template <class T, class F>
void for_each_dense_chunk(const ColumnBlock<T>& X, std::int64_t chunk, std::vector<double>& scratch, F&& f) {
  scratch.resize(static_cast<std::size_t>(chunk * X.n));
  for (std::int64_t j0 = 0; j0 < X.cols; j0 += chunk) {
    const std::int64_t b = std::min(chunk, X.cols - j0);
    for (std::int64_t t = 0; t < b; ++t) X.column(j0 + t, scratch.data() + t * X.n);
    f(j0, b, scratch.data());
  }
}

// The same view, read-only: f(j0, b, const double* Xc). A dense double block is passed in place
// (its stored cols x n array already is the b x n row-major view: no copy, one streaming read);
// float blocks are converted and CSC columns expanded into scratch (chunk * n doubles).
template <class T, class F>
void for_each_dense_view(const ColumnBlock<T>& X, std::int64_t chunk, std::vector<double>& scratch, F&& f) {
  if constexpr (std::is_same_v<T, double>) {
    if (!X.sparse) {
      for (std::int64_t j0 = 0; j0 < X.cols; j0 += chunk)
        f(j0, std::min(chunk, X.cols - j0), static_cast<const double*>(X.dense.data() + j0 * X.n));
      return;
    }
  }
  scratch.resize(static_cast<std::size_t>(std::min(chunk, X.cols) * X.n));
  for (std::int64_t j0 = 0; j0 < X.cols; j0 += chunk) {
    const std::int64_t b = std::min(chunk, X.cols - j0);
    if (!X.sparse) {
      const T* src = X.dense.data() + j0 * X.n;
      for (std::int64_t a = 0; a < b * X.n; ++a) scratch[static_cast<std::size_t>(a)] = static_cast<double>(src[a]);
    } else {
      for (std::int64_t t = 0; t < b; ++t) X.column(j0 + t, scratch.data() + t * X.n);
    }
    f(j0, b, static_cast<const double*>(scratch.data()));
  }
}

}  // namespace attnbench::sparsify
