#include "regress/kernel.hpp"

#include "core/error.hpp"
#include "regress/archive_contract.hpp"
#include "regress/case.hpp"

namespace attnbench::regress {

namespace {

// Maps the parsed options onto RegressConfig; everything else is in case.cpp.
std::unique_ptr<harness::Case> make_case(harness::SetupContext& ctx) {
  const harness::OptionValues& o = ctx.options;
  RegressConfig cfg;
  cfg.input = ctx.common.input;
  cfg.seed = ctx.common.seed;
  cfg.single_precision = ctx.common.precision == Precision::single;
  cfg.planted.n = o.integer("--n");
  cfg.planted.d = o.integer("--d");
  cfg.planted.init_distance = o.number("--init-distance");
  cfg.planted.noise = o.number("--noise");
  cfg.scale_text = o.string("--scale");
  cfg.solve.algorithm = parse_algorithm(ctx.common.algorithm);  // the harness checked the name
  cfg.solve.tolerance = o.number("--tolerance");
  cfg.solve.max_iter = o.integer("--max-iter");
  cfg.solve.lambda0 = o.number("--lambda");
  cfg.solve.fixed_iterations = o.flag("--fixed-iterations");
  cfg.solve.sample_rows = o.integer("--sample-rows");
  cfg.solve.eps0 = o.number("--eps0");
  cfg.solve.delta = o.number("--delta");
  cfg.solve.check_every = o.integer("--check-every");
  cfg.solve.seed = ctx.common.seed;
  cfg.memory_budget = o.size("--memory-budget");
  cfg.tile = o.integer("--tile");
  cfg.solver = parse_solver(o.string("--solver"));  // the harness checked the name
  if (o.given("--grid")) cfg.grid = o.string("--grid");
  if (o.given("--block")) cfg.block = o.integer("--block");  // unset: the default (scalapack only)

  ProblemInfo info;
  auto c = make_regress_case(ctx.comm, cfg, info, ctx.setup_seconds, ctx.io_seconds);
  RunRecord& rec = ctx.record;
  rec.variant = info.solver;
  rec.problem["n"] = info.n;
  rec.problem["d"] = info.d;
  rec.problem["unknowns"] = info.hessian_order;
  rec.problem["scale"] = info.scale;
  rec.problem["scale_rule"] = info.scale_rule;
  rec.problem["planted"] = std::int64_t(info.planted ? 1 : 0);
  if (info.planted) {
    rec.problem["init_distance"] = cfg.planted.init_distance;
    rec.problem["noise"] = cfg.planted.noise;
  }
  rec.parameters["tolerance"] = cfg.solve.tolerance;
  rec.parameters["max_iter"] = cfg.solve.max_iter;
  rec.parameters["lambda0"] = cfg.solve.lambda0;
  rec.parameters["fixed_iterations"] = std::int64_t(cfg.solve.fixed_iterations ? 1 : 0);
  if (cfg.solve.algorithm == Algorithm::newton_sketch) {
    rec.parameters["sample_rows"] = cfg.solve.sample_rows;
    rec.parameters["sample_rule"] = std::string(cfg.solve.sample_rows > 0 ? "given: --sample-rows" :
        "matrix Bernstein: m = ceil((2/e^2 + 4/(3e)) ln(4 d^2 / delta)), e = eps0 lambda_max(G^T G) / sum_j q_j");
    rec.parameters["sample_probabilities"] = std::string(
        "p_j = q_j / sum q, q_j >= |E_j|_2 the bound of row j's Hessian term (per-iteration m and bound in /history)");
    rec.parameters["eps0"] = cfg.solve.eps0;
    rec.parameters["delta"] = cfg.solve.delta;
    rec.parameters["check_every"] = cfg.solve.check_every;
  }
  rec.parameters["tile"] = cfg.tile;
  rec.parameters["solver"] = info.solver;
  if (cfg.solver == SolverKind::scalapack) rec.parameters["block"] = cfg.block.value_or(default_block);
  rec.parameters["memory_budget"] = cfg.memory_budget;
  rec.parameters["footprint_bytes"] = info.footprint_bytes;
  return c;
}

}  // namespace

harness::KernelSpec regress_kernel() {
  harness::KernelSpec k;
  k.name = "regress";
  k.summary = "Attention regression min 1/2|softmax(s A1 X A2^T) A3 Y - B|^2 by damped Newton (exact Hessian), "
              "gradient descent or alternating least squares, rows across the MPI ranks";
  k.footer =
      "Examples:\n"
      "  mpirun -n 2 attnbench regress --n 4096 --d 16 --init-distance 0.01 --out results/regress.h5\n"
      "  mpirun -n 2 attnbench regress --algo gd --n 4096 --d 16 --max-iter 1000\n"
      "  mpirun -n 2 attnbench regress --input problem.h5 --tolerance 1e-8\n"
      "A run is VALID when it converges (|grad| / |grad_0| <= --tolerance) within --max-iter and its derivative\n"
      "checks pass (gradient vs finite differences <= 1e-6, Hessian symmetric); otherwise exit 4.";
  k.input_help = "2-D float32/float64 datasets /A1, /A2, /A3, /B (n x d); optional /X0, /Y0 (d x d) as the start "
                 "(default zero)";
  k.algorithms = {
      {to_string(Algorithm::newton),
       "damped Newton / Levenberg-Marquardt on (X, Y) jointly with the exact 2d^2 x 2d^2 Hessian"},
      {to_string(Algorithm::gd), "gradient descent with Armijo backtracking"},
      {to_string(Algorithm::alternating), "exact least squares in Y, damped Newton step in X"},
      {to_string(Algorithm::newton_sketch),
       "damped Newton with a row-sampled Hessian (m rows by importance, reweighted; exact gradient)"},
  };
  const double big = static_cast<double>(std::int64_t{1} << 40);
  using T = harness::OptionType;
  k.options = {
      {"--n", T::integer, "4096", {}, "Synthetic planted instance: rows of A1, A2, A3, B", {}, true, 1, big},
      {"--d", T::integer, "16", {}, "Synthetic planted instance: columns (X, Y are d x d; the Hessian 2d^2 x 2d^2)", {},
       true, 1, 1 << 12},
      {"--init-distance", T::number, "0.01", {}, "Synthetic: start at X* + delta |X*|_F E/|E|_F (likewise Y)", {}, true,
       0, 1e300},
      {"--noise", T::number, "0", {}, "Synthetic: B = F(X*) A3 Y* + noise N(0, 1)", {}, true, 0, 1e300},
      {"--scale", T::string, "1", {}, "Logit scale s in softmax(s A1 X A2^T): a positive number (the paper: 1), 1/d "
                                     "or 1/sqrt(d)", {}},
      // At most 0.1: the run must reduce the gradient at least tenfold to be VALID (a tolerance of 1
      // was VALID after 0 iterations, 1% away from X*).
      {"--tolerance", T::number, "1e-10", {}, "Stop when |grad| / |grad at the start| <= tolerance, in (0, 0.1]", {},
       false, 0, 0.1, true},
      {"--max-iter", T::integer, "50", {}, "Iterations at most (a rejected damped step counts); not converged by then: "
                                          "INVALID", {}, false, 1, big},
      {"--fixed-iterations", T::flag, "", {}, "Run exactly --max-iter iterations (timing studies): convergence is "
                                             "reported, not required for VALID", {}},
      {"--lambda", T::number, "0", {}, "Initial Levenberg-Marquardt damping", {"newton", "newton-sketch", "alternating"},
       false, 0, 1e300},
      {"--sample-rows", T::integer, "0", {}, "newton-sketch: rows m drawn per sampled Hessian (0: the rule from "
                                             "--eps0 and --delta, see the README)", {"newton-sketch"}, false, 0, big},
      {"--eps0", T::number, "0.5", {}, "newton-sketch: the rule's accuracy |H~ - H| <= eps0 |H|, in (0, 1]",
       {"newton-sketch"}, false, 0, 1, true},
      {"--delta", T::number, "0.1", {}, "newton-sketch: the rule's failure probability, in (0, 1]", {"newton-sketch"},
       false, 0, 1, true},
      {"--check-every", T::integer, "0", {}, "newton-sketch: compare every k-th sampled Hessian with the exact one "
                                             "(an exact Hessian each time, timed apart; 0: never)", {"newton-sketch"},
       false, 0, big},
      {"--memory-budget", T::size, "4GiB", {}, "Bytes per rank for the Hessian and the evaluation buffers; over it: "
                                              "exit 6 (does not fit) naming 2d^2, the bytes and the largest d that fits",
       {}, false, 0, 9.2e18, true},
      {"--tile", T::integer, "64", {}, "Query rows per tile (scores scratch: 2 tile x n per rank)", {}, false, 1, 1 << 20},
      {"--solver", T::string, to_string(SolverKind::replicated), enum_choices(kSolverNames),
       "Damped Newton solve: replicated (Hessian allreduced, LAPACK posv on every rank) or scalapack (Hessian "
       "reduce-scattered onto a process grid, p?posv, step gathered)", {"newton", "newton-sketch", "alternating"}},
      {"--grid", T::string, "", {}, "scalapack: process grid PRxPC with PR * PC = ranks (default: the squarest); "
                                    "needs --solver scalapack", {"newton", "newton-sketch", "alternating"}},
      {"--block", T::integer, std::to_string(default_block), {}, "scalapack: block size of the block-cyclic Hessian; "
                                                                 "needs --solver scalapack", {"newton", "newton-sketch", "alternating"},
       false, 1, 1 << 16},
  };
  k.size_key = std::string("n");  // (not a bare literal: GCC 12 bug 105329 warns -Wrestrict on it)
  k.work_exponent = 2.0;    // the exact Hessian assembly, 6 n^2 d^2 flops per evaluation
  k.memory_exponent = 1.0;  // O(n d + tile n) per rank
  // Per iteration: the Allreduce of the gradient and the exact Hessian (unknowns = 2 d^2; replicated
  // solver), about twice the data through the network; nothing on one rank. newton-sketch moves the
  // same (its sampled Hessian is reduced like the exact one) plus the sampler's allgathers of p
  // doubles and p int64 and one Allreduce of 1 double, left out.
  for (const char* algo : {"newton", "newton-sketch", "alternating"})
    k.comm_models[algo] = {"iterations", "min(1, p - 1) * 2 * (unknowns * unknowns + unknowns) * w",
                           "2 * ceil(log2(max(p, 2)))", "0", "Allreduce of gradient and Hessian per iteration"};
  k.archive_keys = regress_archive_keys();
  k.make_case = make_case;
  return k;
}

}  // namespace attnbench::regress
