#include "config/cli.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>

#include "core/error.hpp"

namespace attnbench::config {

double ScaleSpec::resolve(std::int64_t d) const {
  if (rule == "1/d") return 1.0 / static_cast<double>(d);
  if (rule == "1/sqrt(d)") return 1.0 / std::sqrt(static_cast<double>(d));
  return value;
}

namespace {

const char* kExitCodes =
    "Exit codes (identical on every rank):\n"
    "  0  success (and the run validated)\n"
    "  1  internal error (a bug, or an MPI/library failure)\n"
    "  2  usage error: bad option or value, output directory missing, output file exists\n"
    "  3  input data error: missing/unreadable/non-HDF5 file, missing dataset, bad shape or type,\n"
    "     NaN/Inf values\n"
    "  4  the run completed but failed validation (archive written with valid=0)\n"
    "  5  the results archive could not be written\n";

ScaleSpec parse_scale(const std::string& s) {
  ScaleSpec spec;
  if (s == "1/d" || s == "inv-d") {
    spec.rule = "1/d";
    return spec;
  }
  if (s == "1/sqrt(d)" || s == "1/sqrt-d" || s == "1/sqrtd" || s == "inv-sqrt-d") {
    spec.rule = "1/sqrt(d)";
    return spec;
  }
  double v = 0.0;
  std::size_t used = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || !std::isfinite(v) || v <= 0.0)
    throw usage_error("--scale: expected a positive number, '1/d' or '1/sqrt(d)', got '" + s + "'");
  spec.rule = "value";
  spec.value = v;
  return spec;
}

void add_input_options(CLI::App& app, InputSpec& in, std::string& precision) {
  app.add_option("--n", in.n, "Synthetic input: number of rows (tokens) of Q, K and V")->check(CLI::PositiveNumber);
  app.add_option("--d", in.d, "Synthetic input: feature dimension of Q and K")->check(CLI::PositiveNumber);
  app.add_option("--dv", in.dv, "Synthetic input: columns of V (default: d)")->check(CLI::PositiveNumber);
  app.add_option("--bound", in.bound, "Synthetic input: entries are uniform in [-B, B]")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", in.seed, "Seed of the counter-based generator (data, validation sample)");
  app.add_option("--precision", precision, "Floating-point precision: double or single")
      ->check(CLI::IsMember({"double", "single", "fp64", "fp32", "float"}));
}

void check_input(const InputSpec& in) {
  if (!std::isfinite(in.bound) || in.bound <= 0.0) throw usage_error("--bound must be a positive finite number");
}

}  // namespace

Command parse_command_line(int argc, char** argv, bool print_help) {
  CLI::App app{"attnbench: MPI-distributed benchmarks of attention algorithms, with HDF5 input and results archives.",
               "attnbench"};
  app.require_subcommand(0, 1);
  app.footer(std::string("\nRun 'attnbench <command> --help' for a command's options.\n\n") + kExitCodes);
  app.set_version_flag("--version", "attnbench 0.1.0");

  // ---- attention -----------------------------------------------------------------------------
  AttentionOptions att;
  std::string att_precision = "double", att_scale = "1/d", variant = "ring";
  std::int64_t tile = 0;
  auto* a = app.add_subcommand("attention", "Run one attention benchmark case across the MPI ranks");
  a->footer(std::string("\nExamples:\n"
                        "  mpirun -n 2 attnbench attention --n 16384 --d 64 --out results/run.h5\n"
                        "  mpirun -n 4 attnbench attention --input inputs/qkv.h5 --precision single --variant allgather\n\n") +
            kExitCodes);
  a->add_option("--algo", att.algorithm, "Algorithm: exact")->check(CLI::IsMember({"exact"}))->capture_default_str();
  a->add_option("--variant", variant, "Exact attention variant: ring (K/V blocks rotate, O(n/p) memory) or "
                                      "allgather (K/V gathered on every rank, O(n) memory)")
      ->check(CLI::IsMember({"ring", "allgather"}))
      ->capture_default_str();
  auto* input_opt = a->add_option("--input", att.input.file,
                                  "HDF5 input with 2-D float32/float64 datasets /Q (n x d), /K (n x d), /V (n x dv); "
                                  "excludes the synthetic-input options");
  add_input_options(*a, att.input, att_precision);
  for (const char* name : {"--n", "--d", "--dv", "--bound"}) input_opt->excludes(a->get_option(name));
  a->add_option("--scale", att_scale, "Logit scale s in softmax(s Q K^T): a positive number, 1/d (default, as in "
                                      "Alman-Song) or 1/sqrt(d) (transformers)");
  a->add_option("--tile", tile, "Set both tile sizes")->check(CLI::PositiveNumber);
  a->add_option("--tile-q", att.tiles.q, "Query rows per tile (unit of thread parallelism)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  a->add_option("--tile-k", att.tiles.k, "Key rows per tile (scores scratch is tile-q x tile-k per thread)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  a->add_option("--threads", att.threads, "Threads per rank (OpenMP over query tiles; BLAS pinned to 1 thread per "
                                          "caller)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  a->add_option("--warmup", att.warmup, "Untimed warm-up runs")->check(CLI::NonNegativeNumber)->capture_default_str();
  a->add_option("--reps", att.reps, "Timed repetitions (every one is archived)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  a->add_option("--validate-rows", att.validate_rows,
                "Rows recomputed by the serial reference after the timed runs (all rows if >= n)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  a->add_option("--out", att.out, "Results archive (HDF5) to write; its directory must exist");
  a->add_flag("--overwrite", att.overwrite, "Replace --out if it exists");
  a->add_flag("--save-output", att.save_output, "Also store the n x dv output O in the archive (/output/O)");
  a->add_flag("--quiet", att.quiet, "No progress messages on stderr");

  // ---- gen -------------------------------------------------------------------------------------
  GenOptions gen;
  std::string gen_precision = "double";
  auto* g = app.add_subcommand("gen", "Write a synthetic attention input file (/Q, /K, /V) for --input");
  add_input_options(*g, gen.input, gen_precision);
  g->add_option("--out", gen.out, "HDF5 file to create")->required();
  g->add_flag("--overwrite", gen.overwrite, "Replace --out if it exists");
  g->footer(std::string("\n") + kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // help() delegates to the selected subcommand, if any.
    if (print_help) std::cout << app.help();
    return HelpShown{};
  } catch (const CLI::CallForAllHelp&) {
    if (print_help) std::cout << app.help("", CLI::AppFormatMode::All);
    return HelpShown{};
  } catch (const CLI::CallForVersion&) {
    if (print_help) std::cout << "attnbench 0.1.0\n";
    return HelpShown{};
  } catch (const CLI::ParseError& e) {
    throw usage_error(std::string(e.what()) + " (run with --help for usage)");
  }

  if (a->parsed()) {
    att.precision = parse_precision(att_precision);
    att.scale = parse_scale(att_scale);
    att.variant = attention::parse_exact_variant(variant);
    if (tile > 0) att.tiles.q = att.tiles.k = tile;
    if (att.input.dv == 0) att.input.dv = att.input.d;
    check_input(att.input);
    return att;
  }
  if (g->parsed()) {
    gen.precision = parse_precision(gen_precision);
    if (gen.input.dv == 0) gen.input.dv = gen.input.d;
    check_input(gen.input);
    return gen;
  }
  if (print_help) std::cout << app.help();
  return HelpShown{};
}

}  // namespace attnbench::config
