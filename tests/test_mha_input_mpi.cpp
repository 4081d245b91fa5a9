// Multi-head HDF5 inputs: /Q (B, n, H, d), /K (B, n_k, Hkv, d), /V (B, n_k, Hkv, dv),
// and the 3-D (n, H, d) and 2-D (n, d) cases, read by attention::read_attention_input at 1-4 ranks and moved
// by to_layout into each rank's tokens of every layout (contiguous, striped, zigzag), as the kernel
// reads them: the tokens equal the synthetic
// generator's (n not divisible by p or 2p, p > n, grouped-query heads, cross-attention shapes, the
// other precision); files written by plain serial HDF5 (contiguous storage, float32) read as
// expected; exact attention on a file equals the synthetic run bit for bit (ring, allgather,
// ulysses, causal); and every bad file is one Error(input) naming the file and the dataset, with
// the same message on every rank.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/problem.hpp"
#include "core/error.hpp"
#include "attention/input/input.hpp"
#include "mpi_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using attention::HeadShape;
using attention::LayoutKind;
using attention::AttentionProblem;
using attention::SequenceLayout;
using testing_support::ScratchDir;

namespace {

// The file's problem under `kind` as the attention kernel reads it: contiguous blocks, then to_layout.
template <class U>
AttentionProblem<U> read_under(const std::string& path, LayoutKind kind, attention::InputInfo* info = nullptr) {
  const auto& comm = testing_support::world();
  auto p = attention::read_attention_input<U>(comm, path, info);
  attention::to_layout(comm, p, kind);
  return p;
}

constexpr LayoutKind kLayouts[] = {LayoutKind::contiguous, LayoutKind::striped, LayoutKind::zigzag};

// The synthetic problem with possibly different query and key counts (cross attention).
template <class T>
AttentionProblem<T> synthetic(const HeadShape& s, std::int64_t nq, std::int64_t nk, LayoutKind kind, std::uint64_t seed,
                        const dist::Comm& comm) {
  AttentionProblem<T> p;
  p.shape = s;
  p.layout_q = SequenceLayout(kind, nq, comm.size());
  p.layout_kv = SequenceLayout(kind, nk, comm.size());
  const int r = comm.rank();
  p.Q_local = attention::synthetic_tokens<T>(seed, Stream::Q, p.layout_q, r, s.batch, s.heads, s.d, 2.0);
  p.K_local = attention::synthetic_tokens<T>(seed, Stream::K, p.layout_kv, r, s.batch, s.kv_heads, s.d, 2.0);
  p.V_local = attention::synthetic_tokens<T>(seed, Stream::V, p.layout_kv, r, s.batch, s.kv_heads, s.dv, 2.0);
  return p;
}

// Entries where got != static_cast<U>(want); -1 when the shapes differ.
template <class U, class T>
std::int64_t mismatches(const Matrix<U>& got, const Matrix<T>& want) {
  if (got.rows() != want.rows() || got.cols() != want.cols()) return -1;
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < got.size(); ++i) bad += got.data()[i] != static_cast<U>(want.data()[i]) ? 1 : 0;
  return bad;
}

struct Shape {
  std::int64_t batch, nq, nk, heads, kv_heads, d, dv;
};

std::string label(const Shape& s, LayoutKind w, LayoutKind r, const dist::Comm& comm) {
  return "B=" + std::to_string(s.batch) + " nq=" + std::to_string(s.nq) + " nk=" + std::to_string(s.nk) +
         " H=" + std::to_string(s.heads) + " Hkv=" + std::to_string(s.kv_heads) + " d=" + std::to_string(s.d) +
         " dv=" + std::to_string(s.dv) + " written " + attention::to_string(w) + ", read " + attention::to_string(r) +
         ", rank " + std::to_string(comm.rank()) + "/" + std::to_string(comm.size());
}

// Written (as T) under one layout, read (as U) under every layout: each rank's tokens are exactly
// the synthetic generator's for that layout.
template <class T, class U>
void round_trip(const ScratchDir& dir, const Shape& s, LayoutKind written) {
  const auto& comm = testing_support::world();
  const HeadShape hs{s.batch, s.heads, s.kv_heads, s.d, s.dv};
  const std::string path = dir.file("rt_" + std::to_string(sizeof(T)) + std::to_string(sizeof(U)) + "_" +
                                    std::to_string(s.batch) + "_" + std::to_string(s.nq) + "_" + std::to_string(s.nk) +
                                    "_" + std::to_string(s.heads) + "_" + attention::to_string(written) + ".h5");
  attention::write_attention_input(comm, path, synthetic<T>(hs, s.nq, s.nk, written, 7, comm), 4);
  for (LayoutKind kind : kLayouts) {
    const std::string what = label(s, written, kind, comm);
    attention::InputInfo info;
    const auto got = read_under<U>(path, kind, &info);
    const auto want = synthetic<T>(hs, s.nq, s.nk, kind, 7, comm);
    EXPECT_EQ(got.shape.batch, s.batch) << what;
    EXPECT_EQ(got.shape.heads, s.heads) << what;
    EXPECT_EQ(got.shape.kv_heads, s.kv_heads) << what;
    EXPECT_EQ(got.shape.d, s.d) << what;
    EXPECT_EQ(got.shape.dv, s.dv) << what;
    EXPECT_EQ(got.layout_q, want.layout_q) << what;
    EXPECT_EQ(got.layout_kv, want.layout_kv) << what;
    EXPECT_EQ(got.source, path) << what;
    EXPECT_EQ(mismatches(got.Q_local, want.Q_local), 0) << what;
    EXPECT_EQ(mismatches(got.K_local, want.K_local), 0) << what;
    EXPECT_EQ(mismatches(got.V_local, want.V_local), 0) << what;
    EXPECT_EQ(info.dims, 4) << what;
    EXPECT_EQ(info.n_q, s.nq) << what;
    EXPECT_EQ(info.n_kv, s.nk) << what;
    EXPECT_EQ(info.dtype, sizeof(T) == 4 ? "float32" : "float64") << what;
  }
}

const std::vector<Shape> kShapes = {
    {2, 23, 23, 4, 2, 6, 5},  // GQA, n not divisible by 2p for p = 2, 3, 4
    {1, 2, 2, 3, 1, 2, 2},    // p > n at 3 and 4 ranks
    {3, 7, 7, 2, 2, 3, 4},    // B = 3, dv != d
    {1, 5, 11, 2, 1, 3, 2},   // cross attention: n_q != n_k
};

TEST(MhaInput, RoundTripEveryLayoutDouble) {
  ScratchDir dir(testing_support::world());
  std::size_t k = 0;
  for (const Shape& s : kShapes) round_trip<double, double>(dir, s, kLayouts[k++ % 3]);
}

TEST(MhaInput, RoundTripEveryLayoutFloat) {
  ScratchDir dir(testing_support::world());
  std::size_t k = 1;
  for (const Shape& s : kShapes) round_trip<float, float>(dir, s, kLayouts[k++ % 3]);
}

TEST(MhaInput, ReadInTheOtherPrecision) {
  ScratchDir dir(testing_support::world());
  round_trip<float, double>(dir, kShapes[0], LayoutKind::contiguous);  // exact widening
}

// ---- files written by plain serial HDF5 (rank 0), as other tools write them --------------------------
struct Dataset {
  std::string name;
  std::vector<hsize_t> dims;
  hid_t type = H5T_NATIVE_DOUBLE;  // stored type (converted from the double values)
  std::function<double(std::int64_t)> value = [](std::int64_t i) { return 0.001 * static_cast<double>(i % 997); };
  bool allocate_only = false;       // chunked, never written: declared dimensions without data
};

// Rank 0 writes the datasets with contiguous storage (or chunked, unwritten); every rank waits.
void write_serial(const dist::Comm& comm, const std::string& path, const std::vector<Dataset>& datasets) {
  int ok = 1;
  if (comm.is_root()) {
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0;
    for (const Dataset& ds : datasets) {
      if (!ok) break;
      hid_t space = H5Screate_simple(static_cast<int>(ds.dims.size()), ds.dims.data(), nullptr);
      hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      if (ds.allocate_only) {
        std::vector<hsize_t> chunk(ds.dims);
        for (hsize_t& c : chunk) c = std::min<hsize_t>(c, 1024);
        H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
      }
      hid_t d = H5Dcreate2(f, ds.name.c_str(), ds.type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      ok = d >= 0;
      if (ok && !ds.allocate_only) {
        hsize_t n = 1;
        for (hsize_t e : ds.dims) n *= e;
        std::vector<double> v(n);
        for (hsize_t i = 0; i < n; ++i) v[i] = ds.value(static_cast<std::int64_t>(i));
        if (n > 0) ok = H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0;
      }
      if (d >= 0) H5Dclose(d);
      H5Pclose(dcpl);
      H5Sclose(space);
    }
    if (f >= 0) H5Fclose(f);
  }
  comm.bcast(std::span<int>(&ok, 1), 0);
  ASSERT_EQ(ok, 1) << "could not write " << path;  // agreed value: every rank returns together
}

// A 3-D (n, H, d) float32 file is B = 1; a 2-D (n, d) one is B = H = Hkv = 1; entry values are a
// function of the flat index, so each rank's tokens can be checked one by one.
TEST(MhaInput, ThreeAndTwoDimensionalFiles) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  auto val = [](std::int64_t i) { return 0.5 * static_cast<double>(i % 1013) - 7.0; };  // exact in float
  struct Case {
    std::vector<hsize_t> q, k, v;
    std::int64_t heads, kv_heads;
  };
  const std::vector<Case> cases = {{{9, 4, 3}, {9, 2, 3}, {9, 2, 5}, 4, 2}, {{2, 2, 2}, {2, 1, 2}, {2, 1, 2}, 2, 1},
                                   {{11, 3}, {11, 3}, {11, 2}, 1, 1}};
  int idx = 0;
  for (const Case& c : cases) {
    const std::string path = dir.file("nd" + std::to_string(idx++) + ".h5");
    write_serial(comm, path,
                 {{"/Q", c.q, H5T_NATIVE_FLOAT, val}, {"/K", c.k, H5T_NATIVE_FLOAT, val}, {"/V", c.v, H5T_NATIVE_FLOAT, val}});
    for (LayoutKind kind : kLayouts) {
      attention::InputInfo info;
      const auto p = read_under<double>(path, kind, &info);
      const std::string what = path + " " + attention::to_string(kind) + " rank " + std::to_string(comm.rank());
      EXPECT_EQ(info.dims, static_cast<int>(c.q.size())) << what;
      EXPECT_EQ(info.dtype, "float32") << what;
      EXPECT_EQ(p.shape.batch, 1) << what;
      EXPECT_EQ(p.shape.heads, c.heads) << what;
      EXPECT_EQ(p.shape.kv_heads, c.kv_heads) << what;
      EXPECT_EQ(p.shape.d, static_cast<std::int64_t>(c.q.back())) << what;
      EXPECT_EQ(p.shape.dv, static_cast<std::int64_t>(c.v.back())) << what;
      // Local token k of this rank is file row position(r, k): its H d values follow in the file.
      auto check = [&](const Matrix<double>& m, const SequenceLayout& lay, const char* name) {
        std::int64_t bad = 0;
        for (std::int64_t k = 0; k < lay.local_rows(comm.rank()); ++k)
          for (std::int64_t e = 0; e < m.cols(); ++e)
            bad += m(k, e) != val(lay.position(comm.rank(), k) * m.cols() + e) ? 1 : 0;
        EXPECT_EQ(m.rows(), lay.local_rows(comm.rank())) << what << " " << name;
        EXPECT_EQ(bad, 0) << what << " " << name;
      };
      check(p.Q_local, p.layout_q, "/Q");
      check(p.K_local, p.layout_kv, "/K");
      check(p.V_local, p.layout_kv, "/V");
    }
  }
}

// ---- exact attention from a file equals the synthetic run ---------------------------------------
TEST(MhaInput, AttentionOnTheFileEqualsTheSyntheticRun) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  const HeadShape s{2, 4, 2, 5, 3};
  const std::int64_t n = 19;
  const std::string path = dir.file("same.h5");
  attention::write_attention_input(comm, path, synthetic<double>(s, n, n, LayoutKind::contiguous, 11, comm), 4);
  struct Run {
    attention::MhaVariant variant;
    LayoutKind layout;
    bool causal;
  };
  for (const Run& run : {Run{attention::MhaVariant::ring, LayoutKind::zigzag, true},
                         Run{attention::MhaVariant::ring, LayoutKind::contiguous, false},
                         Run{attention::MhaVariant::allgather, LayoutKind::striped, true},
                         Run{attention::MhaVariant::ulysses, LayoutKind::contiguous, true}}) {
    attention::MhaOptions o;
    o.variant = run.variant;
    o.causal = run.causal;
    o.scale = 0.4;
    o.tiles = {4, 3};
    const auto from_file = read_under<double>(path, run.layout);
    const auto synth = synthetic<double>(s, n, n, run.layout, 11, comm);
    const Matrix<double> O_file = attention::mha_attention(comm, from_file, o);
    const Matrix<double> O_synth = attention::mha_attention(comm, synth, o);
    EXPECT_EQ(mismatches(O_file, O_synth), 0)
        << attention::to_string(run.variant) << " " << attention::to_string(run.layout) << " causal " << run.causal
        << " rank " << comm.rank();
  }
}

// ---- bad files: one agreed Error(input) naming the file and the dataset ---------------------------
void expect_input_error(const std::string& path, const std::vector<std::string>& needles, LayoutKind kind,
                        const std::string& label) {
  const auto& comm = testing_support::world();
  int threw = 0;
  std::string message;
  try {
    (void)read_under<double>(path, kind);
  } catch (const Error& e) {
    threw = 1;
    message = e.what();
    EXPECT_EQ(e.code(), ExitCode::input) << label << ": " << message;
  }
  EXPECT_EQ(threw, 1) << label << ": no error on rank " << comm.rank();
  EXPECT_NE(message.find(path), std::string::npos) << label << ": " << message;
  for (const std::string& n : needles) EXPECT_NE(message.find(n), std::string::npos) << label << ": " << message;
  std::string root_message = message;
  comm.bcast(root_message, 0);
  EXPECT_EQ(message, root_message) << label << ": messages differ between ranks";
}

TEST(MhaInput, BadFilesAreOneAgreedInputError) {
  const auto& comm = testing_support::world();
  ScratchDir dir(comm);
  using D = std::vector<hsize_t>;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const hsize_t n = 13;  // the last token is read by the last rank of every layout only
  auto poison_at = [](std::int64_t at, double bad) {
    return [at, bad](std::int64_t i) { return i == at ? bad : 0.25; };
  };
  struct Bad {
    std::string label;
    std::vector<Dataset> datasets;
    std::vector<std::string> needles;
    LayoutKind kind = LayoutKind::contiguous;
  };
  const std::vector<Bad> cases = {
      {"5-D", {{"/Q", D{1, n, 2, 4, 1}}, {"/K", D{1, n, 2, 4}}, {"/V", D{1, n, 2, 4}}}, {"/Q", "5-D"}},
      {"1-D", {{"/Q", D{1, n, 2, 4}}, {"/K", D{n}}, {"/V", D{1, n, 2, 4}}}, {"/K", "1-D"}},
      {"dims differ", {{"/Q", D{1, n, 2, 4}}, {"/K", D{n, 2, 4}}, {"/V", D{1, n, 2, 4}}}, {"/K", "3-D", "/Q is 4-D"}},
      {"B differs", {{"/Q", D{2, n, 2, 4}}, {"/K", D{3, n, 2, 4}}, {"/V", D{2, n, 2, 4}}}, {"/K", "batch B = 3"}},
      {"d differs", {{"/Q", D{1, n, 2, 4}}, {"/K", D{1, n, 2, 5}}, {"/V", D{1, n, 2, 4}}}, {"/K", "d (columns) = 5"}},
      {"n_k differs", {{"/Q", D{1, n, 2, 4}}, {"/K", D{1, n, 2, 4}}, {"/V", D{1, n - 1, 2, 4}}}, {"/V", "tokens n_k"}},
      {"Hkv differs", {{"/Q", D{1, n, 4, 4}}, {"/K", D{1, n, 2, 4}}, {"/V", D{1, n, 1, 4}}}, {"/V", "K/V heads Hkv"}},
      {"Hkv not dividing H", {{"/Q", D{1, n, 6, 4}}, {"/K", D{1, n, 4, 4}}, {"/V", D{1, n, 4, 4}}},
       {"/K", "Hkv = 4", "does not divide", "H = 6"}},
      {"3-D Hkv not dividing H", {{"/Q", D{n, 3, 4}}, {"/K", D{n, 2, 4}}, {"/V", D{n, 2, 4}}}, {"/K", "does not divide"}},
      {"empty extent", {{"/Q", D{1, n, 0, 4}}, {"/K", D{1, n, 1, 4}}, {"/V", D{1, n, 1, 4}}}, {"/Q", "empty extent"}},
      {"zero tokens", {{"/Q", D{1, n, 1, 4}}, {"/K", D{1, 0, 1, 4}}, {"/V", D{1, 0, 1, 4}}}, {"/K", "zero rows"}},
      {"NaN in a 2-D /K", {{"/Q", D{n, 4}}, {"/K", D{n, 4}, H5T_NATIVE_DOUBLE, poison_at(4 * 12 + 3, nan)}, {"/V", D{n, 2}}},
       {"/K", "non-finite", "row 12, column 3"}, LayoutKind::striped},
      {"integer", {{"/Q", D{1, n, 2, 4}}, {"/K", D{1, n, 2, 4}, H5T_NATIVE_INT}, {"/V", D{1, n, 2, 4}}},
       {"/K", "float32 or float64"}},
      {"missing /V", {{"/Q", D{1, n, 2, 4}}, {"/K", D{1, n, 2, 4}}}, {"missing dataset /V"}},
      // (B, n, Hkv, dv) = (2, 13, 2, 3): flat index of (b 1, token 12, head 1, column 2) = 155.
      {"NaN in the last token, striped",
       {{"/Q", D{2, n, 2, 3}}, {"/K", D{2, n, 2, 3}}, {"/V", D{2, n, 2, 3}, H5T_NATIVE_DOUBLE, poison_at(155, nan)}},
       {"/V", "non-finite", "batch 1, token 12, head 1, column 2"}, LayoutKind::striped},
      {"Inf in float32 /Q, zigzag",
       {{"/Q", D{1, n, 2, 3}, H5T_NATIVE_FLOAT, poison_at(2 * 3 * 6 + 4, inf)}, {"/K", D{1, n, 2, 3}},
        {"/V", D{1, n, 2, 3}}},
       {"/Q", "non-finite", "token 6, head 1, column 1"}, LayoutKind::zigzag},
      // 2^40 tokens of 8 heads of 64 doubles: 4 PiB declared by a tiny file.
      {"does not fit",
       {{"/Q", D{1, hsize_t{1} << 40, 8, 64}, H5T_NATIVE_DOUBLE, {}, true}, {"/K", D{1, hsize_t{1} << 40, 8, 64}, H5T_NATIVE_DOUBLE, {}, true},
        {"/V", D{1, hsize_t{1} << 40, 8, 64}, H5T_NATIVE_DOUBLE, {}, true}},
       {"/Q"}},
  };
  int idx = 0;
  for (const Bad& c : cases) {
    const std::string path = dir.file("bad" + std::to_string(idx++) + ".h5");
    write_serial(comm, path, c.datasets);
    expect_input_error(path, c.needles, c.kind, c.label);
  }
}

}  // namespace
