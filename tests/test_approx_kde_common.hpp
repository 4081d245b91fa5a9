#pragma once
// Helpers shared by the kde / hyper / performer MPI tests: seeded clustered ("peaked") problems
// distributed by rows, gathering O, error norms and a rank-count sweep through sub-communicators.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "attention/approx/lsh.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"
#include "core/random.hpp"
#include "dist/comm.hpp"

namespace attnbench::approx_test {

// Clustered Q and K (C centres of norm ~ center_norm, per-entry noise `noise`), so attention is
// peaked; V = 1 + N(0, 1) (non-zero mean, ALGORITHMS.md). Every entry is a pure function of
// (seed, global row, column): identical for any rank count. n_q may differ from n_k.
template <class T>
AttentionProblem<T> clustered_problem(std::int64_t n_q, std::int64_t n_k, std::int64_t d, std::int64_t dv,
                                      std::int64_t clusters, double center_norm, double noise, std::uint64_t seed,
                                      int rank, int ranks) {
  constexpr std::uint64_t base = static_cast<std::uint64_t>(Stream::user) + 900;
  auto centre = [&](std::int64_t c, std::int64_t j) {
    return center_norm / std::sqrt(static_cast<double>(d)) *
           approx::standard_normal(seed, base, static_cast<std::uint64_t>(c * d + j));
  };
  const dist::BlockRowLayout q_rows(n_q, ranks), k_rows(n_k, ranks);
  AttentionProblem<T> p = single_head_from_rows<T>(n_q, n_k, ranks, Matrix<T>(q_rows.local_rows(rank), d),
                                                   Matrix<T>(k_rows.local_rows(rank), d),
                                                   Matrix<T>(k_rows.local_rows(rank), dv));
  const std::int64_t q0 = q_rows.row_offset(rank), k0 = k_rows.row_offset(rank);
  for (std::int64_t i = 0; i < p.Q_local.rows(); ++i) {
    const auto g = static_cast<std::uint64_t>(q0 + i);
    const auto c = static_cast<std::int64_t>(random_bits(seed, base + 1, g) % static_cast<std::uint64_t>(clusters));
    for (std::int64_t j = 0; j < d; ++j)
      p.Q_local(i, j) = static_cast<T>(centre(c, j) + noise * approx::standard_normal(seed, base + 2, g * d + j));
  }
  for (std::int64_t i = 0; i < p.K_local.rows(); ++i) {
    const auto g = static_cast<std::uint64_t>(k0 + i);
    const auto c = static_cast<std::int64_t>(random_bits(seed, base + 3, g) % static_cast<std::uint64_t>(clusters));
    for (std::int64_t j = 0; j < d; ++j)
      p.K_local(i, j) = static_cast<T>(centre(c, j) + noise * approx::standard_normal(seed, base + 4, g * d + j));
    for (std::int64_t j = 0; j < dv; ++j)
      p.V_local(i, j) = static_cast<T>(1.0 + approx::standard_normal(seed, base + 5, g * dv + j));
  }
  p.source = "clustered";
  return p;
}

// The full vector on every rank: Allgatherv of each rank's entries.
inline std::vector<double> gather_vector(const dist::Comm& comm, const attention::SequenceLayout& lay,
                                         const std::vector<double>& local) {
  std::vector<double> all(static_cast<std::size_t>(lay.global_rows()));
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) counts[static_cast<std::size_t>(r)] = static_cast<int>(lay.local_rows(r));
  comm.allgatherv<double>(std::span<const double>(local), std::span<double>(all), counts);
  return all;
}

// The serial reference on the whole problem (built on one "rank" of one).
template <class T>
Matrix<double> reference_of(const AttentionProblem<T>& full, double scale) {
  return reference_attention(full.Q_local, full.K_local, full.V_local, scale);
}

template <class A, class B>
double max_abs_diff(const Matrix<A>& a, const Matrix<B>& b) {
  double e = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i)
    e = std::max(e, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
  return e;
}
template <class A>
double max_abs(const Matrix<A>& a) {
  double e = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(static_cast<double>(a.data()[i])));
  return e;
}
template <class A>
double rel_frobenius(const Matrix<A>& approx, const Matrix<double>& exact) {
  double e = 0.0, s = 0.0;
  for (std::int64_t i = 0; i < exact.size(); ++i) {
    const double diff = static_cast<double>(approx.data()[i]) - exact.data()[i];
    e += diff * diff;
    s += exact.data()[i] * exact.data()[i];
  }
  return std::sqrt(e / s);
}

// Runs `compute(sub)` on sub-communicators of every size k = 1..p (ranks < k form one, the others
// another, which also computes) and checks every result against the single-rank result to
// `tolerance` relative to max|O|. compute returns the full O (gathered on the sub-communicator).
inline void expect_rank_count_invariant(const dist::Comm& world,
                                        const std::function<Matrix<double>(const dist::Comm&)>& compute,
                                        double tolerance) {
  const dist::Comm self = world.split(world.rank(), 0);
  const Matrix<double> serial = compute(self);
  const double scale = max_abs(serial);
  for (int k = 1; k <= world.size(); ++k) {
    const dist::Comm sub = world.split(world.rank() < k ? 0 : 1, world.rank());
    const Matrix<double> O = compute(sub);
    EXPECT_LE(max_abs_diff(O, serial), tolerance * scale)
        << "sub-communicator of " << sub.size() << " ranks (k = " << k << ")";
  }
}

}  // namespace attnbench::approx_test
