#pragma once
// The kernel interface: what a benchmark kernel (a subcommand of attnbench: attention, solve,
// sparsify, regress, ...) declares, and the Case it sets up for one run. Everything else - option
// parsing, --help and --describe, warm-up, barriers, timed repetitions, per-phase timers, the
// same-run reference rates, peak RSS, the validity verdict, the archive, the summary line, the exit
// code - is done once, for every kernel, by the harness (harness/harness.hpp).
//
// Adding a kernel: a folder src/<kernel>/ with a target attnbench_<kernel>_kernel and a function
// `harness::KernelSpec <kernel>_kernel()` in <kernel>/kernel.hpp (and, if it reads input files, its
// GenSpec for `gen`), its name in ATTNBENCH_KERNELS (src/CMakeLists.txt), its tests. See README
// "Adding a kernel".
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.hpp"
#include "core/precision.hpp"
#include "core/run_record.hpp"
#include "dist/comm.hpp"
#include "metrics/gemm_rate.hpp"

namespace attnbench::io {
class File;
}

namespace attnbench::harness {

// ---- options, declared as data ------------------------------------------------------------------
// One declaration serves the command line (CLI11), --help, --describe (JSON for the study tools)
// and the check that an option applies to the chosen algorithm.
enum class OptionType { integer, number, string, flag, size };  // size: bytes, "512MiB", "4GiB"
inline constexpr EnumNames<OptionType, 5> kOptionTypeNames{{{OptionType::integer, "integer"},
                                                            {OptionType::number, "number"},
                                                            {OptionType::string, "string"},
                                                            {OptionType::flag, "flag"},
                                                            {OptionType::size, "size"}}};
std::string to_string(OptionType t);  // --describe's "type"

struct OptionSpec {
  std::string name;                     // "--degree"
  OptionType type = OptionType::string;
  std::string default_value;            // as text; empty: no default (the option is optional)
  std::vector<std::string> choices;     // allowed values (empty: any)
  std::string help;
  std::vector<std::string> algorithms;  // algorithms it applies to (empty: all of the kernel's)
  bool synthetic = false;               // describes synthetic input: excluded by --input
  // Numeric range (integer, number, size): checked at parse time, a usage error naming the option.
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
};

// Parsed values of a kernel's own options, by name ("--degree"). Typed accessors throw an internal
// error when asked for an option of another type (a bug in the kernel, caught by its tests).
class OptionValues {
 public:
  bool given(const std::string& name) const;          // on the command line
  bool has(const std::string& name) const;            // given or defaulted
  std::int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;
  const std::string& string(const std::string& name) const;
  bool flag(const std::string& name) const;
  std::int64_t size(const std::string& name) const;   // bytes

  // Filled by the parser.
  void set(const std::string& name, const OptionSpec& spec, std::string text, bool given);

 private:
  struct Entry {
    OptionType type;
    std::string text;
    bool given;
  };
  const Entry& entry(const std::string& name, OptionType type) const;
  std::map<std::string, Entry> values_;
};

// Options every kernel has (parsed by the harness).
struct CommonOptions {
  std::string algorithm;          // --algo (one of the kernel's algorithms; default: the first)
  Precision precision = Precision::double_;
  std::string input;              // --input FILE.h5 (empty: synthetic)
  std::uint64_t seed = 42;        // --seed (data, samples, validation sample)
  int threads = 1;                // --threads per rank
  int warmup = 1;                 // --warmup
  int reps = 3;                   // --reps
  std::string out;                // --out (empty: no archive)
  bool overwrite = false;
  bool save_output = false;
  bool quiet = false;
};

// ---- gen: a synthetic input file for --input -----------------------------------------------------
// What `attnbench gen --kernel <name>` hands the kernel: the options of every gen, and the values of
// the kernel's own gen options (declared in its GenSpec, given or defaulted).
struct GenRequest {
  Precision precision = Precision::double_;  // --precision
  std::uint64_t seed = 42;                   // --seed
  std::string out;                           // --out: the file to create
  bool overwrite = false;                    // --overwrite
  OptionValues options;                      // the kernel's gen options
};

// How a kernel that reads input files writes one with the values of its own synthetic run. The
// harness builds the `gen` subcommand from every kernel's GenSpec (so it names no kernel), refuses
// an option the chosen kernel does not declare, and calls `run`.
struct GenSpec {
  std::string writes;               // what the file holds, for --help: "/X"
  std::vector<OptionSpec> options;  // integer or number (range-checked at parse time), string (choices)
  // Collective over comm: checks the request (agreed usage errors), writes `out`, returns the exit
  // code. Empty: the kernel has no gen.
  std::function<int(const dist::Comm&, const GenRequest&)> run;
};

// ---- one run of a kernel ----------------------------------------------------------------------
// Seconds this rank spent per named phase in one repetition ("compute", "comm_wait", ...). The
// harness measures "total" itself and archives every phase as /timings/<phase> [reps, ranks].
using PhaseTimes = std::map<std::string, double>;

// Work model of one repetition (per run, all ranks together).
struct WorkModel {
  double flops = 0.0;        // floating-point operations
  double bytes = 0.0;        // bytes moved to/from memory, for memory-bound kernels (0: not stated)
  std::string formula;       // e.g. "2 n n_keys (d + dv)"; archived as /metrics work_model
};

// Communication of one repetition, declared beside the work model, as formulas the report
// (src/report/model.py) evaluates at any rank count: in the run's problem attributes (attention: n,
// n_keys, d, dv, heads, kv_heads, batch; solve: n, nrhs, block; ...), p (ranks) and w (bytes per
// word of the precision), with + - * / ^, parentheses, ceil, log2, sqrt, min, max. Each rank, per
// step: sends `bytes` in `messages` messages (each pays the latency alpha) while it can compute
// `overlap_flops` (0: the step is not overlapped); archived as /metrics comm_*.
struct CommModel {
  std::string steps;              // e.g. "p - 1"
  std::string bytes;              // per rank per step, e.g. "(n / p) * batch * kv_heads * (d + dv) * w"
  std::string messages;           // per rank per step, e.g. "2"
  std::string overlap_flops = "0";  // per rank per step, computed while the step's transfer runs
  std::string pattern;            // what moves, in words: "ring: K/V blocks passed right"
};

// The verdict of a kernel's self-validation. The harness adds: a run is INVALID when any error or
// the tolerance is not finite, whatever the kernel says (a NaN must never pass).
struct Validation {
  std::string method;                        // what was compared with what
  bool valid = false;
  bool certified = false;                    // the error is bounded by a certificate/tolerance
  std::optional<double> tolerance;           // the threshold the primary error was held to
  std::string primary_error = "rel_error";   // key into errors: the one the summary and report show
  std::map<std::string, double> errors;      // /validation attributes; only measured ones (no NaN)
  std::map<std::string, std::int64_t> counts;      // e.g. rows_checked
  std::map<std::string, std::string> notes;        // e.g. error_mode
};

// What a kernel's reference rates are measured on (by the harness, all ranks at once, in the
// same run): single-core GEMM on the kernel's own shapes, the large-GEMM peak, and a memory
// bandwidth (STREAM-triad-like) rate for memory-bound kernels.
struct ReferenceShapes {
  std::vector<metrics::GemmShape> kernel_gemm;   // empty: gemm_fraction not reported
  std::optional<metrics::GemmShape> peak_gemm;   // empty: a default 2048 x 2048 x 256 GEMM
  bool memory_bound = false;                     // also measure bandwidth; report bytes/s ratio
};

class Case {
 public:
  virtual ~Case() = default;
  // One repetition of the timed work. Collective over the run's communicator. `phases` receives
  // this rank's seconds per phase (the harness times the whole call as "total").
  virtual void run(PhaseTimes& phases) = 0;
  // The work of one repetition. Asked before the first and after every repetition (an iterative
  // kernel may state the work of the repetition it just ran); the archive keeps the last answer.
  virtual WorkModel work() const = 0;
  virtual ReferenceShapes reference_shapes() const { return {}; }
  // Bytes of the kernel's own buffers on this rank (after the repetitions).
  virtual std::int64_t buffer_bytes() const { return 0; }
  // After the timed repetitions, before validation. Collective: the kernel's own /metrics
  // attributes (e.g. attention's load_balance, bytes received per rank); identical on every rank.
  virtual void add_metrics(std::map<std::string, AttrValue>& /*metrics*/) {}
  // After the timed repetitions. Collective; every rank returns the same verdict.
  virtual Validation validate() = 0;
  // Collective: datasets the kernel adds to the archive (/output/..., /history/...). `save_output`
  // is --save-output: large outputs only then; small mandatory ones (e.g. selected columns) always.
  virtual void write_datasets(io::File& /*file*/, bool /*save_output*/) const {}
  // One line for the progress log (rank 0), e.g. "poly taylor g=4 r=210 ...".
  virtual std::string describe() const { return {}; }
  // A fragment of the one-line summary beyond time and rates, e.g. "rel err 1.2e-15 (tol 1e-12)";
  // empty: the harness prints the primary error and tolerance.
  virtual std::string summary(const Validation& /*v*/) const { return {}; }
};

// Set-up context handed to a kernel's factory. The factory reads or generates its problem,
// recording the seconds in setup_seconds (generation) or io_seconds (input read), fills the run
// record's problem attributes and parameters (rec.problem, rec.parameters, rec.variant), and
// returns the Case. Errors must be agreed across ranks (dist::agree_on_success) before returning.
struct SetupContext {
  const dist::Comm& comm;
  const CommonOptions& common;
  const OptionValues& options;
  RunRecord& record;
  double& setup_seconds;
  double& io_seconds;
};

struct AlgorithmSpec {
  std::string name;
  std::string help;
};

// ---- the archive contract: one declaration of what a run archives -------------------------------
// What each key of a results archive is for. compare (src/report/compare.py) matches runs on the
// point keys, reports differing tuning keys beside the comparison, and ignores the rest.
enum class KeyRole {
  point,   // defines the benchmark point: runs that differ in it measure different things
  tuning,  // how the point was run (tile, block, grid sizes): same results up to rounding
  run,     // about this run only (seed, repetitions, provenance, problem_keys): neither
  result,  // set up, measured or computed by the run (errors, rates, derived constants, outputs)
};
std::string to_string(KeyRole r);

// One attribute or dataset of an archive. A kernel declares every key it writes (its
// archive_keys); the harness declares the frame it writes for every kernel
// (common_archive_keys()). The harness refuses (internal error, nothing archived) a run whose
// record or archive holds a key its contract does not declare for the algorithm, or of another
// type; --describe prints the contract; tests/e2e/test_archive_contract.py checks both ways.
struct ArchiveKey {
  std::string group;  // "/" (root), "/parameters", "/validation", "/metrics", "/provenance", "/output",
                      // "/history", "/planted"
  std::string name;   // a trailing '*' matches any suffix ("O_b*": O_b0, O_b1, ...)
  std::string type;   // "int64", "uint64", "float64", "string" or "dataset"; alternatives "float64|string"
  std::string help;
  KeyRole role = KeyRole::result;
  std::vector<std::string> algorithms = {};  // the algorithms that write it (empty: all)
  std::string when = {};           // empty: always written (for its algorithms); else when, in words
  // The value an archive written before this key existed implies (keys added after schema 2 first
  // shipped); empty: every schema-2 archive of the kernel has it.
  std::string default_value = {};
};

// A kernel's archive contract from its table (src/<kernel>/archive_contract.txt, built in by
// cmake/ArchiveContract.cmake; the format is in the table's header): one key a line, fields
// group; name; type; role; algorithms; when; default; help, separated by ';' and trimmed, help the
// rest of the line; '#' lines and blank lines skipped. A malformed line (too few fields, an unknown
// role or type, an empty group or name) is an internal error naming `source` and the line.
std::vector<ArchiveKey> parse_archive_contract(std::string_view table, std::string_view source);

struct KernelSpec {
  std::string name;                       // the subcommand
  std::string summary;                    // one line for `attnbench --help`
  std::string footer;                     // examples and notes for `attnbench <kernel> --help`
  std::string input_help;                 // what --input must contain
  std::vector<AlgorithmSpec> algorithms;  // the first is the default
  std::vector<OptionSpec> options;        // the kernel's own options
  std::string size_key;                   // the problem-size key scaling studies sweep ("n")
  // Work ~ size^work_exponent and memory ~ size^memory_exponent (attention: 2 and 1 in n; a dense
  // solve: 3 and 2 in N): how weak-compute and weak-memory studies grow the size with p.
  double work_exponent = 1.0;
  double memory_exponent = 1.0;
  // Everything the kernel archives beyond the harness's frame. Its root keys of role point or tuning,
  // in this order, are the problem keys (problem_keys(), the root attribute `problem_keys`: the
  // report's columns; the kernel lists the defining ones first, the summary line shows two).
  std::vector<ArchiveKey> archive_keys;
  // Communication per algorithm ("exact/ring": algorithm/variant, or "lu": the algorithm); a run
  // whose algorithm has none archives no comm_* attributes (the report then models no network).
  std::map<std::string, CommModel> comm_models;
  // Collective: set up the problem and the case for one run (see SetupContext).
  std::function<std::unique_ptr<Case>(SetupContext&)> make_case;
  GenSpec gen;                            // `attnbench gen --kernel <name>` (optional)
};

// The kernel's problem keys: its root archive keys of role point or tuning, in declared order.
std::vector<std::string> problem_keys(const KernelSpec& k);

}  // namespace attnbench::harness
