#pragma once
// Error taxonomy of attnbench. Every failure carries the exit code it maps to, so that a failure
// agreed across ranks (dist/collective.hpp) ends every rank with the same, documented code.
#include <stdexcept>
#include <string>

namespace attnbench {

// Exit codes of the attnbench program (documented in --help and README).
enum class ExitCode : int {
  ok = 0,
  internal = 1,     // a bug or an unexpected library failure
  usage = 2,        // bad command line, bad configuration, output path problems
  input = 3,        // bad input data: file, dataset, shape, type, NaN/Inf
  invalid = 4,      // the run completed, its archive is written, but validation failed
  output = 5,       // the results archive could not be written
  does_not_fit = 6, // the configuration exceeds its memory budget: nothing ran, nothing written
};

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
