#pragma once
// Command-line parsing (CLI11). Parsing is deterministic and runs on every rank with the same
// argv, so every rank reaches the same verdict; only rank 0 prints help and errors.
#include <string>

#include "config/options.hpp"

namespace attnbench::config {

// Throws Error(usage) with CLI11's message on a bad command line. On --help, prints the help to
// `help_out` when print_help is true and returns HelpShown.
Command parse_command_line(int argc, char** argv, bool print_help);

}  // namespace attnbench::config
