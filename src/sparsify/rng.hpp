#pragma once
// Random choices of the sparsify kernel, all from the counter-based generator of core/random.hpp:
// every value is a pure function of (seed, stream, global index), so every rank draws the same
// samples and the selection does not depend on the number of ranks.
#include <cmath>
#include <cstdint>
#include <numbers>

#include "core/random.hpp"
#include "sampling/exponentials.hpp"

namespace attnbench::sparsify::rng {

// Streams of this kernel (offsets from Stream::user keep them apart from other kernels').
namespace stream {
constexpr std::uint64_t data = 2049;         // synthetic X entries, index i * d + j
constexpr std::uint64_t mask = 2050;         // synthetic sparsity pattern, index i * d + j
constexpr std::uint64_t sample = 2051;       // the m iid draws: exponential spacing l (index l, l <= m)
constexpr std::uint64_t sketch = 2052;       // sparse-embedding row and sign of column j, index j * z + t
constexpr std::uint64_t jl = 2054;           // JL Gaussian (n x k), index i * k + c
constexpr std::uint64_t gaussian = 2055;     // dense JL baseline G (d x m), index j * m + l
constexpr std::uint64_t screen = 2056;       // screened leverage-sketch: the keep uniform of column j, index j
}  // namespace stream

inline double uniform(std::uint64_t seed, std::uint64_t s, std::uint64_t index) noexcept {
  return static_cast<double>(random_bits(seed, s, index) >> 11) * 0x1.0p-53;
}
// The same uniform from a stream key drawn once (loops over many indices of one stream):
// uniform_keyed(stream_key(seed, s), i) == uniform(seed, s, i).
inline double uniform_keyed(std::uint64_t key, std::uint64_t index) noexcept {
  return static_cast<double>(keyed_bits(key, index) >> 11) * 0x1.0p-53;
}

// The shared exponentials and their (0, 1] uniform (sampling/exponentials.hpp): the sampler's
// spacings and Box-Muller below agree bit for bit with them.
using sampling::exponentials;
using sampling::unit_open0;

// Standard normal by Box-Muller from two counter draws (2 index, 2 index + 1); u1 in (0, 1].
inline double normal(std::uint64_t seed, std::uint64_t s, std::uint64_t index) noexcept {
  const double u1 = unit_open0(random_bits(seed, s, 2 * index));
  const double u2 = uniform(seed, s, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// The t-th nonzero of column j of the sparse embedding (z nonzeros per column, s rows): one draw
// from (seed, j z + t) gives its row (multiply-shift of the low 32 bits: no division) and its sign
// (the top bit).
struct SketchEntry {
  std::int64_t row;
  double sign;
};
// The sketch stream's key for `seed`: sketch_entry_keyed(sketch_key(seed), i, s) == sketch_entry(seed, i, s)
// at one mix per column (loops over columns draw the key once).
inline std::uint64_t sketch_key(std::uint64_t seed) noexcept { return stream_key(seed, stream::sketch); }
inline SketchEntry sketch_entry_keyed(std::uint64_t key, std::uint64_t index, std::int64_t s) noexcept {
  const std::uint64_t b = keyed_bits(key, index);
  // The sign as arithmetic, not `(b >> 63) ? 1.0 : -1.0`: that compiles to a branch on a random
  // bit, mispredicted every other column (it made the sparse sketch's hashing 3x slower).
  return {static_cast<std::int64_t>(((b & 0xffffffffULL) * static_cast<std::uint64_t>(s)) >> 32),
          static_cast<double>(2 * static_cast<std::int64_t>(b >> 63) - 1)};
}
inline SketchEntry sketch_entry(std::uint64_t seed, std::uint64_t index, std::int64_t s) noexcept {
  return sketch_entry_keyed(sketch_key(seed), index, s);
}

}  // namespace attnbench::sparsify::rng
