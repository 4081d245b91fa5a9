#pragma once
// The solve kernel's archive contract (the table solve/archive_contract.txt, built in by
// cmake/ArchiveContract.cmake): every key it writes beyond the harness's frame, its role
// (benchmark point, tuning, result), the algorithms that write it and when (harness::ArchiveKey).
#include <vector>

#include "harness/kernel.hpp"

namespace attnbench::solve {

std::vector<harness::ArchiveKey> solve_archive_keys();

}  // namespace attnbench::solve
