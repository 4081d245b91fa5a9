#pragma once
// Parsed, validated configuration of each attnbench subcommand. Pure values: the CLI (cli.hpp)
// fills them, the drivers consume them.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "approx/errors.hpp"
#include "approx/poly.hpp"
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

// Options of the approximate algorithms (--algo poly|kde|hyper|performer); ignored by exact.
struct ApproxSpec {
  std::optional<approx::ErrorMode> error_mode;  // --error; empty: approx::default_error_mode(n)
  // poly (Alman-Song): --degree g, or the smallest g meeting --tolerance.
  approx::PolyBasis poly_basis = approx::PolyBasis::taylor;
  int degree = -1;  // -1: from the tolerance
  double tolerance = 1e-6;
  std::int64_t memory_budget = approx::kDefaultMemoryBudget;  // bytes per rank
  std::int64_t poly_chunk = 0;  // rows per feature chunk; 0: about 2 MiB of features
  // kde / hyper (sorted LSH blocks + sampled residual).
  int lsh_planes = 7;
  std::int64_t bucket_size = 64;
  std::int64_t samples = 128;
  // performer (FAVOR+ positive random features).
  std::int64_t features = 256;
};

struct AttentionOptions {
  std::string algorithm = "exact";  // exact, poly, and kde/hyper/performer when built
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
  ApproxSpec approx;
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
