#include "attention/approx/lsh.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "linalg/blas.hpp"
#include "linalg/vector_math.hpp"

namespace attnbench::approx {

using linalg::Trans;

namespace {

constexpr int tag_q = 7101, tag_k = 7102, tag_v = 7103, tag_o = 7104, tag_lse = 7105;

// gemm that accepts empty operands (k = 0 gives C = beta C).
template <class T>
void gemm0(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* A, std::int64_t lda,
           const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  linalg::gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Stable counting sort of 0..n-1 by key (keys < nkeys): ties keep ascending index order.
std::vector<std::int64_t> counting_sort(const std::vector<int>& keys, std::int64_t nkeys) {
  std::vector<std::int64_t> start(static_cast<std::size_t>(nkeys + 1), 0);
  for (int k : keys) ++start[static_cast<std::size_t>(k) + 1];
  for (std::int64_t b = 0; b < nkeys; ++b) start[static_cast<std::size_t>(b + 1)] += start[static_cast<std::size_t>(b)];
  std::vector<std::int64_t> order(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    order[static_cast<std::size_t>(start[static_cast<std::size_t>(keys[i])]++)] = static_cast<std::int64_t>(i);
  return order;
}

// Every rank gets the sort keys gray_inverse(bucket) of all rows, in global row order.
// Data movement: one MPI_Allgatherv of n ints.
std::vector<int> all_sort_keys(const dist::Comm& comm, const dist::BlockRowLayout& layout,
                               std::span<const std::uint32_t> local) {
  std::vector<int> mine(local.size());
  for (std::size_t i = 0; i < local.size(); ++i) mine[i] = static_cast<int>(gray_inverse(local[i]));
  std::vector<int> all(static_cast<std::size_t>(layout.global_rows()));
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) counts[static_cast<std::size_t>(r)] = static_cast<int>(layout.local_rows(r));
  comm.allgatherv<int>(std::span<const int>(mine), std::span<int>(all), counts);
  return all;
}

}  // namespace

double standard_normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  // u1 in (0, 1] so the log is finite; u2 in [0, 1).
  const double u1 = (static_cast<double>(random_bits(seed, stream, 2 * index) >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(random_bits(seed, stream, 2 * index + 1) >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

Matrix<double> lsh_hyperplanes(std::uint64_t seed, int planes, std::int64_t d) {
  Matrix<double> W(planes, d);
  for (std::int64_t k = 0; k < planes; ++k)
    for (std::int64_t j = 0; j < d; ++j)
      W(k, j) = standard_normal(seed, streams::lsh_planes, static_cast<std::uint64_t>(k * d + j));
  return W;
}

template <class T>
std::vector<std::uint32_t> lsh_buckets(const Matrix<T>& X, const Matrix<double>& planes) {
  std::vector<std::uint32_t> b(static_cast<std::size_t>(X.rows()), 0);
  const std::int64_t d = X.cols(), r = planes.rows();
  // W^T (d x r) so the inner loop runs over the r planes: each plane's dot product is still summed
  // in the fixed order j = 0..d-1 (bitwise reproducible), while the r sums vectorize.
  Matrix<double> Wt(d, r);
  for (std::int64_t k = 0; k < r; ++k)
    for (std::int64_t j = 0; j < d; ++j) Wt(j, k) = planes(k, j);
  std::vector<double> dot(static_cast<std::size_t>(r));
  for (std::int64_t i = 0; i < X.rows(); ++i) {
    std::fill(dot.begin(), dot.end(), 0.0);
    const T* x = X.row(i);
    for (std::int64_t j = 0; j < d; ++j) {
      const double xj = static_cast<double>(x[j]);
      const double* w = Wt.row(j);
      for (std::int64_t k = 0; k < r; ++k) dot[static_cast<std::size_t>(k)] += xj * w[k];
    }
    std::uint32_t code = 0;
    for (std::int64_t k = 0; k < r; ++k)
      if (dot[static_cast<std::size_t>(k)] > 0.0) code |= std::uint32_t{1} << k;
    b[static_cast<std::size_t>(i)] = code;
  }
  return b;
}

void validate_lsh_options(const char* algo, int planes, std::int64_t bucket_size, std::int64_t samples,
                          std::int64_t n_kv) {
  const std::string a(algo);
  if (planes < 1 || planes > 20)
    throw usage_error(a + ": --lsh-planes must be in 1..20, got " + std::to_string(planes));
  if (bucket_size < 1 || bucket_size > n_kv)
    throw usage_error(a + ": --bucket-size must be in 1..n (n = " + std::to_string(n_kv) + "), got " +
                      std::to_string(bucket_size));
  if (samples < 0) throw usage_error(a + ": --samples must be >= 0, got " + std::to_string(samples));
}

BlockPlan plan_blocks(const dist::Comm& comm, const dist::BlockRowLayout& layout_q,
                      const dist::BlockRowLayout& layout_kv, std::span<const std::uint32_t> q_buckets_local,
                      std::span<const std::uint32_t> k_buckets_local, int planes, std::int64_t bucket_size) {
  const int p = comm.size(), me = comm.rank();
  BlockPlan plan;
  plan.n_q = layout_q.global_rows();
  plan.n_k = layout_kv.global_rows();
  plan.bucket_size = bucket_size;
  plan.blocks = (plan.n_k + bucket_size - 1) / bucket_size;
  const dist::BlockRowLayout block_layout(plan.blocks, p);
  plan.block_begin = block_layout.row_offset(me);
  plan.block_end = plan.block_begin + block_layout.local_rows(me);
  const std::int64_t my_blocks = plan.block_end - plan.block_begin;
  const std::int64_t nkeys = std::int64_t{1} << planes;

  // The global order: sort keys of every row on every rank (two Allgatherv of ints), then the same
  // stable counting sort everywhere.
  const std::vector<std::int64_t> q_order = counting_sort(all_sort_keys(comm, layout_q, q_buckets_local), nkeys);
  const std::vector<std::int64_t> k_order = counting_sort(all_sort_keys(comm, layout_kv, k_buckets_local), nkeys);

  const auto P = static_cast<std::size_t>(p);
  plan.q_send.assign(P, {});
  plan.q_recv.assign(P, {});
  plan.k_send.assign(P, {});
  plan.k_recv.assign(P, {});
  plan.q_ptr.assign(static_cast<std::size_t>(my_blocks + 1), 0);
  plan.k_ptr.assign(static_cast<std::size_t>(my_blocks + 1), 0);
  plan.key_block.assign(static_cast<std::size_t>(plan.n_k), 0);

  // Walk the global sorted order once; both the sender's and the receiver's lists come out in
  // sorted order, so the k-th row sent from o to s is the k-th row s expects from o.
  std::int64_t pos = 0;
  for (std::int64_t t = 0; t < plan.n_k; ++t) {
    const std::int64_t g = k_order[static_cast<std::size_t>(t)];
    const std::int64_t b = t / bucket_size;
    plan.key_block[static_cast<std::size_t>(g)] = static_cast<std::int32_t>(b);
    const int s = block_layout.owner_of(b), o = layout_kv.owner_of(g);
    if (o == me) plan.k_send[static_cast<std::size_t>(s)].push_back(layout_kv.local_index(g));
    if (s == me) {
      plan.k_recv[static_cast<std::size_t>(o)].push_back(pos++);
      ++plan.k_ptr[static_cast<std::size_t>(b - plan.block_begin + 1)];
    }
  }
  pos = 0;
  for (std::int64_t t = 0; t < plan.n_q; ++t) {
    const std::int64_t g = q_order[static_cast<std::size_t>(t)];
    const std::int64_t b = (t * plan.n_k / plan.n_q) / bucket_size;
    const int s = block_layout.owner_of(b), o = layout_q.owner_of(g);
    if (o == me) plan.q_send[static_cast<std::size_t>(s)].push_back(layout_q.local_index(g));
    if (s == me) {
      plan.q_recv[static_cast<std::size_t>(o)].push_back(pos++);
      ++plan.q_ptr[static_cast<std::size_t>(b - plan.block_begin + 1)];
    }
  }
  for (std::size_t b = 1; b < plan.q_ptr.size(); ++b) {
    plan.q_ptr[b] += plan.q_ptr[b - 1];
    plan.k_ptr[b] += plan.k_ptr[b - 1];
  }
  return plan;
}

template <class T>
void exchange_rows(const dist::Comm& comm, const T* src, std::int64_t cols, const IndexLists& send_idx, T* dst,
                   const IndexLists& recv_idx, int tag) {
  if (cols == 0) return;
  const int p = comm.size(), me = comm.rank();
  const auto C = static_cast<std::size_t>(cols);
  std::vector<std::vector<T>> send_buf(static_cast<std::size_t>(p)), recv_buf(static_cast<std::size_t>(p));
  std::vector<dist::Request> requests;
  for (int t = 0; t < p; ++t) {
    const auto& idx = recv_idx[static_cast<std::size_t>(t)];
    if (t == me || idx.empty()) continue;
    auto& buf = recv_buf[static_cast<std::size_t>(t)];
    buf.resize(idx.size() * C);
    requests.push_back(comm.irecv<T>(std::span<T>(buf), t, tag));
  }
  for (int s = 0; s < p; ++s) {
    const auto& idx = send_idx[static_cast<std::size_t>(s)];
    if (s == me || idx.empty()) continue;
    auto& buf = send_buf[static_cast<std::size_t>(s)];
    buf.resize(idx.size() * C);
    for (std::size_t k = 0; k < idx.size(); ++k)
      std::copy_n(src + idx[k] * cols, cols, buf.data() + k * C);
    requests.push_back(comm.isend<T>(std::span<const T>(buf), s, tag));
  }
  {
    const auto& from = send_idx[static_cast<std::size_t>(me)];
    const auto& to = recv_idx[static_cast<std::size_t>(me)];
    for (std::size_t k = 0; k < from.size(); ++k) std::copy_n(src + from[k] * cols, cols, dst + to[k] * cols);
  }
  for (auto& r : requests) r.wait();
  for (int t = 0; t < p; ++t) {
    const auto& idx = recv_idx[static_cast<std::size_t>(t)];
    if (t == me || idx.empty()) continue;
    const auto& buf = recv_buf[static_cast<std::size_t>(t)];
    for (std::size_t k = 0; k < idx.size(); ++k) std::copy_n(buf.data() + k * C, cols, dst + idx[k] * cols);
  }
}

template <class T>
SortedBlocks<T> sort_into_blocks(const dist::Comm& comm, const AttentionProblem<T>& problem, int planes,
                                 std::int64_t bucket_size, std::uint64_t seed) {
  const Matrix<double> W = lsh_hyperplanes(seed, planes, problem.shape.d);
  const auto qb = lsh_buckets(problem.Q_local, W);
  const auto kb = lsh_buckets(problem.K_local, W);
  SortedBlocks<T> out;
  // Single head in contiguous blocks (lsh_attention checks it): the layouts are block rows.
  out.plan = plan_blocks(comm, dist::BlockRowLayout(problem.n_q(), problem.layout_q.ranks()),
                         dist::BlockRowLayout(problem.n_kv(), problem.layout_kv.ranks()), qb, kb, planes, bucket_size);
  const auto& plan = out.plan;
  out.Q = Matrix<T>(plan.q_ptr.back(), problem.shape.d);
  out.K = Matrix<T>(plan.k_ptr.back(), problem.shape.d);
  out.V = Matrix<T>(plan.k_ptr.back(), problem.shape.dv);
  // Q[my blocks] := exchange(Q[rows_r]); K, V likewise. Point-to-point, no handshake.
  exchange_rows<T>(comm, problem.Q_local.data(), problem.shape.d, plan.q_send, out.Q.data(), plan.q_recv, tag_q);
  exchange_rows<T>(comm, problem.K_local.data(), problem.shape.d, plan.k_send, out.K.data(), plan.k_recv, tag_k);
  exchange_rows<T>(comm, problem.V_local.data(), problem.shape.dv, plan.k_send, out.V.data(), plan.k_recv, tag_v);
  return out;
}

template <class T>
KeySample<T> gather_key_sample(const dist::Comm& comm, const AttentionProblem<T>& problem, const BlockPlan& plan,
                               std::vector<std::int64_t> rows, std::vector<double> weight) {
  KeySample<T> s;
  s.rows = std::move(rows);
  s.weight = std::move(weight);
  const auto m = static_cast<std::int64_t>(s.rows.size());
  s.K = Matrix<T>(m, problem.shape.d);
  s.V = Matrix<T>(m, problem.shape.dv);
  s.block.resize(s.rows.size());
  for (std::size_t u = 0; u < s.rows.size(); ++u) s.block[u] = plan.key_block[static_cast<std::size_t>(s.rows[u])];
  if (m == 0) return s;
  const auto& lay = problem.layout_kv;
  const int p = comm.size(), me = comm.rank();
  std::vector<int> owned(static_cast<std::size_t>(p), 0);
  for (std::int64_t g : s.rows) ++owned[static_cast<std::size_t>(lay.owner_of(g))];
  Matrix<T> myK(owned[static_cast<std::size_t>(me)], problem.shape.d), myV(owned[static_cast<std::size_t>(me)], problem.shape.dv);
  std::int64_t k = 0;
  for (std::int64_t g : s.rows)
    if (lay.owner_of(g) == me) {
      std::copy_n(problem.K_local.row(lay.local_index(g)), problem.shape.d, myK.row(k));
      std::copy_n(problem.V_local.row(lay.local_index(g)), problem.shape.dv, myV.row(k));
      ++k;
    }
  // K[S] := Allgatherv(K[S owned by r]); V[S] likewise: |S| (d + dv) elements arrive at every rank.
  std::vector<int> counts_k(owned.size()), counts_v(owned.size());
  for (std::size_t r = 0; r < owned.size(); ++r) {
    counts_k[r] = static_cast<int>(owned[r] * problem.shape.d);
    counts_v[r] = static_cast<int>(owned[r] * problem.shape.dv);
  }
  comm.allgatherv<T>(myK.span(), s.K.span(), counts_k);
  comm.allgatherv<T>(myV.span(), s.V.span(), counts_v);
  return s;
}

template <class T>
void lse_merge(Matrix<T>& O1, std::vector<double>& lse1, const Matrix<T>& O2, const std::vector<double>& lse2) {
  const double ninf = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < O1.rows(); ++i) {
    const auto I = static_cast<std::size_t>(i);
    const double a = lse1[I], b = lse2[I];
    if (b == ninf) continue;
    if (a == ninf) {
      std::copy_n(O2.row(i), O2.cols(), O1.row(i));
      lse1[I] = b;
      continue;
    }
    const double m = std::max(a, b);
    const double lse = m + std::log(std::exp(a - m) + std::exp(b - m));
    const double wa = std::exp(a - lse), wb = std::exp(b - lse);
    T* o = O1.row(i);
    const T* o2 = O2.row(i);
    for (std::int64_t c = 0; c < O1.cols(); ++c)
      o[c] = static_cast<T>(wa * static_cast<double>(o[c]) + wb * static_cast<double>(o2[c]));
    lse1[I] = lse;
  }
}

template <class T>
void blocked_estimate(const SortedBlocks<T>& sorted, const KeySample<T>& sample, double scale, int threads,
                      Matrix<T>& O_sorted, std::vector<double>& lse_sorted) {
  const auto& plan = sorted.plan;
  const std::int64_t d = sorted.Q.cols(), dv = sorted.V.cols();
  const std::int64_t nb = plan.block_end - plan.block_begin;
  const auto U = static_cast<std::int64_t>(sample.rows.size());
  const double ninf = -std::numeric_limits<double>::infinity();
  O_sorted = Matrix<T>(sorted.Q.rows(), dv);
  lse_sorted.assign(static_cast<std::size_t>(sorted.Q.rows()), ninf);
  std::int64_t max_q = 0, max_k = 0;
  for (std::int64_t lb = 0; lb < nb; ++lb) {
    const auto L = static_cast<std::size_t>(lb);
    max_q = std::max(max_q, plan.q_ptr[L + 1] - plan.q_ptr[L]);
    max_k = std::max(max_k, plan.k_ptr[L + 1] - plan.k_ptr[L]);
  }
  std::vector<double> log_w(static_cast<std::size_t>(U));
  for (std::size_t u = 0; u < log_w.size(); ++u)
    log_w[u] = sample.weight[u] > 0.0 ? std::log(sample.weight[u]) : ninf;
  const T s = static_cast<T>(scale);
  const int nthreads = std::max(threads, 1);

#pragma omp parallel num_threads(nthreads)
  {
    Matrix<T> Sh(max_q, max_k), Sr(max_q, U), Or(max_q, dv);
    std::vector<double> lse_r(static_cast<std::size_t>(max_q));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t lb = 0; lb < nb; ++lb) {
      const auto L = static_cast<std::size_t>(lb);
      const std::int64_t b = plan.block_begin + lb;
      const std::int64_t q0 = plan.q_ptr[L], mq = plan.q_ptr[L + 1] - q0;
      const std::int64_t k0 = plan.k_ptr[L], mk = plan.k_ptr[L + 1] - k0;
      if (mq == 0) continue;
      // Heavy part, exact on the block: S = s Q_b K_b^T; P = exp(S - rowmax); O_h = P V_b / rowsum.
      gemm0<T>(Trans::no, Trans::yes, mq, mk, d, s, sorted.Q.row(q0), d, sorted.K.row(k0), d, T(0), Sh.data(), mk);
      for (std::int64_t i = 0; i < mq; ++i) {
        T* row = Sh.data() + i * mk;
        T mx = row[0];
        for (std::int64_t j = 1; j < mk; ++j) mx = std::max(mx, row[j]);
        const T sum = linalg::exp_shift_sum(row, mk, mx);  // row := exp(row - mx) (SLEEF)
        lse_sorted[static_cast<std::size_t>(q0 + i)] = static_cast<double>(mx) + std::log(static_cast<double>(sum));
        // Fold 1/sum into P so that the GEMM yields O_h directly.
        const T inv = T(1) / sum;
        for (std::int64_t j = 0; j < mk; ++j) row[j] *= inv;
      }
      gemm0<T>(Trans::no, Trans::no, mq, dv, mk, T(1), Sh.data(), mk, sorted.V.row(k0), dv, T(0), O_sorted.row(q0), dv);
      if (U == 0) continue;
      // Residual: sampled keys outside block b, logit offset by log(weight):
      //   lse_r = log sum_{u: block(u) != b} w_u exp(s q.k_u);  O_r = that softmax applied to V[S].
      gemm0<T>(Trans::no, Trans::yes, mq, U, d, s, sorted.Q.row(q0), d, sample.K.data(), d, T(0), Sr.data(), U);
      bool any = false;
      for (std::int64_t i = 0; i < mq; ++i) {
        T* row = Sr.data() + i * U;
        T mx = -std::numeric_limits<T>::infinity();
        for (std::int64_t u = 0; u < U; ++u) {
          const auto uu = static_cast<std::size_t>(u);
          // Masked keys (in this block, already counted exactly) get logit -inf, i.e. weight 0.
          row[u] = (sample.block[uu] == b) ? -std::numeric_limits<T>::infinity() : row[u] + static_cast<T>(log_w[uu]);
          mx = std::max(mx, row[u]);
        }
        if (mx == -std::numeric_limits<T>::infinity()) {
          std::fill_n(row, U, T(0));
          lse_r[static_cast<std::size_t>(i)] = ninf;
          continue;
        }
        any = true;
        const T sum = linalg::exp_shift_sum(row, U, mx);  // exp(-inf - mx) = 0
        lse_r[static_cast<std::size_t>(i)] = static_cast<double>(mx) + std::log(static_cast<double>(sum));
        const T inv = T(1) / sum;
        for (std::int64_t u = 0; u < U; ++u) row[u] *= inv;
      }
      if (!any) continue;
      gemm0<T>(Trans::no, Trans::no, mq, dv, U, T(1), Sr.data(), U, sample.V.data(), dv, T(0), Or.data(), dv);
      // Merge heavy and residual rows of this block in place (log-sum-exp, exact identity).
      const double* lr = lse_r.data();
      for (std::int64_t i = 0; i < mq; ++i) {
        const double a = lse_sorted[static_cast<std::size_t>(q0 + i)], c = lr[i];
        if (c == ninf) continue;
        const double m = std::max(a, c);
        const double lse = m + std::log(std::exp(a - m) + std::exp(c - m));
        const double wa = std::exp(a - lse), wc = std::exp(c - lse);
        T* o = O_sorted.row(q0 + i);
        const T* orr = Or.row(i);
        for (std::int64_t col = 0; col < dv; ++col)
          o[col] = static_cast<T>(wa * static_cast<double>(o[col]) + wc * static_cast<double>(orr[col]));
        lse_sorted[static_cast<std::size_t>(q0 + i)] = lse;
      }
    }
  }
}

template <class T>
Matrix<T> sorted_lsh_attention(const dist::Comm& comm, const AttentionProblem<T>& problem, const SortedBlocks<T>& sorted,
                               const KeySample<T>& sample, double scale, int threads, std::vector<double>* lse) {
  Matrix<T> O_sorted;
  std::vector<double> lse_sorted;
  blocked_estimate(sorted, sample, scale, threads, O_sorted, lse_sorted);
  // O[rows_r] := exchange(O[my blocks]): the reverse of the query exchange.
  const auto& plan = sorted.plan;
  Matrix<T> O(problem.layout_q.local_rows(comm.rank()), problem.shape.dv);
  exchange_rows<T>(comm, O_sorted.data(), problem.shape.dv, plan.q_recv, O.data(), plan.q_send, tag_o);
  if (lse) {
    lse->assign(static_cast<std::size_t>(O.rows()), 0.0);
    exchange_rows<double>(comm, lse_sorted.data(), 1, plan.q_recv, lse->data(), plan.q_send, tag_lse);
  }
  return O;
}

template <class T>
Matrix<T> lsh_attention(LshMethod method, const dist::Comm& comm, const AttentionProblem<T>& problem, double scale,
                        const LshOptions& options, std::vector<double>* lse) {
  const bool kde = method == LshMethod::kde;
  attention::require_single_head(problem, kde ? "kde" : "hyper");
  validate_lsh_options(kde ? "kde" : "hyper", options.lsh_planes, options.bucket_size, options.samples, problem.n_kv());
  const auto sorted = sort_into_blocks(comm, problem, options.lsh_planes, options.bucket_size, options.seed);
  ResidualDraw residual = kde ? kde_draw(comm, problem, options) : uniform_draw(problem.n_kv(), options);
  const auto sample = gather_key_sample(comm, problem, sorted.plan, std::move(residual.rows), std::move(residual.weight));
  return sorted_lsh_attention(comm, problem, sorted, sample, scale, options.threads, lse);
}

#define ATTNBENCH_INSTANTIATE(T)                                                                                  \
  template std::vector<std::uint32_t> lsh_buckets<T>(const Matrix<T>&, const Matrix<double>&);                    \
  template void exchange_rows<T>(const dist::Comm&, const T*, std::int64_t, const IndexLists&, T*,                \
                                 const IndexLists&, int);                                                         \
  template SortedBlocks<T> sort_into_blocks<T>(const dist::Comm&, const AttentionProblem<T>&, int, std::int64_t,  \
                                               std::uint64_t);                                                    \
  template KeySample<T> gather_key_sample<T>(const dist::Comm&, const AttentionProblem<T>&, const BlockPlan&,     \
                                             std::vector<std::int64_t>, std::vector<double>);                     \
  template void lse_merge<T>(Matrix<T>&, std::vector<double>&, const Matrix<T>&, const std::vector<double>&);     \
  template void blocked_estimate<T>(const SortedBlocks<T>&, const KeySample<T>&, double, int, Matrix<T>&,         \
                                    std::vector<double>&);                                                        \
  template Matrix<T> sorted_lsh_attention<T>(const dist::Comm&, const AttentionProblem<T>&, const SortedBlocks<T>&, \
                                             const KeySample<T>&, double, int, std::vector<double>*);     \
  template Matrix<T> lsh_attention<T>(LshMethod, const dist::Comm&, const AttentionProblem<T>&, double,            \
                                      const LshOptions&, std::vector<double>*);
ATTNBENCH_INSTANTIATE(float)
ATTNBENCH_INSTANTIATE(double)
#undef ATTNBENCH_INSTANTIATE

}  // namespace attnbench::approx
