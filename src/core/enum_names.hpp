#pragma once
// One name table per enum: printing, parsing and an option's list of choices all read it, so an
// enum's names are written once. Parsing failures are usage errors naming the option and the
// choices, e.g. "--error: expected 'full', 'sampled' or 'none', got 'x'".
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace attnbench {

template <class E, std::size_t N>
using EnumNames = std::array<std::pair<E, std::string_view>, N>;

template <class E, std::size_t N>
std::string enum_name(const EnumNames<E, N>& names, E value) {
  for (const auto& [v, name] : names)
    if (v == value) return std::string(name);
  return "?";
}

// The names in table order, as an option's `choices`.
template <class E, std::size_t N>
std::vector<std::string> enum_choices(const EnumNames<E, N>& names) {
  std::vector<std::string> out;
  for (const auto& entry : names) out.emplace_back(entry.second);
  return out;
}

// Throws usage_error("<option>: expected 'a', 'b' or 'c', got '<text>'").
template <class E, std::size_t N>
E parse_enum(const EnumNames<E, N>& names, std::string_view text, std::string_view option) {
  std::string expected;
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i].second == text) return names[i].first;
    expected += (i == 0 ? "'" : i + 1 == N ? " or '" : ", '") + std::string(names[i].second) + "'";
  }
  throw usage_error(std::string(option) + ": expected " + expected + ", got '" + std::string(text) + "'");
}

}  // namespace attnbench
