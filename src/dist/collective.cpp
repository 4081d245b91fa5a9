#include "dist/collective.hpp"

#include <exception>
#include <optional>

namespace attnbench::dist {

void agree(const Comm& comm, const Error* local_error) {
  // MPI_Allreduce(MIN) of "my rank if I failed, else size": the lowest failing rank, or size.
  const int first_failed = comm.allreduce(local_error ? comm.rank() : comm.size(), Op::min);
  if (first_failed == comm.size()) return;
  int code = local_error ? static_cast<int>(local_error->code()) : 0;
  std::string message = local_error ? std::string(local_error->what()) : std::string();
  comm.bcast(std::span<int>(&code, 1), first_failed);
  comm.bcast(message, first_failed);
  throw Error(static_cast<ExitCode>(code), message, /*agreed=*/true);
}

void agree_on_success(const Comm& comm, const std::function<void()>& fn) {
  std::optional<Error> failure;
  try {
    fn();
  } catch (const Error& e) {
    failure = e;
  } catch (const std::exception& e) {
    failure = internal_error(e.what());
  }
  agree(comm, failure ? &*failure : nullptr);
}

}  // namespace attnbench::dist
