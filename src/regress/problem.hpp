#pragma once
// One rank's share of an attention-regression problem (ALGORITHMS.md section 5):
//   L(X, Y) = 1/2 |F A3 Y - B|_F^2,  F = rowsoftmax(s A1 X A2^T),  A1, A2, A3, B in R^{n x d}.
// The n axis is split: rank r holds rows [layout.row_offset(r), + layout.local_rows(r)) of the
// query-side matrices A1 and B. The key-side matrices A2 and A3 are held entire by every rank
// (n d each): row j of F contracts over ALL n keys, so F A3 needs every row of A3, and keeping A3
// (read or generated once) is cheaper than an allgather of H = A3 Y (n d words) per evaluation.
//
// Unknowns are stacked row-major, x = [vec(X); vec(Y)] (2 d^2 values), vec(X)[a d + b] = X[a][b].
#include <cstdint>
#include <span>
#include <vector>

#include "core/matrix.hpp"
#include "core/random.hpp"
#include "dist/layout.hpp"

namespace attnbench::regress {

template <class T>
struct RegressData {
  std::int64_t n = 0;
  std::int64_t d = 0;
  double scale = 1.0;                  // s
  dist::BlockRowLayout layout{0, 1};
  Matrix<T> A1, B;                     // local rows (layout.local_rows(rank) x d)
  Matrix<T> A2, A3;                    // all n rows (n x d), on every rank
  std::int64_t unknowns() const noexcept { return 2 * d * d; }
};

// Random streams of the synthetic planted instance (values are functions of (seed, stream, global
// index), identical for any number of ranks).
namespace streams {
constexpr std::uint64_t base = static_cast<std::uint64_t>(Stream::user) + 1100;
constexpr std::uint64_t A1 = base + 1, A2 = base + 2, A3 = base + 3, X_star = base + 4, Y_star = base + 5,
                        noise = base + 6, start_X = base + 7, start_Y = base + 8, grad_check = base + 9,
                        check_point = base + 10, row_sample = base + 11,
                        row_draws = base + 12;
}  // namespace streams

// Uniform in [-1, 1).
inline double uniform_pm1(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) noexcept {
  return 2.0 * static_cast<double>(random_bits(seed, stream, index) >> 11) * 0x1.0p-53 - 1.0;
}

}  // namespace attnbench::regress
