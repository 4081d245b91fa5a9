#pragma once
// The argument block of linalg::softmax_tile_update (vector_math.hpp). Kept free of other
// includes because every per-ISA translation unit includes it.
#include <cstdint>

namespace attnbench::linalg {

// The online-softmax update of one score tile, fused so that each row is swept while it is in L1:
// for each row i < rows of S (row stride lds), with len_i = lens ? lens[i] : cols (a causal mask
// keeps a prefix of the row; the rest is masked):
//   m' = max(row_max[i], max_{j < len_i} S[i][j])
//   S[i][j] := exp(S[i][j] - m') for j < len_i, 0 for len_i <= j < cols
//   row_sum[i] := exp(row_max[i] - m') row_sum[i] + sum_j S[i][j];  row_max[i] := m'
//   acc[i][0:dv] *= exp(row_max_old - m')                (skipped when the factor is 1)
// A row with nothing unmasked so far (m' = -inf) is left unchanged with S[i][:] = 0.
template <class T>
struct SoftmaxTile {
  T* S = nullptr;
  std::int64_t rows = 0, cols = 0, lds = 0;
  const std::int64_t* lens = nullptr;  // per-row unmasked prefix lengths, or nullptr (all cols)
  T* row_max = nullptr;
  T* row_sum = nullptr;
  T* acc = nullptr;
  std::int64_t ldacc = 0, dv = 0;
};

}  // namespace attnbench::linalg
