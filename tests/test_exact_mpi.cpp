// Exact attention variants against the serial reference, and rank-count invariance through
// sub-communicators of sizes 1..p inside one MPI run.
#include <gtest/gtest.h>

#include <cmath>

#include "attention/exact/mha.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;

namespace {

template <class T>
double max_rel_diff(const Matrix<T>& a, const Matrix<double>& ref) {
  double err = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(a.data()[i]) - ref.data()[i]));
    scale = std::max(scale, std::abs(ref.data()[i]));
  }
  return err / scale;
}

struct Case {
  std::int64_t n, d, dv;
  attention::MhaVariant variant;
  std::int64_t tile_q, tile_k;
};

class ExactVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(ExactVsReference, DoubleMatchesReference) {
  const auto& comm = testing_support::world();
  const Case c = GetParam();
  auto p = single_head_problem<double>(c.n, c.d, c.dv, 2.0, 7, comm.rank(), comm.size());
  attention::MhaOptions o;
  o.variant = c.variant;
  o.scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  o.tiles = {c.tile_q, c.tile_k};
  const auto O = gather_rows(comm, p.layout_q, attention::mha_attention(comm, p, o), c.dv);
  auto full = single_head_problem<double>(c.n, c.d, c.dv, 2.0, 7, 0, 1);
  const auto ref = reference_attention(full.Q_local, full.K_local, full.V_local, o.scale);
  EXPECT_LE(max_rel_diff(O, ref), 1e-13) << "n=" << c.n << " ranks=" << comm.size();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ExactVsReference,
    ::testing::Values(Case{1, 4, 4, attention::MhaVariant::ring, 256, 512},
                      Case{3, 5, 2, attention::MhaVariant::ring, 2, 2},       // p > n at 4 ranks
                      Case{37, 8, 3, attention::MhaVariant::ring, 4, 5},      // n not divisible by p
                      Case{37, 8, 3, attention::MhaVariant::allgather, 4, 5},
                      Case{130, 16, 16, attention::MhaVariant::ring, 64, 32},
                      Case{130, 16, 16, attention::MhaVariant::allgather, 256, 512}));

}  // namespace
