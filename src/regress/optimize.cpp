#include "regress/optimize.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "regress/sampled_hessian.hpp"

namespace attnbench::regress {

Algorithm parse_algorithm(const std::string& name) { return parse_enum(kAlgorithmNames, name, "regress: --algo"); }
std::string to_string(Algorithm a) { return enum_name(kAlgorithmNames, a); }

namespace {

template <class T>
double norm2(std::span<const T> v) {
  double s = 0.0;
  for (const T e : v) s += static_cast<double>(e) * static_cast<double>(e);
  return std::sqrt(s);
}

// Rank 0's value of a decision, on every rank (one MPI_Bcast of one int).
bool agreed(const dist::Comm& comm, bool local) {
  int v = local ? 1 : 0;
  comm.bcast(std::span<int>(&v, 1), 0);
  return v != 0;
}

void add_times(HistoryRow& row, const EvalTimes& t) {
  row.t_forward += t.forward;
  row.t_gradient += t.gradient;
  row.t_hessian += t.hessian;
  row.t_reduce += t.reduce;
}


// Levenberg-Marquardt damping of the Newton steps (newton, and the X step of alternating):
// lambda = mu |g|, with mu adapted by Nielsen's gain-ratio rule.
// - Proportional to the gradient norm (Yamashita-Fukushima): near the solution lambda vanishes as
//   fast as |g|, so the iteration keeps Newton's quadratic rate. A constant factor per accepted
//   step (lambda /= 10, as before) left lambda dominating the shrinking error and the rate linear
//   (observed order 1.0-1.5 on the planted n = 64, d = 4 instance).
// - Nielsen's rule, with rho = actual / predicted decrease of the loss: an accepted step scales
//   mu by max(1/3, 1 - (2 rho - 1)^3) (a step the quadratic model predicted well lowers it, a
//   poor one raises it) and resets nu = 2; a rejected step scales mu by nu and doubles nu.
// - A failed factorization (H + lambda I indefinite) needs no new evaluation: the same iteration
//   retries with lambda = max(10 lambda, 1e-4 mean|diag H|), at most kMaxFactorizations times.
//   Before, every failure was an iteration of its own (4 of the 10 on that planted instance).
// lambda below 1e-12 mean|diag H| is 0 (the undamped Newton step).
class Damping {
 public:
  static constexpr int kMaxFactorizations = 30;
  explicit Damping(double lambda0, double gnorm0) : mu_(gnorm0 > 0.0 ? lambda0 / gnorm0 : 0.0) {}
  double lambda(double gnorm, double ref) const {
    const double l = mu_ * gnorm;
    return l < 1e-12 * ref ? 0.0 : l;
  }
  // lambda failed to factorize: the next lambda to try.
  double raise_for_factorization(double lambda, double gnorm, double ref) {
    const double l = std::max(10.0 * lambda, 1e-4 * std::max(ref, 1e-300));
    if (gnorm > 0.0) mu_ = l / gnorm;
    return l;
  }
  // rho: actual / predicted decrease of the accepted step.
  void accepted(double rho) {
    mu_ *= std::max(1.0 / 3.0, 1.0 - std::pow(2.0 * rho - 1.0, 3));
    nu_ = 2.0;
  }
  void rejected(double lambda, double gnorm, double ref) {
    const double l = std::max(nu_ * lambda, 1e-4 * std::max(ref, 1e-300));
    if (gnorm > 0.0) mu_ = l / gnorm;
    nu_ *= 2.0;
  }

 private:
  double mu_;
  double nu_ = 2.0;
};

// Predicted decrease of the quadratic model for the step s solving (H + lambda I) s = -g:
// -(g^T s + s^T H s / 2) = (lambda |s|^2 - g^T s) / 2 (no Hessian product needed).
template <class T>
double predicted_decrease(const std::vector<T>& g, const std::vector<T>& s, double lambda) {
  double gs = 0.0, ss = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    gs += static_cast<double>(g[i]) * static_cast<double>(s[i]);
    ss += static_cast<double>(s[i]) * static_cast<double>(s[i]);
  }
  return 0.5 * (lambda * ss - gs);
}

// Gain ratio actual / predicted decrease; a step the model predicts no decrease for (g = 0, or a
// zero step) counts as predicted exactly (rho = 1).
inline double gain_ratio(double actual, double predicted) { return predicted > 0.0 ? actual / predicted : 1.0; }

// The acceptance rule of the damped Newton steps (see optimize.hpp).
bool accept_step(double loss_new, double gnorm_new, double loss_old, double gnorm_old) {
  if (loss_new < loss_old) return true;
  return loss_new <= loss_old + 1e-12 * std::abs(loss_old) && gnorm_new < gnorm_old;
}

template <class T>
class Run {
 public:
  Run(const dist::Comm& comm, Evaluator<T>& ev, grid::DenseSolver<T>& solver, std::span<const T> x0, const SolveOptions& opt)
      : comm_(comm), ev_(ev), solver_(solver), opt_(opt), x_(x0.begin(), x0.end()),
        N_(static_cast<std::int64_t>(x0.size())), d2_(N_ / 2),
        row0_(ev.data().layout.row_offset(comm.rank())) {}

  SolveResult<T> go() {
    comm_.bcast(std::span<T>(x_), 0);
    const Need need = opt_.algorithm == Algorithm::newton ? Need::hessian : Need::gradient;
    Evaluation<T> cur = ev_.evaluate(x_, need, reduce(), sketch());
    HistoryRow row0;
    add_times(row0, cur.times);
    if (need == Need::hessian) hand_over(cur, N_, row0);
    if (sketch()) sampled_hessian(cur, row0);
    row0.loss = cur.loss;
    row0.grad_norm = norm2<T>(cur.grad);
    row0.lambda = opt_.algorithm == Algorithm::gd ? 1.0 : opt_.lambda0;
    res_.grad_norm0 = agreed_value(row0.grad_norm);
    res_.history.push_back(row0);
    Damping damping(opt_.lambda0, res_.grad_norm0);
    double alpha = 0.5;  // gd: the first trial is 2 alpha = 1
    for (std::int64_t it = 1; it <= opt_.max_iter; ++it) {
      if (!opt_.fixed_iterations && converged(res_.history.back().grad_norm)) break;
      HistoryRow row;
      bool stop = false;
      switch (opt_.algorithm) {
        case Algorithm::newton:
        case Algorithm::newton_sketch: newton_step(cur, damping, row); break;
        case Algorithm::gd: stop = !gd_step(cur, alpha, row); break;
        case Algorithm::alternating: alternating_step(cur, damping, row); break;
      }
      row.loss = cur.loss;
      row.grad_norm = agreed_value(norm2<T>(cur.grad));
      res_.history.push_back(row);
      res_.iterations = it;
      if (stop) break;
    }
    res_.converged = converged(res_.history.back().grad_norm);
    res_.x = x_;
    return std::move(res_);
  }

 private:
  double agreed_value(double v) const {
    comm_.bcast(std::span<double>(&v, 1), 0);
    return v;
  }
  bool converged(double gnorm) const { return gnorm == 0.0 || gnorm <= opt_.tolerance * res_.grad_norm0; }

  // (H + lambda I) s = -g over the first m unknowns (m = N for newton, d^2 for the X step).
  // The solver holds the Hessian (hold) of the current iterate.
  int damped_solve(std::int64_t m, const std::vector<T>& g, double lambda, std::vector<T>& step, HistoryRow& row) {
    std::vector<T> rhs(g.begin(), g.begin() + m);
    for (T& v : rhs) v = -v;
    step.assign(static_cast<std::size_t>(m), T(0));
    ScopedAccumulate timer(row.t_solve);
    return solver_.solve(lambda, rhs, step);
  }
  // damped_solve at lambda = damping's for |g|, raised until H + lambda I factorizes (at most
  // Damping::kMaxFactorizations tries, no evaluation in between). Records the lambda that
  // factorized (or the last one tried) and that factorization's info in the row.
  int damped_solve_raising(std::int64_t m, const std::vector<T>& g, double gnorm, Damping& damping,
                           std::vector<T>& step, HistoryRow& row, double& lambda) {
    const double ref = solver_.mean_abs_diag();
    lambda = damping.lambda(gnorm, ref);
    int info = 0;
    for (int k = 0; k < Damping::kMaxFactorizations; ++k) {
      info = damped_solve(m, g, lambda, step, row);
      if (info == 0) break;
      lambda = damping.raise_for_factorization(lambda, gnorm, ref);
    }
    row.lambda = lambda;
    return info;
  }
  // Hands an evaluation's Hessian to the solver (its reduction, when the solver does it, is
  // timed as t_reduce).
  void hand_over(Evaluation<T>& e, std::int64_t m, HistoryRow& row) {
    ScopedAccumulate timer(row.t_reduce);
    solver_.hold(std::move(e.hessian), m);
    e.hessian = {};
  }
  bool reduce() const { return !solver_.partial_sums(); }
  bool sketch() const { return opt_.algorithm == Algorithm::newton_sketch; }

  // newton-sketch: draws the rows at the current iterate x_ (whose evaluation e carries the row
  // bounds and G^T G), assembles H~ and hands it to the solver; every check_every-th H~ is compared
  // with the exact Hessian at the same point (timed apart, as t_check).
  void sampled_hessian(Evaluation<T>& e, HistoryRow& row) {
    const std::int64_t d = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(d2_))));
    const std::int64_t n = ev_.data().n;
    RowSample sample;
    std::int64_t m = 0;
    {
      ScopedAccumulate timer(row.t_hessian);
      const double h = agreed_value(lambda_max<T>(e.gtg, d));
      const double S = row_bound_sum(comm_, e.row_bound);
      row.rule_rows = sample_rows_rule(opt_.eps0, opt_.delta, N_, S, h);
      m = opt_.sample_rows > 0 ? opt_.sample_rows : row.rule_rows;
      row.sample_rows = std::min(m, n);
      if (m < n) {
        const std::uint64_t seed = random_bits(opt_.seed, streams::row_sample, static_cast<std::uint64_t>(builds_));
        sample = draw_rows(comm_, row0_, e.row_bound, m, seed);
        row.hessian_bound = h > 0.0 ? bernstein_t(m, N_, opt_.delta) * S / h : std::numeric_limits<double>::infinity();
      }
    }
    // m >= n draws would cost at least the exact assembly: build the exact Hessian instead (bound 0).
    if (m >= n) {
      Evaluation<T> exact = ev_.evaluate(x_, Need::hessian, reduce());
      add_times(row, exact.times);
      row.hessian_bound = 0.0;
      ++builds_;
      hand_over(exact, N_, row);
      return;
    }
    Evaluation<T> hs = ev_.sampled_hessian(x_, sample, e.gtg, reduce());
    add_times(row, hs.times);
    if (opt_.check_every > 0 && builds_ % opt_.check_every == 0) {
      ScopedAccumulate timer(row.t_check);
      std::vector<T> approx = hs.hessian;
      const std::int64_t NN = N_ * N_;
      if (!reduce()) comm_.allreduce(std::span<T>(approx.data(), static_cast<std::size_t>(NN)), dist::Op::sum);
      const Evaluation<T> exact = ev_.evaluate(x_, Need::hessian, true);
      HessianAccuracy acc = hessian_accuracy<T>(approx, exact.hessian, N_);
      comm_.bcast(std::span<double>(&acc.norm_error, 1), 0);
      comm_.bcast(std::span<double>(&acc.spectral_eps, 1), 0);
      row.hessian_error = acc.norm_error;
      row.hessian_eps = acc.spectral_eps;
    }
    ++builds_;
    hand_over(hs, N_, row);
  }

  void newton_step(Evaluation<T>& cur, Damping& damping, HistoryRow& row) {
    const double ref = solver_.mean_abs_diag();
    const double gn_old = agreed_value(norm2<T>(cur.grad));
    std::vector<T> step;
    double lambda = 0.0;
    row.cholesky_info = damped_solve_raising(N_, cur.grad, gn_old, damping, step, row, lambda);
    if (row.cholesky_info != 0) return;
    row.step_norm = norm2<T>(step);
    std::vector<T> trial(x_);
    for (std::int64_t i = 0; i < N_; ++i) trial[static_cast<std::size_t>(i)] += step[static_cast<std::size_t>(i)];
    Evaluation<T> next = ev_.evaluate(trial, sketch() ? Need::gradient : Need::hessian, reduce(), sketch());
    add_times(row, next.times);
    const double gn_new = norm2<T>(next.grad);
    if (agreed(comm_, accept_step(next.loss, gn_new, cur.loss, gn_old))) {
      damping.accepted(agreed_value(gain_ratio(cur.loss - next.loss, predicted_decrease(cur.grad, step, lambda))));
      x_ = std::move(trial);
      if (sketch()) sampled_hessian(next, row);
      else hand_over(next, N_, row);
      cur = std::move(next);
      row.accepted = 1;
    } else {
      damping.rejected(lambda, gn_old, ref);
    }
  }

  // Returns false when the line search fails (no decrease at any step length down to 2^-60 a).
  bool gd_step(Evaluation<T>& cur, double& alpha, HistoryRow& row) {
    const double gg = std::pow(norm2<T>(cur.grad), 2);
    double a = 2.0 * alpha;
    std::vector<T> trial(x_.size());
    for (int k = 0; k <= 60; ++k, a *= 0.5) {
      for (std::size_t i = 0; i < trial.size(); ++i) trial[i] = x_[i] - static_cast<T>(a) * cur.grad[i];
      const Evaluation<T> t = ev_.evaluate(trial, Need::loss);
      add_times(row, t.times);
      if (agreed(comm_, t.loss <= cur.loss - 1e-4 * a * gg)) {
        row.accepted = 1;
        break;
      }
    }
    row.lambda = a;
    if (!row.accepted) return false;
    row.step_norm = a * std::sqrt(gg);
    alpha = a;
    x_ = std::move(trial);
    cur = ev_.evaluate(x_, Need::gradient);
    add_times(row, cur.times);
    return true;
  }

  void alternating_step(Evaluation<T>& cur, Damping& damping, HistoryRow& row) {
    const std::int64_t d = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(d2_))));
    std::vector<T> x_before(x_);
    // Y := argmin_Y |G Y - B|_F, G = F(X) A3: (G^T G) Y = G^T B, one Allreduce of 2 d^2 values and a
    // d x d Cholesky on every rank (d^3/3 flops); a singular G^T G keeps Y (info recorded).
    std::vector<T> GtG, GtB;
    EvalTimes t;
    ev_.normal_equations(std::span<const T>(x_).subspan(0, static_cast<std::size_t>(d2_)), GtG, GtB, t);
    add_times(row, t);
    int info = 0;
    {
      ScopedAccumulate timer(row.t_solve);
      info = grid::solve_spd_rowmajor(d, GtG, GtB);
    }
    if (agreed(comm_, info == 0)) {
      std::copy(GtB.begin(), GtB.end(), x_.begin() + d2_);
      comm_.bcast(std::span<T>(x_), 0);
    }
    // Damped Newton step in X with H_xx at (X, Y_new).
    Evaluation<T> here = ev_.evaluate(x_, Need::hessian_x, reduce());
    add_times(row, here.times);
    hand_over(here, d2_, row);
    const double ref = solver_.mean_abs_diag();
    // The X step's gradient is the first d^2 entries of here.grad (its Y part is 0 at Y_new up to
    // the least-squares residual, and the step ignores it).
    const std::vector<T> gx(here.grad.begin(), here.grad.begin() + d2_);
    const double gx_norm = agreed_value(norm2<T>(gx));
    std::vector<T> step;
    double lambda = 0.0;
    row.cholesky_info = damped_solve_raising(d2_, here.grad, gx_norm, damping, step, row, lambda);
    if (info != 0 && row.cholesky_info == 0) row.cholesky_info = -info;  // the Y solve failed
    Evaluation<T> keep;
    keep.loss = here.loss;
    keep.grad = here.grad;
    if (row.cholesky_info <= 0) {
      std::vector<T> trial(x_);
      for (std::int64_t i = 0; i < d2_; ++i) trial[static_cast<std::size_t>(i)] += step[static_cast<std::size_t>(i)];
      Evaluation<T> next = ev_.evaluate(trial, Need::gradient);
      add_times(row, next.times);
      if (agreed(comm_, accept_step(next.loss, norm2<T>(next.grad), here.loss, norm2<T>(here.grad)))) {
        damping.accepted(agreed_value(gain_ratio(here.loss - next.loss, predicted_decrease(gx, step, lambda))));
        x_ = std::move(trial);
        keep = std::move(next);
      } else {
        damping.rejected(lambda, gx_norm, ref);
      }
    }
    double sn = 0.0;
    for (std::size_t i = 0; i < x_.size(); ++i) sn += std::pow(static_cast<double>(x_[i] - x_before[i]), 2);
    row.step_norm = std::sqrt(sn);
    row.accepted = sn > 0.0 ? 1 : 0;
    cur = std::move(keep);
  }

  dist::Comm comm_;
  Evaluator<T>& ev_;
  grid::DenseSolver<T>& solver_;
  SolveOptions opt_;
  std::vector<T> x_;
  std::int64_t N_, d2_;
  std::int64_t row0_;        // this rank's first global row (newton-sketch's draws)
  std::int64_t builds_ = 0;  // sampled Hessians built so far (seeds the draws; check_every)
  SolveResult<T> res_;
};

}  // namespace

template <class T>
SolveResult<T> optimize(const dist::Comm& comm, Evaluator<T>& ev, grid::DenseSolver<T>& solver, std::span<const T> x0,
                        const SolveOptions& opt) {
  if (!(opt.tolerance > 0.0)) throw usage_error("regress: --tolerance must be > 0");
  if (opt.max_iter < 1) throw usage_error("regress: --max-iter must be at least 1");
  return Run<T>(comm, ev, solver, x0, opt).go();
}

template SolveResult<float> optimize<float>(const dist::Comm&, Evaluator<float>&, grid::DenseSolver<float>&,
                                            std::span<const float>, const SolveOptions&);
template SolveResult<double> optimize<double>(const dist::Comm&, Evaluator<double>&, grid::DenseSolver<double>&,
                                              std::span<const double>, const SolveOptions&);

}  // namespace attnbench::regress
