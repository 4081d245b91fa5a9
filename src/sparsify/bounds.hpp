#pragma once
// The sample counts of the leverage methods from the matrix Chernoff inequality with its exact
// exponents (ALGORITHMS.md section 4), and the plan of the screened leverage-sketch.
//
// Matrix Chernoff (Tropp, "An Introduction to Matrix Concentration Inequalities", 2015, Thm 5.1.1;
// Tropp, "User-friendly tail bounds for sums of random matrices", FoCM 2012, Thm 1.1): for
// independent random PSD n x n matrices X_l with lambda_max(X_l) <= L and mu_min <= lambda_min(sum E X_l),
// lambda_max(sum E X_l) <= mu_max,
//   P{lambda_min(sum X_l) <= (1 - e) mu_min} <= n [e^{-e} / (1 - e)^{1 - e}]^{mu_min / L},   e in [0, 1),
//   P{lambda_max(sum X_l) >= (1 + e) mu_max} <= n [e^{e} / (1 + e)^{1 + e}]^{mu_max / L},    e >= 0.
// (Both hold with mu_min a lower and mu_max an upper bound of the true extreme eigenvalues: the
// Laplace-transform bound of the proof, exp(-theta t + (e^{theta L} - 1) mu / L), is monotone in mu.)
// Leverage sampling in the whitened basis (v_j = L^{-1} x_j, sum v v^T = I): m iid draws with
// p_j = tau_j / n give summands v v^T / (m p_j) of norm exactly n / m and sum of expectations I, so
// mu / L = m / n and the window [1 - eps, 1 + eps] fails with probability at most
//   n (exp(-h_low(eps) m / n) + exp(-h_high(eps) m / n)),
//   h_low(e) = e + (1 - e) ln(1 - e),  h_high(e) = (1 + e) ln(1 + e) - e.
// This is what 3 n ln(2 n / delta) / eps^2 simplifies (h_high(e) >= e^2 / 3 on [0, 1], h_low >= e^2 / 2);
// at eps = 0.5 the exact exponent h_high = 0.1082 against e^2 / 3 = 0.0833 needs 23% fewer draws.
// The intrinsic-dimension form (Tropp 2015, Thm 7.2.1) cannot help here: the whitened expectation is
// the identity, whose intrinsic dimension is n, and its prefactor is 4 n instead of n.
#include <cstdint>

namespace attnbench::sparsify {

// The exponents per unit of mu / L of the two tails above (both > 0 for e in (0, 1)).
double chernoff_rate_low(double e);
double chernoff_rate_high(double e);

// The smallest t = mu / L (bisection to 1e-12 relative) with
// n (exp(-h_low(e_low) c_low t) + exp(-h_high(e_high) t)) <= delta, where mu_min = c_low mu (c_low <= 1).
double chernoff_ratio(std::int64_t n, double e_low, double e_high, double c_low, double delta);

// Exact-score leverage sampling: m = ceil(n chernoff_ratio(n, eps, eps, 1, delta)) iid draws meet the
// window with probability >= 1 - delta. A usage error naming --eps when m does not fit int64.
std::int64_t chernoff_samples(std::int64_t n, double eps, double delta);

// The x in (0, 1) with (x e^{1 - x})^{k / 2} = q (q in (0, 1)): P(chi2_k / k <= x) <= q (the
// Chernoff bound of the chi-square lower tail). Bisection, 60 halvings.
double chi2_lower_point(std::int64_t k, double q);

// The screened leverage-sketch (screened.hpp). Every column j is kept independently with probability
// rho_j = min(pi_j, pi~_j), pi_j = min(1, m tau_j / n) (exact scores), pi~_j = min(1, a m tau~_j / n)
// (tau~_j = |G^T L^{-1} x_j|^2 / k, G n x k Gaussian: tau~_j = g_j tau_j with g_j ~ chi2_k / k), and
// weighted 1 / sqrt(rho_j). The exact tau_j is computed only for the candidates u_j < pi~_j.
// Certificate, with B = {j : pi~_j < pi_j} (the columns the screen under-covers; B is inside
// {g_j < 1 / a}) and tau(B) = sum_B tau_j:
//   - the columns outside B are kept with probability pi_j: summands of norm <= n / m (a column with
//     pi_j = 1 is deterministic, cut into pieces of norm <= n / m), expectation between
//     (1 - tau(B)) I and I: Chernoff with e_low, e_high and c_low = 1 - eta on {tau(B) <= eta};
//   - the columns of B add a PSD matrix of norm <= its trace T_B, E[T_B] = E[tau(B)] <= n q, q =
//     P(chi2_k / k < 1 / a); so P(tau(B) + T_B > eta) <= 2 n q / eta (Markov) = delta_screen.
// With probability >= 1 - delta: lambda_min >= (1 - e_low)(1 - eta) = 1 - eps and
// lambda_max <= 1 + e_high + eta = 1 + eps. No union bound over the d columns: only the mass of the
// under-covered scores counts, so a small k suffices (a grows instead, and with it the candidates).
struct ScreenPlan {
  std::int64_t k = 0;           // JL columns
  double eta = 0.0;             // spectral slack given to the under-covered columns: eps / 64
  double delta_screen = 0.0;    // delta / 8: P(tau(B) + T_B > eta)
  double q = 0.0;               // delta_screen eta / (2 n): the chi-square tail each column may miss by
  double a = 0.0;               // screen factor 1 / chi2_lower_point(k, q)
  double e_low = 0.0, e_high = 0.0;
  double t = 0.0;               // chernoff_ratio(n, e_low, e_high, 1 - eta, delta - delta_screen)
  std::int64_t m = 0;           // ceil(n t): the expected-count budget sum_j pi_j <= m
};
ScreenPlan screen_plan(std::int64_t n, double eps, double delta, std::int64_t k);

}  // namespace attnbench::sparsify
