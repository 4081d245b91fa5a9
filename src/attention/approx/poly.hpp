#pragma once
// Polynomial-method attention (Alman & Song 2023), ALGORITHMS.md section 2.
//
//   exp(s <q, k>) ~ P(s <q, k>) = sum_{k <= g} c_k (s <q, k>)^k = U1[q] . U2[k]
//   U1[i, alpha] = c_|alpha| (|alpha|! / alpha!) (a q_i)^alpha,   U2[j, alpha] = (b k_j)^alpha,
// over the monomials alpha in N^d with |alpha| <= g (rank r = C(d+g, g)), a b = s. The split of s
// into a = sqrt(s mk / mq), b = sqrt(s mq / mk) (mq = max_i |q_i|, mk = max_j |k_j|) balances the
// two sides: every entry of (a q)^alpha and (b k)^alpha is at most R^{|alpha|/2}, so neither side
// overflows in float where the other would underflow.
//
//   W  := sum over ranks of U2[rows_r]^T [V | 1][rows_r]        (r x (dv+1))
//   W  := diag(coef) W    (coef_alpha = c_|alpha| |alpha|!/alpha!: U1 = U1raw diag(coef))
//   O[rows_r] := (U1raw[rows_r] W)[:, :dv] / (U1raw[rows_r] W)[:, dv]
// Data movement: ONE MPI_Allreduce(SUM) of r (dv+1) elements; the query rows need nothing else.
// Planning adds one MPI_Allreduce(MAX) of 3 doubles (max |q_i|, max |k_j|, max |V|).
// Cost: 2 r (dv+1) (n_q + n_kv) GEMM flops + r (n_q + n_kv) multiplications for the features.
// Memory: the features are built in row chunks (r x chunk, transposed so the one-multiplication
// recurrence vectorizes over rows), never as n x r: r (chunk + dv + 1) elements per thread.
//
// Certificate (before running): with eps_P = max_{|x| <= R} |P(x) - e^x| / e^x < 1,
//   max |O~ - O| <= 2 eps_P / (1 - eps_P) * max |V|.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/problem.hpp"
#include "core/enum_names.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"

namespace attnbench::approx {

using attention::AttentionProblem;  // the one problem type (attention/problem.hpp); single head here

enum class PolyBasis { taylor, chebyshev };
// The one name table of the bases: printing, parsing (usage_error naming --poly-basis), the choices.
inline constexpr EnumNames<PolyBasis, 2> kPolyBases{
    {{PolyBasis::taylor, "taylor"}, {PolyBasis::chebyshev, "chebyshev"}}};
inline std::string to_string(PolyBasis b) { return enum_name(kPolyBases, b); }
inline PolyBasis parse_poly_basis(std::string_view s) { return parse_enum(kPolyBases, s, "--poly-basis"); }

inline constexpr std::int64_t kDefaultMemoryBudget = std::int64_t{4} << 30;  // bytes per rank
inline constexpr int kMaxPolyDegree = 60;

struct PolyOptions {
  PolyBasis basis = PolyBasis::taylor;
  int degree = -1;            // < 0: the smallest degree whose eps_P meets `tolerance`
  double tolerance = 1e-6;    // target eps_P (relative error of P against exp on [-R, R])
  std::int64_t memory_budget = kDefaultMemoryBudget;  // bytes per rank for the feature buffers
  std::int64_t chunk_rows = 0;  // rows per feature chunk; 0: about 2 MiB of features per chunk
  int threads = 1;              // OpenMP threads over row chunks
  std::uint64_t seed = 0;       // unused (the method is deterministic); kept for a uniform interface
};

// Monomials alpha with |alpha| <= g in graded order. Monomial m > 0 is monomial parent[m] times
// variable var[m]; parent[m] < m, so one pass in index order builds every monomial with one
// multiplication. multinomial[m] = |alpha|! / alpha!.
struct MonomialBasis {
  int d = 0, g = 0;
  std::vector<std::int32_t> parent, var, degree;
  std::vector<double> multinomial;
  std::int64_t size() const { return static_cast<std::int64_t>(parent.size()); }
};
MonomialBasis make_monomial_basis(int d, int g);

// C(d + g, g) in double (may exceed int64 for large d, g).
double poly_rank(std::int64_t d, int g);

// Monomial coefficients c_0..c_g of the degree-g polynomial approximating exp on [-R, R].
std::vector<double> exp_poly_coefficients(PolyBasis basis, int g, double R);
// max |P(x) - e^x| / e^x over a dense grid of [-R, R] (16385 points, Chebyshev-spaced so that the
// oscillations of the error near the ends are resolved), times 1.001 for the grid's resolution.
double exp_poly_relative_error(const std::vector<double>& c, double R);

// Everything decided before the kernel runs; identical on every rank.
struct PolyPlan {
  PolyBasis basis = PolyBasis::taylor;
  int degree = 0;
  std::int64_t d = 0, dv = 0, rank = 0;  // rank = C(d+g, g)
  double scale = 0.0;
  double max_q_norm = 0.0, max_k_norm = 0.0, max_abs_v = 0.0;
  double R = 0.0;                // scale * max|q_i| * max|k_j|
  double eps_P = 0.0;            // measured relative error of P on [-R, R]
  double eps_P_taylor_bound = 0.0;  // Taylor: the analytic e^R R^{g+1} / (g+1)!; 0 for Chebyshev
  double certified_bound = 0.0;  // 2 eps_P / (1 - eps_P) max|V|; +inf if eps_P >= 1
  double rounding_allowance = 0.0;  // finite-precision slack added to the bound for validity
  double a_q = 1.0, b_k = 1.0;   // a b = scale
  std::int64_t chunk_rows = 0;
  std::int64_t feature_bytes = 0;  // per rank: threads * r (chunk + dv + 1) * sizeof(T) + W
  int threads = 1;
  std::vector<double> coefficients;  // c_0..c_g
  MonomialBasis monomials;
  std::vector<double> feature_coef;  // per monomial: c_|alpha| |alpha|!/alpha!
  // Threshold of the run's validity check: certified_bound + rounding_allowance.
  double validity_threshold() const { return certified_bound + rounding_allowance; }
};

// Collective: one MPI_Allreduce(MAX) of 3 doubles. The problem is single-head in contiguous blocks
// (attention::require_single_head: usage error otherwise). Chooses the degree (given or from the
// tolerance), measures eps_P, computes the certificate and checks the memory budget. Throws
// usage_error (identically on every rank) when the tolerance is unreachable with degree <=
// kMaxPolyDegree or when r does not fit the budget; the message names r, d, g, R and the largest
// degree that fits. Nothing is allocated before the check.
template <class T>
PolyPlan plan_poly(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale, const PolyOptions& options);

// Collective (one Allreduce of r (dv+1) elements). Returns this rank's rows of O (layout_q).
template <class T>
Matrix<T> poly_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const PolyPlan& plan,
                         attention::MhaTimes* times = nullptr);
// Plans, then runs (the uniform signature of the approximate algorithms).
template <class T>
Matrix<T> poly_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                         const PolyOptions& options);

// Feature maps, row per input row (n x r), for tests and inspection: U1 (query side, with the
// coefficients) and U2 (key side). U1 U2^T = P(scale Q K^T).
template <class T>
Matrix<T> poly_query_features(const Matrix<T>& Q, const PolyPlan& plan);
template <class T>
Matrix<T> poly_key_features(const Matrix<T>& K, const PolyPlan& plan);

// Flops of the work model: 2 r (dv+1) (n_q + n_kv) + r (2 n_q + n_kv).
double poly_attention_flops(const PolyPlan& plan, std::int64_t n_q, std::int64_t n_kv);

}  // namespace attnbench::approx
