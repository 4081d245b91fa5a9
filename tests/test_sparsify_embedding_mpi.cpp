// The input-sparsity-time parts of leverage-sketch (src/sparsify/sketch.hpp) at 1-4 ranks: the
// sparse embedding applied column by column to each rank's block, summed over ranks, equals the
// serial definition SX[h(j, c), i] += sign(j, c) x_ij / sqrt(z) (dense and CSC storage, float and
// double, z = 1 and z = 3, d not divisible by p, more ranks than some blocks have columns); the
// JL scores equal |x_j^T B|^2 / k; and the whole method with z > 1 matches its serial reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "sparsify/reference.hpp"
#include "sparsify/rng.hpp"
#include "sparsify/sketch.hpp"
#include "sparsify/sparsify.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {

// Serial definition on the whole X (values rounded to T first, as the block stores them).
template <class T>
std::vector<double> naive_sketch(const Matrix<double>& X, std::uint64_t seed, std::int64_t s, std::int64_t z) {
  const std::int64_t n = X.rows();
  std::vector<double> SX(static_cast<std::size_t>(s * n), 0.0);
  for (std::int64_t j = 0; j < X.cols(); ++j)
    for (std::int64_t c = 0; c < z; ++c) {
      const rng::SketchEntry h = rng::sketch_entry(seed, static_cast<std::uint64_t>(j * z + c), s);
      for (std::int64_t i = 0; i < n; ++i)
        SX[static_cast<std::size_t>(h.row * n + i)] +=
            h.sign / std::sqrt(static_cast<double>(z)) * static_cast<double>(static_cast<T>(X(i, j)));
    }
  return SX;
}

template <class T>
void check_embedding(const dist::Comm& comm, const SyntheticSpec& spec, std::int64_t s, std::int64_t z) {
  const auto X = whole(comm, spec);
  const auto B = local_block<T>(comm, spec);
  std::vector<double> SX(static_cast<std::size_t>(s * spec.n), 0.0);
  add_sparse_embedding(B, spec.seed, s, z, SX.data());
  comm.allreduce(std::span<double>(SX), dist::Op::sum);
  const auto ref = naive_sketch<T>(X, spec.seed, s, z);
  double err = 0.0, scale = 0.0;
  for (std::size_t a = 0; a < SX.size(); ++a) {
    err = std::max(err, std::abs(SX[a] - ref[a]));
    scale = std::max(scale, std::abs(ref[a]));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(err, 1e-13 * scale) << "density " << spec.density << " z " << z << " float " << std::is_same_v<T, float>;
}

TEST(SparsifySketch, EmbeddingSummedOverRanksIsTheSerialSketch) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.3}) {
    for (std::int64_t z : {1, 3}) {
      // d = 37: not divisible by 2, 3 or 4; s = 11 rows, so rows collect several columns each.
      const SyntheticSpec spec{.n = 5, .d = 37, .r = 0.05, .density = density, .coherence = 0.0, .seed = 11};
      check_embedding<double>(comm, spec, 11, z);
      check_embedding<float>(comm, spec, 11, z);
    }
  }
  // More ranks than columns on some ranks' share: d = 3 (a rank with no columns adds nothing).
  const SyntheticSpec tiny{.n = 2, .d = 3, .r = 0.05, .density = 1.0, .coherence = 0.0, .seed = 4};
  check_embedding<double>(comm, tiny, 5, 1);
}

TEST(SparsifySketch, JlScoresAreTheSquaredNormsOfXtB) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.3}) {
    // d = 1100 > one 512-column GEMM block, so block boundaries are crossed.
    const SyntheticSpec spec{.n = 6, .d = 1100, .r = 0.05, .density = density, .coherence = 0.2, .seed = 8};
    const auto X = whole(comm, spec);
    const std::int64_t k = 5;
    std::vector<double> Bm(static_cast<std::size_t>(spec.n * k));
    for (std::size_t a = 0; a < Bm.size(); ++a) Bm[a] = rng::normal(3, rng::stream::jl, a);
    const auto check = [&](const auto& blk, const char* what) {
      const std::vector<double> tau = jl_scores(blk, Bm, k);
      ASSERT_EQ(static_cast<std::int64_t>(tau.size()), blk.cols);
      double worst = 0.0;
      for (std::int64_t j = 0; j < blk.cols; ++j) {
        double sum = 0.0;
        for (std::int64_t c = 0; c < k; ++c) {
          double zc = 0.0;
          for (std::int64_t i = 0; i < spec.n; ++i)
            zc += static_cast<double>(static_cast<decltype(blk.dense)::value_type>(X(i, blk.col0 + j))) *
                  Bm[static_cast<std::size_t>(i * k + c)];
          sum += zc * zc;
        }
        sum /= static_cast<double>(k);
        worst = std::max(worst, std::abs(tau[static_cast<std::size_t>(j)] - sum) / std::max(sum, 1e-300));
      }
      EXPECT_LE(worst, 1e-12) << what << " density " << density;
    };
    check(local_block<double>(comm, spec), "double");
    check(local_block<float>(comm, spec), "float");
  }
}

TEST(SparsifySketch, OsnapMethodMatchesTheSerialReference) {
  const auto& comm = testing_support::world();
  for (double density : {1.0, 0.4}) {
    const SyntheticSpec spec{.n = 6, .d = 97, .r = 0.05, .density = density, .coherence = 0.3, .seed = 9};
    const auto X = whole(comm, spec);
    Params p;
    p.method = Method::leverage_sketch;
    p.seed = 7;
    p.m = 40;
    p.sketch_nnz = 3;
    p.sketch_rows = 24;
    const Result ref = reference_run(X, p);
    const Result got = run(comm, local_block<double>(comm, spec), p, lapack());
    EXPECT_EQ(got.columns, ref.columns) << "density " << density;
    ASSERT_EQ(got.weights.size(), ref.weights.size());
    for (std::size_t a = 0; a < got.weights.size(); ++a)
      EXPECT_NEAR(got.weights[a], ref.weights[a], 1e-9 * ref.weights[a]) << "density " << density;
  }
}

}  // namespace
