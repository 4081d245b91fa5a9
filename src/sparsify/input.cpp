#include "sparsify/input.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "dist/layout.hpp"
#include "io/hdf5_file.hpp"
#include "io/hdf5_sparse.hpp"
#include "metrics/resources.hpp"

namespace attnbench::sparsify {

namespace {

using io::ElementClass;
using io::ObjectKind;

std::string num(std::int64_t v) { return std::to_string(v); }

void check_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw input_error("input file '" + path + "' does not exist");
  if (!fs::is_regular_file(path, ec)) throw input_error("input file '" + path + "' is not a regular file");
  if (::access(path.c_str(), R_OK) != 0) throw input_error("input file '" + path + "' is not readable");
  if (!io::is_hdf5_file(path)) throw input_error("input file '" + path + "' is not an HDF5 file");
}

void check_shape(const std::string& path, std::int64_t n, std::int64_t d, const std::string& what) {
  if (n < 1 || d < 1) throw input_error("'" + path + "': " + what + " is empty (" + num(n) + " x " + num(d) + ")");
  if (d < n)
    throw input_error("'" + path + "': " + what + " has d = " + num(d) + " columns < n = " + num(n) +
                      " rows: sparsification keeps columns of a wide X (d >= n) of rank n");
  if (n > INT_MAX || d > INT_MAX) throw input_error("'" + path + "': " + what + " is larger than 2^31 in n or d");
}

template <class T>
void check_entries(const std::string& path, const std::string& group, const std::vector<std::int64_t>& indices,
                   const std::vector<T>& data, const std::vector<std::int64_t>& ptr, std::int64_t first_outer,
                   std::int64_t bound, const char* outer, const char* inner, std::size_t stored_size) {
  // ptr: local offsets (ptr[0] = 0) of each outer slice (column for CSC, row for CSR).
  for (std::size_t o = 0; o + 1 < ptr.size(); ++o) {
    for (std::int64_t e = ptr[o]; e < ptr[o + 1]; ++e) {
      const std::int64_t idx = indices[static_cast<std::size_t>(e)];
      if (idx < 0 || idx >= bound)
        throw input_error("'" + path + "': " + group + "/indices has " + inner + " index " + num(idx) + " in " + outer +
                          " " + num(first_outer + static_cast<std::int64_t>(o)) + ", outside [0, " + num(bound) + ")");
      if (e > ptr[o] && idx <= indices[static_cast<std::size_t>(e - 1)])
        throw input_error("'" + path + "': " + group + "/indices is not strictly ascending within " + outer + " " +
                          num(first_outer + static_cast<std::int64_t>(o)) + " (unsorted or duplicate entries)");
      if (!std::isfinite(data[static_cast<std::size_t>(e)]))
        throw input_error("'" + path + "': " + group + "/data has " +
                          io::non_finite_text(static_cast<double>(data[static_cast<std::size_t>(e)]), stored_size,
                                              sizeof(T),
                                              std::string("in ") + outer + " " +
                                                  num(first_outer + static_cast<std::int64_t>(o))));
    }
  }
}

void check_indptr(const std::string& path, const std::string& group, const std::vector<std::int64_t>& ip,
                  std::int64_t first, std::int64_t nnz) {
  for (std::size_t a = 0; a < ip.size(); ++a) {
    if (ip[a] < 0 || ip[a] > nnz)
      throw input_error("'" + path + "': " + group + "/indptr[" + num(first + static_cast<std::int64_t>(a)) + "] = " +
                        num(ip[a]) + " is outside [0, len(data) = " + num(nnz) + "]");
    if (a > 0 && ip[a] < ip[a - 1])
      throw input_error("'" + path + "': " + group + "/indptr is not monotone at position " +
                        num(first + static_cast<std::int64_t>(a)));
  }
}

// Bytes as int64, saturated (the memory check then reports "does not fit" for anything that large).
std::int64_t saturated(long double bytes) {
  const auto max = static_cast<long double>(std::numeric_limits<std::int64_t>::max());
  return bytes >= max ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(bytes);
}

// Before each read that allocates: this rank's buffers so far against the node's memory (agreed;
// Error(input), exit 3, naming the file, the dataset and the bytes). A small file can declare a
// dataset of terabytes.
void check_fits(const dist::Comm& comm, const std::string& path, const std::string& what, long double bytes) {
  metrics::check_memory_fits(comm, saturated(bytes), "'" + path + "': " + what, ExitCode::input);
}

}  // namespace

template <class T>
ColumnBlock<T> read_input(const dist::Comm& comm, const std::string& path, InputInfo* info_out) {
  dist::agree_on_success(comm, [&] {
    if (comm.is_root()) check_file(path);
  });
  // H5Fopen is collective and returns on every rank (a truncated file fails on all of them): its
  // outcome is agreed, so no rank goes on alone. Rank 0 adds HDF5's reason from a serial open.
  std::optional<io::File> opened;
  dist::agree_on_success(comm, [&] {
    try {
      opened.emplace(io::File::open_read(comm, path));
    } catch (const Error&) {
      const std::string why = comm.is_root() ? io::open_failure_text(path) : "";
      throw input_error("cannot open HDF5 file '" + path + "': truncated or damaged" + (why.empty() ? "" : " [HDF5: " + why + "]"));
    }
  });
  const io::File& file = *opened;
  const std::string X = "/X";
  InputInfo info;
  std::string enc;
  // Metadata: identical answers on every rank (same file), agreed anyway.
  dist::agree_on_success(comm, [&] {
    const ObjectKind kind = io::object_kind(file, X);
    if (kind == ObjectKind::missing)
      throw input_error("'" + path + "': missing /X (a dense n x d dataset or an anndata sparse group)");
    if (kind == ObjectKind::dataset) {
      const io::DatasetShape s = file.shape(X);
      if (s.dims.size() != 2) throw input_error("'" + path + "': dataset /X must be 2-D (n x d)");
      if (!s.is_float) throw input_error("'" + path + "': dataset /X must be float32 or float64");
      info.format = "dense";
      info.n = s.dims[0];
      info.d = s.dims[1];
      check_shape(path, info.n, info.d, "dataset /X");
      info.stored = info.n * info.d;
      return;
    }
    if (kind != ObjectKind::group) throw input_error("'" + path + "': /X is neither a dataset nor a group");
    const auto e = io::read_string_attr(file, X, "encoding-type");
    if (!e) throw input_error("'" + path + "': sparse group /X has no string attribute encoding-type");
    if (*e != "csc_matrix" && *e != "csr_matrix")
      throw input_error("'" + path + "': /X encoding-type is '" + *e + "' (expected csc_matrix or csr_matrix)");
    enc = *e;
    const auto shape = io::read_int_attr(file, X, "shape");
    if (!shape || shape->size() != 2)
      throw input_error("'" + path + "': sparse group /X needs an integer attribute shape = [n, d]");
    info.format = enc == "csc_matrix" ? "csc" : "csr";
    info.n = (*shape)[0];
    info.d = (*shape)[1];
    check_shape(path, info.n, info.d, "/X (attribute shape)");
    for (const char* member : {"data", "indices", "indptr"}) {
      const std::string name = X + "/" + member;
      if (io::object_kind(file, name) != ObjectKind::dataset)
        throw input_error("'" + path + "': sparse group /X has no dataset " + member);
      if (file.shape(name).dims.size() != 1) throw input_error("'" + path + "': dataset " + name + " must be 1-D");
      const ElementClass c = io::element_class(file, name);
      if (std::string(member) == "data" ? c != ElementClass::floating : c != ElementClass::integer)
        throw input_error("'" + path + "': dataset " + name + " must be " +
                          (std::string(member) == "data" ? "floating-point" : "integer"));
    }
    const std::int64_t nd = file.shape(X + "/data").dims[0], ni = file.shape(X + "/indices").dims[0],
                       np = file.shape(X + "/indptr").dims[0];
    if (nd != ni)
      throw input_error("'" + path + "': lengths disagree: /X/data has " + num(nd) + " entries, /X/indices " + num(ni));
    const std::int64_t outer = enc == "csc_matrix" ? info.d : info.n;
    if (np != outer + 1)
      throw input_error("'" + path + "': /X/indptr has " + num(np) + " entries but shape " + num(info.n) + " x " +
                        num(info.d) + " (" + enc + ") needs " + num(outer + 1));
    info.stored = nd;
  });

  const dist::BlockRowLayout cols(info.d, comm.size());
  const std::int64_t c0 = cols.row_offset(comm.rank()), nc = cols.local_rows(comm.rank());
  ColumnBlock<T> B;
  B.n = info.n;
  B.d = info.d;
  B.col0 = c0;
  B.cols = nc;
  const auto ld = [](std::int64_t v) { return static_cast<long double>(v); };
  const long double value_bytes = sizeof(T);
  const std::string as = sizeof(T) == 4 ? " read as float32" : " read as float64";
  // Element size of the stored values (/X/data of a sparse group), for a non-finite value's
  // message: a float64 file read in single precision can overflow float32.
  const std::size_t data_size = info.format == "dense" ? 0 : file.shape(X + "/data").type_size;
  if (info.format == "dense") {
    check_fits(comm, path,
               "dataset /X [" + num(info.n) + " x " + num(info.d) + "]" + as + ": this rank's " + num(nc) +
                   " columns, held twice while transposed",
               2.0L * ld(info.n) * ld(nc) * value_bytes);
    // X[0:n, c0:c0+nc] as one hyperslab, transposed into the block's column storage.
    const std::size_t stored_size = file.shape(X).type_size;
    const Matrix<T> local = io::read_block<T>(comm, file, X, 0, info.n, c0, nc);
    B.dense.resize(static_cast<std::size_t>(info.n * nc));
    for (std::int64_t i = 0; i < info.n; ++i)
      for (std::int64_t j = 0; j < nc; ++j) B.dense[static_cast<std::size_t>(j * info.n + i)] = local(i, j);
    dist::agree_on_success(comm, [&] {
      for (std::int64_t i = 0; i < info.n; ++i)
        for (std::int64_t j = 0; j < nc; ++j)
          if (!std::isfinite(local(i, j)))
            throw input_error("'" + path + "': dataset /X has " +
                              io::non_finite_text(static_cast<double>(local(i, j)), stored_size, sizeof(T),
                                                  "at row " + num(i) + ", column " + num(c0 + j)));
    });
  } else if (info.format == "csc") {
    B.sparse = true;
    const std::int64_t nnz = info.stored;
    check_fits(comm, path, "dataset /X/indptr (" + num(info.d + 1) + " entries): this rank's " + num(nc + 1),
               8.0L * (ld(nc) + 3.0L));
    const auto ends = io::read_1d<std::int64_t>(comm, file, X + "/indptr", info.d, 1);
    const auto start0 = io::read_1d<std::int64_t>(comm, file, X + "/indptr", 0, 1);
    // indptr[c0 .. c0 + nc] (nc + 1 entries; neighbours share their boundary entry).
    auto ip = io::read_1d<std::int64_t>(comm, file, X + "/indptr", c0, nc > 0 ? nc + 1 : 0);
    dist::agree_on_success(comm, [&] {
      if (start0[0] != 0) throw input_error("'" + path + "': /X/indptr[0] = " + num(start0[0]) + " (must be 0)");
      if (ends[0] != nnz)
        throw input_error("'" + path + "': /X/indptr[d] = " + num(ends[0]) + " but /X/data has " + num(nnz) + " entries");
      check_indptr(path, "/X", ip, c0, nnz);
    });
    const std::int64_t e0 = nc > 0 ? ip.front() : 0, e1 = nc > 0 ? ip.back() : 0;
    // indices (int64 as read, then int32), data, the column pointers.
    check_fits(comm, path,
               "datasets /X/indices and /X/data (" + num(nnz) + " entries)" + as + ": this rank's " + num(e1 - e0),
               ld(e1 - e0) * (12.0L + value_bytes) + 16.0L * (ld(nc) + 3.0L));
    const auto idx = io::read_1d<std::int64_t>(comm, file, X + "/indices", e0, e1 - e0);
    B.values = io::read_1d<T>(comm, file, X + "/data", e0, e1 - e0);
    B.colptr.resize(static_cast<std::size_t>(nc + 1), 0);
    for (std::int64_t j = 0; j <= nc && nc > 0; ++j) B.colptr[static_cast<std::size_t>(j)] = ip[static_cast<std::size_t>(j)] - e0;
    dist::agree_on_success(comm, [&] { check_entries(path, "/X", idx, B.values, B.colptr, c0, info.n, "column", "row",
                                                   data_size); });
    B.rowidx.assign(idx.begin(), idx.end());
  } else {
    // CSR: read my row block's entries, then send each entry to the owner of its column.
    B.sparse = true;
    const std::int64_t nnz = info.stored;
    check_fits(comm, path, "dataset /X/indptr (" + num(info.n + 1) + " entries, read by every rank)",
               8.0L * (ld(info.n) + 1.0L));
    const auto ip = io::read_1d<std::int64_t>(comm, file, X + "/indptr", 0, info.n + 1);
    dist::agree_on_success(comm, [&] {
      if (ip[0] != 0) throw input_error("'" + path + "': /X/indptr[0] = " + num(ip[0]) + " (must be 0)");
      check_indptr(path, "/X", ip, 0, nnz);
      if (ip.back() != nnz)
        throw input_error("'" + path + "': /X/indptr[n] = " + num(ip.back()) + " but /X/data has " + num(nnz) + " entries");
    });
    const dist::BlockRowLayout rows(info.n, comm.size());
    const std::int64_t r0 = rows.row_offset(comm.rank()), nr = rows.local_rows(comm.rank());
    const std::int64_t e0 = ip[static_cast<std::size_t>(r0)], e1 = ip[static_cast<std::size_t>(r0 + nr)];
    // indptr, this row block's indices and data, and their copies in the send buffers.
    check_fits(comm, path,
               "datasets /X/indices and /X/data (" + num(nnz) + " entries)" + as + ": this rank's " + num(e1 - e0) +
                   " and their send buffers",
               8.0L * (ld(info.n) + 1.0L) + ld(e1 - e0) * (24.0L + 2.0L * value_bytes) + 8.0L * ld(nr + 1));
    const auto idx = io::read_1d<std::int64_t>(comm, file, X + "/indices", e0, e1 - e0);
    const auto val = io::read_1d<T>(comm, file, X + "/data", e0, e1 - e0);
    std::vector<std::int64_t> lptr(static_cast<std::size_t>(nr + 1));
    for (std::int64_t i = 0; i <= nr; ++i) lptr[static_cast<std::size_t>(i)] = ip[static_cast<std::size_t>(r0 + i)] - e0;
    dist::agree_on_success(comm, [&] { check_entries(path, "/X", idx, val, lptr, r0, info.d, "row", "column",
                                                   data_size); });
    // Redistribution (once): entries to the owners of their columns, by MPI_Alltoallv.
    const int p = comm.size();
    std::vector<int> scount(static_cast<std::size_t>(p), 0), rcount(static_cast<std::size_t>(p)),
        sdispl(static_cast<std::size_t>(p), 0), rdispl(static_cast<std::size_t>(p), 0);
    for (std::int64_t j : idx) ++scount[static_cast<std::size_t>(cols.owner_of(j))];
    dist::check_mpi(MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, comm.raw()), "MPI_Alltoall");
    for (int r = 1; r < p; ++r) {
      sdispl[static_cast<std::size_t>(r)] = sdispl[static_cast<std::size_t>(r - 1)] + scount[static_cast<std::size_t>(r - 1)];
      rdispl[static_cast<std::size_t>(r)] = rdispl[static_cast<std::size_t>(r - 1)] + rcount[static_cast<std::size_t>(r - 1)];
    }
    const std::int64_t nrecv = rdispl.back() + rcount.back();
    // Received entries (column, row, value), their order and the local CSC, on top of the above.
    check_fits(comm, path,
               "datasets /X/indices and /X/data (" + num(nnz) + " entries)" + as + ": the " + num(nrecv) +
                   " entries this rank's columns receive",
               8.0L * (ld(info.n) + 1.0L) + ld(e1 - e0) * (40.0L + 3.0L * value_bytes) +
                   ld(nrecv) * (28.0L + 2.0L * value_bytes) + 8.0L * ld(nc + 1));
    std::vector<std::int64_t> scol(idx.size()), srow(idx.size()), rcol(static_cast<std::size_t>(nrecv)),
        rrow(static_cast<std::size_t>(nrecv));
    std::vector<T> sval(idx.size()), rval(static_cast<std::size_t>(nrecv));
    std::vector<int> fill = sdispl;
    for (std::int64_t i = 0; i < nr; ++i)
      for (std::int64_t e = lptr[static_cast<std::size_t>(i)]; e < lptr[static_cast<std::size_t>(i + 1)]; ++e) {
        const std::int64_t j = idx[static_cast<std::size_t>(e)];
        const auto at = static_cast<std::size_t>(fill[static_cast<std::size_t>(cols.owner_of(j))]++);
        scol[at] = j;
        srow[at] = r0 + i;
        sval[at] = val[static_cast<std::size_t>(e)];
      }
    dist::check_mpi(MPI_Alltoallv(scol.data(), scount.data(), sdispl.data(), MPI_INT64_T, rcol.data(), rcount.data(),
                                  rdispl.data(), MPI_INT64_T, comm.raw()), "MPI_Alltoallv(columns)");
    dist::check_mpi(MPI_Alltoallv(srow.data(), scount.data(), sdispl.data(), MPI_INT64_T, rrow.data(), rcount.data(),
                                  rdispl.data(), MPI_INT64_T, comm.raw()), "MPI_Alltoallv(rows)");
    dist::check_mpi(MPI_Alltoallv(sval.data(), scount.data(), sdispl.data(), dist::mpi_type<T>(), rval.data(),
                                  rcount.data(), rdispl.data(), dist::mpi_type<T>(), comm.raw()), "MPI_Alltoallv(values)");
    // Local CSC: order by (column, row).
    std::vector<std::int64_t> order(static_cast<std::size_t>(nrecv));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      const auto sa = static_cast<std::size_t>(a), sb = static_cast<std::size_t>(b);
      return rcol[sa] != rcol[sb] ? rcol[sa] < rcol[sb] : rrow[sa] < rrow[sb];
    });
    B.colptr.assign(static_cast<std::size_t>(nc + 1), 0);
    for (std::int64_t j : rcol) ++B.colptr[static_cast<std::size_t>(j - c0 + 1)];
    for (std::int64_t j = 0; j < nc; ++j) B.colptr[static_cast<std::size_t>(j + 1)] += B.colptr[static_cast<std::size_t>(j)];
    B.rowidx.resize(static_cast<std::size_t>(nrecv));
    B.values.resize(static_cast<std::size_t>(nrecv));
    for (std::int64_t a = 0; a < nrecv; ++a) {
      const auto o = static_cast<std::size_t>(order[static_cast<std::size_t>(a)]);
      B.rowidx[static_cast<std::size_t>(a)] = static_cast<std::int32_t>(rrow[o]);
      B.values[static_cast<std::size_t>(a)] = rval[o];
    }
  }
  if (info_out) *info_out = info;
  return B;
}

template ColumnBlock<float> read_input(const dist::Comm&, const std::string&, InputInfo*);
template ColumnBlock<double> read_input(const dist::Comm&, const std::string&, InputInfo*);

}  // namespace attnbench::sparsify
