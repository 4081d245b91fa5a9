#include "attention/exact/validation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <type_traits>

#include "attention/exact/reference.hpp"
#include "core/random.hpp"

namespace attnbench::attention {

std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed) {
  std::vector<std::int64_t> rows;
  if (count >= n) {
    for (std::int64_t i = 0; i < n; ++i) rows.push_back(i);
    return rows;
  }
  // Floyd's algorithm: count distinct values with count draws.
  std::set<std::int64_t> chosen;
  for (std::int64_t j = n - count, t = 0; j < n; ++j, ++t) {
    const auto u = random_bits(seed, Stream::validation_rows, static_cast<std::uint64_t>(t));
    const std::int64_t pick = static_cast<std::int64_t>(u % static_cast<std::uint64_t>(j + 1));
    if (!chosen.insert(pick).second) chosen.insert(j);
  }
  rows.assign(chosen.begin(), chosen.end());
  return rows;
}

double float_tolerance(double naive_rel_error, std::string* rule) {
  const double floor = 4.0 * std::numeric_limits<float>::epsilon();
  auto set = [&](const char* r) {
    if (rule) *rule = r;
  };
  if (!std::isfinite(naive_rel_error)) {
    set("sqrt(fp32 epsilon) fallback: the naive fp32 reference is not finite");
    return kFloatFallbackRelTolerance;
  }
  if (2.0 * naive_rel_error > floor) {
    set("2x naive fp32");
    return 2.0 * naive_rel_error;
  }
  set("4 fp32 ulps");
  return floor;
}

void decide(ValidationResult& res, bool reference_finite) {
  auto fmt = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", v);
    return std::string(b);
  };
  res.reason.clear();
  if (res.nonfinite_outputs > 0)
    res.reason = std::to_string(res.nonfinite_outputs) + " output entries are not finite (NaN or Inf)";
  else if (!reference_finite)
    res.reason = "the double-precision reference is not finite on the checked rows (values beyond double's range)";
  else if (!std::isfinite(res.rel_error))
    res.reason = "the error is not finite";
  else if (!std::isfinite(res.tolerance))
    res.reason = "the tolerance is not finite";
  else if (!(res.rel_error <= res.tolerance))
    res.reason = "relative error " + fmt(res.rel_error) + " exceeds the tolerance " + fmt(res.tolerance);
  res.valid = res.reason.empty();
}

template <class T>
ValidationResult validate_sampled(const dist::Comm& comm, const AttentionProblem<T>& p, const Matrix<T>& O_local,
                                      bool causal, double scale, std::int64_t rows_to_check, std::uint64_t seed) {
  const HeadShape& s = p.shape;
  // Row-major token rows: Q (B n_r) x (H d), K (B n_kr) x (Hkv d), V (B n_kr) x (Hkv dv).
  const std::int64_t q_width = s.heads * s.d, k_width = s.kv_heads * s.d, v_width = s.kv_heads * s.dv;
  const std::int64_t n = p.layout_q.global_rows(), nk_me = p.layout_kv.local_rows(comm.rank()),
                     nq_me = p.layout_q.local_rows(comm.rank());
  const std::int64_t d = s.d, dv = s.dv, g = s.group();
  // Sample index t -> (b, h, i): t = (b H + h) n + i.
  const auto picks = sample_rows(s.batch * s.heads * n, rows_to_check, seed);
  const auto nr = static_cast<std::int64_t>(picks.size());
  const int me = comm.rank();
  Matrix<double> q(nr, d, 0.0), o(nr, dv, 0.0);
  std::vector<std::int64_t> tok(static_cast<std::size_t>(nr)), bat(tok.size()), head(tok.size());
  for (std::int64_t t = 0; t < nr; ++t) {
    const auto pick = picks[static_cast<std::size_t>(t)];
    const auto ut = static_cast<std::size_t>(t);
    tok[ut] = pick % n;
    head[ut] = (pick / n) % s.heads;
    bat[ut] = pick / n / s.heads;
    if (p.layout_q.owner_of(tok[ut]) != me) continue;
    const std::int64_t row = bat[ut] * nq_me + p.layout_q.local_index(tok[ut]);
    for (std::int64_t c = 0; c < d; ++c) q(t, c) = static_cast<double>(p.Q_local.data()[row * q_width + head[ut] * d + c]);
    for (std::int64_t c = 0; c < dv; ++c) o(t, c) = static_cast<double>(O_local(row, head[ut] * dv + c));
  }
  comm.allreduce(q.span(), dist::Op::sum);
  comm.allreduce(o.span(), dist::Op::sum);

  const auto k_pos = p.layout_kv.positions(me);
  // Visits every visible local key of sample t with its score s <q_t, k_j> (double and float).
  auto for_visible = [&](std::int64_t t, auto&& fn) {
    const auto ut = static_cast<std::size_t>(t);
    const std::int64_t kvh = head[ut] / g;
    for (std::int64_t j = 0; j < nk_me; ++j) {
      if (causal && k_pos[static_cast<std::size_t>(j)] > tok[ut]) break;  // positions increase
      const T* k = p.K_local.data() + (bat[ut] * nk_me + j) * k_width + kvh * d;
      const double acc = reference_dot(q.row(t), k, d);
      float accf = 0.0f;
      for (std::int64_t c = 0; c < d; ++c) accf += static_cast<float>(q(t, c)) * static_cast<float>(k[c]);
      fn(p.V_local.data() + (bat[ut] * nk_me + j) * v_width + kvh * dv, scale * acc, static_cast<float>(scale) * accf);
    }
  };
  std::vector<double> mx(static_cast<std::size_t>(nr), -std::numeric_limits<double>::infinity());
  std::vector<float> mxf(mx.size(), -std::numeric_limits<float>::infinity());
  for (std::int64_t t = 0; t < nr; ++t)
    for_visible(t, [&](const T*, double sc, float scf) {
      mx[static_cast<std::size_t>(t)] = std::max(mx[static_cast<std::size_t>(t)], sc);
      mxf[static_cast<std::size_t>(t)] = std::max(mxf[static_cast<std::size_t>(t)], scf);
    });
  comm.allreduce(std::span<double>(mx), dist::Op::max);
  comm.allreduce(std::span<float>(mxf), dist::Op::max);
  std::vector<double> sums(mx.size(), 0.0);
  std::vector<float> sumsf(mx.size(), 0.0f);
  Matrix<double> wsum(nr, dv, 0.0);
  Matrix<float> wsumf(nr, dv, 0.0f);
  for (std::int64_t t = 0; t < nr; ++t)
    for_visible(t, [&](const T* v, double sc, float scf) {
      const auto ut = static_cast<std::size_t>(t);
      const double w = std::exp(sc - mx[ut]);
      const float wf = std::exp(scf - mxf[ut]);
      sums[ut] += w;
      sumsf[ut] += wf;
      for (std::int64_t c = 0; c < dv; ++c) {
        wsum(t, c) += w * static_cast<double>(v[c]);
        wsumf(t, c) += wf * static_cast<float>(v[c]);
      }
    });
  comm.allreduce(std::span<double>(sums), dist::Op::sum);
  comm.allreduce(wsum.span(), dist::Op::sum);
  comm.allreduce(std::span<float>(sumsf), dist::Op::sum);
  comm.allreduce(wsumf.span(), dist::Op::sum);

  ValidationResult res;
  res.rows_checked = nr;
  // Every local output entry, not only the sampled rows: one non-finite value anywhere is INVALID
  // (one Allreduce of a count).
  {
    long long bad = 0;
    for (auto v : O_local.span())
      if (!std::isfinite(static_cast<double>(v))) ++bad;
    res.nonfinite_outputs = comm.allreduce(bad, dist::Op::sum);
  }
  double ref_max = 0.0, naive_err = 0.0;
  bool ref_finite = true;
  for (std::int64_t t = 0; t < nr; ++t)
    for (std::int64_t c = 0; c < dv; ++c) {
      const double ref = wsum(t, c) / sums[static_cast<std::size_t>(t)];
      ref_finite = ref_finite && std::isfinite(ref);
      ref_max = std::max(ref_max, std::abs(ref));
      const double err = std::abs(o(t, c) - ref);
      // NaN in the output must fail validation, so compare with !(err <= max).
      if (!(err <= res.max_abs_error)) res.max_abs_error = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      // A non-finite naive value (overflowed float sums) makes the naive error infinite.
      const double nerr =
          std::abs(static_cast<double>(wsumf(t, c) / sumsf[static_cast<std::size_t>(t)]) - ref);
      if (!(nerr <= naive_err)) naive_err = std::isnan(nerr) ? std::numeric_limits<double>::infinity() : nerr;
    }
  const double denom = ref_max > 0.0 && std::isfinite(ref_max) ? ref_max : 1.0;
  res.rel_error = res.max_abs_error / denom;
  if constexpr (std::is_same_v<T, double>) {
    res.tolerance = kDoubleRelTolerance;
    res.tolerance_rule = "1e-12";
  } else {
    res.naive_rel_error = naive_err / denom;
    res.tolerance = float_tolerance(res.naive_rel_error, &res.tolerance_rule);  // never inf or NaN
  }
  decide(res, ref_finite);
  return res;
}

template ValidationResult validate_sampled<float>(const dist::Comm&, const AttentionProblem<float>&, const Matrix<float>&,
                                                      bool, double, std::int64_t, std::uint64_t);
template ValidationResult validate_sampled<double>(const dist::Comm&, const AttentionProblem<double>&,
                                                       const Matrix<double>&, bool, double, std::int64_t, std::uint64_t);

}  // namespace attnbench::attention
