#include "solve/solve.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/precision.hpp"
#include "core/random.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "grid/redistribute.hpp"
#include "io/hdf5_file.hpp"
#include "linalg/scalapack.hpp"
#include "metrics/resources.hpp"

namespace attnbench::solve {

using grid::BlockCyclicLayout;
using grid::BlockCyclicMatrix;

std::string to_string(Algorithm a) { return enum_name(kAlgorithmNames, a); }
Algorithm parse_algorithm(const std::string& s) {
  try {
    return parse_enum(kAlgorithmNames, s, "--algo");
  } catch (const Error& e) {
    throw e.everywhere();  // the same text on every rank
  }
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
double SyntheticSpec::max_condition(double eps) const {
  return 1.0 + lambda_max_estimate() / (10.0 * std::sqrt(static_cast<double>(std::max<std::int64_t>(n, 1))) * eps);
}

std::int64_t footprint_bytes(const grid::GridShape& shape, int rank, std::int64_t n, std::int64_t nrhs,
                             std::int64_t block, std::int64_t synthetic_k, std::size_t element_size) {
  // Local entries as long double: each is < 2^62, but the sums and the bytes need not fit int64.
  const auto local = [&](std::int64_t cols) {
    return static_cast<long double>(BlockCyclicLayout(n, cols, block, block, shape).local_size_of_rank(rank));
  };
  const long double a = local(n), b = local(nrhs);
  const long double setup = synthetic_k > 0 ? 3 * a + local(synthetic_k) : 2 * a + b;
  const long double bytes = std::max(setup, 2 * a + 4 * b) * static_cast<long double>(element_size);
  return bytes >= 9.2e18L ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(bytes);
}

double synthetic_g(std::uint64_t seed, std::int64_t k, std::int64_t i, std::int64_t j) {
  return uniform_pm1(seed, kStreamG, static_cast<std::uint64_t>(i * k + j));
}
double synthetic_b(std::uint64_t seed, std::int64_t nrhs, std::int64_t i, std::int64_t j) {
  return uniform_pm1(seed, kStreamB, static_cast<std::uint64_t>(i * nrhs + j));
}

template <class T>
BlockCyclicMatrix<T> synthetic_matrix(const grid::ProcessGrid& g, const SyntheticSpec& s, std::int64_t block) {
  const double eps = std::numeric_limits<T>::epsilon();
  if (!(s.condition > 1.0) || !(s.condition <= s.max_condition(eps)))
    throw usage_error(fmt::format("--condition {:g}: the synthetic generator honours 1 < condition <= {:.3g} at "
                                  "N = {} in {} precision (the shift lambda_max / (condition - 1) must stay above "
                                  "10 sqrt(N) eps, the rounding of G G^T / k)",
                                  s.condition, s.max_condition(eps), s.n, to_string(precision_of<T>())))
        .everywhere();
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
  A.add_to_diagonal(delta);
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
// Machine epsilon of a floating-point file type by its size (float16, float32, float64; wider: 64).
double eps_of_type_size(std::size_t bytes) {
  if (bytes <= 2) return 0x1.0p-10;
  if (bytes <= 4) return static_cast<double>(std::numeric_limits<float>::epsilon());
  return std::numeric_limits<double>::epsilon();
}
// {max|A - A^T|, max|A|} over the grid. Data movement: one p?tran into a temporary (every entry
// travels to the owner of its transposed position, about N^2 / p words per rank), then local
// maxima and one Allreduce of two doubles. The difference is taken in double: an Inf (entries of
// opposite sign near the largest double) is an asymmetry, never a pass.
template <class T>
std::pair<double, double> asymmetry_max(const grid::ProcessGrid& g, const BlockCyclicMatrix<T>& A) {
  const std::int64_t n = A.rows();
  BlockCyclicMatrix<T> At(A.layout(), g);
  if (n > 0) linalg::ptran(n, n, T(1), A.data(), A.descriptor(), T(0), At.data(), At.descriptor());
  std::array<double, 2> m = {0.0, 0.0};
  A.for_each_local([&](grid::LocalElementIndex l) {
    const double a = static_cast<double>(A.at(l)), at = static_cast<double>(At.at(l));
    m[0] = std::max(m[0], std::abs(at - a));
    m[1] = std::max(m[1], std::abs(a));
  });
  g.comm().allreduce(std::span<double>(m), dist::Op::max);
  return {m[0], m[1]};
}

template <class T>
void check_finite(const BlockCyclicMatrix<T>& M, const std::string& path, const std::string& name,
                  std::size_t stored_size) {
  M.for_each_local([&](grid::LocalElementIndex l) {
    if (std::isfinite(M.at(l))) return;
    const grid::GlobalElementIndex g = M.global_index(l);
    throw input_error("'" + path + "': dataset " + name + " has " +
                      io::non_finite_text(static_cast<double>(M.at(l)), stored_size, sizeof(T),
                                          "at row " + std::to_string(g.row().value()) + ", column " +
                                              std::to_string(g.col().value())));
  });
}
}  // namespace

template <class T>
Problem<T> read_input(const grid::ProcessGrid& g, const std::string& path, std::int64_t block, Algorithm algo) {
  const dist::Comm& comm = g.comm();
  // Rank 0 checks the file with serial calls first, so a missing or foreign file never reaches the
  // collective open.
  dist::agree_on_success(comm, [&] {
    if (comm.is_root()) io::check_input_file(path);
  });
  const io::File file = io::File::open_read(comm, path);
  std::int64_t n = 0, nrhs = 0;
  std::size_t a_type_size = 8, b_type_size = 8;
  // Metadata checks: identical answers on every rank (same file), agreed anyway.
  dist::agree_on_success(comm, [&] {
    for (const char* name : {"/A", "/B"})
      if (!file.has_dataset(name))
        throw input_error("'" + path + "': missing dataset " + std::string(name) + " (expected /A and /B)");
    const io::DatasetShape a = file.shape("/A"), b = file.shape("/B");
    if (a.dims.size() != 2 || a.dims[0] != a.dims[1] || a.dims[0] < 1)
      throw input_error("'" + path + "': dataset /A must be a non-empty square 2-D matrix, it has shape " +
                        io::dims_string(a.dims));
    if (b.dims.size() != 2 || b.dims[1] < 1)
      throw input_error("'" + path + "': dataset /B must be 2-D (N x nrhs, nrhs >= 1), it has shape " +
                        io::dims_string(b.dims));
    if (!a.is_float || !b.is_float) throw input_error("'" + path + "': datasets /A and /B must be float32 or float64");
    if (b.dims[0] != a.dims[0])
      throw input_error("'" + path + "': shape mismatch: /B has " + std::to_string(b.dims[0]) + " rows but /A is " +
                        io::dims_string(a.dims));
    if (a.dims[0] > std::numeric_limits<int>::max() || b.dims[1] > std::numeric_limits<int>::max())
      throw input_error("'" + path + "': /A or /B exceeds ScaLAPACK's int sizes");
    n = a.dims[0];
    nrhs = b.dims[1];
    a_type_size = a.type_size;
    b_type_size = b.type_size;
  });
  // Before anything is allocated: a small file can declare a matrix no node holds (exit 3).
  metrics::check_memory_fits(
      comm, footprint_bytes(g.shape(), comm.rank(), n, nrhs, block, 0, sizeof(T)),
      fmt::format("'{}': /A [{} x {}] and /B [{} x {}] read as {} (with the solve's work copies)", path, n, n, n, nrhs,
                  sizeof(T) == 4 ? "float32" : "float64"),
      ExitCode::input);
  Problem<T> p;
  p.A = grid::read_block_cyclic<T>(g, file, "/A", BlockCyclicLayout(n, n, block, block, g.shape()));
  p.B = grid::read_block_cyclic<T>(g, file, "/B", BlockCyclicLayout(n, nrhs, block, block, g.shape()));
  dist::agree_on_success(comm, [&] {
    check_finite(p.A, path, "/A", a_type_size);
    check_finite(p.B, path, "/B", b_type_size);
  });
  if (algo == Algorithm::cholesky) {
    const double eps = std::max<double>(std::numeric_limits<T>::epsilon(), eps_of_type_size(a_type_size));
    const auto [diff, amax] = asymmetry_max(g, p.A);
    p.asymmetry = amax > 0 ? diff / amax : 0.0;
    p.asymmetry_bound = 2.0 * static_cast<double>(n) * eps;
    // Identical on every rank (two maxima over the grid): every rank throws the same error.
    if (!(diff <= p.asymmetry_bound * amax))
      throw input_error(fmt::format(
                "'{}': dataset /A is not symmetric: max|A - A^T| / max|A| = {:.3g}, above the rounding bound 2 N eps "
                "= {:.3g} (N = {}, eps = {:.3g}); --algo cholesky reads only the lower triangle and would solve "
                "another matrix: use --algo lu for a general A, or symmetrize the file ((A + A^T) / 2)",
                path, p.asymmetry, p.asymmetry_bound, n, eps))
          .everywhere();
  }
  return p;
}

// ---- solver ------------------------------------------------------------------------------------------
template <class T>
Solver<T>::Solver(const grid::ProcessGrid& g, Algorithm algo, BlockCyclicMatrix<T> A, BlockCyclicMatrix<T> B)
    : grid_(&g), algo_(algo), A_(std::move(A)), B_(std::move(B)), work_(A_.layout(), g), X_(B_.layout(), g) {
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
  factored_ = true;
  return t;
}

namespace {
// The exponent e with max|M| < 2^e <= 2 max|M| over the grid (frexp), or 0 for M = 0; nullopt when
// M holds a NaN or an Inf. One Allreduce of a double.
template <class T>
std::optional<int> max_exponent(const dist::Comm& comm, const BlockCyclicMatrix<T>& M) {
  double mx = 0.0;
  bool finite = true;
  M.for_each_local([&](grid::LocalElementIndex l) {
    const double v = std::abs(static_cast<double>(M.at(l)));
    finite = finite && std::isfinite(v);
    mx = std::max(mx, v);
  });
  mx = comm.allreduce(finite ? mx : std::numeric_limits<double>::infinity(), dist::Op::max);
  if (!std::isfinite(mx)) return std::nullopt;
  int e = 0;
  if (mx > 0) std::frexp(mx, &e);
  return e;
}
// out := M 2^-e, entry by entry (exact, except entries that become subnormal: they lie 2^-1022
// below the largest and do not change a norm or a residual at the level of eps).
template <class T>
void scaled_copy(const BlockCyclicMatrix<T>& M, int e, BlockCyclicMatrix<T>& out) {
  M.for_each_local([&](grid::LocalElementIndex l) { out.at(l) = std::ldexp(M.at(l), -e); });
}
}  // namespace

template <class T>
Residual scaled_residual(const grid::ProcessGrid& g, const BlockCyclicMatrix<T>& A, const BlockCyclicMatrix<T>& X,
                         const BlockCyclicMatrix<T>& B, BlockCyclicMatrix<T>& scratch) {
  const dist::Comm& comm = g.comm();
  const std::int64_t n = A.rows(), nrhs = B.cols();
  Residual r;
  const std::optional<int> ea = max_exponent(comm, A), ex = max_exponent(comm, X), eb = max_exponent(comm, B);
  if (!ea || !ex || !eb) {
    // A NaN or Inf in X (or A, B): nothing to scale, and never valid.
    r.residual_norm = r.scaled = std::numeric_limits<double>::infinity();
    r.a_norm = r.x_norm = r.b_norm = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  // A_s := A 2^-ea, X_s := X 2^-ex, R_s := B 2^-(ea+ex) - A_s X_s = -(A X - B) 2^-(ea+ex): every
  // entry of A_s and X_s is below 1, so p?gemm's sums stay below N (no overflow, no underflow of the
  // products). B_s can overflow only if B is far larger than A X: then R_s is Inf, never a pass.
  BlockCyclicMatrix<T>& As = scratch;
  scaled_copy(A, *ea, As);
  BlockCyclicMatrix<T> Xs(X.layout(), g), R(B.layout(), g);
  scaled_copy(X, *ex, Xs);
  scaled_copy(B, *ea + *ex, R);
  // R[owner] := A_s X_s - R: p?gemm moves A_s's and X_s's blocks along the grid's rows and columns
  // (2 N^2 nrhs flops); each p?lange is a local row-sum plus one reduction over the grid.
  if (n > 0)
    linalg::pgemm(false, false, n, nrhs, n, T(1), As.data(), As.descriptor(), Xs.data(), Xs.descriptor(), T(-1),
                  R.data(), R.descriptor());
  const double res_s = linalg::pnorm_inf(n, nrhs, R.data(), R.descriptor());
  const double a_s = linalg::pnorm_inf(n, n, As.data(), As.descriptor());
  const double x_s = linalg::pnorm_inf(n, nrhs, Xs.data(), Xs.descriptor());
  const double eps = std::numeric_limits<T>::epsilon();
  // The ratio of the scaled quantities equals the unscaled one; a_s, x_s lie in [1/2, N] (or 0).
  // B = 0 gives X = 0 and R = 0 exactly: a perfect solve, not 0/0. A NaN residual is not < 16.
  r.scaled = res_s == 0.0 ? 0.0 : res_s / (a_s * x_s * static_cast<double>(n) * eps);
  if (std::isnan(r.scaled)) r.scaled = std::numeric_limits<double>::infinity();
  r.residual_norm = std::ldexp(res_s, *ea + *ex);
  r.a_norm = std::ldexp(a_s, *ea);
  r.x_norm = std::ldexp(x_s, *ex);
  // |B|_inf from B scaled by its own exponent (B_s above may have overflowed).
  scaled_copy(B, *eb, R);
  r.b_norm = std::ldexp(linalg::pnorm_inf(n, nrhs, R.data(), R.descriptor()), *eb);
  return r;
}

template <class T>
Residual Solver<T>::residual() {
  const std::int64_t n = A_.rows();
  if (factored_ && n > 0) {
    // rcond = 1 / (|A|_1 |A^-1|_1). p?pocon / p?gecon return (1 / ainvnm) / anorm and use anorm for
    // nothing else: pass 1 and divide by |A|_1 here, scaled (|A|_1 itself can exceed the range of T).
    double inv_ainvnm = 0.0;
    const int info = algo_ == Algorithm::cholesky
                         ? linalg::ppocon(linalg::Uplo::lower, n, work_.data(), work_.descriptor(), 1.0, inv_ainvnm)
                         : linalg::pgecon(n, work_.data(), work_.descriptor(), 1.0, inv_ainvnm);
    linalg::check_info(algo_ == Algorithm::cholesky ? "p?pocon" : "p?gecon", info);
    const int ea = max_exponent(grid_->comm(), A_).value_or(0);  // A is finite (checked at input)
    scaled_copy(A_, ea, work_);
    const double a1_s = linalg::pnorm_one(n, n, work_.data(), work_.descriptor());
    rcond_ = a1_s > 0 ? std::ldexp(inv_ainvnm / a1_s, -ea) : 0.0;
    factored_ = false;  // work_ is the scratch of the residual from here on
  }
  Residual r = scaled_residual(*grid_, A_, X_, B_, work_);
  r.rcond = rcond_;
  return r;
}

template <class T>
std::int64_t Solver<T>::buffer_bytes() const noexcept {
  // A, work, B, X, and R and the scaled X while the residual runs (the size of B each).
  return static_cast<std::int64_t>(A_.bytes() + work_.bytes() + 3 * B_.bytes() + X_.bytes());
}

template grid::BlockCyclicMatrix<double> synthetic_matrix<double>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                                  std::int64_t);
template grid::BlockCyclicMatrix<float> synthetic_matrix<float>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                                std::int64_t);
template grid::BlockCyclicMatrix<double> synthetic_rhs<double>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                               std::int64_t);
template grid::BlockCyclicMatrix<float> synthetic_rhs<float>(const grid::ProcessGrid&, const SyntheticSpec&,
                                                             std::int64_t);
template Residual scaled_residual<double>(const grid::ProcessGrid&, const BlockCyclicMatrix<double>&,
                                         const BlockCyclicMatrix<double>&, const BlockCyclicMatrix<double>&,
                                         BlockCyclicMatrix<double>&);
template Residual scaled_residual<float>(const grid::ProcessGrid&, const BlockCyclicMatrix<float>&,
                                        const BlockCyclicMatrix<float>&, const BlockCyclicMatrix<float>&,
                                        BlockCyclicMatrix<float>&);
template Problem<double> read_input<double>(const grid::ProcessGrid&, const std::string&, std::int64_t, Algorithm);
template Problem<float> read_input<float>(const grid::ProcessGrid&, const std::string&, std::int64_t, Algorithm);
template class Solver<double>;
template class Solver<float>;

}  // namespace attnbench::solve
