// CLI parsing (config/cli.hpp): defaults, the scale rules, and every bad value rejected with
// attnbench::Error(usage) whose message names the option. Parsing never prints here
// (print_help = false).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <variant>
#include <vector>

#include "config/cli.hpp"
#include "core/error.hpp"

using namespace attnbench;
using namespace attnbench::config;

namespace {

Command parse(std::vector<std::string> args) {
  args.insert(args.begin(), "attnbench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_command_line(static_cast<int>(args.size()), argv.data(), false);
}

AttentionOptions parse_attention(std::vector<std::string> args) {
  args.insert(args.begin(), "attention");
  const auto cmd = parse(args);
  EXPECT_TRUE(std::holds_alternative<AttentionOptions>(cmd));
  return std::holds_alternative<AttentionOptions>(cmd) ? std::get<AttentionOptions>(cmd) : AttentionOptions{};
}

// Expects a usage error whose message contains `needle`.
void expect_usage_error(std::vector<std::string> args, const std::string& needle) {
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  try {
    parse(args);
    ADD_FAILURE() << "accepted: " << joined;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage) << joined << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << joined << ": message '" << e.what() << "' does not name '" << needle << "'";
  } catch (const std::exception& e) {
    ADD_FAILURE() << joined << ": not an attnbench::Error: " << e.what();
  }
}

}  // namespace

TEST(Cli, AttentionDefaults) {
  const auto o = parse_attention({});
  EXPECT_EQ(o.algorithm, "exact");
  EXPECT_EQ(o.variant, attention::ExactVariant::ring);
  EXPECT_EQ(o.precision, Precision::double_);
  EXPECT_EQ(o.scale.rule, "1/d");  // Alman-Song's scale is the default
  EXPECT_TRUE(o.input.file.empty());
  EXPECT_EQ(o.input.n, 4096);
  EXPECT_EQ(o.input.d, 64);
  EXPECT_EQ(o.input.dv, 64);  // dv defaults to d
  EXPECT_EQ(o.input.bound, 1.0);
  EXPECT_EQ(o.input.seed, 42u);
  EXPECT_EQ(o.threads, 1);
  EXPECT_EQ(o.warmup, 1);
  EXPECT_EQ(o.reps, 3);
  EXPECT_EQ(o.validate_rows, 64);
  EXPECT_TRUE(o.out.empty());
  EXPECT_FALSE(o.overwrite);
  EXPECT_FALSE(o.save_output);
  EXPECT_GT(o.tiles.q, 0);
  EXPECT_GT(o.tiles.k, 0);
}

TEST(Cli, AttentionOptionsAreParsed) {
  const auto o = parse_attention({"--variant", "allgather", "--n", "100", "--d", "16", "--dv", "3", "--bound", "2.5",
                                  "--seed", "7", "--precision", "single", "--tile", "32", "--threads", "2", "--warmup",
                                  "0", "--reps", "5", "--validate-rows", "9", "--out", "x.h5", "--overwrite",
                                  "--save-output", "--quiet"});
  EXPECT_EQ(o.variant, attention::ExactVariant::allgather);
  EXPECT_EQ(o.input.n, 100);
  EXPECT_EQ(o.input.d, 16);
  EXPECT_EQ(o.input.dv, 3);
  EXPECT_EQ(o.input.bound, 2.5);
  EXPECT_EQ(o.input.seed, 7u);
  EXPECT_EQ(o.precision, Precision::single);
  EXPECT_EQ(o.tiles.q, 32);  // --tile sets both
  EXPECT_EQ(o.tiles.k, 32);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.warmup, 0);
  EXPECT_EQ(o.reps, 5);
  EXPECT_EQ(o.validate_rows, 9);
  EXPECT_EQ(o.out, "x.h5");
  EXPECT_TRUE(o.overwrite);
  EXPECT_TRUE(o.save_output);
  EXPECT_TRUE(o.quiet);
  const auto t = parse_attention({"--tile-q", "8", "--tile-k", "24", "--d", "5"});
  EXPECT_EQ(t.tiles.q, 8);
  EXPECT_EQ(t.tiles.k, 24);
  EXPECT_EQ(t.input.dv, 5);  // dv follows a non-default d
  const auto f = parse_attention({"--input", "in.h5"});
  EXPECT_EQ(f.input.file, "in.h5");
}

TEST(Cli, ScaleRules) {
  const auto def = parse_attention({"--d", "64"});
  EXPECT_DOUBLE_EQ(def.scale.resolve(64), 1.0 / 64);
  const auto inv_d = parse_attention({"--scale", "1/d"});
  EXPECT_EQ(inv_d.scale.rule, "1/d");
  EXPECT_DOUBLE_EQ(inv_d.scale.resolve(50), 0.02);
  const auto inv_sqrt = parse_attention({"--scale", "1/sqrt(d)"});
  EXPECT_EQ(inv_sqrt.scale.rule, "1/sqrt(d)");
  EXPECT_DOUBLE_EQ(inv_sqrt.scale.resolve(64), 0.125);
  EXPECT_DOUBLE_EQ(inv_sqrt.scale.resolve(2), 1.0 / std::sqrt(2.0));
  for (const auto& [text, value] : std::vector<std::pair<std::string, double>>{{"0.25", 0.25}, {"2", 2.0}, {"1e-3", 1e-3}, {"3.5E2", 350.0}}) {
    const auto o = parse_attention({"--scale", text});
    EXPECT_EQ(o.scale.rule, "value") << text;
    EXPECT_DOUBLE_EQ(o.scale.resolve(64), value) << text;  // independent of d
    EXPECT_DOUBLE_EQ(o.scale.resolve(7), value) << text;
  }
  for (const std::string bad : {"0", "-1", "abc", "nan", "inf", "-inf", "1/x", "", "0.5x", "1/d2"})
    expect_usage_error({"attention", "--scale", bad}, "--scale");
}

TEST(Cli, BadValuesAreUsageErrors) {
  expect_usage_error({"attention", "--n", "0"}, "--n");
  expect_usage_error({"attention", "--n", "-5"}, "--n");
  expect_usage_error({"attention", "--n", "abc"}, "--n");
  expect_usage_error({"attention", "--n", "1.5"}, "--n");
  expect_usage_error({"attention", "--n", "99999999999999999999999"}, "--n");
  expect_usage_error({"attention", "--d", "0"}, "--d");
  expect_usage_error({"attention", "--d", "x"}, "--d");
  expect_usage_error({"attention", "--dv", "0"}, "--dv");
  expect_usage_error({"attention", "--bound", "0"}, "--bound");
  expect_usage_error({"attention", "--bound", "-1"}, "--bound");
  expect_usage_error({"attention", "--bound", "nan"}, "--bound");
  expect_usage_error({"attention", "--bound", "inf"}, "--bound");
  expect_usage_error({"attention", "--algo", "unknown"}, "--algo");
  expect_usage_error({"attention", "--variant", "tree"}, "--variant");
  expect_usage_error({"attention", "--precision", "half"}, "--precision");
  expect_usage_error({"attention", "--reps", "0"}, "--reps");
  expect_usage_error({"attention", "--warmup", "-1"}, "--warmup");
  expect_usage_error({"attention", "--threads", "0"}, "--threads");
  expect_usage_error({"attention", "--tile", "0"}, "--tile");
  expect_usage_error({"attention", "--validate-rows", "0"}, "--validate-rows");
  expect_usage_error({"attention", "--seed", "seven"}, "--seed");
  expect_usage_error({"attention", "--seed", "99999999999999999999999"}, "--seed");
  expect_usage_error({"attention", "--d", "99999999999999999999999"}, "--d");
  expect_usage_error({"attention", "--frobnicate"}, "--frobnicate");
  expect_usage_error({"attention", "--n"}, "--n");  // missing value
  expect_usage_error({"attention", "--input", "in.h5", "--n", "10"}, "--input");  // file excludes synthetic
  expect_usage_error({"nonsense"}, "nonsense");
  expect_usage_error({"gen"}, "--out");  // gen needs --out
  expect_usage_error({"gen", "--out", "x.h5", "--n", "0"}, "--n");
}

TEST(Cli, GenOptions) {
  const auto cmd = parse({"gen", "--out", "q.h5", "--n", "10", "--d", "3", "--precision", "single", "--seed", "5"});
  ASSERT_TRUE(std::holds_alternative<GenOptions>(cmd));
  const auto& g = std::get<GenOptions>(cmd);
  EXPECT_EQ(g.out, "q.h5");
  EXPECT_EQ(g.input.n, 10);
  EXPECT_EQ(g.input.d, 3);
  EXPECT_EQ(g.input.dv, 3);
  EXPECT_EQ(g.input.seed, 5u);
  EXPECT_EQ(g.precision, Precision::single);
  EXPECT_FALSE(g.overwrite);
}

TEST(Cli, HelpAndVersionDoNotRun) {
  EXPECT_TRUE(std::holds_alternative<HelpShown>(parse({})));
  EXPECT_TRUE(std::holds_alternative<HelpShown>(parse({"--help"})));
  EXPECT_TRUE(std::holds_alternative<HelpShown>(parse({"attention", "--help"})));
  EXPECT_TRUE(std::holds_alternative<HelpShown>(parse({"--version"})));
  // --help after valid options shows help instead of starting a run.
  EXPECT_FALSE(std::holds_alternative<AttentionOptions>(parse({"attention", "--n", "10", "--help"})));
}
