#pragma once
// Distributed exact softmax attention over block-row-distributed Q, K, V (the 2-D, single-head
// problem; it runs the multi-head kernel of mha.hpp, which states the data movement in full).
//   O[rows_r] := softmax(scale * Q[rows_r] K[*]^T) V[*]
// Variants (chosen at run time):
//   allgather: K[*], V[*] := Allgatherv(K[rows_r], V[rows_r]); stream locally.
//              Memory O(n (d + dv)) per rank; communication (p-1)/p * n (d + dv) elements per rank,
//              not overlapped.
//   ring:      p steps; at step t rank r holds the K/V block of rank (r - t) mod p, absorbs it, and
//              passes it to rank r + 1 while receiving the next from r - 1 (Isend/Irecv posted before
//              the compute, waited after it). Memory O((n/p)(d + dv) + tile^2) per rank; the same
//              volume as allgather but overlapped with compute.
#include <string>
#include <string_view>

#include "attention/online_softmax.hpp"
#include "attention/attention_problem.hpp"
#include "dist/comm.hpp"

namespace attnbench::attention {

enum class ExactVariant { ring, allgather };
std::string to_string(ExactVariant v);
ExactVariant parse_exact_variant(std::string_view s);  // throws usage_error

struct ExactOptions {
  ExactVariant variant = ExactVariant::ring;
  double scale = 1.0;
  TileSizes tiles;
  int threads = 1;
};

// Per-phase seconds of one call on this rank.
struct PhaseTimes {
  double compute = 0.0;    // local tiles (GEMMs, exp, rescaling)
  double comm_wait = 0.0;  // exposed communication: time blocked in MPI waits/collectives
  double total = 0.0;
  std::int64_t peak_buffer_bytes = 0;  // K/V buffers + softmax state held by this call
};

// Collective over comm. Returns this rank's rows of O (layout_q.local_rows(rank) x dv).
template <class T>
Matrix<T> exact_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const ExactOptions& options,
                          PhaseTimes* times = nullptr);

// Flops of the work model: 2 nq nk d (scores) + 2 nq nk dv (P V). The nq nk exponentials are not
// counted as flops.
double exact_attention_flops(std::int64_t nq, std::int64_t nk, std::int64_t d, std::int64_t dv);

}  // namespace attnbench::attention
