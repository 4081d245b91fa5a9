// The softmax kernels for avx2, compiled with -mavx2 -mfma (src/linalg/CMakeLists.txt).
// Only reached through the run-time dispatch of vector_math.cpp after cpuid says the CPU has avx2.
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include <cstdint>

#include "linalg/vector_math_kernels.hpp"

namespace attnbench::linalg::detail {
namespace {

struct VD {
  using T = double;
  using R = __m256d;
  static constexpr int W = 4;
  static R load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, R v) { _mm256_storeu_pd(p, v); }
  static R set1(T v) { return _mm256_set1_pd(v); }
  static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R max(R a, R b) { return _mm256_max_pd(a, b); }
  static R exp(R a) { return Sleef_expd4_u10avx2(a); }
  static T sexp(T a) { return ::exp(a); }
};

struct VF {
  using T = float;
  using R = __m256;
  static constexpr int W = 8;
  static R load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(T v) { return _mm256_set1_ps(v); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R exp(R a) { return Sleef_expf8_u10avx2(a); }
  static T sexp(T a) { return ::expf(a); }
};

#include "linalg/vector_math_impl.inc"

}  // namespace

const VectorKernels* avx2_kernels() {
  static const VectorKernels k{"avx2",
                               &Impl<VF>::exp_shift_sum,
                               &Impl<VD>::exp_shift_sum,
                               &Impl<VF>::max_n,
                               &Impl<VD>::max_n,
                               &Impl<VF>::softmax_tile,
                               &Impl<VD>::softmax_tile};
  return &k;
}

}  // namespace attnbench::linalg::detail
