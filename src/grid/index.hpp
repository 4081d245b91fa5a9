#pragma once
// Element indices tagged with the index space they live in, as DLA-Future's GlobalElementIndex and
// LocalElementIndex: a GLOBAL index counts rows (or columns) of the whole m x n matrix, a LOCAL one
// counts rows (or columns) of one process's block-cyclic share. Both are int64 underneath, and
// handing one where the other is meant compiles as int64 but reads the wrong entry; as distinct
// types it does not compile. Construction from an integer is explicit (the call site says which
// space it means), the conversion between the spaces goes through a BlockCyclicLayout (which knows
// the blocks and the grid), and value() gives the integer back for arithmetic and for arrays that
// are not distributed (a replicated row-major copy is indexed by global values).
#include <compare>
#include <cstdint>
#include <type_traits>

namespace attnbench::grid {

namespace index_space {
struct global;
struct local;
}  // namespace index_space

// One coordinate (a row or a column) in index space S.
template <class S>
class Index {
 public:
  constexpr Index() noexcept = default;
  constexpr explicit Index(std::int64_t v) noexcept : v_(v) {}
  constexpr std::int64_t value() const noexcept { return v_; }
  constexpr Index& operator++() noexcept {
    ++v_;
    return *this;
  }
  friend constexpr auto operator<=>(const Index&, const Index&) = default;

 private:
  std::int64_t v_ = 0;
};
using GlobalIndex = Index<index_space::global>;
using LocalIndex = Index<index_space::local>;

// (row, column) of one element in index space S.
template <class S>
class ElementIndex {
 public:
  constexpr ElementIndex(Index<S> row, Index<S> col) noexcept : row_(row), col_(col) {}
  constexpr explicit ElementIndex(std::int64_t row, std::int64_t col) noexcept : row_(row), col_(col) {}
  constexpr Index<S> row() const noexcept { return row_; }
  constexpr Index<S> col() const noexcept { return col_; }
  // Only a global index can say it is on the diagonal (local row li = local column lj is not).
  constexpr bool on_diagonal() const noexcept
    requires std::is_same_v<S, index_space::global>
  {
    return row_ == col_;
  }
  friend constexpr bool operator==(const ElementIndex&, const ElementIndex&) = default;

 private:
  Index<S> row_, col_;
};
using GlobalElementIndex = ElementIndex<index_space::global>;
using LocalElementIndex = ElementIndex<index_space::local>;

}  // namespace attnbench::grid
