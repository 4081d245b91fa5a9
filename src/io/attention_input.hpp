#pragma once
// Reading and writing attention inputs: an HDF5 file with 2-D floating-point datasets /Q (nq x d),
// /K (nk x d) and /V (nk x dv), row-major. Reads are collective row-block hyperslabs; every check
// is agreed across ranks so a bad file gives one readable error and the same exit code everywhere.
#include <string>

#include "attention/attention_problem.hpp"
#include "dist/comm.hpp"

namespace attnbench::io {

struct InputInfo {
  std::int64_t n_q = 0, n_kv = 0, d = 0, dv = 0;
  std::string dtype;  // "float32" or "float64" of /Q
};

// Collective. Throws Error(input) naming the file and dataset on any problem, including NaN/Inf,
// a checksum error in any rank's part of a dataset (agreed after each dataset's read), and
// declared dimensions whose rows would not fit in the node's memory (checked before allocating;
// the message gives the bytes needed and the bytes the node has).
template <class T>
AttentionProblem<T> read_attention_input(const dist::Comm& comm, const std::string& path, InputInfo* info = nullptr);

// Collective. Writes /Q, /K, /V of the problem (its own precision) to `path` with the archive's
// all-or-nothing lifecycle (io/archive.hpp): a unique temporary file created exclusively, every
// write checked and agreed, fsync, then published without replacing an existing file unless
// overwrite (which replaces only a regular file). Throws Error(output) (full disk: "No space left
// on device", naming the path) or Error(usage) (path taken) on every rank; nothing is left then.
template <class T>
void write_attention_input(const dist::Comm& comm, const std::string& path, const AttentionProblem<T>& problem,
                           bool overwrite);
// The same, never replacing an existing file.
template <class T>
void write_attention_input(const dist::Comm& comm, const std::string& path, const AttentionProblem<T>& problem);

}  // namespace attnbench::io
