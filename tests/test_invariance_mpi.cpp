// Rank-count invariance inside one MPI run: the world is split into a sub-communicator of size s
// for every s in 1..p (Comm::split), each computes the same problem, and the outputs must agree to
// relative 1e-13 in fp64 across sizes and across the ring and allgather variants. The same is
// done reading the problem from one HDF5 file on each sub-communicator.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"
#include "attention/input/input.hpp"
#include "mpi_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using testing_support::gather_all_rows;

namespace {

template <class T>
double rel_diff(const Matrix<T>& a, const Matrix<T>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return INFINITY;
  double err = 0, mag = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i]));
    err = std::isnan(e) ? INFINITY : std::max(err, e);
    mag = std::max(mag, std::abs(static_cast<double>(b.data()[i])));
  }
  return err / mag;
}

// For every size s = 1..p: the output computed on ranks [0, s) of the world, as a full matrix on
// every world rank (world rank 0 belongs to every sub-communicator and broadcasts it).
// `compute` is called collectively on the sub-communicator and returns that rank's rows of O.
template <class T, class F>
std::vector<Matrix<T>> outputs_per_size(std::int64_t n, std::int64_t dv, F compute) {
  const auto& world = testing_support::world();
  std::vector<Matrix<T>> out;
  for (int s = 1; s <= world.size(); ++s) {
    const int color = world.rank() < s ? 0 : 1;
    const dist::Comm sub = world.split(color, world.rank());
    Matrix<T> full(n, dv);
    if (color == 0) {
      const auto O_local = compute(sub);
      full = gather_all_rows(sub, dist::BlockRowLayout(n, sub.size()), O_local, dv);
    }
    world.bcast(full.span(), 0);
    out.push_back(std::move(full));
  }
  return out;
}

struct Shape {
  std::int64_t n, d, dv;
  std::int64_t tile_q, tile_k;
};

}  // namespace

TEST(RankInvariance, SyntheticDoubleRingAndAllgather) {
  for (const Shape sh : {Shape{37, 8, 5, 4, 7}, Shape{3, 4, 4, 2, 2}, Shape{130, 16, 16, 64, 32}}) {
    const double scale = 1.0 / static_cast<double>(sh.d);
    std::vector<std::vector<Matrix<double>>> per_variant;
    for (auto variant : {attention::MhaVariant::ring, attention::MhaVariant::allgather}) {
      per_variant.push_back(outputs_per_size<double>(sh.n, sh.dv, [&](const dist::Comm& sub) {
        const auto p = single_head_problem<double>(sh.n, sh.d, sh.dv, 2.0, 17, sub.rank(), sub.size());
        attention::MhaOptions o;
        o.variant = variant;
        o.scale = scale;
        o.tiles = {sh.tile_q, sh.tile_k};
        return attention::mha_attention(sub, p, o);
      }));
    }
    const auto& base = per_variant[0][0];  // ring on one rank
    for (std::size_t v = 0; v < per_variant.size(); ++v)
      for (std::size_t s = 0; s < per_variant[v].size(); ++s)
        EXPECT_LE(rel_diff(per_variant[v][s], base), 1e-13)
            << "n=" << sh.n << (v == 0 ? " ring" : " allgather") << " on " << s + 1 << " ranks vs ring on 1";
    // And all of them against the serial reference (so "invariant" cannot mean "equally wrong").
    const auto full = single_head_problem<double>(sh.n, sh.d, sh.dv, 2.0, 17, 0, 1);
    const auto ref = reference_attention(full.Q_local, full.K_local, full.V_local, scale);
    EXPECT_LE(rel_diff(base, ref), 1e-13) << "n=" << sh.n;
  }
}

TEST(RankInvariance, SyntheticFloat) {
  // Single precision: the summation order changes with the rank count, so only rounding-level
  // agreement is expected.
  const std::int64_t n = 45, d = 8, dv = 6;
  const auto outs = outputs_per_size<float>(n, dv, [&](const dist::Comm& sub) {
    const auto p = single_head_problem<float>(n, d, dv, 1.0, 4, sub.rank(), sub.size());
    attention::MhaOptions o;
    o.scale = 1.0 / std::sqrt(static_cast<double>(d));
    o.tiles = {8, 8};
    return attention::mha_attention(sub, p, o);
  });
  for (std::size_t s = 1; s < outs.size(); ++s) EXPECT_LE(rel_diff(outs[s], outs[0]), 2e-6) << s + 1 << " ranks";
}

TEST(RankInvariance, FileInputOnSubCommunicators) {
  // One file written by the whole world, read back collectively by each sub-communicator.
  const auto& world = testing_support::world();
  testing_support::ScratchDir dir(world);
  const std::int64_t n = 23, d = 6, dv = 3;
  const auto path = dir.file("in.h5");
  attention::write_attention_input(world, path, single_head_problem<double>(n, d, dv, 1.5, 8, world.rank(), world.size()), 2);
  const auto outs = outputs_per_size<double>(n, dv, [&](const dist::Comm& sub) {
    const auto p = attention::read_attention_input<double>(sub, path);
    attention::MhaOptions o;
    o.scale = 1.0 / static_cast<double>(d);
    o.tiles = {4, 4};
    return attention::mha_attention(sub, p, o);
  });
  for (std::size_t s = 1; s < outs.size(); ++s) EXPECT_LE(rel_diff(outs[s], outs[0]), 1e-13) << s + 1 << " ranks";
  const auto full = single_head_problem<double>(n, d, dv, 1.5, 8, 0, 1);
  const auto ref = reference_attention(full.Q_local, full.K_local, full.V_local, 1.0 / static_cast<double>(d));
  EXPECT_LE(rel_diff(outs[0], ref), 1e-13);
}
