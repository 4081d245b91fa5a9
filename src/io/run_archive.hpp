#pragma once
// Writes a RunRecord (and optionally the output O) as one results archive; see README "Results
// archive" for the schema. Collective; all-or-nothing through ArchiveWriter.
#include <optional>
#include <string>

#include "core/matrix.hpp"
#include "core/run_record.hpp"
#include "dist/comm.hpp"
#include "dist/layout.hpp"
#include "core/provenance.hpp"

namespace attnbench::io {

template <class T>
struct SavedOutput {
  const Matrix<T>* O_local = nullptr;
  dist::BlockRowLayout layout{0, 1};
};

template <class T>
void write_run_archive(const dist::Comm& comm, const std::string& path, const RunRecord& record,
                       const metrics::Provenance& provenance, const SavedOutput<T>& output);

}  // namespace attnbench::io
