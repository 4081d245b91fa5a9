#pragma once
// HDF5 reading helpers for sparse (anndata-style) and column-blocked inputs, as free functions over
// io::File: object kinds, group attributes, 1-D hyperslabs of data/indices/indptr, 2-D column
// blocks. Every read that touches a dataset is collective (every rank of the file's communicator
// calls it, possibly with an empty selection); metadata queries are local and give the same answer
// on every rank. Raw HDF5 calls stay here and in hdf5_file.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io {

enum class ObjectKind { missing, dataset, group, other };
ObjectKind object_kind(const File& f, const std::string& name);

// Why a file that passed is_hdf5_file cannot be opened: HDF5's own innermost messages from a serial
// (non-MPI) H5Fopen on the calling rank, e.g. "truncated file: eof = 6636, ... stored_eof = 8636";
// empty when the serial open succeeds. Local, for error messages only.
std::string open_failure_text(const std::string& path);

// Class of a dataset's element type.
enum class ElementClass { floating, integer, other };
ElementClass element_class(const File& f, const std::string& dataset);

// A string attribute (fixed or variable length) of an object; nullopt when absent or not a string.
std::optional<std::string> read_string_attr(const File& f, const std::string& object, const std::string& name);
// An integer attribute (scalar or 1-D) as int64 values; nullopt when absent or not an integer.
std::optional<std::vector<std::int64_t>> read_int_attr(const File& f, const std::string& object,
                                                       const std::string& name);

// Collective over comm (the file's communicator): elements [offset, offset + count) of a 1-D
// dataset, converted to T (double, float, int64). Ranks with count 0 take part with an empty
// selection. Each read is agreed on its own, in two steps: the buffer and the selection (so a rank
// that cannot allocate never leaves the others inside H5Dread), then the H5Dread itself. A read
// that fails on any rank (a Fletcher32 checksum error in that rank's chunks, a truncated or corrupt
// file) throws the same Error(input) on every rank, naming the file, the dataset and, for a
// checksum, "checksum error (Fletcher32)"; no rank goes on to the next collective alone.
template <class T>
std::vector<T> read_1d(const dist::Comm& comm, const File& f, const std::string& name, std::int64_t offset,
                       std::int64_t count);

// Collective, agreed like read_1d: rows [row0, row0 + rows) x columns [col0, col0 + cols) of a 2-D
// floating-point dataset, converted to T, row-major (rows x cols).
template <class T>
Matrix<T> read_block(const dist::Comm& comm, const File& f, const std::string& name, std::int64_t row0,
                     std::int64_t rows, std::int64_t col0, std::int64_t cols);

// Collective: a 1-D float64 or int64 dataset holding the root's data (File::write_root_vector:
// chunked and Fletcher32-checksummed, agreed). Empty vectors give an empty dataset.
template <class T>
void write_root_vector(File& f, const std::string& name, const std::vector<T>& data, const dist::Comm& comm);

}  // namespace attnbench::io
