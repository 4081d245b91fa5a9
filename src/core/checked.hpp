#pragma once
// Overflow-checked size arithmetic. Sizes in attnbench come from users (options, HDF5 dataset
// dimensions) and are multiplied together (rows x cols x element size, C(d+g, g) x n / p, ...):
// an unchecked int64 product wraps to a small or negative number, and the allocation that follows
// either crashes or silently under-allocates. Every product or sum that sizes memory goes through
// these functions, which throw an attnbench::Error saying what was being sized and how big it is.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "core/error.hpp"

namespace attnbench {

// "8.0 GiB (8589934592 bytes)": a byte count for messages, exact and readable.
inline std::string format_bytes(long double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  long double b = bytes;
  int u = 0;
  while (b >= 1024.0L && u < 8) {
    b /= 1024.0L;
    ++u;
  }
  char buf[64];
  if (bytes < (long double)std::numeric_limits<std::uint64_t>::max())
    std::snprintf(buf, sizeof buf, "%.1Lf %s (%llu bytes)", b, units[u],
                  static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.3Le bytes", bytes);
  return buf;
}

// out = a * b (or a + b); false when the result does not fit in int64 or an operand is negative.
inline bool checked_mul_ok(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
  if (a < 0 || b < 0) return false;
  return !__builtin_mul_overflow(a, b, &out);
}
inline bool checked_add_ok(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
  if (a < 0 || b < 0) return false;
  return !__builtin_add_overflow(a, b, &out);
}

// a * b for sizes (both >= 0); throws Error(code) naming `what` when negative or not representable.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, const std::string& what,
                                ExitCode code = ExitCode::usage) {
  std::int64_t r = 0;
  if (a < 0 || b < 0)
    throw Error(code, what + ": negative size (" + std::to_string(a) + " x " + std::to_string(b) + ")");
  if (!checked_mul_ok(a, b, r)) {
    char approx[32];
    std::snprintf(approx, sizeof approx, "%.3Le", static_cast<long double>(a) * static_cast<long double>(b));
    throw Error(code, what + ": " + std::to_string(a) + " x " + std::to_string(b) + " = " + approx +
                          " does not fit in a 64-bit size");
  }
  return r;
}

inline std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what,
                                ExitCode code = ExitCode::usage) {
  std::int64_t r = 0;
  if (a < 0 || b < 0)
    throw Error(code, what + ": negative size (" + std::to_string(a) + " + " + std::to_string(b) + ")");
  if (!checked_add_ok(a, b, r))
    throw Error(code, what + ": " + std::to_string(a) + " + " + std::to_string(b) + " does not fit in a 64-bit size");
  return r;
}

// Bytes of a rows x cols array of elements of elem_size bytes. Throws Error(code) saying how many
// bytes that would be when it is not representable (as int64 and as size_t), or when a dimension
// is negative.
inline std::int64_t checked_array_bytes(std::int64_t rows, std::int64_t cols, std::size_t elem_size,
                                        const std::string& what, ExitCode code = ExitCode::usage) {
  if (rows < 0 || cols < 0)
    throw Error(code, what + ": negative dimension (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
  std::int64_t elems = 0, bytes = 0;
  const bool ok = checked_mul_ok(rows, cols, elems) &&
                  checked_mul_ok(elems, static_cast<std::int64_t>(elem_size), bytes) &&
                  static_cast<std::uint64_t>(bytes) <= std::numeric_limits<std::size_t>::max() / 2;
  if (!ok) {
    const long double need = static_cast<long double>(rows) * static_cast<long double>(cols) *
                             static_cast<long double>(elem_size);
    throw Error(code, what + ": " + std::to_string(rows) + " x " + std::to_string(cols) + " elements of " +
                          std::to_string(elem_size) + " bytes would need " + format_bytes(need) +
                          ", more than any machine can address");
  }
  return bytes;
}

}  // namespace attnbench
