// The grid layer's dense solver (grid/dense_solver.hpp) at 1-4 ranks: the replicated backend and
// the grid backend on the squarest grid (blocks 1, 3, 64), p x 1 and a 1 x 2 sub-communicator,
// sizes 1, 2, 7 and 13 (not divisible by the block; fewer rows than ranks),
// each against serial LAPACK on a local copy - Cholesky, an indefinite matrix's agreed info,
// eigenvalues and eigenvectors, a held matrix's shifted solves (the grid backend reducing the
// ranks' partial sums) - and solve_spd_rowmajor. Results must be identical on every rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/random.hpp"
#include "grid/dense_solver.hpp"
#include "linalg/lapack.hpp"
#include "grid/process_grid.hpp"
#include "test_comm.hpp"

namespace attnbench::grid {
namespace {

using testing_support::world;

constexpr std::int64_t kSizes[] = {1, 2, 7, 13};

std::size_t at(std::int64_t i, std::int64_t j, std::int64_t n) { return static_cast<std::size_t>(i * n + j); }
double pm1(std::uint64_t stream, std::uint64_t i) {
  return 2.0 * static_cast<double>(random_bits(17, stream, i) >> 11) * 0x1.0p-53 - 1.0;
}
template <class T>
double tol(std::int64_t n) {
  return 200.0 * static_cast<double>(std::max<std::int64_t>(n, 1)) * std::numeric_limits<T>::epsilon();
}

// A = G G^T / n + 0.5 I + diag(0.01 i): symmetric positive definite with distinct eigenvalues,
// entries O(1), row-major.
template <class T>
std::vector<T> spd(std::int64_t n) {
  std::vector<T> A(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double v = i == j ? 0.5 + 0.01 * static_cast<double>(i) : 0.0;
      for (std::int64_t k = 0; k < n; ++k) v += pm1(1, static_cast<std::uint64_t>(i * n + k)) * pm1(1, static_cast<std::uint64_t>(j * n + k)) / static_cast<double>(n);
      A[at(i, j, n)] = static_cast<T>(v);
    }
  return A;
}

// True when v is bitwise the same on every rank of comm (rank 0's copy broadcast and compared).
template <class T>
bool same_on_every_rank(const dist::Comm& comm, const std::vector<T>& v) {
  std::vector<T> root = v;
  comm.bcast(std::span<T>(root), 0);
  const bool same = std::equal(root.begin(), root.end(), v.begin(), v.end(),
                               [](T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; });
  return comm.allreduce(same ? 1 : 0, dist::Op::min) == 1;
}
double max_abs_diff(const auto& a, const auto& b) {
  double e = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return e;
}

// The grids tested at this rank count, with their block sizes: the squarest with blocks 1, 3 and 64
// (64: one block larger than every matrix), p x 1, and 1 x 2 on a sub-communicator of the world
// when p > 2.
std::vector<std::pair<GridShape, std::int64_t>> grids(int p) {
  std::vector<std::pair<GridShape, std::int64_t>> g;
  for (const std::int64_t nb : {1, 3, 64}) g.emplace_back(squarest_shape(p), nb);
  if (p > 1) g.emplace_back(GridShape{p, 1}, 3);
  if (p > 2) g.emplace_back(GridShape{1, 2}, 3);
  return g;
}

// Runs body(solver, comm, what) for the replicated backend on the world and for the grid backend
// on every grid of grids() (collective over the world).
template <class T, class F>
void for_each_solver(F&& body) {
  const auto replicated = make_replicated_solver<T>(world());
  EXPECT_EQ(replicated->kind(), "replicated-lapack");
  EXPECT_EQ(replicated->name(), "replicated-lapack");
  body(*replicated, world(), std::string("replicated"));
  for (const auto& [shape, nb] : grids(world().size())) {
    // Ranks [0, shape.size()) make the solver on their sub-communicator (the solver owns its grid:
    // no second BLACS grid over the same communicator); the others only take part in the split.
    const bool member = world().rank() < shape.size();
    const dist::Comm sub = world().split(member ? 0 : 1, world().rank());
    if (!member) continue;
    const auto s = make_grid_solver<T>(sub, shape, nb);
    EXPECT_EQ(s->kind(), "scalapack");
    EXPECT_EQ(s->name(), "scalapack-" + shape.to_string());
    body(*s, sub, "grid " + shape.to_string() + " nb " + std::to_string(nb));
  }
}

template <class T>
class DenseSolverTest : public ::testing::Test {};
using Types = ::testing::Types<double, float>;
TYPED_TEST_SUITE(DenseSolverTest, Types);

TYPED_TEST(DenseSolverTest, CholeskyMatchesSerialLapackAndIndefiniteInfoIsAgreed) {
  using T = TypeParam;
  for_each_solver<T>([](const DenseSolver<T>& s, const dist::Comm& comm, const std::string& what) {
    for (const std::int64_t n : kSizes) {
      const std::vector<T> A = spd<T>(n);
      std::vector<T> ref = A, L = A;
      ASSERT_EQ(linalg::potrf(linalg::Uplo::upper, n, ref.data(), n), 0);  // row-major lower factor
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j) ref[at(i, j, n)] = T(0);
      EXPECT_EQ(s.cholesky(n, L), 0) << what << " n " << n;
      EXPECT_TRUE(same_on_every_rank(comm, L)) << what << " n " << n;
      if (s.kind() == "replicated-lapack") {
        EXPECT_EQ(max_abs_diff(L, ref), 0.0) << what << " n " << n;  // the same call
      }
      EXPECT_LE(max_abs_diff(L, ref), tol<T>(n)) << what << " n " << n;
      // L L^T = A, and the strict upper triangle is exactly zero.
      double resid = 0.0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double v = 0.0;
          for (std::int64_t k = 0; k <= std::min(i, j); ++k) v += static_cast<double>(L[at(i, k, n)]) * static_cast<double>(L[at(j, k, n)]);
          resid = std::max(resid, std::abs(v - static_cast<double>(A[at(i, j, n)])));
          if (j > i) {
            EXPECT_EQ(L[at(i, j, n)], T(0)) << what;
          }
        }
      EXPECT_LE(resid, tol<T>(n)) << what << " n " << n;
      // A(k, k) := -50: the leading minor of order k + 1 is the first that is not positive definite.
      const std::int64_t k = std::min<std::int64_t>(n - 1, 3);
      std::vector<T> B = A;
      B[at(k, k, n)] = T(-50);
      const int info = s.cholesky(n, B);
      EXPECT_EQ(info, k + 1) << what << " n " << n;
      EXPECT_EQ(comm.allreduce(info, dist::Op::min), comm.allreduce(info, dist::Op::max)) << what;
    }
  });
}

TYPED_TEST(DenseSolverTest, EigenMatchesSerialLapack) {
  using T = TypeParam;
  for_each_solver<T>([](const DenseSolver<T>& s, const dist::Comm& comm, const std::string& what) {
    for (const std::int64_t n : kSizes) {
      const std::vector<T> A = spd<T>(n);
      std::vector<T> ref = A, wref(static_cast<std::size_t>(n));
      ASSERT_EQ(linalg::syevd(false, linalg::Uplo::upper, n, ref.data(), n, wref.data()), 0);
      std::vector<T> E = A, w, E2 = A, w2;
      EXPECT_EQ(s.eigen(n, E, w, true), 0) << what;
      EXPECT_EQ(s.eigen(n, E2, w2, false), 0) << what;
      EXPECT_TRUE(same_on_every_rank(comm, w) && same_on_every_rank(comm, E)) << what << " n " << n;
      ASSERT_EQ(w.size(), wref.size());
      EXPECT_LE(max_abs_diff(w, wref), tol<T>(n)) << what << " n " << n;
      EXPECT_LE(max_abs_diff(w2, wref), tol<T>(n)) << what << " n " << n;
      // Row k of E is a unit eigenvector: |A v - w_k v| and | |v| - 1 | small.
      for (std::int64_t r = 0; r < n; ++r) {
        double resid = 0.0, norm = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
          double v = -static_cast<double>(w[static_cast<std::size_t>(r)]) * static_cast<double>(E[at(r, i, n)]);
          for (std::int64_t j = 0; j < n; ++j) v += static_cast<double>(A[at(i, j, n)]) * static_cast<double>(E[at(r, j, n)]);
          resid = std::max(resid, std::abs(v));
          norm += static_cast<double>(E[at(r, i, n)]) * static_cast<double>(E[at(r, i, n)]);
        }
        EXPECT_LE(resid, tol<T>(n)) << what << " n " << n << " k " << r;
        EXPECT_NEAR(norm, 1.0, tol<T>(n)) << what << " n " << n << " k " << r;
      }
    }
  });
}

TYPED_TEST(DenseSolverTest, HeldMatrixShiftedSolvesMatchSerialPosv) {
  using T = TypeParam;
  for_each_solver<T>([](DenseSolver<T>& s, const dist::Comm& comm, const std::string& what) {
    const bool grid = s.kind() == "scalapack";
    EXPECT_EQ(s.partial_sums(), grid) << what;
    for (const std::int64_t n : kSizes) {
      const std::vector<T> A = spd<T>(n);
      std::vector<T> rhs(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) rhs[static_cast<std::size_t>(i)] = static_cast<T>(pm1(2, static_cast<std::uint64_t>(i)));
      // Serial posv of (A + shift I) x = rhs (column-major lower = row-major upper).
      const auto reference = [&](double shift, std::vector<T>& x) {
        std::vector<T> M = A;
        for (std::int64_t i = 0; i < n; ++i) M[at(i, i, n)] += static_cast<T>(shift);
        x = rhs;
        return linalg::posv(linalg::Uplo::lower, n, 1, M.data(), n, x.data(), n);
      };
      // The grid backend takes partial sums: rank r holds the entries with (i n + j) mod p = r
      // (their sum is A exactly); the replicated one the whole A.
      std::vector<T> held = A;
      if (grid)
        for (std::size_t e = 0; e < held.size(); ++e)
          if (static_cast<int>(e % static_cast<std::size_t>(comm.size())) != comm.rank()) held[e] = T(0);
      s.hold(std::move(held), n);
      double mean = 0.0;
      for (std::int64_t i = 0; i < n; ++i) mean += std::abs(static_cast<double>(A[at(i, i, n)]));
      EXPECT_NEAR(s.mean_abs_diag(), mean / static_cast<double>(n), 1e-12 * mean) << what;
      for (const double shift : {0.1, 2.0}) {  // the held A is unchanged by a solve
        std::vector<T> x(static_cast<std::size_t>(n)), ref;
        ASSERT_EQ(reference(shift, ref), 0);
        EXPECT_EQ(s.solve(shift, rhs, x), 0) << what << " n " << n;
        EXPECT_TRUE(same_on_every_rank(comm, x)) << what << " n " << n;
        if (!grid) {
          EXPECT_EQ(max_abs_diff(x, ref), 0.0) << what << " n " << n;  // the same call
        }
        EXPECT_LE(max_abs_diff(x, ref), tol<T>(n)) << what << " n " << n << " shift " << shift;
      }
      // A - 100 I is negative definite (the eigenvalues of A lie below 3): info 1 on every rank,
      // as serial LAPACK's; the next solve recovers.
      std::vector<T> x(static_cast<std::size_t>(n)), ref;
      const int info_ref = reference(-100.0, ref);
      const int info = s.solve(-100.0, rhs, x);
      EXPECT_EQ(info, info_ref) << what << " n " << n;
      EXPECT_EQ(info, 1) << what << " n " << n;
      EXPECT_EQ(comm.allreduce(info, dist::Op::min), comm.allreduce(info, dist::Op::max)) << what;
      reference(0.1, ref);
      EXPECT_EQ(s.solve(0.1, rhs, x), 0) << what;
      EXPECT_LE(max_abs_diff(x, ref), tol<T>(n)) << what << " n " << n << " after a failed solve";
    }
  });
}

TYPED_TEST(DenseSolverTest, SolveSpdRowmajorSolvesForEveryColumn) {
  using T = TypeParam;
  for (const std::int64_t d : kSizes) {
    const std::vector<T> A = spd<T>(d);
    std::vector<T> B(static_cast<std::size_t>(d * d));
    for (std::size_t e = 0; e < B.size(); ++e) B[e] = static_cast<T>(pm1(3, e));
    std::vector<T> Af = A, Z = B;
    ASSERT_EQ(solve_spd_rowmajor(d, Af, Z), 0);
    double resid = 0.0;  // A Z = B, row-major
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        double v = -static_cast<double>(B[at(i, j, d)]);
        for (std::int64_t k = 0; k < d; ++k) v += static_cast<double>(A[at(i, k, d)]) * static_cast<double>(Z[at(k, j, d)]);
        resid = std::max(resid, std::abs(v));
      }
    EXPECT_LE(resid, tol<T>(d)) << "d " << d;
  }
}

}  // namespace
}  // namespace attnbench::grid
