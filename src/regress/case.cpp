#include "regress/case.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "grid/process_grid.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"
#include "regress/check.hpp"
#include "regress/evaluate.hpp"
#include "grid/dense_solver.hpp"

namespace attnbench::regress {

namespace {

constexpr std::int64_t key_chunk = 256;

double resolve_scale(const std::string& text, std::int64_t d, std::string& rule) {
  if (text == "1/d") {
    rule = "1/d";
    return 1.0 / static_cast<double>(d);
  }
  if (text == "1/sqrt(d)") {
    rule = "1/sqrt(d)";
    return 1.0 / std::sqrt(static_cast<double>(d));
  }
  rule = "value";
  std::size_t used = 0;
  double v = 0.0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(v) || v <= 0.0)
    throw usage_error("regress: --scale must be a positive number, 1/d or 1/sqrt(d), not '" + text + "'");
  return v;
}

std::string bytes_text(double b) {
  char buf[64];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  else std::snprintf(buf, sizeof buf, "%.0f bytes", b);
  return buf;
}

double rel_dist(const std::vector<double>& x, const std::vector<double>& ref, std::size_t off, std::size_t len) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = off; i < off + len; ++i) {
    num += (x[i] - ref[i]) * (x[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

class RegressCase final : public harness::Case {
 public:
  RegressCase(const dist::Comm& comm, const RegressConfig& cfg, Instance<double> inst,
              std::unique_ptr<grid::DenseSolver<double>> solver)
      : comm_(comm), cfg_(cfg), inst_(std::make_unique<Instance<double>>(std::move(inst))),
        ev_(comm, inst_->data, cfg.tile, key_chunk), solver_(std::move(solver)) {}

  void run(harness::PhaseTimes& phases) override {
    ev_.reset_counts();
    result_ = optimize<double>(comm_, ev_, *solver_, inst_->x0, cfg_.solve);
    evals_ = ev_.counts();
    sampled_rows_ = ev_.sampled_rows();
    double f = 0, g = 0, h = 0, r = 0, s = 0, c = 0;
    checks_ = 0;
    for (const HistoryRow& row : result_.history) {
      f += row.t_forward;
      g += row.t_gradient;
      h += row.t_hessian;
      r += row.t_reduce;
      s += row.t_solve;
      c += row.t_check;
      checks_ += std::isnan(row.hessian_error) ? 0 : 1;
    }
    phases["forward"] = f;
    phases["gradient"] = g;
    phases["hessian"] = h;
    phases["reduce"] = r;
    phases["solve"] = s;
    if (cfg_.solve.algorithm == Algorithm::newton_sketch) phases["check"] = c;
    ran_ = true;
  }

  // The harness asks for the work model before the repetitions and after each one. Before the
  // first run the iteration count of a converging run is unknown and the model states max_iter
  // iterations (an upper bound); after a run it counts the evaluations that run made (exactly, by
  // kind) and one solve per iteration. Per evaluation (all ranks): forward 4 n^2 d + 2 n d^2;
  // + gradient 6 n^2 d + 6 n d^2; + H_xx 4 n^2 d^2 + 2 n d^4; + joint Hessian 6 n^2 d^2 + 6 n d^4
  // (the O(n d^3) per-row terms are left out). Solves are counted once although every rank factors
  // (replicated LAPACK).
  harness::WorkModel work() const override {
    const double n = static_cast<double>(inst_->data.n), d = static_cast<double>(inst_->data.d);
    const double K = static_cast<double>(cfg_.solve.max_iter);
    const double fwd = 4 * n * n * d + 2 * n * d * d, grad = fwd + 6 * n * n * d + 6 * n * d * d;
    const double hx = grad + 4 * n * n * d * d + 2 * n * std::pow(d, 4);
    const double hj = grad + 6 * n * n * d * d + 6 * n * std::pow(d, 4);
    const double solve_joint = std::pow(2 * d * d, 3) / 3.0, solve_x = std::pow(d * d, 3) / 3.0 + std::pow(d, 6) / 3.0;
    // newton-sketch: the row bounds (8 n per row) on every gradient evaluation, and per sampled
    // row its forward, row products and Hessian terms (10 n d + 6 n d^2 + 6 d^4).
    const bool sketch = cfg_.solve.algorithm == Algorithm::newton_sketch;
    const double bounds = sketch ? 8 * n * n : 0.0;
    const double per_row = 10 * n * d + 6 * n * d * d + 6 * std::pow(d, 4);
    harness::WorkModel w;
    if (ran_) {
      const double iters = static_cast<double>(result_.iterations);
      const double solves = cfg_.solve.algorithm == Algorithm::newton || sketch ? iters * solve_joint
                            : cfg_.solve.algorithm == Algorithm::alternating     ? iters * solve_x
                                                                                 : 0.0;
      // The exact Hessians of --check-every are verification, not the algorithm's work: left out.
      const double joint = static_cast<double>(evals_[3] - checks_);
      w.flops = static_cast<double>(evals_[0]) * fwd + static_cast<double>(evals_[1]) * (grad + bounds) +
                static_cast<double>(evals_[2]) * hx + joint * hj + static_cast<double>(sampled_rows_) * per_row + solves;
      w.formula = "counted: loss evals (4 n^2 d + 2 n d^2) + gradient evals (10 n^2 d + 8 n d^2; newton-sketch + 8 n^2) "
                  "+ H_xx evals (+ 4 n^2 d^2 + 2 n d^4) + joint Hessian evals (+ 6 n^2 d^2 + 6 n d^4) + sampled rows "
                  "(10 n d + 6 n d^2 + 6 d^4 each) + one solve per iteration ((2 d^2)^3 / 3 newton and newton-sketch, "
                  "d^6 / 3 + d^6 / 3 alternating)";
      return w;
    }
    switch (cfg_.solve.algorithm) {
      case Algorithm::newton:
        w.flops = (1 + K) * hj + K * solve_joint;
        w.formula = "(1 + max_iter) (10 n^2 d + 6 n^2 d^2 + 6 n d^4) + max_iter (2 d^2)^3 / 3";
        break;
      case Algorithm::gd:
        w.flops = (1 + K) * grad + K * fwd;
        w.formula = "(1 + max_iter) 10 n^2 d + max_iter 4 n^2 d";
        break;
      case Algorithm::alternating:
        w.flops = grad + K * (fwd + hx + grad + std::pow(d, 6) / 3.0);
        w.formula = "10 n^2 d + max_iter (24 n^2 d + 4 n^2 d^2 + 2 n d^4 + d^6 / 3)";
        break;
      case Algorithm::newton_sketch: {
        // m per sampled Hessian: --sample-rows, or at most n (the rule's m is known only in the run).
        const double m = cfg_.solve.sample_rows > 0 ? std::min(static_cast<double>(cfg_.solve.sample_rows), n) : n;
        w.flops = (1 + K) * (grad + bounds + m * per_row) + K * solve_joint;
        w.formula = "(1 + max_iter) (10 n^2 d + 8 n^2 + m (10 n d + 6 n d^2 + 6 d^4)) + max_iter (2 d^2)^3 / 3, "
                    "m = min(--sample-rows, n)";
        break;
      }
    }
    return w;
  }

  harness::ReferenceShapes reference_shapes() const override {
    // The GEMMs that dominate an evaluation: the t x n by n x d^2 key products (in key chunks).
    harness::ReferenceShapes r;
    const std::int64_t d2 = inst_->data.d * inst_->data.d;
    r.kernel_gemm = {{std::min<std::int64_t>(cfg_.tile, std::max<std::int64_t>(1, inst_->data.n)), d2,
                      std::min<std::int64_t>(key_chunk, inst_->data.n), false}};
    return r;
  }

  std::int64_t buffer_bytes() const override {
    return footprint_bytes(inst_->data.n, inst_->data.d, comm_.size(), cfg_.tile, cfg_.solver == SolverKind::scalapack);
  }

  harness::Validation validate() override {
    if (!ran_) throw internal_error("regress: validate() before run()");
    const DerivativeCheck c = check_derivatives<double>(comm_, ev_, inst_->x0, cfg_.seed);
    harness::Validation v;
    v.method = "gradient vs 4th-order central differences on " + std::to_string(c.coordinates) +
               " seeded coordinates, Hessian symmetry and " + std::to_string(c.columns) +
               " Hessian columns vs differences of the gradient; converged to --tolerance within --max-iter";
    const bool converged = result_.converged;
    v.errors["grad_check_error"] = c.grad_check_error;
    v.errors["hessian_symmetry_error"] = c.hessian_symmetry_error;
    v.errors["hessian_check_error"] = c.hessian_check_error;
    v.errors["rel_grad_norm"] = result_.rel_grad_norm();
    v.errors["final_loss"] = result_.history.back().loss;
    // The archive's loss is half the paper's L(X, Y) = |F A3 Y - B|_F^2: said in the archive itself,
    // so that a reader years later does not compare it with the paper's figures off by 2x.
    v.notes["loss_definition"] = "1/2 |F A3 Y - B|_F^2, F = rowsoftmax(s A1 X A2^T): half the paper's L";
    if (inst_->planted) {
      const std::size_t d2 = static_cast<std::size_t>(inst_->data.d * inst_->data.d);
      v.errors["x_rel_error"] = rel_dist(result_.x, inst_->x_star, 0, d2);
      v.errors["y_rel_error"] = rel_dist(result_.x, inst_->x_star, d2, d2);
    }
    v.counts["converged"] = converged ? 1 : 0;
    v.counts["iterations"] = result_.iterations;
    v.counts["grad_check_coordinates"] = c.coordinates;
    v.counts["hessian_check_columns"] = c.columns;
    v.counts["evaluations_loss"] = evals_[0];
    v.counts["evaluations_gradient"] = evals_[1];
    v.counts["evaluations_hessian_x"] = evals_[2];
    v.counts["evaluations_hessian"] = evals_[3];
    if (cfg_.solve.algorithm == Algorithm::newton_sketch) {
      // The sampled Hessians' accuracy: the worst rigorous bound and the worst measured error
      // (NaN when --check-every never ran the exact Hessian).
      double bound = 0.0, err = std::numeric_limits<double>::quiet_NaN(), eps = err;
      for (const HistoryRow& r : result_.history) {
        if (r.sample_rows > 0) bound = std::max(bound, r.hessian_bound);
        if (!std::isnan(r.hessian_error)) err = std::isnan(err) ? r.hessian_error : std::max(err, r.hessian_error);
        if (!std::isnan(r.hessian_eps)) eps = std::isnan(eps) ? r.hessian_eps : std::max(eps, r.hessian_eps);
      }
      // Reported, not judged: the run's validity is its convergence and derivative checks. NaN
      // (no sampled Hessian, or no check) is left out: the archive holds only measured values.
      v.notes["hessian_accuracy"] = "hessian_bound_max: the largest rigorous bound (probability 1 - delta) of "
                                    "|H~ - H|_2 / |H|_2; hessian_error_max, hessian_eps_max: the largest measured "
                                    "(--check-every)";
      if (bound > 0.0) v.errors["hessian_bound_max"] = bound;
      if (!std::isnan(err)) v.errors["hessian_error_max"] = err;
      if (!std::isnan(eps)) v.errors["hessian_eps_max"] = eps;
      v.counts["sampled_hessians"] = ev_.sampled_evaluations();
      v.counts["sampled_rows_total"] = sampled_rows_;
      v.counts["hessian_checks"] = checks_;
    }
    v.primary_error = "rel_grad_norm";
    v.tolerance = cfg_.solve.tolerance;
    // The primary error is measured and held to --tolerance (as exact attention's is): a
    // converged run is VALID; a --fixed-iterations run that did not converge is valid only in its
    // derivative checks, nothing bounds its error: UNCERTIFIED.
    v.certified = converged;
    v.valid = (converged || cfg_.solve.fixed_iterations) && c.grad_check_error <= grad_check_tolerance && c.hessian_check_error <= hessian_check_tolerance &&
              c.hessian_symmetry_error <= symmetry_tolerance;
    v.notes["solver"] = solver_->name();
    if (!converged && !cfg_.solve.fixed_iterations) v.notes["reason"] = "not converged within --max-iter";
    if (cfg_.solve.fixed_iterations) v.notes["mode"] = "fixed iterations: convergence reported, not required";
    return v;
  }

  void write_datasets(io::File& file, bool /*save_output*/) const override {
    const std::int64_t d = inst_->data.d, d2 = d * d;
    file.ensure_group("/output");
    file.write_root_matrix("/output/X", std::vector<double>(result_.x.begin(), result_.x.begin() + d2), d, d, comm_);
    file.write_root_matrix("/output/Y", std::vector<double>(result_.x.begin() + d2, result_.x.end()), d, d, comm_);
    if (inst_->planted) {
      file.ensure_group("/planted");
      file.write_root_matrix("/planted/X", std::vector<double>(inst_->x_star.begin(), inst_->x_star.begin() + d2), d, d, comm_);
      file.write_root_matrix("/planted/Y", std::vector<double>(inst_->x_star.begin() + d2, inst_->x_star.end()), d, d, comm_);
    }
    file.ensure_group("/history");
    // One shape for every history column, float64 and int64 alike: 1-D [iterations + 1], row 0 the
    // start (archives written before stored the float64 ones as [iterations + 1, 1]; readers take
    // either).
    auto column = [&](const char* name, auto get) {
      using V = std::conditional_t<std::is_integral_v<decltype(get(result_.history.front()))>, std::int64_t, double>;
      std::vector<V> v;
      for (const HistoryRow& r : result_.history) v.push_back(static_cast<V>(get(r)));
      file.write_root_vector(std::string("/history/") + name, v, comm_);
    };
    column("loss", [](const HistoryRow& r) { return r.loss; });
    column("grad_norm", [](const HistoryRow& r) { return r.grad_norm; });
    column("step_norm", [](const HistoryRow& r) { return r.step_norm; });
    column("lambda", [](const HistoryRow& r) { return r.lambda; });
    column("accepted", [](const HistoryRow& r) { return r.accepted; });
    column("cholesky_info", [](const HistoryRow& r) { return r.cholesky_info; });
    column("t_forward", [](const HistoryRow& r) { return r.t_forward; });
    column("t_gradient", [](const HistoryRow& r) { return r.t_gradient; });
    column("t_hessian", [](const HistoryRow& r) { return r.t_hessian; });
    column("t_reduce", [](const HistoryRow& r) { return r.t_reduce; });
    column("t_solve", [](const HistoryRow& r) { return r.t_solve; });
    if (cfg_.solve.algorithm == Algorithm::newton_sketch) {
      column("sample_rows", [](const HistoryRow& r) { return r.sample_rows; });
      column("rule_rows", [](const HistoryRow& r) { return r.rule_rows; });
      // -1: not measured (no sampled Hessian at that row, no --check-every comparison, or H not
      // positive definite for hessian_eps): a VALID archive holds finite numbers only.
      const auto measured = [](double v) { return std::isfinite(v) ? v : -1.0; };
      column("hessian_bound", [&](const HistoryRow& r) { return measured(r.hessian_bound); });
      column("hessian_error", [&](const HistoryRow& r) { return measured(r.hessian_error); });
      column("hessian_eps", [&](const HistoryRow& r) { return measured(r.hessian_eps); });
      column("t_check", [](const HistoryRow& r) { return r.t_check; });
    }
    file.attr("/", "iterations", result_.iterations);
    file.attr("/", "converged", static_cast<std::int64_t>(result_.converged ? 1 : 0));
  }

  std::string describe() const override {
    std::ostringstream s;
    s << "regress " << to_string(cfg_.solve.algorithm) << " n=" << inst_->data.n << " d=" << inst_->data.d
      << " unknowns=" << 2 * inst_->data.d * inst_->data.d << " solver=" << solver_->name();
    return s.str();
  }

  std::string summary(const harness::Validation& v) const override {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%lld iterations, rel grad %.2e (tol %.0e), loss %.3e%s",
                  static_cast<long long>(result_.iterations), result_.rel_grad_norm(), cfg_.solve.tolerance,
                  result_.history.back().loss,
                  v.counts.at("converged") ? "" : (cfg_.solve.fixed_iterations ? ", not converged (fixed iterations)" : ", NOT converged"));
    std::string out = buf;
    if (v.errors.count("x_rel_error")) {
      std::snprintf(buf, sizeof buf, ", |X-X*|/|X*| %.2e, |Y-Y*|/|Y*| %.2e", v.errors.at("x_rel_error"), v.errors.at("y_rel_error"));
      out += buf;
    }
    return out;
  }

 private:
  dist::Comm comm_;
  RegressConfig cfg_;
  std::unique_ptr<Instance<double>> inst_;  // stable address: the evaluator refers to its data
  Evaluator<double> ev_;
  std::unique_ptr<grid::DenseSolver<double>> solver_;
  SolveResult<double> result_;
  std::array<std::int64_t, 4> evals_{};
  std::int64_t sampled_rows_ = 0;  // rows assembled by the sampled Hessians of the last run (all ranks)
  std::int64_t checks_ = 0;        // exact Hessians of --check-every in the last run
  bool ran_ = false;
};

}  // namespace

std::int64_t footprint_bytes(std::int64_t n, std::int64_t d, int ranks, std::int64_t tile, bool scalapack) {
  const dist::BlockRowLayout lay(n, ranks);
  const std::int64_t N = 2 * d * d;
  // Evaluator + the Hessian it builds, the optimizer's vectors (x, trial, step, gradients) and the
  // solver's hold on the current Hessian: replicated N^2 + N; scalapack a packed N^2 copy of the
  // partial while it is reduce-scattered and 2 N^2 / p (+ block edges) on the grid.
  // (footprint_elements is exact in int64 for every allowed n, d, tile: at most about 2^62.)
  const long double elems =
      static_cast<long double>(Evaluator<double>::footprint_elements(n, d, lay.max_local_rows(), tile, key_chunk)) +
      8.0L * N;
  const long double NN = static_cast<long double>(N) * N;
  const long double solver = scalapack ? 2 * NN + 2 * (NN / ranks + 2.0L * 64 * N) : NN + N;
  const long double bytes = (elems + solver) * sizeof(double);
  return bytes >= 9.2e18L ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(bytes);
}

std::unique_ptr<harness::Case> make_regress_case(const dist::Comm& comm, const RegressConfig& cfg, ProblemInfo& info,
                                                 double& setup_seconds, double& io_seconds) {
  dist::agree_on_success(comm, [&] {
    if (cfg.single_precision)
      throw usage_error("regress: --precision single is not supported: the 1e-6 finite-difference gradient check and "
                        "Newton tolerances down to 1e-10 need double precision");
    if (!(cfg.solve.tolerance > 0.0) || !std::isfinite(cfg.solve.tolerance))
      throw usage_error("regress: --tolerance must be > 0");
    if (cfg.solve.max_iter < 1) throw usage_error("regress: --max-iter must be at least 1");
    if (cfg.tile < 1) throw usage_error("regress: --tile must be at least 1");
    if (!(cfg.solve.lambda0 >= 0.0)) throw usage_error("regress: --lambda must be >= 0");
    if (cfg.solver == SolverKind::scalapack) {
      if (cfg.block && *cfg.block < 1) throw usage_error("regress: --block must be at least 1");
      grid::parse_grid_shape(cfg.grid, comm.size(), "--grid");  // PR * PC must be the rank count
    } else {
      // The replicated solver has no grid and no blocks: an option it would silently ignore.
      if (!cfg.grid.empty())
        throw usage_error("regress: --grid " + cfg.grid + " needs --solver scalapack (the " + to_string(cfg.solver) +
                          " solver has no process grid)");
      if (cfg.block)
        throw usage_error("regress: --block " + std::to_string(*cfg.block) + " needs --solver scalapack (the " +
                          to_string(cfg.solver) + " solver has no block-cyclic layout)");
    }
    if (cfg.input.empty()) {
      if (cfg.planted.d < 1) throw usage_error("regress: --d must be at least 1");
      if (cfg.planted.n < 1) throw usage_error("regress: --n must be at least 1");
      if (!(cfg.planted.init_distance >= 0.0) || !std::isfinite(cfg.planted.init_distance))
        throw usage_error("regress: --init-distance must be >= 0");
      if (!(cfg.planted.noise >= 0.0) || !std::isfinite(cfg.planted.noise)) throw usage_error("regress: --noise must be >= 0");
    }
  });
  std::int64_t n = cfg.planted.n, d = cfg.planted.d;
  if (!cfg.input.empty()) {
    const InputShape shape = inspect_input(comm, cfg.input);
    n = shape.n;
    d = shape.d;
  }
  info.n = n;
  info.d = d;
  info.input = cfg.input.empty() ? "synthetic" : cfg.input;
  info.planted = cfg.input.empty();
  info.hessian_order = 2 * d * d;
  dist::agree_on_success(comm, [&] { info.scale = resolve_scale(cfg.scale_text, d, info.scale_rule); });
  const bool scalapack = cfg.solver == SolverKind::scalapack;
  info.footprint_bytes = footprint_bytes(n, d, comm.size(), cfg.tile, scalapack);
  dist::agree_on_success(comm, [&] {
    if (info.footprint_bytes <= cfg.memory_budget) return;
    std::int64_t fits = 0;
    for (std::int64_t k = d - 1; k >= 1; --k)
      if (footprint_bytes(n, k, comm.size(), cfg.tile, scalapack) <= cfg.memory_budget) {
        fits = k;
        break;
      }
    const std::int64_t N = 2 * d * d;
    std::ostringstream msg;
    msg << "regress: the joint Hessian is 2 d^2 x 2 d^2 = " << N << " x " << N << " ("
        << bytes_text(static_cast<double>(N) * static_cast<double>(N) * 8.0) << "); with the evaluation buffers a rank needs "
        << bytes_text(static_cast<double>(info.footprint_bytes)) << " (n=" << n << ", d=" << d << ", " << comm.size()
        << " ranks), over --memory-budget " << bytes_text(static_cast<double>(cfg.memory_budget)) << "; ";
    if (fits > 0) msg << "the largest d that fits is " << fits << " (Hessian " << 2 * fits * fits << " x " << 2 * fits * fits << ")";
    else msg << "not even d = 1 fits at this n";
    throw does_not_fit_error(msg.str());
  });
  // Within the budget, the node must still hold every rank's footprint: a synthetic size it cannot
  // is exit 6 (does not fit, as the budget), a file's declared sizes exit 3 (input too large).
  metrics::check_memory_fits(comm, info.footprint_bytes,
                             cfg.input.empty() ? fmt::format("regress --n {} --d {} (tile {})", n, d, cfg.tile)
                                               : fmt::format("'{}': /A1, /A2, /A3, /B [{} x {}] (tile {})", cfg.input,
                                                             n, d, cfg.tile),
                             cfg.input.empty() ? ExitCode::does_not_fit : ExitCode::input);

  Instance<double> inst;
  if (cfg.input.empty()) {
    PlantedSpec spec = cfg.planted;
    spec.scale = info.scale;
    spec.seed = cfg.seed;
    ScopedAccumulate timer(setup_seconds);
    inst = make_planted<double>(comm, spec);
  } else {
    ScopedAccumulate timer(io_seconds);
    inst = read_instance<double>(comm, cfg.input, info.scale);
  }
  std::unique_ptr<grid::DenseSolver<double>> solver;
  if (scalapack)
    solver = grid::make_grid_solver<double>(comm, grid::parse_grid_shape(cfg.grid, comm.size(), "--grid"),
                                            cfg.block.value_or(default_block));
  else solver = grid::make_replicated_solver<double>(comm);
  info.solver = solver->name();
  return std::make_unique<RegressCase>(comm, cfg, std::move(inst), std::move(solver));
}

}  // namespace attnbench::regress
