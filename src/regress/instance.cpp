#include "regress/instance.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <numbers>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/hdf5_file.hpp"
#include "regress/evaluate.hpp"

namespace attnbench::regress {

namespace {

template <class T>
Matrix<T> uniform_rows(std::uint64_t seed, std::uint64_t stream, std::int64_t row0, std::int64_t rows,
                       std::int64_t cols, double factor) {
  Matrix<T> m(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      m(i, j) = static_cast<T>(factor * uniform_pm1(seed, stream, static_cast<std::uint64_t>((row0 + i) * cols + j)));
  return m;
}

// Standard normal from (seed, stream, index) by Box-Muller on two counter-based uniforms.
double normal(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const double u1 = (static_cast<double>(random_bits(seed, stream, 2 * index) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(random_bits(seed, stream, 2 * index + 1) >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// target + delta |target|_F E / |E|_F, E uniform in [-1, 1) from the stream.
template <class T>
void perturb(std::vector<T>& out, const std::vector<T>& target, std::size_t off, std::size_t count, double delta,
             std::uint64_t seed, std::uint64_t stream) {
  double tn = 0.0, en = 0.0;
  std::vector<double> e(count);
  for (std::size_t i = 0; i < count; ++i) {
    e[i] = uniform_pm1(seed, stream, i);
    en += e[i] * e[i];
    tn += static_cast<double>(target[off + i]) * static_cast<double>(target[off + i]);
  }
  const double f = en > 0.0 ? delta * std::sqrt(tn / en) : 0.0;
  for (std::size_t i = 0; i < count; ++i) out[off + i] = static_cast<T>(static_cast<double>(target[off + i]) + f * e[i]);
}

// B := F(X*) A3 Y* on this rank's rows. A row of B passes through GEMMs whose row count is the
// tile's, and OpenBLAS's kernel families (SkylakeX, Prescott) round a row differently when the
// tile has a different height. Planting whole global tiles of kPlantTile rows, on every rank that
// owns part of one, makes B a function of (seed, row) alone: bitwise the same for any rank count
// on any CPU. A rank computes at most two tiles it shares with a neighbour: at most 2 kPlantTile
// extra rows of the forward pass.
template <class T>
void plant_targets(const dist::Comm& comm, const PlantedSpec& spec, const std::vector<T>& x_star, RegressData<T>& D) {
  constexpr std::int64_t kPlantTile = 64;
  const std::int64_t d = spec.d, d2 = d * d;
  const std::int64_t row0 = D.layout.row_offset(comm.rank()), nl = D.layout.local_rows(comm.rank());
  if (nl == 0) return;
  const std::span<const T> xs(x_star);
  const auto X = xs.subspan(0, static_cast<std::size_t>(d2)), Y = xs.subspan(static_cast<std::size_t>(d2));
  // One tile's problem: its A1 rows, B = 0 (so the forward residual is the prediction), and the
  // key side borrowed from D for the duration (moved, not copied).
  RegressData<T> tile;
  tile.n = D.n;
  tile.d = d;
  tile.scale = D.scale;
  tile.A2 = std::move(D.A2);
  tile.A3 = std::move(D.A3);
  const std::int64_t first = row0 / kPlantTile * kPlantTile;
  auto load = [&](std::int64_t g0) {
    const std::int64_t t = std::min(kPlantTile, spec.n - g0);
    tile.A1 = uniform_rows<T>(spec.seed, streams::A1, g0, t, d, 1.0);
    tile.B = Matrix<T>(t, d);
    tile.layout = dist::BlockRowLayout(t, 1);
  };
  load(first);
  {
    Evaluator<T> ev(comm, tile, kPlantTile);
    for (std::int64_t g0 = first; g0 < row0 + nl; g0 += kPlantTile) {
      if (g0 != first) load(g0);
      const Matrix<T> P = ev.predict_local(X, Y);
      const std::int64_t lo = std::max(g0, row0), hi = std::min(g0 + P.rows(), row0 + nl);
      for (std::int64_t i = lo; i < hi; ++i)
        for (std::int64_t m = 0; m < d; ++m) D.B(i - row0, m) = P(i - g0, m);
    }
  }
  D.A2 = std::move(tile.A2);
  D.A3 = std::move(tile.A3);
}

}  // namespace

template <class T>
Instance<T> make_planted(const dist::Comm& comm, const PlantedSpec& spec) {
  if (spec.n < 1 || spec.d < 1) throw usage_error("regress: --n and --d must be at least 1");
  Instance<T> inst;
  RegressData<T>& D = inst.data;
  D.n = spec.n;
  D.d = spec.d;
  D.scale = spec.scale;
  D.layout = dist::BlockRowLayout(spec.n, comm.size());
  const std::int64_t row0 = D.layout.row_offset(comm.rank()), nl = D.layout.local_rows(comm.rank());
  const std::int64_t d = spec.d, d2 = d * d;
  D.A1 = uniform_rows<T>(spec.seed, streams::A1, row0, nl, d, 1.0);
  D.A2 = uniform_rows<T>(spec.seed, streams::A2, 0, spec.n, d, 1.0);
  D.A3 = uniform_rows<T>(spec.seed, streams::A3, 0, spec.n, d, 1.0);
  D.B = Matrix<T>(nl, d);
  inst.planted = true;
  inst.x_star.resize(static_cast<std::size_t>(2 * d2));
  const double xf = 8.0 / (spec.scale * static_cast<double>(d));
  for (std::int64_t i = 0; i < d2; ++i) {
    inst.x_star[static_cast<std::size_t>(i)] = static_cast<T>(xf * uniform_pm1(spec.seed, streams::X_star, static_cast<std::uint64_t>(i)));
    inst.x_star[static_cast<std::size_t>(d2 + i)] = static_cast<T>(uniform_pm1(spec.seed, streams::Y_star, static_cast<std::uint64_t>(i)));
  }
  plant_targets(comm, spec, inst.x_star, D);
  if (spec.noise != 0.0)
    for (std::int64_t i = 0; i < nl; ++i)
      for (std::int64_t m = 0; m < d; ++m)
        D.B(i, m) += static_cast<T>(spec.noise * normal(spec.seed, streams::noise, static_cast<std::uint64_t>((row0 + i) * d + m)));
  inst.x0.resize(inst.x_star.size());
  perturb(inst.x0, inst.x_star, 0, static_cast<std::size_t>(d2), spec.init_distance, spec.seed, streams::start_X);
  perturb(inst.x0, inst.x_star, static_cast<std::size_t>(d2), static_cast<std::size_t>(d2), spec.init_distance, spec.seed,
          streams::start_Y);
  return inst;
}

InputShape inspect_input(const dist::Comm& comm, const std::string& path) {
  InputShape shape;
  dist::agree_on_success(comm, [&] {
    if (!io::is_hdf5_file(path)) throw input_error("regress: input '" + path + "' is missing or not an HDF5 file");
  });
  dist::agree_on_success(comm, [&] {
    const io::File f = io::File::open_read(comm, path);
    auto dims = [&](const std::string& name, bool required) -> std::vector<std::int64_t> {
      if (!f.has_dataset(name)) {
        if (required) throw input_error("regress: input '" + path + "' has no dataset " + name);
        return {};
      }
      const io::DatasetShape s = f.shape(name);
      if (s.dims.size() != 2 || !s.is_float)
        throw input_error("regress: dataset " + name + " in '" + path + "' must be a 2-D floating-point array");
      return s.dims;
    };
    const auto a1 = dims("/A1", true);
    shape.n = a1[0];
    shape.d = a1[1];
    if (shape.d < 1 || shape.n < 1)
      throw input_error("regress: /A1 in '" + path + "' is " + std::to_string(shape.n) + " x " + std::to_string(shape.d) +
                        ": need n >= 1 and d >= 1");
    for (const char* name : {"/A2", "/A3", "/B"}) {
      const auto s = dims(name, true);
      if (s[0] != shape.n || s[1] != shape.d)
        throw input_error(std::string("regress: shape mismatch in '") + path + "': " + name + " is " +
                          std::to_string(s[0]) + " x " + std::to_string(s[1]) + ", /A1 is " + std::to_string(shape.n) +
                          " x " + std::to_string(shape.d) + " (all four must be n x d)");
    }
    for (const char* name : {"/X0", "/Y0"}) {
      const auto s = dims(name, false);
      if (s.empty()) continue;
      if (s[0] != shape.d || s[1] != shape.d)
        throw input_error(std::string("regress: shape mismatch in '") + path + "': " + name + " is " +
                          std::to_string(s[0]) + " x " + std::to_string(s[1]) + ", must be d x d = " +
                          std::to_string(shape.d) + " x " + std::to_string(shape.d));
      (std::string(name) == "/X0" ? shape.has_X0 : shape.has_Y0) = true;
    }
  });
  return shape;
}

template <class T>
Instance<T> read_instance(const dist::Comm& comm, const std::string& path, double scale) {
  const InputShape shape = inspect_input(comm, path);
  Instance<T> inst;
  RegressData<T>& D = inst.data;
  D.n = shape.n;
  D.d = shape.d;
  D.scale = scale;
  D.layout = dist::BlockRowLayout(shape.n, comm.size());
  const std::int64_t row0 = D.layout.row_offset(comm.rank()), nl = D.layout.local_rows(comm.rank());
  const std::int64_t d = shape.d, d2 = d * d;
  inst.x0.assign(static_cast<std::size_t>(2 * d2), T(0));
  dist::agree_on_success(comm, [&] {
    const io::File f = io::File::open_read(comm, path);
    D.A1 = f.read_rows<T>("/A1", row0, nl, d);
    D.B = f.read_rows<T>("/B", row0, nl, d);
    D.A2 = f.read_rows<T>("/A2", 0, shape.n, d);
    D.A3 = f.read_rows<T>("/A3", 0, shape.n, d);
    Matrix<T> X0, Y0;
    if (shape.has_X0) X0 = f.read_rows<T>("/X0", 0, d, d);
    if (shape.has_Y0) Y0 = f.read_rows<T>("/Y0", 0, d, d);
    // Finite checks are local (each rank its own rows); the agreement names the first bad dataset.
    auto check = [&](const Matrix<T>& m, const char* name) {
      for (std::int64_t i = 0; i < m.size(); ++i)
        if (!std::isfinite(static_cast<double>(m.data()[i])))
          throw input_error(std::string("regress: dataset ") + name + " in '" + path + "' contains NaN or Inf");
    };
    check(D.A1, "/A1");
    check(D.A2, "/A2");
    check(D.A3, "/A3");
    check(D.B, "/B");
    check(X0, "/X0");
    check(Y0, "/Y0");
    if (shape.has_X0) std::copy(X0.data(), X0.data() + d2, inst.x0.begin());
    if (shape.has_Y0) std::copy(Y0.data(), Y0.data() + d2, inst.x0.begin() + d2);
  });
  return inst;
}

template Instance<float> make_planted<float>(const dist::Comm&, const PlantedSpec&);
template Instance<double> make_planted<double>(const dist::Comm&, const PlantedSpec&);
template Instance<float> read_instance<float>(const dist::Comm&, const std::string&, double);
template Instance<double> read_instance<double>(const dist::Comm&, const std::string&, double);

}  // namespace attnbench::regress
