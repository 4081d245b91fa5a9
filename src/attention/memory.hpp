#pragma once
// The memory a synthetic attention problem needs on each rank, computed from its options before
// anything is generated or allocated, and the agreed check of it against the node's memory
// (metrics::check_memory_fits, exit 6: does not fit). `attention --n 7e10 --d 64` and
// `gen --n 2^40` are then one message naming the bytes on every rank, not std::bad_alloc on some
// ranks and MPI_Abort. Used by the attention kernel (exact and approximate cases) and `gen`; an
// input file's declared sizes are checked by attention::read_attention_input (exit 3) the same way.
// Header-only: `gen` (drivers) and the kernel share it without another library.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "attention/exact/mha.hpp"
#include "attention/problem.hpp"
#include "core/checked.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"
#include "metrics/resources.hpp"

namespace attnbench::attention {

// Elements per token (sequence position) of Q, K and V, and of O when `with_output`:
// B (H d + Hkv (d + dv) [+ H dv]). In long double: the options' ranges allow products past 2^63.
inline long double token_elements(const HeadShape& s, bool with_output) {
  const auto B = static_cast<long double>(s.batch), H = static_cast<long double>(s.heads),
             Hkv = static_cast<long double>(s.kv_heads), d = static_cast<long double>(s.d),
             dv = static_cast<long double>(s.dv);
  return B * (H * d + Hkv * (d + dv) + (with_output ? H * dv : 0.0L));
}

// Elements mha_attention holds on a rank beyond its inputs and output (the figures of mha.hpp),
// with `max_rows` the most tokens any rank holds: ring two rotating K/V blocks of max_rows
// tokens; allgather the whole K and V; ulysses the whole sequence for its block of query heads
// and the K/V heads they use, plus the packed all-to-all buffers of the same order (x 2).
// Tiles and the softmax state (O(tile^2) and O(rows H)) are not counted.
inline long double mha_buffer_elements(const HeadShape& s, std::int64_t n, std::int64_t max_rows, int ranks,
                                       MhaVariant v) {
  const long double kv_token = static_cast<long double>(s.batch) * static_cast<long double>(s.kv_heads) *
                               static_cast<long double>(s.d + s.dv);
  switch (v) {
    case MhaVariant::ring: return 2.0L * static_cast<long double>(max_rows) * kv_token;
    case MhaVariant::allgather: return static_cast<long double>(n) * kv_token;
    case MhaVariant::ulysses: {
      const std::int64_t heads_block = (s.heads + ranks - 1) / ranks;  // BlockRowLayout(H, p)'s largest block
      const std::int64_t kv_block = std::min(s.kv_heads, heads_block / std::max<std::int64_t>(s.group(), 1) + 1);
      return 2.0L * static_cast<long double>(n) * static_cast<long double>(s.batch) *
             static_cast<long double>(heads_block + kv_block) * static_cast<long double>(s.d + s.dv);
    }
  }
  return 0.0L;
}

// Collective and agreed: every rank states the bytes it is about to hold; a node whose ranks
// together need more than it has (90% of MemTotal or the cgroup limit) ends every rank with
// Error(does_not_fit), e.g. "attention --n 70000000000 --d 64 ... (double): needs 21.7 TiB on
// node n1 (2 ranks, up to 10.9 TiB per rank), the node has 23.5 GiB (MemTotal; 90% usable)".
// A requirement past int64 is stated in `what` and compared as the int64 maximum.
inline void check_synthetic_fits(const dist::Comm& comm, long double bytes_this_rank, std::string what) {
  constexpr long double cap = 9.0e18L;
  const bool saturated = !(bytes_this_rank < cap);  // also NaN
  const long double worst = comm.allreduce<double>(static_cast<double>(bytes_this_rank), dist::Op::max);
  if (!(worst < cap)) what += " (up to " + format_bytes(worst) + " per rank, beyond int64: compared as its maximum)";
  metrics::check_memory_fits(comm,
                             saturated ? std::numeric_limits<std::int64_t>::max()
                                       : static_cast<std::int64_t>(bytes_this_rank),
                             what, ExitCode::does_not_fit);
}

}  // namespace attnbench::attention
