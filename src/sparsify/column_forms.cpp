#include "sparsify/column_forms.hpp"

#include <algorithm>
#include <cstdint>

#include "linalg/blas.hpp"

namespace attnbench::sparsify {

using linalg::Trans;

template <class T>
std::vector<double> column_norms_of_product(const ColumnBlock<T>& X, const std::vector<double>& W) {
  const std::int64_t n = X.n;
  std::vector<double> tau(static_cast<std::size_t>(X.cols), 0.0);
  if (!X.sparse) {
    std::vector<double> scratch;
    // Z[t, :] := Xc[t, :] W^T = (W x_{j0+t})^T  (trmm on the copied chunk, n^2 b flops)
    for_each_dense_chunk(X, 512, scratch, [&](std::int64_t j0, std::int64_t b, double* Xc) {
      linalg::trmm(false, true, Trans::yes, false, b, n, 1.0, W.data(), n, Xc, n);
      for (std::int64_t t = 0; t < b; ++t) {
        const double* z = Xc + t * n;
        double s = 0.0;
        for (std::int64_t i = 0; i < n; ++i) s += z[i] * z[i];
        tau[static_cast<std::size_t>(j0 + t)] = s;
      }
    });
    return tau;
  }
  // Wt row r = column r of W: entries [r, n) are its nonzeros. norm2[r] = |W[:, r]|^2.
  std::vector<double> Wt(static_cast<std::size_t>(n * n)), norm2(static_cast<std::size_t>(n), 0.0),
      z(static_cast<std::size_t>(n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b) Wt[static_cast<std::size_t>(b * n + a)] = W[static_cast<std::size_t>(a * n + b)];
  for (std::int64_t r = 0; r < n; ++r) {
    const double* w = Wt.data() + r * n;
    double s = 0.0;
    for (std::int64_t k = r; k < n; ++k) s += w[k] * w[k];
    norm2[static_cast<std::size_t>(r)] = s;
  }
  const std::int32_t* rows = X.rowidx.data();
  const T* vals = X.values.data();
  double* __restrict zz = z.data();
  for (std::int64_t j = 0; j < X.cols; ++j) {
    const std::int64_t e0 = X.colptr[static_cast<std::size_t>(j)], e1 = X.colptr[static_cast<std::size_t>(j) + 1];
    if (e1 == e0) continue;
    if (e1 - e0 == 1) {
      const double v = static_cast<double>(vals[e0]);
      tau[static_cast<std::size_t>(j)] = v * v * norm2[static_cast<std::size_t>(rows[e0])];
      continue;
    }
    // z[k], k in [lo, n): (W x_j)_k; lo = the smallest row (rows need not be sorted).
    std::int64_t lo = n;
    for (std::int64_t e = e0; e < e1; ++e) lo = std::min<std::int64_t>(lo, rows[e]);
    std::fill(zz + lo, zz + n, 0.0);
    for (std::int64_t e = e0; e < e1; ++e) {
      const std::int64_t r = rows[e];
      const double v = static_cast<double>(vals[e]);
      const double* __restrict w = Wt.data() + r * n;
      for (std::int64_t k = r; k < n; ++k) zz[k] += v * w[k];
    }
    double s = 0.0;
    for (std::int64_t k = lo; k < n; ++k) s += zz[k] * zz[k];
    tau[static_cast<std::size_t>(j)] = s;
  }
  return tau;
}

template <class T>
QuadraticTerms quadratic_terms(const ColumnBlock<T>& X) {
  QuadraticTerms t;
  const std::int64_t n = X.n;
  if (!X.sparse || X.cols > INT32_MAX || n * n > static_cast<std::int64_t>(UINT32_MAX)) return t;
  std::int64_t count = 0;
  for (std::int64_t j = 0; j < X.cols; ++j) {
    const std::int64_t k = X.colptr[static_cast<std::size_t>(j) + 1] - X.colptr[static_cast<std::size_t>(j)];
    count += k * (k + 1) / 2;
  }
  if (count > kMaxTermsPerColumn * X.cols) return t;
  t.at.reserve(static_cast<std::size_t>(count));
  t.col.reserve(static_cast<std::size_t>(count));
  t.coef.reserve(static_cast<std::size_t>(count));
  t.nonzero.assign(static_cast<std::size_t>(X.cols), 0);
  for (std::int64_t j = 0; j < X.cols; ++j) {
    const std::int64_t e0 = X.colptr[static_cast<std::size_t>(j)], e1 = X.colptr[static_cast<std::size_t>(j) + 1];
    for (std::int64_t a = e0; a < e1; ++a) {
      const double xa = static_cast<double>(X.values[static_cast<std::size_t>(a)]);
      if (xa == 0.0) continue;
      t.nonzero[static_cast<std::size_t>(j)] = 1;
      const std::int64_t ra = X.rowidx[static_cast<std::size_t>(a)];
      for (std::int64_t b = e0; b <= a; ++b) {
        const double xb = static_cast<double>(X.values[static_cast<std::size_t>(b)]);
        if (xb == 0.0) continue;
        t.at.push_back(static_cast<std::uint32_t>(ra * n + X.rowidx[static_cast<std::size_t>(b)]));
        t.col.push_back(static_cast<std::int32_t>(j));
        t.coef.push_back(b == a ? xa * xa : 2.0 * xa * xb);
      }
    }
  }
  t.built = true;
  return t;
}

template <class T>
void column_quadratic_forms(const ColumnBlock<T>& X, const std::vector<double>& D, std::vector<double>& q,
                            std::vector<char>& nonzero, const QuadraticTerms* terms) {
  const std::int64_t n = X.n;
  q.assign(static_cast<std::size_t>(X.cols), 0.0);
  if (terms && terms->built) {
    nonzero = terms->nonzero;
    const std::uint32_t* at = terms->at.data();
    const std::int32_t* col = terms->col.data();
    const double* coef = terms->coef.data();
    const double* Dd = D.data();
    double* qq = q.data();
    const std::size_t count = terms->at.size();
    for (std::size_t t = 0; t < count; ++t) qq[col[t]] += coef[t] * Dd[at[t]];
    return;
  }
  nonzero.assign(static_cast<std::size_t>(X.cols), 0);
  if (!X.sparse) {
    std::vector<double> scratch, Y;
    // Y := Xc D (2 n^2 b flops per chunk; X read in place for double storage); q_t = <Y_t, x_t>.
    for_each_dense_view(X, 256, scratch, [&](std::int64_t j0, std::int64_t b, const double* Xc) {
      Y.resize(static_cast<std::size_t>(b * n));
      linalg::gemm(Trans::no, Trans::no, b, n, n, 1.0, Xc, n, D.data(), n, 0.0, Y.data(), n);
      for (std::int64_t t = 0; t < b; ++t) {
        const double* x = Xc + t * n;
        const double* y = Y.data() + t * n;
        double s = 0.0;
        bool any = false;
        for (std::int64_t i = 0; i < n; ++i) {
          s += x[i] * y[i];
          any |= x[i] != 0.0;
        }
        q[static_cast<std::size_t>(j0 + t)] = s;
        nonzero[static_cast<std::size_t>(j0 + t)] = any;
      }
    });
    return;
  }
  const std::int32_t* rows = X.rowidx.data();
  const T* vals = X.values.data();
  for (std::int64_t j = 0; j < X.cols; ++j) {
    const std::int64_t e0 = X.colptr[static_cast<std::size_t>(j)], e1 = X.colptr[static_cast<std::size_t>(j) + 1];
    double s = 0.0;
    bool any = false;
    for (std::int64_t a = e0; a < e1; ++a) {
      const double xa = static_cast<double>(vals[a]);
      if (xa == 0.0) continue;
      any = true;
      const double* Da = D.data() + static_cast<std::int64_t>(rows[a]) * n;
      double cross = 0.0;
      for (std::int64_t b = e0; b < a; ++b) cross += Da[rows[b]] * static_cast<double>(vals[b]);
      s += xa * (Da[rows[a]] * xa + 2.0 * cross);
    }
    q[static_cast<std::size_t>(j)] = s;
    nonzero[static_cast<std::size_t>(j)] = any;
  }
}

template std::vector<double> column_norms_of_product(const ColumnBlock<float>&, const std::vector<double>&);
template std::vector<double> column_norms_of_product(const ColumnBlock<double>&, const std::vector<double>&);
template QuadraticTerms quadratic_terms(const ColumnBlock<float>&);
template QuadraticTerms quadratic_terms(const ColumnBlock<double>&);
template void column_quadratic_forms(const ColumnBlock<float>&, const std::vector<double>&, std::vector<double>&,
                                     std::vector<char>&, const QuadraticTerms*);
template void column_quadratic_forms(const ColumnBlock<double>&, const std::vector<double>&, std::vector<double>&,
                                     std::vector<char>&, const QuadraticTerms*);

}  // namespace attnbench::sparsify
