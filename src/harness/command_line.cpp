#include "harness/command_line.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <system_error>

#include "core/error.hpp"
#include "io/archive.hpp"

namespace attnbench::harness {

namespace {

Error usage(const std::string& what) { return usage_error(what).everywhere(); }

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Integers: the whole text, in int64 range (CLI11 2.1 silently clamps out-of-range values).
bool parse_int(const std::string& s, std::int64_t& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool parse_real(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(v);
}

std::string fmt_g17(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// "4GiB", "512MiB", "1.5G", "4096": a number and an optional binary unit (K, M, G, T; KB = KiB).
bool parse_size(const std::string& s, double& v) {
  std::size_t end = 0;
  while (end < s.size() && (std::isdigit(static_cast<unsigned char>(s[end])) || s[end] == '.' || s[end] == 'e' ||
                            s[end] == 'E' || s[end] == '+'))
    ++end;
  if (!parse_real(s.substr(0, end), v)) return false;
  std::string unit;
  for (char ch : s.substr(end))
    if (ch != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::map<std::string, double> units = {{"", 1.0},          {"b", 1.0},          {"k", 1024.0},
                                               {"kb", 1024.0},     {"kib", 1024.0},     {"m", 1048576.0},
                                               {"mb", 1048576.0},  {"mib", 1048576.0},  {"g", 1073741824.0},
                                               {"gb", 1073741824.0}, {"gib", 1073741824.0}, {"t", 1099511627776.0},
                                               {"tb", 1099511627776.0}, {"tib", 1099511627776.0}};
  const auto it = units.find(unit);
  if (it == units.end()) return false;
  v *= it->second;
  return std::isfinite(v);
}

std::string range_text(const OptionSpec& o) {
  std::string lo = std::isfinite(o.min) ? (o.min_exclusive ? "> " : ">= ") + fmt_g(o.min) : "";
  std::string hi = std::isfinite(o.max) ? "<= " + fmt_g(o.max) : "";
  return lo + (lo.empty() || hi.empty() ? "" : " and ") + hi;
}

// Checks one option's text against its type, choices and range; returns the canonical text.
std::string check_value(const OptionSpec& o, const std::string& text) {
  if (!o.choices.empty() && std::find(o.choices.begin(), o.choices.end(), text) == o.choices.end()) {
    std::string list;
    for (const auto& c : o.choices) list += (list.empty() ? "" : ", ") + c;
    throw usage(o.name + ": '" + text + "' is not one of " + list);
  }
  double v = 0.0;
  switch (o.type) {
    case OptionType::integer: {
      std::int64_t i = 0;
      if (!parse_int(text, i)) throw usage(o.name + ": expected an integer in range, got '" + text + "'");
      v = static_cast<double>(i);
      break;
    }
    case OptionType::number:
      if (!parse_real(text, v)) throw usage(o.name + ": expected a finite number, got '" + text + "'");
      break;
    case OptionType::size:
      if (!parse_size(text, v) || v < 0 || v > 9.2e18)
        throw usage(o.name + ": expected a size in bytes (e.g. 512MiB, 4GiB), got '" + text + "'");
      break;
    default:
      return text;
  }
  if (o.type == OptionType::size) {
    const bool low_s = o.min_exclusive ? v <= o.min : v < o.min;
    if (low_s || v > o.max) throw usage(o.name + " must be " + range_text(o) + ", got " + text);
    return fmt_g17(v);
  }
  const bool low = o.min_exclusive ? v <= o.min : v < o.min;
  if (low || v > o.max) throw usage(o.name + " must be " + range_text(o) + ", got " + text);
  return text;
}

// The one check of empty option values, for every option of every subcommand (each kernel's own
// and common options, and gen's): `--n ""` or `--algo ""` is a usage error naming the option,
// before any conversion, range check or default applies. Without it CLI11 hands "" on to the
// kernel options as if nothing was given (an internal error later, or a run with algorithm '')
// and to gen's typed options as a range message that does not say the value was empty.
void reject_empty_values(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options())
    for (const std::string& r : opt->results())
      if (r.empty())
        throw usage(opt->get_name() + ": empty value, expected " + opt->get_type_name() + " (run with --help for usage)");
  for (const CLI::App* sub : app.get_subcommands()) reject_empty_values(*sub);  // the parsed ones
}

const char* type_hint(OptionType t) {
  switch (t) {
    case OptionType::integer: return "INT";
    case OptionType::number: return "NUM";
    case OptionType::size: return "SIZE";
    case OptionType::flag: return "";
    default: return "TEXT";
  }
}

std::string exit_codes_text() {
  std::string s = "Exit codes (identical on every rank):\n";
  for (const auto& e : exit_code_docs()) s += "  " + std::to_string(e.code) + "  " + e.meaning + "\n";
  return s;
}

// The common options, declared like a kernel's so --describe documents them the same way.
std::vector<OptionSpec> common_option_specs(const KernelSpec& k) {
  std::vector<std::string> algos;
  std::string algo_help = "Algorithm:";
  for (const auto& a : k.algorithms) {
    algos.push_back(a.name);
    algo_help += " " + a.name + " (" + a.help + ");";
  }
  algo_help.pop_back();
  using T = OptionType;
  return {
      {"--algo", T::string, k.algorithms.front().name, algos, algo_help},
      {"--precision", T::string, "double", {"double", "single", "fp64", "fp32", "float"}, "Floating-point precision"},
      {"--input", T::string, "", {}, "HDF5 input file (" + k.input_help + "); excludes the synthetic-input options"},
      {"--seed", T::string, "42", {}, "Seed (non-negative integer < 2^64) of the counter-based generator: data, "
                                      "samples, validation sample"},
      {"--threads", T::integer, "1", {}, "Threads per rank (OpenMP; every BLAS call single-threaded)", {}, false, 1, 1024},
      {"--warmup", T::integer, "1", {}, "Untimed warm-up runs", {}, false, 0, 1e6},
      {"--reps", T::integer, "3", {}, "Timed repetitions (every one is archived)", {}, false, 1, 1e6},
      {"--out", T::string, "", {}, "Results archive (HDF5) to write; its directory must exist"},
      {"--overwrite", T::flag, "", {}, "Replace --out if it exists (a regular file only)"},
      {"--save-output", T::flag, "", {}, "Also store the kernel's large outputs in the archive (/output)"},
      {"--quiet", T::flag, "", {}, "No progress messages on stderr"},
  };
}

nlohmann::json option_json(const OptionSpec& o, bool common) {
  nlohmann::json j;
  j["name"] = o.name;
  j["type"] = to_string(o.type);
  j["default"] = o.default_value.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.default_value);
  j["choices"] = o.choices;
  j["help"] = o.help;
  j["algorithms"] = o.algorithms;
  j["synthetic"] = o.synthetic;
  j["common"] = common;
  if (std::isfinite(o.min)) j["min"] = o.min;
  if (std::isfinite(o.max)) j["max"] = o.max;
  if (o.min_exclusive) j["min_exclusive"] = true;
  return j;
}

nlohmann::json kernel_json(const KernelSpec& k) {
  nlohmann::json j;
  j["kernel"] = k.name;
  j["summary"] = k.summary;
  j["input"] = k.input_help;
  j["algorithms"] = nlohmann::json::array();
  for (const auto& a : k.algorithms) j["algorithms"].push_back({{"name", a.name}, {"help", a.help}});
  j["options"] = nlohmann::json::array();
  for (const auto& o : common_option_specs(k)) j["options"].push_back(option_json(o, true));
  for (const auto& o : k.options) j["options"].push_back(option_json(o, false));
  j["problem_keys"] = k.problem_keys;
  j["size_key"] = k.size_key;
  j["work_exponent"] = k.work_exponent;
  j["memory_exponent"] = k.memory_exponent;
  nlohmann::json archive = {{"root", nlohmann::json::array()},       {"parameters", nlohmann::json::array()},
                            {"validation", nlohmann::json::array()}, {"metrics", nlohmann::json::array()},
                            {"output", nlohmann::json::array()},     {"other", nlohmann::json::array()}};
  for (const auto& key : k.archive_keys) {
    std::string group = key.group == "/" ? "root" : key.group.substr(1);
    if (!archive.contains(group)) group = "other";
    archive[group].push_back({{"name", key.name}, {"type", key.type}, {"help", key.help}, {"group", key.group}});
  }
  j["archive"] = archive;
  return j;
}

// Storage for one kernel subcommand's parsed texts (CLI11 binds to stable addresses).
struct KernelBinding {
  const KernelSpec* spec = nullptr;
  CLI::App* app = nullptr;
  std::vector<OptionSpec> common, own;
  std::map<std::string, std::string> text;
  std::map<std::string, bool> flags;
  bool describe = false;
};

void bind(KernelBinding& b, const OptionSpec& o) {
  std::string help = o.help;
  if (!o.algorithms.empty()) {
    help += " [--algo";
    for (const auto& a : o.algorithms) help += " " + a;
    help += "]";
  }
  if (!o.default_value.empty()) help += " (default " + o.default_value + ")";
  if (o.type == OptionType::flag) {
    b.flags[o.name] = false;
    b.app->add_flag(o.name, b.flags[o.name], help);
    return;
  }
  b.text[o.name] = "";
  auto* opt = b.app->add_option(o.name, b.text[o.name], help)->type_name(type_hint(o.type));
  if (!o.choices.empty()) {
    std::string list;
    for (const auto& c : o.choices) list += (list.empty() ? "" : "|") + c;
    opt->type_name(list);
  }
}

KernelCommand finish(KernelBinding& b) {
  KernelCommand cmd;
  cmd.kernel = b.spec;
  cmd.describe = b.describe;
  auto given = [&](const std::string& name) { return b.app->get_option(name)->count() > 0; };
  auto value = [&](const OptionSpec& o) {
    if (o.type == OptionType::flag) return std::string(b.flags[o.name] ? "true" : "");
    const bool g = given(o.name);
    const std::string text = g ? b.text[o.name] : o.default_value;
    return text.empty() ? text : check_value(o, text);
  };
  // Common options.
  std::map<std::string, std::string> c;
  for (const auto& o : b.common) c[o.name] = value(o);
  CommonOptions& co = cmd.common;
  co.algorithm = c["--algo"];
  co.precision = parse_precision(c["--precision"]);
  co.input = c["--input"];
  {
    const std::string& s = c["--seed"];
    const auto r = std::from_chars(s.data(), s.data() + s.size(), co.seed);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
      throw usage("--seed must be an integer in [0, 2^64), got '" + s + "'");
  }
  co.threads = static_cast<int>(std::stoll(c["--threads"]));
  co.warmup = static_cast<int>(std::stoll(c["--warmup"]));
  co.reps = static_cast<int>(std::stoll(c["--reps"]));
  co.out = c["--out"];
  co.overwrite = b.flags["--overwrite"];
  co.save_output = b.flags["--save-output"];
  co.quiet = b.flags["--quiet"];
  // The kernel's options: values, applicability to the algorithm, exclusion by --input.
  for (const auto& o : b.own) {
    const bool g = o.type == OptionType::flag ? b.flags[o.name] : given(o.name);
    if (g && !o.algorithms.empty() &&
        std::find(o.algorithms.begin(), o.algorithms.end(), co.algorithm) == o.algorithms.end()) {
      std::string list;
      for (const auto& a : o.algorithms) list += (list.empty() ? "" : "|") + a;
      throw usage(o.name + " applies to --algo " + list + ", not to --algo " + co.algorithm);
    }
    if (g && o.synthetic && !co.input.empty())
      throw usage(o.name + " describes synthetic input and cannot be combined with --input");
    cmd.options.set(o.name, o, value(o), g);
  }
  return cmd;
}

}  // namespace

const std::vector<ExitCodeDoc>& exit_code_docs() {
  static const std::vector<ExitCodeDoc> docs = {
      {0, "ok", "success (and the run validated)"},
      {1, "internal", "internal error (a bug, or an MPI/library failure)"},
      {2, "usage", "usage error: bad option or value, output directory missing, output file exists"},
      {3, "input", "input data error: missing/unreadable/non-HDF5 file, missing dataset, bad shape or type, NaN/Inf"},
      {4, "invalid", "the run completed but failed validation (archive written with valid=0)"},
      {5, "output", "the results archive could not be written (nothing left under its name)"},
      {6, "does_not_fit", "the configuration exceeds its memory budget: nothing ran, nothing written (studies "
                          "record DOES_NOT_FIT)"},
  };
  return docs;
}

std::string describe_json(const KernelSpec& kernel) { return kernel_json(kernel).dump(2); }

std::string describe_json(const std::vector<KernelSpec>& kernels) {
  nlohmann::json j;
  j["suite"] = "attnbench";
  j["version"] = kVersion;
  j["schema_version"] = io::kSchemaVersion;
  j["exit_codes"] = nlohmann::json::array();
  for (const auto& e : exit_code_docs())
    j["exit_codes"].push_back({{"code", e.code}, {"name", e.name}, {"meaning", e.meaning}});
  j["kernels"] = nlohmann::json::array();
  for (const auto& k : kernels) j["kernels"].push_back(kernel_json(k));
  return j.dump(2);
}

Command parse_command_line(const std::vector<KernelSpec>& kernels, int argc, char** argv, bool print_help) {
  CLI::App app{"attnbench: MPI-distributed benchmarks of attention algorithms from recent theory papers, with "
               "HDF5 input and self-describing HDF5 results archives.",
               "attnbench"};
  app.require_subcommand(0, 1);
  bool describe_all = false;
  app.add_flag("--describe", describe_all, "Print every kernel's options, exit codes and archive keys as JSON");
  app.set_version_flag("--version", kVersion);
  app.footer(std::string("\nStudies and reports (no MPI; they launch mpirun or sbatch themselves):\n"
                         "  study run|submit|check FILE   run a study file (inputs/studies/) locally or on Slurm\n"
                         "  report RESULTS_DIR            consolidate a study's archives: study.h5, CSV, Markdown, PNG\n"
                         "  compare BASE NEW --tolerance 5%   point-by-point regression check\n"
                         "\nRun 'attnbench <command> --help' for a command's options.\n\n") +
             exit_codes_text());

  std::vector<std::unique_ptr<KernelBinding>> bindings;
  for (const auto& k : kernels) {
    auto b = std::make_unique<KernelBinding>();
    b->spec = &k;
    b->app = app.add_subcommand(k.name, k.summary);
    b->app->footer((k.footer.empty() ? std::string() : "\n" + k.footer + "\n") + "\n" + exit_codes_text());
    b->app->add_flag("--describe", b->describe, "Print this kernel's options, exit codes and archive keys as JSON");
    b->common = common_option_specs(k);
    b->own = k.options;
    for (const auto& o : b->common) bind(*b, o);
    for (const auto& o : b->own) bind(*b, o);
    bindings.push_back(std::move(b));
  }

  GenCommand gen;
  std::string gen_precision = "double", gen_seed = "42";
  auto* g = app.add_subcommand("gen", "Write a synthetic input file for --input, with the values of the same synthetic run: "
                                "attention (/Q, /K, /V: 2-D, or 4-D with --heads/--kv-heads/--batch) or sparsify (/X)");
  g->add_option("--n", gen.n, "Rows (tokens) of Q, K and V")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  g->add_option("--d", gen.d, "Feature dimension of Q and K")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  g->add_option("--dv", gen.dv, "Columns of V (default: d)")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  g->add_option("--heads", gen.heads, "Query heads H: write 4-D (B, n, H, d) datasets (default: 2-D, one head)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
  g->add_option("--kv-heads", gen.kv_heads, "K/V heads Hkv dividing H (grouped-query attention; default: H); 4-D")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
  g->add_option("--batch", gen.batch, "Batch size B; 4-D")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
  g->add_option("--bound", gen.bound, "Entries are uniform in [-B, B]")->check(CLI::PositiveNumber);
  g->add_option("--seed", gen_seed, "Seed of the counter-based generator (non-negative)");
  g->add_option("--precision", gen_precision, "double or single")
      ->check(CLI::IsMember({"double", "single", "fp64", "fp32", "float"}));
  g->add_option("--out", gen.out, "HDF5 file to create")->required();
  g->add_flag("--overwrite", gen.overwrite, "Replace --out if it exists");
  g->add_option("--kernel", gen.kernel, "attention (/Q, /K, /V) or sparsify (X, n x d; then n defaults to 64, d to 4096)")
      ->check(CLI::IsMember({"attention", "sparsify"}));
  g->add_option("--r", gen.r, "sparsify: |X X^T|_max = r exactly, in (0, 1) (default 0.05)");
  g->add_option("--density", gen.density, "sparsify: fraction of nonzero entries, (0, 1] (default 1)");
  g->add_option("--coherence", gen.coherence, "sparsify: fraction of each row's mass in one heavy column, [0, 1) (default 0)");
  g->add_option("--format", gen.format, "sparsify: dense (/X) or csc/csr (anndata group /X); default dense when density = 1, else csc")
      ->check(CLI::IsMember({"dense", "csc", "csr"}));
  g->footer("\n" + exit_codes_text());

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (print_help) std::cout << app.help();
    return HelpShown{};
  } catch (const CLI::CallForAllHelp&) {
    if (print_help) std::cout << app.help("", CLI::AppFormatMode::All);
    return HelpShown{};
  } catch (const CLI::CallForVersion&) {
    if (print_help) std::cout << kVersion << "\n";
    return HelpShown{};
  } catch (const CLI::ParseError& e) {
    reject_empty_values(app);  // an empty value CLI11 failed to convert: say that it was empty
    throw usage(std::string(e.what()) + " (run with --help for usage)");
  }
  reject_empty_values(app);
  for (auto& b : bindings)
    if (b->app->parsed()) return finish(*b);
  if (g->parsed()) {
    gen.precision = parse_precision(gen_precision);
    const auto r = std::from_chars(gen_seed.data(), gen_seed.data() + gen_seed.size(), gen.seed);
    if (r.ec != std::errc() || r.ptr != gen_seed.data() + gen_seed.size())
      throw usage("--seed must be an integer in [0, 2^64), got '" + gen_seed + "'");
    // Options of the other kind of input are usage errors, not silently ignored.
    const bool sparsify = gen.kernel == "sparsify";
    for (const char* o : {"--dv", "--bound", "--heads", "--kv-heads", "--batch"})
      if (sparsify && g->count(o) > 0) throw usage(std::string(o) + " does not apply to gen --kernel sparsify");
    for (const char* o : {"--r", "--density", "--coherence", "--format"})
      if (!sparsify && g->count(o) > 0) throw usage(std::string(o) + " applies to gen --kernel sparsify only");
    gen.n_given = g->count("--n") > 0;
    gen.d_given = g->count("--d") > 0;
    if (gen.dv == 0) gen.dv = gen.d;
    if (gen.multi_head()) {
      if (gen.heads == 0) gen.heads = 1;
      if (gen.kv_heads == 0) gen.kv_heads = gen.heads;
      if (gen.batch == 0) gen.batch = 1;
      if (gen.heads % gen.kv_heads != 0)
        throw usage("--kv-heads " + std::to_string(gen.kv_heads) + " must divide --heads " + std::to_string(gen.heads) +
                    " (grouped-query attention: H / Hkv query heads share one K/V head)");
    }
    if (!std::isfinite(gen.bound)) throw usage("--bound must be a positive finite number");
    return gen;
  }
  if (describe_all) return DescribeAll{};
  if (print_help) std::cout << app.help();
  return HelpShown{};
}

}  // namespace attnbench::harness
