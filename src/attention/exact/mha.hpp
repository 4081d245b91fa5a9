#pragma once
// Distributed exact multi-head attention (causal or not, grouped-query heads) over a
// sequence-distributed AttentionProblem (problem.hpp), for every (batch, head) pair:
//   O[b, rows_r, h] := softmax(scale Q[b, rows_r, h] K[b, *, h/g]^T  (+ causal mask)) V[b, *, h/g]
// Variants (data movement and memory per rank; n_r = n/p tokens, W_kv = B Hkv (d + dv) elements
// per token):
//   ring:      p steps; at step t rank r absorbs the K/V block of rank (r - t) mod p and passes it
//              right while receiving the next from the left (Isend/Irecv posted before the compute,
//              waited after it). Moves (p-1)/p n W_kv elements per rank, overlapped with compute.
//              Memory: its own block + 2 rotating blocks of max n_r W_kv + the softmax state.
//              Every variant also holds one K/V head of the block being absorbed, contiguous
//              (n_block (d + dv) elements, only when Hkv > 1), and per thread one tile_q x d Q tile
//              (only when H > 1): the GEMMs then read unit-stride rows instead of rows H d apart.
//              Works with every layout; for causal attention the layout sets the load balance.
//   allgather: K[*], V[*] := Allgatherv of every rank's block (the same (p-1)/p n W_kv elements,
//              not overlapped); memory n W_kv per rank.
//   ulysses:   head parallelism (DeepSpeed-Ulysses). All-to-all 1: rank s receives, from every
//              rank, its tokens of the query heads H_s = BlockRowLayout(H, p) block s and of the
//              K/V heads they use, so it holds the whole sequence for H_s heads; local attention;
//              all-to-all 2 returns O[b, rows_r, H_s] to each rank r. Moves about
//              (n_r B (H d + H dv) + n_r B Hkv_s (d + dv)) (p-1)/p elements each way, not
//              overlapped; memory n B (H_s (d + dv) + Hkv_s (d + dv)) for the gathered heads plus
//              the packed send/receive buffers of the same order. H not divisible by p: uneven
//              head blocks (the largest sets the time); H < p: ranks without a head idle (a load
//              balance of p / H, archived). Needs the contiguous layout (the whole sequence is
//              reassembled in order on each rank): any other layout is a usage error.
#include <cstdint>
#include <string>
#include <string_view>

#include "attention/exact/online_softmax.hpp"
#include "attention/problem.hpp"
#include "core/enum_names.hpp"
#include "dist/comm.hpp"

namespace attnbench::attention {

enum class MhaVariant { ring, allgather, ulysses };
// The one name table of the variants: printing, parsing (usage_error naming --variant), the choices.
inline constexpr EnumNames<MhaVariant, 3> kMhaVariants{
    {{MhaVariant::ring, "ring"}, {MhaVariant::allgather, "allgather"}, {MhaVariant::ulysses, "ulysses"}}};
inline std::string to_string(MhaVariant v) { return enum_name(kMhaVariants, v); }
inline MhaVariant parse_mha_variant(std::string_view s) { return parse_enum(kMhaVariants, s, "--variant"); }

struct MhaOptions {
  MhaVariant variant = MhaVariant::ring;
  bool causal = false;
  double scale = 1.0;
  TileSizes tiles;
  int threads = 1;
};

// Per-phase figures of one call on this rank.
struct MhaTimes {
  double compute = 0.0;    // local tiles (GEMMs, exp, rescaling) and packing for ulysses
  double comm_wait = 0.0;  // exposed communication: time blocked in MPI waits
  double total = 0.0;
  double bytes_received = 0.0;         // bytes moved to this rank (K/V blocks, all-to-all pieces)
  std::int64_t peak_buffer_bytes = 0;  // communication buffers + softmax state held by this call
  std::int64_t tiles_computed = 0;     // score tiles (causal: tiles above the diagonal are skipped)
};

// Usage errors for combinations that do not apply (identical on every rank): ulysses with a
// non-contiguous layout; causal with n_q != n_kv or different Q/K layouts.
void check_mha_options(const MhaOptions& o, LayoutKind layout_q, LayoutKind layout_kv, std::int64_t n_q,
                       std::int64_t n_kv);

// Collective over comm. Returns this rank's O: (B n_r) x (H dv), rows in the order of layout_q.
template <class T>
Matrix<T> mha_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const MhaOptions& options,
                        MhaTimes* times = nullptr);

// Work model: 2 B H P (d + dv) flops, with P = n_q n_kv score entries, or n (n + 1) / 2 causal.
double mha_flops(const HeadShape& s, std::int64_t n_q, std::int64_t n_kv, bool causal);

// Collective: max over mean of the ranks' seconds (1 = perfect balance; 0 ranks busy: 1).
double load_balance(const dist::Comm& comm, double seconds);

// Collective redistribution of token rows between layouts: `local` holds this rank's tokens under
// `from` as (B n_r) x width; returns them under `to`. Every token row moves once, point to point
// (at most (B width) elements per token, each rank posting p - 1 receives and sends).
template <class T>
Matrix<T> redistribute_tokens(const dist::Comm& comm, const Matrix<T>& local, std::int64_t batch,
                              const SequenceLayout& from, const SequenceLayout& to);

// Collective: moves the problem's Q, K, V tokens to `kind` (redistribute_tokens on each; nothing
// when they are already there). Transiently about three copies of one tensor's local part.
template <class T>
void to_layout(const dist::Comm& comm, AttentionProblem<T>& p, LayoutKind kind);

}  // namespace attnbench::attention
