#pragma once
// Collective failure handling. A phase that may fail on some ranks (reading input, checking data,
// validating options) runs inside `agree_on_success`: each rank catches its own attnbench::Error,
// then all ranks agree (one MPI_Allreduce MIN of the failing rank, one MPI_Bcast of the code and
// message from the lowest failing rank) and every rank throws the same Error. Rank 0 prints it once
// and all ranks exit with the same code: no hang, no rank-local early return before a collective.
#include <functional>

#include "core/error.hpp"
#include "dist/comm.hpp"

namespace attnbench::dist {

// Runs fn on every rank; throws on every rank the error of the lowest failing rank, if any.
// Collective: every rank of comm must call it. Non-attnbench exceptions become internal errors.
void agree_on_success(const Comm& comm, const std::function<void()>& fn);

// Agree on an already-known local outcome (ok or a local error).
void agree(const Comm& comm, const Error* local_error);

}  // namespace attnbench::dist
