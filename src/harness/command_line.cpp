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
#include "core/run_record.hpp"
#include "harness/archive_contract.hpp"
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
  for (const auto& e : kExitCodes) s += "  " + std::to_string(static_cast<int>(e.code)) + "  " + e.meaning + "\n";
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
      {"--precision", T::string, "double", enum_choices(kPrecisionNames), "Floating-point precision"},
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
  j["problem_keys"] = problem_keys(k);
  j["size_key"] = k.size_key;
  j["work_exponent"] = k.work_exponent;
  j["memory_exponent"] = k.memory_exponent;
  // The archive contract, by group ("root" for "/"): the harness's frame (common) and the kernel's keys.
  nlohmann::json archive = {{"root", nlohmann::json::array()},       {"parameters", nlohmann::json::array()},
                            {"validation", nlohmann::json::array()}, {"metrics", nlohmann::json::array()},
                            {"output", nlohmann::json::array()},     {"history", nlohmann::json::array()}};
  for (const auto* keys : {&common_archive_keys(), &k.archive_keys})
    for (const auto& key : *keys) {
      const std::string group = key.group == "/" ? "root" : key.group.substr(1);
      nlohmann::json e = {{"name", key.name},       {"type", key.type},     {"help", key.help},
                          {"group", key.group},     {"role", to_string(key.role)},
                          {"algorithms", key.algorithms}, {"always", key.when.empty()},
                          {"common", keys == &common_archive_keys()}};
      if (!key.when.empty()) e["when"] = key.when;
      if (!key.default_value.empty()) e["default"] = key.default_value;
      archive[group].push_back(e);
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

// ---- gen ----------------------------------------------------------------------------------------
// The gen subcommand: the options every gen has, and the union of the kernels' GenSpec options, each
// bound once with its type's CLI11 check (the same range and type messages as a hand-written
// option); which of them apply is decided after parsing, by the chosen kernel's declaration.
struct GenBinding {
  CLI::App* app = nullptr;
  std::vector<const KernelSpec*> kernels;  // those with a gen, in registry order (the first: default)
  std::vector<OptionSpec> options;         // the union, in order of first declaration
  std::map<std::string, std::int64_t> integers;
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> texts;
  std::string precision = "double", seed = "42", out, kernel;
  bool overwrite = false;
};

// CLI11 keeps the addresses of b's members (map nodes do not move): b must outlive the parse.
void bind_gen(GenBinding& b, CLI::App& app, const std::vector<KernelSpec>& kernels) {
  std::string writes;
  std::vector<std::string> names;
  // Per option, what each kernel that declares it says: its help (prefixed by the kernel's name
  // unless every kernel declares it, and only the first's when they say the same) and its default.
  std::map<std::string, std::vector<std::pair<const KernelSpec*, const OptionSpec*>>> declared;
  for (const auto& k : kernels) {
    if (!k.gen.run) continue;
    b.kernels.push_back(&k);
    names.push_back(k.name);
    writes += (writes.empty() ? "" : " or ") + k.name + " (" + k.gen.writes + ")";
    for (const auto& o : k.gen.options) {
      auto& by = declared[o.name];
      if (by.empty()) b.options.push_back(o);
      else if (by.front().second->type != o.type) throw internal_error("gen option " + o.name + " declared with two types");
      by.emplace_back(&k, &o);
    }
  }
  for (auto& o : b.options) {
    const auto& by = declared[o.name];
    const bool everyone = by.size() == b.kernels.size();
    o.help.clear();
    for (const auto& [k, spec] : by) {
      std::string text = spec->help;
      if (!spec->default_value.empty()) text += " (default " + spec->default_value + ")";
      const OptionSpec& first = *by.front().second;
      if (spec != &first && spec->help == first.help && spec->default_value == first.default_value) continue;
      o.help += (o.help.empty() ? "" : "; ") + (everyone && k == by.front().first ? "" : k->name + ": ") + text;
    }
  }
  b.app = app.add_subcommand("gen", "Write a synthetic input file for --input, with the values of the same synthetic run: " +
                                        writes);
  for (const auto& o : b.options) {
    CLI::Option* opt = nullptr;
    if (o.type == OptionType::integer) {
      opt = b.app->add_option(o.name, b.integers[o.name], o.help);
      if (std::isfinite(o.min) || std::isfinite(o.max))
        opt->check(CLI::Range(static_cast<std::int64_t>(o.min), static_cast<std::int64_t>(o.max)));
    } else if (o.type == OptionType::number) {
      opt = b.app->add_option(o.name, b.numbers[o.name], o.help);
      if (o.min == 0.0 && o.min_exclusive && !std::isfinite(o.max)) opt->check(CLI::PositiveNumber);
      else if (std::isfinite(o.min) || std::isfinite(o.max)) opt->check(CLI::Range(o.min, o.max));
    } else {
      opt = b.app->add_option(o.name, b.texts[o.name], o.help);
      if (!o.choices.empty()) opt->check(CLI::IsMember(o.choices));
    }
  }
  b.app->add_option("--seed", b.seed, "Seed of the counter-based generator (non-negative)");
  b.app->add_option("--precision", b.precision, "double or single")
      ->check(CLI::IsMember(enum_choices(kPrecisionNames)));
  b.app->add_option("--out", b.out, "HDF5 file to create")->required();
  b.app->add_flag("--overwrite", b.overwrite, "Replace --out if it exists");
  if (!names.empty()) {
    b.kernel = names.front();
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    b.app->add_option("--kernel", b.kernel, "Whose input file to write: " + list + " (default " + names.front() + ")")
        ->check(CLI::IsMember(names));
  }
}

GenCommand finish_gen(GenBinding& b) {
  GenCommand cmd;
  GenRequest& r = cmd.request;
  r.precision = parse_precision(b.precision);
  const auto sr = std::from_chars(b.seed.data(), b.seed.data() + b.seed.size(), r.seed);
  if (sr.ec != std::errc() || sr.ptr != b.seed.data() + b.seed.size())
    throw usage("--seed must be an integer in [0, 2^64), got '" + b.seed + "'");
  r.out = b.out;
  r.overwrite = b.overwrite;
  for (const KernelSpec* k : b.kernels)
    if (k->name == b.kernel) cmd.kernel = k;
  if (cmd.kernel == nullptr) throw usage("gen: no kernel writes input files");
  // Options of another kernel's input are usage errors, not silently ignored: with the default
  // kernel the message says whose option it is, with a chosen one that it does not apply to it.
  const auto& own = cmd.kernel->gen.options;
  for (const auto& o : b.options) {
    if (b.app->count(o.name) == 0) continue;
    if (std::any_of(own.begin(), own.end(), [&](const OptionSpec& x) { return x.name == o.name; })) continue;
    if (cmd.kernel != b.kernels.front()) throw usage(o.name + " does not apply to gen --kernel " + cmd.kernel->name);
    std::string whose;
    for (const KernelSpec* k : b.kernels)
      for (const auto& x : k->gen.options)
        if (x.name == o.name) whose += (whose.empty() ? "" : "|") + k->name;
    throw usage(o.name + " applies to gen --kernel " + whose + " only");
  }
  for (const auto& o : own) {
    const bool given = b.app->count(o.name) > 0;
    std::string text = o.default_value;
    if (given && o.type == OptionType::integer) text = std::to_string(b.integers[o.name]);
    if (given && o.type == OptionType::number) text = fmt_g17(b.numbers[o.name]);
    if (given && o.type == OptionType::string) text = b.texts[o.name];
    r.options.set(o.name, o, text, given);
  }
  return cmd;
}

}  // namespace

std::string exit_codes_lines() {
  std::string s;
  for (const auto& e : kExitCodes) s += std::string(e.name) + " " + std::to_string(static_cast<int>(e.code)) + "\n";
  return s;
}

std::string describe_json(const KernelSpec& kernel) { return kernel_json(kernel).dump(2); }

std::string describe_json(const std::vector<KernelSpec>& kernels, const std::vector<StudyPlotDoc>& study_plots) {
  nlohmann::json j;
  j["suite"] = "attnbench";
  j["version"] = kVersion;
  j["schema_version"] = io::kSchemaVersion;
  j["exit_codes"] = nlohmann::json::array();
  for (const auto& e : kExitCodes)
    j["exit_codes"].push_back({{"code", static_cast<int>(e.code)}, {"name", e.name}, {"meaning", e.meaning}});
  j["run_states"] = nlohmann::json::array();
  for (const auto& s : kRunStates) {
    const auto code = std::find_if(kExitCodes.begin(), kExitCodes.end(), [&](const auto& e) { return e.code == s.code; });
    j["run_states"].push_back({{"name", s.name},
                               {"valid", s.valid},
                               {"certified", s.certified ? nlohmann::json(*s.certified) : nlohmann::json()},
                               {"exit_code", code->name},
                               {"meaning", s.meaning}});
  }
  j["study_plots"] = nlohmann::json::array();
  for (const auto& p : study_plots)
    j["study_plots"].push_back({{"name", p.name}, {"help", p.help}, {"keeps_scaling_plots", p.keeps_scaling_plots}});
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
  app.add_flag("--describe", describe_all,
               "Print every kernel's options and archive keys, the exit codes, run states and study plots as JSON");
  bool list_exit_codes = false;
  app.add_flag("--exit-codes", list_exit_codes, "Print the exit codes as NAME CODE lines (for job scripts)");
  app.set_version_flag("--version", kVersion);
  app.footer(std::string("\nStudies and reports (no MPI; they launch mpirun or sbatch themselves):\n"
                         "  study run|submit|check FILE   run a study file (inputs/studies/) locally or on Slurm\n"
                         "  report RESULTS_DIR            consolidate a study's archives: study.h5, CSV, Markdown, PNG\n"
                         "  compare BASE NEW --tolerance 5%   point-by-point regression check\n"
                         "\nThe network between nodes (MPI, ranks on two nodes or more):\n"
                         "  net [--max-bytes B] [--json]  latency and bandwidth, e.g. mpirun -n 2 --map-by node attnbench net\n"
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

  GenBinding gen;
  bind_gen(gen, app, kernels);
  CLI::App* g = gen.app;
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
  if (g->parsed()) return finish_gen(gen);
  if (describe_all) return DescribeAll{};
  if (list_exit_codes) {
    if (print_help) std::cout << exit_codes_lines();
    return HelpShown{};
  }
  if (print_help) std::cout << app.help();
  return HelpShown{};
}

}  // namespace attnbench::harness
