// The sparsify benchmark case (sparsify/case.hpp) at 1-4 ranks, as the harness drives it:
// set-up errors agreed on every rank before anything runs (bad parameters: exit 2; d < n from the
// generator: 2; rank-deficient X: 3), verdicts (bss VALID with its invariants; leverage VALID with
// sum tau = n; a leverage window miss INVALID with its probability note), and the archive datasets
// (/output/columns ascending, /output/weights, /output/Y = X[:, columns] diag(weights)).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"
#include "io/hdf5_sparse.hpp"
#include "mpi_test_util.hpp"
#include "sparsify/case.hpp"
#include "sparsify/reference.hpp"
#include "test_comm.hpp"
#include "test_sparsify_common.hpp"

using namespace attnbench;
using namespace attnbench::sparsify;
using namespace attnbench::sparsify_test;

namespace {

CaseConfig config(Method m, std::int64_t n = 12, std::int64_t d = 777) {
  CaseConfig c;
  c.params.method = m;
  c.synthetic = SyntheticSpec{.n = n, .d = d, .r = 0.08, .density = 1.0, .coherence = 0.0, .seed = 5};
  c.params.seed = 5;
  return c;
}

int setup_code(const dist::Comm& comm, const CaseConfig& c) {
  double s = 0, io = 0;
  try {
    make_sparsify_case(comm, c, s, io);
  } catch (const Error& e) {
    return static_cast<int>(e.code());
  }
  return 0;
}

TEST(SparsifyCase, SetupErrorsAreAgreedWithTheirExitCodes) {
  const auto& comm = testing_support::world();
  CaseConfig c = config(Method::leverage);
  c.synthetic.d = c.synthetic.n - 1;
  EXPECT_EQ(setup_code(comm, c), 2);  // d < n
  c = config(Method::bss);
  c.params.gamma = 1.0;
  EXPECT_EQ(setup_code(comm, c), 2);
  c = config(Method::leverage);
  c.params.eps = 1.0;
  EXPECT_EQ(setup_code(comm, c), 2);
  c = config(Method::leverage);
  c.params.delta = 0.0;
  EXPECT_EQ(setup_code(comm, c), 2);
  c = config(Method::leverage);
  c.synthetic.r = 1.5;
  EXPECT_EQ(setup_code(comm, c), 2);
  // Rank-deficient: a density so low that some rows of X are zero.
  c = config(Method::bss, 12, 20);
  c.params.gamma = 1.5;  // within bss's range: ceil(gamma n) = 18 <= d = 20 (check_sizes)
  c.synthetic.density = 0.01;
  EXPECT_EQ(setup_code(comm, c), 3);
  // Missing input file.
  c = config(Method::leverage);
  c.input = "/nonexistent/X.h5";
  EXPECT_EQ(setup_code(comm, c), 3);
}

TEST(SparsifyCase, VerdictsAndArchiveDatasets) {
  const auto& comm = testing_support::world();
  testing_support::ScratchDir dir(comm);
  for (Method m : {Method::bss, Method::leverage, Method::leverage_sketch, Method::uniform, Method::gaussian}) {
    for (Precision prec : {Precision::double_, Precision::single}) {
      CaseConfig c = config(m);
      c.precision = prec;
      if (m != Method::bss) c.params.eps = 0.9;
      double s = 0, io = 0;
      ProblemInfo info;
      auto kase = make_sparsify_case(comm, c, s, io, &info);
      EXPECT_EQ(info.nnz, c.synthetic.n * c.synthetic.d);
      EXPECT_NEAR(info.r, c.synthetic.r, 1e-6);
      harness::PhaseTimes ph;
      kase->run(ph);
      kase->run(ph);  // repetitions give the same result
      EXPECT_GT(ph.size(), 0u);
      const harness::Validation v = kase->validate();
      const std::string what = to_string(m) + " " + to_string(prec);
      EXPECT_TRUE(v.valid) << what << " low " << v.errors.at("spectral_low") << " high " << v.errors.at("spectral_high");
      EXPECT_LE(v.errors.at("attention_error"), v.errors.at("attention_bound")) << what;
      if (m == Method::bss) {
        EXPECT_EQ(v.errors.at("max_invariant_violation"), 0.0);
      }
      if (m == Method::leverage) {
        EXPECT_NEAR(v.errors.at("score_sum"), 12.0, 1e-8);
      }
      if (m == Method::leverage_sketch) {
        // Default m: scaled by the oversampling factor, which the measured need stays within.
        EXPECT_GT(info.oversample, 1.0) << what;
        EXPECT_DOUBLE_EQ(info.oversample, info.oversample_jl * info.oversample_embedding) << what;
        EXPECT_EQ(info.m, samples(c.params, 12, 777)) << what;
        EXPECT_DOUBLE_EQ(v.errors.at("oversample"), info.oversample) << what;
        EXPECT_GE(v.errors.at("score_factor"), 1.0 - 1e-9) << what;
        EXPECT_LE(v.errors.at("score_factor"), info.oversample) << what;
        EXPECT_EQ(v.notes.count("score_factor"), 0u) << what;
      } else {
        EXPECT_EQ(info.oversample, 0.0) << what;
      }
      EXPECT_GT(kase->work().flops + (m == Method::uniform ? 1 : 0), 0.0);
      // Archive datasets, read back.
      const std::string path = dir.file("out-" + to_string(m) + "-" + to_string(prec) + ".h5");  // create is exclusive
      {
        io::File f = io::File::create(comm, path);
        kase->write_datasets(f, true);
      }
      comm.barrier();
      const io::File f = io::File::open_read(comm, path);
      const auto cols_shape = f.shape("/output/columns");
      const std::int64_t kept = cols_shape.dims[0];
      const auto cols = io::read_1d<std::int64_t>(comm, f, "/output/columns", 0, kept);
      const auto w = io::read_1d<double>(comm, f, "/output/weights", 0, kept);
      EXPECT_TRUE(std::is_sorted(cols.begin(), cols.end())) << what;
      EXPECT_EQ(static_cast<std::int64_t>(v.counts.at("columns_kept")), kept) << what;
      const auto Yshape = f.shape("/output/Y");
      ASSERT_EQ(Yshape.dims.size(), 2u);
      const auto Y = io::read_block<double>(comm, f, "/output/Y", 0, Yshape.dims[0], 0, Yshape.dims[1]);
      if (m == Method::gaussian) {
        EXPECT_EQ(kept, 0);
        EXPECT_EQ(Yshape.dims[1], info.m);
      } else {
        ASSERT_EQ(Yshape.dims[1], kept) << what;
        const auto X = whole(comm, c.synthetic);
        double err = 0.0;
        const double tol = prec == Precision::single ? 1e-6 : 1e-15;
        for (std::int64_t i = 0; i < X.rows(); ++i)
          for (std::int64_t a = 0; a < kept; ++a)
            err = std::max(err, std::abs(Y(i, a) - X(i, cols[static_cast<std::size_t>(a)]) * w[static_cast<std::size_t>(a)]));
        EXPECT_LE(err, tol) << what;
      }
    }
  }
}

TEST(SparsifyCase, LeverageWindowMissIsInvalidWithItsProbability) {
  const auto& comm = testing_support::world();
  CaseConfig c = config(Method::leverage, 16, 2000);
  c.params.m = 20;  // far too few samples for eps = 0.1
  c.params.eps = 0.1;
  double s = 0, io = 0;
  auto kase = make_sparsify_case(comm, c, s, io);
  harness::PhaseTimes ph;
  kase->run(ph);
  const auto v = kase->validate();
  EXPECT_FALSE(v.valid);
  ASSERT_TRUE(v.notes.count("window"));
  EXPECT_NE(v.notes.at("window").find("probability at most delta"), std::string::npos);
}

}  // namespace
