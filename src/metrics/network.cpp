#include "metrics/network.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "core/timer.hpp"
#include "dist/comm.hpp"

namespace attnbench::metrics {

void fit_latency_bandwidth(const std::vector<double>& bytes, const std::vector<double>& seconds, double& alpha,
                           double& beta) {
  alpha = 0.0;
  beta = 0.0;
  if (bytes.empty()) return;
  // alpha: the smallest message's time. 1/beta: the least-squares slope of T against m over the
  // large messages (>= 32 KiB, at least the 3 largest sizes), with a free intercept, so that a
  // shaper's burst or a protocol switch between small and large messages does not bend it.
  alpha = *std::min_element(seconds.begin(), seconds.end());
  std::size_t first = 0;
  while (first < bytes.size() && bytes[first] < 32768.0) ++first;
  first = std::min(first, bytes.size() >= 3 ? bytes.size() - 3 : 0);
  const double k = static_cast<double>(bytes.size() - first);
  double sm = 0, st = 0, smm = 0, smt = 0;
  for (std::size_t i = first; i < bytes.size(); ++i) {
    sm += bytes[i];
    st += seconds[i];
    smm += bytes[i] * bytes[i];
    smt += bytes[i] * seconds[i];
  }
  const double den = k * smm - sm * sm;
  double slope = den > 0 ? (k * smt - sm * st) / den : 0.0;
  if (slope <= 0 && smm > 0) slope = (smt - alpha * sm) / smm;  // through (0, alpha)
  beta = slope > 0 ? 1.0 / slope : 0.0;
}

namespace {
// One sweep of message sizes 8 B, 32 B, ... between rank 0 and `peer` (the pair; other ranks
// return at once). exchange = false: ping-pong, the one-way time (half the round trip) per size;
// true: both ranks send and receive m bytes at once, the time of the exchange. Rank 0 alone decides
// (its clock, its measurement) how many repetitions the next size gets, 0 = stop once a
// repetition exceeds stop_seconds, and tells its partner; the figures are rank 0's.
void sweep(const dist::Comm& comm, int peer, bool in_pair, bool exchange, double max_bytes, int reps,
           double stop_seconds, std::vector<double>& bytes, std::vector<double>& seconds) {
  if (!in_pair) return;
  const int me = comm.rank();
  std::vector<char> out(static_cast<std::size_t>(max_bytes)), in(static_cast<std::size_t>(max_bytes));
  int count = reps;
  for (double m = 8; m <= max_bytes && count > 0; m *= 4) {
    const auto n = static_cast<std::size_t>(m);
    double best = 1e300;
    for (int k = 0; k < count; ++k) {
      const double t0 = wall_seconds();
      if (exchange) {
        dist::Request r = comm.irecv<char>(std::span<char>(in.data(), n), peer, 11);
        dist::Request s = comm.isend<char>(std::span<const char>(out.data(), n), peer, 11);
        r.wait();
        s.wait();
      } else if (me == 0) {
        comm.isend<char>(std::span<const char>(out.data(), n), peer, 8).wait();
        comm.irecv<char>(std::span<char>(in.data(), n), peer, 9).wait();
      } else {
        comm.irecv<char>(std::span<char>(in.data(), n), peer, 8).wait();
        comm.isend<char>(std::span<const char>(out.data(), n), peer, 9).wait();
      }
      best = std::min(best, wall_seconds() - t0);
    }
    if (me == 0) {
      bytes.push_back(m);
      seconds.push_back(exchange ? best : best / 2);
      // The next size takes about 4x as long: as many repetitions as fit in stop_seconds, at least
      // two: the largest sizes weigh most in the fit, and one repetition delayed by a busy core (a
      // 2 MiB exchange at 100 Mbit/s once took 0.35 s instead of 0.18) would halve the bandwidth.
      count = best > stop_seconds || m * 4 > max_bytes ? 0
                                                        : std::clamp(static_cast<int>(stop_seconds / (4 * best)),
                                                                     std::min(2, reps), reps);
    }
    std::span<int> flag(&count, 1);
    if (me == 0) comm.isend<int>(std::span<const int>(flag), peer, 10).wait();
    else comm.irecv<int>(flag, peer, 10).wait();
  }
}

// rank 0's figures to every rank.
void share(const dist::Comm& comm, std::vector<double>& bytes, std::vector<double>& seconds) {
  int sizes = static_cast<int>(bytes.size());
  comm.bcast(std::span<int>(&sizes, 1));
  bytes.resize(static_cast<std::size_t>(sizes));
  seconds.resize(static_cast<std::size_t>(sizes));
  comm.bcast(std::span<double>(bytes));
  comm.bcast(std::span<double>(seconds));
}
}  // namespace

NetworkProbe probe_network(const dist::Comm& comm, double max_bytes, int reps, double stop_seconds) {
  NetworkProbe p;
  const auto hosts = comm.allgather_strings(dist::Environment::processor_name());
  for (int r = 1; r < comm.size() && p.rank_b < 0; ++r)
    if (hosts[static_cast<std::size_t>(r)] != hosts[0]) p.rank_b = r;
  if (p.rank_b < 0) return p;  // one node (the same answer on every rank)
  p.host_a = hosts[0];
  p.host_b = hosts[static_cast<std::size_t>(p.rank_b)];
  const bool in_pair = comm.rank() == 0 || comm.rank() == p.rank_b;
  const int peer = comm.rank() == 0 ? p.rank_b : 0;
  comm.barrier();
  sweep(comm, peer, in_pair, false, max_bytes, reps, stop_seconds, p.bytes, p.seconds);
  share(comm, p.bytes, p.seconds);
  fit_latency_bandwidth(p.bytes, p.seconds, p.alpha, p.beta);
  // Exchange: both ranks send and receive at once, as every rank does in the kernels' ring steps,
  // allgathers and all-to-alls; the model uses this bandwidth. On a full-duplex network it equals
  // the one-way one; where the transport serialises the two directions it does not (Open MPI's TCP
  // put protocol: a rank's control message for the peer's transfer can queue behind its own whole
  // outgoing message, jobs/cluster/emulate.sh "Two-way transfers"). Swept further (until an
  // exchange takes 3x stop_seconds), since it settles only on large messages.
  std::vector<double> xbytes;
  sweep(comm, peer, in_pair, true, max_bytes, reps, 3 * stop_seconds, xbytes, p.exchange_seconds);
  share(comm, xbytes, p.exchange_seconds);
  p.exchange_bytes = xbytes;
  double unused = 0.0;
  fit_latency_bandwidth(p.exchange_bytes, p.exchange_seconds, unused, p.exchange_beta);
  return p;
}

namespace {
std::string join(const std::vector<double>& v, const char* spec) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + fmt::format(fmt::runtime(spec), v[i]);
  return out;
}
}  // namespace

void add_network_metrics(const NetworkProbe& p, std::map<std::string, AttrValue>& m) {
  if (!p.measured()) return;
  m["net_alpha_s"] = p.alpha;
  m["net_beta_bytes_per_s"] = p.beta;
  m["net_pair"] = fmt::format("{} (rank {}) <-> {} (rank {})", p.host_a, p.rank_a, p.host_b, p.rank_b);
  m["net_bytes"] = join(p.bytes, "{:.0f}");
  m["net_seconds"] = join(p.seconds, "{:.6g}");
  m["net_exchange_bytes"] = join(p.exchange_bytes, "{:.0f}");
  m["net_exchange_seconds"] = join(p.exchange_seconds, "{:.6g}");
  m["net_exchange_beta_bytes_per_s"] = p.exchange_beta;
}

}  // namespace attnbench::metrics
