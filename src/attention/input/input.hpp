#pragma once
// Reading and writing attention inputs: an HDF5 file with floating-point datasets /Q, /K, /V,
// row-major, float32 or float64:
//   single head (every algorithm): 2-D /Q (nq x d), /K (nk x d), /V (nk x dv);
//   multi-head (exact attention):  4-D /Q (B, nq, H, d), /K (B, nk, Hkv, d), /V (B, nk, Hkv, dv),
//     the (batch, sequence, heads, dim) layout of common attention libraries, with Hkv dividing H;
//     3-D (n, H, d) datasets are the case B = 1 and 2-D ones the case B = H = Hkv = 1.
// Reads are collective hyperslabs of each rank's rows of the sequence axis; every check is agreed
// across ranks so a bad file gives one readable error and the same exit code everywhere.
#include <string>
#include <vector>

#include "attention/problem.hpp"
#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::attention {

// Rank r's tokens of `lay` as hyperslab runs on a dataset's sequence axis (File::read_axis_rows,
// File::write_axis_rows), in increasing position order as the layout stores them.
std::vector<io::AxisSlab> sequence_rows(const SequenceLayout& lay, int r);

// What an input file declares.
struct InputInfo {
  int dims = 0;  // dimensions of the datasets: 2 (n, d), 3 (n, H, d) or 4 (B, n, H, d)
  std::int64_t batch = 0, n_q = 0, n_kv = 0, heads = 0, kv_heads = 0, d = 0, dv = 0;
  std::string dtype;  // "float32" or "float64" of /Q
};

// Collective. The one reader of attention inputs: a 2-, 3- or 4-D input (see the top) as a problem
// whose sequence axis is in contiguous blocks (SequenceLayout(contiguous, n, ranks)): each rank
// reads, for every batch entry and head, its own block of tokens, one collective hyperslab read per
// dataset; every element is read once, by its owner. Another layout is one to_layout (exact/mha.hpp)
// away: HDF5 moves a union of hyperslabs much more slowly than one block (measured here, 2 ranks,
// 2 x 128 MiB float32 K/V, 1 MiB deflate chunks: 14-21 s for a striped or zigzag selection against
// 3.8 s for contiguous blocks, which redistribute in 1.5-2.3 s more), so the reader reads no other
// layout. `max_dims` 2 accepts 2-D datasets only (the approximate algorithms: single head).
// Memory per rank: B n_r (H d) + B n_kr Hkv (d + dv) elements, checked against the node before
// allocating. Throws Error(input) (exit 3) naming the file and dataset, on every rank, when: a
// dataset is missing, not floating point, or not 2-, 3- or 4-D (2-D with max_dims 2); the
// datasets' numbers of dimensions differ; B, n_k, Hkv, d disagree between /Q, /K and /V; an extent
// is zero; Hkv does not divide H; a value is NaN/Inf (the message gives its (batch, token, head,
// column), or (row, column) of a 2-D dataset); the rows do not fit in the node's memory; the data
// fail their checksum (agreed after each dataset's read).
template <class T>
AttentionProblem<T> read_attention_input(const dist::Comm& comm, const std::string& path, InputInfo* info = nullptr,
                                         int max_dims = 4);

// Collective. Writes /Q, /K, /V of the problem (its own precision; each rank writes its tokens of
// its layout: any layout) as `dims`-D datasets: 4 (B, n, H, d), (B, n_k, Hkv, d), (B, n_k, Hkv, dv);
// 3 (n, H, d), ... (B = 1); 2 (n, d), ... (B = H = Hkv = 1). The archive's all-or-nothing lifecycle
// (io/archive.hpp): a unique temporary file created exclusively, every write checked and agreed,
// fsync, then published without replacing an existing file unless overwrite (which replaces only a
// regular file). Throws Error(output) (full disk: "No space left on device", naming the path) or
// Error(usage) (path taken) on every rank; nothing is left then.
template <class T>
void write_attention_input(const dist::Comm& comm, const std::string& path, const AttentionProblem<T>& problem,
                           int dims, bool overwrite = false);

}  // namespace attnbench::attention
