// The per-column forms behind exact leverage and BSS (sparsify/column_forms.hpp) at 1-4 ranks:
// the leverage scores |L^{-1} x_j|^2 through the explicit inverse W = L^{-1}, dense (trmm) and CSC
// (the stored entries' columns of W), against the serial reference's triangular solves, also on an
// ill-conditioned Gram (the documented cond(L) u bound of the explicit inverse); the quadratic
// forms x_j^T D x_j, dense (GEMM) and CSC (entries only), against a plain double loop, with
// explicit zeros; and BSS on a larger CSC X than the method-wide tests (several
// entries per column, sizes not divisible by the rank count) against its serial reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "dist/layout.hpp"
#include "sparsify/column_forms.hpp"
#include "sparsify/nxn.hpp"
#include "sparsify/reference.hpp"
#include "sparsify/sparsify.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {


// Largest relative difference of this rank's scores from the reference's at their global columns.
double max_rel_error(const std::vector<double>& got, const std::vector<double>& ref, std::int64_t col0) {
  double e = 0.0;
  for (std::size_t j = 0; j < got.size(); ++j) {
    const double r = ref[static_cast<std::size_t>(col0) + j];
    e = std::max(e, std::abs(got[j] - r) / std::max(std::abs(r), 1e-300));
  }
  return e;
}

// cond(M) of the symmetric positive definite M from its eigenvalues.
double condition(std::int64_t n, std::vector<double> M) {
  std::vector<double> w;
  EXPECT_EQ(lapack().eigen(n, M, w, false), 0);
  return w.back() / w.front();
}

}  // namespace

// Dense and CSC blocks give the reference's scores (which sum to n), for n and d not divisible by
// the rank count and for more ranks than columns holding entries.
TEST(SparsifyScores, DenseAndSparseMatchTheReference) {
  const auto& comm = testing_support::world();
  for (const auto& [n, d, density] : {std::tuple<std::int64_t, std::int64_t, double>{7, 203, 1.0},
                                      {7, 203, 0.3},
                                      {16, 157, 0.15},
                                      {3, 5, 1.0},
                                      {5, 61, 0.08}}) {
    SyntheticSpec s{.n = n, .d = d, .r = 0.05, .density = density, .coherence = 0.5, .seed = 17};
    const auto X = whole(comm, s);
    const std::vector<double> ref = reference_leverage_scores(X);
    std::vector<double> by_storage[2];
    for (bool sparse : {false, true}) {
      const auto B = my_block_of<double>(comm, X, sparse);
      const std::vector<double> L = cholesky_or_rank_error(lapack(), n, gram(comm, B));
      by_storage[sparse] = exact_leverage_scores(B, L);
      ASSERT_EQ(by_storage[sparse].size(), static_cast<std::size_t>(B.cols));
      EXPECT_LE(max_rel_error(by_storage[sparse], ref, B.col0), 1e-12)
          << "n " << n << " d " << d << " density " << density << (sparse ? " CSC" : " dense");
      double local = 0.0;
      for (double t : by_storage[sparse]) local += t;
      EXPECT_NEAR(comm.allreduce(local, dist::Op::sum), static_cast<double>(n), 1e-11);
    }
    for (std::size_t j = 0; j < by_storage[0].size(); ++j)
      EXPECT_NEAR(by_storage[1][j], by_storage[0][j], 1e-13 * std::max(1.0, by_storage[0][j])) << j;
  }
}

// X X^T with cond about 4e10 (two nearly equal rows). The scores through the explicit inverse W
// stay within the bound 2 n u cond(L) of nxn.hpp (cond(L) = sqrt(cond(M))) of the triangular
// solves |L^{-1} x_j|^2 with the same L, dense and CSC. (Against the serial reference they differ
// by up to about cond(M) u, 1e-5 here, whatever the solve: the Gram's own rounding, summed in
// another order, moves the scores that much.)
TEST(SparsifyScores, ExplicitInverseWithinTheConditionBound) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.4}) {
    const std::int64_t n = 8, d = 301;
    SyntheticSpec s{.n = n, .d = d, .r = 0.05, .density = density, .coherence = 0.0, .seed = 23};
    auto X = whole(comm, s);
    // Row n-1 := row n-2 + 1e-5 row n-1: rank n still, nearly dependent (same sparsity union).
    for (std::int64_t j = 0; j < d; ++j) X(n - 1, j) = X(n - 2, j) + 1e-5 * X(n - 1, j);
    for (bool sparse : {false, true}) {
      const auto B = my_block_of<double>(comm, X, sparse);
      const std::vector<double> M = gram(comm, B);
      const double condL = std::sqrt(condition(n, M));
      EXPECT_GT(condL, 1e5);  // the case is ill-conditioned indeed
      const std::vector<double> L = cholesky_or_rank_error(lapack(), n, M);
      std::vector<double> solved(static_cast<std::size_t>(B.cols)), x(static_cast<std::size_t>(n));
      for (std::int64_t j = 0; j < B.cols; ++j) {
        B.column(j, x.data());
        lower_solve(n, 1, L, x.data());
        for (double v : x) solved[static_cast<std::size_t>(j)] += v * v;
      }
      const double err = comm.allreduce(max_rel_error(exact_leverage_scores(B, L), solved, 0), dist::Op::max);
      EXPECT_LE(err, 2.0 * static_cast<double>(n) * 0x1.0p-53 * condL)
          << "density " << density << (sparse ? " CSC" : " dense") << ", cond(L) " << condL;
    }
  }
}

// x_j^T D x_j for a symmetric D: dense (GEMM) and CSC (stored entries only, here with an explicit
// zero in every column; directly and through the precomputed terms) equal the plain double sum;
// zero columns are flagged.
TEST(SparsifyScores, QuadraticFormsMatchThePlainSum) {
  const auto& comm = testing_support::world();
  const std::int64_t n = 9, d = 103;
  SyntheticSpec s{.n = n, .d = d, .r = 0.05, .density = 0.2, .coherence = 0.2, .seed = 29};
  const auto X = whole(comm, s);
  std::vector<double> D(static_cast<std::size_t>(n * n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b <= a; ++b)
      D[static_cast<std::size_t>(a * n + b)] = D[static_cast<std::size_t>(b * n + a)] =
          std::sin(static_cast<double>(3 * a + 7 * b + 1));  // indefinite, replicated
  for (bool sparse : {false, true}) {
    auto B = my_block_of<double>(comm, X, sparse);
    if (sparse) {
      // An explicit zero stored in every column at the first row it does not hold (rows stay
      // ascending, as ColumnBlock requires): the forms must not depend on stored zeros.
      ColumnBlock<double> R = B;
      R.colptr.assign(1, 0);
      R.rowidx.clear();
      R.values.clear();
      for (std::int64_t j = 0; j < B.cols; ++j) {
        std::vector<std::int32_t> rows(B.rowidx.begin() + B.colptr[j], B.rowidx.begin() + B.colptr[j + 1]);
        std::vector<double> vals(B.values.begin() + B.colptr[j], B.values.begin() + B.colptr[j + 1]);
        for (std::int32_t r = 0; r < n; ++r) {
          const auto at = std::lower_bound(rows.begin(), rows.end(), r);
          if (at == rows.end() || *at != r) {
            vals.insert(vals.begin() + (at - rows.begin()), 0.0);
            rows.insert(at, r);
            break;
          }
        }
        R.rowidx.insert(R.rowidx.end(), rows.begin(), rows.end());
        R.values.insert(R.values.end(), vals.begin(), vals.end());
        R.colptr.push_back(static_cast<std::int64_t>(R.values.size()));
      }
      B = R;
    }
    const QuadraticTerms terms = quadratic_terms(B);
    EXPECT_EQ(terms.built, sparse);  // about 3 entries per column (with the stored zero): within the cap
    for (const QuadraticTerms* with : {static_cast<const QuadraticTerms*>(nullptr), &terms}) {
    std::vector<double> q;
    std::vector<char> nonzero;
    column_quadratic_forms(B, D, q, nonzero, with);
    ASSERT_EQ(q.size(), static_cast<std::size_t>(B.cols));
    for (std::int64_t j = 0; j < B.cols; ++j) {
      double want = 0.0, scale = 0.0;
      bool any = false;
      for (std::int64_t a = 0; a < n; ++a) {
        any |= X(a, B.col0 + j) != 0.0;
        for (std::int64_t b = 0; b < n; ++b) {
          const double t = X(a, B.col0 + j) * D[static_cast<std::size_t>(a * n + b)] * X(b, B.col0 + j);
          want += t;
          scale += std::abs(t);
        }
      }
      EXPECT_NEAR(q[static_cast<std::size_t>(j)], want, 1e-14 * std::max(scale, 1e-300)) << (sparse ? "CSC " : "dense ") << j;
      EXPECT_EQ(nonzero[static_cast<std::size_t>(j)] != 0, any) << j;
    }
    }
    if (sparse) {
      // The leverage scores of the block with its stored zeros: still the reference's.
      const std::vector<double> L = cholesky_or_rank_error(lapack(), n, gram(comm, B));
      EXPECT_LE(max_rel_error(exact_leverage_scores(B, L), reference_leverage_scores(X), B.col0), 1e-12);
    }
  }
}

// BSS with several entries per CSC column (the quadratic forms' cross terms at every step), n and d
// not divisible by the rank count: the serial reference's selection and weights, dense and CSC.
TEST(SparsifyScores, BssOnSparseColumnsMatchesTheReference) {
  const auto& comm = testing_support::world();
  SyntheticSpec s{.n = 13, .d = 301, .r = 0.05, .density = 0.2, .coherence = 0.3, .seed = 37};
  const auto X = whole(comm, s);
  Params p;
  p.method = Method::bss;
  p.gamma = 3.0;
  p.seed = 5;
  const Result ref = reference_run(X, p);
  EXPECT_TRUE(quadratic_terms(my_block_of<double>(comm, X, true)).built);  // the precomputed-terms path
  for (bool sparse : {true, false}) {
    const Result got = run(comm, my_block_of<double>(comm, X, sparse), p, lapack());
    EXPECT_EQ(got.columns, ref.columns) << (sparse ? "CSC" : "dense");
    ASSERT_EQ(got.weights.size(), ref.weights.size());
    for (std::size_t a = 0; a < got.weights.size(); ++a)
      EXPECT_NEAR(got.weights[a], ref.weights[a], 1e-9 * ref.weights[a]) << a;
    EXPECT_EQ(got.steps, bss_steps(p.gamma, s.n));
    EXPECT_EQ(got.max_violation, 0.0);
  }
}
