// Overflow-checked sizes (core/checked.hpp), Matrix size checks, node memory parsing
// (metrics/resources) and the fp32 validation tolerance (never infinite): serial, no MPI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "attention/exact/validation.hpp"
#include "core/checked.hpp"
#include "core/matrix.hpp"
#include "metrics/resources.hpp"

using namespace attnbench;

namespace {
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// The Error's code and message, or a failure if fn does not throw an attnbench::Error.
template <class F>
std::pair<ExitCode, std::string> error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "no attnbench::Error thrown";
  return {ExitCode::ok, ""};
}
}  // namespace

TEST(Checked, MulAndAddDetectOverflowAndNegatives) {
  std::int64_t r = 0;
  EXPECT_TRUE(checked_mul_ok(1LL << 31, 1LL << 31, r));
  EXPECT_EQ(r, 1LL << 62);
  EXPECT_FALSE(checked_mul_ok(1LL << 32, 1LL << 31, r));
  EXPECT_FALSE(checked_mul_ok(kMax, 2, r));
  EXPECT_FALSE(checked_mul_ok(-1, 5, r));
  EXPECT_TRUE(checked_mul_ok(0, kMax, r));
  EXPECT_EQ(r, 0);
  EXPECT_TRUE(checked_add_ok(kMax - 1, 1, r));
  EXPECT_FALSE(checked_add_ok(kMax, 1, r));
  EXPECT_EQ(checked_mul(3, 4, "x"), 12);
  const auto [code, msg] = error_of([] { (void)checked_mul(1LL << 62, 4, "--n x --d", ExitCode::input); });
  EXPECT_EQ(code, ExitCode::input);
  EXPECT_NE(msg.find("--n x --d"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4611686018427387904 x 4"), std::string::npos) << msg;
  EXPECT_EQ(error_of([] { (void)checked_add(kMax, 1, "sum"); }).first, ExitCode::usage);
  EXPECT_EQ(error_of([] { (void)checked_mul(-3, 1, "neg"); }).first, ExitCode::usage);
}

TEST(Checked, ArrayBytesSaysHowMuch) {
  EXPECT_EQ(checked_array_bytes(1024, 16, 8, "m"), 131072);
  EXPECT_EQ(checked_array_bytes(0, kMax, 8, "m"), 0);
  // 2^62 x 64 doubles: 2^71 bytes.
  const auto [code, msg] = error_of([] { (void)checked_array_bytes(1LL << 62, 64, 8, "Q rows"); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("Q rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2.361e+21 bytes"), std::string::npos) << msg;
  EXPECT_EQ(error_of([] { (void)checked_array_bytes(-1, 4, 8, "m"); }).first, ExitCode::usage);
  EXPECT_EQ(format_bytes(1536.0L), "1.5 KiB (1536 bytes)");
}

TEST(MatrixSizes, OverflowIsAUsageErrorNotACrash) {
  for (const std::int64_t n : {std::int64_t{1} << 62, kMax}) {
    const auto [code, msg] = error_of([n] { Matrix<double> m(n, 64); });
    EXPECT_EQ(code, ExitCode::usage) << n;
    EXPECT_NE(msg.find("bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(n)), std::string::npos) << msg;
  }
  EXPECT_EQ(error_of([] { Matrix<float> m(16, std::int64_t{1} << 62); }).first, ExitCode::usage);
  EXPECT_EQ(error_of([] { Matrix<float> m(-2, 3); }).first, ExitCode::usage);
  Matrix<double> ok(3, 5, 1.0);
  EXPECT_EQ(ok.size(), 15);
  EXPECT_EQ(error_of([&] { ok.resize(std::int64_t{1} << 40, std::int64_t{1} << 40); }).first, ExitCode::usage);
  EXPECT_EQ(ok.rows(), 3);  // unchanged by the refused resize
  ok.resize(2, 2);
  EXPECT_EQ(ok.size(), 4);
}

TEST(MatrixSizes, AllocationFailureSaysHowMuch) {
  // 2^40 x 2^20 bytes = 1 EiB: representable, never allocatable.
  try {
    Matrix<char> m(std::int64_t{1} << 40, std::int64_t{1} << 20);
    FAIL() << "a 1 EiB matrix was allocated";
  } catch (const MatrixAllocationError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1.0 EiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1099511627776 x 1048576"), std::string::npos) << msg;
  }
}

TEST(NodeMemory, ParsesMemTotal) {
  EXPECT_EQ(metrics::parse_meminfo_total("MemFree: 5 kB\nMemTotal:       24576000 kB\nSwap: 0 kB\n"),
            24576000LL * 1024);
  EXPECT_EQ(metrics::parse_meminfo_total("MemFree: 5 kB\n"), -1);
  EXPECT_EQ(metrics::parse_meminfo_total("MemTotal: lots kB\n"), -1);
  EXPECT_EQ(metrics::parse_meminfo_total("MemTotal: 99999999999999999 kB\n"), -1);  // overflows bytes
  const auto mem = metrics::node_memory();
  EXPECT_GT(mem.bytes, 1LL << 20) << mem.source;  // this machine has more than 1 MiB
  EXPECT_FALSE(mem.source.empty());
}

// A node is identified by its processor name; two machines under one name would be summed as one
// node by check_memory_fits, so that is refused, naming the name and two ranks.
TEST(NodeMemory, TwoMachinesWithOneNameAreRefused) {
  const std::vector<std::string> hosts{"a", "a", "b", "b"};
  EXPECT_NO_THROW(metrics::check_distinct_node_names(hosts, {"m1", "m1", "m2", "m2"}));
  EXPECT_NO_THROW(metrics::check_distinct_node_names({"a", "b"}, {"m1", "m1"}));  // one machine, two names
  try {
    metrics::check_distinct_node_names(hosts, {"m1", "m1", "m2", "m3"});
    FAIL() << "two machines named b were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("same processor name 'b'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ranks 2 and 3"), std::string::npos) << e.what();
  }
  // This process's identity: the boot id and a network namespace, both non-empty on Linux.
  const std::string me = metrics::machine_identity();
  EXPECT_GT(me.find('/'), 0u) << me;
  EXPECT_LT(me.find('/'), me.size() - 1) << me;
}

TEST(FloatTolerance, NeverInfiniteOrNaN) {
  std::string rule;
  const double inf = std::numeric_limits<double>::infinity();
  for (const double naive : {inf, std::numeric_limits<double>::quiet_NaN(), -inf}) {
    const double tol = attention::float_tolerance(naive, &rule);
    EXPECT_TRUE(std::isfinite(tol)) << naive;
    EXPECT_EQ(tol, attention::kFloatFallbackRelTolerance);
    EXPECT_NE(rule.find("fallback"), std::string::npos) << rule;
  }
  EXPECT_DOUBLE_EQ(attention::float_tolerance(1e-5, &rule), 2e-5);
  EXPECT_EQ(rule, "2x naive fp32");
  EXPECT_DOUBLE_EQ(attention::float_tolerance(0.0, &rule), 4.0 * std::numeric_limits<float>::epsilon());
  EXPECT_EQ(rule, "4 fp32 ulps");
  EXPECT_NEAR(attention::kFloatFallbackRelTolerance, std::sqrt(double(std::numeric_limits<float>::epsilon())), 1e-18);
}
