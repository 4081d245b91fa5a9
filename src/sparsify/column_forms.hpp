#pragma once
// Per-column forms of this rank's columns x_j of X with a replicated n x n matrix, the local work of
// exact leverage and of BSS's candidate scores. Local: no communication. Dense blocks go through
// BLAS-3 calls on blocks of columns; sparse (CSC) columns touch only their stored entries, so their
// cost follows nnz, never n d.
#include <cstdint>
#include <vector>

#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

// tau_j = |W x_j|^2 with W (n x n, row-major) lower triangular, e.g. L^{-1} (nxn.hpp lower_inverse):
// the exact leverage scores. Dense: a block of 512 columns is copied and multiplied by W^T in place
// (trmm: n^2 flops per column at GEMM-kernel rate), then its row norms. Sparse: W x_j = sum over the
// stored entries e of x_e W[:, r_e], and column r of a lower-triangular W is zero above row r, so
// the cost is sum over entries of (n - r_e) multiply-adds plus the norm: O(n nnz(X_r)) in all,
// with W^T (n^2 doubles) gathered row by row; a column with one entry costs one multiply
// (|W[:, r]|^2 is precomputed). Memory: n^2 + 512 n doubles.
template <class T>
std::vector<double> column_norms_of_product(const ColumnBlock<T>& X, const std::vector<double>& W);

// The terms of the quadratic forms of this rank's CSC columns, for forms evaluated with many D
// (BSS: one D per step): term t of local column col[t] is coef[t] D[at[t]], coef = x_a^2 (a
// diagonal entry) or 2 x_a x_b (b < a, the stored nonzeros of the column), so that
// x_j^T D x_j = sum of its terms. Built once in O(sum_j nnz(X_j)^2); 16 bytes per term, at most
// kMaxTermsPerColumn per local column on average (the memory working_bytes counts for bss). Left
// empty (built = false) for dense storage or beyond that cap (about 3.5 entries per column at
// most), where the direct form is used instead.
constexpr std::int64_t kMaxTermsPerColumn = 8;
constexpr std::int64_t kBytesPerTerm = 16;
struct QuadraticTerms {
  bool built = false;
  std::vector<std::uint32_t> at;
  std::vector<std::int32_t> col;
  std::vector<double> coef;
  std::vector<char> nonzero;  // local column j has a nonzero entry
};
template <class T>
QuadraticTerms quadratic_terms(const ColumnBlock<T>& X);

// q_j = x_j^T D x_j with D (n x n, row-major) symmetric. Dense: Y = X_block D per block of 256
// columns (GEMM, 2 n^2 flops per column, X read in place for double storage), then q_t = <Y_t, x_t>.
// Sparse: the double sum over the column's stored entries only, sum_a x_a (D_aa x_a + 2 sum_{b<a}
// D_ab x_b): O(nnz(x_j)^2) per column, the paper's sum_j nnz(X_j)^2 term, gathered from D - with
// built `terms`, as one branch-free pass over the terms (q[col] += coef D[at]).
// nonzero[j] says whether x_j has a nonzero entry (a zero column is never a BSS candidate).
template <class T>
void column_quadratic_forms(const ColumnBlock<T>& X, const std::vector<double>& D, std::vector<double>& q,
                            std::vector<char>& nonzero, const QuadraticTerms* terms = nullptr);

}  // namespace attnbench::sparsify
