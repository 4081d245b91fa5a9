#pragma once
// The serial reference for exact attention: plain two-pass softmax per query row, no tiles, no
// GEMM, no streaming, accumulated in double. Obviously correct, O(n_k (d + dv)) per row. The
// single head is the case B = H = Hkv = 1 of reference_mha.
//   pass 1: m = max_j s <q, k_j>
//   pass 2: l = sum_j exp(s <q, k_j> - m);  o = sum_j exp(s <q, k_j> - m) v_j / l
#include <cstdint>

#include "attention/problem.hpp"
#include "core/matrix.hpp"

namespace attnbench::attention {

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

}  // namespace attnbench::attention
