#include "grid/process_grid.hpp"

#include <charconv>
#include <cmath>

#include "core/error.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::grid {

GridShape squarest_shape(int p) {
  if (p < 1) throw internal_error("squarest_shape: p must be positive");
  int rows = static_cast<int>(std::sqrt(static_cast<double>(p)));
  while (rows > 1 && (p % rows != 0 || rows * rows > p)) --rows;
  return {rows, p / rows};
}

GridShape parse_grid_shape(const std::string& text, int p, const std::string& option) {
  if (text.empty()) return squarest_shape(p);
  // Parsing is deterministic: every rank throws the same error (agreed).
  const auto bad = [&](const std::string& why) {
    return usage_error(option + " '" + text + "': " + why + " (expected PRxPC with PR * PC = " + std::to_string(p) +
                       " ranks, e.g. " + squarest_shape(p).to_string() + ")")
        .everywhere();
  };
  const auto x = text.find_first_of("xX");
  if (x == std::string::npos) throw bad("no 'x' between the grid rows and columns");
  const auto parse = [&](std::string_view s) {
    int v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 1)
      throw bad("'" + std::string(s) + "' is not a positive integer");
    return v;
  };
  const std::string_view all(text);
  const GridShape shape{parse(all.substr(0, x)), parse(all.substr(x + 1))};
  if (static_cast<long long>(shape.rows) * shape.cols != p)
    throw bad(shape.to_string() + " is " + std::to_string(static_cast<long long>(shape.rows) * shape.cols) +
              " processes, not " + std::to_string(p));
  return shape;
}

ProcessGrid::ProcessGrid(const dist::Comm& comm, GridShape shape) : comm_(comm), shape_(shape) {
  if (shape.rows < 1 || shape.cols < 1 || shape.size() != comm.size())
    throw usage_error("process grid " + shape.to_string() + " does not match the " + std::to_string(comm.size()) +
                      " ranks of its communicator")
        .everywhere();  // the same check on every rank
  // Both BLACS calls are collective over comm; every rank gets here with the same shape.
  handle_ = linalg::blacs::system_handle(comm.raw());
  ctxt_ = linalg::blacs::gridinit(handle_, /*row_major=*/true, shape.rows, shape.cols);
  const linalg::blacs::GridInfo g = linalg::blacs::gridinfo(ctxt_);
  my_row_ = g.row;
  my_col_ = g.col;
  // The layout code assumes row-major rank order over this communicator; BLACS must agree.
  const bool ok = g.rows == shape.rows && g.cols == shape.cols && my_row_ == shape.row_of(comm.rank()) &&
                  my_col_ == shape.col_of(comm.rank());
  if (comm.allreduce(ok ? 1 : 0, dist::Op::min) == 0) {
    if (ctxt_ >= 0) linalg::blacs::gridexit(ctxt_);
    linalg::blacs::free_system_handle(handle_);
    throw internal_error("BLACS placed rank " + std::to_string(comm.rank()) + " of a " + shape.to_string() +
                         " grid at (" + std::to_string(g.row) + ", " + std::to_string(g.col) +
                         "), not in row-major order")
        .everywhere();  // after the allreduce: every rank throws
  }
}

ProcessGrid::ProcessGrid(ProcessGrid&& o) noexcept
    : comm_(o.comm_), shape_(o.shape_), handle_(o.handle_), ctxt_(o.ctxt_), my_row_(o.my_row_), my_col_(o.my_col_) {
  o.handle_ = -1;
  o.ctxt_ = -1;
}

ProcessGrid::~ProcessGrid() {
  if (ctxt_ >= 0) linalg::blacs::gridexit(ctxt_);
  if (handle_ >= 0) linalg::blacs::free_system_handle(handle_);
}

}  // namespace attnbench::grid
