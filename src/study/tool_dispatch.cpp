#include "study/tool_dispatch.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#ifndef ATTNBENCH_SOURCE_DIR
#error "ATTNBENCH_SOURCE_DIR must be defined by the build (src/study/CMakeLists.txt)"
#endif

namespace attnbench::tools {

namespace {

struct Tool {
  std::string_view name;
  std::string_view script;  // relative to the source tree
};

constexpr Tool kTools[] = {
    {"study", "src/study/study.py"},
    {"report", "src/report/report.py"},
    {"compare", "src/report/compare.py"},
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

}  // namespace

std::optional<int> run_tool_subcommand(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  const std::string_view sub = argv[1];
  const Tool* tool = nullptr;
  for (const Tool& t : kTools)
    if (t.name == sub) tool = &t;
  if (!tool) return std::nullopt;

  namespace fs = std::filesystem;
  const fs::path source_dir = env_or("ATTNBENCH_SOURCE_DIR", ATTNBENCH_SOURCE_DIR);
  const fs::path script = source_dir / tool->script;
  const std::string python = env_or("ATTNBENCH_PYTHON", "/usr/bin/python3");
  std::error_code ec;
  if (!fs::is_regular_file(script, ec)) {
    std::cerr << "attnbench: error: '" << sub << "' is implemented by " << script.string()
              << ", which does not exist (set ATTNBENCH_SOURCE_DIR to the attnbench source tree)\n";
    return 2;
  }
  // The scripts launch this very binary (mpirun ... attnbench attention ...).
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) ::setenv("ATTNBENCH_BIN", self.c_str(), 1);

  std::vector<char*> args;
  args.push_back(const_cast<char*>(python.c_str()));
  std::string script_str = script.string();
  args.push_back(script_str.data());
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(python.c_str(), args.data());
  std::cerr << "attnbench: error: cannot run " << python << " for '" << sub << "': " << std::strerror(errno)
            << " (python3 with h5py, numpy and matplotlib is needed: apt-get install python3-h5py "
               "python3-numpy python3-matplotlib; or set ATTNBENCH_PYTHON)\n";
  return 2;
}

}  // namespace attnbench::tools
