#include "attention/input/gen.hpp"

#include <cmath>
#include <iostream>
#include <limits>

#include "attention/input/input.hpp"
#include "attention/memory.hpp"
#include "attention/problem.hpp"
#include "core/error.hpp"
#include "dist/layout.hpp"
#include "io/archive.hpp"

namespace attnbench::attention {

namespace {
// The file's shape: with any of --heads, --kv-heads, --batch 4-D (B, n, H, d) datasets (kv_heads
// defaults to heads, the others to 1); with none, 2-D (n, d) ones.
struct GenShape {
  std::int64_t n = 0;
  HeadShape heads;
  bool multi_head = false;
};

// The values are those of the synthetic in-kernel generator (synthetic_problem), entry by entry
// (2-D files: the single head, every algorithm; 4-D files: exact attention with
// --heads/--kv-heads/--batch), so `attention --input FILE` computes the same problem as the
// synthetic run with the same --n, --d, --dv, --bound, --seed (and heads). Each rank generates and
// writes its own contiguous block of tokens (one collective hyperslab write per dataset).
template <class T>
void generate(const dist::Comm& comm, const harness::GenRequest& g, const GenShape& s, double bound) {
  // io/ writes a unique temporary file and publishes it without replacing (unless --overwrite),
  // all ranks agreeing on every step.
  const HeadShape& h = s.heads;
  // Before generating: this rank's Q, K, V tokens against the node's memory (agreed; exit 6).
  check_synthetic_fits(comm,
                       static_cast<long double>(dist::BlockRowLayout(s.n, comm.size()).local_rows(comm.rank())) *
                           token_elements(h, false) * sizeof(T),
                       "gen --n " + std::to_string(s.n) + " --d " + std::to_string(h.d) + " --dv " +
                           std::to_string(h.dv) + " --heads " + std::to_string(h.heads) + " --kv-heads " +
                           std::to_string(h.kv_heads) + " --batch " + std::to_string(h.batch) + " (" +
                           to_string(g.precision) + ": Q, K and V)");
  // Without heads options h is the single head B = H = Hkv = 1, written as 2-D datasets.
  const auto p = synthetic_problem<T>(h, s.n, LayoutKind::contiguous, bound, g.seed, comm.rank(), comm.size());
  write_attention_input(comm, g.out, p, s.multi_head ? 4 : 2, g.overwrite);
}

int run_gen(const dist::Comm& comm, const harness::GenRequest& g) {
  const auto& o = g.options;
  GenShape s;
  s.n = o.integer("--n");
  s.multi_head = o.given("--heads") || o.given("--kv-heads") || o.given("--batch");
  s.heads.d = o.integer("--d");
  s.heads.dv = o.has("--dv") ? o.integer("--dv") : s.heads.d;
  if (s.multi_head) {
    s.heads.heads = o.has("--heads") ? o.integer("--heads") : 1;
    s.heads.kv_heads = o.has("--kv-heads") ? o.integer("--kv-heads") : s.heads.heads;
    s.heads.batch = o.has("--batch") ? o.integer("--batch") : 1;
  }
  // Checks of the command line alone: identical on every rank, so agreed.
  if (s.heads.heads % s.heads.kv_heads != 0)
    throw usage_error("--kv-heads " + std::to_string(s.heads.kv_heads) + " must divide --heads " +
                      std::to_string(s.heads.heads) + " (grouped-query attention: H / Hkv query heads share one K/V head)")
        .everywhere();
  const double bound = o.number("--bound");
  if (!std::isfinite(bound)) throw usage_error("--bound must be a positive finite number").everywhere();
  io::check_output_path(comm, g.out, g.overwrite, "--out");
  if (g.precision == Precision::single) generate<float>(comm, g, s, bound);
  else generate<double>(comm, g, s, bound);
  if (comm.is_root()) {
    const HeadShape& h = s.heads;
    std::cout << "wrote " << g.out << ": ";
    if (s.multi_head)
      std::cout << "/Q [" << h.batch << " x " << s.n << " x " << h.heads << " x " << h.d << "], /K [" << h.batch << " x "
                << s.n << " x " << h.kv_heads << " x " << h.d << "], /V [" << h.batch << " x " << s.n << " x "
                << h.kv_heads << " x " << h.dv << "] (B, n, H, d)";
    else
      std::cout << "/Q, /K [" << s.n << " x " << h.d << "], /V [" << s.n << " x " << h.dv << "]";
    std::cout << ", " << to_string(g.precision) << ", entries uniform in [-" << bound << ", " << bound << "], seed "
              << g.seed << "\n";
  }
  return 0;
}
}  // namespace

harness::GenSpec attention_gen() {
  using T = harness::OptionType;
  constexpr double kHeads = 1 << 20, kDim = static_cast<double>(std::int64_t{1} << 30);
  harness::GenSpec g;
  g.writes = "/Q, /K, /V: 2-D, or 4-D with --heads/--kv-heads/--batch";
  g.options = {
      {"--n", T::integer, "4096", {}, "Rows (tokens) of Q, K and V", {}, false, 1,
       static_cast<double>(std::int64_t{1} << 40)},
      {"--d", T::integer, "64", {}, "Feature dimension of Q and K", {}, false, 1, kDim},
      {"--dv", T::integer, "", {}, "Columns of V (default: d)", {}, false, 1, kDim},
      {"--heads", T::integer, "", {}, "Query heads H: write 4-D (B, n, H, d) datasets (default: 2-D, one head)", {},
       false, 1, kHeads},
      {"--kv-heads", T::integer, "", {}, "K/V heads Hkv dividing H (grouped-query attention; default: H); 4-D", {},
       false, 1, kHeads},
      {"--batch", T::integer, "", {}, "Batch size B; 4-D", {}, false, 1, kHeads},
      {"--bound", T::number, "1", {}, "Entries are uniform in [-B, B]", {}, false, 0, std::numeric_limits<double>::infinity(), true},
  };
  g.run = run_gen;
  return g;
}

}  // namespace attnbench::attention
