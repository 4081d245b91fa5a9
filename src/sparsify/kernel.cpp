#include "sparsify/kernel.hpp"

#include <cstdint>
#include <string>

#include "sparsify/archive_contract.hpp"
#include "sparsify/case.hpp"
#include "sparsify/gen.hpp"

namespace attnbench::sparsify {

namespace {

// rec.problem (root attributes) or rec.parameters (/parameters).
void put(RunRecord& rec, bool problem, const std::string& key, AttrValue value) {
  (problem ? rec.problem : rec.parameters)[key] = std::move(value);
}

const std::vector<std::string> kSampling = {"leverage", "leverage-sketch", "uniform", "gaussian"};

std::unique_ptr<harness::Case> make_case(harness::SetupContext& ctx) {
  const auto& o = ctx.options;
  CaseConfig cfg;
  cfg.params.method = ctx.common.algorithm.empty() ? Method::leverage : method_from_string(ctx.common.algorithm);
  cfg.params.seed = ctx.common.seed;
  cfg.params.eps = o.number("--eps");
  cfg.params.delta = o.number("--delta");
  cfg.params.gamma = o.number("--gamma");
  cfg.params.m = o.has("--m") ? o.integer("--m") : 0;
  cfg.params.sketch_rows = o.has("--sketch-rows") ? o.integer("--sketch-rows") : 0;
  cfg.params.sketch_nnz = o.integer("--sketch-nnz");
  cfg.params.jl_cols = o.has("--jl-cols") ? o.integer("--jl-cols") : 0;
  cfg.params.oversample = o.has("--oversample") ? o.number("--oversample") : 0.0;
  cfg.params.bound = bound_from_string(o.string("--bound"));
  cfg.scalapack_threshold = o.integer("--scalapack-threshold");
  cfg.input = ctx.common.input;
  cfg.precision = ctx.common.precision;
  cfg.synthetic.n = o.integer("--n");
  cfg.synthetic.d = o.integer("--d");
  cfg.synthetic.r = o.number("--r");
  cfg.synthetic.density = o.number("--density");
  cfg.synthetic.coherence = o.number("--coherence");
  cfg.synthetic.seed = ctx.common.seed;

  ProblemInfo info;
  auto c = make_sparsify_case(ctx.comm, cfg, ctx.setup_seconds, ctx.io_seconds, &info);
  auto& rec = ctx.record;
  rec.kernel = "sparsify";
  rec.algorithm = to_string(cfg.params.method);
  rec.variant = info.input_format;
  rec.input = cfg.input.empty() ? "synthetic" : cfg.input;
  put(rec, true, "n", info.n);
  put(rec, true, "d", info.d);
  put(rec, true, "nnz", info.nnz);
  put(rec, true, "r", info.r);
  put(rec, true, "r_requested", info.r_requested);
  put(rec, true, "input_format", info.input_format);
  if (cfg.input.empty()) {
    put(rec, true, "density", cfg.synthetic.density);
    put(rec, true, "coherence", cfg.synthetic.coherence);
  }
  put(rec, false, "m", info.m);
  put(rec, false, "nxn_solver", info.nxn_solver);
  put(rec, false, "scalapack_threshold", cfg.scalapack_threshold);
  switch (cfg.params.method) {
    case Method::bss:
      put(rec, false, "gamma", cfg.params.gamma);
      put(rec, false, "kappa", bss_kappa(cfg.params.gamma));
      break;
    case Method::leverage_sketch:
      put(rec, false, "jl_cols", cfg.params.jl_cols > 0 ? cfg.params.jl_cols : default_jl_cols(info.n));
      if (cfg.params.bound == Bound::chernoff) {
        // The certificate's constants (sparsify/bounds.hpp, ScreenPlan).
        put(rec, false, "screen_factor", info.screen.a);
        put(rec, false, "screen_slack", info.screen.eta);
        put(rec, false, "screen_delta", info.screen.delta_screen);
        put(rec, false, "screen_tail", info.screen.q);
        put(rec, false, "chernoff_eps_low", info.screen.e_low);
        put(rec, false, "chernoff_eps_high", info.screen.e_high);
        put(rec, false, "chernoff_ratio", info.screen.t);
        put(rec, false, "bound", to_string(cfg.params.bound));
        put(rec, false, "eps", cfg.params.eps);
        put(rec, false, "delta", cfg.params.delta);
        break;
      }
      put(rec, false, "sketch_rows", cfg.params.sketch_rows > 0 ? cfg.params.sketch_rows : default_sketch_rows(info.n));
      put(rec, false, "sketch_nnz", cfg.params.sketch_nnz);
      if (info.oversample > 0.0) {
        put(rec, false, "oversample", info.oversample);
        put(rec, false, "oversample_jl", info.oversample_jl);
        put(rec, false, "oversample_embedding", info.oversample_embedding);
      }
      [[fallthrough]];
    case Method::leverage:
    case Method::uniform:
    case Method::gaussian:
      put(rec, false, "eps", cfg.params.eps);
      put(rec, false, "delta", cfg.params.delta);
      put(rec, false, "bound", to_string(cfg.params.bound));
      if (cfg.params.bound == Bound::chernoff && cfg.params.method != Method::gaussian)
        put(rec, false, "chernoff_ratio", chernoff_ratio(info.n, cfg.params.eps, cfg.params.eps, 1.0, cfg.params.delta));
      break;
  }
  return c;
}

}  // namespace

harness::KernelSpec sparsify_kernel() {
  using harness::OptionSpec;
  using harness::OptionType;
  harness::KernelSpec k;
  k.name = "sparsify";
  k.summary = "Attention sparsification of a wide X (n x d, d >> n): keep m << d reweighted columns (Deng-Mahadevan-Song)";
  k.footer =
      "Examples:\n"
      "  mpirun -n 2 attnbench sparsify --algo bss --n 64 --d 65536 --gamma 4\n"
      "  mpirun -n 4 attnbench sparsify --algo leverage-sketch --n 256 --d 262144 --density 0.01\n"
      "  mpirun -n 2 attnbench sparsify --algo leverage --input X.h5 --out run.h5\n"
      "Columns (the d axis) are split across ranks. VALID: bss within [1 - kappa, 1 + kappa], leverage\n"
      "methods within [1 - eps, 1 + eps] (a randomized miss, probability <= delta, is INVALID), and the\n"
      "attention error within (e^{2 eps' r} - 1) e^{2 r} / n for the window eps' reached (a bound >= 1, e.g. for\n"
      "large r, is reported as vacuous: the window alone decides). uniform and gaussian have no certificate:\n"
      "a finite, consistent run is UNCERTIFIED (exit 0), not VALID.";
  k.input_help =
      "/X: a dense n x d float32/float64 dataset, or an anndata sparse group (data, indices, indptr; attributes "
      "encoding-type = csc_matrix or csr_matrix and shape = [n, d]); d >= n, rank(X) = n";
  k.algorithms = {
      {to_string(Method::leverage),
       "exact leverage-score sampling: tau_j = |L^{-1} x_j|^2, m iid columns with p = tau / n"},
      {to_string(Method::leverage_sketch),
       "input-sparsity-time leverage scores: sparse embedding of X^T + JL, O(nnz log n)"},
      {to_string(Method::bss),
       "deterministic Batson-Spielman-Srivastava barrier method, ceil(gamma n) steps, MPI_MAXLOC winner"},
      {to_string(Method::uniform), "baseline: m iid uniform columns, weights sqrt(d / m)"},
      {to_string(Method::gaussian), "baseline: dense JL Y = X G / sqrt(m) (selects no column; Y always stored)"},
  };
  // Counts that must be positive: 0 is never a silent "default" (omit the option for that).
  auto at_least_1 = [](harness::OptionSpec s) {
    s.min = 1;
    return s;
  };
  auto opt = [](std::string name, OptionType t, std::string def, std::string help, std::vector<std::string> algos = {},
                bool synthetic = false) {
    OptionSpec s;
    s.name = std::move(name);
    s.type = t;
    s.default_value = std::move(def);
    s.help = std::move(help);
    s.algorithms = std::move(algos);
    s.synthetic = synthetic;
    return s;
  };
  k.options = {
      opt("--n", OptionType::integer, "64", "synthetic X: rows (tokens)", {}, true),
      opt("--d", OptionType::integer, "4096", "synthetic X: columns (feature dimension, >= n)", {}, true),
      opt("--r", OptionType::number, "0.05", "synthetic X: |X X^T|_max = r exactly, in (0, 1)", {}, true),
      opt("--density", OptionType::number, "1", "synthetic X: fraction of nonzero entries, (0, 1]; < 1 stores CSC", {}, true),
      opt("--coherence", OptionType::number, "0", "synthetic X: fraction of each row's mass in one heavy column, [0, 1)", {},
          true),
      opt("--eps", OptionType::number, "0.5", "target spectral window [1 - eps, 1 + eps], in (0, 1)", kSampling),
      opt("--delta", OptionType::number, "0.1", "failure probability of the leverage methods, in (0, 1)", kSampling),
      [&] {
        auto s = opt("--gamma", OptionType::number, "4",
                     "BSS oversampling in (1, d / n]: ceil(gamma n) <= d steps, at most one new column each", {"bss"});
        s.min = 1;
        s.min_exclusive = true;
        return s;
      }(),
      at_least_1(opt("--m", OptionType::integer, "",
                     "samples (JL width for gaussian), >= 1; when omitted: from --bound (chernoff: ceil(n t); classic: ceil(3 n ln(2 n / delta) / eps^2)) "
                     "(leverage-sketch: see --oversample); never scaled when given. At most 2^60 - 8 (the draws are "
                     "m + 8 doubles on every rank; gaussian: n m doubles of Y), and the buffers must fit the node",
                     kSampling)),
      at_least_1(opt("--sketch-rows", OptionType::integer, "",
                     "rows s of the sparse embedding, in [n, 2^32] (the row hash uses 32 random bits; s n doubles); "
                     "default 12 n",
                     {"leverage-sketch"})),
      at_least_1(opt("--sketch-nnz", OptionType::integer, "1",
                     "nonzeros per column of the sparse embedding, in [1, s] (1 = CountSketch)", {"leverage-sketch"})),
      at_least_1(opt("--jl-cols", OptionType::integer, "",
                     "Gaussian JL columns k >= 1 (n k doubles); default max(16, 4 ceil(log2(n + 1)))",
                     {"leverage-sketch"})),
      [&] {
        auto s = opt("--bound", OptionType::string, "chernoff",
                     "the bound behind the default m: chernoff = the matrix Chernoff inequality with its exact "
                     "exponents, m = ceil(n t), n (e^{-h_low(eps) t} + e^{-h_high(eps) t}) <= delta (Tropp 2015, Thm "
                     "5.1.1); leverage-sketch then screens with JL scores and keeps columns with the exact-score "
                     "probabilities; classic = ceil(3 n ln(2 n / delta) / eps^2) and the CountSketch pipeline",
                     kSampling);
        s.choices = enum_choices(kBoundNames);
        return s;
      }(),
      opt("--oversample", OptionType::number, "",
          "factor beta (>= 1) of the default m for approximate scores: m = ceil(beta 3 n ln(4 n / delta) / eps^2); "
          "default: the JL lower-tail factor times the sketch's embedding factor (archived as oversample)",
          {"leverage-sketch"}),
  };
  {
    OptionSpec s = opt("--scalapack-threshold", OptionType::integer, "2048",
                       "n x n factorizations (Cholesky, eigendecompositions) on the ScaLAPACK process grid when "
                       "n >= this; 0: always replicated LAPACK");
    s.min = 0;
    k.options.push_back(s);
  }
  k.size_key = std::string(1, 'd');  // (not = "d": GCC 12 -Wrestrict false positive)
  k.work_exponent = 1.0;    // work and memory grow linearly in d at fixed n
  k.memory_exponent = 1.0;
  // The n x n Gram matrix X X^T of the column blocks is summed over the ranks (Allreduce, about
  // twice the data through the network); the rest moves O(n + m) words.
  k.comm_models["leverage"] = {"1", "min(1, p - 1) * 2 * n * n * w", "2 * ceil(log2(max(p, 2)))", "0",
                               "Allreduce of the n x n Gram matrix"};
  k.archive_keys = sparsify_archive_keys();
  k.make_case = make_case;
  k.gen = sparsify_gen();
  return k;
}

}  // namespace attnbench::sparsify
