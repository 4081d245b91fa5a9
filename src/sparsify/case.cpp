#include "sparsify/case.hpp"

#include <algorithm>
#include <limits>
#include <cmath>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "dist/layout.hpp"
#include "io/hdf5_file.hpp"
#include "io/hdf5_sparse.hpp"
#include "metrics/resources.hpp"
#include "sparsify/input.hpp"
#include "sparsify/validation.hpp"

namespace attnbench::sparsify {

namespace {

std::string fmt(double v, int digits = 3) { return format_g(v, digits); }

template <class T>
class SparsifyCase final : public harness::Case {
 public:
  SparsifyCase(const dist::Comm& comm, ColumnBlock<T> X, const Params& p, ProblemInfo info, std::vector<double> M,
               std::unique_ptr<NxnSolver> solver, bool cpu_phase_times)
      : comm_(comm), X_(std::move(X)), params_(p), info_(std::move(info)), M_(std::move(M)), solver_(std::move(solver)),
        cpu_phase_times_(cpu_phase_times) {}

  void run(harness::PhaseTimes& phases) override {
    Phases mine, cpu;
    result_ = sparsify::run(comm_, X_, params_, *solver_, &mine, cpu_phase_times_ ? &cpu : nullptr);
    for (const auto& [name, s] : mine) phases[name] += s;
    for (const auto& [name, s] : cpu) phases["cpu:" + name] += s;
    ran_ = true;
  }

  harness::WorkModel work() const override {
    const double n = static_cast<double>(info_.n), d = static_cast<double>(info_.d),
                 nnz = static_cast<double>(info_.nnz), m = static_cast<double>(info_.m);
    const bool sparse = X_.sparse;
    const double xbytes = sparse ? nnz * static_cast<double>(sizeof(T) + 4) : n * d * static_cast<double>(sizeof(T));
    harness::WorkModel w;
    switch (params_.method) {
      case Method::leverage:
        // Sparse: the Gram is an outer product per column and W x_j touches W's columns of the
        // column's stored entries (lower triangular: at most n multiply-adds each), never n^2 d.
        w.flops = sparse ? info_.nnz_sq + 2 * n * nnz + 2 * n * n * n / 3 : 2 * n * n * d + 2 * n * n * n / 3;
        w.bytes = 2 * xbytes;
        w.formula = sparse ? "sum_j nnz_j^2 (X X^T) + 2 n^3/3 (Cholesky, W = L^{-1}) + 2 n nnz (W x_j, at most)"
                           : "n^2 d (X X^T) + 2 n^3/3 (Cholesky, W = L^{-1}) + n^2 d (W X)";
        break;
      case Method::leverage_sketch: {
        const double s = static_cast<double>(params_.sketch_rows > 0 ? params_.sketch_rows : default_sketch_rows(info_.n));
        const double k = static_cast<double>(params_.jl_cols > 0 ? params_.jl_cols : default_jl_cols(info_.n));
        const double z = static_cast<double>(params_.sketch_nnz);
        w.flops = 2 * z * nnz + s * n * n + n * n * n / 3 + n * n * k + 2 * k * nnz;
        w.bytes = 2 * xbytes;
        w.formula = "2 z nnz (sparse embedding) + s n^2 (sketch Gram) + n^3/3 + n^2 k + 2 k nnz (JL scores)";
        break;
      }
      case Method::bss: {
        const double steps = static_cast<double>(bss_steps(params_.gamma, info_.n));
        // Sparse candidate forms x_j^T D x_j touch only the column's stored entries: sum_j nnz_j^2
        // multiply-adds' worth per step (column_forms.hpp), the Gram likewise once.
        const double score = sparse ? info_.nnz_sq + nnz : 2 * n * n * d;
        w.flops = (sparse ? info_.nnz_sq : n * n * d) + n * n * n / 3 + steps * (score + 10 * n * n * n);
        w.bytes = (steps + 1) * xbytes;
        w.formula = sparse ? "sum_j nnz_j^2 + n^3/3 + ceil(gamma n) (sum_j nnz_j^2 + nnz + 10 n^3)"
                           : "n^2 d + n^3/3 + ceil(gamma n) (2 n^2 d + 10 n^3)";
        break;
      }
      case Method::uniform:
        w.flops = 0;
        w.bytes = 0;
        w.formula = "m draws (no floating-point work)";
        break;
      case Method::gaussian:
        w.flops = sparse ? 2 * m * nnz : 2 * n * d * m;
        w.bytes = xbytes;
        w.formula = sparse ? "2 m nnz (X G)" : "2 n d m (X G)";
        break;
    }
    return w;
  }

  harness::ReferenceShapes reference_shapes() const override {
    harness::ReferenceShapes r;
    const std::int64_t n = info_.n;
    if (!X_.sparse && (params_.method == Method::bss || params_.method == Method::leverage))
      r.kernel_gemm.push_back(metrics::GemmShape{256, n, n, true});
    r.memory_bound = params_.method == Method::leverage_sketch;
    return r;
  }

  std::int64_t buffer_bytes() const override {
    const auto nn = static_cast<std::int64_t>(info_.n * info_.n * 8);
    return X_.bytes() + 4 * nn + result_.Y.size() * 8 +
           static_cast<std::int64_t>(result_.columns.size() * 16);
  }

  harness::Validation validate() override {
    harness::Validation v;
    v.method = "spectral window: eigenvalues of L^{-1} Y Y^T L^{-T}; attention error: max |softmax(Y Y^T) - "
               "softmax(X X^T)| vs (e^{2 eps' r} - 1) e^{2 r} / n (replicated n x n, double)";
    v.primary_error = "attention_error";
    if (!ran_) throw internal_error("sparsify: validate() before run()");
    const std::vector<double> YY = selected_gram(comm_, X_, result_);
    const Check c = evaluate(info_.n, M_, YY, *solver_);
    v.errors["spectral_low"] = c.spectral_low;
    v.errors["spectral_high"] = c.spectral_high;
    v.errors["eps_reached"] = c.eps_reached;
    v.errors["attention_error"] = c.attention_error;
    v.errors["attention_bound"] = c.attention_bound;
    v.counts["bound_vacuous"] = c.bound_vacuous ? 1 : 0;
    if (c.bound_vacuous) {
      // The formula's bound, as its natural log (finite: the bound itself may exceed the double range).
      v.errors["log_attention_bound"] = c.log_attention_bound;
      v.notes["certificate"] = "the certificate (e^{2 eps' r} - 1) e^{2 r} / n = e^" + fmt(c.log_attention_bound, 6) +
                                 " (r = " + fmt(c.r) + ") exceeds the trivial bound 1 of the softmax entries: it "
                                 "certifies nothing, attention_bound is 1 and the spectral window alone decides validity";
    }
    v.errors["r"] = c.r;
    v.errors["gram_condition"] = c.gram_condition;
    v.errors["error_over_r"] = c.attention_error / c.r;
    v.tolerance = c.attention_bound;
    v.counts["m"] = result_.m;
    v.counts["columns_kept"] = static_cast<std::int64_t>(result_.columns.size());
    v.counts["nnz"] = info_.nnz;
    // Rounding allowance of the bound check: the n x n softmax in double.
    const bool within_bound = c.attention_error <= c.attention_bound * (1 + 1e-9) + 1e-14;
    bool window_ok = true;
    switch (params_.method) {
      case Method::bss: {
        const double kappa = bss_kappa(params_.gamma);
        window_ok = c.spectral_low >= 1 - kappa - 1e-9 && c.spectral_high <= 1 + kappa + 1e-9;
        v.errors["kappa"] = kappa;
        v.errors["max_invariant_violation"] = result_.max_violation;
        v.errors["u_over_l"] = result_.u / result_.l;
        v.counts["steps"] = result_.steps;
        const bool few = static_cast<std::int64_t>(result_.columns.size()) <= bss_steps(params_.gamma, info_.n);
        v.certified = true;
        v.valid = window_ok && within_bound && result_.max_violation == 0.0 && few;
        v.notes["guarantee"] = "(1 - kappa) X X^T <= Y Y^T <= (1 + kappa) X X^T, kappa = 2 sqrt(gamma) / (gamma + 1)";
        if (result_.max_violation > 0) v.notes["invariants"] = "a barrier invariant was violated (see max_invariant_violation)";
        break;
      }
      case Method::leverage:
      case Method::leverage_sketch: {
        window_ok = c.spectral_low >= 1 - params_.eps && c.spectral_high <= 1 + params_.eps;
        v.errors["score_sum"] = result_.score_sum;
        bool sum_ok = true;
        if (params_.method == Method::leverage) {
          // Rounding of the Cholesky-based scores grows with cond(X X^T): score_sum_tolerance says how.
          const double tol = score_sum_tolerance(info_.n, c.gram_condition);
          v.errors["score_sum_tolerance"] = tol;
          sum_ok = std::abs(result_.score_sum - static_cast<double>(info_.n)) <= tol;
          if (!sum_ok)
            v.notes["score_sum_check"] = "the leverage scores sum to " + fmt(result_.score_sum, 17) + ", not n = " +
                                         std::to_string(info_.n) + " within " + fmt(tol) +
                                         " (the rounding allowance for cond(X X^T) = " + fmt(c.gram_condition) + ")";
        }
        if (params_.method == Method::leverage_sketch) {
          // The oversampling factor the sketched scores actually needed: max over columns of
          // tau_j / (n p~_j) = tau_j sum(tau~) / (n tau~_j), with the exact tau_j = |L^{-1} x_j|^2
          // (n^2 per local column, untimed; one Allreduce(max) of a double). Compared with the
          // factor m was scaled by (`oversample`, when m was not given).
          const std::vector<double> tau = exact_local_scores();
          const double factor = measured_score_factor(tau);
          v.errors["score_factor"] = factor;
          if (params_.bound == Bound::chernoff) screen_check(tau, v);
          if (info_.oversample > 0.0) {
            v.errors["oversample"] = info_.oversample;
            if (!(factor <= info_.oversample))
              v.notes["score_factor"] = "the sketched scores needed an oversampling factor of " + fmt(factor) +
                                        ", more than the " + fmt(info_.oversample) +
                                        " m was scaled by: the sampling guarantee's premise failed";
          }
        }
        v.certified = true;
        v.valid = window_ok && within_bound && sum_ok;
        if (!window_ok)
          v.notes["window"] = "randomized miss: the window [" + fmt(c.spectral_low) + ", " + fmt(c.spectral_high) +
                              "] is outside [1 - eps, 1 + eps] = [" + fmt(1 - params_.eps) + ", " +
                              fmt(1 + params_.eps) + "]; with the default m this happens with probability at most delta = " +
                              fmt(params_.delta) +
                              (params_.method != Method::leverage_sketch ? ""
                               : params_.bound == Bound::chernoff
                                   ? " (see screen_missed_mass: the certificate's premise)"
                                   : " when the sketched scores are within the oversampling factor of the exact ones "
                                     "(see score_factor)");
        break;
      }
      case Method::uniform:
      case Method::gaussian:
        // Baselines: no certificate; valid when the result is finite and consistent with its window.
        v.certified = false;
        v.valid = within_bound && std::isfinite(c.attention_error) && std::isfinite(c.eps_reached);
        break;
    }
    if (!within_bound) v.notes["bound"] = "the attention error exceeds the bound implied by the reached window";
    return v;
  }

  void write_datasets(io::File& file, bool save_output) const override {
    file.ensure_group("/output");
    io::write_root_vector(file, "/output/columns", result_.columns, comm_);
    io::write_root_vector(file, "/output/weights", result_.weights, comm_);
    const std::int64_t n = info_.n;
    if (params_.method == Method::gaussian) {
      // The dense JL baseline selects no column: its Y (n x m) is always stored.
      file.write_root_matrix("/output/Y", std::vector<double>(result_.Y.data(), result_.Y.data() + result_.Y.size()), n,
                             result_.Y.cols(), comm_);
    } else if (save_output) {
      // Y = X[:, columns] diag(weights): each rank fills its own selected columns, one Allreduce of
      // n x kept doubles puts Y together.
      const auto kept = static_cast<std::int64_t>(result_.columns.size());
      std::vector<double> Y(static_cast<std::size_t>(n * kept), 0.0), x(static_cast<std::size_t>(n));
      for (std::int64_t a = 0; a < kept; ++a) {
        const std::int64_t col = result_.columns[static_cast<std::size_t>(a)];
        if (col < X_.col0 || col >= X_.col0 + X_.cols) continue;
        X_.column(col - X_.col0, x.data());
        for (std::int64_t i = 0; i < n; ++i)
          Y[static_cast<std::size_t>(i * kept + a)] = x[static_cast<std::size_t>(i)] * result_.weights[static_cast<std::size_t>(a)];
      }
      comm_.allreduce(std::span<double>(Y), dist::Op::sum);
      file.write_root_matrix("/output/Y", Y, n, kept, comm_);
    }
  }

  std::string describe() const override {
    return "sparsify " + to_string(params_.method) + " n=" + std::to_string(info_.n) + " d=" + std::to_string(info_.d) +
           " nnz=" + std::to_string(info_.nnz) + " m=" + std::to_string(info_.m) + " (" + info_.input_format + ")";
  }

  std::string summary(const harness::Validation& v) const override {
    auto get = [&](const char* k) { return v.errors.count(k) ? v.errors.at(k) : std::nan(""); };
    return "kept " + std::to_string(result_.columns.size()) + " of " + std::to_string(info_.d) + " columns, window [" +
           fmt(get("spectral_low")) + ", " + fmt(get("spectral_high")) + "], attention error " +
           fmt(get("attention_error")) + " (" +
           (v.counts.count("bound_vacuous") && v.counts.at("bound_vacuous") == 1
                ? "bound vacuous: e^" + fmt(get("log_attention_bound"), 6) + " > 1"
                : "bound " + fmt(get("attention_bound"))) +
           ", error/r " + fmt(get("error_over_r")) + ")";
  }

  const Result& result() const { return result_; }

 private:
  // The exact scores tau_j = |L^{-1} x_j|^2 of the local columns (n^2 per column, untimed).
  std::vector<double> exact_local_scores() const {
    return exact_leverage_scores(X_, cholesky_or_rank_error(*solver_, info_.n, M_));
  }

  // The screened pipeline's premise, measured: the exact-score mass of the columns its screen
  // under-covered, tau(B) = sum of tau_j over pi~_j = min(1, a m tau~_j / n) < pi_j = min(1, m tau_j / n)
  // (one Allreduce of a double). The certificate allows eta; more happens with probability
  // <= 2 n q / eta = delta_screen (sparsify/bounds.hpp).
  void screen_check(const std::vector<double>& tau, harness::Validation& v) const {
    const ScreenPlan& plan = info_.screen;
    const double per_score = static_cast<double>(result_.m) / static_cast<double>(info_.n);
    double missed = 0.0;
    for (std::size_t j = 0; j < tau.size() && j < result_.local_scores.size(); ++j)
      if (std::min(1.0, plan.a * per_score * result_.local_scores[j]) < std::min(1.0, per_score * tau[j])) missed += tau[j];
    missed = comm_.allreduce(missed, dist::Op::sum);
    v.errors["screen_missed_mass"] = missed;
    v.errors["screen_slack"] = plan.eta;
    v.counts["candidates"] = result_.candidates;
    if (params_.m == 0 && !(missed <= plan.eta))
      v.notes["screen"] = "the screen under-covered exact-score mass " + fmt(missed) + ", more than the slack eta = " +
                          fmt(plan.eta) + " the certificate allows (probability <= delta / 8): its premise failed";
  }

  double measured_score_factor(const std::vector<double>& tau) const {
    const std::int64_t n = info_.n;
    const std::vector<double>& approx = result_.local_scores;
    double worst = 0.0;
    for (std::size_t j = 0; j < tau.size() && j < approx.size(); ++j) {
      if (!(tau[j] > 1e-14 * static_cast<double>(n))) continue;  // a zero column: never needed
      worst = std::max(worst, approx[j] > 0.0 ? tau[j] / approx[j] : std::numeric_limits<double>::infinity());
    }
    worst = comm_.allreduce(worst, dist::Op::max);
    return worst * result_.score_sum / static_cast<double>(n);
  }

  dist::Comm comm_;
  ColumnBlock<T> X_;
  Params params_;
  ProblemInfo info_;
  std::vector<double> M_;
  std::unique_ptr<NxnSolver> solver_;
  bool cpu_phase_times_ = false;
  Result result_;
  bool ran_ = false;
};

template <class T>
std::unique_ptr<harness::Case> make_typed(const dist::Comm& comm, const CaseConfig& cfg, double& setup_seconds,
                                          double& io_seconds, ProblemInfo* info_out) {
  ProblemInfo info;
  ColumnBlock<T> X;
  if (cfg.input.empty()) {
    dist::agree_on_success(comm, [&] {
      check_spec(cfg.synthetic);
      check_params(cfg.params, cfg.synthetic.n);
      check_sizes(cfg.params, cfg.synthetic.n, cfg.synthetic.d);
    });
    const double t0 = wall_seconds();
    const dist::BlockRowLayout cols(cfg.synthetic.d, comm.size());
    const std::int64_t local = cols.local_rows(comm.rank());
    // generate checks X's block and the kernel's buffers against the node's memory first (exit 6).
    X = generate<T>(comm, cfg.synthetic, cols.row_offset(comm.rank()), local,
                    working_bytes(cfg.params, cfg.synthetic.n, cfg.synthetic.d, local));
    setup_seconds += wall_seconds() - t0;
    info.input_format = X.sparse ? "synthetic-csc" : "synthetic-dense";
    info.r_requested = cfg.synthetic.r;
  } else {
    const double t0 = wall_seconds();
    InputInfo in;
    X = read_input<T>(comm, cfg.input, &in);
    io_seconds += wall_seconds() - t0;
    info.input_format = in.format;
    dist::agree_on_success(comm, [&] {
      check_params(cfg.params, X.n);
      check_sizes(cfg.params, X.n, X.d);
    });
    // The kernel's buffers next to the X just read, against the node's memory (agreed; exit 6).
    const std::int64_t work = working_bytes(cfg.params, X.n, X.d, X.cols);
    metrics::check_memory_fits(comm, X.bytes() > std::numeric_limits<std::int64_t>::max() - work
                                         ? std::numeric_limits<std::int64_t>::max()
                                         : X.bytes() + work,
                               "sparsify " + to_string(cfg.params.method) + " on '" + cfg.input + "' (n = " +
                                   std::to_string(X.n) + ", d = " + std::to_string(X.d) + "): X's block and " +
                                   format_bytes(static_cast<long double>(work)) + " of the kernel's buffers",
                               ExitCode::does_not_fit);
  }
  info.n = X.n;
  info.d = X.d;
  info.nnz = comm.allreduce<std::int64_t>(X.local_nnz(), dist::Op::sum);
  {
    // sum_j nnz_j^2 of the stored entries: what a sparse Gram and BSS's sparse candidate forms cost
    // (one Allreduce of a double).
    double sq = 0.0;
    for (std::int64_t j = 0; j < X.cols; ++j) {
      const double c = X.sparse ? static_cast<double>(X.colptr[static_cast<std::size_t>(j) + 1] -
                                                      X.colptr[static_cast<std::size_t>(j)])
                                : static_cast<double>(X.n);
      sq += c * c;
    }
    info.nnz_sq = comm.allreduce<double>(sq, dist::Op::sum);
  }
  info.m = cfg.params.method == Method::bss ? bss_steps(cfg.params.gamma, X.n) : samples(cfg.params, X.n, X.d);
  if (cfg.params.method == Method::leverage_sketch && cfg.params.bound == Bound::chernoff)
    info.screen = screen_plan(X.n, cfg.params.eps, cfg.params.delta,
                              cfg.params.jl_cols > 0 ? cfg.params.jl_cols : default_jl_cols(X.n));
  if (cfg.params.method == Method::leverage_sketch && cfg.params.bound == Bound::classic && cfg.params.m == 0) {
    const auto& p = cfg.params;
    const Oversampling o = sketch_oversampling(X.n, X.d, p.sketch_rows > 0 ? p.sketch_rows : default_sketch_rows(X.n),
                                               p.jl_cols > 0 ? p.jl_cols : default_jl_cols(X.n), p.delta);
    info.oversample = oversample_factor(p, X.n, X.d);
    info.oversample_jl = o.jl;
    info.oversample_embedding = o.embedding;
  }
  // M = X X^T once at set-up (Allreduce of n^2): the rank check, r, and the validation's reference.
  std::vector<double> M = gram(comm, X);
  const auto lapack = grid::make_replicated_solver<double>(comm);
  dist::agree_on_success(comm, [&] { (void)cholesky_or_rank_error(*lapack, X.n, M); });
  for (double v : M) info.r = std::max(info.r, std::abs(v));
  // The n x n factorizations: replicated LAPACK, or ScaLAPACK on the process grid for large n.
  std::unique_ptr<NxnSolver> solver = make_solver(comm, X.n, cfg.scalapack_threshold);
  info.nxn_solver = solver->kind();
  if (info_out) *info_out = info;
  return std::make_unique<SparsifyCase<T>>(comm, std::move(X), cfg.params, info, std::move(M), std::move(solver),
                                            cfg.cpu_phase_times);
}

}  // namespace

std::unique_ptr<harness::Case> make_sparsify_case(const dist::Comm& comm, const CaseConfig& config,
                                                  double& setup_seconds, double& io_seconds, ProblemInfo* info) {
  if (config.precision == Precision::single) return make_typed<float>(comm, config, setup_seconds, io_seconds, info);
  return make_typed<double>(comm, config, setup_seconds, io_seconds, info);
}

}  // namespace attnbench::sparsify
