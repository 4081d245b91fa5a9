#include "attention/approx/errors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/exact/validation.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"

namespace attnbench::approx {

ErrorMode default_error_mode(std::int64_t n) { return n <= kFullErrorMaxN ? ErrorMode::full : ErrorMode::sampled; }

bool ApproxErrors::finite() const {
  if (mode == ErrorMode::none) return true;
  auto ok = [](double v) { return std::isnan(v) || std::isfinite(v); };  // NaN = not measured
  return std::isfinite(max_abs_error) && std::isfinite(rel_error) && ok(rel_frobenius_error) &&
         ok(rel_spectral_error);
}

double symmetric_max_eigenvalue(std::vector<double> A, std::int64_t n) {
  if (n == 0) return 0.0;
  auto at = [&](std::int64_t i, std::int64_t j) -> double& { return A[static_cast<std::size_t>(i * n + j)]; };
  for (auto v : A)
    if (!std::isfinite(v)) return std::numeric_limits<double>::infinity();
  // Cyclic Jacobi: rotate away each off-diagonal entry; quadratic convergence after a few sweeps.
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      diag += at(i, i) * at(i, i);
      for (std::int64_t j = i + 1; j < n; ++j) off += at(i, j) * at(i, j);
    }
    if (off <= 1e-30 * diag || off == 0.0) break;
    for (std::int64_t p = 0; p < n; ++p)
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = at(p, q);
        if (apq == 0.0) continue;
        const double theta = (at(q, q) - at(p, p)) / (2.0 * apq);
        const double t = (theta >= 0.0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t k = 0; k < n; ++k) {  // A := J^T A J (columns, then rows)
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
      }
  }
  double mx = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i) mx = std::max(mx, at(i, i));
  return mx;
}

template <class T>
ApproxErrors compare_outputs(const dist::Comm& comm, const Matrix<T>& Oa, const Matrix<T>& Oe) {
  if (Oa.rows() != Oe.rows() || Oa.cols() != Oe.cols())
    throw internal_error("compare_outputs: the approximate and exact outputs differ in shape");
  const std::int64_t dv = Oe.cols();
  // [max |E|, max |O|] := Allreduce(MAX); [E^T E | O^T O] := Allreduce(SUM) of 2 dv^2 doubles.
  double maxima[2] = {0.0, 0.0};
  std::vector<double> grams(static_cast<std::size_t>(2 * dv * dv), 0.0);
  double* GE = grams.data();
  double* GO = grams.data() + dv * dv;
  std::vector<double> e(static_cast<std::size_t>(dv)), o(static_cast<std::size_t>(dv));
  for (std::int64_t i = 0; i < Oe.rows(); ++i) {
    for (std::int64_t c = 0; c < dv; ++c) {
      o[static_cast<std::size_t>(c)] = static_cast<double>(Oe(i, c));
      e[static_cast<std::size_t>(c)] = static_cast<double>(Oa(i, c)) - o[static_cast<std::size_t>(c)];
      const double ae = std::abs(e[static_cast<std::size_t>(c)]);
      // NaN in the approximation must show up as an infinite error, so compare with !(x <= max).
      if (!(ae <= maxima[0])) maxima[0] = std::isnan(ae) ? std::numeric_limits<double>::infinity() : ae;
      maxima[1] = std::max(maxima[1], std::abs(o[static_cast<std::size_t>(c)]));
    }
    for (std::int64_t a = 0; a < dv; ++a)
      for (std::int64_t b = 0; b < dv; ++b) {
        GE[a * dv + b] += e[static_cast<std::size_t>(a)] * e[static_cast<std::size_t>(b)];
        GO[a * dv + b] += o[static_cast<std::size_t>(a)] * o[static_cast<std::size_t>(b)];
      }
  }
  comm.allreduce(std::span<double>(maxima, 2), dist::Op::max);
  comm.allreduce(std::span<double>(grams), dist::Op::sum);

  ApproxErrors r;
  r.mode = ErrorMode::full;
  r.max_abs_error = maxima[0];
  r.rel_error = maxima[1] > 0.0 ? maxima[0] / maxima[1] : maxima[0];
  double trE = 0.0, trO = 0.0;
  for (std::int64_t a = 0; a < dv; ++a) {
    trE += GE[a * dv + a];
    trO += GO[a * dv + a];
  }
  r.rel_frobenius_error = trO > 0.0 ? std::sqrt(trE / trO) : std::sqrt(trE);
  const std::vector<double> gE(grams.begin(), grams.begin() + dv * dv), gO(grams.begin() + dv * dv, grams.end());
  const double lE = std::max(0.0, symmetric_max_eigenvalue(gE, dv));
  const double lO = std::max(0.0, symmetric_max_eigenvalue(gO, dv));
  r.rel_spectral_error = lO > 0.0 ? std::sqrt(lE / lO) : std::sqrt(lE);
  if (std::isinf(r.max_abs_error)) r.rel_frobenius_error = r.rel_spectral_error = std::numeric_limits<double>::infinity();
  return r;
}

template <class T>
ApproxErrors measure_errors(const dist::Comm& comm, const AttentionProblem<T>& p, const Matrix<T>& Oa, ErrorMode mode,
                            const attention::MhaOptions& exact, std::int64_t rows, std::uint64_t seed) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ApproxErrors r;
  switch (mode) {
    case ErrorMode::full: {
      attention::MhaOptions eo = exact;
      eo.variant = attention::MhaVariant::ring;
      double t = 0.0;
      Matrix<T> Oe;
      {
        ScopedAccumulate timer(t);
        Oe = attention::mha_attention(comm, p, eo);
      }
      r = compare_outputs(comm, Oa, Oe);
      r.exact_seconds = comm.allreduce(t, dist::Op::max);
      r.rows_checked = p.n_q();
      r.method = "full: exact attention (ring) in the same run; max-abs, rel-in-max, rel Frobenius, rel spectral";
      break;
    }
    case ErrorMode::sampled: {
      const auto v = attention::validate_sampled(comm, p, Oa, false, exact.scale, rows, seed);
      r.mode = ErrorMode::sampled;
      r.rows_checked = v.rows_checked;
      r.max_abs_error = v.max_abs_error;
      r.rel_error = v.rel_error;
      r.rel_frobenius_error = r.rel_spectral_error = nan;
      r.method = "sampled: seeded rows vs serial two-pass reference in double; max-abs, rel-in-max";
      break;
    }
    case ErrorMode::none:
      r.mode = ErrorMode::none;
      r.max_abs_error = r.rel_error = r.rel_frobenius_error = r.rel_spectral_error = nan;
      r.method = "none: errors not measured";
      break;
  }
  return r;
}

template ApproxErrors compare_outputs<float>(const dist::Comm&, const Matrix<float>&, const Matrix<float>&);
template ApproxErrors compare_outputs<double>(const dist::Comm&, const Matrix<double>&, const Matrix<double>&);
template ApproxErrors measure_errors<float>(const dist::Comm&, const AttentionProblem<float>&, const Matrix<float>&,
                                            ErrorMode, const attention::MhaOptions&, std::int64_t, std::uint64_t);
template ApproxErrors measure_errors<double>(const dist::Comm&, const AttentionProblem<double>&, const Matrix<double>&,
                                             ErrorMode, const attention::MhaOptions&, std::int64_t, std::uint64_t);

}  // namespace attnbench::approx
