#include "regress/reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace attnbench::regress {

namespace {

// F = rowsoftmax(s A1 X A2^T), nq x nk (queries: rows of A1, keys: rows of A2), two-pass with the
// row maximum subtracted.
Matrix<double> softmax_scores(const ReferenceProblem& p, const Matrix<double>& X) {
  const std::int64_t nq = p.A1.rows(), nk = p.A2.rows(), d = p.A1.cols();
  Matrix<double> F(nq, nk);
  for (std::int64_t j = 0; j < nq; ++j) {
    double mx = -INFINITY;
    for (std::int64_t k = 0; k < nk; ++k) {
      double v = 0.0;
      for (std::int64_t a = 0; a < d; ++a)
        for (std::int64_t b = 0; b < d; ++b) v += p.A1(j, a) * X(a, b) * p.A2(k, b);
      F(j, k) = p.scale * v;
      mx = std::max(mx, F(j, k));
    }
    double sum = 0.0;
    for (std::int64_t k = 0; k < nk; ++k) sum += (F(j, k) = std::exp(F(j, k) - mx));
    for (std::int64_t k = 0; k < nk; ++k) F(j, k) /= sum;
  }
  return F;
}

Matrix<double> matmul(const Matrix<double>& A, const Matrix<double>& B) {
  Matrix<double> C(A.rows(), B.cols());
  for (std::int64_t i = 0; i < A.rows(); ++i)
    for (std::int64_t k = 0; k < A.cols(); ++k)
      for (std::int64_t j = 0; j < B.cols(); ++j) C(i, j) += A(i, k) * B(k, j);
  return C;
}

}  // namespace

double reference_loss(const ReferenceProblem& p, const Matrix<double>& X, const Matrix<double>& Y) {
  const Matrix<double> F = softmax_scores(p, X);
  const Matrix<double> R = matmul(matmul(F, p.A3), Y);
  double loss = 0.0;
  for (std::int64_t i = 0; i < R.rows(); ++i)
    for (std::int64_t m = 0; m < R.cols(); ++m) loss += 0.5 * (R(i, m) - p.B(i, m)) * (R(i, m) - p.B(i, m));
  return loss;
}

ReferenceResult reference_evaluate(const ReferenceProblem& p, const Matrix<double>& X, const Matrix<double>& Y,
                                   bool with_hessian) {
  const std::int64_t nq = p.A1.rows(), nk = p.A2.rows(), d = p.A1.cols(), d2 = d * d, N = 2 * d2;
  const double s = p.scale;
  const Matrix<double> F = softmax_scores(p, X);
  const Matrix<double> H = matmul(p.A3, Y);   // nk x d (keys)
  const Matrix<double> G = matmul(F, p.A3);   // nq x d
  Matrix<double> R = matmul(F, H);            // nq x d, then minus B
  ReferenceResult out;
  for (std::int64_t j = 0; j < nq; ++j)
    for (std::int64_t m = 0; m < d; ++m) {
      R(j, m) -= p.B(j, m);
      out.loss += 0.5 * R(j, m) * R(j, m);
    }
  // grad_Y = G^T R
  out.grad_Y = Matrix<double>(d, d);
  for (std::int64_t j = 0; j < nq; ++j)
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t m = 0; m < d; ++m) out.grad_Y(b, m) += G(j, b) * R(j, m);
  // q = R H^T (nq x nk); P = F o q - diag((F o q) 1) F; grad_X = s A1^T P A2.
  Matrix<double> P(nq, nk);
  for (std::int64_t j = 0; j < nq; ++j) {
    double c = 0.0;
    for (std::int64_t k = 0; k < nk; ++k) {
      double q = 0.0;
      for (std::int64_t m = 0; m < d; ++m) q += R(j, m) * H(k, m);
      P(j, k) = F(j, k) * q;
      c += P(j, k);
    }
    for (std::int64_t k = 0; k < nk; ++k) P(j, k) -= c * F(j, k);
  }
  out.grad_X = Matrix<double>(d, d);
  for (std::int64_t j = 0; j < nq; ++j)
    for (std::int64_t k = 0; k < nk; ++k)
      for (std::int64_t a = 0; a < d; ++a)
        for (std::int64_t b = 0; b < d; ++b) out.grad_X(a, b) += s * p.A1(j, a) * P(j, k) * p.A2(k, b);
  if (!with_hessian) return out;

  out.hessian = Matrix<double>(N, N);
  Matrix<double>& Hs = out.hessian;
  std::vector<double> f(static_cast<std::size_t>(nk)), z(f.size()), fz(f.size());
  Matrix<double> Bj(nk, nk), J(nk, nk);
  for (std::int64_t j = 0; j < nq; ++j) {
    double fz_sum = 0.0;  // f^T z
    for (std::int64_t k = 0; k < nk; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      f[kk] = F(j, k);
      z[kk] = 0.0;
      for (std::int64_t m = 0; m < d; ++m) z[kk] += H(k, m) * R(j, m);  // z = (R H^T)[j, :]
      fz[kk] = f[kk] * z[kk];
      fz_sum += fz[kk];
    }
    // J = diag f - f f^T; B_j = J H H^T J + diag(f o z) - (f o z) f^T - f (f o z)^T
    //                          + 2 (f^T z) f f^T - (f^T z) diag f   (the Hessian of row j's loss in S_j)
    for (std::int64_t k = 0; k < nk; ++k)
      for (std::int64_t l = 0; l < nk; ++l)
        J(k, l) = (k == l ? f[static_cast<std::size_t>(k)] : 0.0) - f[static_cast<std::size_t>(k)] * f[static_cast<std::size_t>(l)];
    const Matrix<double> JH = matmul(J, H);  // nq x d
    for (std::int64_t k = 0; k < nk; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      for (std::int64_t l = 0; l < nk; ++l) {
        const auto ll = static_cast<std::size_t>(l);
        double v = 0.0;
        for (std::int64_t m = 0; m < d; ++m) v += JH(k, m) * JH(l, m);
        v += (k == l ? fz[kk] - fz_sum * f[kk] : 0.0) - fz[kk] * f[ll] - f[kk] * fz[ll] + 2.0 * fz_sum * f[kk] * f[ll];
        Bj(k, l) = v;
      }
    }
    // H_xx += s^2 (a_j a_j^T) (x) (A2^T B_j A2)
    Matrix<double> M(d, d);
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t e = 0; e < d; ++e) {
        double v = 0.0;
        for (std::int64_t k = 0; k < nk; ++k)
          for (std::int64_t l = 0; l < nk; ++l) v += p.A2(k, b) * Bj(k, l) * p.A2(l, e);
        M(b, e) = v;
      }
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b)
        for (std::int64_t c = 0; c < d; ++c)
          for (std::int64_t e = 0; e < d; ++e) Hs(a * d + b, c * d + e) += s * s * p.A1(j, a) * p.A1(j, c) * M(b, e);
    // Cross block: d/dY[c][l] of grad_X[a][b] = s sum_j a_j[a] ( (A2^T J A3)[b][c] r_j[l] + (A2^T J H)[b][l] G[j][c] ),
    // since z_j = H r_j depends on Y through H = A3 Y (dz_k = A3[k][c] r_j[l]) and through
    // r_j = f^T H - b_j (dr_j[l] = G[j][c]); f does not depend on Y.
    const Matrix<double> JA3 = matmul(J, p.A3);
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t c = 0; c < d; ++c) {
        double n3 = 0.0;  // (A2^T J A3)[b][c]
        for (std::int64_t k = 0; k < nk; ++k) n3 += p.A2(k, b) * JA3(k, c);
        for (std::int64_t l = 0; l < d; ++l)
          for (std::int64_t a = 0; a < d; ++a) Hs(a * d + b, d2 + c * d + l) += s * p.A1(j, a) * n3 * R(j, l);
      }
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t l = 0; l < d; ++l) {
        double th = 0.0;  // (A2^T J H)[b][l]
        for (std::int64_t k = 0; k < nk; ++k) th += p.A2(k, b) * JH(k, l);
        for (std::int64_t c = 0; c < d; ++c)
          for (std::int64_t a = 0; a < d; ++a) Hs(a * d + b, d2 + c * d + l) += s * p.A1(j, a) * th * G(j, c);
      }
  }
  // H_yx = H_xy^T; H_yy = (G^T G) (x) I (the loss is quadratic in Y).
  for (std::int64_t r = 0; r < d2; ++r)
    for (std::int64_t c = 0; c < d2; ++c) Hs(d2 + c, r) = Hs(r, d2 + c);
  for (std::int64_t j = 0; j < nq; ++j)
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t c = 0; c < d; ++c)
        for (std::int64_t m = 0; m < d; ++m) Hs(d2 + b * d + m, d2 + c * d + m) += G(j, b) * G(j, c);
  return out;
}

}  // namespace attnbench::regress
