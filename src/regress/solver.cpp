#include "regress/solver.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "grid/dist_matrix.hpp"
#include "grid/process_grid.hpp"
#include "grid/redistribute.hpp"
#include "linalg/lapack.hpp"
#include "linalg/scalapack.hpp"

namespace attnbench::regress {

namespace {

template <class T>
class ReplicatedSolver final : public NewtonSolver<T> {
 public:
  explicit ReplicatedSolver(const dist::Comm& comm) : comm_(comm) {}
  bool partial_hessian() const override { return false; }
  void set_hessian(std::vector<T>&& H, std::int64_t N) override {
    if (static_cast<std::int64_t>(H.size()) != N * N) throw internal_error("regress::ReplicatedSolver: H is not N x N");
    H_ = std::move(H);
    N_ = N;
    double s = 0.0;
    for (std::int64_t i = 0; i < N; ++i) s += std::abs(static_cast<double>(H_[static_cast<std::size_t>(i * N + i)]));
    mean_diag_ = N > 0 ? s / static_cast<double>(N) : 0.0;
    comm_.bcast(std::span<double>(&mean_diag_, 1), 0);
  }
  double mean_abs_diag() const override { return mean_diag_; }
  int solve(double lambda, std::span<const T> rhs, std::span<T> step) override {
    const std::int64_t N = N_;
    if (static_cast<std::int64_t>(rhs.size()) != N || static_cast<std::int64_t>(step.size()) != N)
      throw internal_error("regress::ReplicatedSolver: sizes do not match N");
    diag_.resize(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) {
      T& h = H_[static_cast<std::size_t>(i * N + i)];
      diag_[static_cast<std::size_t>(i)] = h;
      h += static_cast<T>(lambda);
    }
    std::copy(rhs.begin(), rhs.end(), step.begin());
    // Column-major lower = row-major upper triangle (j >= i): the row-major lower one survives.
    int info = linalg::posv(linalg::Uplo::lower, N, 1, H_.data(), N, step.data(), N);
    for (std::int64_t i = 0; i < N; ++i) {
      H_[static_cast<std::size_t>(i * N + i)] = diag_[static_cast<std::size_t>(i)];
      for (std::int64_t j = i + 1; j < N; ++j) H_[static_cast<std::size_t>(i * N + j)] = H_[static_cast<std::size_t>(j * N + i)];
    }
    if (info < 0) throw internal_error("regress: posv rejected argument " + std::to_string(-info));
    comm_.bcast(std::span<int>(&info, 1), 0);
    comm_.bcast(step, 0);
    return info;
  }
  std::string name() const override { return "replicated-lapack"; }
  std::int64_t bytes(std::int64_t N) const override { return (N * N + N) * static_cast<std::int64_t>(sizeof(T)); }

 private:
  dist::Comm comm_;
  std::vector<T> H_, diag_;
  std::int64_t N_ = 0;
  double mean_diag_ = 0.0;
};

template <class T>
class ScalapackSolver final : public NewtonSolver<T> {
 public:
  ScalapackSolver(const dist::Comm& comm, grid::GridShape shape, std::int64_t nb)
      : comm_(comm), grid_(comm, shape), nb_(std::max<std::int64_t>(1, nb)) {}
  bool partial_hessian() const override { return true; }

  void set_hessian(std::vector<T>&& H_partial, std::int64_t N) override {
    if (static_cast<std::int64_t>(H_partial.size()) != N * N) throw internal_error("regress::ScalapackSolver: H is not N x N");
    N_ = N;
    layout_ = grid::BlockCyclicLayout(N, N, nb_, nb_, grid_.shape());
    Matrix<T> partial(N, N);
    std::copy(H_partial.begin(), H_partial.end(), partial.data());
    H_partial.clear();
    H_partial.shrink_to_fit();
    // H[owner] := sum of the partials: one MPI_Reduce_scatter ((p-1)/p N^2 words per rank).
    H_ = grid::reduce_scatter_to_block_cyclic(grid_, layout_, partial);
    saved_ = H_.local();
    double s = 0.0;
    for (std::int64_t lj = 0; lj < H_.local_cols(); ++lj)
      for (std::int64_t li = 0; li < H_.local_rows(); ++li)
        if (H_.global_row(li) == H_.global_col(lj)) s += std::abs(static_cast<double>(H_.at(li, lj)));
    mean_diag_ = comm_.allreduce(s, dist::Op::sum) / static_cast<double>(std::max<std::int64_t>(N, 1));
    comm_.bcast(std::span<double>(&mean_diag_, 1), 0);
  }
  double mean_abs_diag() const override { return mean_diag_; }

  int solve(double lambda, std::span<const T> rhs, std::span<T> step) override {
    const std::int64_t N = N_;
    if (static_cast<std::int64_t>(rhs.size()) != N || static_cast<std::int64_t>(step.size()) != N)
      throw internal_error("regress::ScalapackSolver: sizes do not match N");
    H_.local() = saved_;  // pposv overwrites its A: start every solve from the held H
    for (std::int64_t lj = 0; lj < H_.local_cols(); ++lj)
      for (std::int64_t li = 0; li < H_.local_rows(); ++li)
        if (H_.global_row(li) == H_.global_col(lj)) H_.at(li, lj) += static_cast<T>(lambda);
    const grid::BlockCyclicLayout vec_layout(N, 1, nb_, 1, grid_.shape());
    grid::BlockCyclicMatrix<T> b(vec_layout, grid_);
    b.fill([&](std::int64_t i, std::int64_t) { return rhs[static_cast<std::size_t>(i)]; });
    // (H + lambda I) step = rhs on the grid; the info is agreed over the grid by the wrapper.
    const int info = linalg::pposv(linalg::Uplo::lower, N, 1, H_.data(), H_.descriptor(), b.data(), b.descriptor());
    if (info < 0) linalg::check_info("pposv", info);
    if (info == 0) {
      // step[*] := step[owner]: one MPI_Allgatherv of N words.
      const Matrix<T> all = grid::gather_replicated(grid_, b);
      std::copy(all.data(), all.data() + N, step.begin());
    }
    return info;
  }
  std::string name() const override { return "scalapack-" + grid_.shape().to_string(); }
  std::int64_t bytes(std::int64_t N) const override {
    const std::int64_t p = grid_.shape().size();
    return (2 * N * N + 2 * (N * N / p + 2 * nb_ * N)) * static_cast<std::int64_t>(sizeof(T));
  }

 private:
  dist::Comm comm_;
  grid::ProcessGrid grid_;
  std::int64_t nb_;
  std::int64_t N_ = 0;
  grid::BlockCyclicLayout layout_{};
  grid::BlockCyclicMatrix<T> H_;
  std::vector<T> saved_;
  double mean_diag_ = 0.0;
};

}  // namespace

template <class T>
std::unique_ptr<NewtonSolver<T>> make_replicated_solver(const dist::Comm& comm) {
  return std::make_unique<ReplicatedSolver<T>>(comm);
}

template <class T>
std::unique_ptr<NewtonSolver<T>> make_scalapack_solver(const dist::Comm& comm, grid::GridShape shape, std::int64_t nb) {
  return std::make_unique<ScalapackSolver<T>>(comm, shape, nb);
}

template <class T>
int solve_spd_rowmajor(std::int64_t d, std::vector<T>& A, std::vector<T>& Bm) {
  // LAPACK sees the row-major Bm as Bm^T: transpose in and out so that Z = A^{-1} Bm.
  std::vector<T> colmajor(Bm.size());
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) colmajor[static_cast<std::size_t>(j * d + i)] = Bm[static_cast<std::size_t>(i * d + j)];
  const int info = linalg::posv(linalg::Uplo::lower, d, d, A.data(), d, colmajor.data(), d);
  if (info == 0)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) Bm[static_cast<std::size_t>(i * d + j)] = colmajor[static_cast<std::size_t>(j * d + i)];
  return info;
}

template std::unique_ptr<NewtonSolver<float>> make_replicated_solver<float>(const dist::Comm&);
template std::unique_ptr<NewtonSolver<double>> make_replicated_solver<double>(const dist::Comm&);
template std::unique_ptr<NewtonSolver<float>> make_scalapack_solver<float>(const dist::Comm&, grid::GridShape, std::int64_t);
template std::unique_ptr<NewtonSolver<double>> make_scalapack_solver<double>(const dist::Comm&, grid::GridShape, std::int64_t);
template int solve_spd_rowmajor<float>(std::int64_t, std::vector<float>&, std::vector<float>&);
template int solve_spd_rowmajor<double>(std::int64_t, std::vector<double>&, std::vector<double>&);

}  // namespace attnbench::regress
