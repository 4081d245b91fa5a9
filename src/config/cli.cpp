#include "config/cli.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>
#include <iostream>
#include <limits>
#include <map>
#include <vector>

#include "core/error.hpp"

namespace attnbench::config {

double ScaleSpec::resolve(std::int64_t d) const {
  if (rule == "1/d") return 1.0 / static_cast<double>(d);
  if (rule == "1/sqrt(d)") return 1.0 / std::sqrt(static_cast<double>(d));
  return value;
}

namespace {

template <class I>
std::string fmt_int(const char* what, I value) {
  return std::string(what) + std::to_string(value);
}
std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

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

// CLI11 2.1 converts integers with strtoll/strtoull and ignores ERANGE: "--n 99999999999999999999"
// silently became LLONG_MAX and ended in an internal error (MPI_Abort). Out-of-range integers are
// usage errors naming the option.
template <class I>
CLI::Validator integer_in_range() {
  return CLI::Validator(
      [](std::string& s) {
        I v{};
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        return r.ec == std::errc::result_out_of_range ? "value " + s + " is out of range" : std::string();
      },
      "", "INTEGER_IN_RANGE");
}

void add_input_options(CLI::App& app, InputSpec& in, std::string& precision) {
  app.add_option("--n", in.n, "Synthetic input: number of rows (tokens) of Q, K and V")
      ->check(integer_in_range<std::int64_t>())
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--d", in.d, "Synthetic input: feature dimension of Q and K")
      ->check(integer_in_range<std::int64_t>())
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--dv", in.dv, "Synthetic input: columns of V (default: d)")
      ->check(integer_in_range<std::int64_t>())
      ->check(CLI::PositiveNumber);
  app.add_option("--bound", in.bound, "Synthetic input: entries are uniform in [-B, B]")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", in.seed, "Seed of the counter-based generator (data, validation sample)")
      ->check(integer_in_range<std::uint64_t>())
      ->capture_default_str();
  app.add_option("--precision", precision, "Floating-point precision: double or single")
      ->check(CLI::IsMember({"double", "single", "fp64", "fp32", "float"}))
      ->capture_default_str();
}

void check_input(const InputSpec& in) {
  if (!std::isfinite(in.bound) || in.bound <= 0.0) throw usage_error("--bound must be a positive finite number");
}

// The --algo choices: exact and poly always; the others when their sources were built
// (ATTNBENCH_HAVE_<NAME> comes from the attnbench_approx target, see src/approx/CMakeLists.txt).
std::vector<std::string> algorithm_names() {
  std::vector<std::string> names{"exact", "poly"};
#if defined(ATTNBENCH_HAVE_KDE)
  names.push_back("kde");
#endif
#if defined(ATTNBENCH_HAVE_HYPER)
  names.push_back("hyper");
#endif
#if defined(ATTNBENCH_HAVE_PERFORMER)
  names.push_back("performer");
#endif
  return names;
}

// Value checks of the approximate algorithms' options (the n-dependent ones, e.g. --bucket-size
// <= n, are checked by the driver once n is known), and options given to an algorithm they do not
// apply to: both are usage errors, raised before anything runs or is written.
void check_approx(const CLI::App& a, const std::string& algorithm, const ApproxSpec& s) {
  if (a.count("--degree") && s.degree < 0) throw usage_error(fmt_int("--degree must be >= 0, got ", s.degree));
  if (!(s.tolerance > 0.0) || !std::isfinite(s.tolerance))
    throw usage_error("--tolerance must be a positive number, got " + fmt_g(s.tolerance));
  if (s.memory_budget <= 0) throw usage_error("--memory-budget must be positive");
  if (s.lsh_planes < 1 || s.lsh_planes > 20)
    throw usage_error(fmt_int("--lsh-planes must be between 1 and 20, got ", s.lsh_planes));
  if (s.bucket_size < 1) throw usage_error(fmt_int("--bucket-size must be >= 1, got ", s.bucket_size));
  if (s.samples < 0) throw usage_error(fmt_int("--samples must be >= 0, got ", s.samples));
  if (s.features < 1) throw usage_error(fmt_int("--features must be >= 1, got ", s.features));
  const std::map<std::string, std::vector<std::string>> applies = {
      {"--degree", {"poly"}},          {"--tolerance", {"poly"}},         {"--poly-basis", {"poly"}},
      {"--memory-budget", {"poly"}},   {"--poly-chunk", {"poly"}},   {"--lsh-planes", {"kde", "hyper"}}, {"--bucket-size", {"kde", "hyper"}},
      {"--samples", {"kde", "hyper"}}, {"--features", {"performer"}},     {"--error", {"poly", "kde", "hyper", "performer"}}};
  for (const auto& [option, algos] : applies) {
    if (a.count(option) == 0) continue;
    bool ok = false;
    std::string list;
    for (const auto& name : algos) {
      ok = ok || name == algorithm;
      list += (list.empty() ? "" : "|") + name;
    }
    if (!ok) throw usage_error(option + " applies to --algo " + list + ", not to --algo " + algorithm);
  }
}

}  // namespace

Command parse_command_line(int argc, char** argv, bool print_help) {
  CLI::App app{"attnbench: MPI-distributed benchmarks of attention algorithms, with HDF5 input and results archives.",
               "attnbench"};
  app.require_subcommand(0, 1);
  app.footer(std::string("\nStudies and reports (no MPI; they launch mpirun or sbatch themselves):\n"
                         "  study run|submit|check FILE   run a study file (inputs/studies/) locally or on Slurm\n"
                         "  report RESULTS_DIR            consolidate a study's archives: study.h5, CSV, Markdown, PNG\n"
                         "  compare BASE NEW --tolerance 5%   point-by-point regression check (exit 1 on regression)\n"
                         "\nRun 'attnbench <command> --help' for a command's options.\n\n") +
             kExitCodes);
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
  const auto algos = algorithm_names();
  std::string algo_list;
  for (const auto& name : algos) algo_list += (algo_list.empty() ? "" : ", ") + name;
  a->add_option("--algo", att.algorithm,
                "Algorithm: " + algo_list + ". exact is distributed softmax attention; poly is the Alman-Song "
                "polynomial method (certified error bound); the others are sampling approximations")
      ->check(CLI::IsMember(algos))
      ->capture_default_str();
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

  // ---- approximate algorithms (--algo poly|kde|hyper|performer) ---------------------------------
  std::string error_mode = "auto", poly_basis = "taylor";
  std::uint64_t memory_budget = static_cast<std::uint64_t>(att.approx.memory_budget);
  a->add_option("--error", error_mode,
                "Approximate algorithms: errors against exact attention: full (exact O computed in the same run: "
                "max-abs, relative, relative Frobenius and spectral), sampled (--validate-rows seeded rows vs the "
                "serial reference), none; auto = full when n <= 16384, else sampled")
      ->check(CLI::IsMember({"auto", "full", "sampled", "none"}))
      ->capture_default_str();
  auto* degree_opt = a->add_option("--degree", att.approx.degree,
                                   "poly: polynomial degree g (rank C(d+g, g)); default: the smallest degree meeting "
                                   "--tolerance");
  auto* tolerance_opt =
      a->add_option("--tolerance", att.approx.tolerance,
                    "poly: target relative error eps_P of the polynomial against exp on [-R, R], R = scale * max|q_i| "
                    "* max|k_j|; the certified output bound is 2 eps_P / (1 - eps_P) * max|V|")
          ->capture_default_str();
  degree_opt->excludes(tolerance_opt);
  a->add_option("--poly-basis", poly_basis, "poly: taylor (truncated series) or chebyshev (interpolation on [-R, R])")
      ->check(CLI::IsMember({"taylor", "chebyshev"}))
      ->capture_default_str();
  a->add_option("--memory-budget", memory_budget,
                "poly: bytes per rank for the feature buffers, e.g. 512MiB or 4GiB (default 4GiB); a rank C(d+g, g) "
                "that does not fit is a usage error naming the largest degree that fits")
      ->transform(CLI::AsSizeValue(false));
  a->add_option("--poly-chunk", att.approx.poly_chunk,
                "poly: rows per feature chunk (0: about 2 MiB of features per chunk); a tuning knob")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  a->add_option("--lsh-planes", att.approx.lsh_planes, "kde, hyper: angular LSH hyperplanes (2^planes buckets)")
      ->capture_default_str();
  a->add_option("--bucket-size", att.approx.bucket_size, "kde, hyper: keys per heavy block (at most n)")
      ->capture_default_str();
  a->add_option("--samples", att.approx.samples, "kde, hyper: residual key samples")->capture_default_str();
  a->add_option("--features", att.approx.features, "performer: positive random features")->capture_default_str();

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
    if (memory_budget > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) throw usage_error("--memory-budget is too large");
    att.approx.memory_budget = static_cast<std::int64_t>(memory_budget);
    att.approx.poly_basis = approx::parse_poly_basis(poly_basis);
    if (error_mode != "auto") att.approx.error_mode = approx::parse_error_mode(error_mode);
    check_approx(*a, att.algorithm, att.approx);
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
