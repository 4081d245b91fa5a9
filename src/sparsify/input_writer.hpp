#pragma once
// Writing a sparsify input file from a column-distributed X (what `attnbench gen --kernel sparsify`
// does): the layouts sparsify/input.hpp reads, so that `sparsify --input FILE` reproduces the
// synthetic run exactly.
//   dense  /X, n x d row-major float32/float64 (the block's precision): each rank writes its column
//          block [0, n) x [c0, c0 + cols) as one 2-D hyperslab of a collective write;
//   csc    group /X (anndata: data, indices = row of each entry, indptr of d + 1 entries,
//          attributes encoding-type = "csc_matrix", encoding-version = "0.1.0", shape = [n, d]):
//          each rank writes its entries as one contiguous segment at the offset given by the
//          nonzeros of the ranks before it (one allgather of p int64) and its share of indptr;
//   csr    group /X (encoding-type "csr_matrix"; indices = column of each entry, indptr of n + 1
//          entries): entries are in row order, so each rank writes, for every row i, its entries
//          of row i at indptr[i] + (entries of row i on the ranks before it): one Allreduce and
//          one Exscan of n int64, then one collective write with up to n segments per rank. No
//          entry moves between ranks.
// Lifecycle: io::ArchiveWriter (unique temporary created exclusively, every write agreed, fsync,
// published without replacing an existing file unless overwrite): all or nothing on every rank.
// Memory per rank beyond X: dense n cols values (the transposed block); csr 2 n int64 + the
// block's entries again in row order.
#include <cstdint>
#include <map>
#include <string>

#include "core/enum_names.hpp"
#include "dist/comm.hpp"
#include "sparsify/columns.hpp"

namespace attnbench::sparsify {

enum class FileFormat { dense, csc, csr };
inline constexpr EnumNames<FileFormat, 3> kFileFormatNames{
    {{FileFormat::dense, "dense"}, {FileFormat::csc, "csc"}, {FileFormat::csr, "csr"}}};
std::string to_string(FileFormat f);
FileFormat file_format_from_string(const std::string& s);  // usage error naming --format

// Collective. `root_attrs` are written as float64 attributes of the root group (provenance:
// the generator's r, density, coherence), `seed` as an unsigned attribute. Throws Error(output)
// or Error(usage) (path taken without overwrite) on every rank; nothing is left then.
template <class T>
void write_input(const dist::Comm& comm, const std::string& path, const ColumnBlock<T>& X, FileFormat format,
                 bool overwrite, const std::map<std::string, double>& root_attrs, std::uint64_t seed);

}  // namespace attnbench::sparsify
