#include "io/hdf5_file.hpp"

#include <algorithm>
#include <type_traits>

#include "core/error.hpp"

namespace attnbench::io {

namespace {
template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_NATIVE_INT64;
}
void check(herr_t rc, const std::string& what) {
  if (rc < 0) throw output_error("HDF5: " + what + " failed");
}
hid_t checked(hid_t id, const std::string& what) {
  if (id < 0) throw output_error("HDF5: " + what + " failed");
  return id;
}
Handle collective_dxpl() {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  check(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  return dxpl;
}
Handle open_object(hid_t file, const std::string& object) {
  hid_t id = H5Oopen(file, object.c_str(), H5P_DEFAULT);
  return Handle(checked(id, "open object " + object), H5Oclose);
}
// Chunked + shuffle + deflate + Fletcher32: a flipped byte is detected on read.
Handle checksummed_dcpl(std::int64_t rows, std::int64_t cols, std::size_t elem_size) {
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (rows > 0 && cols > 0) {
    // About 1 MiB chunks of whole rows, at most the dataset itself.
    const std::int64_t row_bytes = cols * static_cast<std::int64_t>(elem_size);
    const std::int64_t chunk_rows = std::clamp<std::int64_t>((1 << 20) / std::max<std::int64_t>(row_bytes, 1), 1, rows);
    hsize_t chunk[2] = {static_cast<hsize_t>(chunk_rows), static_cast<hsize_t>(cols)};
    check(H5Pset_chunk(dcpl.get(), 2, chunk), "H5Pset_chunk");
    check(H5Pset_shuffle(dcpl.get()), "H5Pset_shuffle");
    check(H5Pset_deflate(dcpl.get(), 1), "H5Pset_deflate");
    check(H5Pset_fletcher32(dcpl.get()), "H5Pset_fletcher32");
  }
  return dcpl;
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

File File::open_read(const dist::Comm& comm, const std::string& path) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  check(H5Pset_fapl_mpio(fapl.get(), comm.raw(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (f < 0) throw input_error("cannot open HDF5 file '" + path + "'");
  return File(Handle(f, H5Fclose), path);
}

File File::create(const dist::Comm& comm, const std::string& path) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  check(H5Pset_fapl_mpio(fapl.get(), comm.raw(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (f < 0) throw output_error("cannot create HDF5 file '" + path + "'");
  return File(Handle(f, H5Fclose), path);
}

bool File::has_dataset(const std::string& name) const {
  if (H5Lexists(id(), name.c_str(), H5P_DEFAULT) <= 0) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name(id(), name.c_str(), &info, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_DATASET;
}

DatasetShape File::shape(const std::string& name) const {
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open dataset " + name + " in '" + path_ + "'");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  DatasetShape s;
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(ndims, 0)));
  if (ndims > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  for (hsize_t v : dims) s.dims.push_back(static_cast<std::int64_t>(v));
  s.is_float = H5Tget_class(type.get()) == H5T_FLOAT;
  s.type_size = H5Tget_size(type.get());
  return s;
}

template <class T>
Matrix<T> File::read_rows(const std::string& name, std::int64_t row0, std::int64_t rows, std::int64_t cols) const {
  Matrix<T> out(rows, cols);
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open dataset " + name + " in '" + path_ + "'");
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  hsize_t start[2] = {static_cast<hsize_t>(row0), 0};
  hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  if (rows > 0 && cols > 0) {
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  } else {
    H5Sselect_none(fspace.get());
  }
  Handle mspace(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (rows == 0 || cols == 0) H5Sselect_none(mspace.get());
  Handle dxpl = collective_dxpl();
  if (H5Dread(ds.get(), native_type<T>(), mspace.get(), fspace.get(), dxpl.get(), out.data()) < 0)
    throw input_error("cannot read dataset " + name + " from '" + path_ + "' (corrupt file or checksum error)");
  return out;
}

template <class T>
void File::write_rows(const std::string& name, std::int64_t global_rows, std::int64_t cols, std::int64_t row0,
                      const Matrix<T>& local) {
  hsize_t gdims[2] = {static_cast<hsize_t>(global_rows), static_cast<hsize_t>(cols)};
  Handle fspace(H5Screate_simple(2, gdims, nullptr), H5Sclose);
  Handle dcpl = checksummed_dcpl(global_rows, cols, sizeof(T));
  Handle ds(checked(H5Dcreate2(id(), name.c_str(), native_type<T>(), fspace.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    "create dataset " + name),
            H5Dclose);
  hsize_t start[2] = {static_cast<hsize_t>(row0), 0};
  hsize_t count[2] = {static_cast<hsize_t>(local.rows()), static_cast<hsize_t>(cols)};
  Handle mspace(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (local.rows() > 0 && cols > 0) {
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  } else {
    H5Sselect_none(fspace.get());
    H5Sselect_none(mspace.get());
  }
  Handle dxpl = collective_dxpl();
  check(H5Dwrite(ds.get(), native_type<T>(), mspace.get(), fspace.get(), dxpl.get(), local.data()),
        "write dataset " + name);
}

namespace {
// Selects the union of the hyperslabs in `space` (none when empty); checks the element count.
void select_union(hid_t space, const std::vector<Hyperslab>& selection, std::int64_t elements, const std::string& what) {
  if (selection.empty()) {
    check(H5Sselect_none(space), "H5Sselect_none " + what);
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
      check(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, stride, count, block),
            "H5Sselect_hyperslab " + what);
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
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open dataset " + name + " in '" + path_ + "'");
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  select_union(fspace.get(), selection, elements, name);
  hsize_t count[1] = {static_cast<hsize_t>(std::max<std::int64_t>(elements, 1))};
  Handle mspace(H5Screate_simple(1, count, nullptr), H5Sclose);
  if (elements == 0) H5Sselect_none(mspace.get());
  Handle dxpl = collective_dxpl();
  T dummy{};
  if (H5Dread(ds.get(), native_type<T>(), mspace.get(), fspace.get(), dxpl.get(), elements ? out : &dummy) < 0)
    throw input_error("cannot read dataset " + name + " from '" + path_ + "' (corrupt file or checksum error)");
}

template <class T>
void File::write_selection(const std::string& name, std::int64_t rows, std::int64_t cols,
                           const std::vector<Hyperslab>& selection, std::int64_t elements, const T* data) {
  hsize_t gdims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  Handle fspace(H5Screate_simple(2, gdims, nullptr), H5Sclose);
  Handle dcpl = checksummed_dcpl(rows, cols, sizeof(T));
  Handle ds(checked(H5Dcreate2(id(), name.c_str(), native_type<T>(), fspace.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    "create dataset " + name),
            H5Dclose);
  select_union(fspace.get(), selection, elements, name);
  hsize_t count[1] = {static_cast<hsize_t>(std::max<std::int64_t>(elements, 1))};
  Handle mspace(H5Screate_simple(1, count, nullptr), H5Sclose);
  if (elements == 0) H5Sselect_none(mspace.get());
  Handle dxpl = collective_dxpl();
  const T dummy{};
  check(H5Dwrite(ds.get(), native_type<T>(), mspace.get(), fspace.get(), dxpl.get(), elements ? data : &dummy),
        "write dataset " + name);
}

void File::write_root_matrix(const std::string& name, const std::vector<double>& data, std::int64_t rows,
                             std::int64_t cols, const dist::Comm& comm) {
  Matrix<double> local(comm.is_root() ? rows : 0, cols);
  if (comm.is_root()) std::copy(data.begin(), data.end(), local.data());
  write_rows(name, rows, cols, 0, local);
}

void File::write_root_vector_int64(const std::string& name, const std::vector<std::int64_t>& data,
                                   const dist::Comm& comm) {
  Matrix<std::int64_t> local(comm.is_root() ? static_cast<std::int64_t>(data.size()) : 0, 1);
  if (comm.is_root()) std::copy(data.begin(), data.end(), local.data());
  // Stored as a 1-D dataset: write as [n, 1] then it is reshaped by readers; keep it 1-D instead.
  hsize_t gdims[1] = {static_cast<hsize_t>(data.size())};
  Handle fspace(H5Screate_simple(1, gdims, nullptr), H5Sclose);
  Handle ds(checked(H5Dcreate2(id(), name.c_str(), H5T_NATIVE_INT64, fspace.get(), H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT),
                    "create dataset " + name),
            H5Dclose);
  hsize_t count[1] = {comm.is_root() ? static_cast<hsize_t>(data.size()) : 0};
  Handle mspace(H5Screate_simple(1, count, nullptr), H5Sclose);
  if (!comm.is_root() || data.empty()) {
    H5Sselect_none(fspace.get());
    H5Sselect_none(mspace.get());
  }
  Handle dxpl = collective_dxpl();
  check(H5Dwrite(ds.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), dxpl.get(), local.data()),
        "write dataset " + name);
}

void File::ensure_group(const std::string& name) {
  if (H5Lexists(id(), name.c_str(), H5P_DEFAULT) > 0) return;
  Handle g(checked(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group " + name),
           H5Gclose);
}

void File::attr(const std::string& object, const std::string& name, const std::string& value) {
  Handle obj = open_object(id(), object);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(checked(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   "create attribute " + name),
           H5Aclose);
  const char* p = value.c_str();
  check(H5Awrite(a.get(), type.get(), &p), "write attribute " + name);
}
void File::attr(const std::string& object, const std::string& name, std::int64_t value) {
  Handle obj = open_object(id(), object);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(checked(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   "create attribute " + name),
           H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), "write attribute " + name);
}
void File::attr_u64(const std::string& object, const std::string& name, std::uint64_t value) {
  Handle obj = open_object(id(), object);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(checked(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_UINT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   "create attribute " + name),
           H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_UINT64, &value), "write attribute " + name);
}
void File::attr(const std::string& object, const std::string& name, double value) {
  Handle obj = open_object(id(), object);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(checked(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                   "create attribute " + name),
           H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value), "write attribute " + name);
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
template void File::write_rows<std::int64_t>(const std::string&, std::int64_t, std::int64_t, std::int64_t,
                                             const Matrix<std::int64_t>&);

}  // namespace attnbench::io
