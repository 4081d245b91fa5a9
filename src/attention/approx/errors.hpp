#pragma once
// Errors of an approximate attention output O~ against exact attention O, shared by every
// approximate algorithm.
//   full:    O is computed in the same run by attention::mha_attention (ring), then
//            max-abs error      max |O~ - O|                (Allreduce MAX, with max |O|)
//            rel_error          max |O~ - O| / max |O|
//            rel Frobenius      |O~ - O|_F / |O|_F
//            rel spectral       |O~ - O|_2 / |O|_2
//            The norms come from the dv x dv Grams E^T E and O^T O (E = O~ - O), summed over ranks
//            with ONE Allreduce(SUM) of 2 dv^2 doubles: |X|_F^2 = trace(X^T X), |X|_2^2 =
//            lambda_max(X^T X) (cyclic Jacobi in double; dv is small).
//   sampled: seeded rows recomputed by the serial two-pass reference in double
//            (attention::validate_sampled, no mask): max-abs and relative-in-max errors on those rows;
//            the Frobenius and spectral errors are not measured (NaN).
//   none:    nothing measured.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attention/exact/mha.hpp"
#include "attention/problem.hpp"
#include "core/enum_names.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"

namespace attnbench::approx {

using attention::AttentionProblem;  // the one problem type (attention/problem.hpp); single head here

enum class ErrorMode { full, sampled, none };
// The one name table of the modes: printing, parsing (usage_error naming --error) and --error's
// choices (after "auto").
inline constexpr EnumNames<ErrorMode, 3> kErrorModes{
    {{ErrorMode::full, "full"}, {ErrorMode::sampled, "sampled"}, {ErrorMode::none, "none"}}};
inline std::string to_string(ErrorMode m) { return enum_name(kErrorModes, m); }
inline ErrorMode parse_error_mode(std::string_view s) { return parse_enum(kErrorModes, s, "--error"); }
// The default: full when an exact pass is affordable (n <= 16384), sampled otherwise.
inline constexpr std::int64_t kFullErrorMaxN = 16384;
ErrorMode default_error_mode(std::int64_t n);

struct ApproxErrors {
  ErrorMode mode = ErrorMode::none;
  std::string method;          // human-readable description, archived as /validation method
  std::int64_t rows_checked = 0;
  double max_abs_error = 0.0;
  double rel_error = 0.0;      // max_abs_error / max |O|
  double rel_frobenius_error = 0.0;  // NaN when not measured
  double rel_spectral_error = 0.0;   // NaN when not measured
  double exact_seconds = 0.0;  // full mode: time of the exact pass (max over ranks)
  // True when every measured error is a finite number (always true in mode none).
  bool finite() const;
};

// Largest eigenvalue of a symmetric n x n matrix (row-major, double); cyclic Jacobi.
double symmetric_max_eigenvalue(std::vector<double> A, std::int64_t n);

// Collective: the full-mode errors of O_approx against O_exact, both this rank's rows (same layout).
// One Allreduce(MAX) of 2 doubles and one Allreduce(SUM) of 2 dv^2 doubles.
template <class T>
ApproxErrors compare_outputs(const dist::Comm& comm, const Matrix<T>& O_approx, const Matrix<T>& O_exact);

// Collective: measures the errors of O_approx (this rank's rows of layout_q) in the given mode.
// full runs mha_attention with `exact` options (its variant is set to ring); sampled checks `sample_rows` rows drawn from seed.
template <class T>
ApproxErrors measure_errors(const dist::Comm& comm, const AttentionProblem<T>& problem, const Matrix<T>& O_approx,
                            ErrorMode mode, const attention::MhaOptions& exact, std::int64_t sample_rows,
                            std::uint64_t seed);

}  // namespace attnbench::approx
