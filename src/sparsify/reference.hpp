#pragma once
// Serial dense references of every sparsify method (small problems only: X is the whole n x d
// matrix on one process, row-major). Written with plain loops and hand-written Cholesky and
// triangular solves, independent of the distributed code's BLAS paths (BSS uses LAPACK syevd for
// its eigenvalues, and explicit matrix inverses instead of projections), drawing the same random
// choices from the same (seed, global index) streams. The distributed methods are tested against
// these at 1-4 ranks.
#include <vector>

#include "core/matrix.hpp"
#include "sparsify/sparsify.hpp"

namespace attnbench::sparsify {

// M = X X^T (full, row-major n x n).
std::vector<double> reference_gram(const Matrix<double>& X);
// Exact leverage scores tau_j = |L^{-1} x_j|^2 (sum = n).
std::vector<double> reference_leverage_scores(const Matrix<double>& X);
// The method of p on the whole X.
Result reference_run(const Matrix<double>& X, const Params& p);

}  // namespace attnbench::sparsify
