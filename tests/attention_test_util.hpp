#pragma once
// Single-head problems for the attention tests: the 2-D (n, d) case B = H = Hkv = 1 of the one
// problem type (attention/problem.hpp) in contiguous blocks of tokens, its serial reference and
// gathered rows, and synthetic_rows, the plain formula of a 2-D file's synthetic values (entry
// (i, j) of tensor `which` a pure function of (seed, which, i cols + j)) that the generator's single
// head must reproduce.
#include <cstdint>
#include <utility>

#include "attention/exact/reference.hpp"
#include "attention/problem.hpp"
#include "core/matrix.hpp"
#include "core/random.hpp"
#include "dist/comm.hpp"
#include "mpi_test_util.hpp"

namespace attnbench {

using attention::AttentionProblem;

// Entries uniform in [-bound, bound]: rows row0 .. row0 + rows - 1 of a (* x cols) matrix.
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

// The synthetic single-head problem (n tokens, Q and K d columns, V dv), rank `rank` of `ranks`.
template <class T>
AttentionProblem<T> single_head_problem(std::int64_t n, std::int64_t d, std::int64_t dv, double bound,
                                        std::uint64_t seed, int rank, int ranks) {
  return attention::synthetic_problem<T>(attention::HeadShape{1, 1, 1, d, dv}, n, attention::LayoutKind::contiguous,
                                         bound, seed, rank, ranks);
}

// A single-head problem holding the given local rows of n_q queries and n_kv keys (contiguous blocks
// over `ranks`; cross-attention when n_q != n_kv).
template <class T>
AttentionProblem<T> single_head_from_rows(std::int64_t n_q, std::int64_t n_kv, int ranks, Matrix<T> Q_local,
                                          Matrix<T> K_local, Matrix<T> V_local) {
  AttentionProblem<T> p;
  p.shape = attention::HeadShape{1, 1, 1, Q_local.cols(), V_local.cols()};
  p.layout_q = attention::SequenceLayout(attention::LayoutKind::contiguous, n_q, ranks);
  p.layout_kv = attention::SequenceLayout(attention::LayoutKind::contiguous, n_kv, ranks);
  p.Q_local = std::move(Q_local);
  p.K_local = std::move(K_local);
  p.V_local = std::move(V_local);
  return p;
}

// The serial reference of one head (reference_mha with B = H = Hkv = 1, no mask): the rows of
// softmax(scale Q K^T) V for every row of Q, in double.
template <class T>
Matrix<double> reference_attention(const Matrix<T>& Q, const Matrix<T>& K, const Matrix<T>& V, double scale) {
  return attention::reference_mha(Q, K, V, attention::HeadShape{1, 1, 1, Q.cols(), V.cols()}, Q.rows(), K.rows(),
                                  false, scale);
}

// The full matrix of a contiguous layout's rows on every rank: Allgatherv (n cols elements in).
template <class T>
Matrix<T> gather_rows(const dist::Comm& comm, const attention::SequenceLayout& lay, const Matrix<T>& local,
                      std::int64_t cols) {
  return testing_support::gather_all_rows(comm, dist::BlockRowLayout(lay.global_rows(), lay.ranks()), local, cols);
}

}  // namespace attnbench
