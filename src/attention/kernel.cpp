// The `attention` kernel registration: options (declared as data), problem set-up (synthetic or
// HDF5), and one Case per algorithm:
//   exact (ring | allgather | ulysses; --causal, --heads/--kv-heads/--batch, --layout): the
//     multi-head kernel of mha.hpp, validated HPL-style against the serial two-pass reference on
//     seeded (batch, head, token) rows with the same mask (double: rel error <= 1e-12; single:
//     FlashAttention's 2x-naive rule);
//   poly: certified - VALID iff eps_P < 1 and the measured max-abs error (full or sampled) is within
//     the certified bound + rounding allowance (approx/poly.hpp);
//   kde, hyper, performer: no certificate - VALID iff the output and the measured errors are finite;
//     the run says it has no certificate.
#include "attention/kernel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "attention/approx/errors.hpp"
#include "attention/approx/kde_hyper.hpp"
#include "attention/approx/lsh.hpp"
#include "attention/approx/performer.hpp"
#include "attention/approx/poly.hpp"
#include "attention/archive_contract.hpp"
#include "attention/exact/mha.hpp"
#include "attention/exact/validation.hpp"
#include "attention/memory.hpp"
#include "attention/problem.hpp"
#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "dist/collective.hpp"
#include "attention/input/gen.hpp"
#include "attention/input/input.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"

namespace attnbench::attention {

namespace {

using harness::OptionSpec;
using harness::OptionType;
constexpr double kInf = std::numeric_limits<double>::infinity();

// A check every rank makes identically (same options, same global sizes): its error is agreed.
template <class F>
auto everywhere(F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw e.everywhere();
  }
}

double resolve_scale(const std::string& s, std::int64_t d, std::string& rule) {
  if (s == "1/d" || s == "inv-d") {
    rule = "1/d";
    return 1.0 / static_cast<double>(d);
  }
  if (s == "1/sqrt(d)" || s == "1/sqrt-d" || s == "1/sqrtd" || s == "inv-sqrt-d") {
    rule = "1/sqrt(d)";
    return 1.0 / std::sqrt(static_cast<double>(d));
  }
  double v = 0.0;
  std::size_t used = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || !std::isfinite(v) || v <= 0.0)
    throw usage_error("--scale: expected a positive number, '1/d' or '1/sqrt(d)', got '" + s + "'").everywhere();
  rule = "value";
  return v;
}

// The attention algorithms (--algo): one name table for parsing, printing and KernelSpec::algorithms.
enum class Algorithm { exact, poly, kde, hyper, performer };
constexpr EnumNames<Algorithm, 5> kAlgorithms{{{Algorithm::exact, "exact"},
                                               {Algorithm::poly, "poly"},
                                               {Algorithm::kde, "kde"},
                                               {Algorithm::hyper, "hyper"},
                                               {Algorithm::performer, "performer"}}};
std::string algorithm_name(Algorithm a) { return enum_name(kAlgorithms, a); }

// Everything a case needs that is not the data.
struct Settings {
  Algorithm algorithm = Algorithm::exact;
  double scale = 0.0;
  TileSizes tiles;
  int threads = 1;
  std::int64_t validate_rows = 64;
  std::uint64_t seed = 42;
  MhaVariant variant = MhaVariant::ring;
  bool causal = false;
  LayoutKind layout = LayoutKind::contiguous;
  bool tiles_given_q = false, tiles_given_k = false;
};

// The problem keys of every attention run (KernelSpec::problem_keys but "bound", which is recorded
// with the data), exact and approximate alike: setup_problem records them once.
void record_problem(RunRecord& rec, const HeadShape& shape, std::int64_t n, std::int64_t n_keys, const Settings& st,
                    const std::string& scale_rule) {
  rec.problem["n"] = n;
  rec.problem["n_keys"] = n_keys;
  rec.problem["d"] = shape.d;
  rec.problem["dv"] = shape.dv;
  rec.problem["scale"] = st.scale;
  rec.problem["scale_rule"] = scale_rule;
  rec.problem["tile_q"] = st.tiles.q;
  rec.problem["tile_k"] = st.tiles.k;
  rec.problem["causal"] = std::int64_t{st.causal ? 1 : 0};
  rec.problem["heads"] = shape.heads;
  rec.problem["kv_heads"] = shape.kv_heads;
  rec.problem["batch"] = shape.batch;
  rec.problem["layout"] = to_string(st.layout);
}

template <class T>
struct Data {
  AttentionProblem<T> problem;
  Matrix<T> O;  // this rank's tokens of the last repetition's output, (B n_r) x (H dv), layout order
  int input_dims = 0;  // 2, 3 or 4 for a file input (the output mirrors 3-D and 4-D ones), 0 synthetic
};

// --save-output, for every algorithm (collective).
template <class T>
void write_output(io::File& f, const Data<T>& data, const dist::Comm& comm) {
  const auto& p = data.problem;
  if (data.input_dims >= 3) {
    // A 4-D (B, n, H, d) or 3-D (n, H, d) input: O mirrors it, one dataset /output/O of shape
    // (B, n, H, dv) or (n, H, dv). Striped and zigzag tokens first move back to contiguous blocks
    // (as below: one block per rank is the fast collective write, see setup_problem).
    std::vector<std::int64_t> dims = {p.shape.batch, p.n_q(), p.shape.heads, p.shape.dv};
    if (data.input_dims == 3) dims.erase(dims.begin());
    const SequenceLayout contiguous(LayoutKind::contiguous, p.n_q(), comm.size());
    const Matrix<T> O = p.layout_q.kind() == LayoutKind::contiguous
                            ? Matrix<T>()
                            : redistribute_tokens(comm, data.O, p.shape.batch, p.layout_q, contiguous);
    const Matrix<T>& out = p.layout_q.kind() == LayoutKind::contiguous ? data.O : O;
    f.ensure_group("/output");
    f.write_axis_rows("/output/O", dims, data.input_dims == 4 ? 1 : 0, attention::sequence_rows(contiguous, comm.rank()),
                      out.size(), out.data());
    return;
  }
  // Synthetic or 2-D input: O in sequence order: tokens move back to contiguous blocks
  // (collective, point to point) when the layout is striped or zigzag. B = 1: /output/O,
  // n x (H dv) (the (n, H, dv) tensor); B > 1: one such dataset per batch entry, /output/O_b<b>.
  const SequenceLayout contiguous(LayoutKind::contiguous, p.n_q(), comm.size());
  const Matrix<T> O = p.layout_q.kind() == LayoutKind::contiguous
                          ? data.O
                          : redistribute_tokens(comm, data.O, p.shape.batch, p.layout_q, contiguous);
  const std::int64_t rows = contiguous.local_rows(comm.rank()), w = p.shape.heads * p.shape.dv;
  f.ensure_group("/output");
  for (std::int64_t b = 0; b < p.shape.batch; ++b) {
    Matrix<T> part(rows, w);
    std::copy_n(O.row(b * rows), rows * w, part.data());
    f.write_rows(p.shape.batch == 1 ? std::string("/output/O") : "/output/O_b" + std::to_string(b), p.n_q(), w,
                 dist::BlockRowLayout(p.n_q(), comm.size()).row_offset(comm.rank()), part);
  }
}

// ---- exact attention ------------------------------------------------------------------------------
template <class T>
class ExactCase final : public harness::Case {
 public:
  ExactCase(const dist::Comm& comm, std::shared_ptr<Data<T>> data, Settings s)
      : comm_(comm), data_(std::move(data)), s_(s) {
    mo_.variant = s.variant;
    mo_.causal = s.causal;
    mo_.scale = s.scale;
    mo_.tiles = s.tiles;
    mo_.threads = s.threads;
  }
  void run(harness::PhaseTimes& phases) override {
    MhaTimes t;
    data_->O = mha_attention(comm_, data_->problem, mo_, &t);
    phases["compute"] = t.compute;
    phases["comm_wait"] = t.comm_wait;
    computes_.push_back(t.compute);
    bytes_received_ = t.bytes_received;
    buffer_bytes_ = std::max(buffer_bytes_, t.peak_buffer_bytes);
  }
  harness::WorkModel work() const override {
    const auto& p = data_->problem;
    return {mha_flops(p.shape, p.n_q(), p.n_kv(), s_.causal), 0.0,
            s_.causal ? "2 B H n (n + 1) / 2 (d + dv)" : "2 B H n n_keys (d + dv)"};
  }
  harness::ReferenceShapes reference_shapes() const override {
    const auto& p = data_->problem;
    // Ulysses runs each head over the whole sequence; ring and allgather over n/p query rows.
    const std::int64_t rows = s_.variant == MhaVariant::ulysses ? p.n_q() : p.layout_q.max_local_rows();
    const std::int64_t keys = s_.variant == MhaVariant::ulysses ? p.n_kv() : p.layout_kv.max_local_rows();
    const std::int64_t tq = std::min<std::int64_t>(s_.tiles.q, std::max<std::int64_t>(rows, 1));
    const std::int64_t tk = std::min<std::int64_t>(s_.tiles.k, std::max<std::int64_t>(keys, 1));
    harness::ReferenceShapes r;
    r.kernel_gemm = {{tq, tk, p.shape.d, true}, {tq, p.shape.dv, tk, false}};
    r.peak_gemm = metrics::GemmShape{std::min<std::int64_t>(p.n_q(), 4096), std::min<std::int64_t>(p.n_kv(), 4096),
                                     p.shape.d, true};
    return r;
  }
  std::int64_t buffer_bytes() const override { return buffer_bytes_; }
  // load_balance: max over mean of the ranks' median compute seconds (one Allgather);
  // bytes_received_per_rank: max over ranks (one Allreduce).
  void add_metrics(std::map<std::string, AttrValue>& metrics) override {
    std::vector<double> c = computes_;
    std::sort(c.begin(), c.end());
    const double med = c.empty() ? 0.0 : (c.size() % 2 ? c[c.size() / 2] : 0.5 * (c[c.size() / 2 - 1] + c[c.size() / 2]));
    metrics["load_balance"] = load_balance(comm_, med);
    metrics["bytes_received_per_rank"] = comm_.allreduce(bytes_received_, dist::Op::max);
  }
  harness::Validation validate() override {
    const auto v = validate_sampled(comm_, data_->problem, data_->O, s_.causal, s_.scale, s_.validate_rows, s_.seed);
    harness::Validation out;
    out.method = std::string("sampled (batch, head, row) triples vs serial two-pass reference in double") +
                 (s_.causal ? ", causal mask" : "");
    out.valid = v.valid;
    out.certified = true;
    out.tolerance = v.tolerance;
    out.errors["max_abs_error"] = v.max_abs_error;
    out.errors["rel_error"] = v.rel_error;
    // The naive fp32 reference may itself overflow; its error then only chose the fallback
    // tolerance (tolerance_rule) and is not a measured error of this run.
    if (v.naive_rel_error >= 0.0) {
      if (std::isfinite(v.naive_rel_error))
        out.errors["naive_rel_error"] = v.naive_rel_error;
      else
        out.notes["naive_rel_error"] = "not finite (the naive fp32 reference overflowed)";
    }
    out.counts["rows_checked"] = v.rows_checked;
    out.counts["nonfinite_outputs"] = v.nonfinite_outputs;
    if (!v.tolerance_rule.empty()) out.notes["tolerance_rule"] = v.tolerance_rule;
    if (!v.reason.empty()) out.notes["invalid_reason"] = v.reason;
    return out;
  }
  void write_datasets(io::File& f, bool save_output) const override {
    if (save_output) write_output(f, *data_, comm_);
  }
  std::string describe() const override {
    const auto& s = data_->problem.shape;
    return fmt::format("exact {} layout={} causal={} B={} H={} Hkv={} tiles {}x{}", to_string(s_.variant),
                       to_string(s_.layout), s_.causal ? 1 : 0, s.batch, s.heads, s.kv_heads, s_.tiles.q, s_.tiles.k);
  }
  std::string summary(const harness::Validation& v) const override {
    return fmt::format("rel err {:.2e} (tol {:.1e})", v.errors.at("rel_error"), v.tolerance.value_or(kInf));
  }

 private:
  const dist::Comm& comm_;
  std::shared_ptr<Data<T>> data_;
  Settings s_;
  MhaOptions mo_;
  std::vector<double> computes_;
  double bytes_received_ = 0.0;
  std::int64_t buffer_bytes_ = 0;
};

// ---- the problem, for every algorithm ------------------------------------------------------------
// Before anything is allocated: this rank's Q, K, V and O tokens, and exact's K/V buffers
// (memory.hpp), against the node's memory; the approximate algorithms' own buffers are O(tile^2) or
// O(n/p) more, poly's features are held to --memory-budget. Agreed; exit 6 (does not fit).
template <class T>
void check_fits(const harness::SetupContext& ctx, const Settings& st, const HeadShape& shape, std::int64_t n) {
  const auto& comm = ctx.comm;
  const SequenceLayout lay(st.layout, n, comm.size());
  long double elements = static_cast<long double>(lay.local_rows(comm.rank())) * token_elements(shape, true);
  std::string what = fmt::format("attention --n {} --d {} --dv {} ({}: Q, K, V and O)", n, shape.d, shape.dv,
                                 to_string(ctx.common.precision));
  if (st.algorithm == Algorithm::exact) {
    elements += mha_buffer_elements(shape, n, lay.max_local_rows(), comm.size(), st.variant);
    what = fmt::format("attention --n {} --d {} --dv {} --heads {} --kv-heads {} --batch {} --variant {} "
                       "({}: Q, K, V, O and the K/V buffers)",
                       n, shape.d, shape.dv, shape.heads, shape.kv_heads, shape.batch, to_string(st.variant),
                       to_string(ctx.common.precision));
  }
  check_synthetic_fits(comm, elements * sizeof(T), what);
}

// The one problem set-up of every attention run: synthetic (B, n, H, d) tensors (the approximate
// algorithms: B = H = Hkv = 1, since --heads, --kv-heads, --batch are exact's options) or an input
// file, the checks every rank makes identically, --layout, the logit scale and the tile sizes;
// then the problem keys, recorded once.
template <class T>
std::shared_ptr<Data<T>> setup_problem(harness::SetupContext& ctx, Settings& st) {
  const auto& o = ctx.options;
  auto& rec = ctx.record;
  const auto& comm = ctx.comm;
  const bool exact = st.algorithm == Algorithm::exact;
  auto data = std::make_shared<Data<T>>();
  MhaOptions mo;
  mo.variant = st.variant;
  mo.causal = st.causal;
  if (ctx.common.input.empty()) {
    ScopedAccumulate t(ctx.setup_seconds);
    const std::int64_t n = o.integer("--n"), heads = o.integer("--heads");
    HeadShape shape{o.integer("--batch"), heads, o.has("--kv-heads") ? o.integer("--kv-heads") : heads,
                    o.integer("--d"), 0};
    shape.dv = o.has("--dv") ? o.integer("--dv") : shape.d;
    // Option checks (every rank, same values) before any data exists.
    everywhere([&] { check_head_shape(shape); });
    everywhere([&] { check_mha_options(mo, st.layout, st.layout, n, n); });
    check_fits<T>(ctx, st, shape, n);
    data->problem = synthetic_problem<T>(shape, n, st.layout, o.number("--bound"), st.seed, comm.rank(), comm.size());
    rec.problem["bound"] = o.number("--bound");
  } else {
    // A 2-D (n, d), 3-D (n, H, d) or 4-D (B, n, H, d) file (the approximate algorithms: 2-D only):
    // B, H, Hkv, d, dv come from its shapes (--heads, --kv-heads, --batch with --input are usage
    // errors of the harness); shape errors are input errors (exit 3) naming the file and dataset.
    // Each rank reads its contiguous block of tokens (one collective hyperslab read per dataset),
    // then striped and zigzag move the tokens to their owners with redistribute_tokens (point to
    // point, each token row once: about (p-1)/p of each tensor per rank; transiently about three
    // copies of one tensor's local part). Measured on this machine (2 ranks, 2 x 128 MiB float32
    // K/V, 1 MiB deflate chunks): the contiguous read takes about 3.8 s, reading the striped or
    // zigzag rows directly (a union of hyperslabs) 14-21 s, so the non-contiguous layouts read
    // contiguously and redistribute.
    {
      ScopedAccumulate t(ctx.io_seconds);
      InputInfo info;
      data->problem = read_attention_input<T>(comm, ctx.common.input, &info, exact ? 4 : 2);
      data->input_dims = info.dims;
    }
    everywhere([&] { check_mha_options(mo, st.layout, st.layout, data->problem.n_q(), data->problem.n_kv()); });
    if (st.layout != LayoutKind::contiguous) {
      ScopedAccumulate t(ctx.setup_seconds);  // the redistribution to --layout
      to_layout(comm, data->problem, st.layout);
    }
    rec.problem["bound"] = 0.0;
  }
  const auto& p = data->problem;
  std::string rule;
  st.scale = resolve_scale(o.string("--scale"), p.shape.d, rule);
  // Exact attention's tile defaults depend on the precision (default_tiles<T>, online_softmax.hpp);
  // the approximate algorithms' exact runs keep TileSizes' 256 x 512.
  if (exact && !st.tiles_given_q) st.tiles.q = default_tiles<T>().q;
  if (exact && !st.tiles_given_k) st.tiles.k = default_tiles<T>().k;
  record_problem(rec, p.shape, p.n_q(), p.n_kv(), st, rule);
  return data;
}

// ---- approximate attention ----------------------------------------------------------------------
// One configured approximate algorithm: how to run it once, and what its validity rests on.
template <class T>
struct ApproxAlgo {
  std::function<void(harness::PhaseTimes&, std::int64_t& buffer_bytes)> run;
  bool certified = false;       // poly: a bound known before running
  bool certificate_ok = true;   // poly: eps_P < 1
  double threshold = kInf;      // poly: certified bound + rounding allowance
  double certified_bound = 0.0;
  double flops = 0.0;
  std::string formula;
  std::vector<metrics::GemmShape> gemm_shapes;
  std::string describe;
};

template <class T>
class ApproxCase final : public harness::Case {
 public:
  ApproxCase(const dist::Comm& comm, std::shared_ptr<Data<T>> data, Settings s, ApproxAlgo<T> algo,
             approx::ErrorMode mode)
      : comm_(comm), data_(std::move(data)), s_(s), algo_(std::move(algo)), mode_(mode) {}
  void run(harness::PhaseTimes& phases) override { algo_.run(phases, buffer_bytes_); }
  harness::WorkModel work() const override { return {algo_.flops, 0.0, algo_.formula}; }
  harness::ReferenceShapes reference_shapes() const override {
    harness::ReferenceShapes r;
    r.kernel_gemm = algo_.gemm_shapes;
    const auto& p = data_->problem;
    r.peak_gemm = metrics::GemmShape{std::min<std::int64_t>(p.n_q(), 4096), std::min<std::int64_t>(p.n_kv(), 4096), p.shape.d, true};
    return r;
  }
  std::int64_t buffer_bytes() const override { return buffer_bytes_; }
  std::string describe() const override { return algo_.describe; }
  harness::Validation validate() override {
    // One Allreduce MIN: is every rank's output finite?
    int ok = 1;
    for (auto v : data_->O.span())
      if (!std::isfinite(static_cast<double>(v))) {
        ok = 0;
        break;
      }
    const bool finite_output = comm_.allreduce(ok, dist::Op::min) == 1;
    MhaOptions eo;
    eo.scale = s_.scale;
    eo.tiles = s_.tiles;
    eo.threads = s_.threads;
    const approx::ApproxErrors err =
        approx::measure_errors(comm_, data_->problem, data_->O, mode_, eo, s_.validate_rows, s_.seed);
    harness::Validation v;
    v.method = err.method;
    v.notes["error_mode"] = approx::to_string(mode_);
    if (mode_ != approx::ErrorMode::none) {
      v.errors["max_abs_error"] = err.max_abs_error;
      v.errors["rel_error"] = err.rel_error;
      v.counts["rows_checked"] = err.rows_checked;
    }
    if (mode_ == approx::ErrorMode::full) {
      v.errors["rel_frobenius_error"] = err.rel_frobenius_error;
      v.errors["rel_spectral_error"] = err.rel_spectral_error;
      v.errors["exact_seconds"] = err.exact_seconds;
    }
    if (!finite_output) v.notes["invalid_reason"] = "non-finite output";
    if (algo_.certified) {
      v.certified = true;
      v.tolerance = algo_.threshold;
      v.primary_error = "max_abs_error";
      v.errors["certified_bound"] = algo_.certified_bound;
      v.method += "; VALID iff eps_P < 1 and max-abs error <= certified bound + rounding allowance";
      v.valid = algo_.certificate_ok && finite_output &&
                (mode_ == approx::ErrorMode::none || (err.finite() && err.max_abs_error <= algo_.threshold));
    } else {
      v.certified = false;
      v.primary_error = mode_ == approx::ErrorMode::full ? "rel_spectral_error" : "rel_error";
      v.method += "; no certificate: VALID iff the output and the measured errors are finite";
      v.valid = finite_output && err.finite();
    }
    return v;
  }
  void write_datasets(io::File& f, bool save_output) const override {
    if (save_output) write_output(f, *data_, comm_);
  }
  std::string summary(const harness::Validation& v) const override {
    if (mode_ == approx::ErrorMode::none) return "errors (none): not measured";
    std::string s = fmt::format("errors ({}, {} rows): max-abs {:.2e}, rel {:.2e}", approx::to_string(mode_),
                                v.counts.at("rows_checked"), v.errors.at("max_abs_error"), v.errors.at("rel_error"));
    if (mode_ == approx::ErrorMode::full)
      s += fmt::format(", rel Frobenius {:.2e}, rel spectral {:.2e}", v.errors.at("rel_frobenius_error"),
                       v.errors.at("rel_spectral_error"));
    if (algo_.certified) s += fmt::format(" (certified <= {:.2e})", algo_.threshold);
    return s;
  }

 private:
  const dist::Comm& comm_;
  std::shared_ptr<Data<T>> data_;
  Settings s_;
  ApproxAlgo<T> algo_;
  approx::ErrorMode mode_;
  std::int64_t buffer_bytes_ = 0;
};

template <class T>
ApproxAlgo<T> make_poly(const dist::Comm& comm, const harness::OptionValues& o, std::shared_ptr<Data<T>> data,
                        const Settings& s, RunRecord& rec) {
  const auto& p = data->problem;
  approx::PolyOptions po;
  po.basis = everywhere([&] { return approx::parse_poly_basis(o.string("--poly-basis")); });
  po.degree = o.given("--degree") ? static_cast<int>(o.integer("--degree")) : -1;
  po.tolerance = o.number("--tolerance");
  po.memory_budget = o.size("--memory-budget");
  po.chunk_rows = o.integer("--poly-chunk");
  po.threads = s.threads;
  // Collective (one Allreduce MAX), then checks every rank makes identically: the memory budget
  // (does-not-fit) and tolerance errors are agreed, before any feature buffer exists.
  const approx::PolyPlan plan = everywhere([&] { return approx::plan_poly(comm, p, s.scale, po); });
  rec.variant = approx::to_string(plan.basis);
  auto& np = rec.parameters;
  np["degree"] = std::int64_t{plan.degree};
  np["rank"] = plan.rank;
  np["R"] = plan.R;
  np["eps_P"] = plan.eps_P;
  np["certified_bound"] = plan.certified_bound;
  np["rounding_allowance"] = plan.rounding_allowance;
  np["validity_threshold"] = plan.validity_threshold();
  if (po.degree < 0) np["tolerance"] = po.tolerance;
  np["max_q_norm"] = plan.max_q_norm;
  np["max_k_norm"] = plan.max_k_norm;
  np["max_abs_v"] = plan.max_abs_v;
  np["chunk_rows"] = plan.chunk_rows;
  np["feature_bytes"] = static_cast<double>(plan.feature_bytes);
  np["memory_budget"] = static_cast<double>(po.memory_budget);
  if (plan.basis == approx::PolyBasis::taylor) np["eps_P_taylor_bound"] = plan.eps_P_taylor_bound;
  np["basis"] = approx::to_string(plan.basis);
  np["degree_rule"] = std::string(po.degree >= 0 ? "given (--degree)" : "smallest meeting --tolerance");

  ApproxAlgo<T> a;
  a.certified = true;
  a.certificate_ok = plan.eps_P < 1.0;
  a.threshold = plan.validity_threshold();
  a.certified_bound = plan.certified_bound;
  a.flops = approx::poly_attention_flops(plan, p.n_q(), p.n_kv());
  a.formula = "poly: 2 (n + n_keys) r (dv + 1) + feature construction";
  a.gemm_shapes = {{plan.rank, p.shape.dv + 1, plan.chunk_rows, false},
                   {plan.chunk_rows, p.shape.dv + 1, plan.rank, false}};
  a.describe = fmt::format("poly {} g={} r={} R={:.4g} eps_P={:.3g} certified bound {:.3g} (+ rounding {:.2g})",
                           rec.variant, plan.degree, plan.rank, plan.R, plan.eps_P, plan.certified_bound,
                           plan.rounding_allowance);
  // Every repetition re-plans (one Allreduce MAX and the degree search) so the timed total is the
  // whole method; the plan is its own phase.
  a.run = [&comm, data, po, scale = s.scale](harness::PhaseTimes& ph, std::int64_t& bytes) {
    const double t0 = wall_seconds();
    const auto rep_plan = approx::plan_poly(comm, data->problem, scale, po);
    ph["plan"] = wall_seconds() - t0;
    MhaTimes pt;
    data->O = approx::poly_attention(comm, data->problem, rep_plan, &pt);
    ph["compute"] = pt.compute;
    ph["comm_wait"] = pt.comm_wait;
    bytes = std::max(bytes, pt.peak_buffer_bytes);
  };
  return a;
}

template <class T, class Options, class F>
ApproxAlgo<T> make_sampled(const dist::Comm& comm, std::shared_ptr<Data<T>> data, const Settings& s, Options opts, F f,
                           double flops, std::string formula, std::string describe) {
  ApproxAlgo<T> a;
  a.flops = flops;
  a.formula = std::move(formula);
  a.describe = std::move(describe);
  a.run = [&comm, data, opts, f, scale = s.scale](harness::PhaseTimes&, std::int64_t&) {
    data->O = f(comm, data->problem, scale, opts);
  };
  return a;
}

// The approximate algorithms on the single-head problem: the error mode, the algorithm's options
// and parameters, its work model.
template <class T>
std::unique_ptr<harness::Case> make_approx_case(harness::SetupContext& ctx, std::shared_ptr<Data<T>> data,
                                                const Settings& st) {
  const auto& o = ctx.options;
  auto& rec = ctx.record;
  const auto& comm = ctx.comm;
  const auto& p = data->problem;
  const approx::ErrorMode mode = o.string("--error") == "auto"
                                     ? approx::default_error_mode(p.n_q())
                                     : everywhere([&] { return approx::parse_error_mode(o.string("--error")); });
  rec.parameters["error_mode"] = approx::to_string(mode);
  const double n = static_cast<double>(p.n_q()), dsum = static_cast<double>(p.shape.d + p.shape.dv);
  ApproxAlgo<T> algo;
  const std::string name = algorithm_name(st.algorithm);
  switch (st.algorithm) {
    case Algorithm::poly:
      algo = make_poly(comm, o, data, st, rec);
      break;
    case Algorithm::kde:
    case Algorithm::hyper: {
      const int planes = static_cast<int>(o.integer("--lsh-planes"));
      const std::int64_t bucket = o.integer("--bucket-size"), samples = o.integer("--samples");
      everywhere([&] { approx::validate_lsh_options(name.c_str(), planes, bucket, samples, p.n_kv()); });
      rec.variant = "lsh";
      rec.parameters["lsh_planes"] = std::int64_t{planes};
      rec.parameters["bucket_size"] = bucket;
      rec.parameters["samples"] = samples;
      const double flops = 2.0 * n * static_cast<double>(bucket + samples) * dsum;
      const auto describe = fmt::format("{} planes={} bucket={} samples={}", name, planes, bucket, samples);
      const approx::LshOptions lo{planes, bucket, samples, st.seed, st.threads};  // KdeOptions = HyperOptions
      if (st.algorithm == Algorithm::kde)
        algo = make_sampled<T>(comm, data, st, lo, [](auto&... a) { return approx::kde_attention<T>(a...); }, flops,
                               "2 n (bucket_size + samples) (d + dv)", describe);
      else
        algo = make_sampled<T>(comm, data, st, lo, [](auto&... a) { return approx::hyper_attention<T>(a...); }, flops,
                               "2 n (bucket_size + samples) (d + dv)", describe);
      break;
    }
    case Algorithm::performer: {
      approx::PerformerOptions fo;
      fo.features = o.integer("--features");
      fo.seed = st.seed;
      fo.threads = st.threads;
      rec.variant = "favor+";
      rec.parameters["features"] = fo.features;
      algo = make_sampled<T>(comm, data, st, fo, [](auto&... a) { return approx::performer_attention<T>(a...); },
                             4.0 * n * static_cast<double>(fo.features) * dsum, "4 n features (d + dv)",
                             fmt::format("performer features={}", fo.features));
      break;
    }
    case Algorithm::exact:
      throw internal_error("attention: exact is not an approximate algorithm");
  }
  return std::make_unique<ApproxCase<T>>(comm, data, st, std::move(algo), mode);
}

template <class T>
std::unique_ptr<harness::Case> make_case_t(harness::SetupContext& ctx, Settings st) {
  auto data = setup_problem<T>(ctx, st);
  if (st.algorithm != Algorithm::exact) return make_approx_case<T>(ctx, std::move(data), st);
  ctx.record.variant = to_string(st.variant);
  return std::make_unique<ExactCase<T>>(ctx.comm, std::move(data), st);
}

std::unique_ptr<harness::Case> make_case(harness::SetupContext& ctx) {
  const auto& o = ctx.options;
  Settings s;
  s.algorithm = everywhere([&] { return parse_enum(kAlgorithms, ctx.common.algorithm, "--algo"); });
  s.threads = ctx.common.threads;
  s.seed = ctx.common.seed;
  s.validate_rows = o.integer("--validate-rows");
  // Given tile sizes; the defaults are set by setup_problem.
  s.tiles_given_q = o.given("--tile-q") || o.given("--tile");
  s.tiles_given_k = o.given("--tile-k") || o.given("--tile");
  if (o.given("--tile-q")) s.tiles.q = o.integer("--tile-q");
  if (o.given("--tile-k")) s.tiles.k = o.integer("--tile-k");
  if (o.given("--tile")) s.tiles.q = s.tiles.k = o.integer("--tile");
  s.variant = everywhere([&] { return parse_mha_variant(o.string("--variant")); });
  s.causal = o.flag("--causal");
  s.layout = everywhere([&] { return parse_layout(o.string("--layout")); });
  if (o.given("--degree") && o.given("--tolerance"))
    throw usage_error("--degree excludes --tolerance (give one)").everywhere();
  if (ctx.common.precision == Precision::single) return make_case_t<float>(ctx, s);
  return make_case_t<double>(ctx, s);
}

}  // namespace

harness::KernelSpec attention_kernel() {
  harness::KernelSpec k;
  k.name = "attention";
  k.summary = "Softmax attention across the MPI ranks: exact (ring, allgather) and approximate (poly, kde, hyper, "
              "performer)";
  k.footer =
      "Examples:\n"
      "  mpirun -n 2 attnbench attention --n 16384 --d 64 --out results/run.h5\n"
      "  mpirun -n 4 attnbench attention --input inputs/qkv.h5 --precision single --variant allgather\n"
      "  mpirun -n 2 attnbench attention --algo poly --d 8 --bound 0.5 --tolerance 1e-6";
  k.input_help = "float32/float64 datasets /Q (n x d), /K (n_keys x d), /V (n_keys x dv); exact also 4-D /Q (B, n, H, "
                 "d), /K (B, n_keys, Hkv, d), /V (B, n_keys, Hkv, dv) or 3-D (n, H, d)";
  const std::string exact = algorithm_name(Algorithm::exact), poly = algorithm_name(Algorithm::poly),
                    kde = algorithm_name(Algorithm::kde), hyper = algorithm_name(Algorithm::hyper),
                    performer = algorithm_name(Algorithm::performer);
  k.algorithms = {
      {exact, "distributed streaming softmax attention"},
      {poly, "Alman-Song polynomial method, certified error bound"},
      {kde, "KDEformer: angular-LSH heavy blocks + sampled residual"},
      {hyper, "HyperAttention: sorted-LSH blocks + uniform samples, LSE merge"},
      {performer, "FAVOR+ positive random features"},
  };
  const std::vector<std::string> approx_algos = {poly, kde, hyper, performer}, lsh = {kde, hyper};
  std::vector<std::string> error_choices = enum_choices(approx::kErrorModes);
  error_choices.insert(error_choices.begin(), "auto");
  const double big = static_cast<double>(std::int64_t{1} << 40);
  using T = OptionType;
  k.options = {
      {"--variant", T::string, "ring", enum_choices(kMhaVariants),
       "Exact attention variant: ring (K/V blocks rotate, O(n/p) memory), allgather (K/V on every rank, O(n)) or "
       "ulysses (all-to-all to H/p heads of the whole sequence, local attention, all-to-all back)",
       {exact}},
      {"--causal", T::flag, "", {}, "Causal (lower-triangular) mask: key j visible to query i iff j <= i; tiles above "
                                    "the diagonal are skipped and the work model halves", {exact}},
      {"--layout", T::string, "contiguous", enum_choices(kLayoutKinds),
       "Row order across ranks (ring, allgather): contiguous blocks, striped (token i on rank i mod p) or zigzag "
       "(2p chunks, rank r holds r and 2p-1-r); it balances causal work; ulysses needs contiguous",
       {exact}},
      {"--heads", T::integer, "1", {}, "Synthetic input: attention heads H (Q is (B, n, H, d)); from a file: its shape", {exact}, true, 1,
       1 << 20},
      {"--kv-heads", T::integer, "", {}, "Synthetic input: K/V heads Hkv dividing H (grouped-query attention; "
                                         "default: H); from a file: its shape", {exact}, true, 1, 1 << 20},
      {"--batch", T::integer, "1", {}, "Synthetic input: batch size B; from a file: its shape", {exact}, true, 1, 1 << 20},
      {"--n", T::integer, "4096", {}, "Synthetic input: rows (tokens) of Q, K and V", {}, true, 1, big},
      {"--d", T::integer, "64", {}, "Synthetic input: feature dimension of Q and K", {}, true, 1, 1 << 20},
      {"--dv", T::integer, "", {}, "Synthetic input: columns of V (default: d)", {}, true, 1, 1 << 20},
      {"--bound", T::number, "1", {}, "Synthetic input: entries uniform in [-B, B]", {}, true, 0, 1e300, true},
      {"--scale", T::string, "1/d", {}, "Logit scale s in softmax(s Q K^T): a positive number, 1/d (Alman-Song) or "
                                       "1/sqrt(d) (transformers)"},
      {"--tile", T::integer, "", {}, "Set both tile sizes", {}, false, 1, 1 << 20},
      {"--tile-q", T::integer, "", {}, "Query rows per tile (unit of thread parallelism; default: exact 256 in single, "
                                      "512 in double; approximate algorithms' exact runs 256)", {}, false, 1, 1 << 20},
      {"--tile-k", T::integer, "", {}, "Key rows per tile (scores scratch is tile-q x tile-k per thread; default: "
                                      "exact 512 in single, 256 in double; approximate 512)", {}, false, 1, 1 << 20},
      {"--validate-rows", T::integer, "64", {}, "Rows recomputed by the serial reference after the timed runs (all "
                                               "rows if >= n)", {}, false, 1, big},
      {"--error", T::string, "auto", error_choices,
       "Errors against exact attention: full (exact O in the same run: max-abs, relative, Frobenius, spectral), "
       "sampled (--validate-rows rows vs the serial reference), none; auto = full when n <= 16384",
       approx_algos},
      {"--degree", T::integer, "", {}, "poly: polynomial degree g (rank C(d+g, g)); default: the smallest meeting "
                                      "--tolerance", {poly}, false, 0, 1e6},
      {"--tolerance", T::number, "1e-6", {}, "poly: target relative error eps_P of the polynomial against exp on "
                                            "[-R, R]; certified output bound 2 eps_P / (1 - eps_P) max|V|",
       {poly}, false, 0, 1e300, true},
      {"--poly-basis", T::string, "taylor", enum_choices(approx::kPolyBases), "poly: truncated Taylor series or Chebyshev "
                                                                      "interpolation on [-R, R]", {poly}},
      {"--memory-budget", T::size, "4GiB", {}, "poly: bytes per rank for the feature buffers; a rank that does not "
                                              "fit is exit 6 (does not fit) naming the largest degree that fits",
       {poly}, false, 0, 9.2e18, true},
      {"--poly-chunk", T::integer, "0", {}, "poly: rows per feature chunk (0: about 2 MiB of features)", {poly},
       false, 0, big},
      {"--lsh-planes", T::integer, "7", {}, "kde, hyper: angular LSH hyperplanes (2^planes buckets)", lsh, false, 1, 20},
      {"--bucket-size", T::integer, "64", {}, "kde, hyper: keys per heavy block (at most n)", lsh, false, 1, big},
      {"--samples", T::integer, "128", {}, "kde, hyper: residual key samples", lsh, false, 0, big},
      {"--features", T::integer, "256", {}, "performer: positive random features", {performer}, false, 1, 1 << 24},
  };
  k.size_key = "n";
  k.work_exponent = 2.0;
  k.memory_exponent = 1.0;
  // Communication per step (attention/mha.hpp states each variant's data movement); the report's
  // performance model evaluates these at any rank count.
  k.comm_models = {
      {"exact/ring",
       {"p - 1", "ceil(n_keys / p) * batch * kv_heads * (d + dv) * w", "2",
        "2 * ceil(n / p) * ceil(n_keys / p) * batch * heads * (d + dv) * (1 - causal / 2)",
        "ring: each step a K/V block of n_keys/p rows goes to the right neighbour while the block held is absorbed"}},
      {"exact/allgather",
       {"1", "(p - 1) * ceil(n_keys / p) * batch * kv_heads * (d + dv) * w", "2 * (p - 1)", "0",
        "allgather of K and V before the compute, not overlapped"}},
      {"exact/ulysses",
       {"1", "(p - 1) / p * ceil(n / p) * batch * (heads + max(kv_heads, min(p, heads))) * (d + dv) * w",
        "2 * (p - 1)", "0", "two all-to-alls (Q, K, V heads out; O back), not overlapped"}},
  };
  k.archive_keys = attention_archive_keys();
  k.make_case = make_case;
  k.gen = attention_gen();
  return k;
}

}  // namespace attnbench::attention
