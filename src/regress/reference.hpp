#pragma once
// Serial dense reference of the attention-regression loss, its gradients and its joint Hessian
// (ALGORITHMS.md section 5), written from the formulas with plain loops and explicit n x n
// matrices: slow (O(n^3 d) for the Hessian), obviously correct, for small n and d only. The
// distributed evaluator (evaluate.hpp) is tested against it; it in turn is tested against central
// finite differences.
//
//   L(X, Y) = 1/2 |F A3 Y - B|_F^2,   F = rowsoftmax(s A1 X A2^T),   X, Y in R^{d x d}
//
// Unknowns are stacked row-major: x = [vec(X); vec(Y)], vec(X)[a d + b] = X[a][b], so the joint
// Hessian is (2 d^2) x (2 d^2) with blocks [[H_xx, H_xy], [H_xy^T, H_yy]].
#include <cstdint>

#include "core/matrix.hpp"

namespace attnbench::regress {

struct ReferenceProblem {
  // A1, B: nq x d (query rows); A2, A3: nk x d (key rows). The kernel has nq = nk = n; a single
  // query row (nq = 1) gives the Hessian of one row's loss (newton-sketch's row terms).
  Matrix<double> A1, A2, A3, B;
  double scale = 1.0;            // s in softmax(s A1 X A2^T)
};

struct ReferenceResult {
  double loss = 0.0;
  Matrix<double> grad_X, grad_Y;  // d x d
  Matrix<double> hessian;         // 2 d^2 x 2 d^2, row-major, joint in (vec X, vec Y)
};

// Loss only.
double reference_loss(const ReferenceProblem& p, const Matrix<double>& X, const Matrix<double>& Y);
// Loss, both gradients and (if with_hessian) the joint Hessian.
ReferenceResult reference_evaluate(const ReferenceProblem& p, const Matrix<double>& X, const Matrix<double>& Y,
                                   bool with_hessian);

}  // namespace attnbench::regress
