#pragma once
// Distributed evaluation of the attention-regression loss, its gradient and its exact joint
// Hessian (ALGORITHMS.md section 5), for rows of the n axis split across the ranks of a Comm.
//
// Per query tile of t local rows (memory O(t n) for the scores, never n x n):
//   S    := s (A1[tile] X) A2[*]^T                 t x n    2 t d^2 + 2 t n d flops
//   F    := rowsoftmax(S)                          t x n    t n exp
//   G    := F A3[*];  R := G Y - B[tile]           t x d    2 t n d + 2 t d^2
//   loss += 1/2 |R|^2
//   grad_Y += G^T R                                          2 t d^2
//   Z    := F o (R H^T), H = A3 Y;  c := Z 1       t x n    2 t n d
//   grad_X += s A1[tile]^T (Z A2 - diag(c) F A2)             4 t n d + 2 t d^2
// and for the Hessian, with u_j = A2^T f_j, v_j = A2^T (f o z)_j, g_j = row j of G, r_j of R:
//   D0_j := A2^T diag(f_j) A2, D1_j := A2^T diag(f o z)_j A2, N0_j := A2^T diag(f_j) A3
//        (three t x n by n x d^2 GEMMs over key chunks: 6 t n d^2 flops; the chunked d^2-wide
//         key products A2[k]A2[k]^T, A2[k]A3[k]^T are rebuilt per tile, kc x d^2 memory)
//   N_j  := N0_j - u_j g_j^T = A2^T J_j A3,  T_j := N_j Y = A2^T J_j H   (J_j = diag f - f f^T)
//   M_j  := A2^T B_j A2 = T_j T_j^T + D1_j - v u^T - u v^T + 2 c_j u u^T - c_j D0_j
//   H_xx[(a,b),(c,e)] += s^2 sum_j a_j[a] a_j[c] M_j[b][e]                  2 t d^4 (GEMM)
//   H_xy[(a,b),(c,l)] += s sum_j a_j[a] (N_j[b][c] r_j[l] + T_j[b][l] g_j[c])  4 t d^4 (two GEMMs)
//   H_yy = (G^T G) (x) I                                                   2 t d^2
// Totals per evaluation (all ranks): forward 4 n^2 d, gradient 6 n^2 d, Hessian 6 n^2 d^2 +
// 6 n d^4 + O(n d^3) flops; the O(n^2 d^2) term is the exact-Hessian assembly this code pays
// where the paper's bound has T_mat(n, n, d).
//
// Sampled Hessian (newton-sketch). Row j's term of the joint Hessian outside H_yy is
//   E_j = [[s^2 (a_j a_j^T) (x) M_j, s P_j], [s P_j^T, 0]],  P_j[(a,b),(c,l)] = a_j[a] (N_j[b][c] r_j[l] + T_j[b][l] g_j[c]),
// and |E_j|_2 <= q_j := s^2 |a_j|^2 (tb^2 + w) + s |a_j| (nb |r_j| + tb |g_j|), from J_j <= diag f
// (so |A2^T J A3| <= sqrt(sum f |A2[k]|^2 sum f |A3[k]|^2) =: nb, likewise tb with H for A3) and
// M_j = T_j T_j^T + A~^T diag(f o z - c f) A~, A~ = A2 - 1 u^T (B_j's last five terms are
// (I - f 1^T) diag(f o (z - c)) (I - 1 f^T)), so w := sum_k |f_k z_k - c f_k| 2 (|A2[k]|^2 + |u|^2).
// The bounds cost 8 n flops per row (beside the gradient's 14 n d) from the squared norms of the
// key rows. They set the sampling probabilities p_j = q_j / sum q, and their sum S the rigorous
// matrix-Bernstein accuracy of H~ (optimize.hpp).
//
// Data movement: the loss is ONE MPI_Allreduce of 1 double; the gradient ONE MPI_Allreduce of
// 2 d^2 values; the Hessian ONE MPI_Allreduce of its d^2 x 2 d^2 top block rows plus G^T G
// (2 d^4 + d^2 values). The bottom blocks (H_xy^T and (G^T G) (x) I) are filled locally after it.
// The result is replicated on every rank.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/matrix.hpp"
#include "dist/comm.hpp"
#include "regress/problem.hpp"

namespace attnbench::regress {

enum class Need { loss, gradient, hessian_x, hessian };

// Seconds per phase of one evaluation on this rank.
struct EvalTimes {
  double forward = 0.0, gradient = 0.0, hessian = 0.0, reduce = 0.0;
  EvalTimes& operator+=(const EvalTimes& o) {
    forward += o.forward;
    gradient += o.gradient;
    hessian += o.hessian;
    reduce += o.reduce;
    return *this;
  }
};

template <class T>
struct Evaluation {
  double loss = 0.0;
  std::vector<T> grad;     // [vec grad_X; vec grad_Y], 2 d^2 (Need >= gradient)
  std::vector<T> hessian;  // row-major; (2 d^2)^2 for Need::hessian, (d^2)^2 (H_xx only) for hessian_x
  // With row bounds (evaluate(..., row_bounds = true), Need::gradient): q_j >= |E_j|_2 for each of
  // this rank's rows j, E_j the row's term of the joint Hessian outside H_yy (see row_bounds_tile),
  // and G^T G (d x d, replicated: H_yy = (G^T G) (x) I exactly).
  std::vector<double> row_bound;
  std::vector<T> gtg;
  EvalTimes times;
};

// A sample of the rows of the n axis for the sampled Hessian (newton-sketch): this rank's LOCAL
// rows, ascending, and the weight of each, c_j / (m p_j) for a row drawn c_j times out of m with
// probability p_j, so that sum_{sampled} w_j E_j is an unbiased estimate of sum_j E_j.
struct RowSample {
  std::vector<std::int64_t> rows;
  std::vector<double> weights;
};

template <class T>
class Evaluator {
 public:
  // tile: query rows per tile; key_chunk: key rows per chunk of the d^2-wide key products.
  Evaluator(const dist::Comm& comm, const RegressData<T>& data, std::int64_t tile = 64, std::int64_t key_chunk = 256);

  // Collective. x = [vec X; vec Y] (identical on every rank). reduce_hessian = false skips the
  // Hessian's Allreduce: `hessian` is then this rank's partial sum (the blocks are linear in the
  // row sums, so the partials of every block add up to the Hessian), for a solver that reduces it
  // onto its own distribution (a reduce-scatter onto a process grid).
  Evaluation<T> evaluate(std::span<const T> x, Need need, bool reduce_hessian = true, bool row_bounds = false);
  // Collective. The sampled joint Hessian at x: sum over the sampled rows of w_j E_j (their key
  // products cost 6 m_r n d^2 on a rank with m_r sampled rows, instead of 6 (n / p) n d^2) plus the
  // exact H_yy = gtg (x) I; gtg is the replicated G^T G of evaluate(x, ..., row_bounds = true).
  // Data movement as evaluate's Hessian (one Allreduce of 2 d^4 + d^2 values, or none with
  // reduce_hessian = false: the partial sums then add up to H~ as for evaluate).
  Evaluation<T> sampled_hessian(std::span<const T> x, const RowSample& sample, std::span<const T> gtg,
                                bool reduce_hessian = true);
  // Collective: the normal equations of the (linear least-squares) Y-subproblem at X:
  // GtG = G^T G, GtB = G^T B, G = F(X) A3 (d x d each, one MPI_Allreduce of 2 d^2 values).
  void normal_equations(std::span<const T> X, std::vector<T>& GtG, std::vector<T>& GtB, EvalTimes& times);
  const RegressData<T>& data() const { return data_; }
  // Local rows of F(X) A3 Y (no communication): plants B.
  Matrix<T> predict_local(std::span<const T> X, std::span<const T> Y);

  // Elements of type T this evaluator and its result hold on one rank, by formula (used for the
  // memory-budget check before anything is allocated).
  // Evaluations by kind (Need::loss, gradient, hessian_x, hessian) since the last reset, for the work model.
  void reset_counts() {
    counts_ = {};
    sampled_evaluations_ = sampled_rows_ = 0;
  }
  const std::array<std::int64_t, 4>& counts() const { return counts_; }
  // Sampled Hessians since the last reset, and the rows they assembled (summed over ranks).
  std::int64_t sampled_evaluations() const { return sampled_evaluations_; }
  std::int64_t sampled_rows() const { return sampled_rows_; }

  static std::int64_t footprint_elements(std::int64_t n, std::int64_t d, std::int64_t local_rows, std::int64_t tile,
                                         std::int64_t key_chunk);

 private:
  double forward_tile(const T* a1, const T* b, std::int64_t t, const T* X, const T* Y);
  void row_products(std::int64_t t);
  void row_bounds_tile(const T* a1, std::int64_t t, double* q) const;
  void key_products(std::int64_t t);
  void hessian_tile(const T* a1, std::int64_t t, const T* Y, const double* weights, bool joint, std::vector<T>& Kxx,
                    std::vector<T>& K1, std::vector<T>& K2);
  void assemble_hessian(Evaluation<T>& ev, const std::vector<T>& Kxx, const std::vector<T>& K1,
                        const std::vector<T>& K2, std::vector<T>& GtG, bool joint, bool reduce_hessian);
  void set_keys(const T* Y);

  dist::Comm comm_;
  const RegressData<T>& data_;
  std::int64_t tile_, kc_;
  // Scratch (allocated once, sized by tile): scores / softmax F and F o Z (t x n each), row
  // products (t x d) and per-row d x d blocks (t x d^2).
  Matrix<T> F_, FZ_, AX_, G_, R_, U_, V_, Pd_, H_;  // H_ = A3 Y (n x d), replicated
  Matrix<T> D0_, D1_, N0_, Mr_, Nr_, Tr_, Pxx_, Par_, Pag_, E2_, E3_;
  Matrix<T> A1s_, Bs_;  // the sampled rows of A1 and B, gathered tile by tile (sampled_hessian)
  std::vector<T> c_;
  // Squared norms of the key rows |A2[k]|^2, |A3[k]|^2 (fixed) and |H[k]|^2 (with H_), for the
  // row bounds: O(n) per row instead of the O(n d^2) of the row's Hessian term.
  std::vector<double> a2sq_, a3sq_, hsq_;
  std::array<std::int64_t, 4> counts_{};
  std::int64_t sampled_evaluations_ = 0, sampled_rows_ = 0;
};

}  // namespace attnbench::regress
