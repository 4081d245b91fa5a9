#include "metrics/resources.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/checked.hpp"
#include "dist/collective.hpp"

namespace attnbench::metrics {

std::int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // reported in kB
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::int64_t>(ru.ru_maxrss) * 1024;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::int64_t parse_meminfo_total(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    long long value = -1;
    std::string unit;
    if (!(fields >> value) || value < 0) return -1;
    fields >> unit;
    std::int64_t bytes = 0;
    const std::int64_t scale = unit == "kB" ? 1024 : unit.empty() || unit == "B" ? 1 : -1;
    if (scale < 0 || !checked_mul_ok(value, scale, bytes)) return -1;
    return bytes;
  }
  return -1;
}

namespace {
std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The memory limit of this process's cgroup, or -1 ("max", absent, unreadable).
std::int64_t cgroup_limit_bytes() {
  std::istringstream groups(read_text("/proc/self/cgroup"));
  std::string line;
  std::int64_t best = -1;
  auto consider = [&](const std::string& file) {
    std::string v = read_text(file);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    if (v.empty() || v == "max") return;
    try {
      const long long b = std::stoll(v);
      // cgroup v1 reports "no limit" as a huge page-rounded number: ignore anything beyond 2^60.
      if (b > 0 && b < (1LL << 60)) best = best < 0 ? b : std::min<std::int64_t>(best, b);
    } catch (const std::exception&) {
    }
  };
  while (std::getline(groups, line)) {
    // "0::/path" (v2) or "N:memory:/path" (v1)
    const auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    if (controllers.empty()) consider("/sys/fs/cgroup" + path + "/memory.max");
    else if (controllers.find("memory") != std::string::npos)
      consider("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes");
  }
  return best;
}
}  // namespace

NodeMemory node_memory() {
  NodeMemory m;
  m.bytes = parse_meminfo_total(read_text("/proc/meminfo"));
  m.source = "MemTotal";
  if (m.bytes <= 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    std::int64_t b = 0;
    m.bytes = pages > 0 && page > 0 && checked_mul_ok(pages, page, b) ? b : 0;
    m.source = "physical pages";
  }
  const std::int64_t cg = cgroup_limit_bytes();
  if (cg > 0 && (m.bytes <= 0 || cg < m.bytes)) {
    m.bytes = cg;
    m.source = "cgroup memory limit";
  }
  return m;
}

std::string machine_identity() {
  std::string boot_id = read_text("/proc/sys/kernel/random/boot_id");
  while (!boot_id.empty() && std::isspace(static_cast<unsigned char>(boot_id.back()))) boot_id.pop_back();
  struct stat net {};
  const std::string netns = ::stat("/proc/self/ns/net", &net) == 0 ? std::to_string(net.st_ino) : "";
  return boot_id + "/" + netns;
}

void check_distinct_node_names(const std::vector<std::string>& hosts, const std::vector<std::string>& machines) {
  std::map<std::string, std::size_t> first_rank_of;
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    const auto [it, fresh] = first_rank_of.emplace(hosts[r], r);
    if (!fresh && machines[it->second] != machines[r])
      throw Error(ExitCode::usage,
                  "two nodes report the same processor name '" + hosts[r] + "' (MPI_Get_processor_name; ranks " +
                      std::to_string(it->second) + " and " + std::to_string(r) +
                      ") but are different machines (kernel boot id or network namespace differ): attnbench "
                      "identifies a node by this name (memory per node, hosts in provenance); give every node "
                      "a distinct hostname");
  }
}

void check_memory_fits(const dist::Comm& comm, std::int64_t bytes_this_rank, const std::string& what,
                       ExitCode code, double fraction, std::int64_t budget_bytes) {
  // host name, machine and bytes of every rank, on every rank: each rank then sums over its own node.
  const auto hosts = comm.allgather_strings(dist::Environment::processor_name());
  const auto machines = comm.allgather_strings(machine_identity());
  const auto bytes = comm.allgather<long long>(static_cast<long long>(std::max<std::int64_t>(bytes_this_rank, 0)));
  const NodeMemory mem = node_memory();
  dist::agree_on_success(comm, [&] {
    // Two machines under one name would be summed as one node: refused (the same on every rank).
    check_distinct_node_names(hosts, machines);
    const std::string& me = hosts[static_cast<std::size_t>(comm.rank())];
    if (budget_bytes > 0 && bytes_this_rank > budget_bytes)
      throw Error(code, what + ": needs " + format_bytes(static_cast<long double>(bytes_this_rank)) +
                            " on rank " + std::to_string(comm.rank()) + ", more than the memory budget of " +
                            format_bytes(static_cast<long double>(budget_bytes)) + " per rank");
    // Sum in long double: the per-rank values are each < 2^63 but their sum need not be.
    long double node_sum = 0.0L;
    long long node_max = 0;
    int node_ranks = 0;
    for (std::size_t r = 0; r < hosts.size(); ++r)
      if (hosts[r] == me) {
        node_sum += static_cast<long double>(bytes[r]);
        node_max = std::max(node_max, bytes[r]);
        ++node_ranks;
      }
    if (mem.bytes <= 0) return;  // unknown: nothing to compare with
    const long double usable = static_cast<long double>(mem.bytes) * fraction;
    if (node_sum > usable)
      throw Error(code, what + ": needs " + format_bytes(node_sum) + " on node " + me + " (" +
                            std::to_string(node_ranks) + (node_ranks == 1 ? " rank" : " ranks") + ", up to " +
                            format_bytes(static_cast<long double>(node_max)) + " per rank), the node has " +
                            format_bytes(static_cast<long double>(mem.bytes)) + " (" + mem.source + "; " +
                            std::to_string(static_cast<int>(fraction * 100 + 0.5)) + "% usable)");
  });
}

}  // namespace attnbench::metrics
