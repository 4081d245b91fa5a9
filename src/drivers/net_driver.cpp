// `attnbench net`: the network probe of metrics/network.hpp on its own (the harness runs the same
// probe in every run that spans more than one node and archives it in /metrics net_*).
#include <fmt/format.h>

#include <iostream>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "drivers/net_driver.hpp"
#include "metrics/network.hpp"

namespace attnbench::drivers {

namespace {
const char* const kNetHelp =
    "attnbench net: latency and bandwidth between two nodes (MPI; ranks on two nodes or more).\n"
    "Usage: mpirun -n 2 --map-by node attnbench net [--max-bytes BYTES] [--json]\n"
    "  --max-bytes BYTES  largest message (default 16777216)\n"
    "  --json             one JSON object on stdout instead of the table\n"
    "Ping-pong between rank 0 and the lowest rank on another node (by MPI_Get_processor_name): message\n"
    "sizes 8 B to --max-bytes by factors of 4 (sizes stop growing once a round trip exceeds 0.1 s), the\n"
    "fastest of 5 round trips each (at least 2 where they take long), and the fit T = alpha + m / beta\n"
    "(alpha: the smallest message's time; 1/beta: the least-squares slope over the messages of 32 KiB\n"
    "and more); then the same for exchanges (both ranks send and receive at once, until one takes\n"
    "0.3 s): the exchange bandwidth, which the report's performance model uses. Every run that spans\n"
    "two nodes or more archives the same probe (/metrics net_*).\n"
    "Every rank on one node: exit 2 (there is no network between ranks to measure).\n";
}  // namespace

bool is_net_command(int argc, char** argv) { return argc >= 2 && std::string_view(argv[1]) == "net"; }

std::optional<int> answer_net_help(int argc, char** argv) {
  if (!is_net_command(argc, argv)) return std::nullopt;
  for (int i = 2; i < argc; ++i)
    if (const std::string_view a(argv[i]); a == "--help" || a == "-h") {
      std::cout << kNetHelp;
      return 0;
    }
  return std::nullopt;
}

int run_net(const dist::Comm& comm, int argc, char** argv) {
  double max_bytes = 16.0 * 1024 * 1024;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a == "--help" || a == "-h") {
      if (comm.is_root()) std::cout << kNetHelp;
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--max-bytes" && i + 1 < argc) {
      const std::string v(argv[++i]);
      std::size_t used = 0;
      long long b = 0;
      try {
        b = std::stoll(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || b < 8 || b > (1LL << 30))
        throw usage_error("net --max-bytes: expected an integer in [8, 2^30], got '" + v + "'").everywhere();
      max_bytes = static_cast<double>(b);
    } else {
      throw usage_error("net: unknown option '" + std::string(a) + "' (attnbench net --help)").everywhere();
    }
  }
  const metrics::NetworkProbe p = metrics::probe_network(comm, max_bytes);
  if (!p.measured())
    throw usage_error("net: all " + std::to_string(comm.size()) +
                      " ranks run on one node; start ranks on at least two nodes").everywhere();
  if (!comm.is_root()) return 0;
  if (json) {
    std::string sizes, times;
    for (std::size_t i = 0; i < p.bytes.size(); ++i) {
      sizes += fmt::format("{}{:.0f}", i ? "," : "", p.bytes[i]);
      times += fmt::format("{}{:.6g}", i ? "," : "", p.seconds[i]);
    }
    std::cout << fmt::format(
        "{{\"alpha_s\": {:.6g}, \"beta_bytes_per_s\": {:.6g}, \"exchange_beta_bytes_per_s\": {:.6g}, \"host_a\": \"{}\", \"rank_a\": {}, \"host_b\": \"{}\", "
        "\"rank_b\": {}, \"bytes\": [{}], \"seconds\": [{}]}}\n",
        p.alpha, p.beta, p.exchange_beta, p.host_a, p.rank_a, p.host_b, p.rank_b, sizes, times);
    return 0;
  }
  std::cout << fmt::format(
      "attnbench net: {} (rank {}) <-> {} (rank {}): alpha {:.3g} us, beta {:.4g} MB/s, exchange beta {:.4g} MB/s\n",
      p.host_a, p.rank_a, p.host_b, p.rank_b, p.alpha * 1e6, p.beta * 1e-6, p.exchange_beta * 1e-6);
  for (std::size_t i = 0; i < p.bytes.size(); ++i)
    std::cout << fmt::format("  {:>10.0f} B  {:>10.3g} us one way  (fit {:.3g} us)\n", p.bytes[i],
                             p.seconds[i] * 1e6, (p.alpha + p.bytes[i] / p.beta) * 1e6);
  for (std::size_t i = 0; i < p.exchange_bytes.size(); ++i)
    std::cout << fmt::format("  {:>10.0f} B  {:>10.3g} us exchange (both ways at once)\n", p.exchange_bytes[i],
                             p.exchange_seconds[i] * 1e6);
  return 0;
}

}  // namespace attnbench::drivers
