// KernelSpec of `attnbench solve`: options, archive keys, and the Case that runs one distributed
// Cholesky (or LU) solve per repetition and validates it HPL-style.
#include "solve/kernel.hpp"

#include <cmath>
#include <iostream>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/precision.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "grid/redistribute.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"
#include "solve/archive_contract.hpp"
#include "solve/solve.hpp"

namespace attnbench::solve {

namespace {

// Default block size (mb = nb), from the N = 4096 fp64 Cholesky sweep of bench_solve.cpp (1 and 2 ranks,
// blocks 32..256, 3 rounds, fraction of the same-run single-core GEMM rate x ranks, medians; a
// shared machine): 1 rank 0.36 / 0.48 / 0.60 / 0.64, 2 ranks (1x2) 0.19 / 0.22 / 0.35 / 0.37. 128
// and 256 are within the noise of each other and well above 32 and 64; 128 keeps twice as many
// blocks per process on large grids (load balance of the trailing updates), so it is the default.
constexpr std::int64_t kDefaultBlock = 128;

template <class T>
class SolveCase final : public harness::Case {
 public:
  SolveCase(std::unique_ptr<grid::ProcessGrid> g, Algorithm algo, grid::BlockCyclicMatrix<T> A,
            grid::BlockCyclicMatrix<T> B)
      : grid_(std::move(g)), solver_(*grid_, algo, std::move(A), std::move(B)) {}

  // A[work] := A; X := B; factor; solve. Phases: copy (restoring the inputs), factor, solve (LU:
  // p?gesv factors and solves in one call, all in `factor`).
  void run(harness::PhaseTimes& phases) override {
    const StepTimes t = solver_.run();
    phases["copy"] = t.copy;
    phases["factor"] = t.factor;
    phases["solve"] = t.solve;
  }
  harness::WorkModel work() const override {
    return {flops(solver_.algorithm(), solver_.n(), solver_.nrhs()), 0.0, flops_formula(solver_.algorithm())};
  }
  // The reference: a large square-ish single-core GEMM (what the trailing updates reach at best),
  // the same for every block size so that block sizes compare fairly.
  harness::ReferenceShapes reference_shapes() const override {
    harness::ReferenceShapes r;
    r.kernel_gemm = {metrics::GemmShape{2048, 2048, 256, false}};
    return r;
  }
  std::int64_t buffer_bytes() const override { return solver_.buffer_bytes(); }

  harness::Validation validate() override {
    const Residual r = solver_.residual();  // collective; the same numbers on every rank
    harness::Validation v;
    // HPL's check bounds the backward error only: for an A that is singular to working precision
    // it passes with an X that has no correct digit. Say so (once, rank 0; the archive keeps rcond).
    const double eps = std::numeric_limits<T>::epsilon();
    if (r.rcond < eps) {
      const std::string warning = fmt::format(
          "estimated condition number 1/rcond = {} of A exceeds 1/eps = {:.3g} ({} precision): A is singular to "
          "working precision and X may have no correct digit, although the scaled residual checks the backward error",
          r.rcond > 0 ? fmt::format("{:.3g}", 1.0 / r.rcond) : std::string("inf"), 1.0 / eps,
          to_string(precision_of<T>()));
      if (grid_->comm().is_root()) std::cerr << "attnbench: warning: solve: " << warning << std::endl;
      v.notes["condition_warning"] = warning;
    }
    v.method = "HPL scaled residual |A X - B|_inf / (|A|_inf |X|_inf N eps) against the A given, computed distributed "
               "on power-of-two scaled copies (p?gemm, p?lange); rcond estimated from the factor (p?pocon / p?gecon)";
    v.tolerance = kResidualThreshold;
    v.valid = std::isfinite(r.scaled) && r.scaled < kResidualThreshold;
    v.certified = true;
    v.primary_error = "scaled_residual";
    v.errors = {{"scaled_residual", r.scaled},
                {"residual_norm", r.residual_norm},
                {"a_norm", r.a_norm},
                {"x_norm", r.x_norm},
                {"b_norm", r.b_norm},
                {"rcond", r.rcond}};
    return v;
  }
  void write_datasets(io::File& file, bool save_output) const override {
    if (!save_output) return;
    file.ensure_group("/output");
    grid::write_block_cyclic(*grid_, file, "/output/X", solver_.solution());
  }
  std::string describe() const override {
    const auto& l = solver_.matrix().layout();
    return to_string(solver_.algorithm()) + " N=" + std::to_string(solver_.n()) +
           " nrhs=" + std::to_string(solver_.nrhs()) + " grid " + grid_->shape().to_string() +
           " block " + std::to_string(l.row_block());
  }

 private:
  std::unique_ptr<grid::ProcessGrid> grid_;  // owns the BLACS context; outlives solver_
  Solver<T> solver_;
};

template <class T>
std::unique_ptr<harness::Case> make(harness::SetupContext& ctx) {
  const dist::Comm& comm = ctx.comm;
  Algorithm algo = Algorithm::cholesky;
  grid::GridShape shape;
  dist::agree_on_success(comm, [&] {
    algo = ctx.common.algorithm.empty() ? Algorithm::cholesky : parse_algorithm(ctx.common.algorithm);
    // --grid has no default value (the squarest shape depends on the rank count).
    shape = grid::parse_grid_shape(ctx.options.has("--grid") ? ctx.options.string("--grid") : std::string(),
                                   comm.size(), "--grid");
  });
  const std::int64_t block = ctx.options.integer("--block");
  auto g = std::make_unique<grid::ProcessGrid>(comm, shape);

  grid::BlockCyclicMatrix<T> A, B;
  auto& rec = ctx.record;
  if (ctx.common.input.empty()) {
    SyntheticSpec spec;
    spec.n = ctx.options.integer("--n");
    spec.nrhs = ctx.options.integer("--nrhs");
    spec.condition = ctx.options.number("--condition");
    spec.seed = ctx.common.seed;
    // Before anything is allocated: the peak bytes of this rank against the node (exit 6, does not
    // fit: a size a study sweeps past the machine is recorded as DOES_NOT_FIT, not a failure).
    metrics::check_memory_fits(comm, footprint_bytes(shape, comm.rank(), spec.n, spec.nrhs, block, spec.k(), sizeof(T)),
                               fmt::format("solve --n {} --nrhs {} ({}, grid {}, block {})", spec.n, spec.nrhs,
                                           to_string(precision_of<T>()), shape.to_string(), block),
                               ExitCode::does_not_fit);
    const double t0 = wall_seconds();
    A = synthetic_matrix<T>(*g, spec, block);
    B = synthetic_rhs<T>(*g, spec, block);
    ctx.setup_seconds = wall_seconds() - t0;
    rec.parameters["condition"] = spec.condition;
    rec.parameters["synthetic_rank"] = spec.k();
    rec.parameters["shift"] = spec.shift();
  } else {
    const double t0 = wall_seconds();
    Problem<T> p = read_input<T>(*g, ctx.common.input, block, algo);
    ctx.io_seconds = wall_seconds() - t0;
    A = std::move(p.A);
    B = std::move(p.B);
    if (algo == Algorithm::cholesky) {
      rec.parameters["input_asymmetry"] = p.asymmetry;
      rec.parameters["asymmetry_bound"] = p.asymmetry_bound;
    }
  }
  rec.variant = algo == Algorithm::cholesky ? "potrf+potrs" : "gesv";
  rec.problem["n"] = A.rows();
  rec.problem["nrhs"] = B.cols();
  rec.parameters["grid"] = shape.to_string();
  rec.parameters["grid_rows"] = std::int64_t{shape.rows};
  rec.parameters["grid_cols"] = std::int64_t{shape.cols};
  rec.parameters["block"] = A.layout().row_block();  // after clamping to N
  rec.parameters["residual_threshold"] = kResidualThreshold;
  return std::make_unique<SolveCase<T>>(std::move(g), algo, std::move(A), std::move(B));
}

}  // namespace

harness::KernelSpec solve_kernel() {
  using harness::OptionSpec;
  using harness::OptionType;
  harness::KernelSpec k;
  k.name = "solve";
  k.summary = "Distributed dense solve A X = B (ScaLAPACK Cholesky or LU on a 2-D block-cyclic grid), HPL-validated";
  k.footer =
      "Examples:\n"
      "  mpirun -n 2 attnbench solve --n 4096                 # Cholesky, synthetic SPD, grid 1x2\n"
      "  mpirun -n 4 attnbench solve --n 8192 --grid 2x2 --block 128 --nrhs 4\n"
      "  mpirun -n 4 attnbench solve --algo lu --input system.h5 --save-output --out run.h5\n"
      "Valid when the scaled residual |A X - B|_inf / (|A|_inf |X|_inf N eps) < 16 (HPL's threshold).\n"
      "A matrix that is not positive definite (cholesky), not symmetric beyond rounding (cholesky --input) or singular\n"
      "(lu) is an input error (exit 3); a problem larger than the node's memory is refused before allocation (exit 6\n"
      "synthetic, 3 --input). rcond (p?pocon / p?gecon) is archived; below eps a warning says X may be inaccurate.";
  k.input_help =
      "HDF5 file with /A (N x N) and /B (N x nrhs), 2-D, float32 or float64, row-major; each rank reads its "
      "block-cyclic share directly. cholesky needs a symmetric /A: max|A - A^T| <= 2 N eps max|A| (rounding), "
      "else exit 3; the residual is that of /A as given.";
  k.algorithms = {{to_string(Algorithm::cholesky),
                   "p?potrf + p?potrs (symmetric positive definite A): N^3/3 + 2 N^2 nrhs flops"},
                  {to_string(Algorithm::lu), "p?gesv, LU with partial pivoting (general A): 2 N^3/3 + 2 N^2 nrhs flops"}};
  OptionSpec n{"--n", OptionType::integer, "4096", {}, "matrix size N (synthetic input)", {}, true};
  n.min = 1;
  n.max = 2147483647;
  OptionSpec nrhs{"--nrhs", OptionType::integer, "1", {}, "right-hand sides (synthetic input)", {}, true};
  nrhs.min = 1;
  nrhs.max = 2147483647;
  OptionSpec grid_opt{"--grid", OptionType::string, "", {},
                      "process grid PRxPC with PR * PC = ranks, row-major rank order (default: the squarest, PR <= PC)",
                      {}, false};
  OptionSpec block{"--block", OptionType::integer, std::to_string(kDefaultBlock), {},
                   "block size mb = nb of the block-cyclic layout (clamped to N)", {}, false};
  block.min = 1;
  block.max = 1 << 20;
  OptionSpec cond{"--condition", OptionType::number, "1000", {},
                  "approximate 2-norm condition number of the synthetic A = G G^T/k + delta I; at most "
                  "1 + lambda_max / (10 sqrt(N) eps) (about 6e13 at N = 4096 in double, 1.1e5 in single)",
                  {}, true};
  cond.min = 1;
  cond.min_exclusive = true;
  k.options = {n, nrhs, grid_opt, block, cond};
  k.size_key = "n";
  k.work_exponent = 3.0;
  k.memory_exponent = 2.0;
  // Per panel of `block` columns: the panel broadcast along its process row and column of the 2-D
  // block-cyclic grid (BLACS trees), not overlapped; nothing on one rank.
  for (const char* algo : {"cholesky", "lu"})
    k.comm_models[algo] = {"ceil(n / block)", "min(1, p - 1) * 2 * ceil(n / sqrt(p)) * block * w",
                           "2 * ceil(log2(max(p, 2)))", "0", "panel broadcasts along process rows and columns"};
  k.archive_keys = solve_archive_keys();
  k.make_case = [](harness::SetupContext& ctx) -> std::unique_ptr<harness::Case> {
    if (ctx.common.precision == Precision::single) return make<float>(ctx);
    return make<double>(ctx);
  };
  return k;
}

}  // namespace attnbench::solve
