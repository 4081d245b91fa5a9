#include "io/attention_input.hpp"

#include <unistd.h>

#include <cmath>
#include <array>
#include <optional>
#include <filesystem>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "io/hdf5_file.hpp"

namespace attnbench::io {

namespace {
std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s + "]";
}

template <class T>
void check_finite(const Matrix<T>& m, const std::string& path, const std::string& name, std::int64_t row0) {
  for (std::int64_t i = 0; i < m.rows(); ++i)
    for (std::int64_t j = 0; j < m.cols(); ++j)
      if (!std::isfinite(m(i, j)))
        throw input_error("'" + path + "': dataset " + name + " has a non-finite value (" +
                          std::to_string(static_cast<double>(m(i, j))) + ") at row " + std::to_string(row0 + i) +
                          ", column " + std::to_string(j));
}
}  // namespace

template <class T>
AttentionProblem<T> read_attention_input(const dist::Comm& comm, const std::string& path, InputInfo* info) {
  // Rank 0 checks the file with serial calls first, so a missing or foreign file never reaches the
  // collective H5Fopen (whose failure behaviour across ranks is not something to rely on).
  dist::agree_on_success(comm, [&] {
    if (!comm.is_root()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw input_error("input file '" + path + "' does not exist");
    if (fs::is_directory(path, ec)) throw input_error("input file '" + path + "' is a directory");
    // A FIFO, socket or device would make the open() inside H5Fis_hdf5 block (a FIFO without a
    // writer never returns): only regular files (or symlinks to one) are accepted.
    if (!fs::is_regular_file(path, ec)) throw input_error("input file '" + path + "' is not a regular file");
    if (::access(path.c_str(), R_OK) != 0) throw input_error("input file '" + path + "' is not readable");
    if (!is_hdf5_file(path)) throw input_error("input file '" + path + "' is not an HDF5 file");
  });

  // H5Fopen is collective: it returns (succeeds or fails) on every rank, so its outcome can be agreed.
  std::optional<File> opened;
  dist::agree_on_success(comm, [&] { opened.emplace(File::open_read(comm, path)); });
  File& file = *opened;
  std::array<DatasetShape, 3> shapes;
  const std::array<std::string, 3> names = {"/Q", "/K", "/V"};
  // Metadata checks run identically on every rank (same file, same answers).
  dist::agree_on_success(comm, [&] {
    for (std::size_t i = 0; i < 3; ++i) {
      if (!file.has_dataset(names[i]))
        throw input_error("'" + path + "': missing dataset " + names[i] + " (expected /Q, /K and /V)");
      shapes[i] = file.shape(names[i]);
      if (shapes[i].dims.size() != 2)
        throw input_error("'" + path + "': dataset " + names[i] + " must be 2-D, it has shape " +
                          dims_string(shapes[i].dims));
      if (!shapes[i].is_float)
        throw input_error("'" + path + "': dataset " + names[i] + " must be float32 or float64");
    }
    const auto &q = shapes[0].dims, &k = shapes[1].dims, &v = shapes[2].dims;
    if (q[0] < 1 || k[0] < 1 || v[0] < 1)
      throw input_error("'" + path + "': zero rows (/Q " + dims_string(q) + ", /K " + dims_string(k) + ", /V " +
                        dims_string(v) + ")");
    if (q[1] < 1 || v[1] < 1) throw input_error("'" + path + "': zero columns in /Q or /V");
    if (k[1] != q[1])
      throw input_error("'" + path + "': shape mismatch: /K has d = " + std::to_string(k[1]) + " columns but /Q has " +
                        std::to_string(q[1]));
    if (v[0] != k[0])
      throw input_error("'" + path + "': shape mismatch: /V has " + std::to_string(v[0]) + " rows but /K has " +
                        std::to_string(k[0]));
  });

  AttentionProblem<T> p;
  p.layout_q = dist::BlockRowLayout(shapes[0].dims[0], comm.size());
  p.layout_kv = dist::BlockRowLayout(shapes[1].dims[0], comm.size());
  p.d = shapes[0].dims[1];
  p.dv = shapes[2].dims[1];
  p.source = path;
  const int r = comm.rank();
  dist::agree_on_success(comm, [&] {
    p.Q_local = file.read_rows<T>("/Q", p.layout_q.row_offset(r), p.layout_q.local_rows(r), p.d);
    p.K_local = file.read_rows<T>("/K", p.layout_kv.row_offset(r), p.layout_kv.local_rows(r), p.d);
    p.V_local = file.read_rows<T>("/V", p.layout_kv.row_offset(r), p.layout_kv.local_rows(r), p.dv);
  });
  dist::agree_on_success(comm, [&] {
    check_finite(p.Q_local, path, "/Q", p.layout_q.row_offset(r));
    check_finite(p.K_local, path, "/K", p.layout_kv.row_offset(r));
    check_finite(p.V_local, path, "/V", p.layout_kv.row_offset(r));
  });
  if (info) {
    info->n_q = p.n_q();
    info->n_kv = p.n_kv();
    info->d = p.d;
    info->dv = p.dv;
    info->dtype = shapes[0].type_size == 4 ? "float32" : "float64";
  }
  return p;
}

template <class T>
void write_attention_input(const dist::Comm& comm, const std::string& path, const AttentionProblem<T>& p) {
  File file = File::create(comm, path);
  const int r = comm.rank();
  file.write_rows("/Q", p.n_q(), p.d, p.layout_q.row_offset(r), p.Q_local);
  file.write_rows("/K", p.n_kv(), p.d, p.layout_kv.row_offset(r), p.K_local);
  file.write_rows("/V", p.n_kv(), p.dv, p.layout_kv.row_offset(r), p.V_local);
}

template AttentionProblem<float> read_attention_input<float>(const dist::Comm&, const std::string&, InputInfo*);
template AttentionProblem<double> read_attention_input<double>(const dist::Comm&, const std::string&, InputInfo*);
template void write_attention_input<float>(const dist::Comm&, const std::string&, const AttentionProblem<float>&);
template void write_attention_input<double>(const dist::Comm&, const std::string&, const AttentionProblem<double>&);

}  // namespace attnbench::io
