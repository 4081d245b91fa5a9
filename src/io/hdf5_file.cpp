#include "io/hdf5_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/hdf5_detail.hpp"

namespace attnbench::io {

using detail::collective_read;
using detail::native_type;

namespace {
// Space reserved for a new file's metadata (superblock, object headers, attributes, B-trees),
// and per written dataset beyond its raw bytes: parallel HDF5 allocates filtered chunks at
// creation and again, compressed, at write time, so up to twice the raw bytes can be in use
// before the file is closed and truncated to its final size.
// (A results archive without /output is about 30 KiB.)
constexpr std::int64_t kMetadataReserve = 96 * 1024;
constexpr std::int64_t kDatasetSlack = 4 * 1024;


// " (No space left on device: 12.0 KiB free in /dir)" when little space is left near path.
std::string space_hint(const std::string& path) {
  const std::int64_t free = free_bytes_near(path);
  if (free < 0 || free >= (1 << 20)) return "";
  return " (" + std::string(std::strerror(ENOSPC)) + ": " + format_bytes(static_cast<long double>(free)) +
         " free)";
}
std::string with_stack(const std::string& what) {
  const std::string stack = hdf5_error_text();
  return stack.empty() ? what : what + ": " + stack;
}
// Write-side failures: Error(output) naming the file, the operation and the cause.
void check(herr_t rc, const std::string& what, const std::string& path) {
  if (rc < 0) throw output_error("'" + path + "': " + with_stack(what + " failed") + space_hint(path));
}
hid_t checked(hid_t id, const std::string& what, const std::string& path) {
  if (id < 0) throw output_error("'" + path + "': " + with_stack(what + " failed") + space_hint(path));
  return id;
}
std::string dir_of(const std::string& path) {
  const std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}
// The dataset `name` opened for reading, with its file dataspace; input errors naming `where`.
std::pair<Handle, Handle> open_for_read(hid_t file, const std::string& name, const std::string& where) {
  Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open " + where);
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  if (!fspace.valid()) throw input_error("cannot read the dataspace of " + where);
  return {std::move(ds), std::move(fspace)};
}
Handle collective_dxpl(const std::string& path) {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  check(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", path);
  return dxpl;
}
Handle open_object(hid_t file, const std::string& object, const std::string& path) {
  hid_t id = H5Oopen(file, object.c_str(), H5P_DEFAULT);
  return Handle(checked(id, "open object " + object, path), H5Oclose);
}
// Chunked + shuffle + deflate + Fletcher32: a flipped byte is detected on read. Chunks of about
// 1 MiB: whole extents after `axis`, as many indices along it as fit (at most its extent), 1 before
// it. Every dataset attnbench writes is created here (create_checksummed), whatever its type or
// size: a 1-element int64 vector is as checksummed as /output/O. A zero extent cannot hold a chunk
// of a fixed-size dimension, so an empty dataset's zero dimensions are made extendible (maxdims
// H5S_UNLIMITED, see create_checksummed) with a chunk of 1 there: it then carries the same filters.
Handle checksummed_dcpl(const std::vector<hsize_t>& dims, std::size_t axis, std::size_t elem_size, const std::string& path) {
  if (dims.empty() || axis >= dims.size())
    throw internal_error("'" + path + "': a checksummed dataset needs at least one dimension (scalars are attributes)");
  Handle dcpl(checked(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path), H5Pclose);
  constexpr hsize_t target = hsize_t{1} << 20;
  std::vector<hsize_t> chunk(dims.size(), 1);
  hsize_t inner_bytes = elem_size;  // saturates at the target: one index along `axis` is then enough
  for (std::size_t k = axis + 1; k < dims.size(); ++k) {
    chunk[k] = std::max<hsize_t>(dims[k], 1);
    inner_bytes = inner_bytes > target / chunk[k] ? target + 1 : inner_bytes * chunk[k];
  }
  chunk[axis] = std::clamp<hsize_t>(target / inner_bytes, 1, std::max<hsize_t>(dims[axis], 1));
  check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk", path);
  check(H5Pset_shuffle(dcpl.get()), "H5Pset_shuffle", path);
  check(H5Pset_deflate(dcpl.get(), 1), "H5Pset_deflate", path);
  check(H5Pset_fletcher32(dcpl.get()), "H5Pset_fletcher32", path);
  return dcpl;
}
// A new dataset of T over `dims` with the checksummed layout (chunked along `axis`), and its file
// dataspace (the caller selects its part of it). The only place a dataset is created.
struct NewDataset {
  Handle space;
  Handle dataset;
};
template <class T>
NewDataset create_checksummed(hid_t file, const std::string& name, const std::vector<hsize_t>& dims, std::size_t axis,
                              const std::string& path) {
  std::vector<hsize_t> maxdims(dims);
  for (auto& m : maxdims)
    if (m == 0) m = H5S_UNLIMITED;  // chunkable although empty (see checksummed_dcpl)
  Handle space(checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()), "dataspace of " + name,
                       path),
               H5Sclose);
  Handle dcpl = checksummed_dcpl(dims, axis, sizeof(T), path);
  Handle ds(checked(H5Dcreate2(file, name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                    "create dataset " + name, path),
            H5Dclose);
  return {std::move(space), std::move(ds)};
}
// `elements` values as one flat memory block (a rank with none selects nothing: the dataspace
// still needs one element).
Handle flat_memory_space(std::int64_t elements, const std::string& name, const std::string& path) {
  const hsize_t count[1] = {static_cast<hsize_t>(std::max<std::int64_t>(elements, 1))};
  Handle mspace(checked(H5Screate_simple(1, count, nullptr), "dataspace of " + name, path), H5Sclose);
  if (elements == 0) check(H5Sselect_none(mspace.get()), "select none", path);
  return mspace;
}
// The collective write of this rank's selection (every rank calls it; a rank with no elements
// passes a dummy buffer, as HDF5 wants a valid pointer).
template <class T>
void collective_write(hid_t ds, hid_t mspace, hid_t fspace, std::int64_t elements, const T* data, const std::string& name,
                      const std::string& path) {
  // An empty dataset has no storage to write (parallel HDF5 fails on a zero-size collective
  // write); every rank knows the extent, so every rank skips alike.
  const hssize_t extent = H5Sget_simple_extent_npoints(fspace);
  check(extent < 0 ? -1 : 0, "extent of " + name, path);
  if (extent == 0) return;
  Handle dxpl = collective_dxpl(path);
  const T dummy{};
  check(H5Dwrite(ds, native_type<T>(), mspace, fspace, dxpl.get(), elements ? data : &dummy), "write dataset " + name, path);
}
}  // namespace

void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string hdf5_version() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel) + " (parallel)";
}

// H5Fis_hdf5: the HDF5 1.10 API (H5Fis_accessible is 1.12+).
bool is_hdf5_file(const std::string& path) { return H5Fis_hdf5(path.c_str()) > 0; }

namespace {
// What is wrong with an input file, or "" (the order of the checks is the order of the messages).
std::string input_file_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return "does not exist";
  if (fs::is_directory(path, ec)) return "is a directory";
  if (!fs::is_regular_file(path, ec)) return "is not a regular file";
  if (::access(path.c_str(), R_OK) != 0) return "is not readable";
  if (!is_hdf5_file(path)) return "is not an HDF5 file";
  return "";
}
}  // namespace

void check_input_file(const std::string& path) {
  if (const std::string problem = input_file_problem(path); !problem.empty())
    throw input_error("input file '" + path + "' " + problem);
}

std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string non_finite_text(double value, std::size_t stored_size, std::size_t run_size, const std::string& where) {
  std::string text =
      std::string("a non-finite value (") + (std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf") + ") " + where;
  if (std::isinf(value) && stored_size > run_size)
    text += ": the file stores float64, whose values beyond +-3.40e38 overflow float32 (--precision single); "
            "--precision double reads them as stored (or the file holds an infinity)";
  return text;
}

Error read_failure(const std::string& where) {
  const std::string stack = hdf5_error_text();
  const bool checksum = stack.find("Fletcher32") != std::string::npos || stack.find("checksum") != std::string::npos;
  return input_error("cannot read " + where + ": " +
                     (checksum ? "checksum error (Fletcher32): the stored data is damaged"
                               : "corrupt or truncated file, or unreadable data") +
                     (stack.empty() ? "" : " [HDF5: " + stack + "]"));
}

std::string hdf5_error_text() {
  // H5E_WALK_DOWNWARD starts at the API call and ends at the innermost, most specific cause (e.g.
  // "data error detected by Fletcher32 checksum"): keep the last three distinct descriptions,
  // innermost first.
  std::vector<std::string> msgs;
  auto walk = [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
    auto* out = static_cast<std::vector<std::string>*>(data);
    if (e && e->desc && *e->desc && std::find(out->begin(), out->end(), std::string(e->desc)) == out->end())
      out->emplace_back(e->desc);
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk, &msgs);
  std::string text;
  for (std::size_t k = 0; k < msgs.size() && k < 3; ++k) text += (k ? "; " : "") + msgs[msgs.size() - 1 - k];
  return text;
}

std::int64_t free_bytes_near(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(dir_of(path).c_str(), &st) != 0) return -1;
  std::int64_t b = 0;
  if (!checked_mul_ok(static_cast<std::int64_t>(st.f_bavail), static_cast<std::int64_t>(st.f_frsize), b)) return -1;
  return b;
}

File File::open_read(const dist::Comm& comm, const std::string& path) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (H5Pset_fapl_mpio(fapl.get(), comm.raw(), MPI_INFO_NULL) < 0) throw internal_error("H5Pset_fapl_mpio failed");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) throw input_error("cannot open HDF5 file '" + path + "'");
  return File(comm, Handle(f, H5Fclose), path, -1);
}

File File::create(const dist::Comm& comm, const std::string& path) {
  // Rank 0 creates the file exclusively and keeps a descriptor for the reservation and fsync; the
  // ranks agree before the collective H5Fcreate (which then truncates the empty file we own).
  int fd = -1;
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
      const int e = errno;
      throw output_error("cannot create '" + path + "': " + std::strerror(e) +
                         (e == EEXIST ? " (a file, or a symbolic link, is already there)" : ""));
    }
  });
  File file(comm, Handle(), path, fd);
  try {
    // Space for the metadata before anything is written: a full disk fails here, cleanly.
    file.reserve(kMetadataReserve, "metadata");
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    file.collective([&] {
      check(H5Pset_fapl_mpio(fapl.get(), comm.raw(), MPI_INFO_NULL), "H5Pset_fapl_mpio", path);
      hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
      file.file_ = Handle(checked(f, "H5Fcreate", path), H5Fclose);
    });
    // H5Fcreate truncated the file to zero, releasing the reservation: take it again.
    file.reserved_bytes_ = 0;
    file.reserve(kMetadataReserve, "metadata");
  } catch (const Error&) {
    // Agreed on every rank: close what is open, then rank 0 removes the file it created.
    file.file_.reset();
    file.close_fd();
    if (comm.is_root()) ::unlink(path.c_str());
    throw;
  }
  return file;
}

File::File(File&& o) noexcept
    : comm_(o.comm_),
      file_(std::move(o.file_)),
      path_(std::move(o.path_)),
      fd_(o.fd_),
      reserved_bytes_(o.reserved_bytes_),
      reservation_supported_(o.reservation_supported_) {
  o.fd_ = -1;
}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    file_.reset();
    close_fd();
    comm_ = o.comm_;
    file_ = std::move(o.file_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    reserved_bytes_ = o.reserved_bytes_;
    reservation_supported_ = o.reservation_supported_;
    o.fd_ = -1;
  }
  return *this;
}

File::~File() {
  file_.reset();
  close_fd();
}

void File::abandon() noexcept {
  file_.reset();
  close_fd();
}

void File::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void File::collective(const std::function<void()>& fn) const { dist::agree_on_success(comm_, fn); }

void File::reserve(std::int64_t more, const std::string& what) {
  collective([&] {
    if (fd_ < 0 || !reservation_supported_) return;  // not rank 0, or not a written file
    const std::int64_t target = checked_add(reserved_bytes_, more, "'" + path_ + "': space for " + what,
                                            ExitCode::output);
    const int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(target));
    if (rc == 0) {
      reserved_bytes_ = target;
      return;
    }
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG || rc == EIO) {
      const std::int64_t free = free_bytes_near(path_);
      throw output_error("cannot write '" + path_ + "': " + std::strerror(rc) + " (the file needs " +
                         format_bytes(static_cast<long double>(target)) + " for " + what +
                         (free >= 0 ? ", " + format_bytes(static_cast<long double>(free)) + " free" : "") + ")");
    }
    // EINVAL, EOPNOTSUPP, ENODEV...: this file system cannot reserve; write without it.
    reservation_supported_ = false;
  });
}

void File::close() {
  if (!file_.valid()) {
    close_fd();
    return;
  }
  const bool written = fd_ >= 0 || [&] {
    unsigned intent = 0;
    return H5Fget_intent(file_.get(), &intent) >= 0 && (intent & H5F_ACC_RDWR) != 0;
  }();
  auto fail = [&](const std::string& what) {
    const std::string msg = "'" + path_ + "': " + with_stack(what) + space_hint(path_);
    return written ? output_error(msg) : input_error(msg);
  };
  // Flush first, on its own: a failure here leaves the ids valid and every rank still agrees.
  collective([&] {
    if (written && H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) throw fail("H5Fflush");
  });
  // Close: the id is gone whatever H5Fclose returns; its status is agreed.
  collective([&] {
    if (H5Fclose(file_.release()) < 0) throw fail("H5Fclose");
  });
  if (!written) return;
  // Durability: every rank fsyncs the file (its node's cached pages; rank 0 through the
  // descriptor it created the file with), so the publish that follows never names lost data.
  collective([&] {
    int fd = fd_;
    if (fd < 0) fd = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw output_error("cannot open '" + path_ + "' for fsync: " + std::strerror(errno));
    const int rc = ::fsync(fd), e = errno;
    if (fd != fd_) ::close(fd);
    close_fd();
    if (rc != 0) throw output_error("fsync of '" + path_ + "' failed: " + std::strerror(e));
  });
}

bool File::has_dataset(const std::string& name) const {
  if (H5Lexists(id(), name.c_str(), H5P_DEFAULT) <= 0) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name(id(), name.c_str(), &info, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_DATASET;
}

namespace {
std::string attribute_type(hid_t obj, const char* name) {
  Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  Handle t(a.valid() ? H5Aget_type(a.get()) : -1, H5Tclose);
  Handle space(a.valid() ? H5Aget_space(a.get()) : -1, H5Sclose);
  if (!t.valid() || !space.valid() || H5Sget_simple_extent_ndims(space.get()) != 0) return "other";
  const size_t size = H5Tget_size(t.get());
  switch (H5Tget_class(t.get())) {
    case H5T_INTEGER:
      return size != 8 ? "other" : H5Tget_sign(t.get()) == H5T_SGN_NONE ? "uint64" : "int64";
    case H5T_FLOAT:
      return size == 8 ? "float64" : "other";
    case H5T_STRING:
      return "string";
    default:
      return "other";
  }
}
herr_t collect_attribute(hid_t obj, const char* name, const H5A_info_t*, void* out) {
  (*static_cast<std::map<std::string, std::string>*>(out))[name] = attribute_type(obj, name);
  return 0;
}
// Attributes of `path` and, for a group, everything below it (depth first, in name order).
void collect(hid_t file, const std::string& path, File::Contents& c, const std::string& where) {
  Handle obj(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) throw output_error("'" + where + "': cannot open " + path + " to list its contents");
  auto& attrs = c.attributes[path];
  hsize_t idx = 0;
  if (H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attribute, &attrs) < 0)
    throw output_error("'" + where + "': cannot list the attributes of " + path);
  if (H5Iget_type(obj.get()) != H5I_GROUP) {
    c.datasets.push_back(path);
    return;
  }
  H5G_info_t g;
  if (H5Gget_info(obj.get(), &g) < 0) throw output_error("'" + where + "': cannot list group " + path);
  for (hsize_t i = 0; i < g.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) throw output_error("'" + where + "': cannot list group " + path);
    std::string name(static_cast<std::size_t>(len), '\0');
    if (H5Lget_name_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT) < 0)
      throw output_error("'" + where + "': cannot list group " + path);
    collect(file, (path == "/" ? "/" : path + "/") + name, c, where);
  }
}
}  // namespace

File::Contents File::contents() const {
  Contents c;
  collect(id(), "/", c, path_);
  return c;
}

DatasetShape File::shape(const std::string& name) const {
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open dataset " + name + " in '" + path_ + "'");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (!space.valid() || !type.valid()) throw input_error("cannot read the shape of dataset " + name + " in '" + path_ + "'");
  DatasetShape s;
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims < 0) throw input_error("cannot read the shape of dataset " + name + " in '" + path_ + "'");
  std::vector<hsize_t> dims(static_cast<std::size_t>(ndims));
  if (ndims > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    throw input_error("cannot read the shape of dataset " + name + " in '" + path_ + "'");
  for (hsize_t v : dims) {
    if (v > static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max()))
      throw input_error("'" + path_ + "': dataset " + name + " declares a dimension of " + std::to_string(v) +
                        ", beyond any size attnbench can hold");
    s.dims.push_back(static_cast<std::int64_t>(v));
  }
  s.is_float = H5Tget_class(type.get()) == H5T_FLOAT;
  s.type_size = H5Tget_size(type.get());
  return s;
}

template <class T>
Matrix<T> File::read_rows(const std::string& name, std::int64_t row0, std::int64_t rows, std::int64_t cols) const {
  // The read's outcome is agreed on its own (see the header): when one rank's chunks fail their
  // checksum, every rank throws here and none goes on to the next collective read alone.
  Matrix<T> out;
  collective([&] {
    const std::string where = "dataset " + name + " of '" + path_ + "'";
    checked_array_bytes(rows, cols, sizeof(T), "rows of " + where, ExitCode::input);
    out = Matrix<T>(rows, cols);
    auto [ds, fspace] = open_for_read(id(), name, where);
    hsize_t start[2] = {static_cast<hsize_t>(row0), 0};
    hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
    Handle mspace(H5Screate_simple(2, count, nullptr), H5Sclose);
    if (!mspace.valid()) throw input_error("cannot select rows of " + where);
    herr_t sel = 0;
    if (rows > 0 && cols > 0) {
      sel = H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    } else {
      sel = std::min(H5Sselect_none(fspace.get()), H5Sselect_none(mspace.get()));
    }
    if (sel < 0) throw input_error("cannot select rows " + std::to_string(row0) + ".." + std::to_string(row0 + rows) +
                                   " of " + where);
    collective_read(ds.get(), mspace.get(), fspace.get(), rows * cols, out.data(), where);
  });
  return out;
}

template <class T>
void File::write_rows(const std::string& name, std::int64_t global_rows, std::int64_t cols, std::int64_t row0,
                      const Matrix<T>& local) {
  const std::int64_t raw = checked_array_bytes(global_rows, cols, sizeof(T), "'" + path_ + "': dataset " + name,
                                               ExitCode::output);
  reserve(checked_add(checked_mul(raw, 2, "'" + path_ + "': dataset " + name, ExitCode::output), kDatasetSlack,
                      "'" + path_ + "': dataset " + name, ExitCode::output),
          "dataset " + name);
  collective([&] {
    auto [fspace, ds] = create_checksummed<T>(id(), name, {static_cast<hsize_t>(global_rows), static_cast<hsize_t>(cols)}, 0,
                                              path_);
    hsize_t start[2] = {static_cast<hsize_t>(row0), 0};
    hsize_t count[2] = {static_cast<hsize_t>(local.rows()), static_cast<hsize_t>(cols)};
    Handle mspace(checked(H5Screate_simple(2, count, nullptr), "dataspace of " + name, path_), H5Sclose);
    if (local.rows() > 0 && cols > 0) {
      check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), "select rows of " + name,
            path_);
    } else {
      check(H5Sselect_none(fspace.get()), "select none", path_);
      check(H5Sselect_none(mspace.get()), "select none", path_);
    }
    collective_write(ds.get(), mspace.get(), fspace.get(), static_cast<std::int64_t>(local.size()), local.data(), name, path_);
    check(H5Dclose(ds.release()), "close dataset " + name, path_);
  });
}

namespace {
// Selects the union of the hyperslabs in `space` (none when empty); checks the element count.
// A failure here is a bug in the caller's selection (internal error), not a file problem.
void select_union(hid_t space, const std::vector<Hyperslab>& selection, std::int64_t elements, const std::string& what) {
  auto check_sel = [&](herr_t rc, const std::string& call) {
    if (rc < 0) throw internal_error(with_stack(call + " of " + what + " failed"));
  };
  if (selection.empty()) {
    check_sel(H5Sselect_none(space), "H5Sselect_none");
  } else {
    bool first = true;
    for (const Hyperslab& h : selection) {
      hsize_t start[2], stride[2], count[2], block[2];
      for (int d = 0; d < 2; ++d) {
        start[d] = static_cast<hsize_t>(h.start[d]);
        stride[d] = static_cast<hsize_t>(h.stride[d]);
        count[d] = static_cast<hsize_t>(h.count[d]);
        block[d] = static_cast<hsize_t>(h.block[d]);
      }
      check_sel(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, stride, count, block),
                "H5Sselect_hyperslab");
      first = false;
    }
  }
  const hssize_t n = H5Sget_select_npoints(space);
  if (n != static_cast<hssize_t>(elements))
    throw internal_error("HDF5 selection of " + what + " has " + std::to_string(n) + " elements, expected " +
                         std::to_string(elements));
}
}  // namespace

template <class T>
void File::read_selection(const std::string& name, const std::vector<Hyperslab>& selection, std::int64_t elements,
                          T* out) const {
  // Agreed on its own, like read_rows: a checksum error in one rank's blocks ends every rank here.
  collective([&] {
    const std::string where = "dataset " + name + " of '" + path_ + "'";
    auto [ds, fspace] = open_for_read(id(), name, where);
    select_union(fspace.get(), selection, elements, name);
    hsize_t count[1] = {static_cast<hsize_t>(std::max<std::int64_t>(elements, 1))};
    Handle mspace(H5Screate_simple(1, count, nullptr), H5Sclose);
    if (!mspace.valid() || (elements == 0 && H5Sselect_none(mspace.get()) < 0))
      throw internal_error("memory dataspace for " + where);
    collective_read(ds.get(), mspace.get(), fspace.get(), elements, out, where);
  });
}

template <class T>
void File::write_selection(const std::string& name, std::int64_t rows, std::int64_t cols,
                           const std::vector<Hyperslab>& selection, std::int64_t elements, const T* data) {
  const std::string what = "'" + path_ + "': dataset " + name;
  const std::int64_t raw = checked_array_bytes(rows, cols, sizeof(T), what, ExitCode::output);
  reserve(checked_add(checked_mul(raw, 2, what, ExitCode::output), kDatasetSlack, what, ExitCode::output),
          "dataset " + name);
  collective([&] {
    auto [fspace, ds] = create_checksummed<T>(id(), name, {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)}, 0, path_);
    select_union(fspace.get(), selection, elements, name);
    Handle mspace = flat_memory_space(elements, name, path_);
    collective_write(ds.get(), mspace.get(), fspace.get(), elements, data, name, path_);
    check(H5Dclose(ds.release()), "close dataset " + name, path_);
  });
}

namespace {
// Selects in `space` (dims `dims`) the union of `rows` along `axis` with every index of the other
// axes (none when `rows` selects nothing), and checks the element count. A failure here is a bug
// in the caller's selection (internal error), not a file problem.
void select_axis_rows(hid_t space, const std::vector<hsize_t>& dims, int axis, const std::vector<AxisSlab>& rows,
                      std::int64_t elements, const std::string& what) {
  auto check_sel = [&](herr_t rc, const std::string& call) {
    if (rc < 0) throw internal_error(with_stack(call + " of " + what + " failed"));
  };
  const auto rank = dims.size();
  if (axis < 0 || static_cast<std::size_t>(axis) >= rank)
    throw internal_error("axis " + std::to_string(axis) + " of the " + std::to_string(rank) + "-D " + what);
  std::vector<hsize_t> start(rank, 0), stride(rank, 1), count(rank, 1), block(dims);
  bool first = true;
  for (const AxisSlab& r : rows) {
    if (r.size() == 0) continue;
    const auto a = static_cast<std::size_t>(axis);
    start[a] = static_cast<hsize_t>(r.start);
    stride[a] = static_cast<hsize_t>(std::max<std::int64_t>(r.stride, 1));
    count[a] = static_cast<hsize_t>(r.count);
    block[a] = static_cast<hsize_t>(r.block);
    check_sel(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(), stride.data(),
                                  count.data(), block.data()),
              "H5Sselect_hyperslab");
    first = false;
  }
  if (first) check_sel(H5Sselect_none(space), "H5Sselect_none");
  const hssize_t n = H5Sget_select_npoints(space);
  if (n != static_cast<hssize_t>(elements))
    throw internal_error("HDF5 selection of " + what + " has " + std::to_string(n) + " elements, expected " +
                         std::to_string(elements));
}
}  // namespace

namespace {
// The memory dataspace of an axis-rows transfer: the file's extents with `axis` cut to the rows
// selected (the buffer's own shape). With one block of rows it has the shape of the file
// selection, which lets HDF5 move whole chunks straight into the buffer (a 1-D memory space made
// the same read about 2.5x slower); nothing is selected when there are no elements.
Handle axis_rows_memory_space(const std::vector<hsize_t>& dims, int axis, std::int64_t elements,
                              const std::vector<AxisSlab>& rows, const std::string& what) {
  std::vector<hsize_t> mdims(dims);
  std::int64_t selected = 0;
  for (const AxisSlab& r : rows) selected += r.size();
  mdims[static_cast<std::size_t>(axis)] = static_cast<hsize_t>(std::max<std::int64_t>(selected, 1));
  Handle mspace(H5Screate_simple(static_cast<int>(mdims.size()), mdims.data(), nullptr), H5Sclose);
  if (!mspace.valid() || (elements == 0 && H5Sselect_none(mspace.get()) < 0))
    throw internal_error("memory dataspace for " + what);
  return mspace;
}
}  // namespace

template <class T>
void File::read_axis_rows(const std::string& name, int axis, const std::vector<AxisSlab>& rows, std::int64_t elements,
                          T* out) const {
  // Agreed on its own, like read_rows: a checksum error in one rank's chunks ends every rank here.
  collective([&] {
    const std::string where = "dataset " + name + " of '" + path_ + "'";
    auto [ds, fspace] = open_for_read(id(), name, where);
    const int ndims = H5Sget_simple_extent_ndims(fspace.get());
    if (ndims < 1) throw input_error("cannot read the dataspace of " + where);
    std::vector<hsize_t> dims(static_cast<std::size_t>(ndims));
    if (H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr) < 0)
      throw input_error("cannot read the dataspace of " + where);
    select_axis_rows(fspace.get(), dims, axis, rows, elements, name);
    Handle mspace = axis_rows_memory_space(dims, axis, elements, rows, where);
    collective_read(ds.get(), mspace.get(), fspace.get(), elements, out, where);
  });
}

template <class T>
void File::write_axis_rows(const std::string& name, const std::vector<std::int64_t>& dims, int axis,
                           const std::vector<AxisSlab>& rows, std::int64_t elements, const T* data) {
  const std::string what = "'" + path_ + "': dataset " + name;
  if (dims.empty() || axis < 0 || static_cast<std::size_t>(axis) >= dims.size())
    throw internal_error("write_axis_rows: axis " + std::to_string(axis) + " of a " + std::to_string(dims.size()) +
                         "-D " + what);
  // Raw bytes, checked for overflow.
  std::int64_t total = 1;
  for (std::size_t k = 0; k < dims.size(); ++k) total = checked_mul(total, dims[k], what, ExitCode::output);
  const std::int64_t raw = checked_array_bytes(total, 1, sizeof(T), what, ExitCode::output);
  reserve(checked_add(checked_mul(raw, 2, what, ExitCode::output), kDatasetSlack, what, ExitCode::output),
          "dataset " + name);
  collective([&] {
    std::vector<hsize_t> gdims(dims.begin(), dims.end());
    auto [fspace, ds] = create_checksummed<T>(id(), name, gdims, static_cast<std::size_t>(axis), path_);
    select_axis_rows(fspace.get(), gdims, axis, rows, elements, name);
    Handle mspace = axis_rows_memory_space(gdims, axis, elements, rows, name);
    collective_write(ds.get(), mspace.get(), fspace.get(), elements, data, name, path_);
    check(H5Dclose(ds.release()), "close dataset " + name, path_);
  });
}

void File::write_root_matrix(const std::string& name, const std::vector<double>& data, std::int64_t rows,
                             std::int64_t cols, const dist::Comm& comm) {
  Matrix<double> local(comm.is_root() ? rows : 0, cols);
  if (comm.is_root()) std::copy(data.begin(), data.end(), local.data());
  write_rows(name, rows, cols, 0, local);
}

template <class T>
void File::write_root_vector(const std::string& name, const std::vector<T>& data, const dist::Comm& comm) {
  // The root's length is the dataset's (one Bcast of an int64): a caller whose ranks hold
  // different lengths must not create differently shaped datasets collectively.
  std::int64_t root_n = static_cast<std::int64_t>(data.size());
  comm.bcast(std::span<std::int64_t>(&root_n, 1), 0);
  // A 1-D dataset through the one checksummed writer; only the root's segment is written.
  using Segments = std::vector<std::array<std::int64_t, 2>>;
  write_1d(name, root_n, comm.is_root() && root_n > 0 ? Segments{{0, root_n}} : Segments{}, data.data());
}

void File::write_root_vector_int64(const std::string& name, const std::vector<std::int64_t>& data,
                                   const dist::Comm& comm) {
  write_root_vector(name, data, comm);
}

void File::ensure_group(const std::string& name) {
  collective([&] {
    const htri_t exists = H5Lexists(id(), name.c_str(), H5P_DEFAULT);
    if (exists < 0) check(-1, "look up group " + name, path_);
    if (exists > 0) return;
    Handle g(checked(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group " + name, path_),
             H5Gclose);
    check(H5Gclose(g.release()), "close group " + name, path_);
  });
}

namespace {
// Creates and writes one scalar attribute; every status checked (the object, the attribute).
void write_scalar_attr(hid_t file, const std::string& path, const std::string& object, const std::string& name,
                       hid_t type, const void* value) {
  Handle obj = open_object(file, object, path);
  Handle space(checked(H5Screate(H5S_SCALAR), "scalar dataspace", path), H5Sclose);
  const std::string what = "attribute " + object + (object == "/" ? "" : "/") + name;
  Handle a(checked(H5Acreate2(obj.get(), name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), "create " + what,
                   path),
           H5Aclose);
  check(H5Awrite(a.get(), type, value), "write " + what, path);
  check(H5Aclose(a.release()), "close " + what, path);
}
}  // namespace

void File::attr(const std::string& object, const std::string& name, const std::string& value) {
  collective([&] {
    Handle type(checked(H5Tcopy(H5T_C_S1), "string type", path_), H5Tclose);
    check(H5Tset_size(type.get(), H5T_VARIABLE), "string type", path_);
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type", path_);
    const char* p = value.c_str();
    write_scalar_attr(id(), path_, object, name, type.get(), &p);
  });
}
void File::attr(const std::string& object, const std::string& name, std::int64_t value) {
  collective([&] { write_scalar_attr(id(), path_, object, name, H5T_NATIVE_INT64, &value); });
}
void File::attr_u64(const std::string& object, const std::string& name, std::uint64_t value) {
  collective([&] { write_scalar_attr(id(), path_, object, name, H5T_NATIVE_UINT64, &value); });
}
void File::attr(const std::string& object, const std::string& name, double value) {
  collective([&] { write_scalar_attr(id(), path_, object, name, H5T_NATIVE_DOUBLE, &value); });
}

void File::attr(const std::string& object, const std::string& name, const std::vector<std::int64_t>& values) {
  collective([&] {
    Handle obj = open_object(id(), object, path_);
    const hsize_t dims[1] = {static_cast<hsize_t>(values.size())};
    Handle space(checked(H5Screate_simple(1, dims, nullptr), "attribute dataspace", path_), H5Sclose);
    const std::string what = "attribute " + object + (object == "/" ? "" : "/") + name;
    Handle a(checked(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                     "create " + what, path_),
             H5Aclose);
    const std::int64_t dummy = 0;
    check(H5Awrite(a.get(), H5T_NATIVE_INT64, values.empty() ? &dummy : values.data()), "write " + what, path_);
    check(H5Aclose(a.release()), "close " + what, path_);
  });
}

template <class T>
void File::write_1d(const std::string& name, std::int64_t length,
                    const std::vector<std::array<std::int64_t, 2>>& segments, const T* data) {
  const std::string what = "'" + path_ + "': dataset " + name;
  const std::int64_t raw = checked_array_bytes(length, 1, sizeof(T), what, ExitCode::output);
  reserve(checked_add(checked_mul(raw, 2, what, ExitCode::output), kDatasetSlack, what, ExitCode::output),
          "dataset " + name);
  std::int64_t elements = 0;
  for (const auto& sg : segments) elements += sg[1];
  collective([&] {
    auto [fspace, ds] = create_checksummed<T>(id(), name, {static_cast<hsize_t>(length)}, 0, path_);
    // An empty dataset has no storage to write; every rank knows the length and skips alike.
    if (length > 0) {
      bool first = true;
      for (const auto& sg : segments) {
        if (sg[1] <= 0) continue;
        const hsize_t start[1] = {static_cast<hsize_t>(sg[0])}, count[1] = {static_cast<hsize_t>(sg[1])};
        if (H5Sselect_hyperslab(fspace.get(), first ? H5S_SELECT_SET : H5S_SELECT_OR, start, nullptr, count, nullptr) < 0)
          throw internal_error(with_stack("H5Sselect_hyperslab of " + name + " failed"));
        first = false;
      }
      if (first) check(H5Sselect_none(fspace.get()), "select none", path_);
      if (H5Sget_select_npoints(fspace.get()) != static_cast<hssize_t>(elements))
        throw internal_error("HDF5 selection of " + name + " does not have " + std::to_string(elements) +
                             " elements (overlapping segments?)");
      Handle mspace = flat_memory_space(elements, name, path_);
      collective_write(ds.get(), mspace.get(), fspace.get(), elements, data, name, path_);
    }
    check(H5Dclose(ds.release()), "close dataset " + name, path_);
  });
}

template Matrix<float> File::read_rows<float>(const std::string&, std::int64_t, std::int64_t, std::int64_t) const;
template Matrix<double> File::read_rows<double>(const std::string&, std::int64_t, std::int64_t, std::int64_t) const;
template void File::write_rows<float>(const std::string&, std::int64_t, std::int64_t, std::int64_t, const Matrix<float>&);
template void File::write_rows<double>(const std::string&, std::int64_t, std::int64_t, std::int64_t, const Matrix<double>&);
template void File::read_selection<float>(const std::string&, const std::vector<Hyperslab>&, std::int64_t,
                                          float*) const;
template void File::read_selection<double>(const std::string&, const std::vector<Hyperslab>&, std::int64_t,
                                           double*) const;
template void File::write_selection<float>(const std::string&, std::int64_t, std::int64_t,
                                           const std::vector<Hyperslab>&, std::int64_t, const float*);
template void File::write_selection<double>(const std::string&, std::int64_t, std::int64_t,
                                            const std::vector<Hyperslab>&, std::int64_t, const double*);
template void File::read_axis_rows<float>(const std::string&, int, const std::vector<AxisSlab>&, std::int64_t,
                                          float*) const;
template void File::read_axis_rows<double>(const std::string&, int, const std::vector<AxisSlab>&, std::int64_t,
                                           double*) const;
template void File::write_axis_rows<float>(const std::string&, const std::vector<std::int64_t>&, int,
                                           const std::vector<AxisSlab>&, std::int64_t, const float*);
template void File::write_axis_rows<double>(const std::string&, const std::vector<std::int64_t>&, int,
                                            const std::vector<AxisSlab>&, std::int64_t, const double*);
template void File::write_rows<std::int64_t>(const std::string&, std::int64_t, std::int64_t, std::int64_t,
                                             const Matrix<std::int64_t>&);

// 1-D datasets of sparse groups (gen --kernel sparsify).
template void File::write_1d<double>(const std::string&, std::int64_t, const std::vector<std::array<std::int64_t, 2>>&,
                                     const double*);
template void File::write_1d<float>(const std::string&, std::int64_t, const std::vector<std::array<std::int64_t, 2>>&,
                                    const float*);
template void File::write_1d<std::int64_t>(const std::string&, std::int64_t,
                                           const std::vector<std::array<std::int64_t, 2>>&, const std::int64_t*);
template void File::write_root_vector<double>(const std::string&, const std::vector<double>&, const dist::Comm&);
template void File::write_root_vector<std::int64_t>(const std::string&, const std::vector<std::int64_t>&,
                                                    const dist::Comm&);

}  // namespace attnbench::io
