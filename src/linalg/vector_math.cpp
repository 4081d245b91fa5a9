#include "linalg/vector_math.hpp"

#include <immintrin.h>
#include <sleef.h>

#include <algorithm>
#include <cmath>

namespace attnbench::linalg {

#if defined(__AVX2__) && defined(__FMA__)
const char* vector_exp_isa() { return "sleef-avx2"; }

double exp_shift_sum(double* x, std::int64_t n, double shift) {
  const __m256d s = _mm256_set1_pd(shift);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d a = Sleef_expd4_u10avx2(_mm256_sub_pd(_mm256_loadu_pd(x + i), s));
    __m256d b = Sleef_expd4_u10avx2(_mm256_sub_pd(_mm256_loadu_pd(x + i + 4), s));
    _mm256_storeu_pd(x + i, a);
    _mm256_storeu_pd(x + i + 4, b);
    acc0 = _mm256_add_pd(acc0, a);
    acc1 = _mm256_add_pd(acc1, b);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

double max_element(const double* x, std::int64_t n) {
  std::int64_t i = 0;
  double mx = x[0];
  if (n >= 8) {
    __m256d a = _mm256_loadu_pd(x), b = _mm256_loadu_pd(x + 4);
    for (i = 8; i + 8 <= n; i += 8) {
      a = _mm256_max_pd(a, _mm256_loadu_pd(x + i));
      b = _mm256_max_pd(b, _mm256_loadu_pd(x + i + 4));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_max_pd(a, b));
    mx = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

float max_element(const float* x, std::int64_t n) {
  std::int64_t i = 0;
  float mx = x[0];
  if (n >= 16) {
    __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
    for (i = 16; i + 16 <= n; i += 16) {
      a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
      b = _mm256_max_ps(b, _mm256_loadu_ps(x + i + 8));
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_max_ps(a, b));
    for (float l : lanes) mx = std::max(mx, l);
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

float exp_shift_sum(float* x, std::int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    __m256 b = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), s));
    _mm256_storeu_ps(x + i, a);
    _mm256_storeu_ps(x + i + 8, b);
    acc0 = _mm256_add_ps(acc0, a);
    acc1 = _mm256_add_ps(acc1, b);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(acc0, acc1));
  float sum = 0.0f;
  for (float l : lanes) sum += l;
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}
#else
const char* vector_exp_isa() { return "sleef-sse2"; }

double max_element(const double* x, std::int64_t n) {
  double mx = x[0];
  for (std::int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}
float max_element(const float* x, std::int64_t n) {
  float mx = x[0];
  for (std::int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  return mx;
}

double exp_shift_sum(double* x, std::int64_t n, double shift) {
  const __m128d s = _mm_set1_pd(shift);
  __m128d acc = _mm_setzero_pd();
  std::int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    __m128d a = Sleef_expd2_u10(_mm_sub_pd(_mm_loadu_pd(x + i), s));
    _mm_storeu_pd(x + i, a);
    acc = _mm_add_pd(acc, a);
  }
  alignas(16) double lanes[2];
  _mm_store_pd(lanes, acc);
  double sum = lanes[0] + lanes[1];
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}
float exp_shift_sum(float* x, std::int64_t n, float shift) {
  const __m128 s = _mm_set1_ps(shift);
  __m128 acc = _mm_setzero_ps();
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128 a = Sleef_expf4_u10(_mm_sub_ps(_mm_loadu_ps(x + i), s));
    _mm_storeu_ps(x + i, a);
    acc = _mm_add_ps(acc, a);
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, acc);
  float sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}
#endif

}  // namespace attnbench::linalg
