#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"
#include "harness/kernel.hpp"

namespace attnbench::harness {

std::string to_string(OptionType t) { return enum_name(kOptionTypeNames, t); }

void OptionValues::set(const std::string& name, const OptionSpec& spec, std::string text, bool given) {
  values_[name] = Entry{spec.type, std::move(text), given};
}

bool OptionValues::given(const std::string& name) const {
  const auto it = values_.find(name);
  return it != values_.end() && it->second.given;
}

bool OptionValues::has(const std::string& name) const {
  const auto it = values_.find(name);
  return it != values_.end() && (it->second.given || !it->second.text.empty());
}

const OptionValues::Entry& OptionValues::entry(const std::string& name, OptionType type) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw internal_error("kernel asked for undeclared option " + name);
  if (it->second.type != type)
    throw internal_error("kernel asked for option " + name + " as " + to_string(type) + ", declared " +
                         to_string(it->second.type));
  if (type != OptionType::flag && it->second.text.empty())
    throw internal_error("option " + name + " has no value and no default (check has() first)");
  return it->second;
}

// Values were range- and syntax-checked by the parser; these conversions cannot fail on them.
std::int64_t OptionValues::integer(const std::string& name) const {
  return std::strtoll(entry(name, OptionType::integer).text.c_str(), nullptr, 10);
}
double OptionValues::number(const std::string& name) const {
  return std::strtod(entry(name, OptionType::number).text.c_str(), nullptr);
}
const std::string& OptionValues::string(const std::string& name) const { return entry(name, OptionType::string).text; }
bool OptionValues::flag(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw internal_error("kernel asked for undeclared option " + name);
  return it->second.given && it->second.text != "false";
}
std::int64_t OptionValues::size(const std::string& name) const {
  return static_cast<std::int64_t>(std::strtod(entry(name, OptionType::size).text.c_str(), nullptr));
}

}  // namespace attnbench::harness
