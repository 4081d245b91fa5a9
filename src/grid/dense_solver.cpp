#include "grid/dense_solver.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "grid/dist_matrix.hpp"
#include "grid/process_grid.hpp"
#include "grid/redistribute.hpp"
#include "linalg/lapack.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::grid {

namespace {

constexpr std::size_t at(std::int64_t i, std::int64_t j, std::int64_t n) { return static_cast<std::size_t>(i * n + j); }

// What both backends keep of a held matrix: its order and diagonal mean, and the checks.
template <class T>
class HeldBase : public DenseSolver<T> {
 public:
  explicit HeldBase(const dist::Comm& comm) : comm_(comm) {}
  double mean_abs_diag() const override { return mean_diag_; }

 protected:
  // Starts holding an N x N matrix of `size` values (whole or partial).
  void start_hold(std::size_t size, std::int64_t N) {
    if (static_cast<std::int64_t>(size) != N * N)
      throw internal_error("grid::DenseSolver (" + this->kind() + "): the held matrix is not N x N");
    N_ = N;
  }
  // Records rank 0's mean |A_ii| on every rank (one MPI_Bcast of a double).
  void set_mean_diag(double mean) {
    mean_diag_ = mean;
    comm_.bcast(std::span<double>(&mean_diag_, 1), 0);
  }
  void check_solve(std::span<const T> rhs, std::span<T> x) const {
    if (static_cast<std::int64_t>(rhs.size()) != N_ || static_cast<std::int64_t>(x.size()) != N_)
      throw internal_error("grid::DenseSolver (" + this->kind() + "): sizes do not match N");
  }

  dist::Comm comm_;
  std::int64_t N_ = 0;

 private:
  double mean_diag_ = 0.0;
};

template <class T>
class ReplicatedSolver final : public HeldBase<T> {
 public:
  explicit ReplicatedSolver(const dist::Comm& comm) : HeldBase<T>(comm) {}
  std::string kind() const override { return "replicated-lapack"; }
  std::string name() const override { return kind(); }

  int cholesky(std::int64_t n, std::vector<T>& A) const override {
    // Row-major lower = column-major upper: potrf(upper) leaves U with A = U^T U (column-major),
    // which read row-major is L = U^T with A = L L^T.
    const int info = linalg::potrf(linalg::Uplo::upper, n, A.data(), n);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i + 1; j < n; ++j) A[at(i, j, n)] = T(0);
    return info;
  }
  int eigen(std::int64_t n, std::vector<T>& A, std::vector<T>& w, bool vectors) const override {
    w.assign(static_cast<std::size_t>(n), T(0));
    // Column j of the column-major result is eigenvector j: row j of the row-major array.
    return linalg::syevd(vectors, linalg::Uplo::upper, n, A.data(), n, w.data());
  }

  bool partial_sums() const override { return false; }
  void hold(std::vector<T>&& A, std::int64_t N) override {
    this->start_hold(A.size(), N);
    A_ = std::move(A);
    double s = 0.0;
    for (std::int64_t i = 0; i < N; ++i) s += std::abs(static_cast<double>(A_[at(i, i, N)]));
    this->set_mean_diag(N > 0 ? s / static_cast<double>(N) : 0.0);
  }
  int solve(double shift, std::span<const T> rhs, std::span<T> x) override {
    this->check_solve(rhs, x);
    const std::int64_t N = this->N_;
    diag_.resize(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) {
      T& a = A_[at(i, i, N)];
      diag_[static_cast<std::size_t>(i)] = a;
      a += static_cast<T>(shift);
    }
    std::copy(rhs.begin(), rhs.end(), x.begin());
    // Column-major lower = row-major upper triangle (j >= i): the row-major lower one survives.
    int info = linalg::posv(linalg::Uplo::lower, N, 1, A_.data(), N, x.data(), N);
    for (std::int64_t i = 0; i < N; ++i) {
      A_[at(i, i, N)] = diag_[static_cast<std::size_t>(i)];
      for (std::int64_t j = i + 1; j < N; ++j) A_[at(i, j, N)] = A_[at(j, i, N)];
    }
    if (info < 0) throw internal_error("LAPACK posv rejected argument " + std::to_string(-info));
    this->comm_.bcast(std::span<int>(&info, 1), 0);
    this->comm_.bcast(x, 0);
    return info;
  }

 private:
  std::vector<T> A_, diag_;
};

template <class T>
class GridSolver final : public HeldBase<T> {
 public:
  GridSolver(const dist::Comm& comm, GridShape shape, std::int64_t nb)
      : HeldBase<T>(comm), grid_(comm, shape), nb_(std::max<std::int64_t>(1, nb)) {}
  std::string kind() const override { return "scalapack"; }
  std::string name() const override { return kind() + "-" + grid_.shape().to_string(); }

  int cholesky(std::int64_t n, std::vector<T>& A) const override {
    BlockCyclicMatrix<T> D = deal(n, A);
    // L L^T := A (lower, distributed), agreed info; then A[*] := L[owner] (Allgatherv, n^2 words).
    const int info = linalg::ppotrf(linalg::Uplo::lower, n, D.data(), D.descriptor());
    const Matrix<T> L = gather_replicated(grid_, D);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) A[at(i, j, n)] = j <= i ? L(i, j) : T(0);
    return info;
  }
  int eigen(std::int64_t n, std::vector<T>& A, std::vector<T>& w, bool vectors) const override {
    BlockCyclicMatrix<T> D = deal(n, A);
    BlockCyclicMatrix<T> Z(D.layout(), grid_);
    w.assign(static_cast<std::size_t>(n), T(0));
    // p?syevd always computes vectors; w is on every process.
    const int info = linalg::psyevd(linalg::Uplo::lower, n, D.data(), D.descriptor(), w.data(), Z.data(), Z.descriptor());
    if (vectors) {
      // Row k of A := eigenvector k = column k of Z (Allgatherv of n^2 words).
      const Matrix<T> Zr = gather_replicated(grid_, Z);
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < n; ++i) A[at(k, i, n)] = Zr(i, k);
    }
    return info;
  }

  bool partial_sums() const override { return true; }
  void hold(std::vector<T>&& A_partial, std::int64_t N) override {
    this->start_hold(A_partial.size(), N);
    const BlockCyclicLayout layout(N, N, nb_, nb_, grid_.shape());
    Matrix<T> partial(N, N);
    std::copy(A_partial.begin(), A_partial.end(), partial.data());
    A_partial.clear();
    A_partial.shrink_to_fit();
    // A[owner] := sum of the partials: one MPI_Reduce_scatter ((p-1)/p N^2 words per rank).
    A_ = reduce_scatter_to_block_cyclic(grid_, layout, partial);
    saved_ = A_.local();
    this->set_mean_diag(this->comm_.allreduce(A_.local_abs_diagonal_sum(), dist::Op::sum) /
                        static_cast<double>(std::max<std::int64_t>(N, 1)));
  }
  int solve(double shift, std::span<const T> rhs, std::span<T> x) override {
    this->check_solve(rhs, x);
    const std::int64_t N = this->N_;
    A_.local() = saved_;  // p?posv overwrites its A: start every solve from the held A
    A_.add_to_diagonal(static_cast<T>(shift));
    BlockCyclicMatrix<T> b(BlockCyclicLayout(N, 1, nb_, 1, grid_.shape()), grid_);
    b.fill([&](std::int64_t i, std::int64_t) { return rhs[static_cast<std::size_t>(i)]; });
    // (A + shift I) x = rhs on the grid; the info is agreed over the grid by the wrapper.
    const int info = linalg::pposv(linalg::Uplo::lower, N, 1, A_.data(), A_.descriptor(), b.data(), b.descriptor());
    if (info < 0) linalg::check_info("pposv", info);
    if (info == 0) {
      // x[*] := x[owner]: one MPI_Allgatherv of N words.
      const Matrix<T> all = gather_replicated(grid_, b);
      std::copy(all.data(), all.data() + N, x.begin());
    }
    return info;
  }

 private:
  // The replicated row-major n x n A as this rank's block-cyclic share (A symmetric, or read as
  // A(i, j) = A[i n + j]); no communication.
  BlockCyclicMatrix<T> deal(std::int64_t n, const std::vector<T>& A) const {
    BlockCyclicMatrix<T> D(BlockCyclicLayout(n, n, nb_, nb_, grid_.shape()), grid_);
    D.fill([&](std::int64_t i, std::int64_t j) { return A[at(i, j, n)]; });
    return D;
  }

  ProcessGrid grid_;
  std::int64_t nb_;
  BlockCyclicMatrix<T> A_;
  std::vector<T> saved_;
};

}  // namespace

template <class T>
std::unique_ptr<DenseSolver<T>> make_replicated_solver(const dist::Comm& comm) {
  return std::make_unique<ReplicatedSolver<T>>(comm);
}

template <class T>
std::unique_ptr<DenseSolver<T>> make_grid_solver(const dist::Comm& comm, GridShape shape, std::int64_t nb) {
  return std::make_unique<GridSolver<T>>(comm, shape, nb);
}

template <class T>
int solve_spd_rowmajor(std::int64_t d, std::vector<T>& A, std::vector<T>& Bm) {
  // LAPACK sees the row-major Bm as Bm^T: transpose in and out so that Z = A^{-1} Bm.
  std::vector<T> colmajor(Bm.size());
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) colmajor[at(j, i, d)] = Bm[at(i, j, d)];
  const int info = linalg::posv(linalg::Uplo::lower, d, d, A.data(), d, colmajor.data(), d);
  if (info == 0)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) Bm[at(i, j, d)] = colmajor[at(j, i, d)];
  return info;
}

#define ATTNBENCH_INSTANTIATE(T)                                                                          \
  template std::unique_ptr<DenseSolver<T>> make_replicated_solver<T>(const dist::Comm&);                 \
  template std::unique_ptr<DenseSolver<T>> make_grid_solver<T>(const dist::Comm&, GridShape, std::int64_t); \
  template int solve_spd_rowmajor<T>(std::int64_t, std::vector<T>&, std::vector<T>&);
ATTNBENCH_INSTANTIATE(float)
ATTNBENCH_INSTANTIATE(double)
#undef ATTNBENCH_INSTANTIATE

}  // namespace attnbench::grid
