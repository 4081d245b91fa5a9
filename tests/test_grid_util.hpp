#pragma once
// Helpers of the grid and ScaLAPACK MPI tests: run a body on a process grid of a given shape made
// from the first ranks of the world (a sub-communicator whenever the world is larger).
#include <vector>

#include "grid/process_grid.hpp"
#include "test_comm.hpp"

namespace attnbench::testing_support {

inline const std::vector<grid::GridShape>& test_shapes() {
  static const std::vector<grid::GridShape> shapes = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {1, 3}, {3, 1}};
  return shapes;
}

// Collective over the world: ranks [0, shape.size()) build the grid and run body(grid); the others
// only take part in the split. Shapes larger than the world are skipped by every rank.
template <class F>
void on_grid(grid::GridShape shape, F&& body) {
  const dist::Comm& w = world();
  if (shape.size() > w.size()) return;
  const bool member = w.rank() < shape.size();
  const dist::Comm sub = w.split(member ? 0 : 1, w.rank());
  if (member) {
    const grid::ProcessGrid g(sub, shape);
    body(g);
  }
}

}  // namespace attnbench::testing_support
