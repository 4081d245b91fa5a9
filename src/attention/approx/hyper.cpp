#include "attention/approx/kde_hyper.hpp"

#include <cmath>
#include <map>

#include "attention/approx/lsh.hpp"
#include "core/error.hpp"

namespace attnbench::approx {

namespace {

// `samples` uniform draws with replacement over the n_k keys, a pure function of (seed, draw).
// Unique rows ascending; weight = multiplicity x n / samples, so that the residual's log-sum-exp
// is lse_res + log(n / samples) as in the paper. No communication.
void uniform_sample(std::int64_t n, std::int64_t samples, std::uint64_t seed, std::vector<std::int64_t>& rows,
                    std::vector<double>& weight) {
  rows.clear();
  weight.clear();
  std::map<std::int64_t, std::int64_t> count;
  for (std::int64_t l = 0; l < samples; ++l) {
    const double u = uniform01(seed, static_cast<Stream>(streams::hyper_samples), static_cast<std::uint64_t>(l));
    const std::int64_t j = std::min<std::int64_t>(static_cast<std::int64_t>(u * static_cast<double>(n)), n - 1);
    ++count[j];
  }
  for (const auto& [j, c] : count) {
    rows.push_back(j);
    weight.push_back(static_cast<double>(c) * static_cast<double>(n) / static_cast<double>(samples));
  }
}

}  // namespace

ResidualDraw uniform_draw(std::int64_t n_kv, const LshOptions& options) {
  ResidualDraw d;
  uniform_sample(n_kv, options.samples, options.seed, d.rows, d.weight);
  return d;
}

}  // namespace attnbench::approx
