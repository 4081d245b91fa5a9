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
  EvalTimes times;
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
  Evaluation<T> evaluate(std::span<const T> x, Need need, bool reduce_hessian = true);
  // Collective: the normal equations of the (linear least-squares) Y-subproblem at X:
  // GtG = G^T G, GtB = G^T B, G = F(X) A3 (d x d each, one MPI_Allreduce of 2 d^2 values).
  void normal_equations(std::span<const T> X, std::vector<T>& GtG, std::vector<T>& GtB, EvalTimes& times);
  // Local rows of F(X) A3 Y (no communication): plants B.
  Matrix<T> predict_local(std::span<const T> X, std::span<const T> Y);

  // Elements of type T this evaluator and its result hold on one rank, by formula (used for the
  // memory-budget check before anything is allocated).
  // Evaluations by kind (Need::loss, gradient, hessian_x, hessian) since the last reset, for the work model.
  void reset_counts() { counts_ = {}; }
  const std::array<std::int64_t, 4>& counts() const { return counts_; }

  static std::int64_t footprint_elements(std::int64_t n, std::int64_t d, std::int64_t local_rows, std::int64_t tile,
                                         std::int64_t key_chunk);

 private:
  double forward_tile(std::int64_t i0, std::int64_t t, const T* X, const T* Y);
  void key_products(std::int64_t t);

  dist::Comm comm_;
  const RegressData<T>& data_;
  std::int64_t tile_, kc_;
  // Scratch (allocated once, sized by tile): scores / softmax F and F o Z (t x n each), row
  // products (t x d) and per-row d x d blocks (t x d^2).
  Matrix<T> F_, FZ_, AX_, G_, R_, U_, V_, Pd_, H_;  // H_ = A3 Y (n x d), replicated
  Matrix<T> D0_, D1_, N0_, Mr_, Nr_, Tr_, Pxx_, Par_, Pag_, E2_, E3_;
  std::vector<T> c_;
  std::array<std::int64_t, 4> counts_{};
};

}  // namespace attnbench::regress
