#include "test_comm.hpp"

#include <optional>

namespace attnbench::testing_support {
namespace {
std::optional<dist::Comm>& storage() {
  static std::optional<dist::Comm> w;
  return w;
}
}  // namespace
void set_world(const dist::Comm& world) { storage() = world; }
const dist::Comm& world() { return *storage(); }
}  // namespace attnbench::testing_support
