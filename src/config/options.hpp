#pragma once
// Parsed, validated configuration of each attnbench subcommand. Pure values: the CLI (cli.hpp)
// fills them, the drivers consume them.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "attention/exact.hpp"
#include "core/precision.hpp"

namespace attnbench::config {

// Where the attention inputs come from: a file, or synthetic data from (n, d, dv, bound, seed).
struct InputSpec {
  std::string file;  // empty: synthetic
  std::int64_t n = 4096;
  std::int64_t d = 64;
  std::int64_t dv = 0;  // 0: same as d
  double bound = 1.0;
  std::uint64_t seed = 42;
};

struct ScaleSpec {
  std::string rule = "1/d";  // "1/d", "1/sqrt(d)" or "value"
  double value = 0.0;         // used when rule == "value"
  double resolve(std::int64_t d) const;
};

struct AttentionOptions {
  std::string algorithm = "exact";
  attention::ExactVariant variant = attention::ExactVariant::ring;
  InputSpec input;
  Precision precision = Precision::double_;
  ScaleSpec scale;
  attention::TileSizes tiles;
  int threads = 1;
  int warmup = 1;
  int reps = 3;
  std::int64_t validate_rows = 64;
  std::string out;  // empty: no archive
  bool overwrite = false;
  bool save_output = false;
  bool quiet = false;
};

struct GenOptions {
  InputSpec input;
  Precision precision = Precision::double_;
  std::string out;
  bool overwrite = false;
};

struct HelpShown {};  // --help or no subcommand: exit 0 after printing

using Command = std::variant<AttentionOptions, GenOptions, HelpShown>;

}  // namespace attnbench::config
