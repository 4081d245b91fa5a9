#pragma once
// Collecting the provenance of a run (core/provenance.hpp) on every rank.
#include <string>

#include "core/provenance.hpp"
#include "dist/comm.hpp"

namespace attnbench::metrics {

// Collective: gathers host names; everything else is broadcast from rank 0 so every rank holds
// identical values (HDF5 attributes are written collectively with identical data). The HDF5
// library version comes from the caller (io::hdf5_version()): metrics does not read io.
Provenance collect_provenance(const dist::Comm& comm, int argc, char** argv, std::string hdf5_version);

std::string iso8601_utc_now();

}  // namespace attnbench::metrics
