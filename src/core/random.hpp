#pragma once
// Counter-based random numbers: every value is a pure function of (seed, stream, index). A matrix
// entry (i, j) uses index = i * cols + j, so the data a rank generates for its rows is identical
// whatever the number of ranks, and no generator state is ever communicated.
#include <cstdint>

namespace attnbench {

// SplitMix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer with good avalanche.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Named streams keep independent uses of one seed apart.
enum class Stream : std::uint64_t { Q = 1, K = 2, V = 3, validation_rows = 16, user = 1024 };

// random_bits in two steps, for loops over many indices of one (seed, stream): the key costs two
// mixes and is drawn once, each index one more: keyed_bits(stream_key(seed, s), i) == random_bits(seed, s, i).
constexpr std::uint64_t stream_key(std::uint64_t seed, std::uint64_t stream) noexcept {
  return mix64(seed ^ mix64(stream * 0xd1b54a32d192ed03ULL));
}
constexpr std::uint64_t keyed_bits(std::uint64_t key, std::uint64_t index) noexcept { return mix64(key + index); }

constexpr std::uint64_t random_bits(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) noexcept {
  return keyed_bits(stream_key(seed, stream), index);
}
constexpr std::uint64_t random_bits(std::uint64_t seed, Stream stream, std::uint64_t index) noexcept {
  return random_bits(seed, static_cast<std::uint64_t>(stream), index);
}

// Uniform in [0, 1) with 53 random bits.
constexpr double uniform01(std::uint64_t seed, Stream stream, std::uint64_t index) noexcept {
  return static_cast<double>(random_bits(seed, stream, index) >> 11) * 0x1.0p-53;
}

}  // namespace attnbench
