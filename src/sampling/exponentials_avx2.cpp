// sampling::exponentials with SLEEF's 4-wide AVX2 log (compiled with -mavx2 -mfma,
// src/sampling/CMakeLists.txt); reached only through exponentials.cpp's run-time check of the CPU.
#include <immintrin.h>
#include <sleef.h>

#include <cstdint>

#include "core/random.hpp"

namespace attnbench::sampling::detail {

namespace {
// sampling::unit_open0 restated with internal linkage: this file is compiled with -mavx2, and an inline
// function of a shared header emitted here could be the copy the linker keeps for every caller.
inline double unit(std::uint64_t key, std::uint64_t index) {
  return static_cast<double>((keyed_bits(key, index) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
}
// -ln u, 4 lanes. The u35 log (error <= 3.5 ulp, about 20% faster here than u10): a relative
// error below 1e-15 in an exponential variate is far below anything the sampler can resolve.
inline __m256d neg_log(__m256d u) { return _mm256_sub_pd(_mm256_setzero_pd(), Sleef_logd4_u35avx2(u)); }
}  // namespace

void exponentials_avx2(std::uint64_t seed, std::uint64_t s, std::uint64_t first, std::int64_t count, double* out) {
  const std::uint64_t key = stream_key(seed, s);  // random_bits(seed, s, l) == keyed_bits(key, l)
  std::int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const std::uint64_t l = first + static_cast<std::uint64_t>(i);
    _mm256_storeu_pd(out + i, neg_log(_mm256_set_pd(unit(key, l + 3), unit(key, l + 2), unit(key, l + 1), unit(key, l))));
  }
  if (i < count) {
    // A partial last vector is padded with u = 1 (ln 1 = 0): each lane depends on its index only.
    alignas(32) double u[4] = {1.0, 1.0, 1.0, 1.0}, e[4];
    for (std::int64_t k = 0; i + k < count; ++k) u[k] = unit(key, first + static_cast<std::uint64_t>(i + k));
    _mm256_store_pd(e, neg_log(_mm256_load_pd(u)));
    for (std::int64_t k = 0; i + k < count; ++k) out[i + k] = e[k];
  }
}

}  // namespace attnbench::sampling::detail
