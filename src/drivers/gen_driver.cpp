#include "attention/attention_problem.hpp"
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
template <class T>
void generate(const dist::Comm& comm, const harness::GenCommand& o) {
  const auto p = synthetic_problem<T>(o.n, o.d, o.dv, o.bound, o.seed, comm.rank(), comm.size());
  // io/ writes a unique temporary file and publishes it without replacing (unless --overwrite),
  // all ranks agreeing on every step.
  io::write_attention_input(comm, o.out, p, o.overwrite);
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
  if (comm.is_root())
    std::cout << "wrote " << o.out << ": /Q, /K [" << o.n << " x " << o.d << "], /V [" << o.n
              << " x " << o.dv << "], " << to_string(o.precision) << ", entries uniform in [-" << o.bound
              << ", " << o.bound << "], seed " << o.seed << "\n";
  return 0;
}

}  // namespace attnbench::drivers
