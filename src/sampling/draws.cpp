#include "sampling/draws.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "sampling/exponentials.hpp"

namespace attnbench::sampling {

// The m sorted draws of the sampling methods, in O(m) and without a sort. With E_0, ..., E_m iid
// standard exponentials (exponentials.hpp, the given stream, index l) and P_l = E_0 + ... + E_l,
// (P_0 / P_m, ..., P_{m-1} / P_m) has exactly the joint distribution of the order statistics
// U_(1) <= ... <= U_(m) of m iid uniforms on [0, 1] (the exponential-spacings representation;
// Devroye, Non-Uniform Random Variate Generation, 1986, section V.2). The inverse CDF of p is
// nondecreasing, so it maps the sorted uniforms to m iid draws from p in sorted order: the
// multiset of drawn columns - the counts c_j, all the weights use - has exactly the multinomial
// (m, p) distribution of m iid draws, as if m independent uniforms had been drawn and sorted
// (O(m log m)) or looked up one by one (O(m log d)). P is summed sequentially in index order, the
// same on every rank and in the serial reference, so draw l is the same number on any rank count.
// Fills P with P_0 .. P_{m-1} (m doubles, capacity m + 8: the sampling's only O(m) buffer); returns P_m.
double spacing_sums(std::uint64_t seed, std::uint64_t stream, std::int64_t m, std::vector<double>& P) {
  P.reserve(static_cast<std::size_t>(m + 8));  // the merge pads P with 8 sentinels: no reallocation
  P.resize(static_cast<std::size_t>(m + 1));
  // E_0 .. E_m, vectorized, a cache-resident block at a time, summed as they come (one pass over P).
  constexpr std::int64_t block = 512;
  double E[block];
  double acc = 0.0;
  for (std::int64_t l0 = 0; l0 <= m; l0 += block) {
    const std::int64_t b = std::min(block, m + 1 - l0);
    exponentials(seed, stream, static_cast<std::uint64_t>(l0), b, E);
    for (std::int64_t k = 0; k < b; ++k) P[static_cast<std::size_t>(l0 + k)] = (acc += E[k]);
  }
  P.pop_back();
  if (!(acc > 0.0) || !std::isfinite(acc)) throw internal_error("sampling: the exponential spacings sum to " + std::to_string(acc));
  return acc;
}

void sample_by_scores(const dist::Comm& comm, std::int64_t offset, const std::vector<double>& q, std::int64_t m,
                      std::uint64_t seed, std::uint64_t stream, std::vector<std::int64_t>& cols,
                      std::vector<double>& weights) {
  const int p = comm.size(), me = comm.rank();
  double S = 0.0;
  for (double v : q) S += v;
  // Global CDF: every rank learns every rank's score sum (allgather of p doubles) and the
  // offsets in rank order, identically on every rank.
  const std::vector<double> sums = comm.allgather(S);
  double total = 0.0, off = 0.0;
  for (int r = 0; r < p; ++r) {
    if (r == me) off = total;
    total += sums[static_cast<std::size_t>(r)];
  }
  if (!(total > 0.0) || !std::isfinite(total)) throw internal_error("sampling: the scores sum to " + std::to_string(total));
  // The sorted draws t_l = (P_l / P_m) total, l < m (replicated: m exponentials on every rank).
  std::vector<double> P;
  const double Pm = spacing_sums(seed, stream, m, P);
  auto t_of = [&](std::int64_t l) { return P[static_cast<std::size_t>(l)] / Pm * total; };
  // This rank's draws are the consecutive l with t_l in [off, off + S) (t is nondecreasing in l):
  // the first is begin = #{l : t_l < off} (binary search, log m). Every rank with scores takes the
  // draws from its begin to the next such rank's begin (the last one: to m), so every draw is
  // counted exactly once, even where ranks rounded a t_l differently (allgather of p int64).
  std::int64_t begin = m;
  if (S > 0.0) {
    std::int64_t lo = 0, hi = m;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (t_of(mid) < off) lo = mid + 1;
      else hi = mid;
    }
    begin = lo;
  }
  const std::vector<std::int64_t> begins = comm.allgather<std::int64_t>(S > 0.0 ? begin : std::int64_t{-1});
  std::int64_t end = begin;
  if (S > 0.0) {
    end = m;
    for (int r = me + 1; r < p; ++r)
      if (begins[static_cast<std::size_t>(r)] >= 0) {
        end = std::max(begin, begins[static_cast<std::size_t>(r)]);
        break;
      }
  }
  // Merge the rank's sorted draws against its local CDF: draw l picks the first local column j
  // with x_l = max(t_l - off, 0) < C_j = q_0 + ... + q_j (so a zero-score column is never picked;
  // a draw past the end, by rounding, goes to the last column with a score). Column by column,
  // c_j = #{x_l < C_j} - #{x_l < C_{j-1}}: the next 8 draws are compared with C_j at once (x is
  // sorted, so the count of those below C_j is how many belong to j; 8 means look further), so
  // the merge costs about one step per column and almost nothing per draw, with no branch on
  // where a draw falls (a coin flip no predictor learns). x is computed first in one vectorized
  // pass and padded with 8 x +inf. Picks come out ascending.
  std::vector<std::int64_t> cnts;
  cols.clear();
  weights.clear();
  const auto nq = q.size();
  if (end > begin) {
    constexpr std::int64_t W = 8;
    P.resize(static_cast<std::size_t>(m + W));
    double* x = P.data();
    for (std::int64_t l = begin; l < end; ++l) x[l] = std::max(x[l] / Pm * total - off, 0.0);
    for (std::int64_t l = end; l < end + W; ++l) x[l] = std::numeric_limits<double>::infinity();
    const auto most = static_cast<std::size_t>(std::min<std::int64_t>(end - begin, static_cast<std::int64_t>(nq)));
    cols.resize(most + 1);  // + 1: the merge stores each column's candidate one past the kept runs
    cnts.resize(most + 1);
    std::size_t o = 0;
    std::int64_t l = begin;
    double C = 0.0;
    for (std::size_t j = 0; j < nq && l < end; ++j) {
      C += q[j];
      std::int64_t c = 0, k = 0;
      do {
        const double* xl = x + l;
        k = 0;
        for (std::int64_t w = 0; w < W; ++w) k += xl[w] < C;
        l += k;
        c += k;
      } while (k == W);
      cols[o] = static_cast<std::int64_t>(j);
      cnts[o] = c;
      o += static_cast<std::size_t>(c > 0);
    }
    if (l < end) {  // past the last column's C by rounding: the last column with a score
      std::size_t last_pos = nq;
      while (last_pos > 0 && !(q[last_pos - 1] > 0.0)) --last_pos;
      --last_pos;  // S > 0: some local score is positive
      if (o > 0 && cols[o - 1] == static_cast<std::int64_t>(last_pos)) {
        cnts[o - 1] += end - l;
      } else {
        cols[o] = static_cast<std::int64_t>(last_pos);
        cnts[o] = end - l;
        ++o;
      }
    }
    // Weight of a column drawn c times: sqrt(c / (m p_j)) = sqrt(c (total / m) / q_j), p_j = q_j / total
    // (duplicates merged; one division per kept column).
    cols.resize(o);
    weights.resize(o);
    const double total_over_m = total / static_cast<double>(m);
    for (std::size_t a = 0; a < o; ++a) {
      weights[a] = std::sqrt(static_cast<double>(cnts[a]) * total_over_m / q[static_cast<std::size_t>(cols[a])]);
      cols[a] += offset;
    }
  }
}

}  // namespace attnbench::sampling
