// regress_bench: the regression's performance figures, measured directly on the library (not a
// test; not installed; `attnbench regress` measures the same once registered with the harness).
//   mpirun -n P regress_bench convergence   planted n=4096 d=16 delta=0.01: newton to 1e-10 vs gd (1000 iterations)
//   mpirun -n P regress_bench iteration     one Newton iteration (Hessian evaluation + solve), n=8192 d=16
//   mpirun -n P regress_bench solve48       d=48 (Hessian 4608 x 4608): solve GFLOP/s vs same-run GEMM, share
// Options: --n N --d D --reps R --solver replicated|scalapack. Times are medians over R repetitions of the max over ranks.
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/timer.hpp"
#include "dist/comm.hpp"
#include "grid/process_grid.hpp"
#include "metrics/gemm_rate.hpp"
#include "regress/case.hpp"
#include "regress/evaluate.hpp"
#include "regress/instance.hpp"
#include "regress/optimize.hpp"
#include "grid/dense_solver.hpp"

using namespace attnbench;
using namespace attnbench::regress;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double max_over_ranks(const dist::Comm& comm, double t) { return comm.allreduce(t, dist::Op::max); }

// The planted instance of every figure: n x d, start 1% from the optimum.
Instance<double> planted(const dist::Comm& comm, std::int64_t n, std::int64_t d) {
  PlantedSpec spec;
  spec.n = n;
  spec.d = d;
  spec.init_distance = 0.01;
  return make_planted<double>(comm, spec);
}

void convergence(const dist::Comm& comm, std::int64_t n, std::int64_t d) {
  const Instance<double> inst = planted(comm, n, d);
  Evaluator<double> ev(comm, inst.data);
  auto solver = grid::make_replicated_solver<double>(comm);
  for (Algorithm a : {Algorithm::newton, Algorithm::gd}) {
    SolveOptions opt;
    opt.algorithm = a;
    opt.tolerance = 1e-10;
    opt.max_iter = a == Algorithm::newton ? 50 : 1000;
    comm.barrier();
    const double t0 = wall_seconds();
    const SolveResult<double> r = optimize<double>(comm, ev, *solver, inst.x0, opt);
    const double t = max_over_ranks(comm, wall_seconds() - t0);
    if (comm.is_root()) {
      std::printf("%s: %lld iterations, converged %d, rel grad %.3e, loss %.3e, %.2f s\n", to_string(a).c_str(),
                  static_cast<long long>(r.iterations), r.converged ? 1 : 0, r.rel_grad_norm(), r.history.back().loss, t);
      if (a == Algorithm::newton)
        for (std::size_t k = 0; k < r.history.size(); ++k)
          std::printf("  it %zu loss %.3e rel grad %.3e lambda %.2e accepted %d info %d\n", k, r.history[k].loss,
                      r.history[k].grad_norm / r.grad_norm0, r.history[k].lambda, r.history[k].accepted,
                      r.history[k].cholesky_info);
      else
        for (double target : {1e-2, 1e-3, 1e-4, 1e-6}) {
          std::int64_t hit = -1;
          for (std::size_t k = 0; k < r.history.size(); ++k)
            if (r.history[k].grad_norm <= target * r.grad_norm0) {
              hit = static_cast<std::int64_t>(k);
              break;
            }
          std::printf("  gd reaches rel grad %.0e at iteration %lld\n", target, static_cast<long long>(hit));
        }
    }
  }
}

// One Newton iteration = one joint-Hessian evaluation + one damped solve. Phases per rank.
void iteration(const dist::Comm& comm, std::int64_t n, std::int64_t d, int reps, bool scalapack) {
  const Instance<double> inst = planted(comm, n, d);
  Evaluator<double> ev(comm, inst.data);
  auto solver = scalapack ? grid::make_grid_solver<double>(comm, grid::squarest_shape(comm.size()), 64)
                          : grid::make_replicated_solver<double>(comm);
  const std::int64_t N = 2 * d * d;
  std::vector<double> total, eval, solve, fwd, grad, hess, red, cpu;
  for (int r = 0; r <= reps; ++r) {  // r = 0: warm-up
    comm.barrier();
    const double c0 = process_cpu_seconds();
    const double t0 = wall_seconds();
    Evaluation<double> e = ev.evaluate(inst.x0, Need::hessian, !solver->partial_sums());
    const double t1 = wall_seconds();
    std::vector<double> rhs(e.grad), step(static_cast<std::size_t>(N));
    for (double& v : rhs) v = -v;
    solver->hold(std::move(e.hessian), N);  // scalapack: the reduce-scatter is part of the solve time
    const int info = solver->solve(1e-3, rhs, step);
    const double t2 = wall_seconds();
    const double c2 = process_cpu_seconds();
    if (r == 0) {
      if (comm.is_root() && info != 0) std::printf("(cholesky info %d)\n", info);
      continue;
    }
    total.push_back(max_over_ranks(comm, t2 - t0));
    cpu.push_back(comm.allreduce(c2 - c0, dist::Op::sum));  // summed over ranks: the work done
    eval.push_back(max_over_ranks(comm, t1 - t0));
    solve.push_back(max_over_ranks(comm, t2 - t1));
    fwd.push_back(max_over_ranks(comm, e.times.forward));
    grad.push_back(max_over_ranks(comm, e.times.gradient));
    hess.push_back(max_over_ranks(comm, e.times.hessian));
    red.push_back(max_over_ranks(comm, e.times.reduce));
  }
  const double gemm = comm.is_root() ? metrics::measure_gemm_gflops<double>(std::vector<metrics::GemmShape>{{2048, 2048, 256, false}}) : 0.0;
  if (comm.is_root()) {
    const double solve_flops = static_cast<double>(N) * N * N / 3.0;
    std::printf("solver %s\n", solver->name().c_str());
    std::printf("n=%lld d=%lld ranks=%d: iteration %.3f s (evaluation %.3f: forward %.3f gradient %.3f hessian %.3f "
                "reduce %.3f; solve %.3f = %.1f%% of the iteration)\n",
                static_cast<long long>(n), static_cast<long long>(d), comm.size(), median(total), median(eval),
                median(fwd), median(grad), median(hess), median(red), median(solve), 100.0 * median(solve) / median(total));
    std::printf("cpu seconds of the iteration, summed over ranks: %.3f\n", median(cpu));
    std::printf("solve: %.2f GFLOP/s (N^3/3, N=%lld) = %.2f of the same-run single-core GEMM rate %.2f GFLOP/s\n",
                solve_flops / median(solve) * 1e-9, static_cast<long long>(N), solve_flops / median(solve) * 1e-9 / gemm,
                gemm);
  }
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  const dist::Comm world = dist::Comm::borrow(MPI_COMM_WORLD);
  const std::string what = argc > 1 ? argv[1] : "";
  std::int64_t n = 0, d = 0;
  int reps = 3;
  bool scalapack = false;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--d")) d = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--solver")) scalapack = parse_solver(argv[i + 1]) == SolverKind::scalapack;
  }
  if (what == "convergence") convergence(world, n ? n : 4096, d ? d : 16);
  else if (what == "iteration") iteration(world, n ? n : 8192, d ? d : 16, reps, scalapack);
  else if (what == "solve48") iteration(world, n ? n : 2048, d ? d : 48, reps, scalapack);
  else {
    if (world.is_root()) std::fprintf(stderr, "usage: regress_bench convergence|iteration|solve48 [--n N --d D --reps R]\n");
    return 2;
  }
  return 0;
}
