#pragma once
// AttentionProblem<T>: this rank's rows of Q, K, V and the global shapes. Q rows are distributed
// by layout_q, K and V rows by layout_kv (they differ only for cross-attention inputs, nq != nk).
#include <cstdint>
#include <string>

#include "core/matrix.hpp"
#include "core/random.hpp"
#include "dist/layout.hpp"

namespace attnbench {

template <class T>
struct AttentionProblem {
  dist::BlockRowLayout layout_q{0, 1};
  dist::BlockRowLayout layout_kv{0, 1};
  std::int64_t d = 0;   // feature dimension of Q and K
  std::int64_t dv = 0;  // columns of V
  Matrix<T> Q_local, K_local, V_local;
  std::string source;   // "synthetic" or the input file's path

  std::int64_t n_q() const { return layout_q.global_rows(); }
  std::int64_t n_kv() const { return layout_kv.global_rows(); }
};

// Entries uniform in [-bound, bound], entry (i, j) of matrix `which` a pure function of
// (seed, which, i * cols + j): identical for any number of ranks.
template <class T>
Matrix<T> synthetic_rows(std::uint64_t seed, Stream which, std::int64_t row0, std::int64_t rows, std::int64_t cols,
                         double bound) {
  Matrix<T> m(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const auto index = static_cast<std::uint64_t>((row0 + i) * cols + j);
      m(i, j) = static_cast<T>(bound * (2.0 * uniform01(seed, which, index) - 1.0));
    }
  return m;
}

template <class T>
AttentionProblem<T> synthetic_problem(std::int64_t n, std::int64_t d, std::int64_t dv, double bound,
                                      std::uint64_t seed, int rank, int ranks) {
  AttentionProblem<T> p;
  p.layout_q = dist::BlockRowLayout(n, ranks);
  p.layout_kv = p.layout_q;
  p.d = d;
  p.dv = dv;
  const auto r0 = p.layout_q.row_offset(rank), rows = p.layout_q.local_rows(rank);
  p.Q_local = synthetic_rows<T>(seed, Stream::Q, r0, rows, d, bound);
  p.K_local = synthetic_rows<T>(seed, Stream::K, r0, rows, d, bound);
  p.V_local = synthetic_rows<T>(seed, Stream::V, r0, rows, dv, bound);
  p.source = "synthetic";
  return p;
}

}  // namespace attnbench
