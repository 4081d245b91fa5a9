#pragma once
// The archive contract (see ArchiveKey in harness/kernel.hpp): the frame the harness writes for every
// kernel, and the checks that hold a run's record and its archive to the kernel's declaration.
#include <string>
#include <vector>

#include "core/run_record.hpp"
#include "harness/kernel.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::harness {

// What the harness itself writes into every archive (io/run_archive.cpp and harness.cpp): the
// common root attributes, /provenance, /timings, the common /metrics and /validation keys.
const std::vector<ArchiveKey>& common_archive_keys();
// Its table, harness/archive_frame.txt, built in by cmake/ArchiveContract.cmake.
std::vector<ArchiveKey> archive_frame_keys();

// The declaration of `group`/`name` for a run of `algorithm` (the common frame first), or nullptr.
const ArchiveKey* declared_key(const KernelSpec& k, const std::string& algorithm, const std::string& group,
                               const std::string& name);

// Every problem attribute, parameter, metric and validation entry of the record is declared for its
// algorithm with its type. Throws an internal error (a bug in the kernel or its declaration) listing
// every key that is not; identical on every rank (the record is).
void check_record(const KernelSpec& k, const RunRecord& rec);

// The same for everything in the archive about to be published: every attribute of every group and
// every dataset (bar /timings/<phase>, the kernel's phases). Throws an internal error listing them.
void check_archive(const KernelSpec& k, const std::string& algorithm, const io::File::Contents& contents);

}  // namespace attnbench::harness
