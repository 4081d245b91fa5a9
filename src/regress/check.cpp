#include "regress/check.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "regress/problem.hpp"

namespace attnbench::regress {

namespace {

// Distinct seeded indices in [0, N): a partial Fisher-Yates shuffle of 0..N-1 driven by the
// counter-based generator (identical on every rank).
std::vector<std::int64_t> sample_indices(std::int64_t N, std::int64_t k, std::uint64_t seed, std::uint64_t stream) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i) idx[static_cast<std::size_t>(i)] = i;
  k = std::min(k, N);
  for (std::int64_t i = 0; i < k; ++i) {
    const auto span = static_cast<std::uint64_t>(N - i);
    const auto j = i + static_cast<std::int64_t>(random_bits(seed, stream, static_cast<std::uint64_t>(i)) % span);
    std::swap(idx[static_cast<std::size_t>(i)], idx[static_cast<std::size_t>(j)]);
  }
  idx.resize(static_cast<std::size_t>(k));
  return idx;
}

}  // namespace

template <class T>
DerivativeCheck check_derivatives(const dist::Comm& comm, Evaluator<T>& ev, std::span<const T> x0, std::uint64_t seed,
                                  std::int64_t coordinates, std::int64_t columns) {
  const auto N = static_cast<std::int64_t>(x0.size());
  double rms = 0.0;
  for (const T v : x0) rms += static_cast<double>(v) * static_cast<double>(v);
  rms = std::sqrt(rms / static_cast<double>(std::max<std::int64_t>(N, 1)));
  std::vector<T> xc(x0.begin(), x0.end());
  const double shift = 1e-2 * std::max(rms, 1e-2);
  for (std::int64_t i = 0; i < N; ++i)
    xc[static_cast<std::size_t>(i)] += static_cast<T>(shift * uniform_pm1(seed, streams::check_point, static_cast<std::uint64_t>(i)));
  comm.bcast(std::span<T>(xc), 0);
  double rms_c = 0.0;
  for (const T v : xc) rms_c += static_cast<double>(v) * static_cast<double>(v);
  rms_c = std::sqrt(rms_c / static_cast<double>(std::max<std::int64_t>(N, 1)));

  DerivativeCheck out;
  Evaluation<T> e = ev.evaluate(xc, Need::hessian);
  auto step_for = [&](std::int64_t i) { return 1e-3 * std::max(std::abs(static_cast<double>(xc[static_cast<std::size_t>(i)])), rms_c); };
  // Fourth-order central difference of a vector-valued function along coordinate i.
  auto fd = [&](std::int64_t i, Need need) {
    const double h = step_for(i);
    std::vector<T> x(xc);
    auto at = [&](double dx) {
      x[static_cast<std::size_t>(i)] = static_cast<T>(static_cast<double>(xc[static_cast<std::size_t>(i)]) + dx);
      Evaluation<T> r = ev.evaluate(x, need);
      std::vector<double> v;
      if (need == Need::loss) v.push_back(r.loss);
      else v.assign(r.grad.begin(), r.grad.end());
      return v;
    };
    const auto p1 = at(h), m1 = at(-h), p2 = at(2 * h), m2 = at(-2 * h);
    std::vector<double> d(p1.size());
    for (std::size_t k = 0; k < d.size(); ++k) d[k] = (8.0 * (p1[k] - m1[k]) - (p2[k] - m2[k])) / (12.0 * h);
    return d;
  };

  double gmax = 0.0;
  for (const T g : e.grad) gmax = std::max(gmax, std::abs(static_cast<double>(g)));
  const auto coords = sample_indices(N, coordinates, seed, streams::grad_check);
  double gerr = 0.0;
  for (const std::int64_t i : coords)
    gerr = std::max(gerr, std::abs(fd(i, Need::loss)[0] - static_cast<double>(e.grad[static_cast<std::size_t>(i)])));
  out.grad_check_error = gmax > 0.0 ? gerr / gmax : (gerr == 0.0 ? 0.0 : INFINITY);
  out.coordinates = static_cast<std::int64_t>(coords.size());

  double hmax = 0.0, asym = 0.0;
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      const double h = static_cast<double>(e.hessian[static_cast<std::size_t>(i * N + j)]);
      hmax = std::max(hmax, std::abs(h));
      asym = std::max(asym, std::abs(h - static_cast<double>(e.hessian[static_cast<std::size_t>(j * N + i)])));
    }
  out.hessian_symmetry_error = hmax > 0.0 ? asym / hmax : 0.0;
  const auto cols = sample_indices(N, columns, seed, streams::grad_check + 100);
  double herr = 0.0;
  for (const std::int64_t c : cols) {
    const auto col = fd(c, Need::gradient);
    for (std::int64_t k = 0; k < N; ++k)
      herr = std::max(herr, std::abs(col[static_cast<std::size_t>(k)] - static_cast<double>(e.hessian[static_cast<std::size_t>(k * N + c)])));
  }
  out.hessian_check_error = hmax > 0.0 ? herr / hmax : (herr == 0.0 ? 0.0 : INFINITY);
  out.columns = static_cast<std::int64_t>(cols.size());
  // The errors are computed from allreduced values, identical up to rounding on every rank: take
  // rank 0's so the verdict is identical.
  double v[3] = {out.grad_check_error, out.hessian_symmetry_error, out.hessian_check_error};
  comm.bcast(std::span<double>(v, 3), 0);
  out.grad_check_error = v[0];
  out.hessian_symmetry_error = v[1];
  out.hessian_check_error = v[2];
  return out;
}

template DerivativeCheck check_derivatives<float>(const dist::Comm&, Evaluator<float>&, std::span<const float>, std::uint64_t,
                                                  std::int64_t, std::int64_t);
template DerivativeCheck check_derivatives<double>(const dist::Comm&, Evaluator<double>&, std::span<const double>,
                                                   std::uint64_t, std::int64_t, std::int64_t);

}  // namespace attnbench::regress
