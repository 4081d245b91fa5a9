#pragma once
// Thin RAII wrapper over the parallel HDF5 C API: the raw calls live in hdf5_file.cpp and here.
// Every file is opened through the MPI-IO driver on a Comm; every data transfer that touches a
// dataset is collective (H5FD_MPIO_COLLECTIVE), which is what allows the Fletcher32 and deflate
// filters to be used in parallel writes.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

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

struct DatasetShape {
  std::vector<std::int64_t> dims;
  bool is_float = false;   // H5T_FLOAT class
  std::size_t type_size = 0;
};

// A regular 2-D hyperslab (HDF5's start, stride, count, block per dimension). A union of them
// selects a non-contiguous share of a dataset, e.g. a block-cyclic process's blocks.
struct Hyperslab {
  std::int64_t start[2], stride[2], count[2], block[2];
};

class File {
 public:
  static File open_read(const dist::Comm& comm, const std::string& path);
  static File create(const dist::Comm& comm, const std::string& path);  // truncates
  const std::string& path() const noexcept { return path_; }
  hid_t id() const noexcept { return file_.get(); }
  void close() { file_.reset(); }

  bool has_dataset(const std::string& name) const;
  DatasetShape shape(const std::string& name) const;

  // Collective read of rows [row0, row0 + rows) of a 2-D floating-point dataset, converted to T.
  template <class T>
  Matrix<T> read_rows(const std::string& name, std::int64_t row0, std::int64_t rows, std::int64_t cols) const;

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
  void write_root_vector_int64(const std::string& name, const std::vector<std::int64_t>& data,
                               const dist::Comm& comm);

  void ensure_group(const std::string& name);
  // Attributes on an object (group path, "/" for the root). Values must be identical on all ranks.
  void attr(const std::string& object, const std::string& name, const std::string& value);
  void attr(const std::string& object, const std::string& name, std::int64_t value);
  void attr(const std::string& object, const std::string& name, double value);
  // Unsigned 64-bit (e.g. seeds >= 2^63, which an int64 attribute would store as negative numbers).
  void attr_u64(const std::string& object, const std::string& name, std::uint64_t value);

 private:
  File(Handle h, std::string path) : file_(std::move(h)), path_(std::move(path)) {}
  Handle file_;
  std::string path_;
};

}  // namespace attnbench::io
