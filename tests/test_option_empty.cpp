// An empty option value is a usage error naming the option, for every option of every registered
// kernel (its own and the common ones, as --describe lists them) and of `gen`.
// Before, `--n ""` reached the kernel as "no value" (an internal error, MPI_Abort), `--threads ""`
// std::stoll, and `solve --algo ""` ran and archived algorithm ''.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "drivers/registry.hpp"
#include "harness/command_line.hpp"

using namespace attnbench;

namespace {

// The Error of parsing `attnbench args...` (ExitCode::ok if it parsed).
Error parse_error(std::vector<std::string> args) {
  args.insert(args.begin(), "attnbench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  try {
    harness::parse_command_line(drivers::kernels(), static_cast<int>(args.size()), argv.data(), false);
  } catch (const Error& e) {
    return e;
  }
  return Error(ExitCode::ok, "");
}

// A usage error, agreed, whose message starts with `prefix` (the option's name).
void expect_refused(const std::vector<std::string>& args, const std::string& prefix) {
  std::string joined;
  for (const auto& a : args) joined += (a.empty() ? std::string("\"\"") : a) + " ";
  const Error e = parse_error(args);
  EXPECT_EQ(e.code(), ExitCode::usage) << joined << ": " << e.what();
  EXPECT_TRUE(e.code() == ExitCode::ok || e.agreed()) << joined;
  const std::string msg = e.what();
  EXPECT_EQ(msg.rfind(prefix, 0), 0u) << joined << ": '" << msg << "'";
}
void expect_empty_refused(const std::vector<std::string>& args, const std::string& option) {
  expect_refused(args, option + ": empty value");
}

}  // namespace

TEST(EmptyOptionValue, EveryKernelOptionIsAUsageError) {
  int checked = 0;
  for (const auto& k : drivers::kernels()) {
    const auto j = nlohmann::json::parse(harness::describe_json(k));
    for (const auto& o : j["options"]) {
      if (o["type"] == "flag") continue;
      const std::string name = o["name"];
      expect_empty_refused({k.name, name, ""}, name);
      // `--name=` (or `--name=""` in a shell) at the end: CLI11 takes the next argument as the
      // value, and there is none; still a usage error naming the option.
      expect_refused({k.name, name + "="}, name);
      ++checked;
    }
  }
  // attention, solve, sparsify and regress with the 9 common non-flag options each, at least.
  EXPECT_GE(checked, 4 * 9);
}

TEST(EmptyOptionValue, EveryGenOptionIsAUsageError) {
  for (const char* o : {"--n", "--d", "--dv", "--heads", "--kv-heads", "--batch", "--bound", "--seed", "--precision",
                        "--kernel", "--r", "--density", "--coherence", "--format"})
    expect_empty_refused({"gen", "--out", "x.h5", o, ""}, o);
  expect_empty_refused({"gen", "--out", ""}, "--out");
}

TEST(EmptyOptionValue, NonEmptyValuesStillParse) {
  EXPECT_EQ(parse_error({"solve", "--algo", "lu", "--n", "8"}).code(), ExitCode::ok);
  EXPECT_EQ(parse_error({"gen", "--out", "x.h5", "--n", "8"}).code(), ExitCode::ok);
}
