// The regress kernel's Case end to end without the command line (1-4 ranks): a planted run that
// converges and validates, a run that does not converge (INVALID), the archive datasets, input
// files (read back, shape mismatches, NaN, missing datasets, bad X0), the memory budget and the
// node's memory (does-not-fit, exit code 6), bad option values and options the chosen solver would
// ignore - every error identical on every rank.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"
#include "mpi_test_util.hpp"
#include "regress/case.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using namespace attnbench::regress;
using testing_support::world;

namespace {

RegressConfig small_config() {
  RegressConfig cfg;
  cfg.planted.n = 48;
  cfg.planted.d = 3;
  cfg.planted.init_distance = 0.002;
  cfg.solve.tolerance = 1e-10;
  cfg.solve.max_iter = 30;
  cfg.tile = 8;
  return cfg;
}

struct Made {
  std::unique_ptr<harness::Case> c;
  ProblemInfo info;
};
Made make(const RegressConfig& cfg) {
  Made m;
  double setup = 0.0, io = 0.0;
  m.c = make_regress_case(world(), cfg, m.info, setup, io);
  return m;
}

// The exit code of the error make() throws (0: none); every rank must see the same.
int error_code(const RegressConfig& cfg, std::string* message = nullptr) {
  try {
    make(cfg);
  } catch (const Error& e) {
    if (message) *message = e.what();
    return static_cast<int>(e.code());
  }
  return 0;
}

TEST(RegressCase, PlantedRunConvergesValidatesAndArchives) {
  for (const char* algo : {"newton", "alternating"}) {
    RegressConfig cfg = small_config();
    cfg.solve.algorithm = parse_algorithm(algo);
    if (cfg.solve.algorithm == Algorithm::alternating) cfg.solve.max_iter = 400;
    Made m = make(cfg);
    EXPECT_EQ(m.info.hessian_order, 18);
    EXPECT_EQ(m.info.scale_rule, "value");
    harness::PhaseTimes phases;
    m.c->run(phases);
    m.c->run(phases);  // repetitions restart from x0
    for (const char* p : {"forward", "gradient", "hessian", "reduce", "solve"}) EXPECT_TRUE(phases.count(p)) << p;
    const harness::Validation v = m.c->validate();
    if (world().is_root()) std::printf("%s: %s\n", algo, m.c->summary(v).c_str());
    EXPECT_TRUE(v.valid) << algo;
    EXPECT_EQ(v.counts.at("converged"), 1);
    EXPECT_LE(v.errors.at("grad_check_error"), 1e-6);
    EXPECT_LT(v.errors.at("x_rel_error"), 1e-8);
    EXPECT_LT(v.errors.at("y_rel_error"), 1e-8);
    // After a run the work model counts that run's evaluations by kind (and one solve per iteration).
    EXPECT_GT(m.c->work().flops, 0.0) << algo;
    EXPECT_NE(m.c->work().formula.find("counted"), std::string::npos) << algo;
    EXPECT_GT(m.c->buffer_bytes(), 0);

    testing_support::ScratchDir dir(world());
    const std::string path = dir.file("run.h5");
    {
      io::File f = io::File::create(world(), path);
      m.c->write_datasets(f, false);
    }
    const io::File f = io::File::open_read(world(), path);
    for (const char* ds : {"/output/X", "/output/Y", "/planted/X", "/planted/Y"}) {
      ASSERT_TRUE(f.has_dataset(ds)) << ds;
      EXPECT_EQ(f.shape(ds).dims, (std::vector<std::int64_t>{3, 3})) << ds;
    }
    const std::int64_t rows = v.counts.at("iterations") + 1;
    for (const char* h : {"loss", "grad_norm", "step_norm", "lambda", "accepted", "cholesky_info", "t_forward",
                          "t_gradient", "t_hessian", "t_reduce", "t_solve"}) {
      const std::string ds = std::string("/history/") + h;
      ASSERT_TRUE(f.has_dataset(ds)) << ds;
      EXPECT_EQ(f.shape(ds).dims, std::vector<std::int64_t>{rows}) << ds << ": every history column is 1-D";
    }
    std::vector<double> loss(static_cast<std::size_t>(rows));
    f.read_axis_rows<double>("/history/loss", 0, {io::AxisSlab{0, 1, 1, rows}}, rows, loss.data());
    EXPECT_LT(loss.back(), 1e-15 * loss.front());
    const Matrix<double> X = f.read_rows<double>("/output/X", 0, 3, 3), Xs = f.read_rows<double>("/planted/X", 0, 3, 3);
    double num = 0.0, den = 0.0;
    for (std::int64_t i = 0; i < 9; ++i) {
      num += std::pow(X.data()[i] - Xs.data()[i], 2);
      den += std::pow(Xs.data()[i], 2);
    }
    EXPECT_NEAR(std::sqrt(num / den), v.errors.at("x_rel_error"), 1e-12);
  }
}

TEST(RegressCase, ScalapackSolverRunConvergesAndValidates) {
  RegressConfig cfg = small_config();
  cfg.solver = SolverKind::scalapack;
  cfg.block = 4;
  Made m = make(cfg);
  EXPECT_EQ(m.info.solver.rfind("scalapack-", 0), 0u) << m.info.solver;
  harness::PhaseTimes phases;
  m.c->run(phases);
  const harness::Validation v = m.c->validate();
  EXPECT_TRUE(v.valid);
  EXPECT_LT(v.errors.at("x_rel_error"), 1e-8);
  EXPECT_EQ(v.notes.at("solver"), m.info.solver);
  // A grid that does not match the rank count is a usage error on every rank.
  cfg.grid = std::to_string(world().size() + 1) + "x1";
  EXPECT_EQ(error_code(cfg), 2);
  cfg.grid.clear();
  try {
    parse_solver("magma");
    ADD_FAILURE() << "--solver magma accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("'replicated' or 'scalapack'"), std::string::npos) << e.what();
  }
}

// --grid and --block shape the scalapack solver only: with the replicated solver they would be
// ignored, so they are usage errors naming the option and --solver scalapack (before anything is
// allocated), whether or not the grid is possible on these ranks.
TEST(RegressCase, GridAndBlockWithoutTheScalapackSolverAreUsageErrors) {
  RegressConfig cfg = small_config();
  std::string msg;
  for (const std::string& grid : {std::string("1x") + std::to_string(world().size()),
                                  std::to_string(world().size() + 2) + "x1"}) {
    cfg.grid = grid;
    EXPECT_EQ(error_code(cfg, &msg), 2) << grid;
    EXPECT_NE(msg.find("--grid " + grid + " needs --solver scalapack"), std::string::npos) << msg;
  }
  cfg.grid.clear();
  cfg.block = 8;
  EXPECT_EQ(error_code(cfg, &msg), 2);
  EXPECT_NE(msg.find("--block 8 needs --solver scalapack"), std::string::npos) << msg;
  cfg.solver = SolverKind::scalapack;
  EXPECT_EQ(error_code(cfg), 0);
  cfg.block = 0;
  EXPECT_EQ(error_code(cfg), 2);
}

TEST(RegressCase, NotConvergedIsInvalid) {
  RegressConfig cfg = small_config();
  cfg.solve.algorithm = Algorithm::gd;
  cfg.solve.max_iter = 3;
  cfg.planted.init_distance = 0.1;
  Made m = make(cfg);
  harness::PhaseTimes phases;
  m.c->run(phases);
  const harness::Validation v = m.c->validate();
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.counts.at("converged"), 0);
  EXPECT_EQ(v.counts.at("iterations"), 3);
  EXPECT_LE(v.errors.at("grad_check_error"), 1e-6);  // the derivatives are right; only convergence failed

  // The same with --fixed-iterations: exactly max_iter iterations, VALID from the derivative checks.
  cfg.solve.fixed_iterations = true;
  cfg.solve.algorithm = Algorithm::newton;
  cfg.planted.init_distance = 0.002;
  cfg.solve.max_iter = 6;  // converges in about 3: the rest still run
  Made f = make(cfg);
  f.c->run(phases);
  const harness::Validation vf = f.c->validate();
  EXPECT_TRUE(vf.valid);
  EXPECT_EQ(vf.counts.at("iterations"), 6);
  EXPECT_EQ(vf.counts.at("converged"), 1);
  // The work model of a fixed-iteration newton run: 1 + max_iter joint-Hessian evaluations (each
  // trial point is evaluated with its Hessian) and max_iter solves of order 2 d^2.
  EXPECT_EQ(vf.counts.at("evaluations_hessian"), 7);
  const double n = 48, d = 3;
  const double hj = 4 * n * n * d + 2 * n * d * d + 6 * n * n * d + 6 * n * d * d + 6 * n * n * d * d + 6 * n * std::pow(d, 4);
  EXPECT_NEAR(f.c->work().flops, 7 * hj + 6 * std::pow(2 * d * d, 3) / 3.0, 1e-9 * hj);
}

TEST(RegressCase, BadOptionsAreUsageErrors) {
  auto code = [](auto mutate) {
    RegressConfig cfg = small_config();
    mutate(cfg);
    return error_code(cfg);
  };
  EXPECT_EQ(code([](RegressConfig& c) { c.solve.tolerance = 0.0; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.solve.tolerance = -1e-3; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.solve.max_iter = 0; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.planted.d = 0; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.planted.noise = std::numeric_limits<double>::quiet_NaN(); }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.scale_text = "fast"; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.scale_text = "-1"; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.single_precision = true; }), 2);
  EXPECT_EQ(code([](RegressConfig& c) { c.scale_text = "1/d"; }), 0);
}

TEST(RegressCase, HessianOverTheMemoryBudgetDoesNotFit) {
  RegressConfig cfg = small_config();
  cfg.planted.d = 48;  // Hessian 4608 x 4608 = 162 MiB
  cfg.memory_budget = std::int64_t(64) << 20;
  std::string msg;
  EXPECT_EQ(error_code(cfg, &msg), 6);
  EXPECT_NE(msg.find("2 d^2 x 2 d^2 = 4608 x 4608"), std::string::npos) << msg;
  EXPECT_NE(msg.find("largest d that fits is"), std::string::npos) << msg;
  EXPECT_NE(msg.find("64.00 MiB"), std::string::npos) << msg;
  // The d it names does fit.
  const auto pos = msg.find("fits is ") + 8;
  const std::int64_t dfit = std::stoll(msg.substr(pos));
  EXPECT_LE(footprint_bytes(48, dfit, world().size(), cfg.tile), cfg.memory_budget);
  EXPECT_GT(footprint_bytes(48, dfit + 1, world().size(), cfg.tile), cfg.memory_budget);
}

// Within the budget but beyond the node: a synthetic size is exit 6 naming the bytes and the node;
// the footprint of the largest options saturates instead of wrapping to a small number.
TEST(RegressCase, SyntheticSizeOverTheNodeDoesNotFit) {
  RegressConfig cfg = small_config();
  cfg.planted.n = std::int64_t(1) << 40;
  cfg.memory_budget = std::numeric_limits<std::int64_t>::max();
  std::string msg;
  EXPECT_EQ(error_code(cfg, &msg), 6);
  EXPECT_NE(msg.find("regress --n 1099511627776"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the node has"), std::string::npos) << msg;
  EXPECT_EQ(footprint_bytes(std::int64_t(1) << 40, 4096, 1, 1 << 20), std::numeric_limits<std::int64_t>::max());
}

// ---- input files -----------------------------------------------------------------------------------

void write_matrix(io::File& f, const std::string& name, const Matrix<double>& all) {
  // Rank 0 writes everything (collective call; the others contribute no rows).
  Matrix<double> local(world().is_root() ? all.rows() : 0, all.cols());
  if (world().is_root()) std::copy(all.data(), all.data() + all.size(), local.data());
  f.write_rows(name, all.rows(), all.cols(), 0, local);
}

Matrix<double> gathered(const RegressData<double>& D, const Matrix<double>& local) {
  return testing_support::gather_all_rows(world(), D.layout, local, D.d);
}

TEST(RegressCase, InputFileRunsAndBadFilesAreInputErrors) {
  PlantedSpec spec;
  spec.n = 30;
  spec.d = 2;
  spec.init_distance = 0.002;
  const Instance<double> inst = make_planted<double>(world(), spec);
  const Matrix<double> A1 = gathered(inst.data, inst.data.A1), B = gathered(inst.data, inst.data.B);
  Matrix<double> X0(2, 2), Y0(2, 2), bad(3, 2);
  std::copy(inst.x0.begin(), inst.x0.begin() + 4, X0.data());
  std::copy(inst.x0.begin() + 4, inst.x0.end(), Y0.data());
  testing_support::ScratchDir dir(world());

  auto write_file = [&](const std::string& name, auto edit) {
    const std::string path = dir.file(name);
    io::File f = io::File::create(world(), path);
    std::map<std::string, Matrix<double>> ds{{"/A1", A1}, {"/A2", inst.data.A2}, {"/A3", inst.data.A3}, {"/B", B},
                                             {"/X0", X0}, {"/Y0", Y0}};
    edit(ds);
    for (const auto& [k, m] : ds) write_matrix(f, k, m);
    return path;
  };
  RegressConfig cfg = small_config();
  cfg.input = write_file("good.h5", [](auto&) {});
  Made m = make(cfg);
  EXPECT_EQ(m.info.n, 30);
  EXPECT_EQ(m.info.d, 2);
  EXPECT_FALSE(m.info.planted);
  harness::PhaseTimes phases;
  m.c->run(phases);
  const harness::Validation v = m.c->validate();
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.errors.count("x_rel_error"), 0u);
  EXPECT_LT(v.errors.at("final_loss"), 1e-20);  // the file holds a planted instance: zero loss is reachable

  std::string msg;
  cfg.input = write_file("b-short.h5", [&](auto& ds) { ds["/B"] = Matrix<double>(29, 2); });
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("/B is 29 x 2"), std::string::npos) << msg;
  cfg.input = write_file("a2-wide.h5", [&](auto& ds) { ds["/A2"] = Matrix<double>(30, 3); });
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("/A2"), std::string::npos) << msg;
  cfg.input = write_file("x0.h5", [&](auto& ds) { ds["/X0"] = bad; });
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("/X0 is 3 x 2"), std::string::npos) << msg;
  cfg.input = write_file("nan.h5", [&](auto& ds) { ds["/A3"](29, 1) = std::numeric_limits<double>::quiet_NaN(); });
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("/A3"), std::string::npos) << msg;
  cfg.input = write_file("inf.h5", [&](auto& ds) { ds["/B"](29, 0) = std::numeric_limits<double>::infinity(); });
  EXPECT_EQ(error_code(cfg, &msg), 3);  // the last row lives on the last non-empty rank only
  EXPECT_NE(msg.find("/B"), std::string::npos) << msg;
  cfg.input = write_file("no-a3.h5", [&](auto& ds) { ds.erase("/A3"); });
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("no dataset /A3"), std::string::npos) << msg;
  cfg.input = dir.file("missing.h5");
  EXPECT_EQ(error_code(cfg, &msg), 3);
  EXPECT_NE(msg.find("missing.h5"), std::string::npos) << msg;
}

}  // namespace
