// validate_sampled on single-head problems: VALID for a correct output, INVALID for a perturbed,
// NaN or Inf entry in a sampled row (whichever rank owns it), with finite error figures that do not hide a NaN, and
// the same verdict on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"
#include "attention_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using attention::ValidationResult;

namespace {

template <class T>
struct Fixture {
  AttentionProblem<T> p;
  Matrix<T> O;
  double scale;
};

template <class T>
Fixture<T> make(std::int64_t n, std::int64_t d, std::int64_t dv) {
  const auto& comm = testing_support::world();
  Fixture<T> f;
  f.p = single_head_problem<T>(n, d, dv, 2.0, 31, comm.rank(), comm.size());
  f.scale = 1.0 / std::sqrt(static_cast<double>(d));
  attention::MhaOptions o;
  o.scale = f.scale;
  o.tiles = {8, 8};
  f.O = attention::mha_attention(comm, f.p, o);
  return f;
}

// The verdict and figures must be identical on every rank (they are reduced, then compared).
void expect_agreed(const ValidationResult& v) {
  const auto& comm = testing_support::world();
  const int valid = v.valid ? 1 : 0;
  EXPECT_EQ(comm.allreduce(valid, dist::Op::min), comm.allreduce(valid, dist::Op::max));
  EXPECT_EQ(comm.allreduce(v.rel_error, dist::Op::min), comm.allreduce(v.rel_error, dist::Op::max));
  EXPECT_EQ(comm.allreduce(v.rows_checked, dist::Op::min), comm.allreduce(v.rows_checked, dist::Op::max));
}

// Sets O[row, col] := value on the rank that owns global row `row`.
template <class T>
void set_entry(Fixture<T>& f, std::int64_t row, std::int64_t col, T value) {
  const auto& comm = testing_support::world();
  if (f.p.layout_q.owner_of(row) == comm.rank()) f.O(f.p.layout_q.local_index(row), col) = value;
}

template <class T>
class Validation : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Validation, Scalars);

}  // namespace

TYPED_TEST(Validation, CorrectOutputIsValid) {
  using T = TypeParam;
  for (std::int64_t n : {3, 50}) {  // 3: p > n at 4 ranks
    auto f = make<T>(n, 8, 5);
    const auto v = attention::validate_sampled(testing_support::world(), f.p, f.O, false, f.scale, 16, 99);
    expect_agreed(v);
    EXPECT_TRUE(v.valid) << "n=" << n << " rel_error " << v.rel_error << " tol " << v.tolerance;
    EXPECT_EQ(v.rows_checked, std::min<std::int64_t>(n, 16));
    EXPECT_GE(v.max_abs_error, 0.0);
    EXPECT_LE(v.rel_error, v.tolerance);
    if constexpr (std::is_same_v<T, double>) {
      EXPECT_EQ(v.tolerance, attention::kDoubleRelTolerance);
      EXPECT_LT(v.rel_error, 1e-13);
      EXPECT_EQ(v.naive_rel_error, -1.0);
    } else {
      // FlashAttention's rule: 2x the naive float error, with a few-ulp floor.
      EXPECT_GE(v.naive_rel_error, 0.0);
      EXPECT_GE(v.tolerance, 2.0 * v.naive_rel_error);
      EXPECT_GE(v.tolerance, 4.0 * std::numeric_limits<float>::epsilon());
      EXPECT_LT(v.tolerance, 1e-4);  // the rule must not degenerate into accepting anything
    }
  }
}

TYPED_TEST(Validation, PerturbedEntryIsInvalid) {
  using T = TypeParam;
  const auto& comm = testing_support::world();
  const std::int64_t n = 50;
  const auto rows = attention::sample_rows(n, 16, 99);
  // A sampled row owned by the last rank that owns rows, and one owned by rank 0.
  for (const std::int64_t row : {rows.back(), rows.front()}) {
    auto f = make<T>(n, 8, 5);
    const double delta = std::is_same_v<T, double> ? 1e-9 : 1e-3;  // well above each tolerance
    double entry = 0;
    if (f.p.layout_q.owner_of(row) == comm.rank()) entry = static_cast<double>(f.O(f.p.layout_q.local_index(row), 2));
    entry = comm.allreduce(entry, dist::Op::sum);
    set_entry(f, row, 2, static_cast<T>(entry + delta));
    const auto v = attention::validate_sampled(comm, f.p, f.O, false, f.scale, 16, 99);
    expect_agreed(v);
    EXPECT_FALSE(v.valid) << "row " << row << " perturbed by " << delta << ": rel_error " << v.rel_error;
    EXPECT_GT(v.rel_error, v.tolerance);
    EXPECT_NEAR(v.max_abs_error, delta, 0.1 * delta);
  }
}

TYPED_TEST(Validation, NonFiniteEntryIsInvalidAndNotHidden) {
  using T = TypeParam;
  const auto& comm = testing_support::world();
  const std::int64_t n = 50;
  const auto rows = attention::sample_rows(n, 16, 99);
  for (const T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                      -std::numeric_limits<T>::infinity()}) {
    auto f = make<T>(n, 8, 5);
    set_entry(f, rows[rows.size() / 2], 0, bad);
    const auto v = attention::validate_sampled(comm, f.p, f.O, false, f.scale, 16, 99);
    expect_agreed(v);
    EXPECT_FALSE(v.valid) << "value " << bad;
    // A NaN must not turn into a small error: the figures are +inf, never NaN (a NaN compares
    // false with everything and would slip through a "rel_error > tol" check downstream).
    EXPECT_FALSE(std::isnan(v.max_abs_error));
    EXPECT_FALSE(std::isnan(v.rel_error));
    EXPECT_TRUE(std::isinf(v.max_abs_error)) << v.max_abs_error;
    EXPECT_FALSE(v.rel_error <= v.tolerance);
  }
}

TEST(Validation, AllRowsCheckedWhenCountCoversN) {
  // A perturbation in any row is found when validate_rows >= n.
  const auto& comm = testing_support::world();
  const std::int64_t n = 11;
  for (std::int64_t row : {std::int64_t{0}, std::int64_t{5}, n - 1}) {
    auto f = make<double>(n, 4, 3);
    double entry = 0;
    if (f.p.layout_q.owner_of(row) == comm.rank()) entry = f.O(f.p.layout_q.local_index(row), 1);
    entry = comm.allreduce(entry, dist::Op::sum);
    set_entry(f, row, 1, entry * (1 + 1e-8) + 1e-8);
    const auto v = attention::validate_sampled(comm, f.p, f.O, false, f.scale, 1000, 1);
    EXPECT_EQ(v.rows_checked, n);
    EXPECT_FALSE(v.valid) << "row " << row;
  }
}
