#pragma once
// Standard exponential variates from the counter-based generator of core/random.hpp: every value is
// a pure function of (seed, stream, index), so every rank draws the same numbers.
#include <cstdint>

namespace attnbench::sampling {

// The uniform in (0, 1] of 64 random bits: ((bits >> 11) + 1) 2^-53 (53 bits; never 0, so its log
// is finite). Shared by the exponentials (both paths) and Box-Muller (sparsify/rng.hpp), so they
// agree bit for bit.
inline double unit_open0(std::uint64_t bits) noexcept { return static_cast<double>((bits >> 11) + 1) * 0x1.0p-53; }

// Standard exponentials out[i] = -ln(u_{first + i}), u_l = ((bits(seed, s, l) >> 11) + 1) 2^-53 in
// (0, 1] (never ln 0), i < count. The sorted draws of the importance sampler are built from these
// spacings (draws.hpp, spacing_sums; sparsify's serial reference the same). Vectorized: SLEEF's
// Sleef_logd4_u35avx2 (error <= 3.5 ulp) where the CPU has AVX2 and FMA (exponentials_avx2.cpp,
// chosen at run time like linalg/vector_math), glibc's log otherwise. Every value depends on its
// index only (a partial vector is padded), never on first or count; the two paths may differ in
// the last bit, so a run on a mixed cluster can differ from a single-machine run by rounding (the
// sampler counts every draw exactly once even then; see draws.hpp).
void exponentials(std::uint64_t seed, std::uint64_t s, std::uint64_t first, std::int64_t count, double* out);

}  // namespace attnbench::sampling
