#pragma once
// The regress kernel's archive contract (the table regress/archive_contract.txt, built in by
// cmake/ArchiveContract.cmake): every key it writes beyond the harness's frame, its role
// (benchmark point, tuning, result), the algorithms that write it and when (harness::ArchiveKey).
#include <vector>

#include "harness/kernel.hpp"

namespace attnbench::regress {

std::vector<harness::ArchiveKey> regress_archive_keys();

}  // namespace attnbench::regress
