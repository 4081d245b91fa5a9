// Reliability, at 1-4 ranks: the archive lifecycle (a file published meanwhile is never
// replaced; overwrite replaces only regular files; nothing left behind on failure), output path
// checks (empty, symlink, device, directory, the input itself), exclusive creation (a planted
// symlink is never followed), the collective memory check, and validation of non-finite output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"
#include "attention_test_util.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "io/archive.hpp"
#include "attention/input/input.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"
#include "mpi_test_util.hpp"
#include "test_comm.hpp"

using namespace attnbench;
using testing_support::ScratchDir;
namespace fs = std::filesystem;

namespace {

const dist::Comm& world() { return testing_support::world(); }

// The Error thrown by fn on this rank (code ok and "" if none).
template <class F>
std::pair<ExitCode, std::string> error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ExitCode::ok, ""};
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Rank 0 writes a small text file; everyone waits for it.
void write_text_on_root(const std::string& path, const std::string& text) {
  if (world().is_root()) std::ofstream(path, std::ios::binary) << text;
  world().barrier();
}

// Names in dir (rank 0's view; agreed by broadcast).
std::vector<std::string> listing(const std::string& dir) {
  std::string all;
  if (world().is_root())
    for (const auto& e : fs::directory_iterator(dir)) all += e.path().filename().string() + "\n";
  world().bcast(all, 0);
  std::vector<std::string> names;
  std::size_t start = 0;
  for (std::size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1)
    names.push_back(all.substr(start, nl - start));
  std::sort(names.begin(), names.end());
  return names;
}

void write_small_archive(io::ArchiveWriter& w) {
  w.file().attr("/", "suite", std::string("attnbench"));
  w.file().ensure_group("/g");
  Matrix<double> rows(world().is_root() ? 3 : 0, 2, 1.5);
  w.file().write_rows("/g/x", 3, 2, 0, rows);
}

}  // namespace

// A file that appears under the final name while the run writes (another run published it) is
// never replaced without overwrite: exit-2 error on every rank, the other file intact, no temporary.
TEST(ArchivePublish, NeverReplacesAFilePublishedMeanwhile) {
  ScratchDir dir(world());
  const std::string out = dir.file("a.h5");
  const auto [code, msg] = error_of([&] {
    io::ArchiveWriter w(world(), out, io::Overwrite::no);
    write_small_archive(w);
    write_text_on_root(out, "the other run's archive");
    w.commit();
  });
  EXPECT_EQ(code, ExitCode::usage) << msg;
  EXPECT_NE(msg.find(out), std::string::npos) << msg;
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  EXPECT_EQ(read_text(out), "the other run's archive");
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"a.h5"});
}

TEST(ArchivePublish, OverwriteReplacesARegularFileAtomically) {
  ScratchDir dir(world());
  const std::string out = dir.file("a.h5");
  write_text_on_root(out, "old");
  struct stat before {};
  if (world().is_root()) ::stat(out.c_str(), &before);
  {
    io::ArchiveWriter w(world(), out, io::Overwrite::yes);
    write_small_archive(w);
    w.commit();
  }
  EXPECT_TRUE(io::is_hdf5_file(out));
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"a.h5"});
  // The legacy constructor takes overwrite from check_output_path: here not given -> no.
  const auto [code, msg] = error_of([&] {
    io::ArchiveWriter w(world(), dir.file("b.h5"));
    write_text_on_root(dir.file("b.h5"), "b");
    w.commit();
  });
  EXPECT_EQ(code, ExitCode::usage) << msg;
  EXPECT_EQ(read_text(dir.file("b.h5")), "b");
}

TEST(ArchivePublish, OverwriteRefusesADirectoryAndLeavesNothing) {
  ScratchDir dir(world());
  const std::string out = dir.file("a.h5");
  const auto [code, msg] = error_of([&] {
    io::ArchiveWriter w(world(), out, io::Overwrite::yes);
    write_small_archive(w);
    if (world().is_root()) fs::create_directory(out);
    world().barrier();
    w.commit();
  });
  EXPECT_EQ(code, ExitCode::usage) << msg;
  EXPECT_NE(msg.find("directory"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"a.h5"});
}

TEST(ArchivePublish, AbandonedWriterLeavesNothing) {
  ScratchDir dir(world());
  {
    io::ArchiveWriter w(world(), dir.file("a.h5"), io::Overwrite::no);
    write_small_archive(w);
    // The temporary: in the output's directory, unique, named after the output.
    const std::string t = w.temporary_path();
    EXPECT_EQ(t.rfind(dir.file("a.h5."), 0), 0u) << t;
    EXPECT_EQ(t.substr(t.size() - 8), ".partial") << t;
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

// Two writers of the same output at once: unique temporaries, so neither damages the other.
TEST(ArchivePublish, TwoWritersGetDistinctTemporaries) {
  ScratchDir dir(world());
  {
    io::ArchiveWriter a(world(), dir.file("a.h5"), io::Overwrite::no);
    io::ArchiveWriter b(world(), dir.file("a.h5"), io::Overwrite::no);
    EXPECT_NE(a.temporary_path(), b.temporary_path());
    write_small_archive(a);
    write_small_archive(b);
    a.commit();
    EXPECT_EQ(error_of([&] { b.commit(); }).first, ExitCode::usage);
  }  // b, which failed to publish, removes its temporary here
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"a.h5"});
  EXPECT_TRUE(io::is_hdf5_file(dir.file("a.h5")));
}

// File::create never follows or truncates what is there: a planted symlink's target survives.
TEST(ExclusiveCreate, PlantedSymlinkIsNotFollowed) {
  ScratchDir dir(world());
  const std::string target = dir.file("precious.txt"), link = dir.file("x.h5");
  write_text_on_root(target, "precious");
  if (world().is_root()) fs::create_symlink(target, link);
  world().barrier();
  const auto [code, msg] = error_of([&] { io::File f = io::File::create(world(), link); });
  EXPECT_EQ(code, ExitCode::output) << msg;
  EXPECT_NE(msg.find(link), std::string::npos) << msg;
  EXPECT_EQ(read_text(target), "precious");
  EXPECT_TRUE(fs::is_symlink(link));
}

TEST(OutputPath, RegularFilesOnlyAndNeverTheInput) {
  ScratchDir dir(world());
  const auto& c = world();
  auto usage = [&](const std::string& path, bool overwrite, const std::string& input, const std::string& needle) {
    const auto [code, msg] = error_of([&] { io::check_output_path(c, path, overwrite, "--out", input); });
    EXPECT_EQ(code, ExitCode::usage) << "'" << path << "': " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  usage("", true, "", "--out: empty path");
  usage("/dev/null", true, "", "character device");
  usage(dir.path(), true, "", "is a directory");
  usage(dir.file("missing/x.h5"), true, "", "does not exist");
  const std::string in = dir.file("in.h5"), hard = dir.file("hard.h5"), sym = dir.file("sym.h5");
  write_text_on_root(in, "input");
  if (c.is_root()) {
    fs::create_hard_link(in, hard);
    fs::create_symlink(in, sym);
  }
  c.barrier();
  usage(sym, true, "", "symbolic link");
  usage(in, true, in, "is the input file");
  usage(hard, true, in, "is the input file");  // same inode, other name
  usage(in, false, "", "already exists");
  EXPECT_EQ(error_of([&] { io::check_output_path(c, in, true, "--out", dir.file("other.h5")); }).first, ExitCode::ok);
  EXPECT_EQ(error_of([&] { io::check_output_path(c, dir.file("new.h5"), false, "--out"); }).first, ExitCode::ok);
  // A reader of an input that is a checked output refuses it, even without input_path above.
  EXPECT_EQ(io::output_path_sharing_file_with(hard), (fs::absolute(in).lexically_normal().string()));
  EXPECT_EQ(read_text(in), "input");
}

TEST(MemoryCheck, AgreedErrorSaysNeedAndHave) {
  const auto& c = world();
  EXPECT_EQ(error_of([&] { metrics::check_memory_fits(c, 1 << 20, "small"); }).first, ExitCode::ok);
  // Only the last rank asks for too much: every rank throws the same error.
  const std::int64_t huge = std::int64_t{1} << 60;
  const auto [code, msg] = error_of([&] {
    metrics::check_memory_fits(c, c.rank() == c.size() - 1 ? huge : 1024, "dataset /K", ExitCode::input);
  });
  EXPECT_EQ(code, ExitCode::input) << msg;
  EXPECT_NE(msg.find("dataset /K: needs 1.0 EiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the node has"), std::string::npos) << msg;
  const auto [bcode, bmsg] = error_of([&] { metrics::check_memory_fits(c, 4096, "buffers", ExitCode::usage, 0.9, 1024); });
  EXPECT_EQ(bcode, ExitCode::usage) << bmsg;
  EXPECT_NE(bmsg.find("memory budget"), std::string::npos) << bmsg;
}

// A non-finite output is INVALID in every precision, and the fp32 tolerance is finite even when
// the naive fp32 reference overflows (|V| ~ 3e37, n_k = 200 keys with weights >= e^-2: its float
// sums pass 3.4e38).
TEST(ValidationNonFinite, HugeValuesInSinglePrecision) {
  const auto& c = world();
  const std::int64_t n = 200, d = 4;
  auto p = single_head_problem<float>(n, d, d, 1.0, 3, c.rank(), c.size());
  for (float& v : p.V_local.span()) v = 3.0e37f + v * 1.0e36f;
  attention::MhaOptions opt;
  opt.scale = 0.25;
  const Matrix<float> O = attention::mha_attention(c, p, opt);
  const auto v = attention::validate_sampled(c, p, O, false, opt.scale, n, 11);
  EXPECT_TRUE(std::isfinite(v.tolerance)) << v.tolerance << " (" << v.tolerance_rule << ")";
  EXPECT_FALSE(std::isfinite(v.naive_rel_error));  // the naive float reference overflowed
  EXPECT_NE(v.tolerance_rule.find("fallback"), std::string::npos) << v.tolerance_rule;
  if (v.valid) {
    EXPECT_EQ(v.nonfinite_outputs, 0);
    EXPECT_LE(v.rel_error, v.tolerance);
  } else {
    EXPECT_FALSE(v.reason.empty());
  }
  bool all_finite = true;
  for (const float x : O.span()) all_finite = all_finite && std::isfinite(x);
  const bool everywhere = c.allreduce(all_finite ? 1 : 0, dist::Op::min) == 1;
  EXPECT_EQ(v.valid, everywhere && v.rel_error <= v.tolerance) << v.reason;
}

TEST(ValidationNonFinite, OneInfOutsideTheSampleIsInvalid) {
  const auto& c = world();
  const std::int64_t n = 37, d = 5;
  for (int prec = 0; prec < 2; ++prec) {
    auto check = [&](auto tag) {
      using T = decltype(tag);
      const auto p = single_head_problem<T>(n, d, d, 1.0, 4, c.rank(), c.size());
      attention::MhaOptions opt;
      opt.scale = 0.2;
      Matrix<T> O = attention::mha_attention(c, p, opt);
      // Sample 1 row (row 0 or another); poison the last global row, owned by the last rank.
      const auto sample = attention::sample_rows(n, 1, 9);
      EXPECT_EQ(sample.size(), 1u);  // deterministic: the same on every rank
      const std::int64_t poisoned = sample[0] == n - 1 ? n - 2 : n - 1;
      if (p.layout_q.owner_of(poisoned) == c.rank())
        O(p.layout_q.local_index(poisoned), 2) = std::numeric_limits<T>::infinity();
      const auto v = attention::validate_sampled(c, p, O, false, opt.scale, 1, 9);
      EXPECT_FALSE(v.valid);
      EXPECT_EQ(v.nonfinite_outputs, 1);
      EXPECT_NE(v.reason.find("not finite"), std::string::npos) << v.reason;
      EXPECT_TRUE(std::isfinite(v.tolerance));
    };
    if (prec == 0) check(float{});
    else check(double{});
  }
}
