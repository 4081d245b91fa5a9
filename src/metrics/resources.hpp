#pragma once
#include <cstdint>
#include <vector>

namespace attnbench::metrics {

// Peak resident set size of this process in bytes (VmHWM from /proc/self/status, or getrusage).
std::int64_t peak_rss_bytes();

// Median of a copy of the values (mean of the two middle values for even counts).
double median(std::vector<double> values);

}  // namespace attnbench::metrics
