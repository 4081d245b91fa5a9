#include "solve/solve.hpp"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "grid/redistribute.hpp"
#include "io/hdf5_file.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::solve {

using grid::BlockCyclicLayout;
using grid::BlockCyclicMatrix;

std::string to_string(Algorithm a) { return a == Algorithm::cholesky ? "cholesky" : "lu"; }
Algorithm parse_algorithm(const std::string& s) {
  if (s == "cholesky") return Algorithm::cholesky;
  if (s == "lu") return Algorithm::lu;
  throw usage_error("--algo '" + s + "': expected cholesky or lu").everywhere();  // same text on every rank
}

double flops(Algorithm a, std::int64_t n, std::int64_t nrhs) {
  const double N = static_cast<double>(n), r = static_cast<double>(nrhs);
  return (a == Algorithm::cholesky ? N * N * N / 3.0 : 2.0 * N * N * N / 3.0) + 2.0 * N * N * r;
}
std::string flops_formula(Algorithm a) {
  return a == Algorithm::cholesky ? "N^3/3 + 2 N^2 nrhs" : "2 N^3/3 + 2 N^2 nrhs";
}

// ---- synthetic problem ----------------------------------------------------------------------------
namespace {
constexpr std::uint64_t kStreamG = static_cast<std::uint64_t>(Stream::user) + 1;
constexpr std::uint64_t kStreamB = static_cast<std::uint64_t>(Stream::user) + 2;
double uniform_pm1(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return 2.0 * (static_cast<double>(random_bits(seed, stream, index) >> 11) * 0x1.0p-53) - 1.0;
}
}  // namespace

double SyntheticSpec::lambda_max_estimate() const {
  const double ratio = static_cast<double>(n) / static_cast<double>(std::max<std::int64_t>(k(), 1));
  return (1.0 + std::sqrt(ratio)) * (1.0 + std::sqrt(ratio)) / 3.0;
}
double SyntheticSpec::shift() const { return lambda_max_estimate() / (condition - 1.0); }

double synthetic_g(std::uint64_t seed, std::int64_t k, std::int64_t i, std::int64_t j) {
  return uniform_pm1(seed, kStreamG, static_cast<std::uint64_t>(i * k + j));
}
double synthetic_b(std::uint64_t seed, std::int64_t nrhs, std::int64_t i, std::int64_t j) {
  return uniform_pm1(seed, kStreamB, static_cast<std::uint64_t>(i * nrhs + j));
}

template <class T>
BlockCyclicMatrix<T> synthetic_matrix(const grid::ProcessGrid& g, const SyntheticSpec& s, std::int64_t block) {
  if (!(s.condition > 1.0) || !std::isfinite(s.condition))
    throw usage_error("--condition " + std::to_string(s.condition) + ": must be a finite number above 1").everywhere();
  const std::int64_t k = s.k();
  // G[owner] from (seed, i k + j); A[owner] := G G^T / k (p?gemm: G's blocks travel along process
  // rows and columns, SUMMA-style, 2 N^2 k flops over the grid) then + delta on the diagonal.
  BlockCyclicMatrix<T> G(BlockCyclicLayout(s.n, k, block, block, g.shape()), g);
  G.fill([&](std::int64_t i, std::int64_t j) { return synthetic_g(s.seed, k, i, j); });
  BlockCyclicMatrix<T> A(BlockCyclicLayout(s.n, s.n, block, block, g.shape()), g);
  if (s.n > 0)
    linalg::pgemm(false, true, s.n, s.n, k, static_cast<T>(1.0 / static_cast<double>(k)), G.data(), G.descriptor(),
                  G.data(), G.descriptor(), T(0), A.data(), A.descriptor());
  // p?gemm's (i, j) and (j, i) may round differently: make A exactly symmetric, so the matrix the
  // residual sees is the one Cholesky (lower triangle) factors.
  grid::symmetrize_from_lower(A);
  const T delta = static_cast<T>(s.shift());
  for (std::int64_t lj = 0; lj < A.local_cols(); ++lj)
    for (std::int64_t li = 0; li < A.local_rows(); ++li)
      if (A.global_row(li) == A.global_col(lj)) A.at(li, lj) += delta;
  return A;
}

template <class T>
BlockCyclicMatrix<T> synthetic_rhs(const grid::ProcessGrid& g, const SyntheticSpec& s, std::int64_t block) {
  BlockCyclicMatrix<T> B(BlockCyclicLayout(s.n, s.nrhs, block, block, g.shape()), g);
  B.fill([&](std::int64_t i, std::int64_t j) { return synthetic_b(s.seed, s.nrhs, i, j); });
  return B;
}

// ---- input -------------------------------------------------------------------------------------------
namespace {
std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s + "]";
}
template <class T>
void check_finite(const BlockCyclicMatrix<T>& M, const std::string& path, const std::string& name) {
  for (std::int64_t lj = 0; lj < M.local_cols(); ++lj)
    for (std::int64_t li = 0; li < M.local_rows(); ++li)
      if (!std::isfinite(M.at(li, lj)))
        throw input_error("'" + path + "': dataset " + name + " has a non-finite value (" +
                          std::to_string(static_cast<double>(M.at(li, lj))) + ") at row " +
                          std::to_string(M.global_row(li)) + ", column " + std::to_string(M.global_col(lj)));
}
}  // namespace

template <class T>
Problem<T> read_input(const grid::ProcessGrid& g, const std::string& path, std::int64_t block, Algorithm algo) {
  const dist::Comm& comm = g.comm();
  // Rank 0 checks the file with serial calls first, so a missing or foreign file never reaches the
  // collective open.
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw input_error("input file '" + path + "' does not exist");
    if (!fs::is_regular_file(path, ec)) throw input_error("input file '" + path + "' is not a regular file");
    if (::access(path.c_str(), R_OK) != 0) throw input_error("input file '" + path + "' is not readable");
    if (!io::is_hdf5_file(path)) throw input_error("input file '" + path + "' is not an HDF5 file");
  });
  const io::File file = io::File::open_read(comm, path);
  std::int64_t n = 0, nrhs = 0;
  // Metadata checks: identical answers on every rank (same file), agreed anyway.
  dist::agree_on_success(comm, [&] {
    for (const char* name : {"/A", "/B"})
      if (!file.has_dataset(name))
        throw input_error("'" + path + "': missing dataset " + std::string(name) + " (expected /A and /B)");
    const io::DatasetShape a = file.shape("/A"), b = file.shape("/B");
    if (a.dims.size() != 2 || a.dims[0] != a.dims[1] || a.dims[0] < 1)
      throw input_error("'" + path + "': dataset /A must be a non-empty square 2-D matrix, it has shape " +
                        dims_string(a.dims));
    if (b.dims.size() != 2 || b.dims[1] < 1)
      throw input_error("'" + path + "': dataset /B must be 2-D (N x nrhs, nrhs >= 1), it has shape " +
                        dims_string(b.dims));
    if (!a.is_float || !b.is_float) throw input_error("'" + path + "': datasets /A and /B must be float32 or float64");
    if (b.dims[0] != a.dims[0])
      throw input_error("'" + path + "': shape mismatch: /B has " + std::to_string(b.dims[0]) + " rows but /A is " +
                        dims_string(a.dims));
    if (a.dims[0] > std::numeric_limits<int>::max() || b.dims[1] > std::numeric_limits<int>::max())
      throw input_error("'" + path + "': /A or /B exceeds ScaLAPACK's int sizes");
    n = a.dims[0];
    nrhs = b.dims[1];
  });
  Problem<T> p;
  p.A = grid::read_block_cyclic<T>(g, file, "/A", BlockCyclicLayout(n, n, block, block, g.shape()));
  p.B = grid::read_block_cyclic<T>(g, file, "/B", BlockCyclicLayout(n, nrhs, block, block, g.shape()));
  dist::agree_on_success(comm, [&] {
    check_finite(p.A, path, "/A");
    check_finite(p.B, path, "/B");
  });
  if (algo == Algorithm::cholesky) p.asymmetry = grid::symmetrize_from_lower(p.A);
  return p;
}

// ---- solver ------------------------------------------------------------------------------------------
template <class T>
Solver<T>::Solver(const grid::ProcessGrid& g, Algorithm algo, BlockCyclicMatrix<T> A, BlockCyclicMatrix<T> B)
    : grid_(g), algo_(algo), A_(std::move(A)), B_(std::move(B)), work_(A_.layout(), g), X_(B_.layout(), g) {
  if (A_.rows() != A_.cols() || B_.rows() != A_.rows() || A_.layout().row_block() != B_.layout().row_block())
    throw internal_error("solve: A must be square, B must have A's rows and row blocks");
}

template <class T>
StepTimes Solver<T>::run() {
  StepTimes t;
  const std::int64_t n = A_.rows(), nrhs = B_.cols();
  double t0 = wall_seconds();
  work_.local() = A_.local();  // the factorization overwrites its input
  X_.local() = B_.local();
  t.copy = wall_seconds() - t0;
  if (algo_ == Algorithm::cholesky) {
    t0 = wall_seconds();
    const int info = linalg::ppotrf(linalg::Uplo::lower, n, work_.data(), work_.descriptor());
    t.factor = wall_seconds() - t0;
    // info is agreed over the grid: every rank throws the same error.
    if (info > 0)
      throw input_error("the matrix is not positive definite: its leading minor of order " + std::to_string(info) +
                        " is not positive (p?potrf info = " + std::to_string(info) +
                        "); --algo lu solves a general matrix")
          .everywhere();
    linalg::check_info("p?potrf", info);
    t0 = wall_seconds();
    linalg::check_info("p?potrs", linalg::ppotrs(linalg::Uplo::lower, n, nrhs, work_.data(), work_.descriptor(),
                                                 X_.data(), X_.descriptor()));
    t.solve = wall_seconds() - t0;
  } else {
    t0 = wall_seconds();
    const int info = linalg::pgesv(n, nrhs, work_.data(), work_.descriptor(), X_.data(), X_.descriptor());
    t.factor = wall_seconds() - t0;
    if (info > 0)
      throw input_error("the matrix is singular: U(" + std::to_string(info) + ", " + std::to_string(info) +
                        ") of its LU factorization is exactly zero (p?gesv info = " + std::to_string(info) + ")")
          .everywhere();
    linalg::check_info("p?gesv", info);
  }
  return t;
}

template <class T>
Residual Solver<T>::residual() const {
  const std::int64_t n = A_.rows(), nrhs = B_.cols();
  // R[owner] := A[owner] X[owner] - B[owner]: p?gemm moves A's and X's blocks along the grid's rows
  // and columns (2 N^2 nrhs flops); each p?lange is a local row-sum plus one reduction over the grid.
  BlockCyclicMatrix<T> R = B_;
  linalg::pgemm(false, false, n, nrhs, n, T(1), A_.data(), A_.descriptor(), X_.data(), X_.descriptor(), T(-1),
                R.data(), R.descriptor());
  Residual r;
  r.residual_norm = linalg::pnorm_inf(n, nrhs, R.data(), R.descriptor());
  r.a_norm = linalg::pnorm_inf(n, n, A_.data(), A_.descriptor());
  r.x_norm = linalg::pnorm_inf(n, nrhs, X_.data(), X_.descriptor());
  r.b_norm = linalg::pnorm_inf(n, nrhs, B_.data(), B_.descriptor());
  const double eps = std::numeric_limits<T>::epsilon();
  const double denom = r.a_norm * r.x_norm * static_cast<double>(n) * eps;
  // B = 0 gives X = 0 and R = 0 exactly: a perfect solve, not 0/0.
  r.scaled = r.residual_norm == 0.0 ? 0.0 : r.residual_norm / denom;
  return r;
}

template <class T>
std::int64_t Solver<T>::buffer_bytes() const noexcept {
  // A, work, B, X, and R while the residual runs (the size of B).
  return static_cast<std::int64_t>(A_.bytes() + work_.bytes() + 2 * B_.bytes() + X_.bytes());
}

template grid::BlockCyclicMatrix<double> synthetic_matrix<double>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                                  std::int64_t);
template grid::BlockCyclicMatrix<float> synthetic_matrix<float>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                                std::int64_t);
template grid::BlockCyclicMatrix<double> synthetic_rhs<double>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                               std::int64_t);
template grid::BlockCyclicMatrix<float> synthetic_rhs<float>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                             std::int64_t);
template Problem<double> read_input<double>(const grid::ProcessGrid&, const std::string&, std::int64_t, Algorithm);
template Problem<float> read_input<float>(const grid::ProcessGrid&, const std::string&, std::int64_t, Algorithm);
template class Solver<double>;
template class Solver<float>;

}  // namespace attnbench::solve
