#include "attention/attention_problem.hpp"
#include "attention/memory.hpp"
#include "attention/problem.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "dist/layout.hpp"
#include "drivers/drivers.hpp"
#include "io/archive.hpp"
#include "io/attention_input.hpp"
#include "sparsify/generator.hpp"
#include "sparsify/input_writer.hpp"

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
  {
    // Before generating: this rank's Q, K, V tokens against the node's memory (agreed; exit 6).
    const attention::HeadShape s{o.multi_head() ? o.batch : 1, o.multi_head() ? o.heads : 1,
                                 o.multi_head() ? o.kv_heads : 1, o.d, o.dv};
    attention::check_synthetic_fits(
        comm,
        static_cast<long double>(dist::BlockRowLayout(o.n, comm.size()).local_rows(comm.rank())) *
            attention::token_elements(s, false) * sizeof(T),
        "gen --n " + std::to_string(o.n) + " --d " + std::to_string(o.d) + " --dv " + std::to_string(o.dv) +
            " --heads " + std::to_string(s.heads) + " --kv-heads " + std::to_string(s.kv_heads) + " --batch " +
            std::to_string(s.batch) + " (" + to_string(o.precision) + ": Q, K and V)");
  }
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

// ---- sparsify inputs ------------------------------------------------------------------------------
// X from the sparsify kernel's own generator (sparsify/generator.hpp: a pure function of (seed,
// global index), the same values for any rank count), written column-distributed: so that
// `sparsify --input FILE` reproduces `sparsify --n --d --r --density --coherence --seed` exactly
// (in double; a float32 file holds the float rounding of the same values).
template <class T>
std::int64_t generate_sparsify(const dist::Comm& comm, const sparsify::SyntheticSpec& spec, sparsify::FileFormat format,
                               const harness::GenCommand& o) {
  const dist::BlockRowLayout cols(spec.d, comm.size());
  const auto X = sparsify::generate<T>(comm, spec, cols.row_offset(comm.rank()), cols.local_rows(comm.rank()));
  // nnz for the summary line (Allreduce of one int64).
  const std::int64_t nnz = comm.allreduce<std::int64_t>(X.local_nnz(), dist::Op::sum);
  sparsify::write_input(comm, o.out, X, format, o.overwrite,
                        {{"r", spec.r},
                         {"density", spec.density}, {"coherence", spec.coherence}},
                        spec.seed);
  return nnz;
}

int run_gen_sparsify(const dist::Comm& comm, const harness::GenCommand& o) {
  sparsify::SyntheticSpec spec;
  spec.n = o.n_given ? o.n : spec.n;
  spec.d = o.d_given ? o.d : spec.d;
  spec.r = o.r;
  spec.density = o.density;
  spec.coherence = o.coherence;
  spec.seed = o.seed;
  sparsify::FileFormat format = sparsify::FileFormat::dense;
  // Every rank parses the same argv: the checks agree (usage errors naming the option).
  dist::agree_on_success(comm, [&] {
    sparsify::check_spec(spec);
    format = o.format.empty() ? (spec.density < 1.0 ? sparsify::FileFormat::csc : sparsify::FileFormat::dense)
                              : sparsify::file_format_from_string(o.format);
  });
  io::check_output_path(comm, o.out, o.overwrite, "--out");
  const std::int64_t nnz = o.precision == Precision::single ? generate_sparsify<float>(comm, spec, format, o)
                                                            : generate_sparsify<double>(comm, spec, format, o);
  if (comm.is_root())
    std::cout << "wrote " << o.out << ": X [" << spec.n << " x " << spec.d << "] as "
              << (format == sparsify::FileFormat::dense ? "dense /X" : "anndata " + sparsify::to_string(format) + " group /X")
              << ", " << to_string(o.precision) << ", nnz " << nnz << ", |X X^T|_max = " << spec.r << ", density "
              << spec.density << ", coherence " << spec.coherence << ", seed " << o.seed << "\n";
  return 0;
}
}  // namespace

int run_gen(const dist::Comm& comm, const harness::GenCommand& o) {
  if (o.kernel == "sparsify") return run_gen_sparsify(comm, o);
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
