#pragma once
// Writes a RunRecord as one results archive (schema_version 2; see README "Results archive"), plus
// whatever datasets the kernel adds (a callback run inside the same open file). Collective;
// all-or-nothing through ArchiveWriter.
#include <functional>
#include <string>

#include "core/provenance.hpp"
#include "core/run_record.hpp"
#include "dist/comm.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io {

void write_run_archive(const dist::Comm& comm, const std::string& path, const RunRecord& record,
                       const metrics::Provenance& provenance, const std::function<void(File&)>& kernel_datasets);

}  // namespace attnbench::io
