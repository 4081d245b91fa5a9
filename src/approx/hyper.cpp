#include "approx/hyper.hpp"

#include <cmath>
#include <map>

#include "approx/lsh.hpp"
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

template <class T>
Matrix<T> run(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale, const HyperOptions& options,
              std::vector<double>* lse) {
  validate_lsh_options("hyper", options.lsh_planes, options.bucket_size, options.samples, problem.n_kv());
  const auto sorted = sort_into_blocks(comm, problem, options.lsh_planes, options.bucket_size, options.seed);
  std::vector<std::int64_t> rows;
  std::vector<double> weight;
  uniform_sample(problem.n_kv(), options.samples, options.seed, rows, weight);
  const auto sample = gather_key_sample(comm, problem, sorted.plan, std::move(rows), std::move(weight));
  return sorted_lsh_attention(comm, problem, sorted, sample, scale, options.threads, lse);
}

}  // namespace

template <class T>
Matrix<T> hyper_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                          const HyperOptions& options) {
  return run(comm, problem, scale, options, nullptr);
}

template <class T>
Matrix<T> hyper_attention_lse(const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                              const HyperOptions& options, std::vector<double>& lse) {
  return run(comm, problem, scale, options, &lse);
}

template Matrix<float> hyper_attention<float>(const dist::Comm&, const AttentionProblem<float>&, double,
                                              const HyperOptions&);
template Matrix<double> hyper_attention<double>(const dist::Comm&, const AttentionProblem<double>&, double,
                                                const HyperOptions&);
template Matrix<float> hyper_attention_lse<float>(const dist::Comm&, const AttentionProblem<float>&, double,
                                                  const HyperOptions&, std::vector<double>&);
template Matrix<double> hyper_attention_lse<double>(const dist::Comm&, const AttentionProblem<double>&, double,
                                                    const HyperOptions&, std::vector<double>&);

}  // namespace attnbench::approx
