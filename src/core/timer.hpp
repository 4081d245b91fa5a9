#pragma once
// The one timer of attnbench: a monotonic wall clock, a scope that adds its elapsed time to a
// per-phase accumulator, and CPU clocks for figures taken on a shared machine.
#include <chrono>
#include <ctime>

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

// CPU seconds of this process (all its threads): on a shared machine wall times of 1 and 2 ranks
// are not comparable; CPU time is less disturbed by other jobs (it still counts MPI's busy-polling
// in a wait, so it flatters nothing: a rank that waits burns CPU too).
inline double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// CPU seconds of the calling thread (per-phase CPU timers of one rank).
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace attnbench
