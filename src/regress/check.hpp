#pragma once
// HPL-style self-checks of a regress run (every run, before the timed repetitions' results are
// trusted): the distributed gradient against central finite differences of the distributed loss on
// a seeded sample of coordinates, the Hessian's symmetry, and a few Hessian columns against
// finite differences of the gradient.
//
// The check point is x_c = x0 + 1e-2 max(rms(x0), 1e-2) u, u uniform in [-1, 1) from the seed:
// near the start, but never exactly at a stationary point (a planted start at zero distance, or a
// zero start), where a relative gradient error would be meaningless.
// Finite differences are fourth-order central, (8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12 h with
// h = 1e-3 max(|x_i|, rms(x_c)): truncation O(h^4), rounding O(eps L / h), both far below 1e-6
// in fp64.
// Errors: grad_check_error = max_i |fd_i - g_i| / max_j |g_j| (i over the sample, j over all
// 2 d^2 coordinates); hessian_symmetry_error = max |H - H^T| / max |H|; hessian_check_error =
// max |fd(g)_col - H_col| / max |H| over the sampled columns.
// Cost: 4 loss evaluations per sampled coordinate, one Hessian evaluation, 4 gradient
// evaluations per sampled column; each is collective with the data movement of evaluate.hpp.
#include <cstdint>
#include <span>

#include "dist/comm.hpp"
#include "regress/evaluate.hpp"

namespace attnbench::regress {

struct DerivativeCheck {
  double grad_check_error = 0.0;
  double hessian_symmetry_error = 0.0;
  double hessian_check_error = 0.0;
  std::int64_t coordinates = 0;  // gradient coordinates checked
  std::int64_t columns = 0;      // Hessian columns checked
};

template <class T>
DerivativeCheck check_derivatives(const dist::Comm& comm, Evaluator<T>& ev, std::span<const T> x0, std::uint64_t seed,
                                  std::int64_t coordinates = 8, std::int64_t columns = 2);

}  // namespace attnbench::regress
