// attnbench_solve_bench: the block-size sweep behind the default block size (not run by ctest). For each block size,
// one untimed warm-up and R timed solves of the synthetic SPD problem (barrier before and after
// each; time = max over ranks; median over repetitions), the scaled residual, and the single-core
// GEMM rate measured on every rank at once right after that block's solves (median over ranks):
//   fraction = GFLOP/s / (ranks x GEMM GFLOP/s).
// Usage: mpirun -n P attnbench_solve_bench [--n N] [--nrhs R] [--blocks 32,64,128,256] [--reps R]
//                                          [--algo cholesky|lu] [--grid PRxPC] [--precision double|single]
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/comm.hpp"
#include "metrics/gemm_rate.hpp"
#include "solve/solve.hpp"

namespace {

using namespace attnbench;

struct Args {
  std::int64_t n = 4096, nrhs = 1;
  std::vector<std::int64_t> blocks = {32, 64, 128, 256};
  int reps = 5;
  std::string algo = "cholesky", grid, precision = "double";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw usage_error("option " + k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--n") a.n = std::stoll(v);
    else if (k == "--nrhs") a.nrhs = std::stoll(v);
    else if (k == "--reps") a.reps = std::stoi(v);
    else if (k == "--algo") a.algo = v;
    else if (k == "--grid") a.grid = v;
    else if (k == "--precision") a.precision = v;
    else if (k == "--blocks") {
      a.blocks.clear();
      std::stringstream ss(v);
      for (std::string item; std::getline(ss, item, ',');) a.blocks.push_back(std::stoll(item));
    } else throw usage_error("unknown option " + k);
  }
  if (a.n < 1 || a.nrhs < 1 || a.reps < 1 || a.blocks.empty()) throw usage_error("bad --n, --nrhs, --reps or --blocks");
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

template <class T>
void sweep(const dist::Comm& comm, const Args& a) {
  const solve::Algorithm algo = solve::parse_algorithm(a.algo);
  const grid::ProcessGrid g(comm, grid::parse_grid_shape(a.grid, comm.size()));
  const solve::SyntheticSpec spec{.n = a.n, .nrhs = a.nrhs, .condition = 1e3, .seed = 42};
  const double flops = solve::flops(algo, a.n, a.nrhs);
  if (comm.is_root())
    std::printf("# %s %s N=%lld nrhs=%lld ranks=%d grid=%s reps=%d (shared machine: compare ratios only)\n",
                a.algo.c_str(), a.precision.c_str(), static_cast<long long>(a.n), static_cast<long long>(a.nrhs),
                comm.size(), g.shape().to_string().c_str(), a.reps);
  if (comm.is_root())
    std::printf("%6s %6s %10s %10s %10s %10s %9s %10s\n", "ranks", "block", "time_s", "min_s", "GFLOP/s",
                "gemm_GF/s", "fraction", "scaled_res");
  for (std::int64_t block : a.blocks) {
    solve::Solver<T> solver(g, algo, solve::synthetic_matrix<T>(g, spec, block), solve::synthetic_rhs<T>(g, spec, block));
    solver.run();  // warm-up
    std::vector<double> times;
    for (int r = 0; r < a.reps; ++r) {
      comm.barrier();
      const double t0 = wall_seconds();
      solver.run();
      comm.barrier();
      times.push_back(comm.allreduce(wall_seconds() - t0, dist::Op::max));
    }
    const double scaled = solver.residual().scaled;
    // Same-run reference: single-core GEMM (2048 x 2048 x 256) on every rank at once.
    const double gemm = metrics::measure_gemm_gflops<T>({{2048, 2048, 256, false}}, 0.3, 3);
    std::vector<double> all = comm.allgather(gemm);
    const double gemm_med = median(all);
    const double t = median(times), gflops = flops / t * 1e-9;
    if (comm.is_root())
      std::printf("%6d %6lld %10.4f %10.4f %10.2f %10.2f %9.3f %10.3g\n", comm.size(), static_cast<long long>(block), t,
                  *std::min_element(times.begin(), times.end()), gflops, gemm_med, gflops / (comm.size() * gemm_med),
                  scaled);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  attnbench::dist::Environment env(argc, argv);
  const attnbench::dist::Comm world = attnbench::dist::Comm::borrow(MPI_COMM_WORLD);
  try {
    const Args a = parse(argc, argv);
    if (a.precision == "single") sweep<float>(world, a);
    else sweep<double>(world, a);
  } catch (const attnbench::Error& e) {
    if (world.is_root()) std::fprintf(stderr, "attnbench_solve_bench: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    if (world.is_root()) std::fprintf(stderr, "attnbench_solve_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
