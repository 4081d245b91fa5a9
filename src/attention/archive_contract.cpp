#include "attention/archive_contract.hpp"

namespace attnbench::attention {

std::vector<harness::ArchiveKey> attention_archive_keys() {
  constexpr auto P = harness::KeyRole::point, Tu = harness::KeyRole::tuning, R = harness::KeyRole::result;
  const std::vector<std::string> approx = {"poly", "kde", "hyper", "performer"}, lsh = {"kde", "hyper"};
  const std::string errors = "--error is not none", full = "--error full (auto: n <= 16384)";
  const std::string save = "--save-output";
  // Root order = problem_keys order (n and d first: the summary line shows them). causal, heads,
  // kv_heads, batch and layout came in after schema 2 first shipped (2b6e9d6): an archive without
  // them is a single-head, unmasked, contiguous run. The default tiles changed (256x512 -> 512x256
  // in double): tuning, reported by compare, not a different point.
  return {
      {"/", "n", "int64", "query rows (tokens)", P},
      {"/", "d", "int64", "feature dimension of Q and K", P},
      {"/", "dv", "int64", "columns of V", P},
      {"/", "n_keys", "int64", "key/value rows", P},
      {"/", "scale", "float64", "logit scale s", P},
      {"/", "scale_rule", "string", "1/d, 1/sqrt(d) or value", P},
      {"/", "bound", "float64", "synthetic entries' bound (0 for file inputs)", P},
      {"/", "tile_q", "int64", "query tile rows", Tu},
      {"/", "tile_k", "int64", "key tile rows", Tu},
      {"/", "causal", "int64", "1 with the causal mask (exact)", P, {}, {}, "0"},
      {"/", "heads", "int64", "query heads H", P, {}, {}, "1"},
      {"/", "kv_heads", "int64", "K/V heads Hkv (H / Hkv query heads share one)", P, {}, {}, "1"},
      {"/", "batch", "int64", "batch size B", P, {}, {}, "1"},
      {"/", "layout", "string", "row order across ranks (contiguous, striped, zigzag)", P, {}, {}, "contiguous"},
      {"/metrics", "load_balance", "float64", "max over mean of the ranks' median compute seconds", R, {"exact"}},
      {"/metrics", "bytes_received_per_rank", "float64", "bytes moved to a rank per repetition (max over ranks)", R,
       {"exact"}},
      {"/validation", "max_abs_error", "float64", "max |O - O_ref| over the checked rows", R, {"exact"}},
      {"/validation", "max_abs_error", "float64", "max |O - O_ref| over the checked rows", R, approx, errors},
      {"/validation", "rel_error", "float64", "max_abs_error / max |O_ref|", R, {"exact"}},
      {"/validation", "rel_error", "float64", "max_abs_error / max |O_ref|", R, approx, errors},
      {"/validation", "rows_checked", "int64", "rows compared with the reference", R, {"exact"}},
      {"/validation", "rows_checked", "int64", "rows compared with the reference", R, approx, errors},
      {"/validation", "nonfinite_outputs", "int64", "non-finite entries among the checked outputs", R, {"exact"}},
      {"/validation", "tolerance_rule", "string", "how the tolerance was chosen", R, {"exact"}},
      {"/validation", "naive_rel_error", "float64|string",
       "the naive fp32 implementation's rel_error (a note when it overflowed)", R, {"exact"}, "single precision"},
      {"/validation", "error_mode", "string", "full, sampled or none", R, approx},
      {"/validation", "rel_frobenius_error", "float64", "|O~ - O|_F / |O|_F", R, approx, full},
      {"/validation", "rel_spectral_error", "float64", "|O~ - O|_2 / |O|_2", R, approx, full},
      {"/validation", "exact_seconds", "float64", "seconds of the exact run the errors were measured against", R,
       approx, full},
      {"/validation", "certified_bound", "float64", "2 eps_P / (1 - eps_P) max|V|", R, {"poly"}},
      {"/parameters", "error_mode", "string", "--error after auto: full, sampled or none", P, approx},
      {"/parameters", "degree", "int64", "polynomial degree g", P, {"poly"}},
      {"/parameters", "basis", "string", "taylor or chebyshev", P, {"poly"}},
      {"/parameters", "tolerance", "float64", "--tolerance the degree was chosen for", P, {"poly"},
       "no --degree"},
      {"/parameters", "degree_rule", "string", "given (--degree) or smallest meeting --tolerance", R, {"poly"}},
      {"/parameters", "rank", "int64", "features C(d + g, g)", R, {"poly"}},
      {"/parameters", "R", "float64", "the interval [-R, R] of the logits", R, {"poly"}},
      {"/parameters", "eps_P", "float64", "relative error of the polynomial against exp on [-R, R]", R, {"poly"}},
      {"/parameters", "eps_P_taylor_bound", "float64", "the Taylor remainder bound of eps_P", R, {"poly"},
       "--poly-basis taylor"},
      {"/parameters", "certified_bound", "float64", "2 eps_P / (1 - eps_P) max|V|", R, {"poly"}},
      {"/parameters", "rounding_allowance", "float64", "rounding added to the certified bound", R, {"poly"}},
      {"/parameters", "validity_threshold", "float64", "certified bound + rounding allowance", R, {"poly"}},
      {"/parameters", "max_q_norm", "float64", "max row norm of Q", R, {"poly"}},
      {"/parameters", "max_k_norm", "float64", "max row norm of K", R, {"poly"}},
      {"/parameters", "max_abs_v", "float64", "max |V|", R, {"poly"}},
      {"/parameters", "chunk_rows", "int64", "rows per feature chunk", Tu, {"poly"}},
      {"/parameters", "feature_bytes", "float64", "feature buffer bytes per rank", R, {"poly"}},
      {"/parameters", "memory_budget", "float64", "--memory-budget (bytes per rank)", Tu, {"poly"}},
      {"/parameters", "lsh_planes", "int64", "angular LSH hyperplanes", P, lsh},
      {"/parameters", "bucket_size", "int64", "keys per heavy block", P, lsh},
      {"/parameters", "samples", "int64", "residual key samples", P, lsh},
      {"/parameters", "features", "int64", "positive random features", P, {"performer"}},
      {"/output", "O", "dataset", "n x (H dv) output; from a 4-D (3-D) file one (B, n, H, dv) ((n, H, dv)) dataset",
       R, {}, save + ", batch 1 or a file input"},
      {"/output", "O_b*", "dataset", "one n x (H dv) dataset per batch entry b", R, {"exact"},
       save + ", synthetic batch > 1"},
  };
}

}  // namespace attnbench::attention
