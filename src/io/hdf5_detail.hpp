#pragma once
// Internal to src/io: the pieces both sources that call HDF5 directly (hdf5_file.cpp and
// hdf5_sparse.cpp) need, written once. Not for use outside io.
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io::detail {

// The HDF5 memory type of an element type we read or write.
template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_NATIVE_INT64;
  else static_assert(std::is_same_v<T, double>, "no HDF5 type for this element type");
}

// One collective MPI-IO read of the selected elements into `out`. A rank with nothing selected
// still takes part (reading into a dummy element: H5Dread rejects a null buffer, and collective
// transfers need every rank). Throws read_failure(where) when HDF5 fails (e.g. a checksum error).
template <class T>
void collective_read(hid_t ds, hid_t mspace, hid_t fspace, std::int64_t elements, T* out, const std::string& where) {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (!dxpl.valid() || H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE) < 0)
    throw internal_error("H5Pset_dxpl_mpio failed");
  T dummy{};
  if (H5Dread(ds, native_type<T>(), mspace, fspace, dxpl.get(), elements ? out : &dummy) < 0) throw read_failure(where);
}

}  // namespace attnbench::io::detail
