#pragma once
// The network between two nodes, measured in the run: a ping-pong between rank 0 and the lowest
// rank on another node (by processor name), a few message sizes, and the fit of the one-way time
// T(m) = alpha + m / beta (latency alpha in seconds, bandwidth beta in bytes per second). The
// performance model of the report (src/report/model.py) predicts communication from it.
#include <map>
#include <string>
#include <vector>

#include "core/run_record.hpp"
#include "dist/comm.hpp"

namespace attnbench::metrics {

struct NetworkProbe {
  int rank_a = 0, rank_b = -1;   // the pair measured; rank_b = -1: every rank on one node
  std::string host_a, host_b;
  std::vector<double> bytes;     // message sizes
  std::vector<double> seconds;   // one-way time per size (half the best round trip)
  double alpha = 0.0;            // fitted latency, seconds
  double beta = 0.0;             // fitted bandwidth, bytes per second
  // Both ranks sending m bytes to each other at once (the kernels' exchanges): the time per size
  // and the fitted bandwidth per direction.
  std::vector<double> exchange_bytes, exchange_seconds;
  double exchange_beta = 0.0;
  bool measured() const { return rank_b >= 0; }
};

// Collective over comm (every rank must call it; ranks other than the pair only wait). Sizes 8 B
// to `max_bytes` by factors of 4; the sizes stop growing once a round trip exceeds `stop_seconds`
// (a slow link is measured in a few seconds). 0.4 s, not 0.1: over TCP through a queue the largest
// messages must be large enough to reach the link's sustained rate (a 50 Mbit/s tbf link: exchange
// 5.0-5.1 MB/s fitted up to 256 KiB, 5.5-5.8 up to 1 MiB, while a kernel's 4 MiB block moved at 6.0). Each size: `reps` round trips, fewer (at least two)
// when they would take more than `stop_seconds`, the fastest kept. Identical result on every rank (broadcast from rank 0).
NetworkProbe probe_network(const dist::Comm& comm, double max_bytes = 16.0 * 1024 * 1024, int reps = 5,
                           double stop_seconds = 0.4);

// Fit of T = alpha + m / beta: alpha the smallest message's time, 1 / beta the least-squares slope
// over the large messages (>= 32 KiB, at least the 3 largest). Serial; exposed for tests.
void fit_latency_bandwidth(const std::vector<double>& bytes, const std::vector<double>& seconds, double& alpha,
                           double& beta);

// /metrics attributes of a measured probe: net_alpha_s, net_beta_bytes_per_s, net_pair
// ("host_a (rank a) <-> host_b (rank b)"), net_bytes and net_seconds (comma-separated lists),
// net_exchange_beta_bytes_per_s, net_exchange_bytes and net_exchange_seconds.
void add_network_metrics(const NetworkProbe& probe, std::map<std::string, AttrValue>& metrics);

}  // namespace attnbench::metrics
