// The softmax kernels for avx512f, compiled with -mavx512f -mavx2 -mfma (src/linalg/CMakeLists.txt).
// Only reached through the run-time dispatch of vector_math.cpp after cpuid says the CPU has avx512f.
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include <cstdint>

#include "linalg/vector_math_kernels.hpp"

namespace attnbench::linalg::detail {
namespace {

struct VD {
  using T = double;
  using R = __m512d;
  static constexpr int W = 8;
  static R load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, R v) { _mm512_storeu_pd(p, v); }
  static R set1(T v) { return _mm512_set1_pd(v); }
  static R sub(R a, R b) { return _mm512_sub_pd(a, b); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R max(R a, R b) { return _mm512_max_pd(a, b); }
  static R exp(R a) { return Sleef_expd8_u10avx512f(a); }
  static T sexp(T a) { return ::exp(a); }
};

struct VF {
  using T = float;
  using R = __m512;
  static constexpr int W = 16;
  static R load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, R v) { _mm512_storeu_ps(p, v); }
  static R set1(T v) { return _mm512_set1_ps(v); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R exp(R a) { return Sleef_expf16_u10avx512f(a); }
  static T sexp(T a) { return ::expf(a); }
};

#include "linalg/vector_math_impl.inc"

}  // namespace

const VectorKernels* avx512_kernels() {
  static const VectorKernels k{"avx512f",
                               &Impl<VF>::exp_shift_sum,
                               &Impl<VD>::exp_shift_sum,
                               &Impl<VF>::max_n,
                               &Impl<VD>::max_n,
                               &Impl<VF>::softmax_tile,
                               &Impl<VD>::softmax_tile};
  return &k;
}

}  // namespace attnbench::linalg::detail
