#include "sparsify/input_writer.hpp"

#include <mpi.h>

#include <array>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/archive.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"

namespace attnbench::sparsify {

std::string to_string(FileFormat f) { return enum_name(kFileFormatNames, f); }
FileFormat file_format_from_string(const std::string& s) { return parse_enum(kFileFormatNames, s, "--format"); }

namespace {

using Segments = std::vector<std::array<std::int64_t, 2>>;

// anndata's group attributes of a sparse matrix.
void sparse_group(io::File& file, const char* encoding, std::int64_t n, std::int64_t d) {
  file.ensure_group("/X");
  file.attr("/X", "encoding-type", std::string(encoding));
  file.attr("/X", "encoding-version", std::string("0.1.0"));
  file.attr("/X", "shape", std::vector<std::int64_t>{n, d});
}

template <class T>
void write_dense(const dist::Comm& comm, io::File& file, const ColumnBlock<T>& X) {
  // X[0:n, c0:c0+cols] in the file's row-major order (the block stores columns): n cols values.
  std::vector<T> rows(static_cast<std::size_t>(X.n * X.cols), T(0));
  std::vector<double> col(static_cast<std::size_t>(X.n));
  for (std::int64_t j = 0; j < X.cols; ++j) {
    X.column(j, col.data());
    for (std::int64_t i = 0; i < X.n; ++i)
      rows[static_cast<std::size_t>(i * X.cols + j)] = static_cast<T>(col[static_cast<std::size_t>(i)]);
  }
  std::vector<io::Hyperslab> sel;
  if (X.cols > 0) sel.push_back(io::Hyperslab{{0, X.col0}, {1, 1}, {1, 1}, {X.n, X.cols}});
  (void)comm;
  file.write_selection("/X", X.n, X.d, sel, X.n * X.cols, rows.data());
}

// The block's stored entries (sparse: as stored; dense storage: its nonzero values), per column.
template <class T>
void entries_by_column(const ColumnBlock<T>& X, std::vector<std::int64_t>& colptr, std::vector<std::int64_t>& rows,
                       std::vector<T>& vals) {
  colptr.assign(1, 0);
  rows.clear();
  vals.clear();
  for (std::int64_t j = 0; j < X.cols; ++j) {
    X.for_each_entry(j, [&](std::int64_t i, double v) {
      if (!X.sparse && v == 0.0) return;
      rows.push_back(i);
      vals.push_back(static_cast<T>(v));
    });
    colptr.push_back(static_cast<std::int64_t>(rows.size()));
  }
}

template <class T>
void write_csc(const dist::Comm& comm, io::File& file, const ColumnBlock<T>& X) {
  std::vector<std::int64_t> colptr, rows;
  std::vector<T> vals;
  entries_by_column(X, colptr, rows, vals);
  const auto mine = static_cast<std::int64_t>(vals.size());
  // Offsets of each rank's entries: allgather of p int64.
  const std::vector<std::int64_t> counts = comm.allgather<std::int64_t>(mine);
  std::int64_t before = 0, total = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (r < comm.rank()) before += counts[static_cast<std::size_t>(r)];
    total += counts[static_cast<std::size_t>(r)];
  }
  sparse_group(file, "csc_matrix", X.n, X.d);
  const Segments entries = {{before, mine}};
  file.write_1d("/X/data", total, entries, vals.data());
  file.write_1d("/X/indices", total, entries, rows.data());
  // indptr[c0 .. c0 + cols) from this rank; the last rank also writes indptr[d] = total.
  std::vector<std::int64_t> ptr;
  for (std::int64_t j = 0; j < X.cols; ++j) ptr.push_back(before + colptr[static_cast<std::size_t>(j)]);
  Segments seg;
  if (X.cols > 0) seg.push_back({X.col0, X.cols});
  if (comm.rank() == comm.size() - 1) {
    ptr.push_back(total);
    if (!seg.empty() && X.col0 + X.cols == X.d) seg.back()[1] += 1;
    else seg.push_back({X.d, 1});
  }
  file.write_1d("/X/indptr", X.d + 1, seg, ptr.data());
}

template <class T>
void write_csr(const dist::Comm& comm, io::File& file, const ColumnBlock<T>& X) {
  std::vector<std::int64_t> colptr, rows;
  std::vector<T> vals;
  entries_by_column(X, colptr, rows, vals);
  const std::int64_t n = X.n;
  // This rank's entries per row, then in row order (counting sort; columns stay ascending).
  std::vector<std::int64_t> cnt(static_cast<std::size_t>(n), 0);
  for (std::int64_t i : rows) ++cnt[static_cast<std::size_t>(i)];
  std::vector<std::int64_t> start(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t i = 0; i < n; ++i) start[static_cast<std::size_t>(i + 1)] = start[static_cast<std::size_t>(i)] + cnt[static_cast<std::size_t>(i)];
  std::vector<std::int64_t> fill(start.begin(), start.end() - 1), colidx(rows.size());
  std::vector<T> rvals(rows.size());
  for (std::int64_t j = 0; j < X.cols; ++j)
    for (std::int64_t e = colptr[static_cast<std::size_t>(j)]; e < colptr[static_cast<std::size_t>(j + 1)]; ++e) {
      const auto at = static_cast<std::size_t>(fill[static_cast<std::size_t>(rows[static_cast<std::size_t>(e)])]++);
      colidx[at] = X.col0 + j;
      rvals[at] = vals[static_cast<std::size_t>(e)];
    }
  // Row lengths over all ranks (Allreduce of n int64) and this rank's place within each row
  // (Exscan of n int64: the entries of row i on ranks before this one; columns ascend with rank).
  std::vector<std::int64_t> row_len = cnt, row_before(static_cast<std::size_t>(n), 0);
  comm.allreduce(std::span<std::int64_t>(row_len), dist::Op::sum);
  dist::check_mpi(MPI_Exscan(cnt.data(), row_before.data(), static_cast<int>(n), MPI_INT64_T, MPI_SUM, comm.raw()),
                  "MPI_Exscan(row counts)");
  if (comm.rank() == 0) std::fill(row_before.begin(), row_before.end(), 0);  // Exscan leaves rank 0's undefined
  std::vector<std::int64_t> indptr(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t i = 0; i < n; ++i)
    indptr[static_cast<std::size_t>(i + 1)] = indptr[static_cast<std::size_t>(i)] + row_len[static_cast<std::size_t>(i)];
  const std::int64_t total = indptr.back();
  Segments seg;
  for (std::int64_t i = 0; i < n; ++i)
    if (cnt[static_cast<std::size_t>(i)] > 0)
      seg.push_back({indptr[static_cast<std::size_t>(i)] + row_before[static_cast<std::size_t>(i)], cnt[static_cast<std::size_t>(i)]});
  sparse_group(file, "csr_matrix", X.n, X.d);
  file.write_1d("/X/data", total, seg, rvals.data());
  file.write_1d("/X/indices", total, seg, colidx.data());
  const Segments root_all = comm.is_root() ? Segments{{0, n + 1}} : Segments{};
  file.write_1d("/X/indptr", n + 1, root_all, indptr.data());
}

}  // namespace

template <class T>
void write_input(const dist::Comm& comm, const std::string& path, const ColumnBlock<T>& X, FileFormat format,
                 bool overwrite, const std::map<std::string, double>& root_attrs, std::uint64_t seed) {
  {
    // The writer's own copies next to X (dense: the block in row order; csc/csr: the entries as
    // (int64 index, value) plus column pointers; csr also the row-ordered copy and 4 n int64),
    // against the node's memory before anything is allocated or created (agreed; exit 6).
    const long double entries = static_cast<long double>(X.sparse ? X.values.size() : X.dense.size());
    const long double per = static_cast<long double>(sizeof(T)) + 8.0L, cols = static_cast<long double>(X.cols + 1);
    long double extra = 0.0L;
    switch (format) {
      case FileFormat::dense: extra = entries * static_cast<long double>(sizeof(T)) + 8.0L * static_cast<long double>(X.n); break;
      case FileFormat::csc: extra = entries * per + 16.0L * cols; break;
      case FileFormat::csr: extra = 2.0L * entries * per + 8.0L * cols + 32.0L * static_cast<long double>(X.n + 1); break;
    }
    const long double total = extra + static_cast<long double>(X.bytes());
    const auto max = static_cast<long double>(std::numeric_limits<std::int64_t>::max());
    metrics::check_memory_fits(comm, total >= max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(total),
                               "writing X (" + std::to_string(X.n) + " x " + std::to_string(X.d) + ", " + to_string(format) +
                                   ") to '" + path + "'",
                               ExitCode::does_not_fit);
  }
  io::ArchiveWriter writer(comm, path, overwrite ? io::Overwrite::yes : io::Overwrite::no);
  io::File& file = writer.file();
  switch (format) {
    case FileFormat::dense: write_dense(comm, file, X); break;
    case FileFormat::csc: write_csc(comm, file, X); break;
    case FileFormat::csr: write_csr(comm, file, X); break;
  }
  file.attr("/", "generator", std::string("attnbench gen --kernel sparsify"));
  file.attr("/", "format", to_string(format));
  for (const auto& [k, v] : root_attrs) file.attr("/", k, v);
  file.attr_u64("/", "seed", seed);
  writer.commit();
}

template void write_input(const dist::Comm&, const std::string&, const ColumnBlock<float>&, FileFormat, bool,
                          const std::map<std::string, double>&, std::uint64_t);
template void write_input(const dist::Comm&, const std::string&, const ColumnBlock<double>&, FileFormat, bool,
                          const std::map<std::string, double>&, std::uint64_t);

}  // namespace attnbench::sparsify
