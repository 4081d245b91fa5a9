#pragma once
#include <string>
#include <string_view>

#include "core/enum_names.hpp"

namespace attnbench {

enum class Precision { single, double_ };

// --precision's choices; a value's first name is the one printed (fp64, fp32 and float are aliases).
inline constexpr EnumNames<Precision, 5> kPrecisionNames{{{Precision::double_, "double"},
                                                          {Precision::single, "single"},
                                                          {Precision::double_, "fp64"},
                                                          {Precision::single, "fp32"},
                                                          {Precision::single, "float"}}};

inline std::string to_string(Precision p) { return enum_name(kPrecisionNames, p); }
inline Precision parse_precision(std::string_view s) { return parse_enum(kPrecisionNames, s, "--precision"); }

template <class T>
constexpr Precision precision_of();
template <>
constexpr Precision precision_of<float>() { return Precision::single; }
template <>
constexpr Precision precision_of<double>() { return Precision::double_; }

}  // namespace attnbench
