#pragma once
// Helpers of the regress MPI tests (test_regress_mpi.cpp, test_regress_sketch_mpi.cpp): the whole
// problem on every rank for the serial reference, a seeded point x = [vec X; vec Y], and its blocks.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/matrix.hpp"
#include "mpi_test_util.hpp"
#include "regress/problem.hpp"
#include "regress/reference.hpp"

namespace attnbench::regress::testing {

// The whole problem on every rank, as the reference wants it (in double).
template <class T>
ReferenceProblem gather_problem(const dist::Comm& comm, const RegressData<T>& D) {
  ReferenceProblem p;
  auto to_double = [](const Matrix<T>& m) {
    Matrix<double> out(m.rows(), m.cols());
    for (std::int64_t i = 0; i < m.size(); ++i) out.data()[i] = static_cast<double>(m.data()[i]);
    return out;
  };
  p.A1 = to_double(testing_support::gather_all_rows(comm, D.layout, D.A1, D.d));
  p.B = to_double(testing_support::gather_all_rows(comm, D.layout, D.B, D.d));
  p.A2 = to_double(D.A2);
  p.A3 = to_double(D.A3);
  p.scale = D.scale;
  return p;
}

// x = f u, u uniform in [-1, 1)^(2 d^2) from (seed, stream).
inline std::vector<double> point(std::int64_t d, std::uint64_t seed, double f, std::uint64_t stream = 77) {
  std::vector<double> x(static_cast<std::size_t>(2 * d * d));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = f * uniform_pm1(seed, stream, i);
  return x;
}

// Block `which` (0: X, 1: Y) of x as a d x d matrix.
inline Matrix<double> block(const std::vector<double>& x, std::int64_t d, int which) {
  Matrix<double> m(d, d);
  std::copy(x.begin() + which * d * d, x.begin() + (which + 1) * d * d, m.data());
  return m;
}

}  // namespace attnbench::regress::testing
