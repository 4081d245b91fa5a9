#pragma once
// Vectorized elementwise kernels used by the softmax. exp comes from SLEEF (1-ULP variants,
// AVX2 when compiled for it, SSE2 otherwise); the surrounding max/sum loops are plain C++ that
// the compiler vectorizes.
#include <cstdint>

namespace attnbench::linalg {

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values (accumulated in T).
float exp_shift_sum(float* x, std::int64_t n, float shift);
double exp_shift_sum(double* x, std::int64_t n, double shift);

// max_i x[i] for n >= 1 (vectorized; NaN-propagation is not guaranteed, inputs are finite).
float max_element(const float* x, std::int64_t n);
double max_element(const double* x, std::int64_t n);

// Which SIMD path exp_shift_sum uses ("avx2" or "sse2"), for provenance.
const char* vector_exp_isa();

}  // namespace attnbench::linalg
