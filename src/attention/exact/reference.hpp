#pragma once
// The serial reference for exact attention: plain two-pass softmax per query row, no tiles, no
// GEMM, no streaming, accumulated in double. Obviously correct, O(n_k (d + dv)) per row.
//   pass 1: m = max_j s <q, k_j>
//   pass 2: l = sum_j exp(s <q, k_j> - m);  o = sum_j exp(s <q, k_j> - m) v_j / l
#include <cstdint>
#include <vector>

#include "attention/problem.hpp"
#include "core/matrix.hpp"

namespace attnbench::attention {

// Rows of softmax(scale Q K^T) V for every row of Q, in double.
template <class T>
Matrix<double> reference_attention(const Matrix<T>& Q, const Matrix<T>& K, const Matrix<T>& V, double scale);

// <q, k> in double, summed in index order: the one score function of every serial reference and
// validation (so they all round alike, and differently from the GEMM of the kernels they check).
template <class T>
double reference_dot(const double* q, const T* k, std::int64_t d);

// Every (batch, head) attention of full tensors, in double, plain two passes per query row:
// Q (B n_q) x (H d), K (B n_k) x (Hkv d), V (B n_k) x (Hkv dv), rows (b, token), query head h using
// K/V head h / (H / Hkv); with `causal`, query token i sees keys j <= i. Returns (B n_q) x (H dv).
template <class T>
Matrix<double> reference_mha(const Matrix<T>& Q, const Matrix<T>& K, const Matrix<T>& V, const HeadShape& shape,
                             std::int64_t n_q, std::int64_t n_k, bool causal, double scale);

// Partial sums of the reference over a subset of keys, for query rows q (rows x d, double):
// given each row's global max `row_max`, adds sum_j exp(s <q,k_j> - max) into sums[row] and
// sum_j exp(...) v_j into weighted[row, :]. Summing these over disjoint key sets (e.g. over ranks)
// and dividing gives the reference. row_max of the subset is returned by reference_row_max.
template <class T>
void reference_row_max(const Matrix<double>& q, const Matrix<T>& K, double scale, std::vector<double>& row_max);
template <class T>
void reference_partial_sums(const Matrix<double>& q, const Matrix<T>& K, const Matrix<T>& V, double scale,
                            const std::vector<double>& row_max, std::vector<double>& sums, Matrix<double>& weighted);

// The "naive same-precision" implementation of FlashAttention's accuracy rule, in float: scores,
// max, exp and sums all in float (what an fp32 implementation materializing S would compute).
void naive_float_row_max(const Matrix<double>& q, const Matrix<float>& K, double scale, std::vector<float>& row_max);
void naive_float_partial_sums(const Matrix<double>& q, const Matrix<float>& K, const Matrix<float>& V, double scale,
                              const std::vector<float>& row_max, std::vector<float>& sums, Matrix<float>& weighted);

}  // namespace attnbench::attention
