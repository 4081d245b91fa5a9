#pragma once
// X from an HDF5 file, as this rank's column block (columns = the d axis, dist::BlockRowLayout over
// d). Accepted layouts of /X:
//   dense    a 2-D float32/float64 dataset, n x d row-major; each rank reads its column block as one
//            2-D hyperslab (rows [0, n) x its columns);
//   sparse   an anndata-style group (what h5py + scipy write): datasets data (float), indices
//            (integer), indptr (integer), attributes encoding-type = "csc_matrix" or "csr_matrix"
//            and shape = [n, d].
//            csc: indptr has d + 1 entries; each rank reads indptr[c0 .. c0 + cols] and then one
//                 contiguous hyperslab of data and indices: its columns' entries. No communication
//                 beyond the collective reads.
//            csr: indptr has n + 1 entries (read by every rank); rank r reads the entries of its row
//                 block (dist::BlockRowLayout over n) and sends each to the owner of its column:
//                 one MPI_Alltoallv of counts plus three of (column, row, value), about
//                 nnz (16 + sizeof(T)) / p bytes per rank, once.
// Every malformed case is an input error (exit 3) naming the file and the dataset or attribute:
// missing /X or members, wrong dimensions or element classes, unknown encoding-type, shape that
// disagrees with indptr, lengths that disagree, indptr not starting at 0, not monotone or not
// ending at len(data), indices out of range or not strictly ascending within a column (row),
// non-finite values. Errors are agreed across ranks before every collective that depends on them.
#include <cstdint>
#include <string>

#include "dist/comm.hpp"
#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

struct InputInfo {
  std::string format;  // "dense", "csc" or "csr"
  std::int64_t n = 0, d = 0;
  std::int64_t stored = 0;  // stored entries (sparse: len(data); dense: n d)
};

// Collective. Returns this rank's columns of X; `info` (same on every rank) describes the input.
template <class T>
ColumnBlock<T> read_input(const dist::Comm& comm, const std::string& path, InputInfo* info);

}  // namespace attnbench::sparsify
