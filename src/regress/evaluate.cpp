#include "regress/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::regress {

using linalg::gemm;
using linalg::Trans;

template <class T>
Evaluator<T>::Evaluator(const dist::Comm& comm, const RegressData<T>& data, std::int64_t tile, std::int64_t key_chunk)
    : comm_(comm), data_(data), tile_(std::max<std::int64_t>(1, tile)), kc_(std::max<std::int64_t>(1, key_chunk)) {
  const std::int64_t n = data.n, d = data.d, d2 = d * d;
  const std::int64_t t = std::min(tile_, std::max<std::int64_t>(1, data.A1.rows()));
  tile_ = t;
  kc_ = std::min(kc_, std::max<std::int64_t>(1, n));
  F_ = Matrix<T>(t, n);
  FZ_ = Matrix<T>(t, n);
  for (Matrix<T>* m : {&AX_, &G_, &R_, &U_, &V_, &Pd_}) *m = Matrix<T>(t, d);
  H_ = Matrix<T>(n, d);
  for (Matrix<T>* m : {&D0_, &D1_, &N0_, &Mr_, &Nr_, &Tr_, &Pxx_, &Par_, &Pag_}) *m = Matrix<T>(t, d2);
  E2_ = Matrix<T>(kc_, d2);
  E3_ = Matrix<T>(kc_, d2);
  A1s_ = Matrix<T>(t, d);
  Bs_ = Matrix<T>(t, d);
  c_.assign(static_cast<std::size_t>(t), T(0));
  a2sq_.assign(static_cast<std::size_t>(n), 0.0);
  a3sq_.assign(static_cast<std::size_t>(n), 0.0);
  hsq_.assign(static_cast<std::size_t>(n), 0.0);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t b = 0; b < d; ++b) {
      a2sq_[static_cast<std::size_t>(k)] += static_cast<double>(data.A2(k, b)) * static_cast<double>(data.A2(k, b));
      a3sq_[static_cast<std::size_t>(k)] += static_cast<double>(data.A3(k, b)) * static_cast<double>(data.A3(k, b));
    }
}

template <class T>
std::int64_t Evaluator<T>::footprint_elements(std::int64_t n, std::int64_t d, std::int64_t local_rows,
                                              std::int64_t tile, std::int64_t key_chunk) {
  const std::int64_t d2 = d * d, t = std::min(tile, std::max<std::int64_t>(1, local_rows));
  const std::int64_t kc = std::min(key_chunk, std::max<std::int64_t>(1, n));
  const std::int64_t data = 2 * local_rows * d + 2 * n * d;       // A1, B local; A2, A3 entire
  const std::int64_t scratch = 2 * t * n + 8 * t * d + n * d + 9 * t * d2 + 2 * kc * d2 + 3 * n;
  const std::int64_t hessian = 3 * d2 * d2 + 4 * d2 * d2;         // K accumulators + the joint Hessian
  return data + scratch + hessian;
}

// t rows (a1: their rows of A1, b: of B, both t x d row-major): F_ := rowsoftmax(s A1 X A2^T),
// G_ := F A3, R_ := G Y - B. Returns 1/2 |R|^2 of the tile (in double).
template <class T>
double Evaluator<T>::forward_tile(const T* a1, const T* bm, std::int64_t t, const T* X, const T* Y) {
  const std::int64_t n = data_.n, d = data_.d;
  const T s = static_cast<T>(data_.scale);
  gemm(Trans::no, Trans::no, t, d, d, T(1), a1, d, X, d, T(0), AX_.data(), d);
  gemm(Trans::no, Trans::yes, t, n, d, s, AX_.data(), d, data_.A2.data(), d, T(0), F_.data(), n);
  for (std::int64_t j = 0; j < t; ++j) {
    T* f = F_.row(j);
    const T mx = linalg::max_element(f, n);
    const T sum = linalg::exp_shift_sum(f, n, mx);
    const T inv = T(1) / sum;
    for (std::int64_t k = 0; k < n; ++k) f[k] *= inv;
  }
  gemm(Trans::no, Trans::no, t, d, n, T(1), F_.data(), n, data_.A3.data(), d, T(0), G_.data(), d);
  gemm(Trans::no, Trans::no, t, d, d, T(1), G_.data(), d, Y, d, T(0), R_.data(), d);
  double loss = 0.0;
  for (std::int64_t j = 0; j < t; ++j)
    for (std::int64_t m = 0; m < d; ++m) {
      const T r = R_(j, m) - bm[j * d + m];
      R_(j, m) = r;
      loss += 0.5 * static_cast<double>(r) * static_cast<double>(r);
    }
  return loss;
}

// D0 := F E2, D1 := (F o Z) E2, N0 := F E3 for the current tile, where row k of E2 is
// A2[k] (x) A2[k] and of E3 is A2[k] (x) A3[k]: row j of D0 is vec(A2^T diag(f_j) A2), etc.
// Key chunks of kc rows keep E2, E3 at kc x d^2. 6 t n d^2 flops.
template <class T>
void Evaluator<T>::key_products(std::int64_t t) {
  const std::int64_t n = data_.n, d = data_.d, d2 = d * d;
  for (std::int64_t k0 = 0; k0 < n; k0 += kc_) {
    const std::int64_t kc = std::min(kc_, n - k0);
    for (std::int64_t k = 0; k < kc; ++k) {
      const T* a2 = data_.A2.row(k0 + k);
      const T* a3 = data_.A3.row(k0 + k);
      T* e2 = E2_.row(k);
      T* e3 = E3_.row(k);
      for (std::int64_t b = 0; b < d; ++b)
        for (std::int64_t e = 0; e < d; ++e) {
          e2[b * d + e] = a2[b] * a2[e];
          e3[b * d + e] = a2[b] * a3[e];
        }
    }
    const T beta = k0 == 0 ? T(0) : T(1);
    gemm(Trans::no, Trans::no, t, d2, kc, T(1), F_.data() + k0, n, E2_.data(), d2, beta, D0_.data(), d2);
    gemm(Trans::no, Trans::no, t, d2, kc, T(1), FZ_.data() + k0, n, E2_.data(), d2, beta, D1_.data(), d2);
    gemm(Trans::no, Trans::no, t, d2, kc, T(1), F_.data() + k0, n, E3_.data(), d2, beta, N0_.data(), d2);
  }
}

// H_ := A3 Y (n x d) on every rank, 2 n d^2 flops (cheaper than any exchange), and the squared
// norms of its rows for the row bounds.
template <class T>
void Evaluator<T>::set_keys(const T* Y) {
  const std::int64_t n = data_.n, d = data_.d;
  gemm(Trans::no, Trans::no, n, d, d, T(1), data_.A3.data(), d, Y, d, T(0), H_.data(), d);
  for (std::int64_t k = 0; k < n; ++k) {
    double h = 0.0;
    for (std::int64_t b = 0; b < d; ++b) h += static_cast<double>(H_(k, b)) * static_cast<double>(H_(k, b));
    hsq_[static_cast<std::size_t>(k)] = h;
  }
}

// After forward_tile: FZ_ := F o (R H^T) (the rows' f o z), c_ := FZ_ 1, U_ := F A2, V_ := FZ_ A2.
// 6 t n d flops.
template <class T>
void Evaluator<T>::row_products(std::int64_t t) {
  const std::int64_t n = data_.n, d = data_.d;
  gemm(Trans::no, Trans::yes, t, n, d, T(1), R_.data(), d, H_.data(), d, T(0), FZ_.data(), n);
  for (std::int64_t j = 0; j < t; ++j) {
    const T* f = F_.row(j);
    T* z = FZ_.row(j);
    T c = T(0);
    for (std::int64_t k = 0; k < n; ++k) {
      z[k] *= f[k];
      c += z[k];
    }
    c_[static_cast<std::size_t>(j)] = c;
  }
  gemm(Trans::no, Trans::no, t, d, n, T(1), F_.data(), n, data_.A2.data(), d, T(0), U_.data(), d);
  gemm(Trans::no, Trans::no, t, d, n, T(1), FZ_.data(), n, data_.A2.data(), d, T(0), V_.data(), d);
}

// q[j] >= |E_j|_2 for the tile's rows (the bound of evaluate.hpp), after row_products. 8 n flops
// per row, in double.
template <class T>
void Evaluator<T>::row_bounds_tile(const T* a1, std::int64_t t, double* q) const {
  const std::int64_t n = data_.n, d = data_.d;
  const double s = std::abs(data_.scale);
  auto sq = [d](const T* v) {
    double r = 0.0;
    for (std::int64_t b = 0; b < d; ++b) r += static_cast<double>(v[b]) * static_cast<double>(v[b]);
    return r;
  };
  for (std::int64_t j = 0; j < t; ++j) {
    const T* f = F_.row(j);
    const T* fz = FZ_.row(j);
    const double c = static_cast<double>(c_[static_cast<std::size_t>(j)]);
    const double usq = sq(U_.row(j));
    double f_a2 = 0.0, f_a3 = 0.0, f_h = 0.0, w = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      const double fk = static_cast<double>(f[k]);
      f_a2 += fk * a2sq_[kk];
      f_a3 += fk * a3sq_[kk];
      f_h += fk * hsq_[kk];
      w += std::abs(static_cast<double>(fz[k]) - c * fk) * (a2sq_[kk] + usq);
    }
    w *= 2.0;
    const double tb2 = f_a2 * f_h, nb = std::sqrt(f_a2 * f_a3);
    const double asq = sq(a1 + j * d), rn = std::sqrt(sq(R_.row(j))), gn = std::sqrt(sq(G_.row(j)));
    q[j] = s * s * asq * (tb2 + w) + s * std::sqrt(asq) * (nb * rn + std::sqrt(tb2) * gn);
  }
}

// The Hessian terms of the tile's rows (a1: their rows of A1), after row_products, added to the
// accumulators: Kxx (H_xx), and with `joint` K1, K2 (H_xy). weights (or null for 1): row j's term
// is scaled by weights[j]. 6 t n d^2 + 6 t d^4 + O(t d^3) flops.
template <class T>
void Evaluator<T>::hessian_tile(const T* a1, std::int64_t t, const T* Y, const double* weights, bool joint,
                                std::vector<T>& Kxx, std::vector<T>& K1, std::vector<T>& K2) {
  const std::int64_t d = data_.d, d2 = d * d;
  const T s = static_cast<T>(data_.scale);
  key_products(t);
  for (std::int64_t j = 0; j < t; ++j) {
    const T* u = U_.row(j);
    const T* v = V_.row(j);
    const T* g = G_.row(j);
    const T* aj = a1 + j * d;
    const T cj = c_[static_cast<std::size_t>(j)];
    const T wj = weights ? static_cast<T>(weights[j]) : T(1);
    T* Nj = Nr_.row(j);
    T* Tj = Tr_.row(j);
    T* Mj = Mr_.row(j);
    // N_j = N0_j - u g^T = A2^T J_j A3;  T_j = N_j Y = A2^T J_j H
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t c = 0; c < d; ++c) Nj[b * d + c] = N0_(j, b * d + c) - u[b] * g[c];
    gemm(Trans::no, Trans::no, d, d, d, T(1), Nj, d, Y, d, T(0), Tj, d);
    // M_j = T T^T + D1 - v u^T - u v^T + 2 c u u^T - c D0
    gemm(Trans::no, Trans::yes, d, d, d, T(1), Tj, d, Tj, d, T(0), Mj, d);
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t e = 0; e < d; ++e)
        Mj[b * d + e] += D1_(j, b * d + e) - v[b] * u[e] - u[b] * v[e] + T(2) * cj * u[b] * u[e] - cj * D0_(j, b * d + e);
    // The weight rides on the a_j factors: w_j (a_j a_j^T) (x) M_j, w_j a_j (x) (...).
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t c = 0; c < d; ++c) Pxx_(j, a * d + c) = wj * aj[a] * aj[c];
    if (joint) {
      const T* r = R_.row(j);
      for (std::int64_t a = 0; a < d; ++a)
        for (std::int64_t c = 0; c < d; ++c) {
          Par_(j, a * d + c) = wj * aj[a] * r[c];
          Pag_(j, a * d + c) = wj * aj[a] * g[c];
        }
    }
  }
  // Kxx[(a,c),(b,e)] += s^2 sum_j a_j[a] a_j[c] M_j[b][e]
  gemm(Trans::yes, Trans::no, d2, d2, t, s * s, Pxx_.data(), d2, Mr_.data(), d2, T(1), Kxx.data(), d2);
  if (joint) {
    // K1[(a,l),(b,c)] += s sum_j a_j[a] r_j[l] N_j[b][c];  K2[(a,c),(b,l)] += s sum_j a_j[a] g_j[c] T_j[b][l]
    gemm(Trans::yes, Trans::no, d2, d2, t, s, Par_.data(), d2, Nr_.data(), d2, T(1), K1.data(), d2);
    gemm(Trans::yes, Trans::no, d2, d2, t, s, Pag_.data(), d2, Tr_.data(), d2, T(1), K2.data(), d2);
  }
}

// The Hessian from the accumulators (this rank's partial sums; GtG: this rank's part of G^T G):
// top block rows, then (reduce_hessian) ONE MPI_Allreduce of them with G^T G riding along
// (2 d^4 + d^2 values; d^4 for H_xx only), then the bottom blocks filled locally.
template <class T>
void Evaluator<T>::assemble_hessian(Evaluation<T>& ev, const std::vector<T>& Kxx, const std::vector<T>& K1,
                                    const std::vector<T>& K2, std::vector<T>& GtG, bool want_h, bool reduce_hessian) {
  const std::int64_t d = data_.d, d2 = d * d, NH = want_h ? 2 * d2 : d2;
  {
    ScopedAccumulate timer(ev.times.hessian);
    ev.hessian.assign(static_cast<std::size_t>(NH * NH), T(0));
    T* Hm = ev.hessian.data();
    // Top block rows: H[(a,b),(c,e)] = Kxx[(a,c),(b,e)]; H[(a,b), d^2 + (c,l)] = K1[(a,l),(b,c)] + K2[(a,c),(b,l)]
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b) {
        T* row = Hm + (a * d + b) * NH;
        for (std::int64_t c = 0; c < d; ++c)
          for (std::int64_t e = 0; e < d; ++e) row[c * d + e] = Kxx[static_cast<std::size_t>((a * d + c) * d2 + b * d + e)];
        if (!want_h) continue;
        for (std::int64_t c = 0; c < d; ++c)
          for (std::int64_t l = 0; l < d; ++l)
            row[d2 + c * d + l] = K1[static_cast<std::size_t>((a * d + l) * d2 + b * d + c)] +
                                  K2[static_cast<std::size_t>((a * d + c) * d2 + b * d + l)];
      }
    // G^T G rides along in the first d^2 entries of the (still empty) bottom half.
    if (want_h) std::copy(GtG.begin(), GtG.end(), Hm + d2 * NH);
  }
  if (reduce_hessian) {
    ScopedAccumulate timer(ev.times.reduce);
    const std::int64_t count = d2 * NH + (want_h ? d2 : 0);
    comm_.allreduce(std::span<T>(ev.hessian.data(), static_cast<std::size_t>(count)), dist::Op::sum);
  }
  if (want_h) {
    ScopedAccumulate timer(ev.times.hessian);
    T* Hm = ev.hessian.data();
    std::copy(Hm + d2 * NH, Hm + d2 * NH + d2, GtG.begin());
    std::fill(Hm + d2 * NH, Hm + d2 * NH + d2, T(0));
    // H_yx = H_xy^T; H_yy[(b,m),(c,m)] = (G^T G)[b][c]
    for (std::int64_t r = 0; r < d2; ++r)
      for (std::int64_t c = 0; c < d2; ++c) Hm[(d2 + c) * NH + r] = Hm[r * NH + d2 + c];
    for (std::int64_t b = 0; b < d; ++b)
      for (std::int64_t c = 0; c < d; ++c)
        for (std::int64_t m = 0; m < d; ++m) Hm[(d2 + b * d + m) * NH + d2 + c * d + m] = GtG[static_cast<std::size_t>(b * d + c)];
  }
}

template <class T>
Evaluation<T> Evaluator<T>::evaluate(std::span<const T> x, Need need, bool reduce_hessian, bool row_bounds) {
  const std::int64_t d = data_.d, d2 = d * d, N = 2 * d2, nl = data_.A1.rows();
  if (static_cast<std::int64_t>(x.size()) != N) throw internal_error("regress::Evaluator: x has the wrong size");
  const T* X = x.data();
  const T* Y = x.data() + d2;
  const T s = static_cast<T>(data_.scale);
  const bool want_grad = need != Need::loss;
  const bool want_hx = need == Need::hessian_x || need == Need::hessian;
  const bool want_h = need == Need::hessian;
  const bool bounds = row_bounds && want_grad;

  ++counts_[static_cast<std::size_t>(need)];
  Evaluation<T> ev;
  // The gradient, with G^T G appended when the row bounds are asked for (one Allreduce for both).
  std::vector<T> grad(want_grad ? static_cast<std::size_t>(N + (bounds ? d2 : 0)) : 0, T(0));
  std::vector<T> Kxx, K1, K2, GtG;
  if (want_hx) Kxx.assign(static_cast<std::size_t>(d2 * d2), T(0));
  if (want_h) {
    K1.assign(static_cast<std::size_t>(d2 * d2), T(0));
    K2.assign(static_cast<std::size_t>(d2 * d2), T(0));
    GtG.assign(static_cast<std::size_t>(d2), T(0));
  }
  if (bounds) ev.row_bound.assign(static_cast<std::size_t>(nl), 0.0);
  double loss = 0.0;
  if (want_grad) {
    ScopedAccumulate timer(ev.times.gradient);
    set_keys(Y);
  }
  for (std::int64_t i0 = 0; i0 < nl; i0 += tile_) {
    const std::int64_t t = std::min(tile_, nl - i0);
    const T* a1 = data_.A1.row(i0);
    {
      ScopedAccumulate timer(ev.times.forward);
      loss += forward_tile(a1, data_.B.row(i0), t, X, Y);
    }
    if (!want_grad) continue;
    {
      ScopedAccumulate timer(ev.times.gradient);
      // grad_Y += G^T R
      gemm(Trans::yes, Trans::no, d, d, t, T(1), G_.data(), d, R_.data(), d, T(1), grad.data() + d2, d);
      row_products(t);
      // Pd := V - diag(c) U = P A2;  grad_X += s A1^T Pd
      for (std::int64_t j = 0; j < t; ++j)
        for (std::int64_t b = 0; b < d; ++b) Pd_(j, b) = V_(j, b) - c_[static_cast<std::size_t>(j)] * U_(j, b);
      gemm(Trans::yes, Trans::no, d, d, t, s, a1, d, Pd_.data(), d, T(1), grad.data(), d);
      if (bounds) {
        row_bounds_tile(a1, t, ev.row_bound.data() + i0);
        gemm(Trans::yes, Trans::no, d, d, t, T(1), G_.data(), d, G_.data(), d, T(1), grad.data() + N, d);
      }
    }
    if (!want_hx) continue;
    ScopedAccumulate timer(ev.times.hessian);
    hessian_tile(a1, t, Y, nullptr, want_h, Kxx, K1, K2);
    if (want_h) gemm(Trans::yes, Trans::no, d, d, t, T(1), G_.data(), d, G_.data(), d, T(1), GtG.data(), d);
  }

  {
    ScopedAccumulate timer(ev.times.reduce);
    ev.loss = comm_.allreduce(loss, dist::Op::sum);   // 1 double
    if (want_grad) comm_.allreduce(std::span<T>(grad), dist::Op::sum);  // 2 d^2 values (+ d^2: G^T G)
  }
  if (bounds) {
    ev.gtg.assign(grad.begin() + N, grad.end());
    grad.resize(static_cast<std::size_t>(N));
  }
  ev.grad = std::move(grad);
  if (want_hx) assemble_hessian(ev, Kxx, K1, K2, GtG, want_h, reduce_hessian);
  return ev;
}

template <class T>
Evaluation<T> Evaluator<T>::sampled_hessian(std::span<const T> x, const RowSample& sample, std::span<const T> gtg,
                                            bool reduce_hessian) {
  const std::int64_t d = data_.d, d2 = d * d, N = 2 * d2;
  if (static_cast<std::int64_t>(x.size()) != N || static_cast<std::int64_t>(gtg.size()) != d2 ||
      sample.rows.size() != sample.weights.size())
    throw internal_error("regress::Evaluator::sampled_hessian: sizes do not match");
  const T* X = x.data();
  const T* Y = x.data() + d2;
  Evaluation<T> ev;
  std::vector<T> Kxx(static_cast<std::size_t>(d2 * d2), T(0)), K1(Kxx.size(), T(0)), K2(Kxx.size(), T(0));
  // H_yy is exact: G^T G (replicated) enters on rank 0 only, so that both the Allreduce and a
  // solver's reduction of the partial sums count it once.
  std::vector<T> GtG(static_cast<std::size_t>(d2), T(0));
  if (comm_.rank() == 0) std::copy(gtg.begin(), gtg.end(), GtG.begin());
  {
    ScopedAccumulate timer(ev.times.hessian);
    set_keys(Y);
    const auto ms = static_cast<std::int64_t>(sample.rows.size());
    for (std::int64_t i0 = 0; i0 < ms; i0 += tile_) {
      const std::int64_t t = std::min(tile_, ms - i0);
      // Gather the sampled rows of A1 and B (t d values each), then the same per-row work as a
      // tile of evaluate: forward (4 t n d), row products (6 t n d), Hessian terms (6 t n d^2).
      for (std::int64_t j = 0; j < t; ++j) {
        const std::int64_t r = sample.rows[static_cast<std::size_t>(i0 + j)];
        std::copy(data_.A1.row(r), data_.A1.row(r) + d, A1s_.row(j));
        std::copy(data_.B.row(r), data_.B.row(r) + d, Bs_.row(j));
      }
      forward_tile(A1s_.data(), Bs_.data(), t, X, Y);
      row_products(t);
      hessian_tile(A1s_.data(), t, Y, sample.weights.data() + i0, true, Kxx, K1, K2);
    }
  }
  ++sampled_evaluations_;
  sampled_rows_ += comm_.allreduce(static_cast<std::int64_t>(sample.rows.size()), dist::Op::sum);
  assemble_hessian(ev, Kxx, K1, K2, GtG, true, reduce_hessian);
  return ev;
}

template <class T>
void Evaluator<T>::normal_equations(std::span<const T> X, std::vector<T>& GtG, std::vector<T>& GtB, EvalTimes& times) {
  const std::int64_t d = data_.d, d2 = d * d, nl = data_.A1.rows();
  GtG.assign(static_cast<std::size_t>(2 * d2), T(0));  // [G^T G | G^T B] packed for one Allreduce
  const std::vector<T> zeroY(static_cast<std::size_t>(d2), T(0));
  for (std::int64_t i0 = 0; i0 < nl; i0 += tile_) {
    const std::int64_t t = std::min(tile_, nl - i0);
    ScopedAccumulate timer(times.forward);
    forward_tile(data_.A1.row(i0), data_.B.row(i0), t, X.data(), zeroY.data());  // G_ := F A3 (R_ = -B is unused)
    gemm(Trans::yes, Trans::no, d, d, t, T(1), G_.data(), d, G_.data(), d, T(1), GtG.data(), d);
    gemm(Trans::yes, Trans::no, d, d, t, T(1), G_.data(), d, data_.B.row(i0), d, T(1), GtG.data() + d2, d);
  }
  {
    ScopedAccumulate timer(times.reduce);
    comm_.allreduce(std::span<T>(GtG), dist::Op::sum);  // 2 d^2 values
  }
  GtB.assign(GtG.begin() + d2, GtG.end());
  GtG.resize(static_cast<std::size_t>(d2));
}

template <class T>
Matrix<T> Evaluator<T>::predict_local(std::span<const T> X, std::span<const T> Y) {
  const std::int64_t d = data_.d, nl = data_.A1.rows();
  Matrix<T> out(nl, d);
  for (std::int64_t i0 = 0; i0 < nl; i0 += tile_) {
    const std::int64_t t = std::min(tile_, nl - i0);
    forward_tile(data_.A1.row(i0), data_.B.row(i0), t, X.data(), Y.data());  // R_ = F A3 Y - B
    for (std::int64_t j = 0; j < t; ++j)
      for (std::int64_t m = 0; m < d; ++m) out(i0 + j, m) = R_(j, m) + data_.B(i0 + j, m);
  }
  return out;
}

template class Evaluator<float>;
template class Evaluator<double>;

}  // namespace attnbench::regress
