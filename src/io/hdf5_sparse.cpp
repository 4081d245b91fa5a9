#include "io/hdf5_sparse.hpp"

#include <functional>
#include <type_traits>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/hdf5_detail.hpp"

namespace attnbench::io {

namespace {
Handle open_dataset(const File& f, const std::string& name) {
  Handle ds(H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw input_error("cannot open dataset " + name + " in '" + f.path() + "'");
  return ds;
}
}  // namespace

ObjectKind object_kind(const File& f, const std::string& name) {
  // Check every path component so that H5Lexists never sees a missing intermediate group.
  std::string prefix;
  std::size_t pos = 1;
  while (true) {
    const std::size_t next = name.find('/', pos);
    prefix = name.substr(0, next);
    if (H5Lexists(f.id(), prefix.c_str(), H5P_DEFAULT) <= 0) return ObjectKind::missing;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  H5O_info_t info;
  if (H5Oget_info_by_name(f.id(), name.c_str(), &info, H5P_DEFAULT) < 0) return ObjectKind::missing;
  if (info.type == H5O_TYPE_DATASET) return ObjectKind::dataset;
  if (info.type == H5O_TYPE_GROUP) return ObjectKind::group;
  return ObjectKind::other;
}

std::string open_failure_text(const std::string& path) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) {
    H5Fclose(f);
    return "";
  }
  return hdf5_error_text();
}

ElementClass element_class(const File& f, const std::string& dataset) {
  Handle ds = open_dataset(f, dataset);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  switch (H5Tget_class(type.get())) {
    case H5T_FLOAT: return ElementClass::floating;
    case H5T_INTEGER: return ElementClass::integer;
    default: return ElementClass::other;
  }
}

namespace {
// The attribute `name` of `object` with its type and dataspace, when it exists and its type is of
// class `cls`.
struct Attribute {
  Handle attr, type, space;
};
std::optional<Attribute> open_attribute(const File& f, const std::string& object, const std::string& name,
                                        H5T_class_t cls) {
  if (H5Aexists_by_name(f.id(), object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  Attribute a;
  a.attr = Handle(H5Aopen_by_name(f.id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.attr.valid()) return std::nullopt;
  a.type = Handle(H5Aget_type(a.attr.get()), H5Tclose);
  if (H5Tget_class(a.type.get()) != cls) return std::nullopt;
  a.space = Handle(H5Aget_space(a.attr.get()), H5Sclose);
  return a;
}
}  // namespace

std::optional<std::string> read_string_attr(const File& f, const std::string& object, const std::string& name) {
  const auto found = open_attribute(f, object, name, H5T_STRING);
  if (!found || H5Sget_simple_extent_npoints(found->space.get()) != 1) return std::nullopt;
  const Handle& a = found->attr;
  const Handle& type = found->type;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* p = nullptr;
    if (H5Aread(a.get(), mem.get(), &p) < 0 || p == nullptr) return std::nullopt;
    std::string s(p);
    H5free_memory(p);
    return s;
  }
  const std::size_t size = H5Tget_size(type.get());
  std::string s(size, '\0');
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  if (H5Aread(a.get(), mem.get(), s.data()) < 0) return std::nullopt;
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

std::optional<std::vector<std::int64_t>> read_int_attr(const File& f, const std::string& object,
                                                       const std::string& name) {
  const auto found = open_attribute(f, object, name, H5T_INTEGER);
  if (!found) return std::nullopt;
  const hssize_t npoints = H5Sget_simple_extent_npoints(found->space.get());
  if (npoints < 0) return std::nullopt;
  std::vector<std::int64_t> v(static_cast<std::size_t>(npoints));
  if (npoints > 0 && H5Aread(found->attr.get(), H5T_NATIVE_INT64, v.data()) < 0) return std::nullopt;
  return v;
}

namespace {

// One collective hyperslab read (start, count per dimension) into the buffer `allocate` returns,
// agreed in two steps: first the buffer, the dataset and the selections (a failure there, such as
// an allocation, must not leave the other ranks waiting inside H5Dread), then H5Dread itself (a
// checksum error in one rank's chunks ends every rank here).
template <class T>
void agreed_read(const dist::Comm& comm, const File& f, const std::string& name, const std::vector<std::int64_t>& start,
                 const std::vector<std::int64_t>& count, const std::function<T*(std::int64_t)>& allocate) {
  const std::string where = "dataset " + name + " of '" + f.path() + "'";
  const int rank = static_cast<int>(count.size());
  Handle ds, fspace, mspace;
  T* buffer = nullptr;
  std::int64_t elements = 1;
  bool no_storage = false;
  dist::agree_on_success(comm, [&] {
    for (std::int64_t c : count) elements = checked_mul(elements, c, "elements read from " + where, ExitCode::input);
    checked_array_bytes(elements, 1, sizeof(T), "elements read from " + where, ExitCode::input);
    buffer = allocate(elements);
    ds = open_dataset(f, name);
    fspace = Handle(H5Dget_space(ds.get()), H5Sclose);
    if (!fspace.valid()) throw input_error("cannot read the dataspace of " + where);
    // An empty dataset has no storage to read (every rank sees the same extent and skips alike).
    if (H5Sget_simple_extent_npoints(fspace.get()) == 0) {
      no_storage = true;
      return;
    }
    std::vector<hsize_t> st(start.begin(), start.end()), cnt(count.begin(), count.end());
    mspace = Handle(H5Screate_simple(rank, cnt.data(), nullptr), H5Sclose);
    if (!mspace.valid()) throw internal_error("memory dataspace for " + where);
    if (elements > 0) {
      if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, st.data(), nullptr, cnt.data(), nullptr) < 0)
        throw input_error("bad selection of " + where);
    } else if (H5Sselect_none(fspace.get()) < 0 || H5Sselect_none(mspace.get()) < 0) {
      throw internal_error("empty selection of " + where);
    }
  });
  if (no_storage) return;
  dist::agree_on_success(comm, [&] {
    detail::collective_read(ds.get(), mspace.get(), fspace.get(), elements, buffer, where);
  });
}
}  // namespace

template <class T>
std::vector<T> read_1d(const dist::Comm& comm, const File& f, const std::string& name, std::int64_t offset,
                       std::int64_t count) {
  std::vector<T> out;
  agreed_read<T>(comm, f, name, {offset}, {count}, [&](std::int64_t elements) {
    out.resize(static_cast<std::size_t>(elements));
    return out.data();
  });
  return out;
}

template <class T>
Matrix<T> read_block(const dist::Comm& comm, const File& f, const std::string& name, std::int64_t row0,
                     std::int64_t rows, std::int64_t col0, std::int64_t cols) {
  Matrix<T> out;
  agreed_read<T>(comm, f, name, {row0, col0}, {rows, cols}, [&](std::int64_t) {
    out = Matrix<T>(rows, cols);
    return out.data();
  });
  return out;
}

// The one checksummed writer of io::File (chunked, Fletcher32, agreed), not a raw H5Dcreate here:
// every dataset attnbench writes carries a checksum.
template <class T>
void write_root_vector(File& f, const std::string& name, const std::vector<T>& data, const dist::Comm& comm) {
  f.write_root_vector(name, data, comm);
}

template std::vector<double> read_1d<double>(const dist::Comm&, const File&, const std::string&, std::int64_t,
                                            std::int64_t);
template std::vector<float> read_1d<float>(const dist::Comm&, const File&, const std::string&, std::int64_t,
                                          std::int64_t);
template std::vector<std::int64_t> read_1d<std::int64_t>(const dist::Comm&, const File&, const std::string&,
                                                        std::int64_t, std::int64_t);
template void write_root_vector<double>(File&, const std::string&, const std::vector<double>&, const dist::Comm&);
template void write_root_vector<std::int64_t>(File&, const std::string&, const std::vector<std::int64_t>&,
                                              const dist::Comm&);
template Matrix<double> read_block<double>(const dist::Comm&, const File&, const std::string&, std::int64_t,
                                           std::int64_t, std::int64_t, std::int64_t);
template Matrix<float> read_block<float>(const dist::Comm&, const File&, const std::string&, std::int64_t,
                                         std::int64_t, std::int64_t, std::int64_t);

}  // namespace attnbench::io
