#pragma once
// Thin RAII wrapper over the parallel HDF5 C API: the raw calls live in hdf5_file.cpp and here.
// Every file is opened through the MPI-IO driver on a Comm; every data transfer that touches a
// dataset is collective (H5FD_MPIO_COLLECTIVE), which is what allows the Fletcher32 and deflate
// filters to be used in parallel writes.
//
// Failures never diverge: every operation of File that can fail (each dataset read or write, each
// attribute, each group, flush and close) checks every HDF5 status and ends with an agreement
// across the file's ranks (dist::agree_on_success: one Allreduce, plus a Bcast of the message on
// failure), so when one rank's read hits a checksum error or one rank's write hits a full disk,
// every rank throws the same Error at the same point and the next collective is never reached by
// some ranks only. Reads fail with Error(input), writes with Error(output); messages name the file,
// the dataset or attribute, and the cause (HDF5's own innermost message, "Fletcher32 checksum",
// or strerror such as "No space left on device").
//
// Files created for writing reserve their disk space ahead of the writes (posix_fallocate by rank
// 0, agreed): a full disk is then detected before a dataset is written, not in the middle of
// HDF5's collective metadata flush inside H5Fclose, where ranks can part ways and hang.
#include <hdf5.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/matrix.hpp"
#include "dist/comm.hpp"

namespace attnbench::io {

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const noexcept { return id_; }
  // Gives up ownership without closing (the caller closes and checks the status).
  hid_t release() noexcept {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  bool valid() const noexcept { return id_ >= 0; }
  void reset() noexcept {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Turn off HDF5's automatic error-stack printing: attnbench reports its own readable errors.
void silence_hdf5_errors();
std::string hdf5_version();
// True if `path` is an HDF5 file (serial check, no MPI).
bool is_hdf5_file(const std::string& path);

// Serial checks of an input file before any collective open, so that a missing or foreign file
// never reaches H5Fopen: throws Error(input) "input file '<path>' does not exist" (or: is a
// directory, is not a regular file - a FIFO would block H5Fis_hdf5 -, is not readable, is not an
// HDF5 file). Local: one rank calls it inside an agreement (dist::agree_on_success).
void check_input_file(const std::string& path);

// "[2 x 3 x 4]": a dataset's shape in error messages.
std::string dims_string(const std::vector<std::int64_t>& dims);

struct DatasetShape {
  std::vector<std::int64_t> dims;
  bool is_float = false;   // H5T_FLOAT class
  std::size_t type_size = 0;
};

// How an input error names a non-finite value read as run_size-byte floats from a dataset stored as
// stored_size-byte floats: "a non-finite value (nan)"; for an infinity read in single precision
// from a float64 dataset, it also says that values beyond float32's range (+-3.40e38) overflow
// float32 and that --precision double reads them as stored (the conversion cannot tell such a
// value from an infinity in the file).
// `where` (e.g. "at row 3, column 2") follows the value, before the hint.
std::string non_finite_text(double value, std::size_t stored_size, std::size_t run_size, const std::string& where);

// A failed H5Dread of `where` (e.g. "dataset /X of 'f.h5'"): Error(input), saying "checksum error
// (Fletcher32)" when HDF5's error stack names the filter. Call right after the failed read (it
// reads the calling thread's HDF5 error stack).
Error read_failure(const std::string& where);

// The HDF5 error stack of the calling thread as text: the innermost messages, e.g. "data error
// detected by Fletcher32 checksum". Empty if the stack is empty.
std::string hdf5_error_text();

// Free space of the file system holding `path` (statvfs of its directory); -1 if unknown.
std::int64_t free_bytes_near(const std::string& path);

// A regular 2-D hyperslab (HDF5's start, stride, count, block per dimension). A union of them
// selects a non-contiguous share of a dataset, e.g. a block-cyclic process's blocks.
struct Hyperslab {
  std::int64_t start[2], stride[2], count[2], block[2];
};

// Indices along one axis of an N-D dataset, in HDF5's hyperslab terms: `count` blocks of `block`
// consecutive indices, `stride` apart, from `start`. E.g. {r0, 1, 1, rows}: one block of rows;
// {r, p, m, 1}: every p-th index from r. A vector of them selects their union (they must not overlap).
struct AxisSlab {
  std::int64_t start = 0, stride = 1, count = 0, block = 1;
  std::int64_t size() const noexcept { return count * block; }
};

class File {
 public:
  // Collective. Throws Error(input) naming the path when it cannot be opened.
  static File open_read(const dist::Comm& comm, const std::string& path);
  // Collective: a new file at `path`, which must not exist. Rank 0 creates it with
  // O_CREAT | O_EXCL | O_NOFOLLOW (so a file, or a symlink planted there, is never truncated or
  // followed), reserves space for its metadata, and the ranks agree before the collective
  // H5Fcreate. Throws Error(output) naming the path (and strerror) on every rank.
  static File create(const dist::Comm& comm, const std::string& path);
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  // Unchecked close (error paths only: every rank gets here after an agreed failure).
  ~File();

  const std::string& path() const noexcept { return path_; }
  hid_t id() const noexcept { return file_.get(); }
  bool is_open() const noexcept { return file_.valid(); }
  // Collective and checked: H5Fflush, H5Fclose, then (files created for writing) fsync of the file
  // on every rank. Throws Error(output) for a written file (Error(input) for a read one) naming the
  // path on every rank; the file is closed either way.
  void close();
  // Unchecked close, for error paths after an agreed failure (every rank calls it).
  void abandon() noexcept;

  bool has_dataset(const std::string& name) const;
  // What the file holds, for checking a written archive against its declared contract before it is
  // published: every object's attributes (object path -> name -> "int64", "uint64", "float64",
  // "string" or "other") and every dataset's path. Local metadata reads, the same on every rank.
  struct Contents {
    std::map<std::string, std::map<std::string, std::string>> attributes;
    std::vector<std::string> datasets;  // "/output/O"
  };
  Contents contents() const;
  DatasetShape shape(const std::string& name) const;

  // Collective read of rows [row0, row0 + rows) of a 2-D floating-point dataset, converted to T.
  template <class T>
  Matrix<T> read_rows(const std::string& name, std::int64_t row0, std::int64_t rows, std::int64_t cols) const;

  // Collective read of the indices `rows` along axis `axis` of an N-D floating-point dataset, with
  // every index of the other axes, converted to T, into `out`: exactly `elements` values (the
  // product of the other extents times the rows selected; checked) in the file's row-major order,
  // i.e. [axes before `axis`][selected rows, increasing][axes after it]. One collective H5Dread;
  // ranks without rows take part. Agreed like read_rows (a checksum error on one rank ends all).
  // I/O cost: each rank reads its own elements; with chunked storage it reads (and decompresses)
  // every chunk its rows touch, so rows spread over the whole axis (a stride) touch every chunk.
  template <class T>
  void read_axis_rows(const std::string& name, int axis, const std::vector<AxisSlab>& rows, std::int64_t elements,
                      T* out) const;
  // Collective creation of an N-D dataset of shape `dims` (chunked and checksummed like write_rows:
  // chunks span the whole extents after `axis`, about 1 MiB along `axis`, 1 before it) and write of
  // this rank's `rows` along `axis`, `elements` values in the order read_axis_rows returns them.
  template <class T>
  void write_axis_rows(const std::string& name, const std::vector<std::int64_t>& dims, int axis,
                       const std::vector<AxisSlab>& rows, std::int64_t elements, const T* data);

  // Collective creation of a chunked, Fletcher32-checksummed 2-D dataset and write of this rank's
  // rows [row0, row0 + local.rows()). Ranks with no rows still take part.
  template <class T>
  void write_rows(const std::string& name, std::int64_t global_rows, std::int64_t cols, std::int64_t row0,
                  const Matrix<T>& local);
  // Collective read / write of the union of `selection` (may be empty on some ranks), exactly
  // `elements` values, moved in the file's row-major order from / to a contiguous buffer. The write
  // creates the dataset (rows x cols, chunked and checksummed like write_rows).
  template <class T>
  void read_selection(const std::string& name, const std::vector<Hyperslab>& selection, std::int64_t elements,
                      T* out) const;
  template <class T>
  void write_selection(const std::string& name, std::int64_t rows, std::int64_t cols,
                       const std::vector<Hyperslab>& selection, std::int64_t elements, const T* data);
  // Collective; only the root's data is written (others pass anything of the same shape).
  void write_root_matrix(const std::string& name, const std::vector<double>& data, std::int64_t rows,
                         std::int64_t cols, const dist::Comm& comm);
  // Collective: a 1-D dataset (T = double or int64) of the root's `data` (its length is the
  // root's; other ranks' data is not written), chunked and checksummed like every dataset here
  // (write_1d). An empty vector gives an empty, still checksummed, dataset.
  template <class T>
  void write_root_vector(const std::string& name, const std::vector<T>& data, const dist::Comm& comm);
  void write_root_vector_int64(const std::string& name, const std::vector<std::int64_t>& data,
                               const dist::Comm& comm);

  void ensure_group(const std::string& name);
  // Attributes on an object (group path, "/" for the root). Values must be identical on all ranks.
  void attr(const std::string& object, const std::string& name, const std::string& value);
  void attr(const std::string& object, const std::string& name, std::int64_t value);
  void attr(const std::string& object, const std::string& name, double value);
  // Unsigned 64-bit (e.g. seeds >= 2^63, which an int64 attribute would store as negative numbers).
  void attr_u64(const std::string& object, const std::string& name, std::uint64_t value);
  // A 1-D int64 attribute (e.g. anndata's shape = [n, d]).
  void attr(const std::string& object, const std::string& name, const std::vector<std::int64_t>& values);

  // Collective creation of a 1-D dataset of `length` elements (T = double, float or int64; chunked
  // and checksummed like write_rows) and write of this rank's `segments` {offset, count} of it
  // (ascending, not overlapping), their elements consecutive in `data` in file order. Ranks without
  // segments take part. Used for sparse (anndata) groups written by several ranks: each rank its
  // contiguous share of data/indices/indptr, or one segment per row for CSR.
  template <class T>
  void write_1d(const std::string& name, std::int64_t length, const std::vector<std::array<std::int64_t, 2>>& segments,
                const T* data);

 private:
  File(const dist::Comm& comm, Handle h, std::string path, int fd)
      : comm_(comm), file_(std::move(h)), path_(std::move(path)), fd_(fd) {}
  // Runs fn on every rank and agrees on the outcome (see the header comment).
  void collective(const std::function<void()>& fn) const;
  // Rank 0 extends the space reserved for the file by `more` bytes (posix_fallocate); collective
  // and agreed, before the HDF5 calls that will use the space.
  void reserve(std::int64_t more, const std::string& what);
  void close_fd() noexcept;

  dist::Comm comm_;
  Handle file_;
  std::string path_;
  int fd_ = -1;                      // rank 0, written files: for the reservation and fsync
  std::int64_t reserved_bytes_ = 0;  // rank 0: bytes reserved so far from offset 0
  bool reservation_supported_ = true;
};

}  // namespace attnbench::io
