#pragma once
// Resources of this process and its node: peak RSS, the node's memory, and the check kernels call
// before allocating so that a problem too large for the machine is one clear error on every rank
// (how much it needs, how much there is) instead of std::bad_alloc or the OOM killer.
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dist/comm.hpp"

namespace attnbench::metrics {

// Peak resident set size of this process in bytes (VmHWM from /proc/self/status, or getrusage).
std::int64_t peak_rss_bytes();

// Median of a copy of the values (mean of the two middle values for even counts).
double median(std::vector<double> values);

// Memory this node lets the job use: MemTotal from /proc/meminfo, lowered to the memory limit of
// this process's cgroup (v2 memory.max, v1 memory.limit_in_bytes) when there is one, as under
// Slurm with cgroup task containment. `source` says which one it is. Serial, no MPI.
struct NodeMemory {
  std::int64_t bytes = 0;  // 0: unknown (no /proc/meminfo and no sysconf answer)
  std::string source;      // "MemTotal" or "cgroup memory limit"
};
NodeMemory node_memory();

// Parses the "MemTotal:  N kB" line of a /proc/meminfo text; -1 when absent. Exposed for tests.
std::int64_t parse_meminfo_total(const std::string& meminfo_text);

// Collective, agreed: every rank states the bytes it is about to hold (`bytes_this_rank`); the sum
// over the ranks of each node is compared with that node's memory (node_memory()) scaled by
// `fraction` (memory left for the OS, MPI and libraries). When a node does not fit, every rank
// throws Error(code) saying what needs how much per rank and per node, and how much the node has;
// e.g. "input /K: needs 16.0 TiB on node n1 (2 ranks, 8.0 TiB per rank), the node has 23.4 GiB
// (MemTotal)". Cost: one allgather of the host name, one allgather of an int64, one agreement.
// `budget_bytes` > 0 additionally caps each rank (e.g. a --memory-budget option).
void check_memory_fits(const dist::Comm& comm, std::int64_t bytes_this_rank, const std::string& what,
                       ExitCode code = ExitCode::usage, double fraction = 0.9, std::int64_t budget_bytes = 0);

}  // namespace attnbench::metrics
