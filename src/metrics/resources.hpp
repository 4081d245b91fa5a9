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

// What tells two machines apart even when they report the same hostname: the kernel's boot id
// (/proc/sys/kernel/random/boot_id, random per boot, so different on every real node) and the
// inode of this process's network namespace (different for containers or emulated nodes sharing
// one kernel). Ranks of one node share both. Serial, no MPI.
std::string machine_identity();

// Throws Error(usage) naming the processor name and two ranks when ranks with the same processor
// name (hosts[r]) run on different machines (machines[r], machine_identity() of each rank), since
// per-node accounting keyed on the name would merge those nodes. Serial; exposed for tests.
void check_distinct_node_names(const std::vector<std::string>& hosts, const std::vector<std::string>& machines);

// Collective, agreed: every rank states the bytes it is about to hold (`bytes_this_rank`); the sum
// over the ranks of each node is compared with that node's memory (node_memory()) scaled by
// `fraction` (memory left for the OS, MPI and libraries). When a node does not fit, every rank
// throws Error(code) saying what needs how much per rank and per node, and how much the node has;
// e.g. "input /K: needs 16.0 TiB on node n1 (2 ranks, 8.0 TiB per rank), the node has 23.4 GiB
// (MemTotal)". Two nodes reporting one processor name would be summed as one: that is refused
// first, Error(usage) naming the name (check_distinct_node_names). Cost: two allgathers of short
// strings (host name, machine identity), one allgather of an int64, one agreement.
// `budget_bytes` > 0 additionally caps each rank (e.g. a --memory-budget option).
void check_memory_fits(const dist::Comm& comm, std::int64_t bytes_this_rank, const std::string& what,
                       ExitCode code = ExitCode::usage, double fraction = 0.9, std::int64_t budget_bytes = 0);

}  // namespace attnbench::metrics
