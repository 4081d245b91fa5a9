// The command line built from kernel specs (harness/command_line.hpp): defaults, every bad value a
// usage error naming the option (agreed: parsing is identical on every rank), options that do not
// apply to the algorithm, --input excluding synthetic options, and --describe's JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "attention/kernel.hpp"
#include "core/error.hpp"
#include "core/run_record.hpp"
#include "drivers/registry.hpp"
#include "harness/command_line.hpp"

using namespace attnbench;
using namespace attnbench::harness;

namespace {

const std::vector<KernelSpec>& registry() {
  static const std::vector<KernelSpec> k = {attention::attention_kernel()};
  return k;
}

Command parse(std::vector<std::string> args) {
  args.insert(args.begin(), "attnbench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse_command_line(registry(), static_cast<int>(args.size()), argv.data(), false);
}

KernelCommand parse_attention(std::vector<std::string> args) {
  args.insert(args.begin(), "attention");
  auto cmd = parse(args);
  EXPECT_TRUE(std::holds_alternative<KernelCommand>(cmd));
  return std::holds_alternative<KernelCommand>(cmd) ? std::get<KernelCommand>(cmd) : KernelCommand{};
}

void expect_usage_error(std::vector<std::string> args, const std::string& needle) {
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  try {
    parse(args);
    ADD_FAILURE() << "accepted: " << joined;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage) << joined << ": " << e.what();
    EXPECT_TRUE(e.agreed()) << joined;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << joined << ": message '" << e.what() << "' does not name '" << needle << "'";
  }
}

}  // namespace

TEST(Cli, AttentionDefaults) {
  const auto k = parse_attention({});
  ASSERT_NE(k.kernel, nullptr);
  EXPECT_EQ(k.kernel->name, "attention");
  EXPECT_EQ(k.common.algorithm, "exact");
  EXPECT_EQ(k.common.precision, Precision::double_);
  EXPECT_EQ(k.common.seed, 42u);
  EXPECT_EQ(k.common.reps, 3);
  EXPECT_EQ(k.options.integer("--n"), 4096);
  EXPECT_EQ(k.options.integer("--d"), 64);
  EXPECT_FALSE(k.options.has("--dv"));
  EXPECT_EQ(k.options.string("--variant"), "ring");
  EXPECT_EQ(k.options.string("--scale"), "1/d");
  EXPECT_EQ(k.options.size("--memory-budget"), std::int64_t{4} << 30);
  EXPECT_FALSE(k.options.given("--n"));
}

TEST(Cli, ValuesAndSizes) {
  const auto k = parse_attention({"--algo", "poly", "--n", "1000", "--precision", "single", "--memory-budget", "512MiB",
                                  "--seed", "18446744073709551615", "--threads", "2", "--quiet"});
  EXPECT_EQ(k.common.algorithm, "poly");
  EXPECT_EQ(k.common.precision, Precision::single);
  EXPECT_EQ(k.options.integer("--n"), 1000);
  EXPECT_TRUE(k.options.given("--n"));
  EXPECT_EQ(k.options.size("--memory-budget"), std::int64_t{512} << 20);
  EXPECT_EQ(k.common.seed, 18446744073709551615ull);
  EXPECT_EQ(k.common.threads, 2);
  EXPECT_TRUE(k.common.quiet);
}

TEST(Cli, BadValuesNameTheOption) {
  expect_usage_error({"attention", "--n", "0"}, "--n");
  expect_usage_error({"attention", "--n", "-5"}, "--n");
  expect_usage_error({"attention", "--n", "99999999999999999999"}, "--n");
  expect_usage_error({"attention", "--n", "4611686018427387904"}, "--n");
  expect_usage_error({"attention", "--n", "12abc"}, "--n");
  expect_usage_error({"attention", "--d", "2.5"}, "--d");
  expect_usage_error({"attention", "--bound", "0"}, "--bound");
  expect_usage_error({"attention", "--bound", "nan"}, "--bound");
  expect_usage_error({"attention", "--seed", "-1"}, "--seed");
  expect_usage_error({"attention", "--threads", "2147483647"}, "--threads");
  expect_usage_error({"attention", "--reps", "0"}, "--reps");
  expect_usage_error({"attention", "--variant", "tree"}, "--variant");
  expect_usage_error({"attention", "--algo", "magic"}, "--algo");
  expect_usage_error({"attention", "--precision", "half"}, "--precision");
  expect_usage_error({"attention", "--out", ""}, "--out");
  expect_usage_error({"attention", "--unknown"}, "unknown");
  expect_usage_error({"gen", "--out", "x.h5", "--seed", "-3"}, "--seed");
}

TEST(Cli, OptionsApplyToTheirAlgorithms) {
  expect_usage_error({"attention", "--degree", "3"}, "--degree applies to --algo poly");
  expect_usage_error({"attention", "--algo", "kde", "--features", "8"}, "--features applies to --algo performer");
  expect_usage_error({"attention", "--algo", "poly", "--variant", "ring"}, "--variant applies to --algo exact");
  expect_usage_error({"attention", "--algo", "exact", "--error", "full"}, "--error");
  const auto k = parse_attention({"--algo", "kde", "--samples", "0", "--bucket-size", "16"});
  EXPECT_EQ(k.options.integer("--samples"), 0);
}

TEST(Cli, InputExcludesSyntheticOptions) {
  expect_usage_error({"attention", "--input", "x.h5", "--n", "16"}, "--n describes synthetic input");
  expect_usage_error({"attention", "--input", "x.h5", "--bound", "2"}, "--bound");
  const auto k = parse_attention({"--input", "x.h5", "--scale", "0.5"});
  EXPECT_EQ(k.common.input, "x.h5");
}

// The run states the tools read: every (valid, certified) has exactly one, the one run_state names,
// with the exit code such a run ends with; the study plots handed in are printed as given.
TEST(Cli, DescribeListsRunStatesAndStudyPlots) {
  const auto all = nlohmann::json::parse(describe_json(registry(), {{"some-plot", "what it draws", true}}));
  std::map<std::string, int> codes;
  for (const auto& e : all["exit_codes"]) codes[e["name"].get<std::string>()] = e["code"].get<int>();
  for (const bool valid : {false, true})
    for (const bool certified : {false, true}) {
      int matches = 0;
      for (const auto& s : all["run_states"]) {
        if (s["valid"].get<bool>() != valid || (!s["certified"].is_null() && s["certified"].get<bool>() != certified))
          continue;
        ++matches;
        EXPECT_EQ(s["name"], run_state(valid, certified));
        ASSERT_EQ(codes.count(s["exit_code"].get<std::string>()), 1u) << s.dump();
        EXPECT_EQ(codes[s["exit_code"].get<std::string>()], static_cast<int>(run_state_info(valid, certified).code));
      }
      EXPECT_EQ(matches, 1) << "valid " << valid << ", certified " << certified;
    }
  EXPECT_EQ(codes["ok"], 0);
  ASSERT_EQ(all["study_plots"].size(), 1u);
  EXPECT_EQ(all["study_plots"][0]["name"], "some-plot");
  EXPECT_TRUE(all["study_plots"][0]["keeps_scaling_plots"].get<bool>());
}

// An option's `algorithms` name algorithms of its kernel: a misspelt name would make the option
// silently apply to nothing (every registered kernel, as the binary has them).
TEST(Cli, OptionsApplyToAlgorithmsOfTheirKernel) {
  int checked = 0;
  for (const auto& k : drivers::kernels()) {
    std::vector<std::string> names;
    for (const auto& a : k.algorithms) names.push_back(a.name);
    for (const auto& o : k.options)
      for (const auto& a : o.algorithms) {
        EXPECT_NE(std::find(names.begin(), names.end(), a), names.end()) << k.name << " " << o.name << ": " << a;
        ++checked;
      }
  }
  EXPECT_GT(checked, 10);
}

TEST(Cli, DescribeIsValidJsonWithEveryOption) {
  const auto all = nlohmann::json::parse(describe_json(registry(), {}));
  EXPECT_EQ(all["suite"], "attnbench");
  EXPECT_EQ(all["schema_version"], 2);
  ASSERT_EQ(all["kernels"].size(), 1u);
  const auto& k = all["kernels"][0];
  EXPECT_EQ(k["kernel"], "attention");
  EXPECT_EQ(k["size_key"], "n");
  bool saw_degree = false, saw_out = false;
  for (const auto& o : k["options"]) {
    if (o["name"] == "--degree") {
      saw_degree = true;
      EXPECT_EQ(o["type"], "integer");
      EXPECT_EQ(o["algorithms"], nlohmann::json::array({"poly"}));
    }
    if (o["name"] == "--out") saw_out = o["common"].get<bool>();
  }
  EXPECT_TRUE(saw_degree);
  EXPECT_TRUE(saw_out);
  bool six = false;
  for (const auto& e : all["exit_codes"]) six = six || (e["code"] == 6 && e["name"] == "does_not_fit");
  EXPECT_TRUE(six);
  EXPECT_TRUE(std::holds_alternative<DescribeAll>(parse({"--describe"})));
  EXPECT_TRUE(parse_attention({"--describe"}).describe);
}
