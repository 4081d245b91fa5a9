#include "core/attention_problem.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "drivers/drivers.hpp"
#include "io/archive.hpp"
#include "io/attention_input.hpp"

#include <iostream>

namespace attnbench::drivers {

namespace {
template <class T>
void generate(const dist::Comm& comm, const config::GenOptions& o) {
  const auto& in = o.input;
  const auto p = synthetic_problem<T>(in.n, in.d, in.dv, in.bound, in.seed, comm.rank(), comm.size());
  // io/ writes a unique temporary file and publishes it without replacing (unless --overwrite),
  // all ranks agreeing on every step.
  io::write_attention_input(comm, o.out, p, o.overwrite);
}
}  // namespace

int run_gen(const dist::Comm& comm, const config::GenOptions& o) {
  io::check_output_path(comm, o.out, o.overwrite, "--out");
  if (o.precision == Precision::single) generate<float>(comm, o);
  else generate<double>(comm, o);
  if (comm.is_root())
    std::cout << "wrote " << o.out << ": /Q, /K [" << o.input.n << " x " << o.input.d << "], /V [" << o.input.n
              << " x " << o.input.dv << "], " << to_string(o.precision) << ", entries uniform in [-" << o.input.bound
              << ", " << o.input.bound << "], seed " << o.input.seed << "\n";
  return 0;
}

}  // namespace attnbench::drivers
