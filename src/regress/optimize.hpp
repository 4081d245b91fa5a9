#pragma once
// The optimizers of the attention regression (ALGORITHMS.md section 5), on x = [vec X; vec Y]:
//
//  newton       damped Newton / Levenberg-Marquardt on (X, Y) jointly with the exact Hessian:
//               solve (H + lambda I) step = -g (grid::DenseSolver) with lambda = mu |g| (0 below
//               1e-12 mean|diag H|); when the Cholesky factorization fails (H + lambda I
//               indefinite) the same iteration retries with lambda = max(10 lambda,
//               1e-4 mean|diag H|), up to 30 factorizations. Accept the step if the loss falls
//               (or, at the rounding level of the loss, stays within 1e-12 relative while the
//               gradient norm falls), then mu *= max(1/3, 1 - (2 rho - 1)^3) (Nielsen; rho =
//               actual / predicted decrease); otherwise keep x and mu *= nu, nu *= 2. lambda
//               proportional to |g| vanishes with the gradient, which keeps the local rate
//               quadratic (optimize.cpp, Damping). One evaluation with the Hessian (at the trial
//               point) per iteration, and one solve unless the factorization is retried.
//  gd           gradient descent with Armijo backtracking: x - a g with the largest
//               a = 2 a_prev 2^-k meeting L(x - a g) <= L(x) - 1e-4 a |g|^2 (k <= 60 halvings; a
//               failed line search stops the run). `lambda` in the history holds the step length a.
//  newton-sketch  the same damped Newton iteration with a SAMPLED Hessian H~ (sampled_hessian.hpp):
//               the loss and gradient stay exact (forward 4 n^2 d + gradient 10 n^2 d, with the
//               rows' bounds q_j, 8 n^2 more); m rows are drawn with p_j = q_j / sum q and only
//               those assemble their Hessian terms: 6 m n d^2 + 6 m d^4 flops instead of
//               6 n^2 d^2 + 6 n d^4. H_yy = (G^T G) (x) I stays exact. A fresh sample at every
//               accepted iterate (seeded by (seed, iterate)); a rejected step re-solves on the same
//               H~. With |H~ - H| <= eps |H| the rate is linear, about eps cond(H), instead of
//               quadratic. m: --sample-rows, or the rule m(eps0) of sampled_hessian.hpp; m >= n
//               builds the exact Hessian instead (n draws cost at least as much).
//  alternating  exact least squares in Y at fixed X ((G^T G) Y = G^T B, d x d, replicated), then a
//               damped Newton step in X alone with H_xx (same acceptance and lambda rule).
//
// Stopping rule, the same for all three: the relative gradient norm |g(x_k)| / |g(x_0)| <=
// tolerance (or |g(x_k)| = 0), checked before each iteration; at most max_iter iterations
// (exactly max_iter with fixed_iterations, for timing a fixed amount of work; gd still stops when
// its line search fails).
// Every decision and every iterate is taken from rank 0 (MPI_Bcast of 2 d^2 values and the
// flags), so ranks can never disagree on how many collectives follow.
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/enum_names.hpp"
#include "dist/comm.hpp"
#include "regress/evaluate.hpp"
#include "grid/dense_solver.hpp"

namespace attnbench::regress {

enum class Algorithm { newton, gd, alternating, newton_sketch };
inline constexpr EnumNames<Algorithm, 4> kAlgorithmNames{{{Algorithm::newton, "newton"},
                                                          {Algorithm::gd, "gd"},
                                                          {Algorithm::alternating, "alternating"},
                                                          {Algorithm::newton_sketch, "newton-sketch"}}};
Algorithm parse_algorithm(const std::string& name);  // usage error naming --algo on anything else
std::string to_string(Algorithm a);

struct SolveOptions {
  Algorithm algorithm = Algorithm::newton;
  double tolerance = 1e-10;  // on |g| / |g_0|
  std::int64_t max_iter = 50;
  double lambda0 = 0.0;      // initial damping (newton, alternating)
  bool fixed_iterations = false;  // run exactly max_iter iterations (timing studies): no tolerance stop
  // newton-sketch
  std::int64_t sample_rows = 0;   // m per sampled Hessian; 0: sample_rows_rule(eps0, delta, ...)
  double eps0 = 0.5;              // the rule's target |H~ - H| <= eps0 |H|
  double delta = 0.1;             // the rule's failure probability
  std::int64_t check_every = 0;   // compare every k-th H~ with the exact H (0: never)
  std::uint64_t seed = 42;        // the row draws
};

// One row per iteration; row 0 is the start (step_norm 0, accepted 0).
// newton-sketch's columns describe the H~ built at the row's iterate (row 0: the start), which the
// next iteration's steps use; a row whose step was rejected built none (sample_rows 0, NaN).
struct HistoryRow {
  double loss = 0.0, grad_norm = 0.0, step_norm = 0.0, lambda = 0.0;
  int accepted = 0, cholesky_info = 0;
  double t_forward = 0.0, t_gradient = 0.0, t_hessian = 0.0, t_reduce = 0.0, t_solve = 0.0;
  std::int64_t sample_rows = 0;   // m of the H~ (0: none built, or an exact-Hessian algorithm; n: exact)
  std::int64_t rule_rows = 0;     // the rule's m(eps0) at this iterate (whether or not --sample-rows was given)
  double hessian_bound = std::numeric_limits<double>::quiet_NaN();  // eps_bound: |H~ - H| <= it |H| w.p. 1 - delta
  double hessian_error = std::numeric_limits<double>::quiet_NaN();  // measured |H~ - H|_2 / |H|_2 (checked rows)
  double hessian_eps = std::numeric_limits<double>::quiet_NaN();    // measured max |lambda(H^-1 H~) - 1| (H > 0)
  double t_check = 0.0;           // seconds of the exact Hessian and comparison of --check-every
};

template <class T>
struct SolveResult {
  std::vector<T> x;                 // the final [vec X; vec Y]
  std::vector<HistoryRow> history;  // iterations + 1 rows
  bool converged = false;
  std::int64_t iterations = 0;
  double grad_norm0 = 0.0;
  double rel_grad_norm() const { return history.empty() ? 0.0 : (grad_norm0 > 0 ? history.back().grad_norm / grad_norm0 : 0.0); }
};

// Collective over the evaluator's communicator.
template <class T>
SolveResult<T> optimize(const dist::Comm& comm, Evaluator<T>& ev, grid::DenseSolver<T>& solver, std::span<const T> x0,
                        const SolveOptions& opt);

}  // namespace attnbench::regress
