#pragma once
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace attnbench {

enum class Precision { single, double_ };

inline std::string to_string(Precision p) { return p == Precision::single ? "single" : "double"; }
inline Precision parse_precision(std::string_view s) {
  if (s == "single" || s == "float" || s == "fp32") return Precision::single;
  if (s == "double" || s == "fp64") return Precision::double_;
  throw usage_error("--precision: expected 'double' or 'single', got '" + std::string(s) + "'");
}

template <class T>
constexpr Precision precision_of();
template <>
constexpr Precision precision_of<float>() { return Precision::single; }
template <>
constexpr Precision precision_of<double>() { return Precision::double_; }

}  // namespace attnbench
