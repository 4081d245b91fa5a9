#pragma once
// SequenceLayout: which tokens (rows of Q, K, V) of an n-token sequence each of p ranks owns, for
// the three row orders sequence-parallel attention is run with. A value type, unit-tested without
// MPI (including n < p and n not divisible by p or 2p). Every rank's positions are increasing, which
// is what lets the causal mask keep a prefix of each key tile (online_softmax.hpp).
//   contiguous: rank r owns [r n/p, (r+1) n/p) (BlockRowLayout). Causal work of rank r grows
//               with r: the last rank does about 2p-1 times the first's.
//   striped:    token i on rank i mod p (Striped Attention): causal work within one row of equal.
//   zigzag:     2p contiguous chunks (BlockRowLayout(n, 2p)); rank r owns chunks r and 2p-1-r
//               (zigzag ring attention / Megatron context parallelism): equal causal work.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "dist/layout.hpp"

namespace attnbench::attention {

enum class LayoutKind { contiguous, striped, zigzag };

inline constexpr EnumNames<LayoutKind, 3> kLayoutKinds{
    {{LayoutKind::contiguous, "contiguous"}, {LayoutKind::striped, "striped"}, {LayoutKind::zigzag, "zigzag"}}};

inline std::string to_string(LayoutKind k) { return enum_name(kLayoutKinds, k); }
inline LayoutKind parse_layout(std::string_view s) { return parse_enum(kLayoutKinds, s, "--layout"); }

class SequenceLayout {
 public:
  SequenceLayout(LayoutKind kind, std::int64_t n, int p) : kind_(kind), n_(n), p_(p), block_(n, p), chunks_(n, 2 * p) {}

  LayoutKind kind() const noexcept { return kind_; }
  std::int64_t global_rows() const noexcept { return n_; }
  int ranks() const noexcept { return p_; }

  std::int64_t local_rows(int r) const noexcept {
    switch (kind_) {
      case LayoutKind::contiguous: return block_.local_rows(r);
      case LayoutKind::striped: return n_ / p_ + (r < n_ % p_ ? 1 : 0);
      case LayoutKind::zigzag: return chunks_.local_rows(r) + chunks_.local_rows(2 * p_ - 1 - r);
    }
    return 0;
  }
  std::int64_t max_local_rows() const noexcept {
    std::int64_t m = 0;
    for (int r = 0; r < p_; ++r) m = std::max(m, local_rows(r));
    return m;
  }
  // Global position of rank r's k-th row (0 <= k < local_rows(r)).
  std::int64_t position(int r, std::int64_t k) const noexcept {
    switch (kind_) {
      case LayoutKind::contiguous: return block_.row_offset(r) + k;
      case LayoutKind::striped: return k * p_ + r;
      case LayoutKind::zigzag: {
        const std::int64_t first = chunks_.local_rows(r);
        return k < first ? chunks_.row_offset(r) + k : chunks_.row_offset(2 * p_ - 1 - r) + (k - first);
      }
    }
    return 0;
  }
  std::vector<std::int64_t> positions(int r) const {
    std::vector<std::int64_t> pos(static_cast<std::size_t>(local_rows(r)));
    for (std::size_t k = 0; k < pos.size(); ++k) pos[k] = position(r, static_cast<std::int64_t>(k));
    return pos;
  }
  // Owner and local index of global token i (0 <= i < n).
  int owner_of(std::int64_t i) const noexcept {
    switch (kind_) {
      case LayoutKind::contiguous: return block_.owner_of(i);
      case LayoutKind::striped: return static_cast<int>(i % p_);
      case LayoutKind::zigzag: {
        const int c = chunks_.owner_of(i);
        return c < p_ ? c : 2 * p_ - 1 - c;
      }
    }
    return 0;
  }
  std::int64_t local_index(std::int64_t i) const noexcept {
    switch (kind_) {
      case LayoutKind::contiguous: return block_.local_index(i);
      case LayoutKind::striped: return i / p_;
      case LayoutKind::zigzag: {
        const int c = chunks_.owner_of(i);
        const std::int64_t in_chunk = i - chunks_.row_offset(c);
        return c < p_ ? in_chunk : chunks_.local_rows(2 * p_ - 1 - c) + in_chunk;
      }
    }
    return 0;
  }
  // The causal work of rank r in score entries: sum over its rows of (position + 1).
  double causal_pairs(int r) const noexcept {
    double s = 0.0;
    for (std::int64_t k = 0; k < local_rows(r); ++k) s += static_cast<double>(position(r, k) + 1);
    return s;
  }

  friend bool operator==(const SequenceLayout& a, const SequenceLayout& b) {
    return a.kind_ == b.kind_ && a.n_ == b.n_ && a.p_ == b.p_;
  }

 private:
  LayoutKind kind_;
  std::int64_t n_;
  int p_;
  dist::BlockRowLayout block_, chunks_;
};

}  // namespace attnbench::attention
