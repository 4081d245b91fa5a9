#pragma once
#include <chrono>

namespace attnbench {

// Monotonic wall clock in seconds.
inline double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Adds the elapsed time of a scope to an accumulator (per-phase timers).
class ScopedAccumulate {
 public:
  explicit ScopedAccumulate(double& acc) : acc_(acc), start_(wall_seconds()) {}
  ~ScopedAccumulate() { acc_ += wall_seconds() - start_; }
  ScopedAccumulate(const ScopedAccumulate&) = delete;
  ScopedAccumulate& operator=(const ScopedAccumulate&) = delete;

 private:
  double& acc_;
  double start_;
};

}  // namespace attnbench
