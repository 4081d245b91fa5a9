#pragma once
// The sampled Hessian of newton-sketch: which rows, how many, and how accurate.
//
// H = H_yy + sum_j E_j over the n rows (evaluate.hpp). Row j is drawn with p_j = q_j / S, q_j >=
// |E_j|_2 its bound and S = sum q, m times independently (sampling/draws.hpp, shared with sparsify:
// sorted exponential spacings, the same draws on any number of ranks), and
//   H~ = H_yy + sum_{drawn} E_j / (m p_j)        (a row drawn c times gets weight c / (m p_j)).
// Accuracy (matrix Bernstein, Tropp 2015, Thm. 6.1.1, for the m independent zero-mean terms
// X_i = (E_{j_i} / p_{j_i} - sum_j E_j) / m of dimension N = 2 d^2: |X_i| <= 2 S / m and
// |sum E X_i^2| <= S^2 / m): with probability at least 1 - delta,
//   |H~ - H|_2 <= t S,  t = (4a/3 + sqrt((4a/3)^2 + 8 a m)) / (2 m),  a = ln(2 N / delta),
// and since H_yy = (G^T G) (x) I is a principal block of H, |H|_2 >= lambda_max(G^T G) =: h, so
//   |H~ - H|_2 <= eps_bound |H|_2,  eps_bound = t S / h.
// The sample-size rule inverts it: the smallest m with eps_bound <= eps0 is
//   m(eps0) = ceil((2 / e^2 + 4 / (3 e)) a),  e = eps0 h / S.
// The bound is rigorous (no assumption on the data beyond q_j >= |E_j|, tested) but pessimistic:
// S / h is the sum of the row bounds over the largest eigenvalue, 10-1000 on planted instances,
// so m(eps0) exceeds n until n is large; --sample-rows sets m directly, and --check-every k
// measures the accuracy every k-th Hessian against the exact one (the claim checked, not assumed).
#include <cstdint>
#include <span>
#include <vector>

#include "dist/comm.hpp"
#include "regress/evaluate.hpp"

namespace attnbench::regress {

// a = ln(2 N / delta) and the bound t of the header for m draws.
double bernstein_log_term(std::int64_t N, double delta);
double bernstein_t(std::int64_t m, std::int64_t N, double delta);
// m(eps0) of the header for score sum S and h = lambda_max(G^T G) (saturates at 2^62).
std::int64_t sample_rows_rule(double eps0, double delta, std::int64_t N, double S, double h);
// lambda_max of the symmetric d x d matrix (LAPACK syevd on a copy; local).
template <class T>
double lambda_max(std::span<const T> A, std::int64_t d);

// Collective: S = the sum of every rank's row bounds (one MPI_Allreduce of 1 double).
double row_bound_sum(const dist::Comm& comm, const std::vector<double>& q);
// Collective. m draws of rows by this rank's row bounds q (local rows [row0, row0 + q.size())
// of the n axis), seeded by `seed`: this rank's sampled local rows with their weights c / (m p).
// The sampler's allgathers (p doubles, p int64); O(m) exponentials on every rank.
RowSample draw_rows(const dist::Comm& comm, std::int64_t row0, const std::vector<double>& q, std::int64_t m,
                    std::uint64_t seed);

// The measured accuracy of H~ against the exact H (both replicated, N x N, row-major; local):
// norm_error = |H~ - H|_2 / |H|_2, and spectral_eps = max |lambda_i(H^{-1/2} H~ H^{-1/2}) - 1| when H
// is positive definite (NaN otherwise): (1 - eps) H <= H~ <= (1 + eps) H. O(N^3).
struct HessianAccuracy {
  double norm_error = 0.0;
  double spectral_eps = 0.0;
};
template <class T>
HessianAccuracy hessian_accuracy(const std::vector<T>& Hs, const std::vector<T>& H, std::int64_t N);

}  // namespace attnbench::regress
