#include "attention/attention_problem.hpp"
#include "attention/problem.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "drivers/drivers.hpp"
#include "io/archive.hpp"
#include "io/attention_input.hpp"

#include <iostream>

namespace attnbench::drivers {

namespace {
// The values are those of the synthetic in-kernel generator, entry by entry: 2-D files those of
// synthetic_problem (every algorithm), 4-D files those of synthetic_mha_problem (exact attention
// with --heads/--kv-heads/--batch), so `attention --input FILE` computes the same problem as the
// synthetic run with the same --n, --d, --dv, --bound, --seed (and heads). Each rank generates and
// writes its own contiguous block of tokens (one collective hyperslab write per dataset).
template <class T>
void generate(const dist::Comm& comm, const harness::GenCommand& o) {
  // io/ writes a unique temporary file and publishes it without replacing (unless --overwrite),
  // all ranks agreeing on every step.
  if (o.multi_head()) {
    const attention::HeadShape shape{o.batch, o.heads, o.kv_heads, o.d, o.dv};
    const auto p = attention::synthetic_mha_problem<T>(shape, o.n, attention::LayoutKind::contiguous, o.bound, o.seed,
                                                       comm.rank(), comm.size());
    io::write_mha_input(comm, o.out, p, o.overwrite);
  } else {
    const auto p = synthetic_problem<T>(o.n, o.d, o.dv, o.bound, o.seed, comm.rank(), comm.size());
    io::write_attention_input(comm, o.out, p, o.overwrite);
  }
}
}  // namespace

int run_gen(const dist::Comm& comm, const harness::GenCommand& o) {
  io::check_output_path(comm, o.out, o.overwrite, "--out");
  if (o.precision == Precision::single) generate<float>(comm, o);
  else generate<double>(comm, o);
  if (comm.is_root()) {
    std::cout << "wrote " << o.out << ": ";
    if (o.multi_head())
      std::cout << "/Q [" << o.batch << " x " << o.n << " x " << o.heads << " x " << o.d << "], /K [" << o.batch << " x "
                << o.n << " x " << o.kv_heads << " x " << o.d << "], /V [" << o.batch << " x " << o.n << " x "
                << o.kv_heads << " x " << o.dv << "] (B, n, H, d)";
    else
      std::cout << "/Q, /K [" << o.n << " x " << o.d << "], /V [" << o.n << " x " << o.dv << "]";
    std::cout << ", " << to_string(o.precision) << ", entries uniform in [-" << o.bound << ", " << o.bound << "], seed "
              << o.seed << "\n";
  }
  return 0;
}

}  // namespace attnbench::drivers
