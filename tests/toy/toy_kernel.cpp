#include "toy/toy_kernel.hpp"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/random.hpp"
#include "core/timer.hpp"
#include "dist/layout.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::toy {

namespace {

double x_at(std::uint64_t seed, std::int64_t i) { return 2.0 * uniform01(seed, Stream::Q, static_cast<std::uint64_t>(i)) - 1.0; }
double y_at(std::uint64_t seed, std::int64_t i) { return 2.0 * uniform01(seed, Stream::K, static_cast<std::uint64_t>(i)) - 1.0; }

template <class T>
class DotCase final : public harness::Case {
 public:
  DotCase(const dist::Comm& comm, std::int64_t n, std::uint64_t seed, bool corrupt)
      : comm_(comm), layout_(n, comm.size()), seed_(seed), corrupt_(corrupt) {
    const auto r0 = layout_.row_offset(comm.rank()), rows = layout_.local_rows(comm.rank());
    x_.resize(static_cast<std::size_t>(rows));
    y_.resize(static_cast<std::size_t>(rows));
    for (std::int64_t i = 0; i < rows; ++i) {
      x_[static_cast<std::size_t>(i)] = static_cast<T>(x_at(seed, r0 + i));
      y_[static_cast<std::size_t>(i)] = static_cast<T>(y_at(seed, r0 + i));
    }
  }
  // dot := sum_r x[rows_r] . y[rows_r]: local loop, then one MPI_Allreduce(SUM) of one double.
  void run(harness::PhaseTimes& phases) override {
    const double t0 = wall_seconds();
    double local = 0.0;
    for (std::size_t i = 0; i < x_.size(); ++i) local += static_cast<double>(x_[i]) * static_cast<double>(y_[i]);
    const double t1 = wall_seconds();
    dot_ = comm_.allreduce(local, dist::Op::sum) + (corrupt_ ? 1.0 : 0.0);
    phases["compute"] = t1 - t0;
    phases["comm_wait"] = wall_seconds() - t1;
  }
  harness::WorkModel work() const override {
    const double n = static_cast<double>(layout_.global_rows());
    return {2.0 * n, 2.0 * n * sizeof(T), "2 n flops, 2 n sizeof(T) bytes"};
  }
  harness::ReferenceShapes reference_shapes() const override {
    harness::ReferenceShapes r;
    r.memory_bound = true;
    r.peak_gemm = metrics::GemmShape{256, 256, 64, true};
    return r;
  }
  std::int64_t buffer_bytes() const override { return static_cast<std::int64_t>(2 * x_.size() * sizeof(T)); }
  harness::Validation validate() override {
    // Serial reference on every rank: Kahan sum over the global index, in double.
    double sum = 0.0, c = 0.0, scale = 0.0;
    for (std::int64_t i = 0; i < layout_.global_rows(); ++i) {
      const double xi = static_cast<double>(static_cast<T>(x_at(seed_, i)));
      const double yi = static_cast<double>(static_cast<T>(y_at(seed_, i)));
      const double term = xi * yi - c;
      const double t = sum + term;
      c = (t - sum) - term;
      sum = t;
      scale += std::abs(xi * yi);
    }
    harness::Validation v;
    v.method = "distributed dot product vs serial Kahan sum of the same entries";
    v.errors["abs_error"] = std::abs(dot_ - sum);
    v.errors["rel_error"] = std::abs(dot_ - sum) / std::max(scale, 1e-300);
    v.tolerance = 1e-13;
    v.certified = true;
    v.valid = v.errors["rel_error"] <= *v.tolerance;
    v.counts["terms"] = layout_.global_rows();
    return v;
  }
  void write_datasets(io::File& f, bool save_output) const override {
    if (!save_output) return;
    f.ensure_group("/output");
    f.write_root_matrix("/output/dot", {dot_}, 1, 1, comm_);
  }
  std::string describe() const override { return fmt::format("toy dot product of {} entries", layout_.global_rows()); }

 private:
  const dist::Comm& comm_;
  dist::BlockRowLayout layout_;
  std::uint64_t seed_;
  bool corrupt_;
  std::vector<T> x_, y_;
  double dot_ = 0.0;
};

std::unique_ptr<harness::Case> make_case(harness::SetupContext& ctx) {
  const std::int64_t n = ctx.options.integer("--n");
  const bool corrupt = ctx.options.flag("--corrupt");
  ctx.record.variant = "allreduce";
  ctx.record.problem["n"] = n;
  ctx.record.parameters["corrupt"] = std::int64_t{corrupt ? 1 : 0};
  std::unique_ptr<harness::Case> c;
  {
    ScopedAccumulate t(ctx.setup_seconds);
    if (ctx.common.precision == Precision::single)
      c = std::make_unique<DotCase<float>>(ctx.comm, n, ctx.common.seed, corrupt);
    else
      c = std::make_unique<DotCase<double>>(ctx.comm, n, ctx.common.seed, corrupt);
  }
  return c;
}

}  // namespace

harness::KernelSpec toy_kernel() {
  harness::KernelSpec k;
  k.name = "toy";
  k.summary = "Test-only kernel: a distributed dot product (proves the kernel recipe)";
  k.input_help = "none (synthetic only)";
  k.algorithms = {{"dot", "block-row dot product, one Allreduce"}};
  k.options = {
      {"--n", harness::OptionType::integer, "1000", {}, "Vector length", {}, true, 1, 1e12},
      {"--corrupt", harness::OptionType::flag, "", {}, "Add 1 to the result (to test the INVALID path)"},
  };
  k.size_key = "n";
  k.work_exponent = 1.0;
  k.memory_exponent = 1.0;
  // Its archive contract: everything it archives beyond the harness's frame.
  constexpr auto P = harness::KeyRole::point, R = harness::KeyRole::result;
  k.archive_keys = {{"/", "n", "int64", "vector length", P},
                    {"/parameters", "corrupt", "int64", "1: --corrupt", P},
                    {"/validation", "abs_error", "float64", "|dot - reference|", R},
                    {"/validation", "rel_error", "float64", "abs_error / the scale of the terms", R},
                    {"/validation", "terms", "int64", "n", R},
                    {"/output", "dot", "dataset", "the result", R, {}, "--save-output"}};
  k.make_case = make_case;
  return k;
}

}  // namespace attnbench::toy
