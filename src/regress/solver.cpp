#include "regress/solver.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "linalg/lapack.hpp"

namespace attnbench::regress {

namespace {

template <class T>
class ReplicatedSolver final : public NewtonSolver<T> {
 public:
  explicit ReplicatedSolver(const dist::Comm& comm) : comm_(comm) {}
  int solve(std::vector<T>& H, std::int64_t N, double lambda, std::span<const T> rhs, std::span<T> step) override {
    if (static_cast<std::int64_t>(H.size()) != N * N || static_cast<std::int64_t>(rhs.size()) != N ||
        static_cast<std::int64_t>(step.size()) != N)
      throw internal_error("regress::ReplicatedSolver: sizes do not match N");
    diag_.resize(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) {
      T& h = H[static_cast<std::size_t>(i * N + i)];
      diag_[static_cast<std::size_t>(i)] = h;
      h += static_cast<T>(lambda);
    }
    std::copy(rhs.begin(), rhs.end(), step.begin());
    // Column-major lower = row-major upper triangle (j >= i): the row-major lower one survives.
    int info = linalg::posv(linalg::Uplo::lower, N, 1, H.data(), N, step.data(), N);
    for (std::int64_t i = 0; i < N; ++i) {
      H[static_cast<std::size_t>(i * N + i)] = diag_[static_cast<std::size_t>(i)];
      for (std::int64_t j = i + 1; j < N; ++j) H[static_cast<std::size_t>(i * N + j)] = H[static_cast<std::size_t>(j * N + i)];
    }
    if (info < 0) throw internal_error("regress: posv rejected argument " + std::to_string(-info));
    comm_.bcast(std::span<int>(&info, 1), 0);
    comm_.bcast(step, 0);
    return info;
  }
  std::string name() const override { return "replicated-lapack"; }

 private:
  dist::Comm comm_;
  std::vector<T> diag_;
};

}  // namespace

template <class T>
std::unique_ptr<NewtonSolver<T>> make_replicated_solver(const dist::Comm& comm) {
  return std::make_unique<ReplicatedSolver<T>>(comm);
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
template int solve_spd_rowmajor<float>(std::int64_t, std::vector<float>&, std::vector<float>&);
template int solve_spd_rowmajor<double>(std::int64_t, std::vector<double>&, std::vector<double>&);

}  // namespace attnbench::regress
