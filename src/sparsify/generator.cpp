#include "sparsify/generator.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "metrics/resources.hpp"
#include "sparsify/rng.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

std::int64_t heavy_column(std::int64_t i, std::int64_t n, std::int64_t d) { return i * d / n; }

std::int64_t heavy_row(std::int64_t j, std::int64_t n, std::int64_t d) {
  const std::int64_t i = (j * n + d - 1) / d;  // smallest i with i d / n >= j
  return (i < n && heavy_column(i, n, d) == j) ? i : -1;
}

void check_spec(const SyntheticSpec& s) {
  if (s.n < 1) throw usage_error("--n must be at least 1 (got " + std::to_string(s.n) + ")");
  if (s.n > (1 << 20)) throw usage_error("--n must be at most 2^20 (got " + std::to_string(s.n) + ")");
  if (s.d < s.n)
    throw usage_error("--d must be at least --n (d = " + std::to_string(s.d) + " < n = " + std::to_string(s.n) +
                      "): sparsification keeps columns of a wide X and needs rank(X) = n");
  if (s.d > (std::int64_t{1} << 31) - 1) throw usage_error("--d must be below 2^31 (got " + std::to_string(s.d) + ")");
  if (!(s.r > 0.0 && s.r < 1.0)) throw usage_error("--r must be in (0, 1) (got " + std::to_string(s.r) + ")");
  if (!(s.density > 0.0 && s.density <= 1.0))
    throw usage_error("--density must be in (0, 1] (got " + std::to_string(s.density) + ")");
  if (!(s.coherence >= 0.0 && s.coherence < 1.0))
    throw usage_error("--coherence must be in [0, 1) (got " + std::to_string(s.coherence) + ")");
}

namespace {
// The integer light entry k_ij (0 when masked out or in a heavy column).
std::int64_t light_entry(const SyntheticSpec& s, std::int64_t i, std::int64_t j, bool heavy_col) {
  if (heavy_col) return 0;
  const auto idx = static_cast<std::uint64_t>(i * s.d + j);
  if (s.density < 1.0 && rng::uniform(s.seed, rng::stream::mask, idx) >= s.density) return 0;
  std::int64_t k = static_cast<std::int64_t>(random_bits(s.seed, rng::stream::data, idx) >> 43) - (1 << 20);
  return k == 0 ? 1 : k;
}
}  // namespace

std::int64_t generated_bytes(const SyntheticSpec& s, std::int64_t cols, std::size_t elem_size) {
  const long double values = static_cast<long double>(s.n) * static_cast<long double>(cols);
  const long double entries = s.density < 1.0 ? std::ceil(values * static_cast<long double>(s.density)) +
                                                    static_cast<long double>(cols)  // + heavy entries
                                              : values;
  const long double per_entry = static_cast<long double>(elem_size) + (s.density < 1.0 ? 4.0L : 0.0L);
  const long double b = entries * per_entry + 8.0L * (static_cast<long double>(cols) + 1.0L) +
                        8.0L * static_cast<long double>(s.n);  // column pointers, the row sums S
  const auto max = static_cast<long double>(std::numeric_limits<std::int64_t>::max());
  return b >= max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(b);
}

template <class T>
ColumnBlock<T> generate(const dist::Comm& comm, const SyntheticSpec& s, std::int64_t col0, std::int64_t cols,
                        std::int64_t extra_bytes) {
  const std::int64_t n = s.n;
  {
    const std::int64_t mine = generated_bytes(s, cols, sizeof(T));
    const std::int64_t total = mine > std::numeric_limits<std::int64_t>::max() - extra_bytes
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : mine + extra_bytes;
    metrics::check_memory_fits(comm, total,
                               "synthetic X (--n " + std::to_string(n) + " --d " + std::to_string(s.d) + ", density " +
                                   format_g(s.density) + ", " + (sizeof(T) == 4 ? "float32" : "float64") + ": " +
                                   format_bytes(static_cast<long double>(mine)) + " for this rank's " +
                                   std::to_string(cols) + " columns" +
                                   (extra_bytes > 0 ? " + " + format_bytes(static_cast<long double>(extra_bytes)) +
                                                          " of the kernel's buffers"
                                                    : std::string()) +
                                   ")",
                               ExitCode::does_not_fit);
  }
  const bool coherent = s.coherence > 0.0;
  // S_i = sum_j k_ij^2 over this rank's columns, then over all (exact integer sums: |k| <= 2^20,
  // so a row of up to 2^23 columns stays below 2^63). The local entries are counted on the way,
  // so the sparse storage is reserved once (no doubling growth beyond what was checked).
  std::vector<long long> S(static_cast<std::size_t>(n), 0);
  std::int64_t local_entries = 0;
  for (std::int64_t jl = 0; jl < cols; ++jl) {
    const std::int64_t j = col0 + jl;
    const bool hc = coherent && heavy_row(j, n, s.d) >= 0;
    local_entries += hc ? 1 : 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t k = light_entry(s, i, j, hc);
      S[static_cast<std::size_t>(i)] += k * k;
      local_entries += k != 0 ? 1 : 0;
    }
  }
  // S := sum over ranks (Allreduce, n int64; exact, hence rank-count independent)
  comm.allreduce(std::span<long long>(S), dist::Op::sum);
  std::vector<double> scale(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double Si = static_cast<double>(S[static_cast<std::size_t>(i)]);
    scale[static_cast<std::size_t>(i)] = Si > 0 ? std::sqrt((1.0 - s.coherence) * s.r / Si) : 0.0;
  }
  const double heavy_value = std::sqrt(s.coherence * s.r);

  ColumnBlock<T> X;
  X.n = n;
  X.d = s.d;
  X.col0 = col0;
  X.cols = cols;
  X.sparse = s.density < 1.0;
  if (!X.sparse) {
    X.dense.assign(static_cast<std::size_t>(n * cols), T(0));
  } else {
    X.colptr.reserve(static_cast<std::size_t>(cols + 1));
    X.colptr.assign(1, 0);
    X.rowidx.reserve(static_cast<std::size_t>(local_entries));
    X.values.reserve(static_cast<std::size_t>(local_entries));
  }
  for (std::int64_t jl = 0; jl < cols; ++jl) {
    const std::int64_t j = col0 + jl;
    const std::int64_t hr = coherent ? heavy_row(j, n, s.d) : -1;
    for (std::int64_t i = 0; i < n; ++i) {
      double v;
      if (hr >= 0) v = (i == hr) ? heavy_value : 0.0;
      else v = static_cast<double>(light_entry(s, i, j, false)) * scale[static_cast<std::size_t>(i)];
      if (!X.sparse) {
        X.dense[static_cast<std::size_t>(jl * n + i)] = static_cast<T>(v);
      } else if (v != 0.0) {
        X.rowidx.push_back(static_cast<std::int32_t>(i));
        X.values.push_back(static_cast<T>(v));
      }
    }
    if (X.sparse) X.colptr.push_back(static_cast<std::int64_t>(X.values.size()));
  }
  return X;
}

template ColumnBlock<float> generate(const dist::Comm&, const SyntheticSpec&, std::int64_t, std::int64_t,
                                     std::int64_t);
template ColumnBlock<double> generate(const dist::Comm&, const SyntheticSpec&, std::int64_t, std::int64_t,
                                      std::int64_t);

}  // namespace attnbench::sparsify
