#include "sampling/exponentials.hpp"

#include <cmath>

#include "core/random.hpp"

namespace attnbench::sampling {

namespace detail {
// exponentials_avx2.cpp (compiled with -mavx2 -mfma); call only where the CPU has both.
void exponentials_avx2(std::uint64_t seed, std::uint64_t s, std::uint64_t first, std::int64_t count, double* out);
}  // namespace detail

namespace {
bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
}  // namespace

void exponentials(std::uint64_t seed, std::uint64_t s, std::uint64_t first, std::int64_t count, double* out) {
  if (has_avx2_fma()) {
    detail::exponentials_avx2(seed, s, first, count, out);
    return;
  }
  const std::uint64_t key = stream_key(seed, s);  // random_bits(seed, s, l) == keyed_bits(key, l)
  for (std::int64_t i = 0; i < count; ++i)
    out[i] = -std::log(unit_open0(keyed_bits(key, first + static_cast<std::uint64_t>(i))));
}

}  // namespace attnbench::sampling
