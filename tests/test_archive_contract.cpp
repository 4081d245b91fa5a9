// The archive contract's checks (harness/archive_contract.hpp): a record or archive holding a key
// its kernel does not declare for the algorithm, or of another type, is an internal error naming
// every such key; the harness's frame, wildcards and alternative types are declared; the problem
// keys are the root point and tuning keys in declared order.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "harness/archive_contract.hpp"

using namespace attnbench;
using namespace attnbench::harness;

namespace {

KernelSpec spec() {
  KernelSpec k;
  k.name = "demo";
  k.algorithms = {{"a", ""}, {"b", ""}};
  constexpr auto P = KeyRole::point, Tu = KeyRole::tuning, R = KeyRole::result;
  k.archive_keys = {{"/", "n", "int64", "size", P},
                    {"/", "tile", "int64", "tile", Tu},
                    {"/", "steps", "int64", "a result at the root", R},
                    {"/", "mode", "string", "added later", P, {}, {}, "plain"},
                    {"/parameters", "knob", "float64", "a's knob", P, {"a"}},
                    {"/validation", "err", "float64|string", "an error or a note", R},
                    {"/output", "O_b*", "dataset", "one per batch entry", R, {}, "--save-output"}};
  return k;
}

// The internal error's message, or "" when the check passes.
template <class F>
std::string refusal(F check) {
  try {
    check();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::internal) << e.what();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ArchiveContract, ProblemKeysAreTheRootPointAndTuningKeysInOrder) {
  EXPECT_EQ(problem_keys(spec()), (std::vector<std::string>{"n", "tile", "mode"}));
}

TEST(ArchiveContract, RecordOfDeclaredKeysPasses) {
  const KernelSpec k = spec();
  RunRecord rec;
  rec.algorithm = "a";
  rec.problem = {{"n", std::int64_t{4}}, {"mode", std::string("plain")}};
  rec.parameters = {{"knob", 0.5}};
  rec.validation = {{"err", 1e-3}, {"tolerance", 1e-2}, {"invalid_reason", std::string("x")}};
  rec.metrics = {{"flops", 1.0}, {"comm_steps", std::string("p - 1")}};
  EXPECT_EQ(refusal([&] { check_record(k, rec); }), "");
  rec.validation["err"] = std::string("a note");  // the declared alternative type
  EXPECT_EQ(refusal([&] { check_record(k, rec); }), "");
}

TEST(ArchiveContract, UndeclaredWrongTypeAndOtherAlgorithmsKeysAreRefused) {
  const KernelSpec k = spec();
  RunRecord rec;
  rec.algorithm = "b";
  rec.problem = {{"n", 4.0}, {"extra", std::int64_t{1}}};
  rec.parameters = {{"knob", 0.5}};  // declared for algorithm a only
  const std::string what = refusal([&] { check_record(k, rec); });
  EXPECT_NE(what.find("demo kernel"), std::string::npos) << what;
  EXPECT_NE(what.find("--algo b"), std::string::npos) << what;
  EXPECT_NE(what.find("/extra (int64): not declared"), std::string::npos) << what;
  EXPECT_NE(what.find("/n: float64, declared int64"), std::string::npos) << what;
  EXPECT_NE(what.find("/parameters/knob (float64): not declared"), std::string::npos) << what;
}

TEST(ArchiveContract, ArchiveContentsAreChecked) {
  const KernelSpec k = spec();
  io::File::Contents c;
  c.attributes["/"] = {{"schema_version", "int64"}, {"seed", "uint64"}, {"n", "int64"}, {"steps", "int64"}};
  c.attributes["/provenance"] = {{"git_sha", "string"}};
  c.datasets = {"/output/O_b0", "/output/O_b1", "/timings/total", "/timings/compute", "/metrics/peak_rss_bytes"};
  EXPECT_EQ(refusal([&] { check_archive(k, "a", c); }), "");
  c.attributes["/"]["seed"] = "int64";
  c.datasets.push_back("/output/Y");
  c.attributes["/history"] = {{"note", "string"}};
  const std::string what = refusal([&] { check_archive(k, "a", c); });
  EXPECT_NE(what.find("/seed: int64, declared uint64"), std::string::npos) << what;
  EXPECT_NE(what.find("/output/Y (dataset): not declared"), std::string::npos) << what;
  EXPECT_NE(what.find("/history/note (string): not declared"), std::string::npos) << what;
}

// The contract tables (src/<kernel>/archive_contract.txt) are parsed at start-up: every field, the
// help holding ';' and '|', comments and blank lines; a malformed line names the table and the line.
TEST(ArchiveContract, TableIsParsedAndMalformedLinesAreNamed) {
  const std::string table =
      "# group; name; type; role; algorithms; when; default; help\n"
      "\n"
      "/           ; n    ; int64          ; point  ;      ;               ;       ; rows\n"
      "/parameters ; knob ; float64|string ; tuning ; a, b ; --knob given  ; 0.5   ; |x|; a note\n"
      "  /output   ; O_b* ; dataset        ; result ;      ; --save-output ;       ;\n";
  const std::vector<ArchiveKey> keys = parse_archive_contract(table, "demo.txt");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].group, "/");
  EXPECT_EQ(keys[0].name, "n");
  EXPECT_EQ(keys[0].role, KeyRole::point);
  EXPECT_TRUE(keys[0].algorithms.empty());
  EXPECT_EQ(keys[0].help, "rows");
  EXPECT_EQ(keys[1].type, "float64|string");
  EXPECT_EQ(keys[1].role, KeyRole::tuning);
  EXPECT_EQ(keys[1].algorithms, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(keys[1].when, "--knob given");
  EXPECT_EQ(keys[1].default_value, "0.5");
  EXPECT_EQ(keys[1].help, "|x|; a note");
  EXPECT_EQ(keys[2].group, "/output");
  EXPECT_EQ(keys[2].name, "O_b*");
  EXPECT_EQ(keys[2].role, KeyRole::result);
  EXPECT_EQ(keys[2].help, "");

  const auto bad = [](const std::string& line) {
    return refusal([&] { parse_archive_contract("# header\n" + line + "\n", "demo.txt"); });
  };
  EXPECT_NE(bad("/ ; n ; int64 ; point ; ; ; rows").find("demo.txt:2: expected 8 fields"), std::string::npos);
  EXPECT_NE(bad("/ ; n ; int32 ; point ; ; ; ; rows").find("demo.txt:2: unknown type 'int32'"), std::string::npos);
  EXPECT_NE(bad("/ ; n ; int64|x ; point ; ; ; ; rows").find("unknown type 'int64|x'"), std::string::npos);
  EXPECT_NE(bad("/ ; n ; int64 ; key ; ; ; ; rows").find("demo.txt:2: unknown role 'key'"), std::string::npos);
  EXPECT_NE(bad("parameters ; n ; int64 ; point ; ; ; ; rows").find("needs a group (starting with '/')"),
            std::string::npos);
  EXPECT_NE(bad("/ ;  ; int64 ; point ; ; ; ; rows").find("and a name"), std::string::npos);
}
