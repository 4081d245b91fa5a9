#pragma once
// ProcessGrid: a p_r x p_c BLACS process grid over a dist::Comm, in row-major rank order (rank r of
// the communicator is process (r / p_c, r % p_c)). The BLACS context is made from that
// communicator (Csys2blacs_handle + Cblacs_gridinit "Row"), so a grid works on any
// sub-communicator, and it is released (Cblacs_gridexit + the system handle) by the destructor on
// every exit path. Move-only: a context has one owner.
#include <string>

#include "dist/comm.hpp"
#include "grid/block_cyclic.hpp"

namespace attnbench::grid {

// The squarest p_r x p_c = p with p_r <= p_c (p_r the largest divisor of p not above sqrt(p)):
// 1 -> 1x1, 2 -> 1x2, 3 -> 1x3, 4 -> 2x2, 6 -> 2x3. p_r <= p_c is HPL's advice for LU and Cholesky.
GridShape squarest_shape(int p);
// Parses "PRxPC" (e.g. "2x3"); a usage error naming `option` unless both are positive integers
// and PR * PC == p. Empty text: the squarest shape.
GridShape parse_grid_shape(const std::string& text, int p, const std::string& option = "--grid");

class ProcessGrid {
 public:
  // Collective over comm. Throws a usage error (on every rank) if shape.size() != comm.size().
  ProcessGrid(const dist::Comm& comm, GridShape shape);
  explicit ProcessGrid(const dist::Comm& comm) : ProcessGrid(comm, squarest_shape(comm.size())) {}
  ~ProcessGrid();
  ProcessGrid(ProcessGrid&& o) noexcept;
  ProcessGrid& operator=(ProcessGrid&&) = delete;
  ProcessGrid(const ProcessGrid&) = delete;
  ProcessGrid& operator=(const ProcessGrid&) = delete;

  const dist::Comm& comm() const noexcept { return comm_; }
  GridShape shape() const noexcept { return shape_; }
  int rows() const noexcept { return shape_.rows; }
  int cols() const noexcept { return shape_.cols; }
  int my_row() const noexcept { return my_row_; }
  int my_col() const noexcept { return my_col_; }
  int context() const noexcept { return ctxt_; }

 private:
  dist::Comm comm_;
  GridShape shape_;
  int handle_ = -1;
  int ctxt_ = -1;
  int my_row_ = 0, my_col_ = 0;
};

}  // namespace attnbench::grid
