#pragma once
// Error taxonomy of attnbench. Every failure carries the exit code it maps to, so that a failure
// agreed across ranks (dist/collective.hpp) ends every rank with the same, documented code.
#include <array>
#include <stdexcept>
#include <string>

namespace attnbench {

// Exit codes of the attnbench program; kExitCodes below names and explains each.
enum class ExitCode : int { ok = 0, internal = 1, usage = 2, input = 3, invalid = 4, output = 5, does_not_fit = 6 };

// The one declaration of what each exit code means: --help, --describe ("exit_codes", by name)
// and, through --describe, the study tools and tests/check_exit_codes.py (README) read it.
struct ExitCodeInfo {
  ExitCode code;
  const char* name;
  const char* meaning;
};
inline constexpr std::array<ExitCodeInfo, 7> kExitCodes{{
    {ExitCode::ok, "ok", "success (and the run validated)"},
    {ExitCode::internal, "internal", "internal error (a bug, or an MPI/library failure)"},
    {ExitCode::usage, "usage", "usage error: bad option or value, output directory missing, output file exists"},
    {ExitCode::input, "input",
     "input data error: missing/unreadable/non-HDF5 file, missing dataset, bad shape or type, NaN/Inf"},
    {ExitCode::invalid, "invalid", "the run completed but failed validation (archive written with valid=0)"},
    {ExitCode::output, "output", "the results archive could not be written (nothing left under its name)"},
    {ExitCode::does_not_fit, "does_not_fit",
     "the configuration exceeds its memory budget: nothing ran, nothing written (studies record DOES_NOT_FIT)"},
}};

// An error and whether every rank knows it. An agreed error (dist::agree, agree_on_success, or a
// deterministic check every rank makes identically, such as command-line parsing) is printed once
// by rank 0 and ends every rank with its code. An error that reaches main NOT agreed may leave
// peers blocked in a collective: main ends it with MPI_Abort and its message.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what, bool agreed = false)
      : std::runtime_error(what), code_(code), agreed_(agreed) {}
  ExitCode code() const noexcept { return code_; }
  bool agreed() const noexcept { return agreed_; }
  // The same error, marked as known to every rank (for checks every rank makes identically).
  Error everywhere() const { return Error(code_, what(), true); }

 private:
  ExitCode code_;
  bool agreed_;
};

inline Error usage_error(const std::string& what) { return Error(ExitCode::usage, what); }
inline Error input_error(const std::string& what) { return Error(ExitCode::input, what); }
inline Error output_error(const std::string& what) { return Error(ExitCode::output, what); }
inline Error does_not_fit_error(const std::string& what) { return Error(ExitCode::does_not_fit, what); }
inline Error internal_error(const std::string& what) { return Error(ExitCode::internal, what); }

}  // namespace attnbench
