#include "attention/attention_problem.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "drivers/drivers.hpp"
#include "io/archive.hpp"
#include "io/attention_input.hpp"

#include <iostream>

namespace attnbench::drivers {

namespace {
template <class T>
void generate(const dist::Comm& comm, const harness::GenCommand& o) {
  const auto p = synthetic_problem<T>(o.n, o.d, o.dv, o.bound, o.seed, comm.rank(), comm.size());
  // io/ writes a unique temporary file and publishes it without replacing (unless --overwrite),
  // all ranks agreeing on every step.
  io::write_attention_input(comm, o.out, p, o.overwrite);
}
}  // namespace

int run_gen(const dist::Comm& comm, const harness::GenCommand& o) {
  io::check_output_path(comm, o.out, o.overwrite, "--out");
  if (o.precision == Precision::single) generate<float>(comm, o);
  else generate<double>(comm, o);
  if (comm.is_root())
    std::cout << "wrote " << o.out << ": /Q, /K [" << o.n << " x " << o.d << "], /V [" << o.n
              << " x " << o.dv << "], " << to_string(o.precision) << ", entries uniform in [-" << o.bound
              << ", " << o.bound << "], seed " << o.seed << "\n";
  return 0;
}

}  // namespace attnbench::drivers
