#include "attention/input/input.hpp"

#include <cmath>
#include <array>
#include <functional>
#include <optional>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/archive.hpp"
#include "io/hdf5_file.hpp"
#include "metrics/resources.hpp"

namespace attnbench::attention {

using io::ArchiveWriter;
using io::AxisSlab;
using io::DatasetShape;
using io::File;
using io::Overwrite;
using io::dims_string;
using io::non_finite_text;
using io::output_path_sharing_file_with;

namespace {
// Rank 0 checks the file with serial calls first, so a missing or foreign file never reaches the
// collective H5Fopen (whose failure behaviour across ranks is not something to rely on); then the
// collective open, whose outcome is agreed.
File open_input(const dist::Comm& comm, const std::string& path) {
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    io::check_input_file(path);
    // Reading a file this run will replace with its archive (--out X --overwrite --input X).
    if (const std::string out = output_path_sharing_file_with(path); !out.empty())
      throw usage_error("input file '" + path + "' is also the output '" + out +
                        "': the archive would replace its own input");
  });
  // H5Fopen is collective: it returns (succeeds or fails) on every rank, so its outcome can be agreed.
  std::optional<File> opened;
  dist::agree_on_success(comm, [&] { opened.emplace(File::open_read(comm, path)); });
  return std::move(*opened);
}
}  // namespace

// ---- multi-head inputs ------------------------------------------------------------------------------
// Striped is one strided run (every p-th token from r); contiguous and zigzag are their (at most
// two) blocks of consecutive positions.
std::vector<AxisSlab> sequence_rows(const SequenceLayout& lay, int r) {
  const std::int64_t m = lay.local_rows(r);
  if (m == 0) return {};
  if (lay.kind() == LayoutKind::striped) return {AxisSlab{r, lay.ranks(), m, 1}};
  std::vector<AxisSlab> runs;
  for (std::int64_t k = 0; k < m; ++k) {
    const std::int64_t pos = lay.position(r, k);
    if (!runs.empty() && runs.back().start + runs.back().block == pos)
      ++runs.back().block;
    else
      runs.push_back(AxisSlab{pos, 1, 1, 1});
  }
  return runs;
}

namespace {
// The roles of a 2-, 3- or 4-D dataset's extents.
struct TensorDims {
  std::int64_t batch = 1, n = 0, heads = 1, cols = 0;
  int axis = 0;  // the sequence axis
};
TensorDims tensor_dims(const std::vector<std::int64_t>& dims) {
  TensorDims t;
  if (dims.size() == 2) {
    t.n = dims[0];
    t.cols = dims[1];
  } else if (dims.size() == 3) {
    t.n = dims[0];
    t.heads = dims[1];
    t.cols = dims[2];
  } else {
    t.batch = dims[0];
    t.n = dims[1];
    t.heads = dims[2];
    t.cols = dims[3];
    t.axis = 1;
  }
  return t;
}

// The first non-finite value of a local (B m) x (heads cols) buffer, named by its global
// (batch, token, head, column), or (row, column) for a 2-D dataset.
template <class T>
void check_finite_tokens(const Matrix<T>& m, const SequenceLayout& lay, int r, std::int64_t heads, std::size_t dims,
                         const std::string& path, const std::string& name, std::size_t stored_size) {
  const std::int64_t rows = lay.local_rows(r);
  if (rows == 0 || m.cols() == 0) return;
  const std::int64_t cols = m.cols() / heads;
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw input_error("'" + path + "': dataset " + name + " has " +
                          non_finite_text(static_cast<double>(m(i, j)), stored_size, sizeof(T),
                                          "at " + (dims == 2 ? "row " + std::to_string(lay.position(r, i % rows)) +
                                                                   ", column " + std::to_string(j)
                                                             : "batch " + std::to_string(i / rows) + ", token " +
                                                                   std::to_string(lay.position(r, i % rows)) +
                                                                   ", head " + std::to_string(j / cols) + ", column " +
                                                                   std::to_string(j % cols))));
}

// The data part of every attention input read, after its metadata checks: the memory check of each
// dataset's local tokens (cumulative, against the node: the declared dimensions of a small file can
// ask for terabytes), one collective hyperslab read per dataset of this rank's contiguous block of
// tokens, and the check that every value is finite. Collective; errors agreed, Error(input).
template <class T>
AttentionProblem<T> read_tokens(const dist::Comm& comm, const File& file, const std::string& path,
                          const std::array<DatasetShape, 3>& shapes) {
  const std::array<std::string, 3> names = {"/Q", "/K", "/V"};
  std::array<TensorDims, 3> t;
  for (std::size_t i = 0; i < 3; ++i) t[i] = tensor_dims(shapes[i].dims);
  constexpr LayoutKind layout = LayoutKind::contiguous;
  const int r = comm.rank(), P = comm.size();
  const SequenceLayout lay_q(layout, t[0].n, P), lay_kv(layout, t[1].n, P);
  const std::array<const SequenceLayout*, 3> lays = {&lay_q, &lay_kv, &lay_kv};
  std::array<std::int64_t, 3> rows{}, width{};
  std::int64_t cumulative = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string what = "'" + path + "': dataset " + names[i] + " " + dims_string(shapes[i].dims) + " read as " +
                             (sizeof(T) == 4 ? "float32" : "float64") + (i > 0 ? " (with the datasets before it)" : "");
    dist::agree_on_success(comm, [&] {
      rows[i] = checked_mul(t[i].batch, lays[i]->local_rows(r), what, ExitCode::input);
      width[i] = checked_mul(t[i].heads, t[i].cols, what, ExitCode::input);
      cumulative = checked_add(cumulative, checked_array_bytes(rows[i], width[i], sizeof(T), what, ExitCode::input),
                               what, ExitCode::input);
    });
    metrics::check_memory_fits(comm, cumulative, what, ExitCode::input);
  }

  AttentionProblem<T> p;
  p.shape = attention::HeadShape{t[0].batch, t[0].heads, t[1].heads, t[0].cols, t[2].cols};
  p.layout_q = lay_q;
  p.layout_kv = lay_kv;
  p.source = path;
  std::array<Matrix<T>*, 3> out = {&p.Q_local, &p.K_local, &p.V_local};
  // One collective hyperslab read per dataset, each agreed on its own (File::read_axis_rows): a
  // checksum error in one rank's chunks of /K ends every rank there, before the read of /V.
  for (std::size_t i = 0; i < 3; ++i) {
    dist::agree_on_success(comm, [&] { *out[i] = Matrix<T>(rows[i], width[i]); });
    file.read_axis_rows<T>(names[i], t[i].axis, sequence_rows(*lays[i], r), rows[i] * width[i], out[i]->data());
  }
  dist::agree_on_success(comm, [&] {
    for (std::size_t i = 0; i < 3; ++i)
      check_finite_tokens(*out[i], *lays[i], r, t[i].heads, shapes[i].dims.size(), path, names[i],
                          shapes[i].type_size);
  });
  return p;
}
}  // namespace

template <class T>
AttentionProblem<T> read_attention_input(const dist::Comm& comm, const std::string& path, InputInfo* info,
                                         int max_dims) {
  File file = open_input(comm, path);
  std::array<DatasetShape, 3> shapes;
  std::array<TensorDims, 3> t;
  const std::array<std::string, 3> names = {"/Q", "/K", "/V"};
  // Metadata checks run identically on every rank (same file, same answers): agreed, exit 3.
  dist::agree_on_success(comm, [&] {
    const std::string where = "'" + path + "': ";
    for (std::size_t i = 0; i < 3; ++i) {
      if (!file.has_dataset(names[i]))
        throw input_error(where + "missing dataset " + names[i] + " (expected /Q, /K and /V)");
      shapes[i] = file.shape(names[i]);
      const auto rank = shapes[i].dims.size();
      if (max_dims == 2 && rank != 2)
        throw input_error(where + "dataset " + names[i] + " must be 2-D, it has shape " + dims_string(shapes[i].dims) +
                          (rank == 3 || rank == 4
                               ? " (multi-head (n, H, d) and (B, n, H, d) inputs are read by --algo exact only)"
                               : ""));
      if (rank < 2 || rank > 4)
        throw input_error(where + "dataset " + names[i] + " has shape " + dims_string(shapes[i].dims) + " (" +
                          std::to_string(rank) + "-D): expected 2-D (n, d), 3-D (n, H, d) or 4-D (B, n, H, d)");
      if (!shapes[i].is_float) throw input_error(where + "dataset " + names[i] + " must be float32 or float64");
      t[i] = tensor_dims(shapes[i].dims);
      if (t[i].n < 1)
        throw input_error(where + "dataset " + names[i] + " has zero rows (tokens): shape " +
                          dims_string(shapes[i].dims));
      for (std::int64_t e : shapes[i].dims)
        if (e < 1) throw input_error(where + "dataset " + names[i] + " has an empty extent: shape " +
                                     dims_string(shapes[i].dims));
    }
    auto shape_of = [&](std::size_t i) { return names[i] + " " + dims_string(shapes[i].dims); };
    for (std::size_t i = 1; i < 3; ++i)
      if (shapes[i].dims.size() != shapes[0].dims.size())
        throw input_error(where + "dataset " + names[i] + " is " + std::to_string(shapes[i].dims.size()) +
                          "-D but /Q is " + std::to_string(shapes[0].dims.size()) +
                          "-D: /Q, /K and /V must have the same layout (" + shape_of(0) + ", " + shape_of(1) + ", " +
                          shape_of(2) + ")");
    auto mismatch = [&](std::size_t i, std::size_t j, const char* what, std::int64_t a, std::int64_t b) {
      if (a != b)
        throw input_error(where + "shape mismatch: dataset " + names[i] + " has " + what + " = " + std::to_string(a) +
                          " but " + names[j] + " has " + std::to_string(b) + " (" + shape_of(0) + ", " + shape_of(1) +
                          ", " + shape_of(2) + ")");
    };
    mismatch(1, 0, "batch B", t[1].batch, t[0].batch);
    mismatch(2, 0, "batch B", t[2].batch, t[0].batch);
    mismatch(1, 0, "d (columns)", t[1].cols, t[0].cols);
    mismatch(2, 1, "tokens n_k", t[2].n, t[1].n);
    mismatch(2, 1, "K/V heads Hkv", t[2].heads, t[1].heads);
    if (t[0].heads % t[1].heads != 0)
      throw input_error(where + "dataset /K has Hkv = " + std::to_string(t[1].heads) +
                        " heads, which does not divide the H = " + std::to_string(t[0].heads) +
                        " heads of /Q (grouped-query attention: H / Hkv query heads share one K/V head; " +
                        shape_of(0) + ", " + shape_of(1) + ")");
  });

  AttentionProblem<T> p = read_tokens<T>(comm, file, path, shapes);
  if (info) {
    info->dims = static_cast<int>(shapes[0].dims.size());
    info->batch = p.shape.batch;
    info->n_q = p.n_q();
    info->n_kv = p.n_kv();
    info->heads = p.shape.heads;
    info->kv_heads = p.shape.kv_heads;
    info->d = p.shape.d;
    info->dv = p.shape.dv;
    info->dtype = shapes[0].type_size == 4 ? "float32" : "float64";
  }
  return p;
}

namespace {
// The same all-or-nothing lifecycle as a results archive (io/archive.hpp): unique exclusive
// temporary, every write agreed, fsync, publish without replacing unless overwrite.
void write_input_file(const dist::Comm& comm, const std::string& path, bool overwrite,
                      const std::function<void(File&)>& write_datasets) {
  ArchiveWriter writer(comm, path, overwrite ? Overwrite::yes : Overwrite::no);
  write_datasets(writer.file());
  writer.commit();
}
}  // namespace

template <class T>
void write_attention_input(const dist::Comm& comm, const std::string& path, const AttentionProblem<T>& p, int dims,
                           bool overwrite) {
  const auto& s = p.shape;
  if ((dims == 2 && (s.batch != 1 || s.heads != 1 || s.kv_heads != 1)) || (dims == 3 && s.batch != 1) || dims < 2 ||
      dims > 4)
    throw internal_error("write_attention_input: a problem with B = " + std::to_string(s.batch) + ", H = " +
                         std::to_string(s.heads) + " as " + std::to_string(dims) + "-D datasets");
  // The 4-D extents (B, n, heads, cols) less what the file leaves out: 3-D drops B, 2-D also heads.
  auto extents = [&](std::int64_t n, std::int64_t heads, std::int64_t cols) -> std::vector<std::int64_t> {
    if (dims == 2) return {n, cols};
    if (dims == 3) return {n, heads, cols};
    return {s.batch, n, heads, cols};
  };
  const auto q = extents(p.n_q(), s.heads, s.d), k = extents(p.n_kv(), s.kv_heads, s.d),
             v = extents(p.n_kv(), s.kv_heads, s.dv);
  const int axis = dims == 4 ? 1 : 0;
  const auto q_rows = sequence_rows(p.layout_q, comm.rank()), kv_rows = sequence_rows(p.layout_kv, comm.rank());
  write_input_file(comm, path, overwrite, [&](File& file) {
    file.write_axis_rows("/Q", q, axis, q_rows, p.Q_local.size(), p.Q_local.data());
    file.write_axis_rows("/K", k, axis, kv_rows, p.K_local.size(), p.K_local.data());
    file.write_axis_rows("/V", v, axis, kv_rows, p.V_local.size(), p.V_local.data());
  });
}

template AttentionProblem<float> read_attention_input<float>(const dist::Comm&, const std::string&, InputInfo*, int);
template AttentionProblem<double> read_attention_input<double>(const dist::Comm&, const std::string&, InputInfo*, int);
template void write_attention_input<float>(const dist::Comm&, const std::string&, const AttentionProblem<float>&, int,
                                           bool);
template void write_attention_input<double>(const dist::Comm&, const std::string&, const AttentionProblem<double>&,
                                            int, bool);

}  // namespace attnbench::attention
