#pragma once
// BlockRowLayout: which contiguous rows of an n-row matrix each of p ranks owns. Rank r owns
// rows [row_offset(r), row_offset(r) + local_rows(r)); the first n % p ranks own one extra row.
// When p > n the last p - n ranks own nothing: every algorithm must accept empty blocks.
#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace attnbench::dist {

class BlockRowLayout {
 public:
  BlockRowLayout(std::int64_t n, int p) : n_(n), p_(p) {
    if (n < 0 || p < 1) throw std::invalid_argument("BlockRowLayout: need n >= 0 and p >= 1");
  }
  std::int64_t global_rows() const noexcept { return n_; }
  int ranks() const noexcept { return p_; }

  std::int64_t local_rows(int r) const noexcept { return n_ / p_ + (r < n_ % p_ ? 1 : 0); }
  std::int64_t row_offset(int r) const noexcept { return r * (n_ / p_) + std::min<std::int64_t>(r, n_ % p_); }
  std::int64_t max_local_rows() const noexcept { return local_rows(0); }

  // Owner of global row i (0 <= i < n).
  int owner_of(std::int64_t i) const noexcept {
    const std::int64_t base = n_ / p_, extra = n_ % p_;
    const std::int64_t boundary = extra * (base + 1);  // rows owned by the "extra" ranks
    if (i < boundary) return static_cast<int>(i / (base + 1));
    return static_cast<int>(extra + (i - boundary) / base);
  }
  // Local index of global row i on its owner.
  std::int64_t local_index(std::int64_t i) const noexcept { return i - row_offset(owner_of(i)); }

  friend bool operator==(const BlockRowLayout&, const BlockRowLayout&) = default;

 private:
  std::int64_t n_;
  int p_;
};

}  // namespace attnbench::dist
