#include "sparsify/gen.hpp"

#include <iostream>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "dist/layout.hpp"
#include "io/archive.hpp"
#include "sparsify/generator.hpp"
#include "sparsify/input_writer.hpp"

namespace attnbench::sparsify {

namespace {
// X from the sparsify kernel's own generator (sparsify/generator.hpp: a pure function of (seed,
// global index), the same values for any rank count), written column-distributed: so that
// `sparsify --input FILE` reproduces `sparsify --n --d --r --density --coherence --seed` exactly
// (in double; a float32 file holds the float rounding of the same values).
template <class T>
std::int64_t generate_and_write(const dist::Comm& comm, const SyntheticSpec& spec, FileFormat format,
                                const harness::GenRequest& g) {
  const dist::BlockRowLayout cols(spec.d, comm.size());
  const auto X = generate<T>(comm, spec, cols.row_offset(comm.rank()), cols.local_rows(comm.rank()));
  // nnz for the summary line (Allreduce of one int64).
  const std::int64_t nnz = comm.allreduce<std::int64_t>(X.local_nnz(), dist::Op::sum);
  write_input(comm, g.out, X, format, g.overwrite, {{"r", spec.r}, {"density", spec.density}, {"coherence", spec.coherence}},
              spec.seed);
  return nnz;
}

int run_gen(const dist::Comm& comm, const harness::GenRequest& g) {
  const auto& o = g.options;
  SyntheticSpec spec;
  spec.n = o.integer("--n");
  spec.d = o.integer("--d");
  spec.r = o.number("--r");
  spec.density = o.number("--density");
  spec.coherence = o.number("--coherence");
  spec.seed = g.seed;
  FileFormat format = FileFormat::dense;
  // Every rank parses the same argv: the checks agree (usage errors naming the option).
  dist::agree_on_success(comm, [&] {
    check_spec(spec);
    format = !o.has("--format") ? (spec.density < 1.0 ? FileFormat::csc : FileFormat::dense)
                                : file_format_from_string(o.string("--format"));
  });
  io::check_output_path(comm, g.out, g.overwrite, "--out");
  const std::int64_t nnz = g.precision == Precision::single ? generate_and_write<float>(comm, spec, format, g)
                                                            : generate_and_write<double>(comm, spec, format, g);
  if (comm.is_root())
    std::cout << "wrote " << g.out << ": X [" << spec.n << " x " << spec.d << "] as "
              << (format == FileFormat::dense ? "dense /X" : "anndata " + to_string(format) + " group /X") << ", "
              << to_string(g.precision) << ", nnz " << nnz << ", |X X^T|_max = " << spec.r << ", density "
              << spec.density << ", coherence " << spec.coherence << ", seed " << g.seed << "\n";
  return 0;
}
}  // namespace

harness::GenSpec sparsify_gen() {
  using T = harness::OptionType;
  harness::GenSpec g;
  g.writes = "/X";
  // --r, --density and --coherence are checked by check_spec (its messages name the interval).
  g.options = {
      {"--n", T::integer, "64", {}, "Rows n of X", {}, false, 1, static_cast<double>(std::int64_t{1} << 40)},
      {"--d", T::integer, "4096", {}, "Columns d of X (d >= n)", {}, false, 1, static_cast<double>(std::int64_t{1} << 30)},
      {"--r", T::number, "0.05", {}, "|X X^T|_max = r exactly, in (0, 1)"},
      {"--density", T::number, "1", {}, "Fraction of nonzero entries, (0, 1]"},
      {"--coherence", T::number, "0", {}, "Fraction of each row's mass in one heavy column, [0, 1)"},
      {"--format", T::string, "", enum_choices(kFileFormatNames), "dense (/X) or csc/csr (anndata group /X); default dense "
                                                            "when density = 1, else csc"},
  };
  g.run = run_gen;
  return g;
}

}  // namespace attnbench::sparsify
