#include "dist/comm.hpp"

#include <climits>
#include <stdexcept>

#include "core/error.hpp"

namespace attnbench::dist {

namespace {
MPI_Op to_mpi(Op op) {
  switch (op) {
    case Op::sum: return MPI_SUM;
    case Op::max: return MPI_MAX;
    case Op::min: return MPI_MIN;
  }
  return MPI_SUM;
}
}  // namespace

int checked_count(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw internal_error("MPI message of " + std::to_string(n) + " elements exceeds MPI's int count (2^31 - 1)");
  return static_cast<int>(n);
}

std::vector<int> checked_displacements(std::span<const int> counts) {
  std::vector<int> displs(counts.size(), 0);
  long long at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] < 0) throw internal_error("negative MPI count " + std::to_string(counts[i]));
    if (at > INT_MAX)
      throw internal_error("MPI displacement " + std::to_string(at) + " exceeds MPI's int range (2^31 - 1 elements)");
    displs[i] = static_cast<int>(at);
    at += counts[i];
  }
  return displs;
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw internal_error(std::string(what) + " failed: " + std::string(msg, static_cast<std::size_t>(len)));
}

Request& Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE);
    req_ = o.req_;
    o.req_ = MPI_REQUEST_NULL;
  }
  return *this;
}
Request::~Request() {
  if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE);
}
void Request::wait() {
  if (req_ != MPI_REQUEST_NULL) check_mpi(MPI_Wait(&req_, MPI_STATUS_IGNORE), "MPI_Wait");
}
bool Request::test() {
  if (req_ == MPI_REQUEST_NULL) return true;
  int flag = 0;
  check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
  return flag != 0;
}

Comm::Comm(std::shared_ptr<MPI_Comm> h) : handle_(std::move(h)) {
  MPI_Comm_rank(*handle_, &rank_);
  MPI_Comm_size(*handle_, &size_);
}

Comm Comm::borrow(MPI_Comm c) {
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  return Comm(std::shared_ptr<MPI_Comm>(new MPI_Comm(c)));
}

void Comm::barrier() const { check_mpi(MPI_Barrier(raw()), "MPI_Barrier"); }

template <class T>
void Comm::allreduce(std::span<T> data, Op op) const {
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data(), checked_count(data.size()), mpi_type<T>(), to_mpi(op), raw()),
            "MPI_Allreduce");
}
template <class T>
void Comm::bcast(std::span<T> data, int root) const {
  check_mpi(MPI_Bcast(data.data(), checked_count(data.size()), mpi_type<T>(), root, raw()), "MPI_Bcast");
}
void Comm::bcast(std::string& s, int root) const {
  long long len = static_cast<long long>(s.size());
  bcast(std::span<long long>(&len, 1), root);
  s.resize(static_cast<std::size_t>(len));
  if (len > 0) bcast(std::span<char>(s.data(), s.size()), root);
}
template <class T>
std::vector<T> Comm::allgather(T value) const {
  std::vector<T> out(static_cast<std::size_t>(size_));
  check_mpi(MPI_Allgather(&value, 1, mpi_type<T>(), out.data(), 1, mpi_type<T>(), raw()), "MPI_Allgather");
  return out;
}
template <class T>
void Comm::allgatherv(std::span<const T> local, std::span<T> out, std::span<const int> counts) const {
  const std::vector<int> displs = checked_displacements(counts);
  check_mpi(MPI_Allgatherv(local.data(), checked_count(local.size()), mpi_type<T>(), out.data(), counts.data(),
                           displs.data(), mpi_type<T>(), raw()),
            "MPI_Allgatherv");
}
std::vector<std::string> Comm::allgather_strings(const std::string& s) const {
  std::vector<int> lens = allgather<int>(checked_count(s.size()));
  std::size_t total = 0;
  for (int l : lens) total += static_cast<std::size_t>(l);
  std::string all(total, '\0');
  allgatherv<char>(std::span<const char>(s.data(), s.size()), std::span<char>(all.data(), all.size()), lens);
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (int l : lens) {
    out.push_back(all.substr(pos, static_cast<std::size_t>(l)));
    pos += static_cast<std::size_t>(l);
  }
  return out;
}
template <class T>
Request Comm::isend(std::span<const T> data, int dest, int tag) const {
  MPI_Request r;
  check_mpi(MPI_Isend(data.data(), checked_count(data.size()), mpi_type<T>(), dest, tag, raw(), &r), "MPI_Isend");
  return Request(r);
}
template <class T>
Request Comm::irecv(std::span<T> data, int source, int tag) const {
  MPI_Request r;
  check_mpi(MPI_Irecv(data.data(), checked_count(data.size()), mpi_type<T>(), source, tag, raw(), &r), "MPI_Irecv");
  return Request(r);
}

Comm Comm::split(int color, int key) const {
  MPI_Comm sub;
  check_mpi(MPI_Comm_split(raw(), color, key, &sub), "MPI_Comm_split");
  MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
  auto h = std::shared_ptr<MPI_Comm>(new MPI_Comm(sub), [](MPI_Comm* c) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && *c != MPI_COMM_NULL) MPI_Comm_free(c);
    delete c;
  });
  return Comm(std::move(h));
}

#define ATTNBENCH_INSTANTIATE(T)                                                                   \
  template void Comm::allreduce<T>(std::span<T>, Op) const;                                       \
  template void Comm::bcast<T>(std::span<T>, int) const;                                          \
  template std::vector<T> Comm::allgather<T>(T) const;                                            \
  template void Comm::allgatherv<T>(std::span<const T>, std::span<T>, std::span<const int>) const; \
  template Request Comm::isend<T>(std::span<const T>, int, int) const;                            \
  template Request Comm::irecv<T>(std::span<T>, int, int) const;
ATTNBENCH_INSTANTIATE(double)
ATTNBENCH_INSTANTIATE(float)
ATTNBENCH_INSTANTIATE(int)
ATTNBENCH_INSTANTIATE(long)
ATTNBENCH_INSTANTIATE(long long)
ATTNBENCH_INSTANTIATE(unsigned long)
ATTNBENCH_INSTANTIATE(unsigned long long)
ATTNBENCH_INSTANTIATE(char)
#undef ATTNBENCH_INSTANTIATE

Environment::Environment(int& argc, char**& argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw internal_error("the MPI library does not provide MPI_THREAD_FUNNELED");
  }
}
Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::string Environment::library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<std::size_t>(len));
  // Keep the first line: Open MPI appends its repository revision and date.
  auto nl = s.find_first_of("\n,");
  return nl == std::string::npos ? s : s.substr(0, nl);
}
std::string Environment::processor_name() {
  char buf[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(buf, &len);
  return std::string(buf, static_cast<std::size_t>(len));
}

}  // namespace attnbench::dist
