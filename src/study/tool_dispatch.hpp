#pragma once
// The non-MPI tool subcommands of attnbench: `study`, `report` and `compare`.
//
// They orchestrate runs (they launch mpirun or sbatch themselves) and post-process archives, so
// they must run before MPI is initialised: an MPI process that launches mpirun is not supported
// by Open MPI. They are implemented in Python (src/study/study.py, src/report/report.py,
// src/report/compare.py; Debian's /usr/bin/python3 with tomllib, h5py and matplotlib) and this
// dispatch replaces the process with the interpreter.
#include <optional>

namespace attnbench::tools {

// If argv[1] names a tool subcommand, exec its script (never returns on success) and return the
// exit code of a failure to do so; otherwise return std::nullopt and let main() carry on.
//
// Script lookup: $ATTNBENCH_SOURCE_DIR, else the source tree recorded at configure time.
// Interpreter: $ATTNBENCH_PYTHON, else /usr/bin/python3. The script is told which binary to
// launch through $ATTNBENCH_BIN (this executable).
std::optional<int> run_tool_subcommand(int argc, char** argv);

}  // namespace attnbench::tools
