#pragma once
// RAII MPI: Environment owns MPI_Init/MPI_Finalize; Comm is a small value wrapping a communicator
// (owning when it came from split/dup, borrowing otherwise) with typed collectives. Kernels take a
// Comm and never name the world communicator: only main() does, wrapping it with Comm::borrow.
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace attnbench::dist {

template <class T>
MPI_Datatype mpi_type();
template <> inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <> inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> inline MPI_Datatype mpi_type<int>() { return MPI_INT; }
template <> inline MPI_Datatype mpi_type<long>() { return MPI_LONG; }
template <> inline MPI_Datatype mpi_type<long long>() { return MPI_LONG_LONG; }
template <> inline MPI_Datatype mpi_type<unsigned long>() { return MPI_UNSIGNED_LONG; }
template <> inline MPI_Datatype mpi_type<unsigned long long>() { return MPI_UNSIGNED_LONG_LONG; }
template <> inline MPI_Datatype mpi_type<char>() { return MPI_CHAR; }

// Throws attnbench::Error(internal) with the MPI error string if rc != MPI_SUCCESS. Communicators
// made by this module use MPI_ERRORS_RETURN so that the check is meaningful.
void check_mpi(int rc, const char* what);

// MPI counts and displacements are int: a message of 2^31 elements or more, or displacements that
// add up beyond that, is an internal error naming the size (never a silent wrap-around). Pure
// functions, identical on every rank for identical inputs.
int checked_count(std::size_t n);
std::vector<int> checked_displacements(std::span<const int> counts);

// A non-blocking request; move-only, waits in its destructor if still active so a buffer can never
// be freed under an in-flight transfer.
class Request {
 public:
  Request() = default;
  explicit Request(MPI_Request r) : req_(r) {}
  Request(Request&& o) noexcept : req_(o.req_) { o.req_ = MPI_REQUEST_NULL; }
  Request& operator=(Request&& o) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();
  void wait();
  bool test();  // drives progress; true when complete
  bool active() const noexcept { return req_ != MPI_REQUEST_NULL; }

 private:
  MPI_Request req_ = MPI_REQUEST_NULL;
};

enum class Op { sum, max, min };

class Comm {
 public:
  // Borrow an existing communicator (not freed).
  static Comm borrow(MPI_Comm c);

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool is_root() const noexcept { return rank_ == 0; }
  MPI_Comm raw() const noexcept { return *handle_; }

  void barrier() const;

  // Reductions over all ranks, in place. Cost: one MPI_Allreduce of the span.
  template <class T> void allreduce(std::span<T> data, Op op) const;
  template <class T> T allreduce(T value, Op op) const {
    allreduce(std::span<T>(&value, 1), op);
    return value;
  }
  // Broadcast from root, in place.
  template <class T> void bcast(std::span<T> data, int root = 0) const;
  void bcast(std::string& s, int root = 0) const;
  // Gather one value per rank to every rank.
  template <class T> std::vector<T> allgather(T value) const;
  // Concatenate variable-size blocks from every rank (in rank order) on every rank.
  template <class T> void allgatherv(std::span<const T> local, std::span<T> out, std::span<const int> counts) const;
  std::vector<std::string> allgather_strings(const std::string& s) const;

  // Point-to-point, non-blocking.
  template <class T> Request isend(std::span<const T> data, int dest, int tag) const;
  template <class T> Request irecv(std::span<T> data, int source, int tag) const;

  // Sub-communicator of the ranks with the same color (ordered by key); owning.
  Comm split(int color, int key) const;

 private:
  explicit Comm(std::shared_ptr<MPI_Comm> h);
  std::shared_ptr<MPI_Comm> handle_;
  int rank_ = 0;
  int size_ = 1;
};

// Owns MPI_Init_thread(FUNNELED) / MPI_Finalize. OpenMP threads inside a rank never call MPI,
// except the main thread (which FUNNELED permits).
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  static std::string library_version();
  static std::string processor_name();
};

}  // namespace attnbench::dist
