// Multi-head exact attention at 1-4 ranks against the serial reference (masked, per
// head): causal and not, heads and grouped-query heads, every variant and layout; n not divisible
// by 2p, p > n, H not divisible by p (ulysses). Rank-count invariance per layout through
// sub-communicators; causal tile skipping; redistribution; sampled validation with masks and heads
// (including that a corrupted output fails it); bad combinations as usage errors on every rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"
#include "attention/exact/reference.hpp"
#include "attention_test_util.hpp"
#include "core/error.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using attention::HeadShape;
using attention::LayoutKind;
using attention::MhaVariant;

namespace {

// The full (B n) x w output on every rank: each rank places its rows at their global positions,
// one Allreduce(SUM) assembles them.
template <class T>
Matrix<double> gather_tokens(const dist::Comm& comm, const attention::SequenceLayout& lay, std::int64_t batch,
                             const Matrix<T>& local) {
  const std::int64_t n = lay.global_rows(), w = local.cols(), rows = lay.local_rows(comm.rank());
  Matrix<double> full(batch * n, w, 0.0);
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k < rows; ++k)
      for (std::int64_t c = 0; c < w; ++c)
        full(b * n + lay.position(comm.rank(), k), c) = static_cast<double>(local(b * rows + k, c));
  comm.allreduce(full.span(), dist::Op::sum);
  return full;
}

double rel_diff(const Matrix<double>& a, const Matrix<double>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return INFINITY;
  double err = 0, mag = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(a.data()[i] - b.data()[i]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
    mag = std::max(mag, std::abs(b.data()[i]));
  }
  return err / mag;
}

struct Case {
  HeadShape shape;
  std::int64_t n;
  std::int64_t tile_q, tile_k;
};

std::string describe(const Case& c, MhaVariant v, LayoutKind l, bool causal, int p) {
  return "B=" + std::to_string(c.shape.batch) + " n=" + std::to_string(c.n) + " H=" + std::to_string(c.shape.heads) +
         " Hkv=" + std::to_string(c.shape.kv_heads) + " d=" + std::to_string(c.shape.d) + " " + attention::to_string(v) +
         "/" + attention::to_string(l) + (causal ? " causal" : "") + " p=" + std::to_string(p);
}

// n not divisible by 2p (for p = 2..4), p > n at 3-4 ranks, H not divisible by p, H < p, GQA.
const std::vector<Case> kCases = {
    {{1, 1, 1, 8, 8}, 37, 4, 5},     {{1, 1, 1, 5, 3}, 3, 2, 2},     {{2, 6, 3, 4, 5}, 13, 4, 3},
    {{1, 3, 1, 6, 6}, 23, 8, 8},     {{1, 4, 4, 4, 4}, 1, 128, 512}, {{3, 2, 2, 3, 2}, 9, 2, 4},
    {{1, 8, 2, 8, 8}, 50, 16, 8}};

template <class T>
void check_against_reference(double tol) {
  const auto& comm = testing_support::world();
  for (const Case& c : kCases)
    for (bool causal : {false, true})
      for (MhaVariant v : {MhaVariant::ring, MhaVariant::allgather, MhaVariant::ulysses})
        for (LayoutKind l : {LayoutKind::contiguous, LayoutKind::striped, LayoutKind::zigzag}) {
          if (v == MhaVariant::ulysses && l != LayoutKind::contiguous) continue;  // refused: tested below
          const auto p = attention::synthetic_problem<T>(c.shape, c.n, l, 2.0, 11, comm.rank(), comm.size());
          attention::MhaOptions o;
          o.variant = v;
          o.causal = causal;
          o.scale = 1.0 / std::sqrt(static_cast<double>(c.shape.d));
          o.tiles = {c.tile_q, c.tile_k};
          const auto O = gather_tokens(comm, p.layout_q, c.shape.batch, attention::mha_attention(comm, p, o));
          const auto full = attention::synthetic_problem<T>(c.shape, c.n, LayoutKind::contiguous, 2.0, 11, 0, 1);
          const auto ref =
              attention::reference_mha(full.Q_local, full.K_local, full.V_local, c.shape, c.n, c.n, causal, o.scale);
          EXPECT_LE(rel_diff(O, ref), tol) << describe(c, v, l, causal, comm.size());
        }
}

}  // namespace

TEST(MhaVsReference, DoubleEveryVariantLayoutAndMask) { check_against_reference<double>(1e-13); }
TEST(MhaVsReference, FloatEveryVariantLayoutAndMask) { check_against_reference<float>(2e-6); }

TEST(MhaVsReference, SingleHeadMatchesTheTwoDimensionalKernel) {
  // B = H = 1 is the 2-D problem: the synthetic values of a 2-D file's rows (entry (i, c) of
  // (seed, which, i d + c)), and moved to the zigzag layout the same (causal) attention.
  const auto& comm = testing_support::world();
  const std::int64_t n = 29, d = 6;
  const auto mp = attention::synthetic_problem<double>(HeadShape{1, 1, 1, d, d}, n, LayoutKind::contiguous, 1.0, 3,
                                                       comm.rank(), comm.size());
  const dist::BlockRowLayout rows(n, comm.size());
  const auto Q2 = synthetic_rows<double>(3, Stream::Q, rows.row_offset(comm.rank()), rows.local_rows(comm.rank()), d, 1.0);
  ASSERT_EQ(mp.Q_local.size(), Q2.size());
  for (std::int64_t i = 0; i < mp.Q_local.size(); ++i) ASSERT_EQ(mp.Q_local.data()[i], Q2.data()[i]);
  auto z = mp;
  attention::to_layout(comm, z, LayoutKind::zigzag);
  attention::MhaOptions o;
  o.causal = true;
  o.scale = 0.5;
  o.tiles = {4, 4};
  const auto Oz = gather_tokens(comm, z.layout_q, 1, attention::mha_attention(comm, z, o));
  const auto Oc = gather_tokens(comm, mp.layout_q, 1, attention::mha_attention(comm, mp, o));
  EXPECT_LE(rel_diff(Oz, Oc), 1e-13);
}

TEST(MhaRankInvariance, EveryLayoutAgreesAcrossRankCounts) {
  // Sub-communicators of size 1..p compute the same causal GQA problem; the outputs agree to
  // rounding (the online softmax sums in a different order), for every layout and variant.
  const auto& world = testing_support::world();
  const HeadShape shape{2, 4, 2, 5, 4};
  const std::int64_t n = 19;
  for (MhaVariant v : {MhaVariant::ring, MhaVariant::allgather, MhaVariant::ulysses})
    for (LayoutKind l : {LayoutKind::contiguous, LayoutKind::striped, LayoutKind::zigzag}) {
      if (v == MhaVariant::ulysses && l != LayoutKind::contiguous) continue;
      std::vector<Matrix<double>> outs;
      for (int s = 1; s <= world.size(); ++s) {
        const int color = world.rank() < s ? 0 : 1;
        const dist::Comm sub = world.split(color, world.rank());
        Matrix<double> full(shape.batch * n, shape.heads * shape.dv);
        if (color == 0) {
          const auto p = attention::synthetic_problem<double>(shape, n, l, 1.0, 5, sub.rank(), sub.size());
          attention::MhaOptions o;
          o.variant = v;
          o.causal = true;
          o.scale = 0.3;
          o.tiles = {3, 4};
          full = gather_tokens(sub, p.layout_q, shape.batch, attention::mha_attention(sub, p, o));
        }
        world.bcast(full.span(), 0);
        outs.push_back(std::move(full));
      }
      for (std::size_t s = 1; s < outs.size(); ++s)
        EXPECT_LE(rel_diff(outs[s], outs[0]), 1e-13) << attention::to_string(v) << "/" << attention::to_string(l) << " on "
                                                     << s + 1 << " ranks vs 1";
    }
}

TEST(MhaCausal, TilesAboveTheDiagonalAreSkipped) {
  // One rank, n = 1024, 128 x 128 tiles: 8 x 8 = 64 tiles without the mask, 8 * 9 / 2 = 36 with it.
  const auto& world = testing_support::world();
  const dist::Comm self = world.split(world.rank(), 0);
  const auto p = attention::synthetic_problem<double>(HeadShape{1, 1, 1, 8, 8}, 1024, LayoutKind::contiguous, 1.0,
                                                          1, 0, 1);
  attention::MhaOptions o;
  o.tiles = {128, 128};
  attention::MhaTimes full, causal;
  attention::mha_attention(self, p, o, &full);
  o.causal = true;
  attention::mha_attention(self, p, o, &causal);
  EXPECT_EQ(full.tiles_computed, 64);
  EXPECT_EQ(causal.tiles_computed, 36);
  EXPECT_DOUBLE_EQ(attention::mha_flops(p.shape, 1024, 1024, true), 2.0 * 1024 * 1025 / 2 * 16);
}

TEST(MhaDataMovement, BytesAndBuffersAreStated) {
  const auto& comm = testing_support::world();
  const int P = comm.size();
  const HeadShape shape{1, 4, 2, 8, 8};
  const std::int64_t n = 40;
  const auto p = attention::synthetic_problem<double>(shape, n, LayoutKind::contiguous, 1.0, 2, comm.rank(), P);
  attention::MhaOptions o;
  attention::MhaTimes ring, ag;
  o.variant = MhaVariant::ring;
  attention::mha_attention(comm, p, o, &ring);
  o.variant = MhaVariant::allgather;
  attention::mha_attention(comm, p, o, &ag);
  // Both receive every other rank's K/V tokens: (n - n_r) Hkv (d + dv) doubles.
  const double expect = static_cast<double>((n - p.layout_kv.local_rows(comm.rank())) * 2 * 16 * 8);
  EXPECT_DOUBLE_EQ(ring.bytes_received, expect);
  EXPECT_DOUBLE_EQ(ag.bytes_received, expect);
  EXPECT_GT(ring.peak_buffer_bytes, 0);
  EXPECT_GT(ag.peak_buffer_bytes, 0);
  if (P > 1) {
    EXPECT_LT(ring.peak_buffer_bytes, ag.peak_buffer_bytes + 2 * 40 * 32 * 8);
  }
  const double lb = attention::load_balance(comm, comm.rank() == 0 ? 2.0 : 1.0);
  EXPECT_DOUBLE_EQ(lb, P == 1 ? 1.0 : 2.0 / ((2.0 + (P - 1)) / P));
}

TEST(MhaRedistribute, RoundTripThroughEveryLayout) {
  const auto& comm = testing_support::world();
  for (std::int64_t n : {0, 1, 5, 17}) {
    const attention::SequenceLayout c(LayoutKind::contiguous, n, comm.size());
    const auto x = attention::synthetic_tokens<double>(9, Stream::user, c, comm.rank(), 2, 3, 2, 1.0);
    for (LayoutKind k : {LayoutKind::striped, LayoutKind::zigzag}) {
      const attention::SequenceLayout to(k, n, comm.size());
      const auto y = attention::redistribute_tokens(comm, x, 2, c, to);
      // The redistributed rows are the synthetic rows of `to` (values are a function of position).
      const auto want = attention::synthetic_tokens<double>(9, Stream::user, to, comm.rank(), 2, 3, 2, 1.0);
      ASSERT_EQ(y.size(), want.size());
      for (std::int64_t i = 0; i < y.size(); ++i) EXPECT_EQ(y.data()[i], want.data()[i]);
      const auto back = attention::redistribute_tokens(comm, y, 2, to, c);
      for (std::int64_t i = 0; i < back.size(); ++i) EXPECT_EQ(back.data()[i], x.data()[i]);
    }
  }
}

template <class T>
void validation_detects(bool causal) {
  const auto& comm = testing_support::world();
  const HeadShape shape{2, 4, 2, 6, 5};
  const std::int64_t n = 21;
  const auto p = attention::synthetic_problem<T>(shape, n, LayoutKind::zigzag, 2.0, 8, comm.rank(), comm.size());
  attention::MhaOptions o;
  o.causal = causal;
  o.scale = 0.4;
  o.tiles = {4, 4};
  auto O = attention::mha_attention(comm, p, o);
  const auto all = shape.batch * shape.heads * n;  // every row checked
  auto good = attention::validate_sampled(comm, p, O, causal, o.scale, all, 3);
  EXPECT_TRUE(good.valid) << good.rel_error << " tol " << good.tolerance;
  EXPECT_EQ(good.rows_checked, all);
  // The other mask is a different attention: validation must reject it.
  auto wrong_mask = attention::validate_sampled(comm, p, O, !causal, o.scale, all, 3);
  EXPECT_FALSE(wrong_mask.valid);
  // Corrupt one entry of token 0, head 3, batch 1 on its owner: a full check finds it.
  const int owner = p.layout_q.owner_of(0);
  if (comm.rank() == owner) {
    const std::int64_t row = 1 * p.layout_q.local_rows(owner) + p.layout_q.local_index(0);
    O(row, 3 * shape.dv + 1) += T(0.01);
  }
  auto bad = attention::validate_sampled(comm, p, O, causal, o.scale, all, 3);
  EXPECT_FALSE(bad.valid);
  EXPECT_GT(bad.rel_error, 1e-3);
}

TEST(MhaValidation, SampledRowsWithMasksAndHeadsDouble) {
  validation_detects<double>(false);
  validation_detects<double>(true);
}
TEST(MhaValidation, SampledRowsWithMasksAndHeadsFloat) {
  validation_detects<float>(false);
  validation_detects<float>(true);
}

TEST(MhaBadInput, ClearUsageErrorsOnEveryRank) {
  // Each is thrown on every rank from global options only (before any collective), with the usage
  // exit code and a message naming the option.
  const auto& comm = testing_support::world();
  auto expect_usage = [&](auto&& fn, const std::string& needle) {
    int code = 0;
    std::string what;
    try {
      fn();
    } catch (const Error& e) {
      code = static_cast<int>(e.code());
      what = e.what();
    }
    EXPECT_EQ(code, static_cast<int>(ExitCode::usage)) << needle;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    // Same verdict on every rank.
    EXPECT_EQ(comm.allreduce(code, dist::Op::min), comm.allreduce(code, dist::Op::max));
  };
  expect_usage([&] { attention::synthetic_problem<double>(HeadShape{1, 6, 4, 4, 4}, 8, LayoutKind::contiguous, 1.0, 1, comm.rank(), comm.size()); },
               "--kv-heads 4 must divide --heads 6");
  expect_usage([&] { attention::synthetic_problem<double>(HeadShape{1, 2, 0, 4, 4}, 8, LayoutKind::contiguous, 1.0, 1, comm.rank(), comm.size()); },
               "--kv-heads");
  expect_usage([&] { attention::synthetic_problem<double>(HeadShape{0, 2, 1, 4, 4}, 8, LayoutKind::contiguous, 1.0, 1, comm.rank(), comm.size()); },
               "--batch");
  const auto z = attention::synthetic_problem<double>(HeadShape{1, 4, 2, 4, 4}, 8, LayoutKind::zigzag, 1.0, 1,
                                                          comm.rank(), comm.size());
  attention::MhaOptions o;
  o.variant = MhaVariant::ulysses;
  expect_usage([&] { attention::mha_attention(comm, z, o); }, "--layout zigzag does not apply to --variant ulysses");
  o.variant = MhaVariant::ring;
  o.causal = true;
  expect_usage([&] { attention::check_mha_options(o, LayoutKind::contiguous, LayoutKind::contiguous, 8, 9); },
               "--causal needs as many keys as queries");
  expect_usage([&] { attention::parse_mha_variant("ulyses"); }, "--variant");
  expect_usage([&] { attention::parse_layout("zig-zag"); }, "--layout");
}

TEST(MhaThreads, TwoThreadsGiveTheSameOutput) {
  // OpenMP over query tiles: each tile's arithmetic is the same whichever thread runs it, so the
  // output is bitwise identical to one thread, for every variant, causal and with GQA heads.
  const auto& comm = testing_support::world();
  const HeadShape shape{2, 4, 2, 8, 8};
  const auto p = attention::synthetic_problem<double>(shape, 45, LayoutKind::contiguous, 1.0, 6, comm.rank(),
                                                          comm.size());
  for (MhaVariant v : {MhaVariant::ring, MhaVariant::allgather, MhaVariant::ulysses}) {
    attention::MhaOptions o;
    o.variant = v;
    o.causal = true;
    o.scale = 0.3;
    o.tiles = {4, 8};
    const auto one = attention::mha_attention(comm, p, o);
    o.threads = 2;
    const auto two = attention::mha_attention(comm, p, o);
    ASSERT_EQ(one.size(), two.size());
    for (std::int64_t i = 0; i < one.size(); ++i) ASSERT_EQ(one.data()[i], two.data()[i]) << attention::to_string(v);
  }
}

TEST(MhaHeads, EachHeadIsBitwiseItsSingleHeadProblem) {
  // The kernel copies each head's strided Q tile and K/V block to contiguous scratch before the
  // GEMMs (mha.cpp, online_softmax.cpp). The copies change no value and no operation order: head h
  // of batch b must be bitwise the single-head attention of that head's contiguous Q, K, V, for
  // every variant and mask, GQA included.
  const auto& comm = testing_support::world();
  const HeadShape shape{2, 4, 2, 8, 6};
  const std::int64_t n = 37, g = shape.group();
  for (bool causal : {false, true})
    for (MhaVariant v : {MhaVariant::ring, MhaVariant::allgather, MhaVariant::ulysses}) {
      const LayoutKind l = v == MhaVariant::ulysses ? LayoutKind::contiguous : LayoutKind::zigzag;
      const auto p = attention::synthetic_problem<float>(shape, n, l, 2.0, 13, comm.rank(), comm.size());
      attention::MhaOptions o;
      o.variant = v;
      o.causal = causal;
      o.scale = 0.35;
      o.tiles = {4, 8};
      const auto O = attention::mha_attention(comm, p, o);
      const std::int64_t nr = p.layout_q.local_rows(comm.rank()), d = shape.d, dv = shape.dv;
      std::int64_t mismatches = 0;
      for (std::int64_t b = 0; b < shape.batch; ++b)
        for (std::int64_t h = 0; h < shape.heads; ++h) {
          Matrix<float> Qh(nr, d), Kh(nr, d), Vh(nr, dv);
          for (std::int64_t k = 0; k < nr; ++k) {
            std::copy_n(p.Q_local.row(b * nr + k) + h * d, d, Qh.row(k));
            std::copy_n(p.K_local.row(b * nr + k) + (h / g) * d, d, Kh.row(k));
            std::copy_n(p.V_local.row(b * nr + k) + (h / g) * dv, dv, Vh.row(k));
          }
          attention::AttentionProblem<float> one;
          one.shape = HeadShape{1, 1, 1, d, dv};
          one.layout_q = p.layout_q;
          one.layout_kv = p.layout_kv;
          one.Q_local = std::move(Qh);
          one.K_local = std::move(Kh);
          one.V_local = std::move(Vh);
          const auto Oh = attention::mha_attention(comm, one, o);
          for (std::int64_t k = 0; k < nr; ++k)
            for (std::int64_t c = 0; c < dv; ++c) mismatches += Oh(k, c) != O(b * nr + k, h * dv + c);
        }
      EXPECT_EQ(mismatches, 0) << attention::to_string(v) << (causal ? " causal" : "");
    }
}
