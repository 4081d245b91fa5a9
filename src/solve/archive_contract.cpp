#include "solve/archive_contract.hpp"

namespace attnbench::solve {

std::vector<harness::ArchiveKey> solve_archive_keys() {
  constexpr auto P = harness::KeyRole::point, Tu = harness::KeyRole::tuning, R = harness::KeyRole::result;
  const std::string synthetic = "synthetic input", input = "cholesky from --input";
  // Every key here has been written since the kernel's first archive (the root "input" it once
  // listed among its problem keys is the common root attribute).
  return {
      {"/", "n", "int64", "matrix size N", P},
      {"/", "nrhs", "int64", "right-hand sides", P},
      {"/parameters", "grid", "string", "process grid PRxPC", Tu},
      {"/parameters", "grid_rows", "int64", "PR", Tu},
      {"/parameters", "grid_cols", "int64", "PC", Tu},
      {"/parameters", "block", "int64", "block size mb = nb used (after clamping to N)", Tu},
      {"/parameters", "residual_threshold", "float64", "16 (HPL)", R},
      {"/parameters", "condition", "float64", "requested condition number", P, {}, synthetic},
      {"/parameters", "synthetic_rank", "int64", "k, the columns of G", R, {}, synthetic},
      {"/parameters", "shift", "float64", "delta, the diagonal shift", R, {}, synthetic},
      {"/parameters", "input_asymmetry", "float64", "max|A - A^T| / max|A| of the input", R, {"cholesky"}, input},
      {"/parameters", "asymmetry_bound", "float64", "2 N eps: the largest input_asymmetry accepted", R, {"cholesky"},
       input},
      {"/validation", "scaled_residual", "float64", "|A X - B|_inf / (|A|_inf |X|_inf N eps)", R},
      {"/validation", "residual_norm", "float64", "|A X - B|_inf", R},
      {"/validation", "a_norm", "float64", "|A|_inf", R},
      {"/validation", "x_norm", "float64", "|X|_inf", R},
      {"/validation", "b_norm", "float64", "|B|_inf", R},
      {"/validation", "rcond", "float64", "1 / cond_1(A), estimated from the factor (p?pocon / p?gecon)", R},
      {"/validation", "condition_warning", "string", "A is singular to working precision", R, {}, "rcond < eps"},
      {"/output", "X", "dataset", "the N x nrhs solution", R, {}, "--save-output"},
  };
}

}  // namespace attnbench::solve
